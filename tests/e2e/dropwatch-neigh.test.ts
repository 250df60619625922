// ExcludedNeighInvalidate on the real kernel. In a namespace of our own, datagrams to an address
// that no neighbour answers for wait in the ARP queue; when resolution fails the kernel frees
// them inside neigh_invalidate. With the option on (HUATUO's default) those drops are counted
// as `filtered` and never become events; with it off they are events located in neigh_invalidate.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { kernelTestSkipReason, metricValue, startAgent, waitFor, type Agent } from "./agent.ts";
import { watch } from "./sse.ts";
import { UDP_FLOOD } from "./udp.ts";
import { vethPair, type VethPair } from "./netns.ts";

const skip = kernelTestSkipReason();
// TEST-NET-1: only ever present on the veth pair between our two namespaces.
const UNANSWERED = "192.0.2.99";

function provokeNeighFailure(pair: VethPair): void {
  // One ARP probe, 100 ms apart, so resolution fails in ~0.1 s instead of ~3 s (namespace-local sysctls).
  pair.exec("a", ["sysctl", "-q", "-w", "net.ipv4.neigh.va.mcast_solicit=1", "net.ipv4.neigh.va.retrans_time_ms=100"]);
  pair.exec("a", [UDP_FLOOD, "9", "3", UNANSWERED]);
}

async function agentWith(exclude: boolean): Promise<Agent> {
  return startAgent({
    config: `[EventTracing.Dropwatch]\nExcludedNeighInvalidate = ${exclude}\nMaxEventsPerSecond = 0\n`,
    args: ["--disable-storage"],
  });
}

const filtered = async (agent: Agent) =>
  metricValue(await agent.metrics(), "kpulse_dropwatch_events_total", { outcome: "filtered" }) ?? NaN;

describe.skipIf(!!skip)("dropwatch ExcludedNeighInvalidate (real kernel, own namespaces)", () => {
  let pair: VethPair;
  beforeAll(() => {
    pair = vethPair(`kpn${process.pid}`, "192.0.2.1/24", "192.0.2.2/24");
  });
  afterAll(() => pair?.remove());

  test("off: drops freed by neigh_invalidate are events located there", async () => {
    const agent = await agentWith(false);
    const stream = await watch(agent.url, { filters: { tracer_name: "^dropwatch$" } });
    try {
      provokeNeighFailure(pair);
      const ce = await stream.waitFor((e) => e.data.tracer_data.daddr === UNANSWERED &&
        /^neigh_invalidate\+/.test(e.data.tracer_data.drop_location), 5000);
      expect(ce.data.tracer_data.drop_reason).toBe("SKB_DROP_REASON_NEIGH_FAILED");
      expect(ce.data.tracer_data.netdev_name).toBe("va");
    } finally {
      stream.close();
      await agent.stop();
    }
  });

  test("on: the same drops are counted as filtered and never streamed", async () => {
    const agent = await agentWith(true);
    const stream = await watch(agent.url, { filters: { tracer_name: "^dropwatch$" } });
    try {
      const before = await filtered(agent);
      provokeNeighFailure(pair);
      await waitFor("a filtered neigh_invalidate drop", async () => (await filtered(agent)) > before || undefined, 5000);
      const leaked = stream.frames.filter((f) => f.data && /"drop_location":"neigh_invalidate\+/.test(f.data));
      expect(leaked).toEqual([]);
    } finally {
      stream.close();
      await agent.stop();
    }
  });
});
