// A cgroup v1 memory cgroup a test creates for itself under /sys/fs/cgroup/memory (the oom and
// memory_reclaim e2e tests): set its limits, run a command inside it from its first instruction,
// and remove it afterwards, killing only what still runs in it.
import { spawn, type Subprocess } from "bun";
import { existsSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";

export const MEMCG_V1_ROOT = "/sys/fs/cgroup/memory";

/** Why a v1 memory cgroup cannot be created here, or undefined. */
export function memcgV1SkipReason(): string | undefined {
  if (!existsSync(join(MEMCG_V1_ROOT, "memory.limit_in_bytes"))) return "no cgroup v1 memory controller at " + MEMCG_V1_ROOT;
  return undefined;
}

export class TestMemcg {
  readonly dir: string;
  /** Path inside the hierarchy, as /proc/<pid>/cgroup shows it. */
  readonly path: string;

  constructor(name: string) {
    this.path = "/" + name;
    this.dir = join(MEMCG_V1_ROOT, name);
    mkdirSync(this.dir);
  }

  set(file: string, value: string | number): void {
    writeFileSync(join(this.dir, file), String(value));
  }

  get(file: string): string {
    return readFileSync(join(this.dir, file), "utf8").trim();
  }

  has(file: string): boolean {
    return existsSync(join(this.dir, file));
  }

  pids(): number[] {
    try {
      return this.get("cgroup.procs").split("\n").filter(Boolean).map(Number);
    } catch {
      return [];
    }
  }

  /** Runs argv with the shell first joining this cgroup, so every byte it allocates is charged here. */
  spawn(argv: string[], opts: { stdout?: "pipe" | "ignore"; stderr?: "pipe" | "ignore" } = {}): Subprocess {
    const procs = join(this.dir, "cgroup.procs");
    return spawn(["/bin/sh", "-c", `echo $$ > '${procs}' && exec "$@"`, "sh", ...argv], {
      stdout: opts.stdout ?? "ignore",
      stderr: opts.stderr ?? "ignore",
    });
  }

  /** Kills what still runs inside (only this test's processes can be there) and removes the cgroup. */
  async remove(): Promise<void> {
    if (!existsSync(this.dir)) return;
    const deadline = Date.now() + 10_000;
    for (;;) {
      const pids = this.pids();
      for (const pid of pids) {
        try {
          process.kill(pid, "SIGKILL");
        } catch {
          // gone already
        }
      }
      try {
        if (pids.length === 0) {
          rmdirSync(this.dir);
          return;
        }
      } catch (err) {
        if (Date.now() > deadline) throw err;
      }
      if (Date.now() > deadline) throw new Error(`cannot empty ${this.dir}: ${this.pids().join(",")}`);
      await Bun.sleep(20);
    }
  }
}

/** The interpreter binary behind `python3` (pyenv shims are scripts; exec the real one). */
export function realPython(): string | undefined {
  const r = Bun.spawnSync(["python3", "-c", "import sys; print(sys.executable)"], { stdout: "pipe", stderr: "ignore" });
  const p = r.stdout.toString().trim();
  return r.exitCode === 0 && p ? p : undefined;
}
