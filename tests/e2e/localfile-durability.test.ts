// The local files survive what a host does to them, with the real agent and the real kernel:
//   - kill -9 during a flood of real drop events, then restart: every line of every file
//     parses, none is torn, no event the agent had reported as written is lost;
//   - a real full disk (a 256 KiB tmpfs as the Path): /readyz turns 503 naming localfile while
//     /healthz stays 204; once a filler file is deleted the writes resume by themselves, /readyz
//     is 204 again and the counts add up exactly; at shutdown what cannot be written is counted;
//   - `kpulse check` and the start refuse an unusable Path with file, key and line;
//   - a second agent on the same files (same pidfile) refuses to start.
// The flood is UDP to a closed port inside a network namespace created here (dropwatch sees it,
// MaxEventsPerSecond = 0). Only dropwatch is loaded, so the agent starts fast.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { spawn, spawnSync, type Subprocess } from "bun";
import { appendFileSync, chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statfsSync, statSync, unlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { probeTable } from "../../src/probes/registry.ts";
import { KPULSE, kernelTestSkipReason, metricValue, startAgent, waitFor, type Agent } from "./agent.ts";
import { UDP_FLOOD } from "./udp.ts";

const skip = kernelTestSkipReason();
/** The binary under test (build/kpulse; KPULSE_BIN to try another build, as exposition-checks). */
const BIN = process.env.KPULSE_BIN ?? KPULSE;
const NS = `kpulse-lf-${process.pid}`;
const PORT = 9; // nothing listens in a fresh namespace
const OTHERS = probeTable.map((p) => p.name).filter((n) => n !== "dropwatch");

const config = (path: string, extra = "") => `
BlackList = ${JSON.stringify(OTHERS)}
[Storage.LocalFile]
Path = ${JSON.stringify(path)}
RotationSize = 4
MaxRotation = 1000
[EventTracing.Dropwatch]
MaxEventsPerSecond = 0
${extra}`;

function sh(...cmd: string[]): string {
  const r = spawnSync(cmd, { stdout: "pipe", stderr: "pipe" });
  if (r.exitCode !== 0) throw new Error(`${cmd.join(" ")} failed (${r.exitCode}): ${r.stderr.toString().trim()}`);
  return r.stdout.toString();
}

/** `count` datagrams to the closed port, sent inside the namespace (a long count = a flood until killed). */
function flood(count: number): Subprocess {
  return spawn(["ip", "netns", "exec", NS, UDP_FLOOD, String(PORT), String(count)], { stdout: "pipe", stderr: "pipe" });
}

async function metric(agent: Agent, name: string, labels: Record<string, string> = {}): Promise<number> {
  return metricValue(await agent.metrics(), name, labels) ?? NaN;
}

interface FileState {
  /** Complete lines (each parsed), over every file. */
  docs: any[];
  /** Files whose last line is torn. */
  torn: string[];
  /** Lines that are not JSON, with their file and line number. */
  invalid: string[];
}

/** Every file of ours under `dir` (not the pidfile, not fillers), read strictly. */
function readFiles(dir: string): FileState {
  const out: FileState = { docs: [], torn: [], invalid: [] };
  for (const f of readdirSync(dir).sort()) {
    if (!f.startsWith("dropwatch")) continue;
    const text = readFileSync(join(dir, f), "utf8");
    const lines = text.split("\n");
    const tail = lines.pop()!;
    if (tail !== "") out.torn.push(f);
    lines.forEach((l, i) => {
      try {
        out.docs.push(JSON.parse(l));
      } catch {
        out.invalid.push(`${f}:${i + 1}: ${l.slice(0, 80)}…${l.slice(-40)}`);
      }
    });
  }
  return out;
}

const ready = async (agent: Agent) => {
  const res = await fetch(`${agent.url}/readyz`);
  return { status: res.status, body: res.status === 204 ? undefined : await res.json() };
};

describe.skipIf(!!skip)("local files survive kill -9, a full disk and a second agent (real kernel)", () => {
  let nsInode = 0;
  beforeAll(() => {
    sh("ip", "netns", "add", NS);
    sh("ip", "netns", "exec", NS, "ip", "link", "set", "lo", "up");
    nsInode = Number(sh("ip", "netns", "exec", NS, "stat", "-L", "-c", "%i", "/proc/self/ns/net").trim());
  });
  afterAll(() => {
    spawnSync(["ip", "netns", "del", NS], { stderr: "pipe" });
  });

  test("kill -9 during a flood, restart: every line parses, none torn, nothing acknowledged lost", async () => {
    const dir = mkdtempSync(join(tmpdir(), "kpulse-lf-kill-"));
    const local = join(dir, "local");
    let naturalTorn = 0;
    try {
      let complete = 0; // complete lines on disk after the previous round
      for (let round = 0; round < 2; round++) {
        const agent = await startAgent({ binary: BIN, dir, config: config("local") });
        const f = flood(50_000_000);
        try {
          // Read the acknowledgement (written_total) and kill at once, while the flood keeps
          // the sink writing: whatever it had reported written must be on disk afterwards.
          const acked = await waitFor("the sink to write under the flood", async () => {
            const w = await metric(agent, "kpulse_localfile_written_total");
            return w >= 20_000 ? w : undefined;
          }, 60_000, 10);
          agent.proc.kill("SIGKILL");
          await agent.proc.exited;
          const state = readFiles(local);
          expect(state.invalid).toEqual([]);
          expect(state.docs.length).toBeGreaterThanOrEqual(complete + acked);
          naturalTorn += state.torn.length;
          complete = state.docs.length;
        } finally {
          f.kill("SIGKILL");
          await f.exited;
          await agent.stop();
        }
      }
      // A kill lands inside write() only sometimes. Make sure the restart meets a torn line: leave
      // the start of a document without its end, as a write cut between pages leaves it.
      const active = join(local, "dropwatch");
      if (readFiles(local).torn.length === 0) {
        const last = readFileSync(active, "utf8").trimEnd().split("\n").pop()!;
        appendFileSync(active, last.slice(0, Math.floor(last.length / 2)));
      }
      const tornFiles = readFiles(local).torn.length;
      expect(tornFiles).toBeGreaterThan(0);

      const agent = await startAgent({ binary: BIN, dir, config: config("local") });
      let tornCounted: number;
      try {
        tornCounted = await metric(agent, "kpulse_localfile_torn_lines_total");
        const f = flood(200);
        await f.exited;
        await waitFor("events written after the restart", async () => ((await metric(agent, "kpulse_localfile_written_total")) >= 200 ? true : undefined), 20_000);
      } finally {
        expect(await agent.stop()).toBe(0);
      }
      const state = readFiles(local);
      expect(state.invalid).toEqual([]); // the old build appended to the torn line: an invalid line here
      expect(state.torn).toEqual([]);
      expect(state.docs.length).toBeGreaterThanOrEqual(complete + 200);
      const ids = new Set(state.docs.map((d) => d.tracer_id));
      expect(ids.size).toBe(state.docs.length); // no record written twice
      expect(tornCounted).toBe(tornFiles);
      console.log(`kill -9 rounds: ${naturalTorn} torn tail(s) left by the kills themselves; ${state.docs.length} lines`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 180_000);

  test("full disk: /readyz 503 naming localfile, resumes by itself once space is freed, counts exact", async () => {
    const dir = mkdtempSync(join(tmpdir(), "kpulse-lf-enospc-"));
    const local = join(dir, "local");
    mkdirSync(local);
    sh("mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", local);
    let agent: Agent | undefined;
    try {
      agent = await startAgent({ binary: BIN, dir, config: config("local") });
      const a = agent;
      // Leave ~16 KiB: about a dozen events fit, the flood needs ~150 KiB.
      const filler = join(local, "filler");
      const { bavail, bsize } = statfsSync(local);
      writeFileSync(filler, Buffer.alloc(Number(bavail) * Number(bsize) - 16 * 1024));
      const N = 120;
      await flood(N).exited;

      const notReady = await waitFor("/readyz to report the full disk", async () => {
        const r = await ready(a);
        return r.status === 503 ? r : undefined;
      }, 20_000);
      expect(notReady.body.error.code).toBe("not_ready");
      expect(notReady.body.error.message).toMatch(/^localfile: ENOSPC: no space left on device/);
      expect((await fetch(`${a.url}/healthz`)).status).toBe(204);
      let m = await a.metrics();
      expect(metricValue(m, "kpulse_localfile_failing")).toBe(1);
      // Every event is accounted for: written, waiting, or counted as not written.
      const sum = (t: string) =>
        metricValue(t, "kpulse_localfile_written_total")! + metricValue(t, "kpulse_localfile_queued")! +
        metricValue(t, "kpulse_localfile_unwritten_total", { reason: "queue_full" })! + metricValue(t, "kpulse_localfile_unwritten_total", { reason: "shutdown" })!;
      expect(sum(m)).toBe(metricValue(m, "kpulse_events_published_total", { tracer: "dropwatch" })!);
      const partial = readFiles(local);
      expect(partial.invalid).toEqual([]);
      expect(partial.torn).toEqual([]);

      // Free the space: no restart, no signal; the sink retries and catches up on its own.
      unlinkSync(filler);
      await waitFor("/readyz 204 again", async () => ((await ready(a)).status === 204 ? true : undefined), 20_000);
      m = await waitFor("the backlog written", async () => {
        const t = await a.metrics();
        return metricValue(t, "kpulse_localfile_queued") === 0 ? t : undefined;
      }, 20_000);
      const published = metricValue(m, "kpulse_events_published_total", { tracer: "dropwatch" })!;
      const written = metricValue(m, "kpulse_localfile_written_total")!;
      expect(metricValue(m, "kpulse_localfile_failing")).toBe(0);
      expect(metricValue(m, "kpulse_localfile_unwritten_total", { reason: "queue_full" })).toBe(0);
      expect(written).toBe(published);
      expect(metricValue(m, "kpulse_localfile_write_failures_total")).toBeGreaterThan(0);
      const state = readFiles(local);
      expect(state.invalid).toEqual([]);
      expect(state.torn).toEqual([]);
      expect(state.docs.length).toBe(written);
      expect(new Set(state.docs.map((d) => d.tracer_id)).size).toBe(written);
      const ours = state.docs.filter((d) => d.tracer_data.dport === PORT && d.tracer_data.net_namespace_inum === nsInode);
      expect(ours.length).toBe(N);

      // Full again at shutdown: what is held and queued is counted and the count logged.
      writeFileSync(filler, Buffer.alloc(Number(statfsSync(local).bavail) * Number(bsize)));
      await flood(50).exited;
      await waitFor("the disk full again", async () => ((await ready(a)).status === 503 ? true : undefined), 20_000);
      m = await a.metrics();
      const queued = metricValue(m, "kpulse_localfile_queued")!;
      // A few may still fit in the last page of the file; the rest wait.
      expect(queued).toBeGreaterThan(0);
      expect(metricValue(m, "kpulse_localfile_written_total")! - written + queued).toBeGreaterThanOrEqual(50);
      expect(await a.stop()).toBe(0);
      const logged = /msg="local file sink stopped with events not written".* unwritten=(\d+)/.exec(a.output());
      expect(logged).not.toBeNull();
      expect(Number(logged![1])).toBeGreaterThanOrEqual(queued);
      expect(a.output()).toMatch(/msg="local file sink closed".* unwritten=\d+/);
    } finally {
      await agent?.stop();
      spawnSync(["umount", "-l", local]);
      rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);

  test("a second agent on the same files refuses to start; the first keeps running", async () => {
    const dir = mkdtempSync(join(tmpdir(), "kpulse-lf-lock-"));
    const first = await startAgent({ binary: BIN, dir, config: config("local") });
    try {
      const second = spawnSync([BIN, "--config", join(dir, "kpulse.toml"), "--region", "test", "--listen", "127.0.0.1:0"], {
        cwd: dir, stdout: "pipe", stderr: "pipe", timeout: 20_000,
      });
      expect(second.exitCode).toBe(1);
      expect(second.stderr.toString()).toContain(
        `kpulse: ${join(dir, "kpulse.toml")}:4: Storage.LocalFile.Path: another kpulse (pid ${first.proc.pid}) holds the lock on local/kpulse.pid`,
      );
      expect(first.proc.exitCode).toBeNull();
      expect((await ready(first)).status).toBe(204);
      expect(readFileSync(join(dir, "local", "kpulse.pid"), "utf8")).toBe(`${first.proc.pid}\n`);
      // An explicit PidFile shared by agents with different Paths locks them out too.
      const shared = join(dir, "shared.pid");
      const a = await startAgent({ binary: BIN, config: config("a", `[Kpulse]\nPidFile = ${JSON.stringify(shared)}`) });
      try {
        const otherDir = mkdtempSync(join(tmpdir(), "kpulse-lf-lock2-"));
        writeFileSync(join(otherDir, "k.toml"), config("b", `[Kpulse]\nPidFile = ${JSON.stringify(shared)}`));
        const b = spawnSync([BIN, "--config", join(otherDir, "k.toml"), "--region", "t", "--listen", "127.0.0.1:0"], { cwd: otherDir, stderr: "pipe", timeout: 20_000 });
        rmSync(otherDir, { recursive: true, force: true });
        expect(b.exitCode).toBe(1);
        expect(b.stderr.toString()).toContain(`:10: Kpulse.PidFile: another kpulse (pid ${a.proc.pid}) holds the lock on ${shared}`);
      } finally {
        await a.stop();
      }
    } finally {
      await first.stop();
      rmSync(dir, { recursive: true, force: true });
    }
    // The lock goes with the process: the same files are usable again right away.
    const again = await startAgent({ binary: BIN, config: config("local") });
    expect(await again.stop()).toBe(0);
  }, 120_000);
});

describe.skipIf(!!skip)("an unusable Path is refused by kpulse check and at start, naming file, key and line", () => {
  const dir = mkdtempSync(join(tmpdir(), "kpulse-lf-check-"));
  chmodSync(dir, 0o755); // readable by the unprivileged user below
  afterAll(() => {
    spawnSync(["umount", "-l", join(dir, "ro")]);
    rmSync(dir, { recursive: true, force: true });
  });

  function run(args: string[], path: string, asUser = false) {
    const conf = join(dir, `c${Math.random().toString(36).slice(2)}.toml`);
    writeFileSync(conf, `# kpulse\n[Storage.LocalFile]\nPath = ${JSON.stringify(path)}\n`);
    chmodSync(conf, 0o644);
    const cmd = [...(asUser ? ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"] : []), BIN, ...args, "--config", conf];
    const r = spawnSync(cmd, { cwd: dir, stdout: "pipe", stderr: "pipe", timeout: 20_000 });
    return { code: r.exitCode, out: (r.stdout.toString() + r.stderr.toString()).replaceAll(conf, "<file>") };
  }
  const check = (path: string, asUser = false) => run(["check"], path, asUser);
  const start = (path: string) => run(["--region", "t", "--listen", "127.0.0.1:0"], path);

  test('Path = "/etc/passwd": check and start fail with exit 1 and <file>:3', () => {
    const want = 'kpulse: <file>:3: Storage.LocalFile.Path must be a writable directory, but "/etc/passwd" is a regular file';
    expect(check("/etc/passwd")).toEqual({ code: 1, out: want + "\n" });
    const s = start("/etc/passwd");
    expect(s.code).toBe(1);
    expect(s.out).toContain(want);
  });

  test("a directory this user cannot write (unprivileged user on a root-owned 0755 directory)", () => {
    const owned = join(dir, "rootonly");
    mkdirSync(owned, { mode: 0o755 });
    const r = check(owned, true);
    expect(r.code).toBe(1);
    expect(r.out).toBe(`kpulse: <file>:3: Storage.LocalFile.Path must be a writable directory, but ${JSON.stringify(owned)} is not writable by this user (uid 65534: EACCES)\n`);
    expect(check(owned).code).toBe(0); // root may write there
  });

  test("a read-only file system, /proc and /sys: refused even for root", () => {
    const ro = join(dir, "ro");
    mkdirSync(ro);
    sh("mount", "-t", "tmpfs", "-o", "size=64k,ro", "tmpfs", ro);
    expect(check(ro)).toEqual({ code: 1, out: `kpulse: <file>:3: Storage.LocalFile.Path must be a writable directory, but ${JSON.stringify(ro)} is on a read-only file system\n` });
    expect(check("/proc/kpulse").out).toContain('<file>:3: Storage.LocalFile.Path must be a writable directory, but "/proc/kpulse" is under /proc');
    expect(check("/sys/kernel/kpulse").code).toBe(1);
    expect(check(join(dir, "new", "dir")).code).toBe(0); // missing: created at start
    expect(existsSync(join(dir, "new"))).toBe(false); // check changes nothing
  });

  test("the default Path, unusable where the agent starts, stops the start with the key named", () => {
    const cwd = mkdtempSync(join(dir, "cwd-"));
    writeFileSync(join(cwd, "kpulse-local"), "a file where the default directory would go\n");
    const conf = join(cwd, "k.toml");
    writeFileSync(conf, "# defaults only\n");
    const r = spawnSync([BIN, "--config", conf, "--region", "t", "--listen", "127.0.0.1:0"], { cwd, stderr: "pipe", timeout: 20_000 });
    expect(r.exitCode).toBe(1);
    expect(r.stderr.toString()).toContain(`kpulse: ${conf}: Storage.LocalFile.Path (default "kpulse-local") must be a writable directory, but "kpulse-local" is a regular file`);
    expect(statSync(join(cwd, "kpulse-local")).isFile()).toBe(true);
  });
});
