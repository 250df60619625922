// netiftxlatency on the real kernel: two network namespaces this test creates, joined by a veth
// pair, with a tbf qdisc at 100 kbit/s on the sender's end. A burst of 200 small UDP datagrams
// (build/tools/udp-flood) needs over a second to drain, so most of it waits in the qdisc far
// longer than a lowered QdiscThreshold: TXLAT_QDISC_100MS events for our flow, the slow counter
// and the upper histogram buckets must move. With NetdevThreshold at 1 ns every packet the
// driver sends (the tbf removed again) is slow: TXLAT_NETDEV_100MS events for our device. Events are matched by network
// namespace inode: other kernel tests may run at the same time.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { sharedRingScheduler } from "../../src/bpf/ring-scheduler.ts";
import { sectionDefaults } from "../../src/config/spec.ts";
import { silentLogger } from "../../src/log.ts";
import type { HistogramSample, MetricSample } from "../../src/metrics/sample.ts";
import { NETIFTXLATENCY_CONFIG, netiftxlatencyProbe } from "../../src/probes/netiftxlatency/index.ts";
import type { ProbeEmission, ProbeInstance } from "../../src/probes/types.ts";
import { procfsRoot } from "../../src/procfs/root.ts";
import { kernelTestSkipReason, waitFor } from "./agent.ts";
import { vethPair, type VethPair } from "./netns.ts";
import { UDP_FLOOD } from "./udp.ts";

const skip = kernelTestSkipReason();
const TAG = `kp-txl-${process.pid}`;
const SENDER = "192.0.2.1"; // TEST-NET-1, only inside our namespaces
const RECEIVER = "192.0.2.2";
const PORT = 20000 + (process.pid % 10000);
const BURST = 200;

function netnsInum(pair: VethPair): number {
  return Number(/\[(\d+)\]/.exec(pair.exec("a", ["readlink", "/proc/self/ns/net"]))![1]);
}

function counter(samples: MetricSample[], name: string): number {
  const s = samples.find((x) => x.name === name);
  if (!s || s.type === "histogram") throw new Error(`no counter ${name}`);
  return s.value;
}

/** Everything the probe exports on a scrape: scalar samples and histograms. */
async function scrape(inst: ProbeInstance): Promise<MetricSample[]> {
  return [...(await inst.collect!()), ...(inst.histograms?.() ?? [])];
}

function histogram(samples: MetricSample[], stage: string): HistogramSample {
  const h = samples.find((x): x is HistogramSample => x.type === "histogram" && x.labels?.stage === stage);
  if (!h) throw new Error(`no histogram for stage ${stage}`);
  return h;
}

/** Observations above `seconds` (count minus the cumulative count of the bound just above it). */
function above(h: HistogramSample, seconds: number): number {
  const i = h.histogram.bounds.findIndex((b) => b >= seconds);
  return h.histogram.count - (i > 0 ? h.histogram.cumulativeCounts[i - 1]! : 0);
}

describe.skipIf(!!skip)("netiftxlatency (real kernel)", () => {
  let pair: VethPair;
  let ns = 0;
  const instances: ProbeInstance[] = [];

  async function flood(count: number): Promise<number> {
    const p = Bun.spawn(["ip", "netns", "exec", pair.a, UDP_FLOOD, String(PORT), String(count), RECEIVER], { stdout: "pipe", stderr: "pipe" });
    const [out, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
    if (code !== 0) throw new Error(`udp-flood exited ${code}: ${err}`);
    return Number(/sport=(\d+)/.exec(out)![1]);
  }

  async function start(config: { QdiscThreshold?: number; NetdevThreshold?: number; MaxEventsPerSecond?: number }, got: ProbeEmission[]): Promise<ProbeInstance> {
    const inst = await netiftxlatencyProbe.create({
      config: { ...sectionDefaults(NETIFTXLATENCY_CONFIG, ""), ...config },
      procfs: procfsRoot(""), log: silentLogger, emit: (e) => got.push(e),
    });
    instances.push(inst);
    return inst;
  }

  beforeAll(() => {
    pair = vethPair(TAG, `${SENDER}/24`, `${RECEIVER}/24`);
    ns = netnsInum(pair);
    pair.exec("a", ["tc", "qdisc", "add", "dev", "va", "root", "tbf", "rate", "100kbit", "burst", "1600", "limit", "200000"]);
  });
  afterAll(async () => {
    for (const i of instances) await i.stop();
    pair?.remove(); // the qdisc goes with the namespace
    await sharedRingScheduler().close();
  });

  test("a burst behind a 100 kbit/s tbf: TXLAT_QDISC_100MS events, the slow counter and the upper buckets move", async () => {
    const got: ProbeEmission[] = [];
    const inst = await start({ QdiscThreshold: 50_000_000, MaxEventsPerSecond: 0 }, got);
    const before = await scrape(inst);
    const sport = await flood(BURST);

    const mine = () => got.filter((e) => e.data.net_namespace_inum === ns && e.data.type === "TXLAT_QDISC_100MS" && e.data.sport === sport);
    // the burst drains in about 1.2 s; wait until most of it has been reported
    await waitFor("qdisc events of the burst", () => mine().length >= BURST / 2 || undefined, 20_000);
    const ev = mine()[0]!.data;
    expect(ev).toMatchObject({
      protocol: "UDP", saddr: SENDER, daddr: RECEIVER, dport: PORT, threshold: 50_000_000,
      netdev_name: "va", pkt_len: 32 + 8 + 20 + 14, // payload, UDP, IPv4 and Ethernet headers
    });
    expect(ev.latency as number).toBeGreaterThanOrEqual(50_000_000);
    expect(ev.latency as number).toBeLessThan(20e9);
    expect(Object.keys(ev).slice(0, 7)).toEqual(["type", "protocol", "saddr", "sport", "daddr", "dport", "latency"]);
    const latencies = mine().map((e) => e.data.latency as number);
    expect(Math.max(...latencies)).toBeGreaterThan(500_000_000); // the tail waited over half a second

    const after = await waitFor("the burst in the histogram", async () => {
      const s = await scrape(inst);
      return histogram(s, "qdisc").histogram.count - histogram(before, "qdisc").histogram.count >= BURST ? s : undefined;
    });
    expect(counter(after, "qdiscslow100ms") - counter(before, "qdiscslow100ms")).toBeGreaterThanOrEqual(mine().length);
    const slowBuckets = above(histogram(after, "qdisc"), 0.05) - above(histogram(before, "qdisc"), 0.05);
    expect(slowBuckets).toBeGreaterThanOrEqual(BURST / 2);
    const q = histogram(after, "qdisc").histogram;
    expect(q.sum - histogram(before, "qdisc").histogram.sum).toBeGreaterThan(BURST / 2 * 0.05);
    expect(q.cumulativeCounts.every((c, i) => i === 0 || c >= q.cumulativeCounts[i - 1]!)).toBe(true);
    expect(q.bounds[0]).toBe(0.000002);
    // the driver saw the same packets
    expect(histogram(after, "netdev").histogram.count - histogram(before, "netdev").histogram.count).toBeGreaterThanOrEqual(BURST);
    const emitted = after.find((s) => s.name === "events_total" && s.labels?.outcome === "emitted");
    expect((emitted as { value: number }).value).toBeGreaterThanOrEqual(mine().length);
  });

  test("NetdevThreshold = 1 ns, no qdisc: every driver transmit is reported as TXLAT_NETDEV_100MS", async () => {
    // back to veth's default (noqueue): the qdisc stage then ends at net_dev_start_xmit
    pair.exec("a", ["tc", "qdisc", "del", "dev", "va", "root"]);
    const got: ProbeEmission[] = [];
    const inst = await start({ NetdevThreshold: 1, MaxEventsPerSecond: 0 }, got);
    const first = await scrape(inst);
    const before = counter(first, "netdevslow100ms");
    const sport = await flood(5);
    const ev = await waitFor("a netdev event of our flow", () =>
      got.find((e) => e.data.net_namespace_inum === ns && e.data.type === "TXLAT_NETDEV_100MS" && e.data.sport === sport)?.data);
    expect(ev).toMatchObject({ protocol: "UDP", saddr: SENDER, daddr: RECEIVER, dport: PORT, netdev_name: "va", threshold: 1 });
    expect(ev.latency as number).toBeGreaterThanOrEqual(1);
    expect(ev.latency as number).toBeLessThan(1e9);
    const after = await scrape(inst);
    expect(counter(after, "netdevslow100ms") - before).toBeGreaterThanOrEqual(1);
    // the noqueue path (timed per CPU, no hash) still measured the qdisc stage of each packet
    expect(histogram(after, "qdisc").histogram.count - histogram(first, "qdisc").histogram.count).toBeGreaterThanOrEqual(5);
    // the qdisc threshold stayed at 100 ms, and without a qdisc nothing waits that long
    expect(got.some((e) => e.data.net_namespace_inum === ns && e.data.type === "TXLAT_QDISC_100MS" && e.data.sport === sport)).toBe(false);
  });
});
