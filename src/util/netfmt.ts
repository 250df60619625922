// Formatting of kernel network values for event payloads.

/** TCP states as the kernel numbers them (include/net/tcp_states.h). */
const TCP_STATES = [
  "", "ESTABLISHED", "SYN_SENT", "SYN_RECV", "FIN_WAIT1", "FIN_WAIT2", "TIME_WAIT", "CLOSE",
  "CLOSE_WAIT", "LAST_ACK", "LISTEN", "CLOSING", "NEW_SYN_RECV", "BOUND_INACTIVE",
];

export function tcpStateName(state: number): string {
  return TCP_STATES[state] ?? `UNKNOWN(${state})`;
}

const L4_PROTOCOLS: Record<number, string> = { 1: "icmp", 2: "igmp", 6: "tcp", 17: "udp", 58: "icmpv6", 132: "sctp" };

export function l4ProtocolName(proto: number): string {
  return L4_PROTOCOLS[proto] ?? String(proto);
}

export function ipv4(u8: Uint8Array, at: number): string {
  return `${u8[at]}.${u8[at + 1]}.${u8[at + 2]}.${u8[at + 3]}`;
}

/** RFC 5952 text form: lowercase, longest zero run (≥2 groups) compressed, v4-mapped kept dotted. */
export function ipv6(u8: Uint8Array, at: number): string {
  const groups: number[] = [];
  for (let i = 0; i < 8; i++) groups.push((u8[at + 2 * i]! << 8) | u8[at + 2 * i + 1]!);
  if (groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff) {
    return `::ffff:${ipv4(u8, at + 12)}`;
  }
  let bestStart = -1, bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) { i++; continue; }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen && j - i >= 2) { bestStart = i; bestLen = j - i; }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart < 0) return hex.join(":");
  return `${hex.slice(0, bestStart).join(":")}::${hex.slice(bestStart + bestLen).join(":")}`;
}

const recentStrings = new Map<number, string>();

/**
 * A NUL-terminated ASCII/Latin-1 field (comm, ifname). The same few names repeat in every
 * event, so they are interned by a hash of their bytes (verified on a hit): cheaper than
 * building the string each time, and the result is a flat string, quick to serialize.
 */
export function cString(u8: Uint8Array, at: number, max: number): string {
  let end = at;
  let h = 0x811c9dc5;
  for (const stop = at + max; end < stop; end++) {
    const c = u8[end]!;
    if (c === 0) break;
    h = Math.imul(h ^ c, 0x01000193);
  }
  const len = end - at;
  const key = (h >>> 0) * 32 + len;
  const hit = recentStrings.get(key);
  if (hit !== undefined && hit.length === len) {
    let same = true;
    for (let i = 0; i < len && same; i++) same = hit.charCodeAt(i) === u8[at + i];
    if (same) return hit;
  }
  const s = String.fromCharCode.apply(null, u8.subarray(at, end) as unknown as number[]);
  if (recentStrings.size >= 4096) recentStrings.clear();
  recentStrings.set(key, s);
  return s;
}
