// Decoding helpers shared by every BPF event probe: the record layout (taken from the loaded
// object's BTF, checked against what the decoder reads), 64-bit values, addresses, socket
// fields and symbolized kernel stacks. Offsets never come from a hand-kept copy of a C struct.
import type { FieldLayout } from "../../bpf/btf.ts";
import type { Symbolizer } from "../../bpf/kallsyms.ts";
import { cString, ipv4, ipv6, l4ProtocolName, tcpStateName } from "../../util/netfmt.ts";

export { cString, ipv4, ipv6, l4ProtocolName, tcpStateName };

/** Field name → size in bytes, as a decoder reads it. */
export type FieldSizes = Readonly<Record<string, number>>;
export type Offsets<F extends FieldSizes> = { readonly [K in keyof F]: number };

/** Offsets of every field a decoder reads; throws naming each field the struct lacks or sizes differently. */
export function resolveLayout<F extends FieldSizes>(structName: string, layout: ReadonlyMap<string, FieldLayout>, fields: F): Offsets<F> {
  const problems: string[] = [];
  const out: Record<string, number> = {};
  for (const [name, size] of Object.entries(fields)) {
    const f = layout.get(name);
    if (!f) problems.push(`${name} missing`);
    else if (f.size !== size) problems.push(`${name} is ${f.size} bytes, decoder reads ${size}`);
    else out[name] = f.offset;
  }
  if (problems.length) throw new Error(`struct ${structName} does not match the decoder: ${problems.join("; ")}`);
  return out as Offsets<F>;
}

/** An unsigned 64-bit little-endian value as a Number (exact below 2^53: counters, ns, cookies, cgroup ids). */
export function u64(dv: DataView, at: number): number {
  return dv.getUint32(at + 4, true) * 4294967296 + dv.getUint32(at, true);
}

/** "a.b.c.d", an IPv6 address, or "" for family 0 (AF numbers or 4/6 both accepted). */
export function ipAddress(u8: Uint8Array, at: number, family: number): string {
  if (family === 4 || family === 2) return ipv4(u8, at);
  if (family === 6 || family === 10) return ipv6(u8, at);
  return "";
}

/** Frames of the tracing machinery itself (the BPF program, the tracepoint glue) lead a stack. */
const TRACING_FRAME = /^(bpf_prog_|bpf_trace_run|__bpf_trace_|perf_trace_|trace_event_raw_event_|__traceiter_|bpf_get_stack|0x[0-9a-f]+$)/;

/** First line of a stack whose addresses could not be symbolized; the reason follows. */
export const UNSYMBOLIZED = "(unsymbolized: ";

/** Distinct stacks remembered; stacks repeat heavily and symbolizing each frame is not free. */
const STACK_CACHE_LIMIT = 4096;

interface CachedStack {
  words: Uint32Array;
  text: string;
}

/**
 * Symbolized kernel stacks (`bpf_get_stack` arrays of u64 addresses), one frame per line, with
 * the leading tracing frames (ours, not the kernel path being reported) removed. Cached by a
 * hash of the raw frames, verified word for word on a hit.
 */
export class StackSymbolizer {
  private readonly stacks = new Map<number, CachedStack>();

  /**
   * `symbolize(hi, lo)`: a kernel address as 32-bit halves → "symbol+0xoff". When it says symbols
   * are unavailable, stacks keep every raw address under a first line giving the reason.
   */
  constructor(private readonly symbolize: Symbolizer) {}

  private view: Uint32Array | undefined;

  /** The stack at `at`, `bytes` long (as bpf_get_stack returned), as text. */
  text(dv: DataView, at: number, bytes: number): string {
    const words = bytes >>> 2;
    // Index a Uint32Array over the record's memory: several times cheaper than DataView calls
    // for the ~100 words hashed and compared. Stacks are u64 arrays, so 4-byte alignment holds
    // in real records; anything else is copied first.
    const abs = dv.byteOffset + at;
    let v: Uint32Array;
    let base = 0;
    if (abs % 4 === 0) {
      v = this.view?.buffer === dv.buffer ? this.view : (this.view = new Uint32Array(dv.buffer, 0, dv.buffer.byteLength >>> 2));
      base = abs >>> 2;
    } else {
      v = new Uint32Array(words);
      for (let i = 0; i < words; i++) v[i] = dv.getUint32(at + 4 * i, true);
    }
    let h = 0x811c9dc5;
    for (let i = 0; i < words; i++) h = Math.imul(h ^ v[base + i]!, 0x01000193);
    const key = (h >>> 0) * 256 + (words & 0xff);
    const hit = this.stacks.get(key);
    if (hit && hit.words.length === words) {
      let same = true;
      for (let i = 0; i < words && same; i++) same = hit.words[i] === v[base + i];
      if (same) return hit.text;
    }
    const raw = v.slice(base, base + words);
    const frames: string[] = [];
    // Without symbols the tracing frames cannot be told apart: keep every address.
    const unavailable = this.symbolize.unavailable?.();
    if (unavailable) frames.push(`${UNSYMBOLIZED}${unavailable})`);
    for (let i = 0; i + 1 < words; i += 2) {
      const lo = raw[i]!, hi = raw[i + 1]!;
      if (lo === 0 && hi === 0) break;
      const frame = this.symbolize(hi, lo);
      if (!unavailable && frames.length === 0 && TRACING_FRAME.test(frame)) continue;
      frames.push(frame);
    }
    const text = frames.join("\n");
    if (this.stacks.size >= STACK_CACHE_LIMIT) this.stacks.clear();
    this.stacks.set(key, { words: raw, text });
    return text;
  }
}
