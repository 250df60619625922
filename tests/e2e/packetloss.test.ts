// packetloss on the real kernel, in two network namespaces of this test's own. It has no BPF
// object of its own: created alone it loads dropwatch's, and dropwatch created next shares that
// object (one load, one kfree_skb attach). Its per-location counters must move for drops we
// make: an iptables DROP rule (netfilter), TCP connections to a closed port (the SYN is freed in
// tcp_v4_rcv: tcprcv), UDP to a closed port (abnormal); ordinary drops only count in total. Each
// anomaly is also a PACKETLOSS event with the 5-tuple and the stack, and the same ring record a
// dropwatch event. Counters cover every namespace (other tests drop packets meanwhile), so they
// are compared as "moved by at least ours"; events are filtered by our namespace.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { sharedRingScheduler } from "../../src/bpf/ring-scheduler.ts";
import { sectionDefaults } from "../../src/config/spec.ts";
import { silentLogger } from "../../src/log.ts";
import type { Sample } from "../../src/metrics/sample.ts";
import { DROPWATCH_CONFIG, dropwatchProbe } from "../../src/probes/dropwatch/index.ts";
import { dropObjectStats } from "../../src/probes/dropwatch/shared.ts";
import { packetlossProbe } from "../../src/probes/packetloss/index.ts";
import type { ProbeEmission, ProbeInstance } from "../../src/probes/types.ts";
import { procfsRoot } from "../../src/procfs/root.ts";
import { kernelTestSkipReason, waitFor } from "./agent.ts";
import { ADDR, BUN, lineFrom, TCP_TRAFFIC, testNet, UDP_FLOOD, type TestNet } from "./dropwatch-net.ts";

const skip = kernelTestSkipReason();
const PORT = 43000 + (process.pid % 10000);
const LOCATIONS = ["tcphandle", "tcprcv", "abnormal", "total", "netfilter", "tcpstatm"];

const data = (ev: ProbeEmission) => ev.data as Record<string, any>;

describe.skipIf(!!skip)("packetloss (real kernel, own namespaces)", () => {
  let net: TestNet;
  let pl: ProbeInstance | undefined;
  let dw: ProbeInstance | undefined;
  const plEvents: ProbeEmission[] = [];
  const dwEvents: ProbeEmission[] = [];
  const ctx = { procfs: procfsRoot(""), log: silentLogger };

  async function counts(): Promise<Record<string, number>> {
    const out: Record<string, number> = {};
    for (const s of (await pl!.collect!()) as Sample[]) if (!s.labels) out[s.name] = s.value;
    return out;
  }
  const oursPl = (from: number) => plEvents.slice(from).filter((e) => data(e).netns === net.inum.a);

  beforeAll(async () => {
    net = testNet(`kpl${process.pid}`);
  });
  afterAll(async () => {
    await pl?.stop();
    await dw?.stop();
    net?.remove();
    await sharedRingScheduler().close();
  });

  test("packetloss alone loads the object; dropwatch then shares it (one load, one attach)", async () => {
    const before = dropObjectStats();
    pl = await packetlossProbe.create({ ...ctx, config: undefined, emit: (ev) => plEvents.push(ev) });
    expect(dropObjectStats()).toEqual({ loads: before.loads + 1, holders: before.holders + 1 });
    dw = await dropwatchProbe.create({
      ...ctx, config: { ...sectionDefaults(DROPWATCH_CONFIG, ""), MaxEventsPerSecond: 0 }, emit: (ev) => dwEvents.push(ev),
    });
    expect(dropObjectStats()).toEqual({ loads: before.loads + 1, holders: before.holders + 2 });
    // KubeSkoop's six counters, under their own names, no labels
    expect(Object.keys(await counts()).filter((n) => LOCATIONS.includes(n)).sort()).toEqual([...LOCATIONS].sort());
  });

  test("an iptables DROP rule: netfilter and total move, a PACKETLOSS event and a dropwatch event for it", async () => {
    const port = PORT, N = 50;
    net.exec("a", ["iptables", "-A", "INPUT", "-p", "udp", "--dport", String(port), "-j", "DROP"]);
    const before = await counts();
    const from = plEvents.length, dwFrom = dwEvents.length;
    const out = await net.run("b", [UDP_FLOOD, String(port), String(N), ADDR.a]);
    const sport = Number(/sport=(\d+)/.exec(out)![1]);
    await waitFor(`netfilter counter +${N}`, async () => ((await counts()).netfilter! - before.netfilter! >= N) || undefined);
    const after = await counts();
    expect(after.total! - before.total!).toBeGreaterThanOrEqual(N);

    const ev = data(await waitFor("a PACKETLOSS event", () => oursPl(from).find((e) => data(e).dport === port), 5000));
    expect(ev).toMatchObject({
      type: "PACKETLOSS", location: "netfilter", protocol: "udp", saddr: ADDR.b, sport, daddr: ADDR.a, dport: port,
      drop_reason: "SKB_DROP_REASON_NETFILTER_DROP", comm: "udp-flood", netns: net.inum.a,
    });
    const frames = (ev.stacktrace as string).split("\n");
    expect(frames.length).toBeGreaterThan(3);
    expect(frames[0]).not.toMatch(/^(0x|bpf_prog_)/);
    // the same ring record is dropwatch's event too
    await waitFor("the dropwatch event of the same drop", () =>
      dwEvents.slice(dwFrom).find((e) => data(e).net_namespace_inum === net.inum.a && data(e).dport === port && data(e).sport === sport), 5000);
  });

  test("TCP to a closed port: tcprcv moves, PACKETLOSS events say tcprcv", async () => {
    const port = PORT + 1, N = 20;
    const before = await counts();
    const from = plEvents.length;
    expect(await net.run("b", [BUN, TCP_TRAFFIC, "refused", ADDR.a, String(port), String(N)])).toContain(`done ${N}`);
    await waitFor(`tcprcv counter +${N}`, async () => ((await counts()).tcprcv! - before.tcprcv! >= N) || undefined);
    const ev = data(await waitFor("a PACKETLOSS event", () => oursPl(from).find((e) => data(e).dport === port), 5000));
    expect(ev).toMatchObject({ type: "PACKETLOSS", location: "tcprcv", protocol: "tcp", drop_reason: "SKB_DROP_REASON_NO_SOCKET", saddr: ADDR.b, daddr: ADDR.a });
    expect(ev.drop_location).toMatch(/^tcp_v4_rcv\+0x/);
  });

  test("UDP to a closed port: abnormal moves", async () => {
    const port = PORT + 2, N = 50;
    const before = await counts();
    const from = plEvents.length;
    await net.run("b", [UDP_FLOOD, String(port), String(N), ADDR.a]);
    await waitFor(`abnormal counter +${N}`, async () => ((await counts()).abnormal! - before.abnormal! >= N) || undefined);
    const ev = data(await waitFor("a PACKETLOSS event", () => oursPl(from).find((e) => data(e).dport === port), 5000));
    expect(ev).toMatchObject({ location: "abnormal", protocol: "udp", drop_reason: "SKB_DROP_REASON_NO_SOCKET" });
  });

  test("ordinary drops count in total only: no PACKETLOSS event from 100 TCP cycles", async () => {
    const servers = net.start("a", [BUN, TCP_TRAFFIC, "servers", ADDR.a, String(PORT + 10)]);
    await lineFrom(servers, "ready");
    const before = await counts();
    const from = plEvents.length;
    expect(await net.run("b", [BUN, TCP_TRAFFIC, "clients", ADDR.a, String(PORT + 10), "100"])).toContain("done 100");
    servers.kill();
    await servers.exited;
    // barrier: a real drop after the cycles; its event means every earlier record was read
    const out = await net.run("b", [UDP_FLOOD, "9", "1", ADDR.a]);
    const sport = Number(/sport=(\d+)/.exec(out)![1]);
    await waitFor("the barrier's PACKETLOSS event", () => oursPl(from).find((e) => data(e).sport === sport && data(e).dport === 9), 5000);
    const after = await counts();
    expect(after.total! - before.total!).toBeGreaterThanOrEqual(50); // queue purges, deferred handshake ACKs
    expect(oursPl(from).filter((e) => data(e).dport !== 9).map((e) => `${data(e).drop_reason} ${data(e).drop_location}`)).toEqual([]);
  }, 60_000);

  test("the last release closes the object; the next probe loads a fresh one", async () => {
    const before = dropObjectStats();
    await dw!.stop();
    dw = undefined;
    expect(dropObjectStats().holders).toBe(before.holders - 1);
    await pl!.stop();
    pl = undefined;
    expect(dropObjectStats().holders).toBe(before.holders - 2);
    pl = await packetlossProbe.create({ ...ctx, config: undefined, emit: (ev) => plEvents.push(ev) });
    expect(dropObjectStats().loads).toBe(before.loads + 1);
  });
});
