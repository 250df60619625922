// Watch stream: kernel-to-stream latency and events/s to N clients, on the real agent and real
// kernel events. The agent (build/kpulse, or KPULSE_WATCH_BINARY) runs with dropwatch's rate
// limit off; a closed UDP port is flooded in ticks every 50 ms at RATE datagrams/s for SECONDS
// s; N clients (in child processes, 50 per process) watch dropwatch events. Latency = receive
// time − the event's kernel timestamp (observed_timestamp). Then a burst: as fast as the kernel
// drops, BURST datagrams, to measure events/s delivered to every client.
// Prints figures; never passes or fails on time. Needs root and `make bench` outputs.
// Run: ./node_modules/.bin/bun bench/watch.ts [clients] [rate] [seconds] [burst]
import { existsSync } from "node:fs";
import { join } from "node:path";
import { ROOT, metricValue, startAgent, waitFor, type Agent } from "../tests/e2e/agent.ts";
import { closedUdpPort, sendUdp, UDP_FLOOD } from "../tests/e2e/udp.ts";
import { storedDrops, WATCH_BINARY } from "../tests/e2e/watch-helpers.ts";

const CLIENTS = Number(process.argv[2] ?? 100);
const RATE = Number(process.argv[3] ?? 1000);
const SECONDS = Number(process.argv[4] ?? 10);
const BURST = Number(process.argv[5] ?? 20_000);
const PER_PROCESS = 50;

if (process.getuid?.() !== 0) {
  console.log("watch bench: needs root (BPF); skipped");
  process.exit(0);
}
if (!existsSync(UDP_FLOOD)) {
  console.log(`watch bench: ${UDP_FLOOD} missing (make build/tools/udp-flood); skipped`);
  process.exit(0);
}

function clientGroup(url: string, n: number, dport: number) {
  const p = Bun.spawn([process.execPath, join(ROOT, "tests/e2e/watch-load-client.ts"), url, String(n), String(dport)], { stdin: "pipe", stdout: "pipe", stderr: "inherit" });
  const lines: string[] = [];
  void (async () => {
    let buf = "";
    for await (const c of p.stdout as ReadableStream<Uint8Array>) {
      buf += new TextDecoder().decode(c);
      for (let i; (i = buf.indexOf("\n")) >= 0; buf = buf.slice(i + 1)) lines.push(buf.slice(0, i));
    }
  })();
  return { p, lines };
}

async function cpuSeconds(pid: number): Promise<number> {
  const f = (await Bun.file(`/proc/${pid}/stat`).text()).split(") ")[1]!.split(" ");
  return (Number(f[11]) + Number(f[12])) / 100;
}

async function round(agent: Agent, label: string, send: (port: number) => Promise<number>) {
  const port = await closedUdpPort();
  const groups = [];
  for (let left = CLIENTS; left > 0; left -= PER_PROCESS) groups.push(clientGroup(agent.url, Math.min(PER_PROCESS, left), port));
  for (const g of groups) {
    const line = await waitFor("clients connected", () => g.lines.find((l) => l.startsWith("connected")), 30_000);
    if (!/^connected (200,?)+$/.test(line)) throw new Error(`not every client got a stream: ${line}`);
  }
  const cpu0 = await cpuSeconds(agent.proc.pid);
  const t0 = performance.now();
  const sent = await send(port);
  // Settled: the bus has published nothing new for a second. In a big burst the local-file
  // sink's queue may drop (counted), so the clients are compared with the bus, not the file.
  let published = -1;
  await waitFor("the burst published", async () => {
    const now = metricValue(await agent.metrics(), "kpulse_events_published_total", { tracer: "dropwatch" }) ?? 0;
    const done = now === published;
    published = now;
    return done || undefined;
  }, 60_000, 1000);
  const stored = storedDrops(agent, port);
  const want = Math.max(stored.length, 1);
  const results: any[] = [];
  for (const g of groups) {
    g.p.stdin!.write(`done ${want}\n`);
    g.p.stdin!.flush();
    results.push(JSON.parse(await waitFor("results", () => g.lines.find((l) => l.startsWith("{")), 60_000)));
  }
  const secs = (performance.now() - t0) / 1000;
  for (const g of groups) g.p.kill();
  await waitFor("slots free", async () => metricValue(await agent.metrics(), "kpulse_watch_clients") === 0 || undefined);
  const cpu = (await cpuSeconds(agent.proc.pid)) - cpu0;
  const clients = results.flatMap((r) => r.clients);
  const most = Math.max(...clients.map((c) => c.count));
  const complete = clients.filter((c) => c.count === most).length;
  const delivered = clients.reduce((a, c) => a + c.count, 0);
  const lat = (k: "p50" | "p99" | "max") => Math.max(...results.map((r) => r.latency[k])).toFixed(1);
  console.log(`${label}: ${sent} drops sent, ${stored.length} events in the local file, ${most} to the fullest client, ${complete}/${clients.length} clients as many, ${clients.reduce((a, c) => a + c.gaps, 0)} gaps; ` +
    `${delivered} deliveries in ${secs.toFixed(1)} s = ${Math.round(delivered / secs)} events/s to the clients; ` +
    `kernel→client p50 ${lat("p50")} ms, p99 ${lat("p99")} ms, max ${lat("max")} ms; agent CPU ${(100 * cpu / secs).toFixed(0)} % of one core`);
}

const agent = await startAgent({
  binary: WATCH_BINARY,
  config: `
[Storage.LocalFile]
Path = "local"
[EventTracing.Dropwatch]
MaxEventsPerSecond = 0
[EventsWatch]
MaxClients = ${CLIENTS + 10}
`,
});
try {
  await round(agent, `${CLIENTS} clients at ${RATE} events/s for ${SECONDS} s`, async (port) => {
    const perTick = Math.max(1, Math.round(RATE / 20));
    const sends: Promise<{ sent: number }>[] = [];
    const t0 = Date.now();
    for (let tick = 0; tick < SECONDS * 20; tick++) {
      const due = t0 + tick * 50;
      if (due > Date.now()) await Bun.sleep(due - Date.now());
      sends.push(sendUdp(port, perTick));
    }
    return (await Promise.all(sends)).reduce((a, r) => a + r.sent, 0);
  });
  await round(agent, `${CLIENTS} clients, burst of ${BURST}`, async (port) => (await sendUdp(port, BURST)).sent);
  const m = await agent.metrics();
  console.log(`agent: watch drops behind=${metricValue(m, "kpulse_watch_events_dropped_total", { reason: "client_behind" })} stalled=${metricValue(m, "kpulse_watch_events_dropped_total", { reason: "client_stalled" })}; ` +
    `RSS ${((metricValue(m, "kpulse_process_resident_memory_bytes") ?? 0) / 2 ** 20).toFixed(0)} MiB`);
} finally {
  await agent.stop();
}
