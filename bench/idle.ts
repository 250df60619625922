// Idle cost of the agent: how often its threads wake up and how much CPU it uses when nothing
// asks anything of it, plus how long it takes to start serving. Prints figures; never passes or
// fails on time.
//
//   KPULSE_BIN     binary to run (default build/kpulse)
//   IDLE_SECONDS   length of the idle window (default 60)
//   SETTLE_SECONDS wait after /readyz before the window starts (default 2)
//
// The agent runs with a minimal config (listen 127.0.0.1:0, --region bench, local-file storage
// in a temporary directory). During the window nothing talks to it; wake-ups are voluntary +
// nonvoluntary context switches summed over /proc/<pid>/task/*/status, CPU is utime + stime
// from /proc/<pid>/stat. Kernel events that happen anyway (dropwatch sees every packet drop on
// the host) are counted from /metrics just before and just after the window and reported.
import { spawn } from "bun";
import { mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

const ROOT = resolve(import.meta.dir, "..");
const BIN = resolve(ROOT, process.env.KPULSE_BIN ?? "build/kpulse");
const IDLE_SECONDS = Number(process.env.IDLE_SECONDS ?? 60);
const SETTLE_SECONDS = Number(process.env.SETTLE_SECONDS ?? 2);
const POLL_MS = 2;

function clockTicks(): number {
  const r = Bun.spawnSync(["getconf", "CLK_TCK"]);
  return Number(r.stdout.toString().trim()) || 100;
}

interface ThreadSample {
  comm: string;
  switches: number;
  ticks: number;
}

/** Per thread: context switches and CPU ticks; threads that end while we read are skipped. */
function threads(pid: number): Map<string, ThreadSample> {
  const out = new Map<string, ThreadSample>();
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      const status = readFileSync(`/proc/${pid}/task/${tid}/status`, "utf8");
      const num = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+)`, "m").exec(status)?.[1] ?? 0);
      const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, "utf8");
      const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      out.set(tid, {
        comm: readFileSync(`/proc/${pid}/task/${tid}/comm`, "utf8").trim(),
        switches: num("voluntary_ctxt_switches") + num("nonvoluntary_ctxt_switches"),
        ticks: Number(f[11]) + Number(f[12]), // utime, stime (fields 14 and 15)
      });
    } catch {
      // thread gone
    }
  }
  return out;
}

/** Process CPU (utime + stime, all threads, in clock ticks) from /proc/<pid>/stat. */
function processTicks(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return Number(f[11]) + Number(f[12]);
}

/** The TCP port the process listens on, from its socket inodes and /proc/net/tcp{,6}. */
function listeningPort(pid: number): number | undefined {
  const inodes = new Set<string>();
  try {
    for (const fd of readdirSync(`/proc/${pid}/fd`)) {
      try {
        const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
        if (m) inodes.add(m[1]);
      } catch {
        // fd closed meanwhile
      }
    }
  } catch {
    return undefined;
  }
  if (!inodes.size) return undefined;
  for (const table of ["/proc/net/tcp", "/proc/net/tcp6"]) {
    let text = "";
    try {
      text = readFileSync(table, "utf8");
    } catch {
      continue;
    }
    for (const line of text.split("\n").slice(1)) {
      const c = line.trim().split(/\s+/);
      if (c.length < 10 || c[3] !== "0A") continue; // LISTEN
      if (inodes.has(c[9])) return parseInt(c[1].split(":")[1], 16);
    }
  }
  return undefined;
}

/** Sum of every `*_events_total{…outcome="emitted"…}` series. */
function emittedEvents(text: string): number {
  let n = 0;
  for (const line of text.split("\n")) {
    if (/_events_total\{/.test(line) && line.includes('outcome="emitted"')) n += Number(line.slice(line.lastIndexOf(" ") + 1)) || 0;
  }
  return n;
}

const fmt = (x: number, d = 1) => x.toFixed(d);

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "kpulse-idle-"));
  const conf = join(dir, "kpulse.toml");
  writeFileSync(conf, `[Storage.LocalFile]\nPath = ${JSON.stringify(join(dir, "store"))}\n`);
  const tck = clockTicks();
  console.log(`binary: ${BIN}`);
  const t0 = performance.now();
  const proc = spawn([BIN, "--config", conf, "--region", "bench", "--listen", "127.0.0.1:0"], {
    cwd: dir,
    stdout: "pipe",
    stderr: "pipe",
  });
  let out = "";
  const collect = async (s: ReadableStream<Uint8Array>) => {
    const dec = new TextDecoder();
    for await (const chunk of s) out += dec.decode(chunk);
  };
  void collect(proc.stdout as ReadableStream<Uint8Array>);
  void collect(proc.stderr as ReadableStream<Uint8Array>);
  try {
    // Start-up: poll fast for the listening socket, then for the first good /metrics and /readyz.
    let port: number | undefined;
    let tMetrics = -1;
    let tReady = -1;
    let tPort = -1;
    const deadline = t0 + 60_000;
    while (tMetrics < 0 || tReady < 0) {
      if (proc.exitCode !== null) throw new Error(`agent exited ${proc.exitCode}:\n${out}`);
      if (performance.now() > deadline) throw new Error(`agent did not serve within 60 s:\n${out}`);
      if (port === undefined) {
        port = listeningPort(proc.pid);
        if (port !== undefined) tPort = performance.now() - t0;
      }
      if (port !== undefined) {
        if (tMetrics < 0) {
          const r = await fetch(`http://127.0.0.1:${port}/metrics`).catch(() => undefined);
          if (r?.status === 200) {
            await r.text();
            tMetrics = performance.now() - t0;
          }
        }
        if (tReady < 0) {
          const r = await fetch(`http://127.0.0.1:${port}/readyz`).catch(() => undefined);
          if (r?.status === 204) tReady = performance.now() - t0;
        }
      }
      if (tMetrics < 0 || tReady < 0) await Bun.sleep(POLL_MS);
    }
    console.log(`start-up: listening after ${fmt(tPort)} ms, first /metrics 200 after ${fmt(tMetrics)} ms, /readyz 204 after ${fmt(tReady)} ms (polled every ${POLL_MS} ms)`);
    const probes = /msg="serving".*probes="([^"]*)"/.exec(out)?.[1];
    if (probes !== undefined) console.log(`probes loaded: ${probes}`);

    await Bun.sleep(SETTLE_SECONDS * 1000);
    const ev0 = emittedEvents(await (await fetch(`http://127.0.0.1:${port}/metrics`)).text());
    await Bun.sleep(200); // let the scrape's own work finish before the window
    const a = threads(proc.pid);
    const cpuA = processTicks(proc.pid);
    const wA = performance.now();
    await Bun.sleep(IDLE_SECONDS * 1000);
    const b = threads(proc.pid);
    const cpuB = processTicks(proc.pid);
    const secs = (performance.now() - wA) / 1000;
    const ev1 = emittedEvents(await (await fetch(`http://127.0.0.1:${port}/metrics`)).text());

    let total = 0;
    const rows: string[] = [];
    for (const [tid, s] of b) {
      const before = a.get(tid);
      const sw = s.switches - (before?.switches ?? 0);
      const ticks = s.ticks - (before?.ticks ?? 0);
      total += sw;
      rows.push(`  ${tid.padStart(7)} ${s.comm.padEnd(16)} ${fmt(sw / secs, 2).padStart(9)} wakeups/s  cpu ${fmt((100 * ticks) / tck / secs, 2)} %${before ? "" : "  (started during the window)"}`);
    }
    for (const [tid, s] of a) if (!b.has(tid)) rows.push(`  ${tid.padStart(7)} ${s.comm.padEnd(16)} (ended during the window)`);
    console.log(`idle window: ${fmt(secs, 1)} s, ${b.size} threads; kernel events emitted by probes meanwhile: ${ev1 - ev0}`);
    console.log(`wakeups (voluntary + nonvoluntary context switches, all threads): ${fmt(total / secs, 1)} /s`);
    console.log(`cpu: ${fmt((100 * (cpuB - cpuA)) / tck / secs, 2)} % of one core (${cpuB - cpuA} ticks at ${tck} Hz)`);
    console.log("per thread:");
    for (const r of rows) console.log(r);
  } finally {
    if (proc.exitCode === null) proc.kill("SIGTERM");
    const code = await Promise.race([proc.exited, Bun.sleep(10_000).then(() => "timeout")]);
    if (code === "timeout") {
      proc.kill("SIGKILL");
      console.log("agent did not exit within 10 s of SIGTERM (killed)");
    }
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
