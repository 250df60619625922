// Cost of a /metrics scrape of the real agent with the default probe set: wall time per scrape
// (median, p99), the agent's CPU time per scrape, series count, bytes, RSS. Prints figures;
// never passes or fails on time.
//
//   KPULSE_BIN     binary to run (default build/kpulse)
//   SCRAPES        number of measured scrapes (default 200), after WARMUP (default 20)
//
// Scrapes run back to back from this process over one keep-alive connection. CPU per scrape is
// the agent's utime + stime from /proc/<pid>/stat over the measured scrapes divided by their
// number (clock ticks, so it is exact only over many scrapes; it also includes whatever else the
// agent did meanwhile, e.g. draining events). RSS is VmRSS from /proc/<pid>/status.
import { spawn } from "bun";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

const ROOT = resolve(import.meta.dir, "..");
const BIN = resolve(ROOT, process.env.KPULSE_BIN ?? "build/kpulse");
const SCRAPES = Number(process.env.SCRAPES ?? 200);
const WARMUP = Number(process.env.WARMUP ?? 20);

function clockTicks(): number {
  const r = Bun.spawnSync(["getconf", "CLK_TCK"]);
  return Number(r.stdout.toString().trim()) || 100;
}

/** utime + stime of all the agent's threads, in clock ticks. */
function cpuTicks(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return Number(f[11]) + Number(f[12]);
}

function rssKiB(pid: number): number {
  return Number(/^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1] ?? NaN);
}

const quantile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.ceil(p * sorted.length) - 1)]!;
const ms = (x: number) => `${x.toFixed(2)} ms`;
const mib = (kib: number) => `${(kib / 1024).toFixed(1)} MiB`;

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "kpulse-scrape-"));
  const conf = join(dir, "kpulse.toml");
  writeFileSync(conf, `[Storage.LocalFile]\nPath = ${JSON.stringify(join(dir, "store"))}\n`);
  const proc = spawn([BIN, "--config", conf, "--region", "bench", "--listen", "127.0.0.1:0"], { cwd: dir, stdout: "pipe", stderr: "pipe" });
  let out = "";
  const collect = async (s: ReadableStream<Uint8Array>) => {
    const dec = new TextDecoder();
    for await (const chunk of s) out += dec.decode(chunk);
  };
  void collect(proc.stdout as ReadableStream<Uint8Array>);
  void collect(proc.stderr as ReadableStream<Uint8Array>);
  try {
    // The agent logs its port; /readyz turns 204 when every probe has settled.
    const deadline = performance.now() + 60_000;
    let url = "";
    for (;;) {
      if (proc.exitCode !== null) throw new Error(`agent exited ${proc.exitCode}:\n${out}`);
      if (performance.now() > deadline) throw new Error(`agent not ready within 60 s:\n${out}`);
      const port = /msg="serving".* port=(\d+)/.exec(out)?.[1];
      if (port) {
        url = `http://127.0.0.1:${port}`;
        if ((await fetch(`${url}/readyz`).catch(() => undefined))?.status === 204) break;
      }
      await Bun.sleep(20);
    }
    const probes = ((await (await fetch(`${url}/v1/probes`)).json()).data as { name: string; status: string }[]);
    const loaded = probes.filter((p) => p.status === "loaded").map((p) => p.name);
    console.log(`binary: ${BIN}`);
    console.log(`probes loaded (${loaded.length}/${probes.length}): ${loaded.join(", ")}`);

    const scrape = async () => {
      const r = await fetch(`${url}/metrics`);
      const body = await r.text();
      if (r.status !== 200) throw new Error(`/metrics answered ${r.status}: ${body.slice(0, 200)}`);
      return body;
    };
    const rssBefore = rssKiB(proc.pid);
    for (let i = 0; i < WARMUP; i++) await scrape();
    const tck = clockTicks();
    const cpu0 = cpuTicks(proc.pid);
    const times: number[] = [];
    let text = "";
    const t0 = performance.now();
    for (let i = 0; i < SCRAPES; i++) {
      const t = performance.now();
      text = await scrape();
      times.push(performance.now() - t);
    }
    const elapsed = performance.now() - t0;
    const cpuTicksUsed = cpuTicks(proc.pid) - cpu0;
    const rssAfter = rssKiB(proc.pid);

    times.sort((a, b) => a - b);
    const lines = text.split("\n");
    const series = lines.filter((l) => l !== "" && !l.startsWith("#")).length;
    const families = lines.filter((l) => l.startsWith("# TYPE ")).length;
    const bytes = Buffer.byteLength(text);
    const cpuPerScrape = (cpuTicksUsed / tck / SCRAPES) * 1000;
    console.log(`scrapes: ${SCRAPES} measured after ${WARMUP} warm-up, back to back, ${(elapsed / 1000).toFixed(2)} s`);
    console.log(`wall per scrape: median ${ms(quantile(times, 0.5))}, p99 ${ms(quantile(times, 0.99))}, min ${ms(times[0]!)}, max ${ms(times.at(-1)!)}`);
    console.log(`agent CPU per scrape: ${ms(cpuPerScrape)} (${cpuTicksUsed} ticks at ${tck} Hz over ${SCRAPES} scrapes; ${((100 * cpuTicksUsed) / tck / (elapsed / 1000)).toFixed(0)} % of one core while scraping)`);
    console.log(`exposition: ${series} series in ${families} families, ${bytes} bytes (${(bytes / 1024).toFixed(1)} KiB)`);
    console.log(`agent RSS: ${mib(rssBefore)} before the scrapes, ${mib(rssAfter)} after`);
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
