// Parser for /proc/<pid>/net/ip_vs_stats: two header lines, the totals in hex (%8LX, %16LX for
// bytes), a blank line, then per-second rates (not used: rate() the totals instead).
//      Total Incoming Outgoing         Incoming         Outgoing
//      Conns  Packets  Packets            Bytes            Bytes
//         2A      1F4      1C2             9C40             7D00
//
//    Conns/s   Pkts/s   Pkts/s          Bytes/s          Bytes/s
//          0        0        0                0                0

export interface IpvsTotals {
  connections: number;
  incomingpackets: number;
  outgoingpackets: number;
  incomingbytes: number;
  outgoingbytes: number;
}

const HEX = /^[0-9a-fA-F]{1,16}$/;

export function parseIpvsStats(text: string, source = "/proc/net/ip_vs_stats"): IpvsTotals {
  const lines = text.split("\n");
  if (text !== "" && !text.endsWith("\n")) {
    throw new Error(`${source}:${lines.length}: truncated (no newline at end of file)`);
  }
  const head1 = (lines[0] ?? "").trim().split(/\s+/);
  const head2 = (lines[1] ?? "").trim().split(/\s+/);
  if (head1[0] !== "Total" || head2[0] !== "Conns") {
    throw new Error(`${source}:1: expected the "Total Incoming Outgoing" / "Conns Packets" header lines`);
  }
  const words = (lines[2] ?? "").trim().split(/\s+/).filter(Boolean);
  if (words.length !== 5) throw new Error(`${source}:3: expected 5 totals, got ${words.length}`);
  const v = words.map((w, i) => {
    if (!HEX.test(w)) throw new Error(`${source}:3: total ${i + 1} is not a hex number: ${JSON.stringify(w)}`);
    return Number(`0x${w}`); // u64 → float64, exact below 2^53
  });
  return { connections: v[0]!, incomingpackets: v[1]!, outgoingpackets: v[2]!, incomingbytes: v[3]!, outgoingbytes: v[4]! };
}
