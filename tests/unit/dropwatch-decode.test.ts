// The dropwatch decoder against the BTF of the built object: every field it reads must exist
// in struct dropwatch_event with the size it reads (C and TypeScript cannot drift), and a
// record laid out by those BTF offsets decodes into HUATUO's tracer_data fields.
import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import { enumNamesOf, structLayoutOf, structSizeOf, vmlinuxEnum, withObjectFileBtf } from "../../src/bpf/btf.ts";
import { ConfigError, ConfigSchema, parseConfig } from "../../src/config/load.ts";
import { sectionDefaults } from "../../src/config/spec.ts";
import { DROPWATCH_CONFIG, policyFromConfig } from "../../src/probes/dropwatch/config.ts";
import { DROPWATCH_FIELDS, DropwatchDecoder, dropReasonGroup, dropType } from "../../src/probes/dropwatch/decode.ts";
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
      put("net_cookie", 4097);
      put("queue_mapping", 3);
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
      drop_reason_group: "socket", net_namespace_cookie: 4097, netdev_queue_mapping: 3, max_ack_backlog: 0,
    });
    // HUATUO's name for the namespace cookie, a number; the old name is gone
    expect(d).not.toHaveProperty("net_cookie");
  });

  test("a reason group from the deps wins (subsystem reasons)", () => {
    const { buf, dv } = record((put) => put("reason", (2 << 16) | 5));
    const d = new DropwatchDecoder(resolveLayout(layout), {
      reasonName: String, reasonGroup: (n) => (n >>> 16 === 2 ? "openvswitch" : "?"), symbolize: () => "",
    }).decode(buf, dv, 0);
    expect(d).toMatchObject({ drop_reason: String((2 << 16) | 5), drop_reason_group: "openvswitch" });
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

describe("drop reason groups", () => {
  test.each([
    ["SKB_DROP_REASON_TCP_OLD_DATA", "tcp"], ["SKB_DROP_REASON_TCP_LISTEN_OVERFLOW", "tcp"],
    ["SKB_DROP_REASON_UDP_CSUM", "udp"], ["SKB_DROP_REASON_NO_SOCKET", "socket"],
    ["SKB_DROP_REASON_SOCKET_RCVBUFF", "socket"], ["SKB_DROP_REASON_QUEUE_PURGE", "socket"],
    ["SKB_DROP_REASON_NETFILTER_DROP", "netfilter"], ["SKB_DROP_REASON_IP_INNOROUTES", "ip"],
    ["SKB_DROP_REASON_IPV6DISABLED", "ip"], ["SKB_DROP_REASON_IPV6_NDISC_FRAG", "neigh"],
    ["SKB_DROP_REASON_NEIGH_FAILED", "neigh"], ["SKB_DROP_REASON_QDISC_DROP", "qdisc"],
    ["SKB_DROP_REASON_TC_INGRESS", "tc"], ["SKB_DROP_REASON_XDP", "bpf"], ["SKB_DROP_REASON_CPU_BACKLOG", "device"],
    ["SKB_DROP_REASON_VXLAN_INVALID_HDR", "tunnel"], ["SKB_DROP_REASON_XFRM_POLICY", "xfrm"],
    ["SKB_DROP_REASON_NOT_SPECIFIED", "core"], ["SKB_DROP_REASON_SKB_CSUM", "core"], ["SKB_NOT_DROPPED_YET", "core"],
    ["SKB_DROP_REASON_SOMETHING_NEW", "other"], ["77", "unknown"],
  ])("%s → %s", (reason, group) => {
    expect(dropReasonGroup(reason)).toBe(group);
  });

  test("every reason of the running kernel has a group (no 'other')", () => {
    let names: string[];
    try {
      names = [...vmlinuxEnum("skb_drop_reason").values()];
    } catch {
      return; // no kernel BTF here: nothing to check
    }
    const ungrouped = names.filter((n) => !/_MAX$|SUBSYS_MASK$/.test(n) && dropReasonGroup(n) === "other");
    expect(ungrouped).toEqual([]);
  });
});

describe("[EventTracing.Dropwatch] count-only policy", () => {
  const defaults = sectionDefaults(DROPWATCH_CONFIG, "");
  const schema = new ConfigSchema([DROPWATCH_CONFIG]);
  const parse = (body: string) => parseConfig(`[EventTracing.Dropwatch]\n${body}\n`, "f.toml", schema).get(DROPWATCH_CONFIG);
  const errorOf = (body: string) => {
    try {
      parse(body);
    } catch (e) {
      if (e instanceof ConfigError) return e.message;
      throw e;
    }
    throw new Error("expected a ConfigError");
  };

  test("the defaults: teardown and duplicates are ordinary, real drops are not", () => {
    expect(defaults.CountOnlyReasons).toEqual(expect.arrayContaining(["QUEUE_PURGE", "TCP_OLD_DATA", "TCP_ABORT_ON_DATA", "SOCKET_CLOSE", "TCP_CLOSE"]));
    expect(defaults.CountOnlyReasonStates).toEqual(["NOT_SPECIFIED:LISTEN", "NOT_SPECIFIED:TIME_WAIT", "NO_SOCKET:STRAY"]);
    expect(defaults.CountOnlyLocations).toEqual(expect.arrayContaining(["sk_stream_kill_queues", "skb_queue_purge"]));
    for (const anomaly of ["NO_SOCKET", "NETFILTER_DROP", "TCP_LISTEN_OVERFLOW", "SOCKET_RCVBUFF", "NOT_SPECIFIED",
      "TCP_ZEROWINDOW", "CPU_BACKLOG", "QDISC_DROP", "NOMEM", "TCP_CSUM", "NEIGH_FAILED"]) {
      expect(defaults.CountOnlyReasons).not.toContain(anomaly);
    }
    expect(defaults).toMatchObject({ ExcludedNeighInvalidate: true, MaxEventsPerSecond: 100, Filter: "", ExcludeContainers: [] });
  });

  test("every default reason exists in the running kernel", () => {
    let known: Set<string>;
    try {
      known = new Set(vmlinuxEnum("skb_drop_reason").values());
    } catch {
      return;
    }
    const names = [...defaults.CountOnlyReasons, ...defaults.CountOnlyReasonStates.map((p) => p.split(":")[0]!)];
    expect(names.filter((n) => !known.has(`SKB_DROP_REASON_${n}`))).toEqual([]);
  });

  test("the section becomes the object's policy", () => {
    const p = policyFromConfig({ ...defaults, MaxEventsPerSecond: 7, CountOnlyLocations: ["a_fn"], CountOnlyReasonStates: ["NOT_SPECIFIED:LISTEN", "TCP_RESET:ESTABLISHED", "NO_SOCKET:STRAY"] });
    expect(p).toEqual({
      maxEventsPerSecond: 7,
      countOnlyReasons: defaults.CountOnlyReasons,
      countOnlyReasonStates: [["NOT_SPECIFIED", 10], ["TCP_RESET", 1], ["NO_SOCKET", 0]],
      countOnlyLocations: ["neigh_invalidate", "a_fn"],
    });
    expect(policyFromConfig({ ...defaults, ExcludedNeighInvalidate: false, CountOnlyLocations: [] }).countOnlyLocations).toEqual([]);
  });

  test("keys are checked at load", () => {
    expect(parse('CountOnlyReasons = ["SKB_DROP_REASON_TCP_RESET", "NO_SOCKET"]').CountOnlyReasons).toEqual(["SKB_DROP_REASON_TCP_RESET", "NO_SOCKET"]);
    expect(errorOf('CountOnlyReasons = ["no socket"]')).toContain('EventTracing.Dropwatch.CountOnlyReasons');
    expect(errorOf('CountOnlyReasons = ["no socket"]')).toContain('entry "no socket" is not a drop reason name');
    expect(errorOf('CountOnlyReasonStates = ["NOT_SPECIFIED"]')).toContain('entry "NOT_SPECIFIED" is not "REASON:STATE"');
    expect(errorOf('CountOnlyReasonStates = ["NOT_SPECIFIED:LISTENING"]')).toContain("names no TCP state (ESTABLISHED, SYN_SENT");
    expect(errorOf('CountOnlyReasonStates = ["NOT_SPECIFIED:LISTENING"]')).toContain("NEW_SYN_RECV, STRAY)");
    expect(errorOf(`CountOnlyLocations = [${Array.from({ length: 16 }, (_, i) => `"f${i}"`).join(", ")}]`)).toContain("has 16 entries; at most 15");
    expect(errorOf('CountOnlyLocations = ["tcp_v4_rcv+0x10"]')).toContain("is not a kernel function name");
  });
});

describe("the object's shared layouts", () => {
  test("struct dropwatch_config and enum packetloss_location are in the object's BTF", () => {
    const cfg = withObjectFileBtf(OBJ, (btf) => structLayoutOf(btf, "dropwatch_config"));
    for (const f of ["max_events_per_sec", "netfilter_reason", "nr_count_only", "nr_packetloss", "packetloss_class", "count_only", "packetloss"]) {
      expect(cfg.has(f)).toBe(true);
    }
    expect(cfg.get("count_only")!.size).toBe(16 * 16); // DROPWATCH_MAX_RANGES × [start, end)
    const names = withObjectFileBtf(OBJ, (btf) => enumNamesOf(btf, "packetloss_location"));
    expect([...names.values()]).toEqual(expect.arrayContaining(["PACKETLOSS_TCPHANDLE", "PACKETLOSS_TCPRCV", "PACKETLOSS_ABNORMAL",
      "PACKETLOSS_TOTAL", "PACKETLOSS_NETFILTER", "PACKETLOSS_TCPSTATM"]));
  });
});
