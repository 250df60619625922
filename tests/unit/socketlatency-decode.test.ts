import { describe, expect, test } from "bun:test";
import { structLayoutOf, structSizeOf, withObjectFileBtf } from "../../src/bpf/btf.ts";
import { sectionDefaults } from "../../src/config/spec.ts";
import { resolveLayout } from "../../src/probes/kit/decoders.ts";
import { decodeSocketLatency, SOCKETLATENCY_FIELDS } from "../../src/probes/socketlatency/decode.ts";
import { SOCKET_LATENCY_CONFIG, SOCKET_LATENCY_SERIES, socketLatencyProbe } from "../../src/probes/socketlatency/index.ts";

const OBJ = socketLatencyProbe.bpf.object;
const layout = withObjectFileBtf(OBJ, (btf) => structLayoutOf(btf, "socketlatency_event"));
const size = withObjectFileBtf(OBJ, (btf) => structSizeOf(btf, "socketlatency_event"));
const offsets = resolveLayout("socketlatency_event", layout, SOCKETLATENCY_FIELDS);
const counters = withObjectFileBtf(OBJ, (btf) => structLayoutOf(btf, "socketlatency_counters"));

function record(direction: number, family: number): { buf: Uint8Array; dv: DataView } {
  const buf = new Uint8Array(size);
  const dv = new DataView(buf.buffer);
  const at = (f: keyof typeof SOCKETLATENCY_FIELDS) => offsets[f];
  if (family === 6) {
    buf.set([0xfd, 0, ...Array(13).fill(0), 1], at("saddr"));
    buf.set([0xfd, 0, ...Array(13).fill(0), 2], at("daddr"));
  } else {
    buf.set([10, 0, 0, 1], at("saddr"));
    buf.set([10, 0, 0, 2], at("daddr"));
  }
  buf.set(new TextEncoder().encode("redis-server"), at("comm"));
  buf[at("family")] = family;
  buf[at("protocol")] = 6;
  buf[at("direction")] = direction;
  dv.setUint16(at("sport"), 6379, true);
  dv.setUint16(at("dport"), 41000, true);
  dv.setUint32(at("latency_ns"), 150_000_000, true);
  dv.setUint32(at("pid"), 4242, true);
  dv.setUint32(at("cpu"), 1, true);
  dv.setUint32(at("netns_inum"), 4026532315, true);
  dv.setUint32(at("net_cookie"), 7, true);
  return { buf, dv };
}

describe("socketlatency decoding", () => {
  test("a slow read, laid out by the object's BTF: KubeSkoop's event name, 5-tuple and latency", () => {
    const { buf, dv } = record(1, 4);
    const d = decodeSocketLatency(offsets, buf, dv, 0);
    expect(d).toEqual({
      type: "SOCKETLAT_READSLOW", protocol: "tcp", saddr: "10.0.0.1", sport: 6379, daddr: "10.0.0.2", dport: 41000,
      latency_ns: 150_000_000, pid: 4242, comm: "redis-server", cpu: 1, netns: 4026532315, netns_cookie: 7,
    });
  });

  test("a slow send over IPv6", () => {
    const { buf, dv } = record(2, 6);
    expect(decodeSocketLatency(offsets, buf, dv, 0)).toMatchObject({ type: "SOCKETLAT_SENDSLOW", saddr: "fd00::1", daddr: "fd00::2" });
  });

  test("the counter series read the u64 slots of struct socketlatency_counters", () => {
    for (const s of SOCKET_LATENCY_SERIES) expect({ name: s.name, offset: counters.get(s.name)?.offset }).toEqual({ name: s.name, offset: s.slot! * 8 });
    expect(SOCKET_LATENCY_SERIES.map((s) => s.name)).toEqual(["read1ms", "read100ms", "write1ms", "write100ms"]);
    expect(SOCKET_LATENCY_SERIES[0]!.labels(new DataView(new Uint32Array([4026531840]).buffer))).toEqual({ netns: "4026531840" });
  });

  test("config defaults: KubeSkoop's 100 ms event thresholds", () => {
    expect(sectionDefaults(SOCKET_LATENCY_CONFIG, "")).toEqual({ ReadThreshold: 100, SendThreshold: 100, MaxEventsPerSecond: 100 });
  });
});
