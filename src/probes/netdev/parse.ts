// Parser for /proc/<pid>/net/dev: two header lines, then one `name: 16 counters` line per device.

export interface NetDevStats {
  device: string;
  receive_bytes: number;
  receive_packets: number;
  receive_errors: number;
  receive_dropped: number;
  receive_fifo: number;
  receive_frame: number;
  receive_compressed: number;
  receive_multicast: number;
  transmit_bytes: number;
  transmit_packets: number;
  transmit_errors: number;
  transmit_dropped: number;
  transmit_fifo: number;
  transmit_colls: number;
  transmit_carrier: number;
  transmit_compressed: number;
}

export type NetDevStat = Exclude<keyof NetDevStats, "device">;

/** The 16 counters in the kernel's column order (net/core/net-procfs.c). */
export const NETDEV_STATS: readonly NetDevStat[] = [
  "receive_bytes",
  "receive_packets",
  "receive_errors",
  "receive_dropped",
  "receive_fifo",
  "receive_frame",
  "receive_compressed",
  "receive_multicast",
  "transmit_bytes",
  "transmit_packets",
  "transmit_errors",
  "transmit_dropped",
  "transmit_fifo",
  "transmit_colls",
  "transmit_carrier",
  "transmit_compressed",
];

const UINT = /^\d+$/;

/** `source` names the file in errors, e.g. "/proc/1/net/dev". */
export function parseNetDev(text: string, source = "/proc/net/dev"): NetDevStats[] {
  const out: NetDevStats[] = [];
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    // The two header lines ("Inter-|   Receive ...", " face |bytes ..."); '|' is a legal
    // character in a device name, so only look for them where they belong.
    if (line.trim() === "" || (i < 2 && line.includes("|"))) continue;
    const where = `${source}:${i + 1}`;
    // Split at the last ':' so a name with a colon in it (alias-style "eth0:1") stays whole; old
    // kernels print the first counter glued to the colon ("eth0:123"), which this also handles.
    const colon = line.lastIndexOf(":");
    if (colon < 0) throw new Error(`${where}: no "<device>:" in line ${JSON.stringify(line)}`);
    const device = line.slice(0, colon).trim();
    if (device === "" || /\s/.test(device)) {
      throw new Error(`${where}: bad device name ${JSON.stringify(device)}`);
    }
    const fields = line.slice(colon + 1).trim().split(/\s+/);
    if (fields.length !== NETDEV_STATS.length) {
      throw new Error(
        `${where}: device ${device}: expected ${NETDEV_STATS.length} counters, got ${fields[0] === "" ? 0 : fields.length}`,
      );
    }
    const rec = { device } as NetDevStats;
    for (let f = 0; f < NETDEV_STATS.length; f++) {
      const raw = fields[f]!;
      if (!UINT.test(raw)) {
        throw new Error(`${where}: device ${device}: ${NETDEV_STATS[f]} is not a counter: ${JSON.stringify(raw)}`);
      }
      rec[NETDEV_STATS[f]!] = Number(raw); // u64 → float64, as HUATUO exports it
    }
    out.push(rec);
  }
  return out;
}
