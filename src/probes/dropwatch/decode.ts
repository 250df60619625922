// Turns one `struct dropwatch_event` ring record into HUATUO's dropwatch tracer_data.
// Offsets come from the BTF of the object that was loaded (see bpf/include/dropwatch.h),
// never from a hand-kept copy: DROPWATCH_FIELDS only states which fields we read and
// their sizes, and resolveLayout() refuses an object that disagrees.
import { cString, ipv4, ipv6, l4ProtocolName, tcpStateName } from "../../util/netfmt.ts";

export const DROPWATCH_STACK_DEPTH = 48;

/** Field name → size in bytes, as the decoder reads it. */
export const DROPWATCH_FIELDS = {
  ts_ns: 8, skb_addr: 8, location: 8, net_cookie: 8, stack: 8 * DROPWATCH_STACK_DEPTH,
  stack_bytes: 4, pid: 4, tid: 4, reason: 4, netns_inum: 4, ifindex: 4, dev_flags: 4,
  pkt_len: 4, seq: 4, ack_seq: 4, sk_max_ack_backlog: 4, sk_ack_backlog: 4, syn_qlen: 4,
  queue_mapping: 2, eth_proto: 2, sport: 2, dport: 2,
  family: 1, l4_proto: 1, sk_state: 1, tcp_flags: 1, carrier_ok: 1,
  saddr: 16, daddr: 16, comm: 16, netdev: 16,
} as const;

export type DropwatchField = keyof typeof DROPWATCH_FIELDS;
export type Offsets = Record<DropwatchField, number>;
export type BtfLayout = Map<string, { offset: number; size: number }>;

/** Offsets of every decoded field; throws naming each field the object lacks or sizes differently. */
export function resolveLayout(layout: BtfLayout, fields: Record<string, number> = DROPWATCH_FIELDS): Offsets {
  const problems: string[] = [];
  const out: Record<string, number> = {};
  for (const [name, size] of Object.entries(fields)) {
    const f = layout.get(name);
    if (!f) problems.push(`${name} missing`);
    else if (f.size !== size) problems.push(`${name} is ${f.size} bytes, decoder reads ${size}`);
    else out[name] = f.offset;
  }
  if (problems.length) throw new Error(`struct dropwatch_event does not match the decoder: ${problems.join("; ")}`);
  return out as Offsets;
}

export interface DecodeDeps {
  reasonName(reason: number): string;
  /** Kernel address as (high, low) 32-bit halves → "symbol+0xoff". */
  symbolize(hi: number, lo: number): string;
  /** CLOCK_MONOTONIC ns → ms since the epoch. */
  toEpochMs(monotonicNs: number): number;
}

const IFF_UP = 0x1;
const TCP_LISTEN = 10;
const TCP_FLAG_SYN = 0x02;
const TCP_FLAG_ACK = 0x10;
const IPPROTO_TCP = 6;

export interface DecodedDrop {
  timeMs: number;
  data: Record<string, unknown>;
}

/** HUATUO's drop types: queue overflows on a listener are told apart from ordinary drops. */
export function dropType(reason: string, skState: number, tcpFlags: number, ackBacklog: number,
  maxAckBacklog: number, synQlen: number): string {
  const syn = (tcpFlags & TCP_FLAG_SYN) !== 0 && (tcpFlags & TCP_FLAG_ACK) === 0;
  if (skState === TCP_LISTEN) {
    const acceptQueueFull = ackBacklog > maxAckBacklog;
    if (syn && acceptQueueFull) return "listen_overflow_handshake1";
    if (syn && synQlen >= maxAckBacklog) return "syn_flood";
    if (!syn && acceptQueueFull) return "listen_overflow_handshake3";
  }
  if (reason.endsWith("TCP_LISTEN_OVERFLOW")) return "listen_overflow_handshake3";
  return "common_drop";
}

function linkStatus(flags: number, carrierOk: number, hasDevice: boolean): string[] {
  if (!hasDevice) return [];
  return [
    flags & IFF_UP ? "linkStatusAdminUp" : "linkStatusAdminDown",
    carrierOk ? "linkStatusCarrierUp" : "linkStatusCarrierDown",
  ];
}

/** Frames of the tracing machinery itself (the BPF program, the tracepoint glue) lead the stack. */
const TRACING_FRAME = /^(bpf_prog_|bpf_trace_run|__bpf_trace_|perf_trace_|trace_event_raw_event_|__traceiter_|bpf_get_stack)/;

/** Distinct stacks remembered; stacks repeat heavily, symbolizing each frame is not free. */
const STACK_CACHE_LIMIT = 4096;

interface CachedStack {
  words: Uint32Array;
  text: string;
}

export class DropwatchDecoder {
  private readonly stacks = new Map<number, CachedStack>();

  constructor(private readonly o: Offsets, private readonly deps: DecodeDeps) {}

  decode(u8: Uint8Array, dv: DataView, at: number): DecodedDrop {
    const o = this.o;
    // 64-bit values as exact halves: kernel addresses exceed 2^53.
    const family = u8[at + o.family]!;
    const saddr = family === 4 ? ipv4(u8, at + o.saddr) : family === 6 ? ipv6(u8, at + o.saddr) : "";
    const daddr = family === 4 ? ipv4(u8, at + o.daddr) : family === 6 ? ipv6(u8, at + o.daddr) : "";
    const l4 = u8[at + o.l4_proto]!;
    const skState = u8[at + o.sk_state]!;
    const reason = this.deps.reasonName(dv.getUint32(at + o.reason, true));
    const ifindex = dv.getUint32(at + o.ifindex, true);
    const isTcp = l4 === IPPROTO_TCP;
    const maxAckBacklog = dv.getUint32(at + o.sk_max_ack_backlog, true);
    const locLo = dv.getUint32(at + o.location, true), locHi = dv.getUint32(at + o.location + 4, true);
    const tsNs = dv.getUint32(at + o.ts_ns + 4, true) * 2 ** 32 + dv.getUint32(at + o.ts_ns, true);

    return {
      timeMs: this.deps.toEpochMs(tsNs),
      data: {
        type: dropType(reason, skState, u8[at + o.tcp_flags]!, dv.getUint32(at + o.sk_ack_backlog, true),
          maxAckBacklog, dv.getUint32(at + o.syn_qlen, true)),
        comm: cString(u8, at + o.comm, 16),
        pid: dv.getUint32(at + o.pid, true),
        tid: dv.getUint32(at + o.tid, true),
        saddr,
        daddr,
        sport: dv.getUint16(at + o.sport, true),
        dport: dv.getUint16(at + o.dport, true),
        protocol: family ? l4ProtocolName(l4) : "",
        // HUATUO resolves these by reverse DNS; kpulse does no lookups on the event path.
        src_hostname: "<nil>",
        dest_hostname: "<nil>",
        max_ack_backlog: maxAckBacklog,
        seq: isTcp ? dv.getUint32(at + o.seq, true) : 0,
        ack_seq: isTcp ? dv.getUint32(at + o.ack_seq, true) : 0,
        pkt_len: dv.getUint32(at + o.pkt_len, true),
        sk_state: skState ? tcpStateName(skState) : "",
        drop_reason: reason,
        drop_location: locLo || locHi ? this.deps.symbolize(locHi, locLo) : "",
        stack: this.stack(dv, at + o.stack, Math.min(dv.getUint32(at + o.stack_bytes, true), 8 * DROPWATCH_STACK_DEPTH)),
        netdev_queue_mapping: dv.getUint16(at + o.queue_mapping, true),
        netdev_linkstatus: linkStatus(dv.getUint32(at + o.dev_flags, true), u8[at + o.carrier_ok]!, ifindex !== 0),
        netdev_name: cString(u8, at + o.netdev, 16),
        netdev_ifindex: ifindex,
        net_cookie: dv.getUint32(at + o.net_cookie + 4, true) * 2 ** 32 + dv.getUint32(at + o.net_cookie, true),
        net_namespace_inum: dv.getUint32(at + o.netns_inum, true),
      },
    };
  }

  /** Symbolized stack, one frame per line, from a cache keyed by a hash of the raw frames. */
  private stack(dv: DataView, at: number, bytes: number): string {
    const words = bytes >>> 2;
    let h = 0x811c9dc5;
    for (let i = 0; i < words; i++) h = Math.imul(h ^ dv.getUint32(at + 4 * i, true), 0x01000193);
    const key = (h >>> 0) * 256 + words;
    const hit = this.stacks.get(key);
    if (hit && hit.words.length === words) {
      let same = true;
      for (let i = 0; i < words && same; i++) same = hit.words[i] === dv.getUint32(at + 4 * i, true);
      if (same) return hit.text;
    }
    const raw = new Uint32Array(words);
    const frames: string[] = [];
    for (let i = 0; i < words; i += 2) {
      const lo = (raw[i] = dv.getUint32(at + 4 * i, true));
      const hi = (raw[i + 1] = dv.getUint32(at + 4 * i + 4, true));
      if (lo === 0 && hi === 0) break;
      const frame = this.deps.symbolize(hi, lo);
      if (frames.length === 0 && TRACING_FRAME.test(frame)) continue;
      frames.push(frame);
    }
    const text = frames.join("\n");
    if (this.stacks.size >= STACK_CACHE_LIMIT) this.stacks.clear();
    this.stacks.set(key, { words: raw, text });
    return text;
  }
}
