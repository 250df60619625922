// The watch stream under load on the real agent and the real kernel: 100 clients and one
// stalled client while ~1 000 real dropwatch events/s (UDP to a closed port, rate limit off)
// flow for 10 s. The 100 get every event (the same ids, in the same order, as the local file),
// and the delay from the kernel's timestamp is printed (bench/watch.ts measures it); the stalled
// one is cut, told with
// `event: gap`, and its socket closed; past MaxClients a client gets 429. Then CloudEvents
// conformance of what the stream sends, checked with the cloudevents SDK.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { CloudEvent, HTTP } from "cloudevents";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { kernelTestSkipReason, metricValue, ROOT, startAgent, waitFor, type Agent } from "./agent.ts";
import { watch } from "./sse.ts";
import { closedUdpPort, sendUdp, UDP_FLOOD } from "./udp.ts";
import { storedDrops, WATCH_BINARY } from "./watch-helpers.ts";

const skip = kernelTestSkipReason();
const SECONDS = 10;
const PER_TICK = 50; // datagrams every 50 ms = 1 000/s
/** Agent-side sockets of one client connection (by the client's port), with their owner. */
function agentSockets(agentPort: number, clientPort: number, pid: number) {
  const out = Bun.spawnSync(["ss", "-tanp", `( sport = :${agentPort} and dport = :${clientPort} )`]).stdout.toString();
  return out.split("\n").slice(1).filter((l) => l.trim()).map((l) => ({ state: l.trim().split(/\s+/)[0], owned: l.includes(`pid=${pid},`) }));
}

function spawnClients(url: string, n: number, dport: number) {
  const p = Bun.spawn([process.execPath, join(ROOT, "tests/e2e/watch-load-client.ts"), url, String(n), String(dport)], {
    stdin: "pipe", stdout: "pipe", stderr: "inherit",
  });
  const lines: string[] = [];
  void (async () => {
    let buf = "";
    for await (const chunk of p.stdout as ReadableStream<Uint8Array>) {
      buf += new TextDecoder().decode(chunk);
      let i;
      while ((i = buf.indexOf("\n")) >= 0) {
        lines.push(buf.slice(0, i));
        buf = buf.slice(i + 1);
      }
    }
  })();
  return { p, lines };
}

describe.skipIf(!!skip)("watch stream under load (real kernel drops)", () => {
  let agent: Agent;
  beforeAll(async () => {
    if (!existsSync(UDP_FLOOD)) throw new Error(`${UDP_FLOOD} missing (make build/tools/udp-flood)`);
    agent = await startAgent({
      binary: WATCH_BINARY,
      config: `
[Storage.LocalFile]
Path = "local"
[EventTracing.Dropwatch]
MaxEventsPerSecond = 0
[EventsWatch]
MaxClients = 101
KeepAliveInterval = 1
`,
    });
  });
  afterAll(async () => {
    await agent?.stop();
  });

  test("100 clients get every event (delay printed); a stalled client is told and closed; past MaxClients: 429", async () => {
    const port = await closedUdpPort();
    const groups = [spawnClients(agent.url, 50, port), spawnClients(agent.url, 50, port)];
    try {
      for (const g of groups) {
        const line = await waitFor("50 clients connected", () => g.lines.find((l) => l.startsWith("connected")), 30_000);
        expect(line).toBe(`connected ${Array(50).fill(200).join(",")}`);
      }
      // The stalled client: asks for the stream, then never reads.
      let stalledText = "";
      const stalled = await Bun.connect({
        hostname: "127.0.0.1",
        port: Number(new URL(agent.url).port),
        socket: { data(_s, d) { stalledText += d.toString("latin1"); } },
      });
      stalled.pause?.();
      stalled.write("POST /v1/events/watch HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}");
      await waitFor("101 clients", async () => metricValue(await agent.metrics(), "kpulse_watch_clients") === 101 || undefined);

      // The 102nd connection: every slot is taken.
      const extra = await fetch(`${agent.url}/v1/events/watch`, { method: "POST", body: "{}" });
      expect(extra.status).toBe(429);
      expect(await extra.json()).toEqual({ error: { code: "rate_limited", message: "max watch clients reached" } });

      // ~1 000 drops/s for SECONDS s, in ticks of PER_TICK datagrams.
      let sent = 0;
      let resumed = false;
      const sends: Promise<unknown>[] = [];
      const t0 = Date.now();
      for (let tick = 0; tick < SECONDS * 20; tick++) {
        const due = t0 + tick * 50;
        if (due > Date.now()) await Bun.sleep(due - Date.now());
        sends.push(sendUdp(port, PER_TICK).then((r) => (sent += r.sent)));
        // Once the agent has cut the stalled client (it logs it; a /metrics scrape would stall
        // the agent's event loop and show up in the latency), read again: the gap event must be there.
        if (!resumed && agent.output().includes('msg="watch client cut"')) {
          stalled.resume?.();
          resumed = true;
        }
      }
      await Promise.all(sends);
      expect(sent).toBe(SECONDS * 20 * PER_TICK);
      expect(resumed).toBe(true);

      // What the kernel emitted for our port, as the local file has it.
      let last = "";
      const stored = await waitFor("the drops in the local file", async () => {
        const text = await agent.metrics();
        const ringFull = metricValue(text, "kpulse_dropwatch_events_total", { outcome: "ringbuf_full" }) ?? 0;
        const recs = storedDrops(agent, port);
        last = `stored ${recs.length}, ring full ${ringFull}, sent ${sent}, localfile dropped ${metricValue(text, "kpulse_events_dropped_total", { output: "localfile" })}`;
        return recs.length + ringFull >= sent ? recs : undefined;
      }, 20_000).catch((e) => {
        throw new Error(`${e.message}: ${last}`);
      });
      expect(stored.length).toBeGreaterThan(sent * 0.99);
      const wantHash = String(Bun.hash(stored.map((r) => r.tracer_id).join(",")));

      const results: any[] = [];
      for (const g of groups) {
        g.p.stdin!.write(`done ${stored.length}\n`);
        g.p.stdin!.flush();
        results.push(JSON.parse(await waitFor("client results", () => g.lines.find((l) => l.startsWith("{")), 30_000)));
      }
      const all = results.flatMap((r) => r.clients);
      expect(all).toHaveLength(100);
      for (const c of all) expect(c).toEqual({ count: stored.length, hash: wantHash, gaps: 0 });
      const p99 = Math.max(...results.map((r) => r.latency.p99));
      const p50 = Math.max(...results.map((r) => r.latency.p50));
      // The delay is a figure, not a verdict (benchmarks judge time: bench/watch.ts); printed here
      // so every run shows it. What must hold is above: every client got every event, in order.
      console.log(`watch load: ${stored.length} events × 100 clients; kernel→client delay p50 ${p50.toFixed(1)} ms, p99 ${p99.toFixed(1)} ms`);

      // The stalled client was told why and where it stopped.
      await waitFor("the gap event", () => /event: gap\r?\ndata: \{/.test(stalledText) || undefined, 15_000);
      const gap = JSON.parse(/event: gap\ndata: (\{[^\n]*\})/.exec(stalledText)![1]!);
      expect(gap.reason).toMatch(/^client_(stalled|behind)$/);
      expect(gap.missed).toBeGreaterThan(0);
      // ...and the agent no longer holds its socket.
      const agentPort = Number(new URL(agent.url).port);
      await waitFor("the stalled client's socket closed by the agent", () =>
        agentSockets(agentPort, stalled.localPort!, agent.proc.pid).every((s) => !s.owned) || undefined, 15_000);
      stalled.end();

      // Its slot is free again.
      const again = await watch(agent.url, { filters: { tracer_name: "^dropwatch$" } });
      expect(again.status).toBe(200);
      again.close();
      const m = await agent.metrics();
      expect(metricValue(m, "kpulse_watch_events_dropped_total", { reason: "client_stalled" })).toBeGreaterThan(0);
      expect(metricValue(m, "kpulse_watch_client_lag_max_events")).toBeGreaterThanOrEqual(0);
    } finally {
      for (const g of groups) g.p.kill();
    }
  }, 120_000);

  test("what the stream sends is a valid CloudEvent (cloudevents SDK)", async () => {
    const stream = await watch(agent.url, { filters: { tracer_name: "^dropwatch$" } });
    const port = await closedUdpPort();
    try {
      await sendUdp(port, 1);
      await stream.waitFor((e) => e.data?.tracer_data?.dport === port, 5000);
      const frame = stream.frames.find((f) => f.data?.includes(`"dport":${port},`))!;
      // Structured mode, as an HTTP binding would receive it.
      const parsed = HTTP.toEvent({ headers: { "content-type": "application/cloudevents+json" }, body: frame.data! }) as CloudEvent<any>;
      expect(parsed.validate()).toBe(true);
      expect(parsed.specversion).toBe("1.0");
      expect(parsed.id).toBe(frame.id!);
      expect(parsed.source).toMatch(/^\/kpulse\/.+\/dropwatch$/);
      expect(parsed.type).toBe("io.kpulse.kernel.event");
      expect(parsed.data.tracer_data.dport).toBe(port);
      // And built directly from the JSON object.
      const direct = new CloudEvent(JSON.parse(frame.data!), true);
      expect(direct.validate()).toBe(true);
    } finally {
      stream.close();
    }
  });
});
