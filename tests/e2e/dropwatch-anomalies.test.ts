// dropwatch on the real kernel, in two network namespaces of this test's own: what is an anomaly
// and what is ordinary. Ordinary TCP traffic (1 000 connect/transfer/close cycles, ended in the
// four usual ways) makes drops the kernel reports (queue purges, the handshake ACK a
// TCP_DEFER_ACCEPT listener frees, late segments in TIME_WAIT or after a reset…): they must be counted
// (filtered, and in drops_total{reason}) without a single event. Real drops still are events:
// UDP to a closed port and a SYN to one (NO_SOCKET), an iptables DROP rule (NETFILTER_DROP), and a listener
// with backlog 1 whose accept queue overflows (listen_overflow_*). The per-reason counter keeps
// counting beyond the rate limit. The probe is created directly; other tests drop packets on
// this machine at the same time, so only events of our namespaces are looked at, and counters
// are compared as "at least ours".
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { sharedRingScheduler } from "../../src/bpf/ring-scheduler.ts";
import { sectionDefaults } from "../../src/config/spec.ts";
import { silentLogger } from "../../src/log.ts";
import type { Sample } from "../../src/metrics/sample.ts";
import { DROPWATCH_CONFIG, dropwatchProbe } from "../../src/probes/dropwatch/index.ts";
import type { ProbeEmission, ProbeInstance } from "../../src/probes/types.ts";
import { procfsRoot } from "../../src/procfs/root.ts";
import { kernelTestSkipReason, waitFor } from "./agent.ts";
import { ADDR, BUN, lineFrom, TCP_TRAFFIC, testNet, UDP_FLOOD, type TestNet } from "./dropwatch-net.ts";

const skip = kernelTestSkipReason();
const PORT = 41000 + (process.pid % 10000);

type Config = NonNullable<(typeof DROPWATCH_CONFIG)["__values"]>;

async function createProbe(overrides: Partial<Config>, got: ProbeEmission[]): Promise<ProbeInstance> {
  return dropwatchProbe.create({
    config: { ...sectionDefaults(DROPWATCH_CONFIG, ""), ...overrides },
    procfs: procfsRoot(""),
    log: silentLogger,
    emit: (ev) => got.push(ev),
  });
}

async function counters(inst: ProbeInstance): Promise<{ outcome: Record<string, number>; reason: Record<string, number> }> {
  const samples = (await inst.collect!()) as Sample[];
  const outcome: Record<string, number> = {}, reason: Record<string, number> = {};
  for (const s of samples) {
    if (s.name === "events_total") outcome[s.labels!.outcome!] = s.value;
    if (s.name === "drops_total") reason[s.labels!.reason!.replace(/^SKB_DROP_REASON_/, "")] = s.value;
  }
  return { outcome, reason };
}

const data = (ev: ProbeEmission) => ev.data as Record<string, any>;

describe.skipIf(!!skip)("dropwatch anomalies (real kernel, own namespaces)", () => {
  let net: TestNet;
  let inst: ProbeInstance | undefined;
  const got: ProbeEmission[] = [];
  const ours = (from = 0) => got.slice(from).filter((e) => data(e).net_namespace_inum === net.inum.a || data(e).net_namespace_inum === net.inum.b);

  beforeAll(async () => {
    net = testNet(`kdw${process.pid}`);
    inst = await createProbe({ MaxEventsPerSecond: 0 }, got); // unlimited: other tests' drops must not crowd ours out
  });
  afterAll(async () => {
    await inst?.stop();
    net?.remove();
    await sharedRingScheduler().close();
  });

  /** A real drop in namespace a, and its event: also a barrier (the ring is one queue for all CPUs). */
  async function udpToClosedPort(port: number, from = got.length): Promise<ProbeEmission> {
    const out = await net.run("b", [UDP_FLOOD, String(port), "1", ADDR.a]);
    const sport = Number(/sport=(\d+)/.exec(out)![1]);
    return waitFor(`the NO_SOCKET event for ${ADDR.b}:${sport} → ${ADDR.a}:${port}`, () =>
      ours(from).find((e) => data(e).dport === port && data(e).sport === sport), 5000);
  }

  test("UDP to a closed port: a NO_SOCKET event with every field", async () => {
    const ev = data(await udpToClosedPort(9));
    expect(ev).toMatchObject({
      type: "common_drop", drop_reason: "SKB_DROP_REASON_NO_SOCKET", drop_reason_group: "socket",
      protocol: "udp", saddr: ADDR.b, daddr: ADDR.a, dport: 9, netdev_name: "va",
      netdev_linkstatus: ["linkStatusAdminUp", "linkStatusCarrierUp"], net_namespace_inum: net.inum.a,
      comm: "udp-flood", seq: 0, ack_seq: 0, max_ack_backlog: 0,
    });
    expect(ev.netdev_ifindex).toBeGreaterThan(0);
    expect(typeof ev.netdev_queue_mapping).toBe("number");
    expect(typeof ev.net_namespace_cookie).toBe("number");
    expect(ev.net_namespace_cookie).toBeGreaterThan(0);
    expect(ev).not.toHaveProperty("net_cookie");
    expect(ev.drop_location).toMatch(/^__udp4_lib_rcv\+0x/);
    // The stack starts at the kernel's drop, not at our program or a bare address.
    const frames = (ev.stack as string).split("\n");
    expect(frames[0]).not.toMatch(/^(0x|bpf_prog_|bpf_trace_run|__bpf_trace)/);
    expect(frames.some((f) => f.startsWith("__udp4_lib_rcv+"))).toBe(true);
    expect(frames.every((f) => !/^0x[0-9a-f]+$/.test(f))).toBe(true);
  });

  test("1 000 ordinary TCP cycles: zero events from our namespaces, the drops counted as filtered", async () => {
    const servers = net.start("a", [BUN, TCP_TRAFFIC, "servers", ADDR.a, String(PORT)]);
    await lineFrom(servers, "ready");
    const before = await counters(inst!);
    const from = got.length;

    const out = await net.run("b", [BUN, TCP_TRAFFIC, "clients", ADDR.a, String(PORT), "1000"], 120_000);
    expect(out).toContain("done 1000");
    servers.kill();
    await servers.exited;
    // A real drop after all of it: when its event is here, every earlier record has been read.
    const sentinel = await udpToClosedPort(10, from);

    const after = await counters(inst!);
    const leaked = ours(from).filter((e) => e !== sentinel).map((e) => {
      const d = data(e);
      return `${d.drop_reason} ${d.sk_state} ${d.drop_location} ${d.saddr}:${d.sport}→${d.daddr}:${d.dport}`;
    });
    expect(leaked).toEqual([]);
    // The cycles did make drops (at least one per HTTP exchange and per purged queue): counted, not events.
    const delta = (k: string) => (after.reason[k] ?? 0) - (before.reason[k] ?? 0);
    expect(delta("NOT_SPECIFIED")).toBeGreaterThanOrEqual(250);
    expect(delta("QUEUE_PURGE")).toBeGreaterThanOrEqual(250);
    expect(after.outcome.filtered! - before.outcome.filtered!).toBeGreaterThanOrEqual(500);
  }, 180_000);

  test("a SYN to a closed TCP port is an event (stray segments of forgotten connections are not)", async () => {
    const port = PORT + 5;
    const from = got.length;
    expect(await net.run("b", [BUN, TCP_TRAFFIC, "refused", ADDR.a, String(port), "1"])).toContain("done 1");
    const ev = data(await waitFor("the NO_SOCKET event of the SYN", () => ours(from).find((e) => data(e).dport === port), 5000));
    expect(ev).toMatchObject({ drop_reason: "SKB_DROP_REASON_NO_SOCKET", protocol: "tcp", saddr: ADDR.b, daddr: ADDR.a, sk_state: "" });
    expect(ev.drop_location).toMatch(/^tcp_v4_rcv\+0x/);
  });

  test("an iptables DROP rule in our namespace: a NETFILTER_DROP event", async () => {
    const port = PORT + 10;
    net.exec("a", ["iptables", "-A", "INPUT", "-p", "udp", "--dport", String(port), "-j", "DROP"]);
    const from = got.length;
    await net.run("b", [UDP_FLOOD, String(port), "5", ADDR.a]);
    const ev = data(await waitFor("a netfilter drop event", () => ours(from).find((e) => data(e).dport === port), 5000));
    expect(ev).toMatchObject({
      drop_reason: "SKB_DROP_REASON_NETFILTER_DROP", drop_reason_group: "netfilter", type: "common_drop",
      protocol: "udp", saddr: ADDR.b, daddr: ADDR.a, net_namespace_inum: net.inum.a,
    });
    // nf_hook_slow with iptables-legacy, the nf_tables chain with iptables-nft
    expect(ev.drop_location).toMatch(/^(nf_hook_slow|nft_do_chain|ipt_do_table)\+0x/);
    expect(ev.stack.split("\n")[0]).not.toMatch(/^0x/);
  });

  test("a backlog-1 listener flooded with connections: a listen overflow event", async () => {
    const port = PORT + 20;
    const listener = net.start("a", [BUN, TCP_TRAFFIC, "listener", ADDR.a, String(port)]);
    await lineFrom(listener, "ready");
    const from = got.length;
    await net.run("b", [BUN, TCP_TRAFFIC, "flood", ADDR.a, String(port), "30"], 20_000);
    const ev = data(await waitFor("a listen overflow / syn flood event", () =>
      ours(from).find((e) => data(e).dport === port && /^(listen_overflow_handshake[13]|syn_flood)$/.test(data(e).type)), 10_000));
    listener.kill();
    expect(ev).toMatchObject({ sk_state: "LISTEN", max_ack_backlog: 1, protocol: "tcp", daddr: ADDR.a, net_namespace_inum: net.inum.a });
    expect(ev.drop_reason_group).toBe("tcp");
  }, 60_000);

  test("the per-reason counter keeps counting beyond the rate limit", async () => {
    await inst!.stop(); // the object is shared: the next instance's policy replaces this one's
    inst = undefined;
    const limited: ProbeEmission[] = [];
    const LIMIT = 10;
    inst = await createProbe({ MaxEventsPerSecond: LIMIT }, limited);
    const t0 = Date.now();
    const before = await counters(inst);
    const port = PORT + 30, N = 3000;
    const out = await net.run("b", [UDP_FLOOD, String(port), String(N), ADDR.a]);
    expect(out).toContain(`sent=${N}`);
    const after = await waitFor(`${N} NO_SOCKET drops counted`, async () => {
      const c = await counters(inst!);
      return (c.reason.NO_SOCKET ?? 0) - (before.reason.NO_SOCKET ?? 0) >= N ? c : undefined;
    });
    const elapsed = (Date.now() - t0) / 1000;
    expect(after.outcome.ratelimited! - before.outcome.ratelimited!).toBeGreaterThan(0);
    // The limit holds for the object (it is counted in BPF, so no event can still be on its way):
    // a fixed one-second window admits at most LIMIT, other tests' drops included.
    const emitted = after.outcome.emitted! - before.outcome.emitted!;
    expect(emitted).toBeLessThanOrEqual(LIMIT * (Math.floor(elapsed) + 2));
    expect(emitted + after.outcome.ratelimited! - before.outcome.ratelimited!).toBeGreaterThanOrEqual(N);
  });

  test("a drop on a listener whose accept queue is full is never ordinary, whatever the lists say", async () => {
    await inst!.stop();
    inst = undefined;
    const evs: ProbeEmission[] = [];
    const defaults = sectionDefaults(DROPWATCH_CONFIG, "");
    inst = await createProbe({ MaxEventsPerSecond: 0, CountOnlyReasons: [...defaults.CountOnlyReasons, "TCP_LISTEN_OVERFLOW"] }, evs);
    const port = PORT + 40;
    const listener = net.start("a", [BUN, TCP_TRAFFIC, "listener", ADDR.a, String(port)]);
    await lineFrom(listener, "ready");
    await net.run("b", [BUN, TCP_TRAFFIC, "flood", ADDR.a, String(port), "30"], 20_000);
    const ev = data(await waitFor("a TCP_LISTEN_OVERFLOW event despite the count-only list", () =>
      evs.find((e) => data(e).net_namespace_inum === net.inum.a && data(e).dport === port &&
        data(e).drop_reason === "SKB_DROP_REASON_TCP_LISTEN_OVERFLOW"), 10_000));
    listener.kill();
    expect(ev.type).toBe("listen_overflow_handshake3");
  }, 60_000);
});
