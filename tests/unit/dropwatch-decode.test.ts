// The dropwatch decoder against the BTF of the built object: every field it reads must exist
// in struct dropwatch_event with the size it reads (C and TypeScript cannot drift), and a
// record laid out by those BTF offsets decodes into HUATUO's tracer_data fields.
import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import { structLayoutOf, structSizeOf, withObjectFileBtf } from "../../src/bpf/btf.ts";
import { DROPWATCH_FIELDS, DropwatchDecoder, dropType } from "../../src/probes/dropwatch/decode.ts";
import { resolveLayout as resolveStruct } from "../../src/probes/kit/decoders.ts";

const resolveLayout = (l: Map<string, { offset: number; size: number }>) => resolveStruct("dropwatch_event", l, DROPWATCH_FIELDS);

const OBJ = join(import.meta.dir, "../../build/bpf/dropwatch.bpf.o");
const layout = withObjectFileBtf(OBJ, (btf) => structLayoutOf(btf, "dropwatch_event"));
const size = withObjectFileBtf(OBJ, (btf) => structSizeOf(btf, "dropwatch_event"));

describe("dropwatch layout", () => {
  test("every decoded field matches the object's BTF (name and size)", () => {
    for (const [name, bytes] of Object.entries(DROPWATCH_FIELDS)) {
      expect({ name, size: layout.get(name)?.size }).toEqual({ name, size: bytes });
    }
    expect(() => resolveLayout(layout)).not.toThrow();
  });

  test("a mismatch is refused with the field named", () => {
    const broken = new Map(layout);
    broken.set("pid", { offset: layout.get("pid")!.offset, size: 8 });
    broken.delete("comm");
    expect(() => resolveLayout(broken)).toThrow(/pid is 8 bytes, decoder reads 4; comm missing/);
  });
});

function record(fill: (put: (field: string, v: number | number[] | string) => void) => void) {
  const buf = new Uint8Array(size);
  const dv = new DataView(buf.buffer);
  fill((field, v) => {
    const f = layout.get(field)!;
    if (typeof v === "string") for (let i = 0; i < v.length; i++) buf[f.offset + i] = v.charCodeAt(i);
    else if (Array.isArray(v)) v.forEach((b, i) => (buf[f.offset + i] = b));
    else if (f.size === 8) dv.setBigUint64(f.offset, BigInt(v), true);
    else if (f.size === 4) dv.setUint32(f.offset, v, true);
    else if (f.size === 2) dv.setUint16(f.offset, v, true);
    else buf[f.offset] = v;
  });
  return { buf, dv };
}

describe("dropwatch decoding", () => {
  const decoder = new DropwatchDecoder(resolveLayout(layout), {
    reasonName: (n) => (n === 3 ? "SKB_DROP_REASON_NO_SOCKET" : String(n)),
    symbolize: (hi, lo) => `sym_${hi.toString(16)}_${lo.toString(16)}`,
  });

  test("a UDP drop on lo", () => {
    const { buf, dv } = record((put) => {
      put("ts_ns", 5_000_000_000);
      put("reason", 3);
      put("pid", 4242);
      put("comm", "nc");
      put("family", 4);
      put("l4_proto", 17);
      put("saddr", [10, 0, 0, 1]);
      put("daddr", [192, 168, 1, 20]);
      put("sport", 40000);
      put("dport", 53);
      put("pkt_len", 60);
      put("ifindex", 1);
      put("dev_flags", 0x1);
      put("carrier_ok", 1);
      put("netdev", "lo");
      put("netns_inum", 4026531840);
      put("location", 0xffffffff81002000);
      put("stack_bytes", 16);
    });
    // two frames: the first is the BPF program itself and must be skipped
    const stack = layout.get("stack")!.offset;
    dv.setUint32(stack, 0x1000, true); dv.setUint32(stack + 4, 0xffffffff, true);
    dv.setUint32(stack + 8, 0x2000, true); dv.setUint32(stack + 12, 0xffffffff, true);
    const frameDecoder = new DropwatchDecoder(resolveLayout(layout), {
      reasonName: (n) => (n === 3 ? "SKB_DROP_REASON_NO_SOCKET" : String(n)),
      symbolize: (_hi, lo) => (lo === 0x1000 ? "bpf_prog_abc_dropwatch+0x10 [bpf]" : `fn_${lo.toString(16)}+0x0`),
      });
    const d = frameDecoder.decode(buf, dv, 0);
    expect(d).toMatchObject({
      type: "common_drop", comm: "nc", pid: 4242, saddr: "10.0.0.1", daddr: "192.168.1.20",
      sport: 40000, dport: 53, protocol: "udp", pkt_len: 60, sk_state: "", seq: 0, ack_seq: 0,
      drop_reason: "SKB_DROP_REASON_NO_SOCKET", netdev_name: "lo", netdev_ifindex: 1,
      netdev_linkstatus: ["linkStatusAdminUp", "linkStatusCarrierUp"], net_namespace_inum: 4026531840,
      stack: "fn_2000+0x0", drop_location: "fn_81002000+0x0",
    });
  });

  test("IPv6 TCP with sequence numbers and socket state", () => {
    const v6 = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
    const { buf, dv } = record((put) => {
      put("family", 6);
      put("l4_proto", 6);
      put("saddr", v6);
      put("daddr", [...Array(15).fill(0), 1]);
      put("seq", 1009085774);
      put("ack_seq", 689410995);
      put("sk_state", 1);
      put("sk_max_ack_backlog", 128);
    });
    const d = decoder.decode(buf, dv, 0);
    expect(d).toMatchObject({ saddr: "2001:db8::1", daddr: "::1", seq: 1009085774, ack_seq: 689410995,
      sk_state: "ESTABLISHED", max_ack_backlog: 128, protocol: "tcp", netdev_linkstatus: [] });
  });
});

describe("drop types (HUATUO)", () => {
  const SYN = 0x02, ACK = 0x10;
  test("SYN to a listener with a full accept queue", () => {
    expect(dropType("X", 10, SYN, 129, 128, 0)).toBe("listen_overflow_handshake1");
  });
  test("SYN to a listener with a full SYN queue", () => {
    expect(dropType("X", 10, SYN, 3, 128, 128)).toBe("syn_flood");
  });
  test("final ACK to a listener with a full accept queue", () => {
    expect(dropType("X", 10, ACK, 129, 128, 0)).toBe("listen_overflow_handshake3");
    expect(dropType("SKB_DROP_REASON_TCP_LISTEN_OVERFLOW", 0, 0, 0, 0, 0)).toBe("listen_overflow_handshake3");
  });
  test("anything else", () => {
    expect(dropType("SKB_DROP_REASON_NO_SOCKET", 0, 0, 0, 0, 0)).toBe("common_drop");
  });
});
