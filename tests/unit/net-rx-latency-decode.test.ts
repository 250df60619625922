import { describe, expect, test } from "bun:test";
import { structLayoutOf, structSizeOf, withObjectFileBtf } from "../../src/bpf/btf.ts";
import { sectionDefaults } from "../../src/config/spec.ts";
import { resolveLayout } from "../../src/probes/kit/decoders.ts";
import {
  compileIssues, issueTitle, matchIssue, NET_RX_LATENCY_FIELDS, NetRxLatencyDecoder, rxState,
} from "../../src/probes/net_rx_latency/decode.ts";
import { NET_RX_LATENCY_CONFIG, netRxLatencyProbe } from "../../src/probes/net_rx_latency/index.ts";

const OBJ = netRxLatencyProbe.bpf.object;
const layout = withObjectFileBtf(OBJ, (btf) => structLayoutOf(btf, "net_rx_latency_event"));
const size = withObjectFileBtf(OBJ, (btf) => structSizeOf(btf, "net_rx_latency_event"));
const offsets = resolveLayout("net_rx_latency_event", layout, NET_RX_LATENCY_FIELDS);

/** A record laid out by the object's BTF: a 95.97 s old segment copied to nginx. */
function record(over: { where?: number; state?: number; comm?: string; family?: number } = {}): { buf: Uint8Array; dv: DataView } {
  const buf = new Uint8Array(size);
  const dv = new DataView(buf.buffer);
  const at = (f: keyof typeof NET_RX_LATENCY_FIELDS) => offsets[f];
  buf.set([10, 156, 248, 76], at("saddr"));
  buf.set([10, 134, 72, 4], at("daddr"));
  buf.set(new TextEncoder().encode(over.comm ?? "nginx"), at("comm"));
  buf.set(new TextEncoder().encode("eth0"), at("netdev"));
  buf[at("family")] = over.family ?? 4;
  buf[at("where")] = over.where ?? 2;
  buf[at("state")] = over.state ?? 1;
  dv.setUint32(at("pid"), 2921092, true);
  dv.setUint32(at("latency_ns"), 95973_000_000 % 2 ** 32, true);
  dv.setUint32(at("latency_ns") + 4, Math.floor(95973_000_000 / 2 ** 32), true);
  dv.setUint16(at("sport"), 9213, true);
  dv.setUint16(at("dport"), 49000, true);
  dv.setUint32(at("seq"), 1009085774, true);
  dv.setUint32(at("ack_seq"), 689410995, true);
  dv.setUint32(at("pkt_len"), 26064, true);
  dv.setUint32(at("netns_inum"), 4026532315, true);
  dv.setUint32(at("net_cookie"), 330, true);
  return { buf, dv };
}

describe("net_rx_latency decoding", () => {
  test("HUATUO's sample event, laid out by the object's BTF, in the guide's field order", () => {
    const { buf, dv } = record();
    const d = new NetRxLatencyDecoder(offsets, [5, 10, 115]).decode(buf, dv, 0)!;
    expect(d).toEqual({
      comm: "nginx", pid: 2921092, where: "TO_USER_COPY", latency_ms: 95973, state: "ESTABLISHED",
      saddr: "10.156.248.76", daddr: "10.134.72.4", sport: 9213, dport: 49000, seq: 1009085774,
      ack_seq: 689410995, pkt_len: 26064, lat_thresholds: 115, netdev_name: "eth0",
      netns_inum: 4026532315, netns_cookie: 330,
    });
    expect(Object.keys(d).slice(0, 12)).toEqual(["comm", "pid", "where", "latency_ms", "state", "saddr", "daddr", "sport", "dport", "seq", "ack_seq", "pkt_len"]);
  });

  test("stages and states", () => {
    const dec = new NetRxLatencyDecoder(offsets, [5, 10, 115]);
    const netif = record({ where: 0, state: 0, comm: "" });
    expect(dec.decode(netif.buf, netif.dv, 0)).toMatchObject({ where: "TO_NETIF_RCV", state: "<nil>", comm: "", lat_thresholds: 5 });
    const tcp = record({ where: 1 });
    expect(dec.decode(tcp.buf, tcp.dv, 0)).toMatchObject({ where: "TO_TCPV4_RCV", lat_thresholds: 10 });
    expect(rxState(1)).toBe("ESTABLISHED");
    expect(rxState(0)).toBe("<nil>");
  });

  test("the decoder reads at the record's offset in the ring", () => {
    const { buf } = record();
    const ring = new Uint8Array(size + 24);
    ring.set(buf, 24);
    const d = new NetRxLatencyDecoder(offsets, [5, 10, 115]).decode(ring, new DataView(ring.buffer), 24)!;
    expect(d.dport).toBe(49000);
  });

  test("IssuesList: HUATUO's title, and a matching known issue drops the event", () => {
    const { buf, dv } = record();
    const title = issueTitle(new NetRxLatencyDecoder(offsets, [5, 10, 115]).decode(buf, dv, 0) as never);
    expect(title).toBe("comm=nginx:2921092 to=TO_USER_COPY lat(ms)=95973.00 state=ESTABLISHED saddr=10.156.248.76 sport=9213 daddr=10.134.72.4 dport=49000 seq=1009085774 ackSeq=689410995 pktLen=26064");
    const issues = compileIssues([["slow_nginx", "comm=nginx:"], ["other", "dport=1$"]]);
    expect(matchIssue(issues, title)?.name).toBe("slow_nginx");
    expect(new NetRxLatencyDecoder(offsets, [5, 10, 115], issues).decode(buf, dv, 0)).toBeNull();
    expect(new NetRxLatencyDecoder(offsets, [5, 10, 115], compileIssues([["x", "comm=redis:"]])).decode(buf, dv, 0)).not.toBeNull();
  });

  test("config: HUATUO's defaults, thresholds must be positive, QoS levels are checked", () => {
    expect(sectionDefaults(NET_RX_LATENCY_CONFIG, "")).toEqual({
      Driver2NetRx: 5, Driver2TCP: 10, Driver2Userspace: 115, ExcludedContainerQos: [], ExcludedHostNetnamespace: true, MaxEventsPerSecond: 100,
    });
    const check = NET_RX_LATENCY_CONFIG.keys.ExcludedContainerQos!.check as (v: string[]) => string | undefined;
    expect(check(["BestEffort", "guaranteed"])).toBeUndefined();
    expect(check(["besteffort", "gold"])).toContain('"gold"');
    expect(NET_RX_LATENCY_CONFIG.keys.Driver2TCP!.min).toBe(1);
  });
});
