// Parser for /proc/net/softnet_stat: one line per online CPU, each value in hex (%08x):
//   0 processed      1 dropped          2 time_squeeze    3-7 always 0 (were fastroute stats)
//   8 cpu_collision (always 0 now)      9 received_rps    10 flow_limit_count
//   11 backlog_len   12 CPU number      (5.10+)           13 input_qlen  14 process_qlen (later)
// Older kernels stop after column 8, 9 or 10 and newer ones may add more: every row keeps what it
// has. Without the CPU column the row index is used (offline CPUs have no row there, so on such
// kernels it is the index of the online CPU).

export interface SoftnetRow {
  cpu: number;
  line: number;
  /** Every column, parsed; rows of one file normally have the same count. */
  columns: number[];
}

/** Columns every kernel prints (up to cpu_collision): fewer means a cut or foreign line. */
export const SOFTNET_MIN_COLUMNS = 9;
export const SOFTNET_CPU_COLUMN = 12;
const HEX = /^[0-9a-fA-F]{1,16}$/;

export function parseSoftnet(text: string, source = "/proc/net/softnet_stat"): SoftnetRow[] {
  const lines = text.split("\n");
  if (text !== "" && !text.endsWith("\n")) {
    throw new Error(`${source}:${lines.length}: truncated (no newline at end of file)`);
  }
  const rows: SoftnetRow[] = [];
  const seen = new Set<number>();
  lines.forEach((line, i) => {
    if (line.trim() === "") return;
    const where = `${source}:${i + 1}`;
    const words = line.trim().split(/\s+/);
    if (words.length < SOFTNET_MIN_COLUMNS) {
      throw new Error(`${where}: expected at least ${SOFTNET_MIN_COLUMNS} columns, got ${words.length}`);
    }
    const columns = words.map((w, c) => {
      if (!HEX.test(w)) throw new Error(`${where}: column ${c + 1} is not a hex number: ${JSON.stringify(w)}`);
      return Number(`0x${w}`);
    });
    const cpu = columns.length > SOFTNET_CPU_COLUMN ? columns[SOFTNET_CPU_COLUMN]! : rows.length;
    if (seen.has(cpu)) throw new Error(`${where}: CPU ${cpu} appears twice`);
    seen.add(cpu);
    rows.push({ cpu, line: i + 1, columns });
  });
  if (rows.length === 0) throw new Error(`${source}: no CPU lines`);
  return rows;
}
