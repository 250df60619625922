import { describe, expect, test } from "bun:test";
import { enumNamesOf, structLayoutOf, structSizeOf, withObjectFileBtf } from "../../src/bpf/btf.ts";
import { sectionDefaults } from "../../src/config/spec.ts";
import { resolveLayout } from "../../src/probes/kit/decoders.ts";
import { NETIFTXLAT_FIELDS, NetifTxlatDecoder, protocolName, slotBounds, slotHistogram, TXLAT_STAGES } from "../../src/probes/netiftxlatency/decode.ts";
import { NETIFTXLATENCY_CONFIG, netiftxlatencyProbe } from "../../src/probes/netiftxlatency/index.ts";

const OBJ = netiftxlatencyProbe.bpf.object;
const layout = withObjectFileBtf(OBJ, (btf) => structLayoutOf(btf, "netiftxlat_event"));
const size = withObjectFileBtf(OBJ, (btf) => structSizeOf(btf, "netiftxlat_event"));
const offsets = resolveLayout("netiftxlat_event", layout, NETIFTXLAT_FIELDS);
const enumOf = (name: string) => withObjectFileBtf(OBJ, (btf) => enumNamesOf(btf, name));

describe("netiftxlatency decoding", () => {
  test("config defaults: KubeSkoop's 100 ms for both stages", () => {
    expect(sectionDefaults(NETIFTXLATENCY_CONFIG, "")).toEqual({ QdiscThreshold: 100_000_000, NetdevThreshold: 100_000_000, MaxEventsPerSecond: 100 });
  });

  test("the object numbers the stages as the decoder does", () => {
    const stages = enumOf("netiftxlat_stage");
    expect(stages.get(0)).toBe("TXLAT_QDISC");
    expect(stages.get(1)).toBe("TXLAT_NETDEV");
    expect(stages.get(TXLAT_STAGES.length)).toBe("TXLAT_STAGES");
    expect(TXLAT_STAGES.map((s) => s.type)).toEqual(["TXLAT_QDISC_100MS", "TXLAT_NETDEV_100MS"]);
    expect(TXLAT_STAGES.map((s) => s.counter)).toEqual(["qdiscslow100ms", "netdevslow100ms"]);
    const m = withObjectFileBtf(OBJ, (btf) => structLayoutOf(btf, "netiftxlat_stage_metrics"));
    expect(m.get("slots")!.size % 8).toBe(0);
    expect(["slow", "sum_ns"].map((f) => m.get(f)?.size)).toEqual([8, 8]);
  });

  test("an IPv4 UDP packet slow in the qdisc", () => {
    const buf = new Uint8Array(size);
    const dv = new DataView(buf.buffer);
    const at = (f: keyof typeof NETIFTXLAT_FIELDS) => offsets[f];
    buf[at("stage")] = 0;
    buf[at("family")] = 4;
    buf[at("l4_proto")] = 17;
    buf.set([10, 0, 0, 1], at("saddr"));
    buf.set([10, 0, 0, 2], at("daddr"));
    dv.setUint16(at("sport"), 5353, true);
    dv.setUint16(at("dport"), 53, true);
    dv.setUint32(at("latency_ns"), 0x2a05f200, true); // 705 032 704
    dv.setUint32(at("latency_ns") + 4, 1, true); // + 2^32
    dv.setUint32(at("len"), 74, true);
    dv.setUint32(at("ifindex"), 3, true);
    dv.setUint32(at("netns_inum"), 4026531840, true);
    dv.setUint32(at("cpu"), 1, true);
    dv.setUint32(at("pid"), 77, true);
    buf.set(new TextEncoder().encode("eth0"), at("ifname"));
    buf.set(new TextEncoder().encode("ksoftirqd/1"), at("comm"));
    expect(new NetifTxlatDecoder(offsets, [100_000_000, 5]).decode(buf, dv, 0)).toEqual({
      type: "TXLAT_QDISC_100MS", protocol: "UDP", saddr: "10.0.0.1", sport: 5353, daddr: "10.0.0.2", dport: 53,
      latency: 2 ** 32 + 0x2a05f200, threshold: 100_000_000, pkt_len: 74, netdev_name: "eth0", netdev_ifindex: 3,
      net_namespace_inum: 4026531840, cpu: 1, pid: 77, comm: "ksoftirqd/1",
    });
    buf[at("stage")] = 1;
    buf[at("family")] = 0; // not IP (ARP): no flow
    expect(new NetifTxlatDecoder(offsets, [100_000_000, 5]).decode(buf, dv, 0)).toMatchObject({
      type: "TXLAT_NETDEV_100MS", protocol: "", saddr: "", daddr: "", threshold: 5,
    });
  });

  test("protocol names as KubeSkoop prints them", () => {
    expect([1, 6, 17, 58, 132].map(protocolName)).toEqual(["ICMP", "TCP", "UDP", "ICMP6", "IP"]);
  });

  test("log2 slots become a cumulative histogram in seconds, the last slot only in +Inf", () => {
    expect(slotBounds(4)).toEqual([0.000002, 0.000004, 0.000008]);
    const h = slotHistogram([5, 0, 2, 3], 1_500_000_000);
    expect(h).toEqual({ bounds: [0.000002, 0.000004, 0.000008], cumulativeCounts: [5, 5, 7], count: 10, sum: 1.5 });
    const slots = withObjectFileBtf(OBJ, (btf) => structLayoutOf(btf, "netiftxlat_stage_metrics")).get("slots")!.size / 8;
    const b = slotBounds(slots);
    expect(b).toHaveLength(slots - 1);
    expect(b[b.length - 1]).toBeGreaterThan(8); // 2^23 µs: slow tails up to ~8 s keep their bucket
    expect(b.some((x) => x > 0.1 && x < 0.15)).toBe(true); // a bound just above 100 ms (2^17 µs)
  });
});
