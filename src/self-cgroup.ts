// --enable-cgroup: the agent in a resource cgroup of its own, as huatuo-bamai does
// ([RuntimeCgroup]): LimitInitCPU cores while probes load, LimitCPU once they have settled, and
// LimitMem MiB of memory. v1 (and hybrid): a "kpulse" group in the cpu and memory hierarchies;
// v2: /sys/fs/cgroup/kpulse with cpu.max and memory.max. At exit the agent moves back to where
// it came from and removes the group. Failing to set it up is a warning: the agent runs unlimited.
import { existsSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseProcCgroup } from "./containers/identity.ts";
import { detectCgroupLayout } from "./containers/layout.ts";
import type { Logger } from "./log.ts";
import type { ProcfsRoot } from "./procfs/root.ts";

const PERIOD_US = 100_000;
export const SELF_CGROUP_NAME = "kpulse";

/** Kept through the capability drop: the hierarchy roots are 0555, so removing the group at exit needs it. */
export const SELF_CGROUP_NEEDS = {
  name: "self cgroup",
  runtimeCapabilities: { CAP_DAC_OVERRIDE: "--enable-cgroup: remove the agent's own cgroup at exit (its parent, the hierarchy root, is read-only to owners)" },
};

export interface SelfCgroup {
  /** The group's directories (one per v1 hierarchy, one on v2). */
  readonly dirs: readonly string[];
  /** Set the CPU limit in cores (LimitCPU after start-up). */
  setCpu(cores: number): void;
  /** Move the agent back where it was and remove the group. */
  release(): void;
}

export interface SelfLimits {
  initCpuCores: number;
  memMiB: number;
}

export function enterSelfCgroup(procfs: ProcfsRoot, limits: SelfLimits, log: Logger, pid = process.pid): SelfCgroup {
  const layout = detectCgroupLayout(procfs);
  const origin = parseProcCgroup(readFileSync(procfs.proc(String(pid), "cgroup"), "utf8"));
  const quota = (cores: number) => Math.max(1000, Math.ceil(cores * PERIOD_US));
  const created: { dir: string; back: string }[] = [];
  const make = (hierarchy: string): string => {
    const mount = layout.mount(hierarchy);
    if (!mount) throw new Error(`no ${hierarchy} cgroup hierarchy under ${layout.root}`);
    const dir = join(mount, SELF_CGROUP_NAME);
    if (!existsSync(dir)) mkdirSync(dir);
    created.push({ dir, back: join(mount, origin.get(hierarchy) ?? "/") });
    return dir;
  };
  const write = (path: string, value: string) => writeFileSync(path, value);
  try {
    if (layout.mode === "v2") {
      const dir = make("unified");
      write(join(dir, "cpu.max"), `${quota(limits.initCpuCores)} ${PERIOD_US}`);
      write(join(dir, "memory.max"), String(Math.round(limits.memMiB * 1024 * 1024)));
      write(join(dir, "cgroup.procs"), String(pid));
    } else {
      const cpu = make("cpu");
      write(join(cpu, "cpu.cfs_period_us"), String(PERIOD_US));
      write(join(cpu, "cpu.cfs_quota_us"), String(quota(limits.initCpuCores)));
      const mem = make("memory");
      write(join(mem, "memory.limit_in_bytes"), String(Math.round(limits.memMiB * 1024 * 1024)));
      // v1: writing the pid to cgroup.procs moves every thread of the process.
      write(join(cpu, "cgroup.procs"), String(pid));
      write(join(mem, "cgroup.procs"), String(pid));
    }
  } catch (err) {
    undo(created, pid, log);
    throw err;
  }
  log.info("running in its own cgroup", { dirs: created.map((c) => c.dir).join(","), cpu_cores: limits.initCpuCores, memory_mib: limits.memMiB });
  return {
    dirs: created.map((c) => c.dir),
    setCpu(cores) {
      const d = created[0]!.dir;
      if (layout.mode === "v2") write(join(d, "cpu.max"), `${quota(cores)} ${PERIOD_US}`);
      else write(join(d, "cpu.cfs_quota_us"), String(quota(cores)));
    },
    release: () => undo(created, pid, log),
  };
}

function undo(created: { dir: string; back: string }[], pid: number, log: Logger): void {
  for (const { dir, back } of created.splice(0)) {
    try {
      writeFileSync(join(back, "cgroup.procs"), String(pid));
      rmdirSync(dir);
    } catch (err) {
      log.warn("cannot remove the agent's cgroup", { dir, err: String(err) });
    }
  }
}
