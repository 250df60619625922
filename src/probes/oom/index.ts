// oom (event probe): every task the OOM killer kills, from oom:mark_victim, with the task that
// ran into the OOM (the trigger) and the victim, their memory cgroups (path, usage and limit at
// the kill, memory.stat and memory.events) and the host's /proc/meminfo. Counts OOM kills in
// HUATUO's oom_host_total. HUATUO has no configuration for it; neither has kpulse.
import { readFileSync } from "node:fs";
import objectPath from "../../../build/bpf/oom.bpf.o" with { type: "file" };
import type { Sample } from "../../metrics/sample.ts";
import { pageSize } from "../../procfs/pagesize.ts";
import type { ProcfsRoot } from "../../procfs/root.ts";
import { defineBpfEventProbe, type BpfEventProbeDefinition } from "../kit/bpf-events.ts";
import { decodeOom, OOM_FIELDS, type OomDeps } from "./decode.ts";
import { MemcgFs, parseMeminfo } from "./memcg.ts";

function readText(path: string): string | undefined {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return undefined;
  }
}

/** The memory cgroup of a process from /proc/<pid>/cgroup: the v1 `memory` line, else the v2 line. */
export function memcgOfProcCgroup(text: string): string | undefined {
  let v2: string | undefined;
  for (const line of text.split("\n")) {
    const a = line.indexOf(":"), b = line.indexOf(":", a + 1);
    if (a < 0 || b < 0) continue;
    const controllers = line.slice(a + 1, b);
    if (controllers.split(",").includes("memory")) return line.slice(b + 1);
    if (line.slice(0, a) === "0" && controllers === "") v2 = line.slice(b + 1);
  }
  return v2;
}

function hostDeps(procfs: ProcfsRoot): OomDeps {
  const fs = MemcgFs.forHost(procfs);
  return {
    pageSize: pageSize(),
    memcg: (path, withUsage) => fs.read(path, withUsage),
    meminfo() {
      const text = readText(procfs.proc("meminfo"));
      return text === undefined ? undefined : parseMeminfo(text);
    },
    task(pid) {
      const comm = readText(procfs.proc(String(pid), "comm"));
      if (comm === undefined) return undefined;
      const cg = readText(procfs.proc(String(pid), "cgroup"));
      return { comm: comm.trimEnd(), cgroup: cg === undefined ? undefined : memcgOfProcCgroup(cg) };
    },
  };
}

const base = defineBpfEventProbe({
  name: "oom",
  source: "bpf tp_btf/mark_victim (fallback: tracepoint oom/mark_victim)",
  defaultEnabled: true,
  object: objectPath,
  ring: "oom_events",
  struct: "oom_event",
  fields: OOM_FIELDS,
  programs: [{ alternatives: ["oom_mark_victim_btf", "oom_mark_victim_tp"] }],
  decoder({ offsets, procfs }) {
    const deps = hostDeps(procfs);
    return (u8, dv, at) => decodeOom(offsets, u8, dv, at, deps) as unknown as Record<string, unknown>;
  },
});

/**
 * The kit's probe plus HUATUO's counters, read on scrape. `oom_container_total{latest_victim_comm}`
 * needs the victim's container: until kpulse resolves containers every kill counts on the host.
 */
export const oomProbe: BpfEventProbeDefinition<unknown> = {
  ...base,
  async create(ctx) {
    let hostKills = 0;
    const inst = await base.create({
      ...ctx,
      emit(ev) {
        hostKills++;
        ctx.emit(ev);
      },
    });
    return {
      async collect(): Promise<Sample[]> {
        const samples = [...((await inst.collect?.()) ?? [])];
        samples.push({ name: "host_total", help: "host oom counter", type: "counter", value: hostKills });
        return samples;
      },
      stop: () => inst.stop(),
    };
  },
};
