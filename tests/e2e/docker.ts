// A private, real dockerd (Debian's docker.io) for tests: its own data root, exec root and
// socket under a temporary directory, no iptables and no bridge (containers get their own
// network namespace with lo only), and an image imported from a busybox-static root file system
// (no registry). stop() removes its containers, stops the daemon and unmounts what it mounted.
import { spawn, spawnSync, type Subprocess } from "bun";
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmdirSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { waitFor } from "./agent.ts";
import { CGROUP_V1 } from "./containerd.ts";

const DOCKER = "/usr/bin/docker";
const DOCKERD = "/usr/sbin/dockerd";
export const IMAGE = "kpulse-test-busybox:1";

export function dockerSkipReason(): string | undefined {
  for (const bin of [DOCKER, DOCKERD, "/bin/busybox"]) {
    if (spawnSync(["test", "-x", bin]).exitCode !== 0) return `${bin} is missing (Debian: docker.io busybox-static)`;
  }
  return undefined;
}

export interface Docker {
  dataRoot: string;
  run(args: string[]): Promise<string>;
  pid(id: string): number;
  remove(id: string): Promise<void>;
  stop(): Promise<void>;
}

export async function startDocker(): Promise<Docker> {
  const dir = mkdtempSync(join(tmpdir(), "kpulse-docker-"));
  const dataRoot = join(dir, "root");
  const sock = join(dir, "docker.sock");
  const env = { ...process.env, DOCKER_HOST: `unix://${sock}` };
  const proc: Subprocess = spawn([DOCKERD, "--data-root", dataRoot, "--exec-root", join(dir, "exec"), "--host", `unix://${sock}`,
    "--pidfile", join(dir, "docker.pid"), "--iptables=false", "--ip6tables=false", "--bridge=none"], { stdout: "ignore", stderr: "ignore" });
  const docker = async (args: string[], stdin?: Blob) => {
    const p = spawn([DOCKER, ...args], { env, stdin: stdin ?? "ignore", stdout: "pipe", stderr: "pipe" });
    const [out, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
    if (code !== 0) throw new Error(`docker ${args.join(" ")}: ${err}`);
    return out.trim();
  };
  await waitFor("dockerd to answer", async () => (await docker(["info", "--format", "{{.ServerVersion}}"]).catch(() => "")) || undefined, 30_000, 200);
  const rootfs = join(dir, "rootfs");
  for (const d of ["bin", "etc", "proc", "sys", "dev", "tmp"]) mkdirSync(join(rootfs, d), { recursive: true });
  copyFileSync("/bin/busybox", join(rootfs, "bin/busybox"));
  for (const a of ["sh", "sleep", "cat"]) symlinkSync("busybox", join(rootfs, "bin", a));
  const tar = spawnSync(["tar", "-C", rootfs, "-c", "."]).stdout;
  await docker(["import", "-", IMAGE], new Blob([new Uint8Array(tar)]));
  const created: string[] = [];
  return {
    dataRoot,
    async run(args) {
      const id = await docker(["run", "-d", ...args]);
      created.push(id);
      return id;
    },
    pid: (id) => Number(JSON.parse(readFileSync(join(dataRoot, "containers", id, "config.v2.json"), "utf8")).State.Pid),
    async remove(id) {
      await docker(["rm", "-f", id]);
    },
    async stop() {
      for (const id of created) await docker(["rm", "-f", id]).catch(() => undefined);
      proc.kill("SIGTERM");
      await Promise.race([proc.exited, Bun.sleep(15_000)]);
      if (proc.exitCode === null) proc.kill("SIGKILL");
      // dockerd leaves its data root's mounts (overlay, shm) behind when killed: unmount them.
      const mounts = readFileSync("/proc/self/mounts", "utf8").split("\n").map((l) => l.split(" ")[1] ?? "").filter((m) => m.startsWith(dir)).sort().reverse();
      for (const m of mounts) spawnSync(["umount", "-l", m]);
      rmSync(dir, { recursive: true, force: true });
      // docker's cgroupfs parent in every hierarchy, created by this daemon's first container (the
      // test skips when one existed before), once empty.
      for (const h of readdirSync(CGROUP_V1)) {
        try {
          rmdirSync(join(CGROUP_V1, h, "docker"));
        } catch {
          // not in this hierarchy, or not empty
        }
      }
    },
  };
}
