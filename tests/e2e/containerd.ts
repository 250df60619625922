// A private, real containerd (Debian's containerd + runc) for container tests: its own root,
// state and socket under a temporary directory, containers run from a busybox-static root file
// system (no registry), placed in the cgroup paths a kubelet would use. Everything it creates
// (containers, their pod cgroups, the daemon) is removed by stop().
import { spawn, spawnSync, type Subprocess } from "bun";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmdirSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { waitFor } from "./agent.ts";

export const CGROUP_V1 = "/sys/fs/cgroup";
/** A host that already has kubepods cgroups (a real node) keeps them: only what is below is ours. */
const KUBEPODS_EXISTED = existsSync(join(CGROUP_V1, "memory", "kubepods"));
const APPLETS = ["sh", "sleep", "cat", "dd", "true", "yes", "nc", "hostname", "timeout"];

export function containerdSkipReason(): string | undefined {
  for (const bin of ["containerd", "ctr", "runc", "busybox"]) {
    if (spawnSync(["sh", "-c", `command -v ${bin}`]).exitCode !== 0) return `${bin} is not installed (Debian: containerd runc busybox-static)`;
  }
  return undefined;
}

/** A 64-hex container id, unique per test run. */
export function containerId(tag: string): string {
  const base = new Bun.CryptoHasher("sha256").update(`${tag}-${process.pid}-${Date.now()}-${Math.random()}`).digest("hex");
  return base;
}

export interface RunOptions {
  id: string;
  /** Cgroup path, e.g. /kubepods/burstable/pod<uid>/<id>. */
  cgroup: string;
  args: string[];
  namespace?: string;
  memoryLimitBytes?: number;
}

export interface Containerd {
  address: string;
  stateDir: string;
  run(o: RunOptions): Promise<number>;
  exec(id: string, args: string[], namespace?: string): Promise<{ code: number; out: string }>;
  /** Kill and delete a container (its cgroup goes with it). */
  remove(id: string, namespace?: string): Promise<void>;
  initPid(id: string, namespace?: string): number;
  stop(): Promise<void>;
}

function ctrArgs(address: string, namespace: string): string[] {
  return ["ctr", "--address", address, "--namespace", namespace];
}

export async function startContainerd(): Promise<Containerd> {
  const dir = mkdtempSync(join(tmpdir(), "kpulse-ctd-"));
  const rootfs = join(dir, "rootfs");
  for (const d of ["bin", "proc", "sys", "dev", "etc", "tmp"]) mkdirSync(join(rootfs, d), { recursive: true });
  copyFileSync("/bin/busybox", join(rootfs, "bin/busybox"));
  for (const a of APPLETS) symlinkSync("busybox", join(rootfs, "bin", a));
  writeFileSync(join(rootfs, "etc/passwd"), "root:x:0:0:root:/:/bin/sh\n");
  const address = join(dir, "containerd.sock");
  const stateDir = join(dir, "state");
  writeFileSync(join(dir, "config.toml"), [
    "version = 2",
    `root = "${join(dir, "root")}"`,
    `state = "${stateDir}"`,
    "[grpc]",
    `  address = "${address}"`,
    "[ttrpc]",
    `  address = "${address}.ttrpc"`,
    // No CRI server: nothing here is Kubernetes but the stub kubelet.
    "disabled_plugins = [\"io.containerd.grpc.v1.cri\"]",
  ].join("\n"));
  const proc: Subprocess = spawn(["containerd", "--config", join(dir, "config.toml")], { stdout: "ignore", stderr: "ignore" });
  await waitFor("containerd to answer", () => spawnSync([...ctrArgs(address, "default"), "version"]).exitCode === 0 || undefined, 20_000, 100);

  const created = new Map<string, { namespace: string; cgroup: string }>();
  const ctr = async (namespace: string, args: string[]) => {
    const p = spawn([...ctrArgs(address, namespace), ...args], { stdout: "pipe", stderr: "pipe", cwd: dir });
    const [out, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
    return { code, out: out + err };
  };
  const initPid = (id: string, namespace = "default") => {
    const f = join(stateDir, "io.containerd.runtime.v2.task", namespace, id, "init.pid");
    return existsSync(f) ? Number(readFileSync(f, "utf8")) : 0;
  };

  const api: Containerd = {
    address,
    stateDir,
    initPid,
    async run(o) {
      const ns = o.namespace ?? "default";
      created.set(o.id, { namespace: ns, cgroup: o.cgroup });
      const flags = ["run", "-d", "--cgroup", o.cgroup];
      if (o.memoryLimitBytes) flags.push("--memory-limit", String(o.memoryLimitBytes));
      const r = await ctr(ns, [...flags, "--rootfs", rootfs, o.id, ...o.args]);
      if (r.code !== 0) throw new Error(`ctr run ${o.id}: ${r.out}`);
      return await waitFor(`init pid of ${o.id}`, () => initPid(o.id, ns) || undefined, 10_000);
    },
    async exec(id, args, namespace = "default") {
      return ctr(namespace, ["task", "exec", "--exec-id", `e${Date.now()}${Math.floor(Math.random() * 1e6)}`, id, ...args]);
    },
    async remove(id, namespace) {
      const ns = namespace ?? created.get(id)?.namespace ?? "default";
      await ctr(ns, ["task", "kill", "-s", "KILL", id]);
      await waitFor(`${id} to stop`, async () => (await ctr(ns, ["task", "rm", "-f", id])).code === 0 || !initPidAlive(initPid(id, ns)) || undefined, 10_000, 100).catch(() => undefined);
      await ctr(ns, ["task", "rm", "-f", id]);
      await ctr(ns, ["container", "rm", id]);
      const c = created.get(id);
      created.delete(id);
      if (c) removeCgroupParents(c.cgroup);
    },
    async stop() {
      for (const id of [...created.keys()]) await api.remove(id);
      proc.kill("SIGTERM");
      await Promise.race([proc.exited, Bun.sleep(5000)]);
      if (proc.exitCode === null) proc.kill("SIGKILL");
      // Shims outlive containerd only while they serve a task; none is left here.
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return api;
}

function initPidAlive(pid: number): boolean {
  return pid > 0 && existsSync(`/proc/${pid}`);
}

/** Removes the now-empty pod and QoS directories a test's cgroup path created, in every v1 hierarchy. */
export function removeCgroupParents(cgroup: string): void {
  const parts = cgroup.split("/").filter(Boolean);
  let hierarchies: string[] = [];
  try {
    hierarchies = readdirSync(CGROUP_V1);
  } catch {
    return;
  }
  for (const h of hierarchies) {
    for (let n = parts.length; n >= (KUBEPODS_EXISTED ? 2 : 1); n--) {
      const d = join(CGROUP_V1, h, ...parts.slice(0, n));
      try {
        rmdirSync(d);
      } catch {
        // not empty (another test container still uses it) or never created
      }
    }
  }
}

export interface ContainerConfigOptions {
  /** containerd state directory ("" = none). */
  containerd?: string;
  /** docker data root ("" = none). */
  docker?: string;
  kubeletReadOnlyPort?: number;
  kubeletAuthorizedPort?: number;
  kubeletClientCertPath?: string;
  kubeletCABundle?: string;
  /** [Kpulse.Containers] CgroupDriver ("" = learned). */
  cgroupDriver?: string;
  syncInterval?: number;
}

/**
 * The [Pod] and [Kpulse.Containers] sections that point an agent at a test's runtimes and
 * (stub) kubelet instead of the host's: no kubelet and no runtime unless given.
 */
export function containerConfig(o: ContainerConfigOptions): string {
  const lines = ["[Pod]", `KubeletReadOnlyPort = ${o.kubeletReadOnlyPort ?? 0}`, `KubeletAuthorizedPort = ${o.kubeletAuthorizedPort ?? 0}`];
  if (o.kubeletClientCertPath !== undefined) lines.push(`KubeletClientCertPath = ${JSON.stringify(o.kubeletClientCertPath)}`);
  if (o.kubeletCABundle !== undefined) lines.push(`KubeletCABundle = ${JSON.stringify(o.kubeletCABundle)}`);
  lines.push(
    "[Kpulse.Containers]",
    `ContainerdStateDir = ${JSON.stringify(o.containerd ?? "")}`,
    `DockerRootDir = ${JSON.stringify(o.docker ?? "")}`,
    `CgroupDriver = ${JSON.stringify(o.cgroupDriver ?? "")}`,
    `SyncInterval = ${o.syncInterval ?? 1}`,
  );
  return `${lines.join("\n")}\n`;
}
