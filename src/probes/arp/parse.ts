// Parsers for the ARP table (/proc/<pid>/net/arp) and the neighbour-table statistics
// (/proc/net/stat/arp_cache).

/**
 * Entries of /proc/<pid>/net/arp: the lines after the header
 *   IP address       HW type     Flags       HW address            Mask     Device
 *   192.0.2.1        0x1         0x2         02:fc:00:00:00:05     *        eth0
 * (HUATUO counts lines − 1.) Incomplete entries are included, as the kernel lists them.
 */
export function countArpEntries(text: string, source = "/proc/net/arp"): number {
  const lines = text.split("\n").filter((l) => l.trim() !== "");
  if (lines.length === 0 || !lines[0]!.startsWith("IP address")) {
    throw new Error(`${source}:1: expected the "IP address  HW type ..." header, got ${JSON.stringify(lines[0] ?? "")}`);
  }
  lines.slice(1).forEach((line, i) => {
    // IP, HW type, flags, HW address, mask, device.
    if (line.trim().split(/\s+/).length < 6) throw new Error(`${source}:${i + 2}: truncated entry ${JSON.stringify(line)}`);
  });
  return lines.length - 1;
}

const HEX = /^[0-9a-fA-F]+$/;

/**
 * The `entries` column of /proc/net/stat/arp_cache: a header of column names, then one row of
 * hex numbers per possible CPU. `entries` is the table-wide count (every row repeats it: the
 * kernel prints the global atomic on each CPU's row), so the first row is the answer; summing
 * the rows would multiply it by the CPU count. The other columns are per-CPU counters.
 */
export function parseArpCacheEntries(text: string, source = "/proc/net/stat/arp_cache"): number {
  const lines = text.split("\n").filter((l) => l.trim() !== "");
  if (lines.length === 0) throw new Error(`${source}: empty file`);
  const header = lines[0]!.trim().split(/\s+/);
  const col = header.indexOf("entries");
  if (col < 0) throw new Error(`${source}:1: no "entries" column in the header ${JSON.stringify(lines[0])}`);
  if (lines.length < 2) throw new Error(`${source}: no row after the header`);
  const row = lines[1]!.trim().split(/\s+/);
  if (row.length !== header.length) {
    throw new Error(`${source}:2: ${row.length} values for ${header.length} columns in ${JSON.stringify(lines[1])}`);
  }
  const raw = row[col]!;
  if (!HEX.test(raw)) throw new Error(`${source}:2: entries is not a hex number: ${JSON.stringify(raw)}`);
  return Number.parseInt(raw, 16);
}
