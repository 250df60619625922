import { describe, expect, test } from "bun:test";
import { enumNamesOf, structLayoutOf, structSizeOf, withObjectFileBtf } from "../../src/bpf/btf.ts";
import { resolveLayout } from "../../src/probes/kit/decoders.ts";
import { socketState, TCPRESET_FIELDS, TCPRESET_TYPES, TcpresetDecoder } from "../../src/probes/tcpreset/decode.ts";
import { TCPRESET_COUNTERS, TCPRESET_CONFIG, tcpresetProbe } from "../../src/probes/tcpreset/index.ts";
import { sectionDefaults } from "../../src/config/spec.ts";

const OBJ = tcpresetProbe.bpf.object;
const layout = withObjectFileBtf(OBJ, (btf) => structLayoutOf(btf, "tcpreset_event"));
const size = withObjectFileBtf(OBJ, (btf) => structSizeOf(btf, "tcpreset_event"));
const offsets = resolveLayout("tcpreset_event", layout, TCPRESET_FIELDS);

function record(fill: (buf: Uint8Array, dv: DataView, at: (f: keyof typeof TCPRESET_FIELDS) => number) => void): [Uint8Array, DataView] {
  const buf = new Uint8Array(size);
  const dv = new DataView(buf.buffer);
  fill(buf, dv, (f) => offsets[f]);
  return [buf, dv];
}

describe("tcpreset decoding", () => {
  test("types, counters and states follow KubeSkoop's names", () => {
    expect(TCPRESET_TYPES).toEqual(["TCPRESET_NOSOCK", "TCPRESET_ACTIVE", "TCPRESET_PROCESS", "TCPRESET_RECEIVE"]);
    expect(TCPRESET_COUNTERS).toEqual(["nosock", "active", "process", "receive"]);
    expect(socketState(1)).toBe("TCP_ESTABLISHED");
    expect(socketState(7)).toBe("TCP_CLOSE");
    expect(socketState(0)).toBe("");
    expect(sectionDefaults(TCPRESET_CONFIG, "")).toEqual({ MaxEventsPerSecond: 100 });
  });

  test("the object numbers the types as the decoder does (also the counter slots)", () => {
    const names = withObjectFileBtf(OBJ, (btf) => enumNamesOf(btf, "tcpreset_type"));
    TCPRESET_TYPES.forEach((t, i) => expect(names.get(i)).toBe(t));
    expect(names.get(TCPRESET_TYPES.length)).toBe("TCPRESET_TYPES");
  });

  test("an IPv4 reset without a socket, with the kernel's reason", () => {
    const [buf, dv] = record((buf, dv, at) => {
      buf[at("type")] = 0;
      buf[at("family")] = 4;
      buf.set([192, 0, 2, 1], at("saddr"));
      buf.set([192, 0, 2, 2], at("daddr"));
      dv.setUint16(at("sport"), 8080, true);
      dv.setUint16(at("dport"), 40001, true);
      buf[at("has_reason")] = 1;
      dv.setUint32(at("reason"), 1, true);
      dv.setUint32(at("netns_inum"), 4026531840, true);
      dv.setUint32(at("pid"), 0, true);
      buf.set(new TextEncoder().encode("swapper/1"), at("comm"));
    });
    const d = new TcpresetDecoder(offsets, (n) => (n === 1 ? "NO_SOCKET" : String(n))).decode(buf, dv, 0);
    expect(d).toEqual({
      type: "TCPRESET_NOSOCK", protocol: "TCP", saddr: "192.0.2.1", sport: 8080, daddr: "192.0.2.2", dport: 40001,
      state: "", reason: "NO_SOCKET", net_namespace_inum: 4026531840, pid: 0, comm: "swapper/1",
    });
    expect(Object.keys(d).slice(0, 7)).toEqual(["type", "protocol", "saddr", "sport", "daddr", "dport", "state"]);
  });

  test("an IPv6 reset received by an established socket, on a kernel without reasons", () => {
    const [buf, dv] = record((buf, dv, at) => {
      buf[at("type")] = 3;
      buf[at("family")] = 6;
      buf[at("state")] = 1;
      buf.set([0x20, 0x01, 0x0d, 0xb8, ...Array(11).fill(0), 1], at("saddr"));
      buf.set([...Array(15).fill(0), 1], at("daddr"));
      dv.setUint16(at("sport"), 443, true);
      dv.setUint16(at("dport"), 51000, true);
      dv.setUint32(at("reason"), 7, true); // ignored: has_reason is 0
      buf.set(new TextEncoder().encode("curl"), at("comm"));
      dv.setUint32(at("pid"), 4242, true);
    });
    expect(new TcpresetDecoder(offsets, () => "X").decode(buf, dv, 0)).toMatchObject({
      type: "TCPRESET_RECEIVE", saddr: "2001:db8::1", daddr: "::1", sport: 443, dport: 51000,
      state: "TCP_ESTABLISHED", reason: "", pid: 4242, comm: "curl",
    });
  });
});
