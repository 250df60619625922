// Netlink without the kernel: the wire walkers on truncated and hostile buffers, the request
// loop against a scripted fake kernel, each reply parser on hand-built replies, and the netlink
// collectors (netdev EnableNetlink, netdev_qdisc, netdev_dcb, tcpsummary) with their filters.
// The struct layouts and constants are compared with the kernel headers by a compiled C program.
import { describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { AF_NETLINK, NETLINK_ROUTE, NETLINK_SOCK_DIAG, NetlinkSocket, NetlinkTimeoutError } from "../../ffi/netlink.ts";
import { silentLogger, createLogger } from "../../src/log.ts";
import { renderExposition } from "../../src/metrics/exposition.ts";
import type { Sample } from "../../src/metrics/sample.ts";
import { makeFilter } from "../../src/metrics/filter.ts";
import { hostNetlink, withSocket, type NetlinkConn, type NetlinkOpener } from "../../src/netlink/host.ts";
import { procfsRoot } from "../../src/procfs/root.ts";
import { IFINFOMSG_SIZE, IFLA_IFNAME, IFLA_STATS64, RTM_GETLINK, RTM_NEWLINK } from "../../src/netlink/links.ts";
import { NetlinkError, request, type ReplyLimits } from "../../src/netlink/request.ts";
import {
  buildRequest,
  NetlinkFormatError,
  NLM_F_DUMP,
  NLM_F_MULTI,
  NLM_F_REQUEST,
  NLMSG_DONE,
  NLMSG_ERROR,
  readU64,
  sumU64,
  walkAttrs,
  walkMessages,
  type AttrSpec,
} from "../../src/netlink/wire.ts";
import { netdevProbe, netlinkMode } from "../../src/probes/netdev/index.ts";
import { LINK_STATS64_FIELDS, NETLINK_STATS, parseLinkMessage } from "../../src/probes/netdev/netlink.ts";
import { NETDEV_STATS } from "../../src/probes/netdev/parse.ts";
import { dcbCollector, netdevDcbProbe } from "../../src/probes/netdev_dcb/index.ts";
import {
  DCB_ATTR_IEEE,
  DCB_ATTR_IEEE_PFC,
  DCB_ATTR_IFNAME,
  DCB_CMD_IEEE_GET,
  DCBMSG_SIZE,
  IEEE_PFC,
  parseIeeeGetReply,
  RTM_GETDCB,
} from "../../src/probes/netdev_dcb/parse.ts";
import { netdevQdiscProbe, qdiscCollector } from "../../src/probes/netdev_qdisc/index.ts";
import {
  GNET_BASIC,
  GNET_QUEUE,
  parseQdiscMessage,
  RTM_GETQDISC,
  RTM_NEWQDISC,
  TC_H_ROOT,
  TC_STATS,
  TCA_KIND,
  TCA_STATS,
  TCA_STATS2,
  TCA_STATS_BASIC,
  TCA_STATS_PKT64,
  TCA_STATS_QUEUE,
  TCMSG_SIZE,
} from "../../src/probes/netdev_qdisc/parse.ts";
import { tcpSummaryCollector, tcpsummaryProbe } from "../../src/probes/tcpsummary/index.ts";
import {
  addInetDiagMessage,
  emptySummary,
  INET_DIAG_MSG,
  INET_DIAG_REQ_V2_SIZE,
  inetDiagRequest,
  SOCK_DIAG_BY_FAMILY,
  STATES_BUT_LISTEN,
} from "../../src/probes/tcpsummary/parse.ts";
import { ProbeUnsupportedError } from "../../src/probes/types.ts";

// ── builders for hand-made replies ──────────────────────────────────────────────────────────

/** Encoded attributes (nested values are Uint8Arrays from attrs()). */
const attrs = (list: AttrSpec[]) => buildRequest(0, 0, 0, new Uint8Array(0), list).subarray(16);
const u32 = (...v: number[]) => new Uint8Array(new Uint32Array(v).buffer);
const bytes = (n: number, fill: (dv: DataView) => void = () => {}) => {
  const b = new Uint8Array(n);
  fill(new DataView(b.buffer));
  return b;
};
const concat = (...parts: Uint8Array[]) => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
  let off = 0;
  for (const p of parts) (out.set(p, off), (off += p.byteLength));
  return out;
};
/** A u64 written as two u32 halves. */
const setU64 = (dv: DataView, off: number, hi: number, lo: number) => {
  dv.setUint32(off, lo, true);
  dv.setUint32(off + 4, hi, true);
};
/** One message of a reply (seq stamped later by the fake kernel). */
const message = (type: number, payload: Uint8Array, list: AttrSpec[] = [], flags = NLM_F_MULTI) => buildRequest(type, flags, 0, payload, list);
const view = (b: Uint8Array) => new DataView(b.buffer, b.byteOffset, b.byteLength);
const oneMessage = (b: Uint8Array) => walkMessages(view(b), b.byteLength, "test")[0]!;

const ifinfo = (index: number) => bytes(IFINFOMSG_SIZE, (dv) => dv.setInt32(4, index, true));
function linkMessage(index: number, name: string, stats?: Uint8Array): Uint8Array {
  const list: AttrSpec[] = [{ type: IFLA_IFNAME, value: name }];
  if (stats) list.push({ type: IFLA_STATS64, value: stats });
  return message(RTM_NEWLINK, ifinfo(index), list);
}
/** rtnl_link_stats64 with `fields` u64 fields, field i = base + i (so sums are recognisable). */
const stats64 = (fields = 25, base = 1000) => bytes(fields * 8, (dv) => { for (let i = 0; i < fields; i++) setU64(dv, i * 8, 0, base + i); });

function qdiscMessage(index: number, parent: number, kind: string, o: { bytes?: number; packets?: number; qlen?: number; backlog?: number; drops?: number; requeues?: number; overlimits?: number; pkt64?: [number, number] } = {}): Uint8Array {
  const tcm = bytes(TCMSG_SIZE, (dv) => { dv.setInt32(4, index, true); dv.setUint32(8, 0x80010000, true); dv.setUint32(12, parent, true); });
  const basic = bytes(16, (dv) => { setU64(dv, 0, 0, o.bytes ?? 0); dv.setUint32(8, o.packets ?? 0, true); });
  const queue = u32(o.qlen ?? 0, o.backlog ?? 0, o.drops ?? 0, o.requeues ?? 0, o.overlimits ?? 0);
  const stats2: AttrSpec[] = [{ type: TCA_STATS_BASIC, value: basic }, { type: TCA_STATS_QUEUE, value: queue }];
  if (o.pkt64) stats2.push({ type: TCA_STATS_PKT64, value: bytes(8, (dv) => setU64(dv, 0, o.pkt64![0], o.pkt64![1])) });
  return message(RTM_NEWQDISC, tcm, [{ type: TCA_KIND, value: kind }, { type: TCA_STATS2, value: attrs(stats2) }]);
}

function dcbReply(device: string, pfc?: Uint8Array, cmd = DCB_CMD_IEEE_GET): Uint8Array {
  const list: AttrSpec[] = [{ type: DCB_ATTR_IFNAME, value: device }];
  if (pfc) list.push({ type: DCB_ATTR_IEEE, value: attrs([{ type: DCB_ATTR_IEEE_PFC, value: pfc }]) });
  return message(RTM_GETDCB, bytes(DCBMSG_SIZE, (dv) => dv.setUint8(1, cmd)), list, 0);
}
/** struct ieee_pfc with requests[p] = 100 + p and indications[p] = 200 + p. */
const ieeePfc = (size: number = IEEE_PFC.size) => bytes(size, (dv) => {
  for (let p = 0; p < 8 && IEEE_PFC.indications + p * 8 + 8 <= size; p++) {
    setU64(dv, IEEE_PFC.requests + p * 8, 0, 100 + p);
    setU64(dv, IEEE_PFC.indications + p * 8, 0, 200 + p);
  }
});

function inetDiagMessage(state: number, rqueue: number, wqueue: number, size: number = INET_DIAG_MSG.size): Uint8Array {
  return message(SOCK_DIAG_BY_FAMILY, bytes(size, (dv) => {
    dv.setUint8(0, 2);
    dv.setUint8(INET_DIAG_MSG.state, state);
    if (size >= INET_DIAG_MSG.size) {
      dv.setUint32(INET_DIAG_MSG.rqueue, rqueue, true);
      dv.setUint32(INET_DIAG_MSG.wqueue, wqueue, true);
    }
  }));
}
const done = (code = 0) => message(NLMSG_DONE, u32(code));
const errorMsg = (errno: number) => message(NLMSG_ERROR, concat(new Uint8Array(new Int32Array([-errno]).buffer), new Uint8Array(16)), [], 0);

// ── a scripted fake kernel ──────────────────────────────────────────────────────────────────

/** Request → datagrams (each a list of messages); the request's seq is stamped into every message. */
type Script = (type: number, req: DataView, reqLen: number) => Uint8Array[][];

function fakeKernel(script: Script) {
  let queue: Uint8Array[] = [];
  const sent: Uint8Array[] = [];
  let closed = 0;
  const conn: NetlinkConn = {
    send(msg) {
      sent.push(msg.slice());
      const dv = view(msg);
      const seq = dv.getUint32(8, true);
      queue = script(dv.getUint16(4, true), dv, msg.byteLength).map((parts) => {
        const d = concat(...parts);
        for (const m of walkMessages(view(d), d.byteLength, "fake")) view(d).setUint32(m.offset + 8, seq, true);
        return d;
      });
    },
    recv(buf) {
      const d = queue.shift();
      if (!d) throw new Error("fake kernel: nothing more to send (a real socket would time out)");
      buf.set(d);
      return d.byteLength;
    },
    close: () => void closed++,
  };
  const opener: NetlinkOpener = { describe: () => "fake", open: () => conn };
  return { conn, opener, sent, closed: () => closed };
}

const scrape = (namespace: string, prefix: string, samples: Sample[]) =>
  renderExposition({ namespace, constLabels: { host: "kpulse-fixture-host", region: "fixture" } }, [{ prefix, samples }]);

// ── the wire format ─────────────────────────────────────────────────────────────────────────

describe("walkMessages", () => {
  const two = concat(message(16, ifinfo(1)), message(16, ifinfo(2)));

  test("every message, payload and end offsets", () => {
    const msgs = walkMessages(view(two), two.byteLength, "t");
    expect(msgs.map((m) => [m.type, m.offset, m.payload, m.end])).toEqual([[16, 0, 16, 32], [16, 32, 48, 64]]);
  });

  test("a missing pad after the last message is accepted", () => {
    const m = message(16, new Uint8Array(3)); // 3 payload bytes, padded to 4
    view(m).setUint32(0, 19, true);
    expect(walkMessages(view(m), 19, "t").map((x) => x.end)).toEqual([19]);
  });

  test("truncated header, short and overlong nlmsg_len are errors naming the place", () => {
    expect(() => walkMessages(view(two), 40, "dump")).toThrow("dump: message 2 at byte 32: 8 bytes left, a header needs 16");
    const short = two.slice();
    view(short).setUint32(32, 8, true);
    expect(() => walkMessages(view(short), short.byteLength, "dump")).toThrow("dump: message 2 at byte 32: nlmsg_len 8 is shorter than the header");
    const long = two.slice();
    view(long).setUint32(32, 0xffffffff, true);
    expect(() => walkMessages(view(long), long.byteLength, "dump")).toThrow(NetlinkFormatError);
    expect(() => walkMessages(view(long), long.byteLength, "dump")).toThrow("nlmsg_len 4294967295 runs past the end of the datagram (32 bytes left)");
    expect(() => walkMessages(view(two), 65, "dump")).toThrow("length 65 exceeds the buffer (64)");
  });

  test("empty datagram: no messages", () => {
    expect(walkMessages(view(two), 0, "t")).toEqual([]);
  });
});

describe("walkAttrs", () => {
  const area = attrs([{ type: 3, value: "eth0" }, { type: 0x8000 | 13, value: attrs([{ type: 2, value: u32(7) }]) }, { type: 23, value: new Uint8Array(0) }]);

  test("types (flag bits stripped), nested flag, value ranges", () => {
    const list = walkAttrs(view(area), 0, area.byteLength, "t");
    expect(list.map((a) => [a.type, a.nested, a.end - a.value])).toEqual([[3, false, 5], [13, true, 8], [23, false, 0]]);
    const inner = walkAttrs(view(area), list[1]!.value, list[1]!.end, "t");
    expect(inner.map((a) => a.type)).toEqual([2]);
  });

  test("hostile lengths never read past the area", () => {
    const bad = (mutate: (dv: DataView) => void, end = area.byteLength) => {
      const b = area.slice();
      mutate(view(b));
      return () => walkAttrs(view(b), 0, end, "attrs");
    };
    expect(bad((dv) => dv.setUint16(0, 2, true))).toThrow("attrs: attribute 1 at byte 0: length 2 is shorter than its header");
    expect(bad((dv) => dv.setUint16(0, 0xffff, true))).toThrow("attrs: attribute 1 at byte 0: type 3 length 65535 runs past the end");
    expect(bad(() => {}, 14)).toThrow("attrs: attribute 2 at byte 12: 2 bytes left, an attribute header needs 4");
    // an attribute inside the nested one claims more than its parent holds
    const nested = area.slice();
    view(nested).setUint16(16, 200, true);
    const parent = walkAttrs(view(nested), 0, nested.byteLength, "attrs")[1]!;
    expect(() => walkAttrs(view(nested), parent.value, parent.end, "nested")).toThrow("nested: attribute 1 at byte 0: type 2 length 200 runs past the end (8 bytes left)");
    expect(() => walkAttrs(view(area), 0, area.byteLength + 1, "attrs")).toThrow("outside the buffer");
  });
});

describe("u64 values as u32 pairs", () => {
  const dv = new DataView(new ArrayBuffer(32));

  test("near 2^64 and above 2^53", () => {
    setU64(dv, 0, 0xffffffff, 0xffffffff);
    expect(readU64(dv, 0)).toBe(18446744073709551615); // 2^64 - 1 rounds to 2^64 as a double
    setU64(dv, 8, 0x200000, 1); // 2^53 + 1
    expect(readU64(dv, 8)).toBe(2 ** 53); // one rounding, to even
  });

  test("sums are exact on the halves and wrap at 2^64 like the kernel's", () => {
    setU64(dv, 0, 0x200000, 1); // 2^53 + 1
    setU64(dv, 8, 0, 1);
    // Float addition would give 2^53 + 1 → 2^53, + 1 → 2^53; the exact sum is 2^53 + 2.
    expect(sumU64(dv, [0, 8])).toBe(2 ** 53 + 2);
    setU64(dv, 16, 0xffffffff, 0xffffffff);
    setU64(dv, 24, 0, 2);
    expect(sumU64(dv, [16, 24])).toBe(1);
    setU64(dv, 16, 0, 0xffffffff);
    setU64(dv, 24, 0, 0xffffffff);
    expect(sumU64(dv, [16, 24])).toBe(2 * 0xffffffff);
  });
});

test("buildRequest: header, padded payload, NUL-terminated string attribute", () => {
  const m = buildRequest(RTM_GETDCB, NLM_F_REQUEST, 7, new Uint8Array([0, DCB_CMD_IEEE_GET, 0]), [{ type: DCB_ATTR_IFNAME, value: "eth0" }]);
  const dv = view(m);
  expect([dv.getUint32(0, true), dv.getUint16(4, true), dv.getUint16(6, true), dv.getUint32(8, true)]).toEqual([32, RTM_GETDCB, 1, 7]);
  expect([...m.subarray(16, 20)]).toEqual([0, DCB_CMD_IEEE_GET, 0, 0]);
  expect([dv.getUint16(20, true), dv.getUint16(22, true)]).toEqual([9, DCB_ATTR_IFNAME]);
  expect(new TextDecoder().decode(m.subarray(24, 29))).toBe("eth0\0");
});

// ── request(): one request, its whole reply ─────────────────────────────────────────────────

describe("request", () => {
  const dumpReq = { type: RTM_GETLINK, flags: NLM_F_DUMP, payload: new Uint8Array(IFINFOMSG_SIZE), where: "links" };

  test("multipart dump over several datagrams until NLMSG_DONE; flags and seq sent", () => {
    const k = fakeKernel(() => [[linkMessage(1, "lo"), linkMessage(2, "eth0")], [linkMessage(3, "eth1"), done()]]);
    const seen: number[] = [];
    expect(request(k.conn, dumpReq, (dv, m) => seen.push(dv.getInt32(m.payload + 4, true)))).toBe(3);
    expect(seen).toEqual([1, 2, 3]);
    expect(view(k.sent[0]!).getUint16(6, true)).toBe(NLM_F_REQUEST | NLM_F_DUMP);
  });

  test("messages of another sequence number are skipped", () => {
    const k = fakeKernel(() => [[linkMessage(1, "lo")], [done()]]);
    const stale = linkMessage(9, "stale");
    const real = k.conn.recv.bind(k.conn);
    let first = true;
    k.conn.recv = (buf) => {
      if (first) {
        first = false;
        buf.set(stale); // seq 0: not ours
        return stale.byteLength;
      }
      return real(buf);
    };
    const seen: number[] = [];
    request(k.conn, dumpReq, (dv, m) => seen.push(dv.getInt32(m.payload + 4, true)));
    expect(seen).toEqual([1]);
  });

  test("NLMSG_ERROR becomes a NetlinkError with the errno and strerror", () => {
    const k = fakeKernel(() => [[errorMsg(95)]]);
    let err: unknown;
    try {
      request(k.conn, dumpReq, () => {});
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(NetlinkError);
    expect((err as NetlinkError).errno).toBe(95);
    expect((err as Error).message).toBe("links: Operation not supported (errno 95)");
  });

  test("a dump that fails midway (negative NLMSG_DONE) is an error, not a short result", () => {
    const k = fakeKernel(() => [[linkMessage(1, "lo"), done(-16)]]);
    expect(() => request(k.conn, dumpReq, () => {})).toThrow("links: Device or resource busy (errno 16)");
  });

  test("an ACK ends a request", () => {
    const k = fakeKernel(() => [[errorMsg(0)]]);
    expect(request(k.conn, { ...dumpReq, flags: 0 }, () => {})).toBe(0);
  });

  test("not a dump: the single answer ends it", () => {
    const k = fakeKernel(() => [[dcbReply("eth0", ieeePfc())]]);
    expect(request(k.conn, { type: RTM_GETDCB, flags: 0, payload: new Uint8Array(4), where: "dcb" }, () => {})).toBe(1);
  });

  test("bounds: messages, bytes, time; a reply that never ends fails", () => {
    const endless = () => fakeKernel(() => Array.from({ length: 50 }, () => [linkMessage(1, "lo"), linkMessage(2, "eth0")]));
    const lim = (l: Partial<ReplyLimits>): ReplyLimits => ({ maxBytes: 1 << 30, maxMessages: 1 << 30, maxMs: 60_000, ...l });
    expect(() => request(endless().conn, dumpReq, () => {}, lim({ maxMessages: 10 }))).toThrow("links: reply exceeds 10 messages");
    expect(() => request(endless().conn, dumpReq, () => {}, lim({ maxBytes: 1000 }))).toThrow("links: reply exceeds 1000 bytes");
    expect(() => request(endless().conn, dumpReq, () => {}, lim({ maxMs: -1 }))).toThrow("links: reply not complete after -1 ms");
    expect(() => request(endless().conn, dumpReq, () => {})).toThrow("fake kernel: nothing more to send");
  });

  test("malformed datagrams and an empty datagram are errors", () => {
    const broken = linkMessage(1, "lo");
    view(broken).setUint32(0, 4096, true);
    expect(() => request(fakeKernel(() => [[broken]]).conn, dumpReq, () => {})).toThrow(NetlinkFormatError);
    expect(() => request(fakeKernel(() => [[new Uint8Array(0)]]).conn, dumpReq, () => {})).toThrow("links: empty datagram before the end of the reply");
    const noCode = message(NLMSG_ERROR, new Uint8Array(2), [], 0);
    view(noCode).setUint32(0, 18, true);
    expect(() => request(fakeKernel(() => [[noCode.subarray(0, 18)]]).conn, dumpReq, () => {})).toThrow("links: NLMSG_ERROR of 18 bytes has no error code");
  });
});

// ── netdev, EnableNetlink = true ────────────────────────────────────────────────────────────

describe("netdev netlink parser", () => {
  test("procfs names derived as /proc/net/dev prints them, plus HUATUO's netlink names", () => {
    const link = parseLinkMessage(view(linkMessage(4, "eth0", stats64())), oneMessage(linkMessage(4, "eth0", stats64())), "t");
    const v = Object.fromEntries(link.stats);
    const f = (name: keyof typeof LINK_STATS64_FIELDS) => 1000 + LINK_STATS64_FIELDS[name];
    expect(link.device).toBe("eth0");
    expect(link.ifindex).toBe(4);
    expect(v.receive_bytes).toBe(f("rx_bytes"));
    expect(v.receive_dropped).toBe(f("rx_dropped")); // HUATUO's netlink value: rx_missed_errors apart
    expect(v.receive_frame).toBe(f("rx_length_errors") + f("rx_over_errors") + f("rx_crc_errors") + f("rx_frame_errors"));
    expect(v.transmit_carrier).toBe(f("tx_carrier_errors") + f("tx_aborted_errors") + f("tx_window_errors") + f("tx_heartbeat_errors"));
    expect(v.transmit_colls).toBe(f("collisions"));
    expect(v.receive_multicast).toBe(f("multicast"));
    expect(v.receive_nohandler).toBe(f("rx_nohandler"));
    // every procfs name is there, and every name once
    for (const stat of NETDEV_STATS) expect(v[stat]).toBeNumber();
    expect(link.stats.map(([s]) => s)).toEqual(NETLINK_STATS.map(([s]) => s));
    expect(link.stats).toHaveLength(30);
  });

  test("counters near 2^64 and sums that wrap like the kernel's", () => {
    const st = stats64(24, 0);
    const dv = view(st);
    setU64(dv, LINK_STATS64_FIELDS.rx_bytes * 8, 0xffffffff, 0xfffff800); // 2^64 - 2048, exact as a double
    setU64(dv, LINK_STATS64_FIELDS.rx_length_errors * 8, 0xffffffff, 0xffffffff);
    setU64(dv, LINK_STATS64_FIELDS.rx_over_errors * 8, 0, 5);
    const m = linkMessage(2, "eth0", st);
    const v = Object.fromEntries(parseLinkMessage(view(m), oneMessage(m), "t").stats);
    expect(v.receive_bytes).toBe(2 ** 64 - 2048);
    expect(v.receive_frame).toBe(4 + LINK_STATS64_FIELDS.rx_crc_errors + LINK_STATS64_FIELDS.rx_frame_errors);
  });

  test("an older kernel's 23-field struct: no receive_nohandler; a newer 25-field one: same 30", () => {
    const old = linkMessage(1, "lo", stats64(23));
    expect(parseLinkMessage(view(old), oneMessage(old), "t").stats.map(([s]) => s)).not.toContain("receive_nohandler");
    const newer = linkMessage(1, "lo", stats64(25));
    expect(parseLinkMessage(view(newer), oneMessage(newer), "t").stats).toHaveLength(30);
  });

  test("missing or truncated attributes name the link", () => {
    const short = linkMessage(3, "eth1", stats64(12));
    expect(() => parseLinkMessage(view(short), oneMessage(short), "dump")).toThrow("dump: ifindex 3 (eth1): IFLA_STATS64 has 96 bytes, expected at least 184");
    const noStats = linkMessage(3, "eth1");
    expect(() => parseLinkMessage(view(noStats), oneMessage(noStats), "dump")).toThrow("dump: ifindex 3 (eth1): no IFLA_STATS64");
    const noName = message(RTM_NEWLINK, ifinfo(5), [{ type: IFLA_STATS64, value: stats64() }]);
    expect(() => parseLinkMessage(view(noName), oneMessage(noName), "dump")).toThrow("dump: ifindex 5: no IFLA_IFNAME");
    const noHeader = message(RTM_NEWLINK, new Uint8Array(8));
    expect(() => parseLinkMessage(view(noHeader), oneMessage(noHeader), "dump")).toThrow("has no ifinfomsg");
  });
});

describe("netdev netlink collector and its filters", () => {
  const kernel = () => fakeKernel((type) => {
    if (type !== RTM_GETLINK) throw new Error(`unexpected request ${type}`);
    return [[linkMessage(1, "lo", stats64()), linkMessage(2, "eth0", stats64()), linkMessage(3, "docker0", stats64())], [linkMessage(4, "veth3f2a1b9", stats64()), done()]];
  });
  const devicesOf = (samples: Sample[]) => [...new Set(samples.map((s) => s.labels!.device))].sort();
  const collect = async (inc: string, exc: string) => {
    const k = kernel();
    const samples = await netlinkMode(k.opener, makeFilter(inc, exc)).collect!();
    expect(k.closed()).toBe(1); // one socket per scrape, closed
    return samples;
  };

  test("none / Excluded only / Included only / both", async () => {
    expect(devicesOf(await collect("", ""))).toEqual(["docker0", "eth0", "lo", "veth3f2a1b9"]);
    expect(devicesOf(await collect("", "^(lo|docker\\d+|veth.*)$"))).toEqual(["eth0"]);
    expect(devicesOf(await collect("eth", ""))).toEqual(["eth0", "veth3f2a1b9"]);
    expect(devicesOf(await collect("e", "veth"))).toEqual(["docker0", "eth0"]);
  });

  test("HELP and TYPE as in procfs mode, every series a _total counter", async () => {
    const out = scrape("huatuo_bamai", "netdev", await collect("^eth0$", ""));
    expect(out).toContain("# HELP huatuo_bamai_netdev_receive_bytes_total Network device statistic receive_bytes.\n# TYPE huatuo_bamai_netdev_receive_bytes_total counter\n");
    expect(out).toContain('huatuo_bamai_netdev_receive_crc_errors_total{device="eth0",host="kpulse-fixture-host",region="fixture"} 1012\n');
    expect(out).toContain('huatuo_bamai_netdev_transmit_colls_total{device="eth0",host="kpulse-fixture-host",region="fixture"} 1009\n');
    expect(out.match(/^# TYPE .* counter$/gm)).toHaveLength(30);
  });

  test("a malformed reply fails the scrape, naming the dump", async () => {
    const k = fakeKernel(() => [[linkMessage(1, "lo", stats64(3)), done()]]);
    await expect(Promise.resolve().then(() => netlinkMode(k.opener, () => true).collect!())).rejects.toThrow("netlink RTM_GETLINK dump (fake): ifindex 1 (lo): IFLA_STATS64 has 24 bytes");
    expect(k.closed()).toBe(1);
  });
});

// ── netdev_qdisc ────────────────────────────────────────────────────────────────────────────

describe("qdisc parser", () => {
  test("TCA_KIND, tcmsg and TCA_STATS2 basic + queue", () => {
    const m = qdiscMessage(2, TC_H_ROOT, "fq_codel", { bytes: 2578235443, packets: 6867714, qlen: 3, backlog: 4500, drops: 7, requeues: 1, overlimits: 9 });
    expect(parseQdiscMessage(view(m), oneMessage(m), "t")).toEqual({
      ifindex: 2, handle: 0x80010000, parent: TC_H_ROOT, kind: "fq_codel",
      bytes: 2578235443, packets: 6867714, qlen: 3, backlog: 4500, drops: 7, requeues: 1, overlimits: 9,
    });
  });

  test("TCA_STATS_PKT64 replaces the u32 packet count; u64 bytes", () => {
    const m = qdiscMessage(2, TC_H_ROOT, "mq", { packets: 5, pkt64: [1, 7] });
    expect(parseQdiscMessage(view(m), oneMessage(m), "t").packets).toBe(2 ** 32 + 7);
  });

  test("legacy TCA_STATS when TCA_STATS2 is missing", () => {
    const tcm = bytes(TCMSG_SIZE, (dv) => { dv.setInt32(4, 3, true); dv.setUint32(12, TC_H_ROOT, true); });
    const legacy = bytes(40, (dv) => {
      setU64(dv, TC_STATS.bytes, 1, 0);
      dv.setUint32(TC_STATS.packets, 11, true);
      dv.setUint32(TC_STATS.drops, 12, true);
      dv.setUint32(TC_STATS.overlimits, 13, true);
      dv.setUint32(TC_STATS.qlen, 14, true);
      dv.setUint32(TC_STATS.backlog, 15, true);
    });
    const m = message(RTM_NEWQDISC, tcm, [{ type: TCA_KIND, value: "tbf" }, { type: TCA_STATS, value: legacy }]);
    expect(parseQdiscMessage(view(m), oneMessage(m), "t")).toMatchObject({ kind: "tbf", bytes: 2 ** 32, packets: 11, drops: 12, overlimits: 13, qlen: 14, backlog: 15, requeues: 0 });
  });

  test("missing kind, stats or truncated structs name the qdisc", () => {
    const tcm = bytes(TCMSG_SIZE, (dv) => { dv.setInt32(4, 2, true); dv.setUint32(8, 0x10000, true); });
    const at = "dump: qdisc 1:0 on ifindex 2";
    const m1 = message(RTM_NEWQDISC, tcm, [{ type: TCA_STATS2, value: attrs([]) }]);
    expect(() => parseQdiscMessage(view(m1), oneMessage(m1), "dump")).toThrow(`${at}: no TCA_KIND`);
    const m2 = message(RTM_NEWQDISC, tcm, [{ type: TCA_KIND, value: "tbf" }]);
    expect(() => parseQdiscMessage(view(m2), oneMessage(m2), "dump")).toThrow(`${at}: neither TCA_STATS2 nor TCA_STATS`);
    const m3 = message(RTM_NEWQDISC, tcm, [{ type: TCA_KIND, value: "tbf" }, { type: TCA_STATS2, value: attrs([{ type: TCA_STATS_BASIC, value: new Uint8Array(16) }, { type: TCA_STATS_QUEUE, value: new Uint8Array(12) }]) }]);
    expect(() => parseQdiscMessage(view(m3), oneMessage(m3), "dump")).toThrow(`${at}: TCA_STATS_QUEUE has 12 bytes, expected at least 20`);
    const m4 = message(RTM_NEWQDISC, tcm, [{ type: TCA_KIND, value: "tbf" }, { type: TCA_STATS2, value: attrs([{ type: TCA_STATS_QUEUE, value: new Uint8Array(20) }]) }]);
    expect(() => parseQdiscMessage(view(m4), oneMessage(m4), "dump")).toThrow(`${at}: TCA_STATS2 has no TCA_STATS_BASIC`);
    const m5 = message(RTM_NEWQDISC, new Uint8Array(12));
    expect(() => parseQdiscMessage(view(m5), oneMessage(m5), "dump")).toThrow("has no tcmsg");
  });
});

describe("netdev_qdisc collector", () => {
  // eth0 root fq_codel with a child; lo noqueue; docker0 root pfifo_fast; veth's qdisc appears
  // for an ifindex the link dump did not list (created in between).
  const kernel = () => fakeKernel((type) => {
    if (type === RTM_GETLINK) return [[linkMessage(1, "lo"), linkMessage(2, "eth0"), linkMessage(3, "docker0"), done()]];
    if (type === RTM_GETQDISC) {
      return [[
        qdiscMessage(1, TC_H_ROOT, "noqueue"),
        qdiscMessage(2, TC_H_ROOT, "fq_codel", { bytes: 2578235443, packets: 6867714 }),
        qdiscMessage(2, 0x80010001, "fq_codel", { bytes: 5, packets: 1 }),
        qdiscMessage(2, 0xfffffff1, "ingress"),
      ], [qdiscMessage(3, TC_H_ROOT, "pfifo_fast", { drops: 2, qlen: 1 }), qdiscMessage(9, TC_H_ROOT, "tbf"), done()]];
    }
    throw new Error(`unexpected request ${type}`);
  });
  const collect = (inc = "", exc = "") => qdiscCollector(kernel().opener, makeFilter(inc, exc)).collect!() as Sample[];
  const pairs = (samples: Sample[]) => [...new Set(samples.map((s) => `${s.labels!.device}/${s.labels!.kind}`))].sort();

  test("root qdiscs only, noqueue skipped; HUATUO's names, HELP and types", () => {
    const out = scrape("huatuo_bamai", "netdev_qdisc", collect());
    const seed = `# HELP huatuo_bamai_netdev_qdisc_backlog Number of bytes currently in queue to be sent.
# TYPE huatuo_bamai_netdev_qdisc_backlog gauge
huatuo_bamai_netdev_qdisc_backlog{device="eth0",host="kpulse-fixture-host",kind="fq_codel",region="fixture"} 0
# HELP huatuo_bamai_netdev_qdisc_bytes_total Number of bytes sent.
# TYPE huatuo_bamai_netdev_qdisc_bytes_total counter
huatuo_bamai_netdev_qdisc_bytes_total{device="eth0",host="kpulse-fixture-host",kind="fq_codel",region="fixture"} 2.578235443e+09
# HELP huatuo_bamai_netdev_qdisc_current_queue_length Number of packets currently in queue to be sent.
# TYPE huatuo_bamai_netdev_qdisc_current_queue_length gauge
huatuo_bamai_netdev_qdisc_current_queue_length{device="eth0",host="kpulse-fixture-host",kind="fq_codel",region="fixture"} 0
# HELP huatuo_bamai_netdev_qdisc_drops_total Number of packet drops.
# TYPE huatuo_bamai_netdev_qdisc_drops_total counter
huatuo_bamai_netdev_qdisc_drops_total{device="eth0",host="kpulse-fixture-host",kind="fq_codel",region="fixture"} 0
# HELP huatuo_bamai_netdev_qdisc_overlimits_total Number of packet overlimits.
# TYPE huatuo_bamai_netdev_qdisc_overlimits_total counter
huatuo_bamai_netdev_qdisc_overlimits_total{device="eth0",host="kpulse-fixture-host",kind="fq_codel",region="fixture"} 0
# HELP huatuo_bamai_netdev_qdisc_packets_total Number of packets sent.
# TYPE huatuo_bamai_netdev_qdisc_packets_total counter
huatuo_bamai_netdev_qdisc_packets_total{device="eth0",host="kpulse-fixture-host",kind="fq_codel",region="fixture"} 6.867714e+06
# HELP huatuo_bamai_netdev_qdisc_requeues_total Number of packets dequeued, not transmitted, and requeued.
# TYPE huatuo_bamai_netdev_qdisc_requeues_total counter
huatuo_bamai_netdev_qdisc_requeues_total{device="eth0",host="kpulse-fixture-host",kind="fq_codel",region="fixture"} 0`;
    const lines = out.split("\n");
    for (const line of seed.split("\n")) expect(lines).toContain(line);
    expect(lines).toContain('huatuo_bamai_netdev_qdisc_drops_total{device="docker0",host="kpulse-fixture-host",kind="pfifo_fast",region="fixture"} 2');
    expect(out).not.toContain('kind="noqueue"');
    expect(out).not.toContain('kind="ingress"');
    expect(out).not.toContain("} 5\n"); // the child's bytes
  });

  test("none / Excluded only / Included only / both", () => {
    expect(pairs(collect())).toEqual(["docker0/pfifo_fast", "eth0/fq_codel"]);
    expect(pairs(collect("", "^docker"))).toEqual(["eth0/fq_codel"]);
    expect(pairs(collect("^docker"))).toEqual(["docker0/pfifo_fast"]);
    expect(pairs(collect("0$", "^eth"))).toEqual(["docker0/pfifo_fast"]);
  });

  test("definition and its own section", () => {
    expect(netdevQdiscProbe).toMatchObject({ name: "netdev_qdisc", kind: "metric", defaultEnabled: true });
    expect(netdevQdiscProbe.source.startsWith("netlink")).toBe(true);
    expect(netdevQdiscProbe.config?.path).toBe("MetricCollector.Qdisc");
    expect(Object.keys(netdevQdiscProbe.config!.keys)).toEqual(["DeviceIncluded", "DeviceExcluded"]);
  });
});

// ── netdev_dcb ──────────────────────────────────────────────────────────────────────────────

describe("DCB reply parser", () => {
  test("requests → sent, indications → received, per priority", () => {
    const m = dcbReply("enp6s0f0np0", ieeePfc());
    expect(parseIeeeGetReply(view(m), oneMessage(m), "t")).toEqual({
      sent: [100, 101, 102, 103, 104, 105, 106, 107],
      received: [200, 201, 202, 203, 204, 205, 206, 207],
    });
  });

  test("u64 counters near 2^64", () => {
    const pfc = ieeePfc();
    setU64(view(pfc), IEEE_PFC.indications + 7 * 8, 0xffffffff, 0xfffff800);
    const m = dcbReply("eth0", pfc);
    expect(parseIeeeGetReply(view(m), oneMessage(m), "t")!.received[7]).toBe(2 ** 64 - 2048);
  });

  test("no DCB_ATTR_IEEE or no PFC inside: undefined", () => {
    const none = dcbReply("eth0");
    expect(parseIeeeGetReply(view(none), oneMessage(none), "t")).toBeUndefined();
    const m = message(RTM_GETDCB, bytes(DCBMSG_SIZE, (dv) => dv.setUint8(1, DCB_CMD_IEEE_GET)), [{ type: DCB_ATTR_IEEE, value: attrs([{ type: 3, value: u32(1) }]) }], 0);
    expect(parseIeeeGetReply(view(m), oneMessage(m), "t")).toBeUndefined();
  });

  test("truncated PFC, wrong command, no dcbmsg are errors", () => {
    const short = dcbReply("eth0", ieeePfc(100));
    expect(() => parseIeeeGetReply(view(short), oneMessage(short), "dcb eth0")).toThrow("dcb eth0: DCB_ATTR_IEEE_PFC has 100 bytes, expected at least 136");
    const wrong = dcbReply("eth0", ieeePfc(), 1);
    expect(() => parseIeeeGetReply(view(wrong), oneMessage(wrong), "dcb eth0")).toThrow("reply is for DCB command 1, not DCB_CMD_IEEE_GET (21)");
    const bare = message(RTM_GETDCB, new Uint8Array(0), [], 0);
    expect(() => parseIeeeGetReply(view(bare), oneMessage(bare), "dcb eth0")).toThrow("has no dcbmsg");
  });
});

describe("netdev_dcb collector", () => {
  /** eth0 has PFC; lo has no DCB; eth1 has DCB without PFC; anything else does not exist. */
  const kernel = (state: Record<string, "pfc" | "nopfc" | number> = { eth0: "pfc", lo: 95, eth1: "nopfc" }) => fakeKernel((type, req, len) => {
    if (type !== RTM_GETDCB) throw new Error(`unexpected request ${type}`);
    const attr = walkAttrs(req, 16 + DCBMSG_SIZE, len, "req")[0]!;
    const device = new TextDecoder().decode(new Uint8Array(req.buffer, req.byteOffset + attr.value, attr.end - attr.value - 1));
    const s = state[device] ?? 19;
    if (typeof s === "number") return [[errorMsg(s)]];
    return [[dcbReply(device, s === "pfc" ? ieeePfc() : undefined)]];
  });
  const logged: string[] = [];
  const log = createLogger("info", (l) => logged.push(l));

  test("only devices with PFC are exported; the others are logged once with the reason", () => {
    logged.length = 0;
    const inst = dcbCollector(kernel().opener, ["eth0", "lo", "eth1", "nope0"], log);
    const out = scrape("huatuo_bamai", "netdev_dcb", inst.collect!() as Sample[]);
    expect(out).toContain("# HELP huatuo_bamai_netdev_dcb_pfc_received_total count of the received pfc frames\n# TYPE huatuo_bamai_netdev_dcb_pfc_received_total counter\n");
    expect(out).toContain("# HELP huatuo_bamai_netdev_dcb_pfc_send_total count of the sent pfc frames\n# TYPE huatuo_bamai_netdev_dcb_pfc_send_total counter\n");
    expect(out).toContain('huatuo_bamai_netdev_dcb_pfc_send_total{device="eth0",host="kpulse-fixture-host",prio="7",region="fixture"} 107\n');
    expect(out).toContain('huatuo_bamai_netdev_dcb_pfc_received_total{device="eth0",host="kpulse-fixture-host",prio="0",region="fixture"} 200\n');
    expect(out.match(/device="eth0"/g)).toHaveLength(16);
    expect(out).not.toMatch(/device="(lo|eth1|nope0)"/);
    expect(logged.join("")).toContain('reason="lo: no DCB support (EOPNOTSUPP)"');
    expect(logged.join("")).toContain('reason="eth1: the driver reports no IEEE PFC settings"');
    expect(logged.join("")).toContain('reason="nope0: no such device (ENODEV)"');
  });

  test("no listed device with PFC: unsupported, every reason given", () => {
    let err: unknown;
    try {
      dcbCollector(kernel().opener, ["lo", "eth1"], silentLogger);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ProbeUnsupportedError);
    expect((err as Error).message).toBe(
      "no device in [MetricCollector.NetdevDCB] DeviceList has IEEE DCB PFC counters: lo: no DCB support (EOPNOTSUPP); eth1: the driver reports no IEEE PFC settings",
    );
  });

  test("an empty DeviceList loads and exports nothing, without opening a socket", () => {
    const k = kernel();
    expect(dcbCollector(k.opener, [], silentLogger).collect!()).toEqual([]);
    expect(k.sent).toHaveLength(0);
  });

  test("other kernel errors fail (not unsupported)", () => {
    expect(() => dcbCollector(kernel({ eth0: 1 }).opener, ["eth0"], silentLogger)).toThrow("netlink RTM_GETDCB DCB_CMD_IEEE_GET eth0 (fake): Operation not permitted (errno 1)");
  });

  test("a device that loses DCB later is skipped with one warning", () => {
    const state: Record<string, "pfc" | number> = { eth0: "pfc", eth2: "pfc" };
    const inst = dcbCollector(kernel(state).opener, ["eth0", "eth2"], log);
    state.eth2 = 95;
    logged.length = 0;
    for (let i = 0; i < 3; i++) expect((inst.collect!() as Sample[]).every((s) => s.labels!.device === "eth0")).toBe(true);
    expect(logged.filter((l) => l.includes("eth2"))).toHaveLength(1);
  });

  test("definition and its own section", () => {
    expect(netdevDcbProbe).toMatchObject({ name: "netdev_dcb", kind: "metric" });
    expect(netdevDcbProbe.config?.path).toBe("MetricCollector.NetdevDCB");
    expect(Object.keys(netdevDcbProbe.config!.keys)).toEqual(["DeviceList"]);
  });
});

// ── tcpsummary ──────────────────────────────────────────────────────────────────────────────

describe("tcpsummary", () => {
  test("the request: TCP, every state but LISTEN, no extensions", () => {
    const dv = view(inetDiagRequest(10));
    expect([dv.getUint8(0), dv.getUint8(1), dv.getUint8(2), dv.getUint32(4, true)]).toEqual([10, 6, 0, 0xfff & ~(1 << 10)]);
    expect(STATES_BUT_LISTEN & (1 << 1)).not.toBe(0);
    expect(STATES_BUT_LISTEN & (1 << 6)).not.toBe(0);
  });

  test("tally: established, time-wait, queues of all but listeners", () => {
    const sum = emptySummary();
    for (const [state, rq, wq] of [[1, 10, 20], [1, 0, 5], [6, 0, 0], [10, 128, 4096], [8, 3, 0], [6, 0, 0]] as const) {
      const m = inetDiagMessage(state, rq, wq);
      addInetDiagMessage(sum, view(m), oneMessage(m), "t");
    }
    expect(sum).toEqual({ established: 2, timeWait: 2, rxQueue: 13, txQueue: 25 });
  });

  test("a short inet_diag_msg is an error", () => {
    const m = inetDiagMessage(1, 0, 0, 40);
    expect(() => addInetDiagMessage(emptySummary(), view(m), oneMessage(m), "diag")).toThrow("diag: message at byte 0 has 40 payload bytes, inet_diag_msg needs 72");
  });

  test("collector: IPv4 and IPv6 dumps summed into KubeSkoop's four gauges", () => {
    const families: number[] = [];
    const k = fakeKernel((type, req) => {
      expect(type).toBe(SOCK_DIAG_BY_FAMILY);
      const family = req.getUint8(16);
      families.push(family);
      return family === 2
        ? [[inetDiagMessage(1, 1, 2), inetDiagMessage(6, 0, 0)], [inetDiagMessage(1, 0, 0), done()]]
        : [[inetDiagMessage(1, 100, 200), done()]];
    });
    const out = scrape("kpulse", "tcpsummary", tcpSummaryCollector(k.opener).collect!() as Sample[]);
    expect(families).toEqual([2, 10]);
    expect(out).toContain("# HELP kpulse_tcpsummary_tcpestablishedconn ESTABLISHED connection count\n# TYPE kpulse_tcpsummary_tcpestablishedconn gauge\n");
    expect(out).toContain('kpulse_tcpsummary_tcpestablishedconn{host="kpulse-fixture-host",region="fixture"} 3\n');
    expect(out).toContain('kpulse_tcpsummary_tcptimewaitconn{host="kpulse-fixture-host",region="fixture"} 1\n');
    expect(out).toContain('kpulse_tcpsummary_tcprxqueue{host="kpulse-fixture-host",region="fixture"} 101\n');
    expect(out).toContain('kpulse_tcpsummary_tcptxqueue{host="kpulse-fixture-host",region="fixture"} 202\n');
    expect(out).toContain("# HELP kpulse_tcpsummary_tcptxqueue tx queue length of all TCP connections\n");
    expect(out).toContain("# HELP kpulse_tcpsummary_tcprxqueue rx queue length of all TCP connections\n");
    expect(out).toContain("# HELP kpulse_tcpsummary_tcptimewaitconn TIME_WAIT connection count\n");
  });

  test("an IPv6 dump error fails the whole scrape (no half summary)", () => {
    const k = fakeKernel((_t, req) => (req.getUint8(16) === 2 ? [[inetDiagMessage(1, 0, 0), done()]] : [[errorMsg(13)]]));
    expect(() => tcpSummaryCollector(k.opener).collect!()).toThrow("netlink inet_diag IPv6 TCP dump (fake): Permission denied (errno 13)");
  });

  test("definition", () => {
    expect(tcpsummaryProbe).toMatchObject({ name: "tcpsummary", kind: "metric", defaultEnabled: false }); // KubeSkoop's probes are opt-in
    expect(tcpsummaryProbe.source.startsWith("netlink")).toBe(true);
  });
});

test("netdev's definition is unchanged by netlink mode", () => {
  expect(netdevProbe.source).toBe("procfs /proc/<pid>/net/dev");
  expect(Object.keys(netdevProbe.config!.keys)).toEqual(["EnableNetlink", "DeviceIncluded", "DeviceExcluded"]);
});

// ── layouts and constants against the kernel headers ────────────────────────────────────────

const haveCc = Bun.which("cc") !== null && existsSync("/usr/include/linux/rtnetlink.h");
const required = process.env.CI === "true";

test.skipIf(!required && !haveCc)("struct layouts and constants match the kernel's uapi headers", () => {
  const dir = mkdtempSync(join(tmpdir(), "kpulse-nl-layout-"));
  try {
    const fields = Object.keys(LINK_STATS64_FIELDS).map((f) => `O(rtnl_link_stats64, ${f});`).join("\n");
    const src = `#include <stdio.h>
#include <stddef.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/if_link.h>
#include <linux/inet_diag.h>
#include <linux/sock_diag.h>
#include <linux/dcbnl.h>
#include <linux/gen_stats.h>
#include <linux/pkt_sched.h>
#define V(name, v) printf("\\"%s\\":%lu,", name, (unsigned long)(v))
#define C(x) V(#x, x)
#define S(s) V("sizeof " #s, sizeof(struct s))
#define O(s, f) V(#s "." #f, offsetof(struct s, f))
int main(void) {
printf("{");
C(AF_NETLINK); C(NETLINK_ROUTE); C(NETLINK_SOCK_DIAG); C(NLMSG_ERROR); C(NLMSG_DONE); C(NLM_F_REQUEST); C(NLM_F_MULTI); C(NLM_F_DUMP);
C(RTM_NEWLINK); C(RTM_GETLINK); C(RTM_NEWQDISC); C(RTM_GETQDISC); C(RTM_GETDCB); C(SOCK_DIAG_BY_FAMILY);
C(IFLA_IFNAME); C(IFLA_STATS64); C(TCA_KIND); C(TCA_STATS); C(TCA_STATS2); C(TCA_STATS_BASIC); C(TCA_STATS_QUEUE); C(TCA_STATS_PKT64); C(TC_H_ROOT);
C(DCB_CMD_IEEE_GET); C(DCB_ATTR_IFNAME); C(DCB_ATTR_IEEE); C(DCB_ATTR_IEEE_PFC); C(IEEE_8021QAZ_MAX_TCS);
S(ifinfomsg); S(tcmsg); S(dcbmsg); S(inet_diag_req_v2); S(inet_diag_msg); S(ieee_pfc); S(gnet_stats_queue);
O(inet_diag_msg, idiag_state); O(inet_diag_msg, idiag_rqueue); O(inet_diag_msg, idiag_wqueue); O(inet_diag_req_v2, idiag_states);
O(ieee_pfc, requests); O(ieee_pfc, indications); O(ifinfomsg, ifi_index); O(tcmsg, tcm_ifindex); O(tcmsg, tcm_handle); O(tcmsg, tcm_parent);
O(gnet_stats_basic, bytes); O(gnet_stats_basic, packets);
O(gnet_stats_queue, qlen); O(gnet_stats_queue, backlog); O(gnet_stats_queue, drops); O(gnet_stats_queue, requeues); O(gnet_stats_queue, overlimits);
O(tc_stats, bytes); O(tc_stats, packets); O(tc_stats, drops); O(tc_stats, overlimits); O(tc_stats, qlen); O(tc_stats, backlog); S(tc_stats);
${fields}
printf("\\"end\\":0}\\n");
return 0;
}
`;
    writeFileSync(join(dir, "layout.c"), src);
    const cc = Bun.spawnSync(["cc", "-o", join(dir, "layout"), join(dir, "layout.c")]);
    expect(cc.exitCode, cc.stderr.toString()).toBe(0);
    const k = JSON.parse(Bun.spawnSync([join(dir, "layout")]).stdout.toString());
    expect({
      AF_NETLINK, NETLINK_ROUTE, NETLINK_SOCK_DIAG, NLMSG_ERROR, NLMSG_DONE, NLM_F_REQUEST, NLM_F_MULTI, NLM_F_DUMP,
      RTM_NEWLINK, RTM_GETLINK, RTM_NEWQDISC, RTM_GETQDISC, RTM_GETDCB, SOCK_DIAG_BY_FAMILY,
      IFLA_IFNAME, IFLA_STATS64, TCA_KIND, TCA_STATS, TCA_STATS2, TCA_STATS_BASIC, TCA_STATS_QUEUE, TCA_STATS_PKT64, TC_H_ROOT,
      DCB_CMD_IEEE_GET, DCB_ATTR_IFNAME, DCB_ATTR_IEEE, DCB_ATTR_IEEE_PFC, IEEE_8021QAZ_MAX_TCS: 8,
    }).toEqual(Object.fromEntries(Object.entries(k).filter(([n]) => /^[A-Z]/.test(n))) as never);
    expect([IFINFOMSG_SIZE, TCMSG_SIZE, DCBMSG_SIZE, INET_DIAG_REQ_V2_SIZE, INET_DIAG_MSG.size, IEEE_PFC.size, GNET_QUEUE.size])
      .toEqual([k["sizeof ifinfomsg"], k["sizeof tcmsg"], k["sizeof dcbmsg"], k["sizeof inet_diag_req_v2"], k["sizeof inet_diag_msg"], k["sizeof ieee_pfc"], k["sizeof gnet_stats_queue"]]);
    // The minimum sizes required of the two u64-aligned structs end at their last field (no tail padding).
    expect(TC_STATS.size).toBe(k["tc_stats.backlog"] + 4);
    expect(GNET_BASIC.size).toBe(k["gnet_stats_basic.packets"] + 4);
    expect([INET_DIAG_MSG.state, INET_DIAG_MSG.rqueue, INET_DIAG_MSG.wqueue, IEEE_PFC.requests, IEEE_PFC.indications])
      .toEqual([k["inet_diag_msg.idiag_state"], k["inet_diag_msg.idiag_rqueue"], k["inet_diag_msg.idiag_wqueue"], k["ieee_pfc.requests"], k["ieee_pfc.indications"]]);
    expect(k["inet_diag_req_v2.idiag_states"]).toBe(4);
    expect([k["ifinfomsg.ifi_index"], k["tcmsg.tcm_ifindex"], k["tcmsg.tcm_handle"], k["tcmsg.tcm_parent"]]).toEqual([4, 4, 8, 12]);
    expect([GNET_BASIC.bytes, GNET_BASIC.packets]).toEqual([k["gnet_stats_basic.bytes"], k["gnet_stats_basic.packets"]]);
    for (const f of ["qlen", "backlog", "drops", "requeues", "overlimits"] as const) expect(GNET_QUEUE[f]).toBe(k[`gnet_stats_queue.${f}`]);
    for (const f of ["bytes", "packets", "drops", "overlimits", "qlen", "backlog"] as const) expect(TC_STATS[f]).toBe(k[`tc_stats.${f}`]);
    for (const [f, i] of Object.entries(LINK_STATS64_FIELDS)) expect(i * 8).toBe(k[`rtnl_link_stats64.${f}`]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

// ── the socket itself (live kernel, no privilege needed) ────────────────────────────────────

describe("NetlinkSocket", () => {
  test("a silent kernel: recv gives up after the receive timeout", () => {
    const sock = NetlinkSocket.open(NETLINK_ROUTE, { recvTimeoutMs: 150 });
    try {
      const t0 = performance.now();
      expect(() => sock.recv(new Uint8Array(4096))).toThrow(NetlinkTimeoutError);
      const took = performance.now() - t0;
      expect(took).toBeGreaterThanOrEqual(100);
      expect(took).toBeLessThan(2000);
    } finally {
      sock.close();
    }
  });

  test("a datagram larger than the buffer is an error, not a silent truncation", () => {
    const sock = NetlinkSocket.open(NETLINK_ROUTE, { recvTimeoutMs: 1000 });
    try {
      sock.send(buildRequest(RTM_GETLINK, NLM_F_REQUEST | NLM_F_DUMP, 1, new Uint8Array(IFINFOMSG_SIZE)));
      expect(() => sock.recv(new Uint8Array(64))).toThrow(/netlink recv: datagram of \d+ bytes does not fit in 64/);
    } finally {
      sock.close();
    }
  });

  test("a real dump through request(): lo is there", () => {
    const names: string[] = [];
    withSocket({ describe: () => "own", open: (p) => NetlinkSocket.open(p, { recvTimeoutMs: 1000 }) }, NETLINK_ROUTE, (sock) =>
      request(sock, { type: RTM_GETLINK, flags: NLM_F_DUMP, payload: new Uint8Array(IFINFOMSG_SIZE), where: "t" }, (dv, m) => {
        names.push(parseLinkMessage(dv, m, "t").device);
      }),
    );
    expect(names).toContain("lo");
  });
});

describe("hostNetlink: which namespace", () => {
  const root = mkdtempSync(join(tmpdir(), "kpulse-hostnl-"));
  const logged: string[] = [];
  const log = createLogger("info", (l) => logged.push(l));

  test("proc/1 in our own namespace: no switch, no warning", () => {
    const dir = join(root, "self");
    mkdirSync(join(dir, "proc"), { recursive: true });
    symlinkSync(`/proc/${process.pid}`, join(dir, "proc", "1"));
    logged.length = 0;
    const opener = hostNetlink(procfsRoot(dir), log, 500);
    opener.open(NETLINK_ROUTE).close();
    expect(opener.describe()).toBe(join(dir, "proc/1/ns/net"));
    expect(logged).toEqual([]);
  });

  test("pid 1's namespace unreadable: the agent's own, one warning naming the path", () => {
    const dir = join(root, "none");
    mkdirSync(join(dir, "proc"), { recursive: true });
    logged.length = 0;
    const opener = hostNetlink(procfsRoot(dir), log, 500);
    for (let i = 0; i < 3; i++) opener.open(NETLINK_ROUTE).close();
    expect(opener.describe()).toBe("own network namespace");
    expect(logged).toHaveLength(1);
    expect(logged[0]).toContain("host network namespace not accessible");
    expect(logged[0]).toContain(join(dir, "proc/1/ns/net"));
    rmSync(root, { recursive: true, force: true });
  });
});
