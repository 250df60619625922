import { describe, expect, test } from "bun:test";
import { structLayoutOf, structSizeOf, withObjectFileBtf } from "../../src/bpf/btf.ts";
import { sectionDefaults } from "../../src/config/spec.ts";
import { resolveLayout } from "../../src/probes/kit/decoders.ts";
import { decodeKernelLatency, KERNELLATENCY_FIELDS } from "../../src/probes/kernellatency/decode.ts";
import { KERNEL_LATENCY_CONFIG, KERNEL_LATENCY_SERIES, kernelLatencyProbe } from "../../src/probes/kernellatency/index.ts";

const OBJ = kernelLatencyProbe.bpf.object;
const layout = withObjectFileBtf(OBJ, (btf) => structLayoutOf(btf, "kernellatency_event"));
const size = withObjectFileBtf(OBJ, (btf) => structSizeOf(btf, "kernellatency_event"));
const offsets = resolveLayout("kernellatency_event", layout, KERNELLATENCY_FIELDS);
const counters = withObjectFileBtf(OBJ, (btf) => structLayoutOf(btf, "kernellatency_counters"));

function record(direction: number, loc1: number, loc2: number, protocol = 6): { buf: Uint8Array; dv: DataView } {
  const buf = new Uint8Array(size);
  const dv = new DataView(buf.buffer);
  const at = (f: keyof typeof KERNELLATENCY_FIELDS) => offsets[f];
  buf.set([192, 168, 1, 2], at("saddr"));
  buf.set([192, 168, 1, 3], at("daddr"));
  buf.set(new TextEncoder().encode("ksoftirqd/1"), at("comm"));
  buf.set(new TextEncoder().encode("eth0"), at("netdev"));
  buf[at("family")] = 4;
  buf[at("protocol")] = protocol;
  buf[at("direction")] = direction;
  dv.setUint16(at("sport"), 443, true);
  dv.setUint16(at("dport"), 50000, true);
  dv.setUint32(at("latency_ns"), loc1 + loc2, true);
  dv.setUint32(at("loc1_ns"), loc1, true);
  dv.setUint32(at("loc2_ns"), loc2, true);
  dv.setUint32(at("pid"), 17, true);
  dv.setUint32(at("cpu"), 1, true);
  dv.setUint32(at("netns_inum"), 4026531840, true);
  dv.setUint32(at("net_cookie"), 1, true);
  return { buf, dv };
}

describe("kernellatency decoding", () => {
  test("a slow transmit, laid out by the object's BTF, with both locations", () => {
    const { buf, dv } = record(2, 3000, 250_000_000);
    expect(decodeKernelLatency(offsets, buf, dv, 0)).toEqual({
      type: "TXKERNEL_SLOW", protocol: "tcp", saddr: "192.168.1.2", sport: 443, daddr: "192.168.1.3", dport: 50000,
      latency_ns: 250_003_000, send_to_queue_ns: 3000, queue_to_xmit_ns: 250_000_000, netdev: "eth0",
      pid: 17, comm: "ksoftirqd/1", cpu: 1, netns: 4026531840, netns_cookie: 1,
    });
  });

  test("a transmit without TCP's send stamp (UDP): the first location is null", () => {
    const { buf, dv } = record(2, 0, 20_000_000, 17);
    expect(decodeKernelLatency(offsets, buf, dv, 0)).toMatchObject({ protocol: "udp", send_to_queue_ns: null, queue_to_xmit_ns: 20_000_000 });
  });

  test("a slow receive: one location, no device", () => {
    const { buf, dv } = record(1, 12_000_000, 0);
    const d = decodeKernelLatency(offsets, buf, dv, 0);
    expect(d).toMatchObject({ type: "RXKERNEL_SLOW", latency_ns: 12_000_000, netif_to_tcp_ns: 12_000_000 });
    expect("netdev" in d || "queue_to_xmit_ns" in d).toBe(false);
  });

  test("the counter series read the u64 slots of struct kernellatency_counters", () => {
    for (const s of KERNEL_LATENCY_SERIES) expect({ name: s.name, offset: counters.get(s.name)?.offset }).toEqual({ name: s.name, offset: s.slot! * 8 });
    expect(KERNEL_LATENCY_SERIES.map((s) => s.name)).toEqual(["rxslow", "rxslow100ms", "txslow", "txslow100ms"]);
  });

  test("config defaults: KubeSkoop's 10 ms threshold both ways", () => {
    expect(sectionDefaults(KERNEL_LATENCY_CONFIG, "")).toEqual({ RxThreshold: 10, TxThreshold: 10, MaxEventsPerSecond: 100 });
  });
});
