// The packetloss decoder against the BTF of dropwatch's built object (packetloss has no object
// of its own): every field it reads must exist in struct dropwatch_event at the size it reads,
// the counter names come from the object's enum packetloss_location and are KubeSkoop's, and a
// record laid out by the BTF offsets decodes into a PACKETLOSS event.
import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import { enumNamesOf, structLayoutOf, structSizeOf, withObjectFileBtf } from "../../src/bpf/btf.ts";
import { resolveLayout } from "../../src/probes/kit/decoders.ts";
import { PACKETLOSS_FIELDS, PacketlossDecoder } from "../../src/probes/packetloss/decode.ts";
import { PACKETLOSS_HELP, packetlossProbe } from "../../src/probes/packetloss/index.ts";

const OBJ = join(import.meta.dir, "../../build/bpf/dropwatch.bpf.o");
const layout = withObjectFileBtf(OBJ, (btf) => structLayoutOf(btf, "dropwatch_event"));
const size = withObjectFileBtf(OBJ, (btf) => structSizeOf(btf, "dropwatch_event"));
const locations = withObjectFileBtf(OBJ, (btf) => enumNamesOf(btf, "packetloss_location"));
const offsets = resolveLayout("dropwatch_event", layout, PACKETLOSS_FIELDS);

describe("packetloss layout", () => {
  test("the definition points at dropwatch's object and struct", () => {
    expect(packetlossProbe.bpf).toMatchObject({ struct: "dropwatch_event", fields: PACKETLOSS_FIELDS });
    expect(packetlossProbe.bpf.object).toMatch(/dropwatch\.bpf\.o$/);
    expect(packetlossProbe.config).toBeUndefined();
  });

  test("every field it reads is in struct dropwatch_event at the size it reads", () => {
    for (const [name, bytes] of Object.entries(PACKETLOSS_FIELDS)) expect({ name, size: layout.get(name)?.size }).toEqual({ name, size: bytes });
  });

  test("the object's location enum gives KubeSkoop's six counter names", () => {
    const names = [...locations].filter(([, n]) => !n.endsWith("_MAX")).map(([, n]) => n.replace(/^PACKETLOSS_/, "").toLowerCase());
    expect(names.sort()).toEqual(["abnormal", "netfilter", "tcphandle", "tcprcv", "tcpstatm", "total"]);
    expect(Object.keys(PACKETLOSS_HELP).sort()).toEqual(names);
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

describe("packetloss decoding", () => {
  const byValue = new Map([...locations].map(([v, n]) => [v, n.replace(/^PACKETLOSS_/, "").toLowerCase()]));
  const netfilter = [...locations].find(([, n]) => n === "PACKETLOSS_NETFILTER")![0];
  const decoder = new PacketlossDecoder(offsets, {
    locationName: (v) => byValue.get(v) ?? String(v),
    reasonName: (n) => (n === 12 ? "SKB_DROP_REASON_NETFILTER_DROP" : String(n)),
    symbolize: (_hi, lo) => (lo === 0x1000 ? "bpf_prog_1234_dropwatch+0x40" : `fn_${lo.toString(16)}+0x0`),
  });

  test("a netfilter drop becomes KubeSkoop's PACKETLOSS event", () => {
    const { buf, dv } = record((put) => {
      put("family", 4);
      put("l4_proto", 17);
      put("saddr", [192, 0, 2, 2]);
      put("daddr", [192, 0, 2, 1]);
      put("sport", 40000);
      put("dport", 9999);
      put("reason", 12);
      put("pl_location", netfilter);
      put("location", 0xffffffff81003000);
      put("pid", 77);
      put("comm", "udp-flood");
      put("netns_inum", 4026532000);
      put("stack_bytes", 24);
    });
    const st = layout.get("stack")!.offset;
    [0x1000, 0x2000, 0x3000].forEach((lo, i) => {
      dv.setUint32(st + 8 * i, lo, true);
      dv.setUint32(st + 8 * i + 4, 0xffffffff, true);
    });
    expect(decoder.decode(buf, dv, 0)).toEqual({
      type: "PACKETLOSS", location: "netfilter", protocol: "udp", saddr: "192.0.2.2", sport: 40000,
      daddr: "192.0.2.1", dport: 9999, drop_reason: "SKB_DROP_REASON_NETFILTER_DROP",
      drop_location: "fn_81003000+0x0", stacktrace: "fn_2000+0x0\nfn_3000+0x0", comm: "udp-flood", pid: 77, netns: 4026532000,
    });
  });

  test("drops without ports (netlink, unix) are not events, as in KubeSkoop", () => {
    const { buf, dv } = record((put) => put("reason", 2));
    expect(decoder.decode(buf, dv, 0)).toBeNull();
  });
});
