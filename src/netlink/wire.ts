// Netlink wire format, pure: build a request (nlmsghdr + payload + attributes) and walk replies
// (nlmsghdr, then rtattr/nlattr TLVs) with bounds checks. A truncated or hostile buffer raises a
// NetlinkFormatError naming where it broke; nothing here reads past the bytes it was given.
//
// Layouts (checked against the kernel headers by tests/unit/netlink.test.ts):
//   struct nlmsghdr { u32 len; u16 type; u16 flags; u32 seq; u32 pid; }       16 bytes
//   struct nlattr   { u16 len; u16 type; }  (rtattr is the same)             4 bytes, then value
// Both are padded to 4 bytes; lengths count the header but not the padding.

export const NLMSG_HDRLEN = 16;
export const NLA_HDRLEN = 4;

export const NLMSG_NOOP = 1;
export const NLMSG_ERROR = 2;
export const NLMSG_DONE = 3;
export const NLMSG_OVERRUN = 4;

export const NLM_F_REQUEST = 0x1;
export const NLM_F_MULTI = 0x2;
export const NLM_F_ACK = 0x4;
export const NLM_F_DUMP = 0x300; // NLM_F_ROOT | NLM_F_MATCH
export const NLM_F_DUMP_INTR = 0x10;

/** nla_type carries two flag bits (NLA_F_NESTED, NLA_F_NET_BYTEORDER) above the type. */
const NLA_TYPE_MASK = 0x3fff;

export const align4 = (n: number) => (n + 3) & ~3;

/** A reply that does not follow the wire format. */
export class NetlinkFormatError extends Error {
  override name = "NetlinkFormatError";
}

/** One netlink message inside a receive buffer: the payload is view[payload, end). */
export interface NlMsg {
  type: number;
  flags: number;
  seq: number;
  pid: number;
  /** Byte offset of the message header in `view`. */
  offset: number;
  /** Offset of the payload (after the 16-byte header). */
  payload: number;
  /** End of the message (offset + nlmsg_len). */
  end: number;
}

/** One attribute: the value is view[value, end). */
export interface NlAttr {
  type: number;
  /** True when NLA_F_NESTED was set (the kernel does not always set it on nested attributes). */
  nested: boolean;
  value: number;
  end: number;
}

/**
 * The messages in view[0, length). Every header must fit and every nlmsg_len must be ≥ 16 and
 * end inside the buffer; `where` prefixes error messages ("netlink RTM_GETLINK reply").
 */
export function walkMessages(view: DataView, length: number, where: string): NlMsg[] {
  if (length > view.byteLength) throw new NetlinkFormatError(`${where}: length ${length} exceeds the buffer (${view.byteLength})`);
  const out: NlMsg[] = [];
  let off = 0;
  while (off < length) {
    const at = `${where}: message ${out.length + 1} at byte ${off}`;
    if (length - off < NLMSG_HDRLEN) throw new NetlinkFormatError(`${at}: ${length - off} bytes left, a header needs ${NLMSG_HDRLEN}`);
    const len = view.getUint32(off, true);
    if (len < NLMSG_HDRLEN) throw new NetlinkFormatError(`${at}: nlmsg_len ${len} is shorter than the header`);
    if (len > length - off) throw new NetlinkFormatError(`${at}: nlmsg_len ${len} runs past the end of the datagram (${length - off} bytes left)`);
    out.push({
      type: view.getUint16(off + 4, true),
      flags: view.getUint16(off + 6, true),
      seq: view.getUint32(off + 8, true),
      pid: view.getUint32(off + 12, true),
      offset: off,
      payload: off + NLMSG_HDRLEN,
      end: off + len,
    });
    // The padding after the last message may be missing; never step past `length`.
    off = Math.min(off + align4(len), length);
  }
  return out;
}

/** The attributes in view[start, end). Bounds as for messages; trailing bytes must be padding. */
export function walkAttrs(view: DataView, start: number, end: number, where: string): NlAttr[] {
  if (start < 0 || end > view.byteLength || start > end) {
    throw new NetlinkFormatError(`${where}: attribute area [${start}, ${end}) is outside the buffer (${view.byteLength} bytes)`);
  }
  const out: NlAttr[] = [];
  let off = start;
  while (off < end) {
    const at = `${where}: attribute ${out.length + 1} at byte ${off - start}`;
    if (end - off < NLA_HDRLEN) {
      throw new NetlinkFormatError(`${at}: ${end - off} bytes left, an attribute header needs ${NLA_HDRLEN}`);
    }
    const len = view.getUint16(off, true);
    const rawType = view.getUint16(off + 2, true);
    if (len < NLA_HDRLEN) throw new NetlinkFormatError(`${at}: length ${len} is shorter than its header`);
    if (len > end - off) throw new NetlinkFormatError(`${at}: type ${rawType & NLA_TYPE_MASK} length ${len} runs past the end (${end - off} bytes left)`);
    out.push({ type: rawType & NLA_TYPE_MASK, nested: (rawType & 0x8000) !== 0, value: off + NLA_HDRLEN, end: off + len });
    off = Math.min(off + align4(len), end);
  }
  return out;
}

/** The first attribute of each type (the kernel never repeats the ones read here). */
export function attrsByType(view: DataView, start: number, end: number, where: string): Map<number, NlAttr> {
  const m = new Map<number, NlAttr>();
  for (const a of walkAttrs(view, start, end, where)) if (!m.has(a.type)) m.set(a.type, a);
  return m;
}

// ── reading values ──────────────────────────────────────────────────────────────────────────

const TWO32 = 2 ** 32;

/** u64 little-endian as a Number: read as two u32 (no BigInt); one rounding above 2^53. */
export function readU64(view: DataView, off: number): number {
  return view.getUint32(off + 4, true) * TWO32 + view.getUint32(off, true);
}

/**
 * The sum of u64 fields, wrapping at 2^64 as the kernel's u64 arithmetic does, computed exactly
 * on the u32 halves and rounded once (summing rounded Numbers could drift above 2^53).
 */
export function sumU64(view: DataView, offsets: readonly number[]): number {
  let lo = 0;
  let hi = 0;
  for (const off of offsets) {
    lo += view.getUint32(off, true);
    hi += view.getUint32(off + 4, true);
  }
  hi = (hi + Math.floor(lo / TWO32)) % TWO32;
  return hi * TWO32 + (lo % TWO32);
}

/** Check that an attribute holds at least `size` bytes; returns the value offset. */
export function needBytes(a: NlAttr, size: number, what: string, where: string): number {
  const have = a.end - a.value;
  if (have < size) throw new NetlinkFormatError(`${where}: ${what} has ${have} bytes, expected at least ${size}`);
  return a.value;
}

/** A NUL-terminated (or unterminated) string attribute. */
export function readString(view: DataView, a: NlAttr): string {
  const bytes = new Uint8Array(view.buffer, view.byteOffset + a.value, a.end - a.value);
  const nul = bytes.indexOf(0);
  return new TextDecoder().decode(nul >= 0 ? bytes.subarray(0, nul) : bytes);
}

// ── building requests ───────────────────────────────────────────────────────────────────────

/** An attribute to append to a request: raw bytes or a string (sent NUL-terminated). */
export interface AttrSpec {
  type: number;
  value: Uint8Array | string;
}

const utf8 = new TextEncoder();

/** nlmsghdr + fixed payload (padded to 4) + attributes: one request datagram. */
export function buildRequest(type: number, flags: number, seq: number, payload: Uint8Array, attrs: readonly AttrSpec[] = []): Uint8Array {
  const values = attrs.map((a) => (typeof a.value === "string" ? utf8.encode(a.value + "\0") : a.value));
  let len = NLMSG_HDRLEN + align4(payload.byteLength);
  for (const v of values) len += align4(NLA_HDRLEN + v.byteLength);
  const buf = new Uint8Array(len);
  const dv = new DataView(buf.buffer);
  dv.setUint32(0, len, true);
  dv.setUint16(4, type, true);
  dv.setUint16(6, flags, true);
  dv.setUint32(8, seq >>> 0, true);
  dv.setUint32(12, 0, true);
  buf.set(payload, NLMSG_HDRLEN);
  let off = NLMSG_HDRLEN + align4(payload.byteLength);
  attrs.forEach((a, i) => {
    const v = values[i]!;
    dv.setUint16(off, NLA_HDRLEN + v.byteLength, true);
    dv.setUint16(off + 2, a.type, true);
    buf.set(v, off + NLA_HDRLEN);
    off += align4(NLA_HDRLEN + v.byteLength);
  });
  return buf;
}
