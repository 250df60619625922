// dropwatch on the real kernel: UDP to a closed loopback port is dropped by the kernel with
// SKB_DROP_REASON_NO_SOCKET; the event must reach the watch stream, the local file and the
// metrics, and the BPF rate limit must hold under a flood with every suppressed event counted.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { kernelTestSkipReason, metricValue, startAgent, waitFor, type Agent } from "./agent.ts";
import { watch } from "./sse.ts";
import { closedUdpPort, sendUdp } from "./udp.ts";

const skip = kernelTestSkipReason();
const LIMIT = 100;

function localRecords(agent: Agent): any[] {
  const file = join(agent.dir, "local", "dropwatch");
  if (!existsSync(file)) return [];
  return readFileSync(file, "utf8").split("\n").filter(Boolean).map((l) => JSON.parse(l));
}

async function outcomes(agent: Agent): Promise<Record<string, number>> {
  const text = await agent.metrics();
  const out: Record<string, number> = {};
  for (const o of ["emitted", "ratelimited", "ringbuf_full", "filtered"]) {
    out[o] = metricValue(text, "kpulse_dropwatch_events_total", { outcome: o }) ?? NaN;
  }
  return out;
}

describe.skipIf(!!skip)("dropwatch (real kernel)", () => {
  let agent: Agent;

  beforeAll(async () => {
    agent = await startAgent({
      config: `
[Storage.LocalFile]
Path = "local"
[EventTracing.Dropwatch]
MaxEventsPerSecond = ${LIMIT}
`,
    });
    const probes = await (await fetch(`${agent.url}/v1/probes`)).json();
    const dw = probes.data.find((p: any) => p.name === "dropwatch");
    if (dw?.status !== "loaded") throw new Error(`dropwatch not loaded: ${JSON.stringify(dw)}\n${agent.output()}`);
  });
  afterAll(async () => {
    await agent?.stop();
  });

  test("a UDP datagram to a closed port becomes a NO_SOCKET event on the stream, in the local file and in metrics", async () => {
    const stream = await watch(agent.url, { filters: { tracer_name: "^dropwatch$" } });
    expect(stream.status).toBe(200);
    const port = await closedUdpPort();
    try {
      const sentAt = Date.now();
      const { sport } = await sendUdp(port, 3);
      const ce = await stream.waitFor((e) => e.data?.tracer_data?.dport === port, 2000);
      expect(Date.now() - sentAt).toBeLessThan(2000);

      const d = ce.data.tracer_data;
      expect(d.drop_reason).toBe("SKB_DROP_REASON_NO_SOCKET");
      expect(d.saddr).toBe("127.0.0.1");
      expect(d.daddr).toBe("127.0.0.1");
      expect(d.sport).toBe(sport);
      expect(d.protocol).toBe("udp");
      expect(d.type).toBe("common_drop");
      expect(d.netdev_name).toBe("lo");
      expect(d.netdev_ifindex).toBe(1);
      expect(d.pkt_len).toBeGreaterThan(0);
      expect(d.stack).toMatch(/udp/); // symbolized from /proc/kallsyms
      expect(ce.data.tracer_name).toBe("dropwatch");
      expect(ce.specversion).toBe("1.0");

      const line = await waitFor("the event in the local file", () =>
        localRecords(agent).find((r) => r.tracer_id === ce.data.tracer_id));
      expect(line.tracer_data.dport).toBe(port);
      expect(line.tracer_type).toBe("event");
      expect(line.region).toBe("test");

      const o = await outcomes(agent);
      expect(o.emitted).toBeGreaterThanOrEqual(1);
    } finally {
      stream.close();
    }
  });

  test(`the rate limit (${LIMIT}/s) holds for 10 000 drops and every suppressed drop is counted`, async () => {
    const port = await closedUdpPort();
    const before = await outcomes(agent);
    const started = Date.now();
    const { sent } = await sendUdp(port, 10_000);
    const elapsedSec = (Date.now() - started) / 1000;
    expect(sent).toBe(10_000);

    // Every one of the 10 000 drops ends in exactly one outcome.
    const after = await waitFor("all 10 000 drops accounted", async () => {
      const o = await outcomes(agent);
      const seen = (["emitted", "ratelimited", "ringbuf_full", "filtered"] as const)
        .reduce((n, k) => n + (o[k]! - before[k]!), 0);
      return seen >= 10_000 ? o : undefined;
    });
    expect(after.ratelimited - before.ratelimited).toBeGreaterThan(0);

    // A fixed one-second window admits at most LIMIT per window the flood touched.
    const windows = Math.floor(elapsedSec) + 2;
    const emitted = after.emitted - before.emitted;
    expect(emitted).toBeGreaterThan(0);
    expect(emitted).toBeLessThanOrEqual(LIMIT * windows);
    await waitFor("emitted events in the local file", () =>
      localRecords(agent).filter((r) => r.tracer_data.dport === port).length > 0 || undefined);
    const stored = localRecords(agent).filter((r) => r.tracer_data.dport === port).length;
    expect(stored).toBeLessThanOrEqual(LIMIT * windows);
  });
});

describe.skipIf(!!skip)("dropwatch at shutdown (real kernel)", () => {
  test("drops committed to the ring just before SIGTERM all reach the local file (4 restarts)", async () => {
    for (let round = 0; round < 4; round++) {
      const agent = await startAgent({ config: `[Storage.LocalFile]\nPath = "local"\n[EventTracing.Dropwatch]\nMaxEventsPerSecond = 1000\n` });
      const port = await closedUdpPort();
      // udp-flood has exited when this returns: every drop is in the kernel's ring already.
      await sendUdp(port, 25);
      agent.proc.kill("SIGTERM");
      const code = await agent.proc.exited;
      const stored = localRecords(agent).filter((r) => r.tracer_data?.dport === port).length;
      await agent.stop();
      expect({ round, code, stored }).toEqual({ round, code: 0, stored: 25 });
    }
  });
});
