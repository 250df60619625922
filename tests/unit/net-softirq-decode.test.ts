import { describe, expect, test } from "bun:test";
import { enumNamesOf, structLayoutOf, structSizeOf, withObjectFileBtf } from "../../src/bpf/btf.ts";
import { sectionDefaults } from "../../src/config/spec.ts";
import { resolveLayout } from "../../src/probes/kit/decoders.ts";
import { NET_SOFTIRQ_FIELDS, NET_SOFTIRQ_TYPES, NetSoftirqDecoder } from "../../src/probes/net_softirq/decode.ts";
import { NET_SOFTIRQ_CONFIG, netSoftirqProbe } from "../../src/probes/net_softirq/index.ts";

const OBJ = netSoftirqProbe.bpf.object;
const layout = withObjectFileBtf(OBJ, (btf) => structLayoutOf(btf, "net_softirq_event"));
const size = withObjectFileBtf(OBJ, (btf) => structSizeOf(btf, "net_softirq_event"));
const offsets = resolveLayout("net_softirq_event", layout, NET_SOFTIRQ_FIELDS);

describe("net_softirq decoding", () => {
  test("config defaults: KubeSkoop's 10 ms and 100 ms", () => {
    expect(sectionDefaults(NET_SOFTIRQ_CONFIG, "")).toEqual({ SlowThreshold: 10_000_000, Slow100msThreshold: 100_000_000, MaxEventsPerSecond: 100 });
  });

  test("the object numbers the types as the decoder does; counters carry KubeSkoop's names", () => {
    const names = withObjectFileBtf(OBJ, (btf) => enumNamesOf(btf, "net_softirq_type"));
    NET_SOFTIRQ_TYPES.forEach((t, i) => expect(names.get(i)).toBe(t.type));
    expect(names.get(NET_SOFTIRQ_TYPES.length)).toBe("NETSOFTIRQ_TYPES");
    expect(NET_SOFTIRQ_TYPES.map((t) => t.counter)).toEqual(["schedslow", "schedslow100ms", "excuteslow", "excuteslow100ms"]);
  });

  test("a slow NET_RX run and a NET_TX wait over the 100 ms threshold", () => {
    const buf = new Uint8Array(size);
    const dv = new DataView(buf.buffer);
    const at = (f: keyof typeof NET_SOFTIRQ_FIELDS) => offsets[f];
    buf[at("type")] = 2;
    dv.setUint32(at("vec"), 3, true);
    dv.setUint32(at("cpu"), 1, true);
    dv.setUint32(at("pid"), 321, true);
    dv.setUint32(at("latency_ns"), 12_500_000, true);
    buf.set(new TextEncoder().encode("ksoftirqd/1"), at("comm"));
    const d = new NetSoftirqDecoder(offsets, 10_000_000, 100_000_000);
    const run = d.decode(buf, dv, 0);
    expect(run).toEqual({ type: "NETSOFTIRQ_EXCUTE_SLOW", cpu: 1, pid: 321, latency: 12_500_000, softirq: "NET_RX", threshold: 10_000_000, comm: "ksoftirqd/1" });
    expect(Object.keys(run).slice(0, 4)).toEqual(["type", "cpu", "pid", "latency"]);
    buf[at("type")] = 1;
    dv.setUint32(at("vec"), 2, true);
    dv.setUint32(at("latency_ns"), 0, true);
    dv.setUint32(at("latency_ns") + 4, 1, true);
    expect(d.decode(buf, dv, 0)).toMatchObject({ type: "NETSOFTIRQ_SCHED_100MS", softirq: "NET_TX", latency: 2 ** 32, threshold: 100_000_000 });
  });
});
