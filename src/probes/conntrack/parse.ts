// Parsers for conntrack's procfs files:
// - /proc/<pid>/net/stat/nf_conntrack: a header naming the columns, then one line per CPU with
//   every value in hex (%08x). Which columns exist depends on the kernel (newer ones print some
//   retired statistics as 0), so values are taken by header name.
//     entries  clashres found new invalid ignore delete chainlength insert insert_failed ...
//     00000003  00000000 00000000 00000000 0000002a 00000000 00000000 00000000 00000011 ...
// - /proc/sys/net/netfilter/nf_conntrack_{count,max}: one decimal number.

export interface ConntrackStat {
  /** Column names in file order. */
  columns: string[];
  /** One row per CPU, values in column order (u32, exact as numbers). */
  rows: number[][];
}

const HEX = /^[0-9a-fA-F]{1,16}$/;
const NAME = /^[a-z_]+$/;

function checkTerminated(text: string, lines: string[], source: string): void {
  // procfs files end with a newline: a last line without one was cut short.
  if (text !== "" && !text.endsWith("\n")) {
    throw new Error(`${source}:${lines.length}: truncated (no newline at end of file)`);
  }
}

export function parseConntrackStat(text: string, source = "/proc/net/stat/nf_conntrack"): ConntrackStat {
  const lines = text.split("\n");
  checkTerminated(text, lines, source);
  const columns = (lines[0] ?? "").trim().split(/\s+/).filter(Boolean);
  if (columns.length === 0) throw new Error(`${source}:1: no header line`);
  for (const c of columns) {
    if (!NAME.test(c)) throw new Error(`${source}:1: bad column name ${JSON.stringify(c)} in the header`);
  }
  if (new Set(columns).size !== columns.length) throw new Error(`${source}:1: a column name appears twice in the header`);
  const rows: number[][] = [];
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i]!;
    if (line.trim() === "") continue;
    const where = `${source}:${i + 1}`;
    const words = line.trim().split(/\s+/);
    if (words.length !== columns.length) {
      throw new Error(`${where}: expected ${columns.length} values (one per header column), got ${words.length}`);
    }
    rows.push(
      words.map((w, c) => {
        if (!HEX.test(w)) throw new Error(`${where}: ${columns[c]} is not a hex number: ${JSON.stringify(w)}`);
        return Number(`0x${w}`);
      }),
    );
  }
  if (rows.length === 0) throw new Error(`${source}: no per-CPU lines after the header`);
  return { columns, rows };
}

/** Column → total over the CPUs, summed exactly (BigInt) and converted once. */
export function sumColumns(stat: ConntrackStat): Map<string, number> {
  const out = new Map<string, number>();
  stat.columns.forEach((name, c) => {
    let total = 0n;
    for (const row of stat.rows) total += BigInt(row[c]!);
    out.set(name, Number(total));
  });
  return out;
}

/** A sysctl file holding one unsigned decimal number ("262144\n"). */
export function parseSysctlUint(text: string, source: string): number {
  if (!/^\d+\n$/.test(text)) throw new Error(`${source}: expected one unsigned number and a newline, got ${JSON.stringify(text.slice(0, 40))}`);
  return Number(text.slice(0, -1));
}
