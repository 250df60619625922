// hungtask on the real kernel: a FUSE file system whose daemon never answers a lookup
// (tests/tools/fuse-stall.ts). The `stat` waiting for the answer is killed, which leaves it in
// uninterruptible sleep (D state) until the connection ends; a second `stat` in the same
// directory waits for the first on the directory's inode lock, in D state too. With kernel.hung_task_timeout_secs
// lowered to 1 s the kernel's hung task detector reports them: the first report is an event with
// the task's tid, comm and BPF-taken stack, and the other blocked task in
// blocked_processes_stack; the next reports are counted in hungtask_total but held back by the
// 10-minute backoff. The sysctls are restored and the mount removed whatever happens.
import { afterAll, describe, expect, test } from "bun:test";
import { spawn, spawnSync, type Subprocess } from "bun";
import { existsSync, mkdtempSync, readFileSync, rmdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { sharedRingScheduler } from "../../src/bpf/ring-scheduler.ts";
import { silentLogger } from "../../src/log.ts";
import { hungtaskProbe } from "../../src/probes/hungtask/index.ts";
import type { ProbeEmission, ProbeInstance } from "../../src/probes/types.ts";
import { procfsRoot } from "../../src/procfs/root.ts";
import { kernelTestSkipReason, ROOT, waitFor } from "./agent.ts";

const SYSCTL = "/proc/sys/kernel";
const sysctl = (name: string) => readFileSync(join(SYSCTL, name), "utf8").trim();
const setSysctl = (name: string, v: string) => writeFileSync(join(SYSCTL, name), v);

function skipReason(): string | undefined {
  const k = kernelTestSkipReason();
  if (k) return k;
  if (!existsSync(join(SYSCTL, "hung_task_timeout_secs"))) return "no hung task detector in this kernel";
  if (!existsSync("/dev/fuse")) return "no /dev/fuse";
  // a hung task must never panic the machine we test on
  if (sysctl("hung_task_panic") !== "0") return "kernel.hung_task_panic is set";
  return undefined;
}
const skip = skipReason();

function taskState(pid: number): string | undefined {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, "utf8");
    return s.slice(s.lastIndexOf(")") + 2, s.lastIndexOf(")") + 3);
  } catch {
    return undefined;
  }
}

afterAll(async () => {
  await sharedRingScheduler().close();
});

describe.skipIf(!!skip)("hungtask (real kernel)", () => {
  test("a task stuck in D state on a silent FUSE daemon: one event with its stack, the next reports counted but held back", async () => {
    const saved = { timeout: sysctl("hung_task_timeout_secs"), warnings: sysctl("hung_task_warnings") };
    const mnt = mkdtempSync(join(tmpdir(), "kpulse-fuse-"));
    const got: ProbeEmission[] = [];
    const stats: Subprocess[] = [];
    let daemon: Subprocess<"ignore", "pipe", "pipe"> | undefined;
    let inst: ProbeInstance | undefined;
    let daemonOut = "";
    try {
      inst = await hungtaskProbe.create({ config: undefined, procfs: procfsRoot(""), log: silentLogger, emit: (ev) => got.push(ev) });
      daemon = spawn([process.execPath, join(ROOT, "tests/tools/fuse-stall.ts"), mnt], { stdout: "pipe", stderr: "pipe" });
      void (async () => {
        for await (const chunk of daemon!.stdout) daemonOut += new TextDecoder().decode(chunk);
      })();
      const daemonErr = new Response(daemon.stderr).text();
      await waitFor("the FUSE daemon to answer INIT", () => daemonOut.includes("ready\n") || daemon!.exitCode !== null, 10_000);
      if (!daemonOut.includes("ready\n")) throw new Error(`FUSE daemon failed: ${await daemonErr}`);

      // A: its lookup held by the daemon, then killed: D state in request_wait_answer.
      const pa = spawn(["stat", join(mnt, "stall-a")], { stdout: "ignore", stderr: "ignore" });
      stats.push(pa);
      await waitFor("the daemon to hold stall-a", () => daemonOut.includes(`stalled ${pa.pid} stall-a\n`), 10_000);
      pa.kill("SIGKILL");
      await waitFor(`stall-a (pid ${pa.pid}) in D state`, () => taskState(pa.pid) === "D", 5_000);
      // B: lookups in a directory are serialized, B waits for A's on the directory's inode lock.
      const pb = spawn(["stat", join(mnt, "stall-b")], { stdout: "ignore", stderr: "ignore" });
      stats.push(pb);
      await waitFor(`stall-b (pid ${pb.pid}) in D state`, () => taskState(pb.pid) === "D", 5_000);
      const [a, b] = [pa.pid, pb.pid];
      const waitsIn = (pid: number) => (pid === a ? "request_wait_answer" : "fuse_lock_inode");

      setSysctl("hung_task_warnings", "0"); // the tracepoint fires before the kernel's own report: keep dmesg quiet
      setSysctl("hung_task_timeout_secs", "1");

      const ev = await waitFor("a hungtask event", () => got[0], 20_000);
      const d = ev.data as any;
      const other = d.tid === a ? b : a;
      expect([a, b]).toContain(d.tid);
      expect(d.comm).toBe("stat");
      expect(d.hung_task_timeout_secs).toBe(1);
      expect(d.cpus_stack).toBe("");
      expect(Object.keys(d)).toEqual(["tid", "comm", "cpus_stack", "blocked_processes_stack", "hung_task_timeout_secs"]);
      const blocks = (d.blocked_processes_stack as string).split("\n\n");
      // the hung task first, its stack taken in BPF while it was blocked
      expect(blocks[0]).toStartWith(`task:stat state:D pid:${d.tid} tgid:${d.tid}\n`);
      expect(blocks[0]).toContain(waitsIn(d.tid));
      expect(blocks[0]).toContain("fuse_lookup");
      // the other blocked task, from /proc
      const otherBlock = blocks.find((s) => s.startsWith(`task:stat state:D pid:${other} `));
      expect(otherBlock).toContain(waitsIn(other));
      expect(ev.timeMs).toBeGreaterThan(Date.now() - 60_000);

      // khungtaskd reports both tasks (and again on each scan): counted, not saved
      const total = async () => (await inst!.collect!()).find((s) => s.name === "total")!.value;
      await waitFor("a second report", async () => (await total()) >= 2, 10_000);
      const samples = await inst.collect!();
      expect(samples.find((s) => s.name === "total")?.type).toBe("counter");
      expect(samples.find((s) => s.name === "events_total" && s.labels?.outcome === "backoff")!.value).toBeGreaterThanOrEqual(1);
      expect(got).toHaveLength(1);
    } finally {
      setSysctl("hung_task_timeout_secs", saved.timeout);
      setSysctl("hung_task_warnings", saved.warnings);
      // Killing the daemon closes /dev/fuse: the connection aborts and the blocked tasks exit.
      daemon?.kill("SIGKILL");
      await daemon?.exited;
      for (const p of stats) await Promise.race([p.exited, Bun.sleep(5_000)]);
      spawnSync(["umount", "-l", mnt]);
      rmdirSync(mnt);
      await inst?.stop();
    }
    // the aborted connection released both: A dies of its SIGKILL, B's stat fails
    for (const p of stats) expect(p.signalCode ?? p.exitCode).not.toBeNull();
  }, 90_000);
});
