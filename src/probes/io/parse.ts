// Parser for /proc/<pid>/io (task I/O accounting), "name: value" lines:
//   rchar: 323934931
//   wchar: 323929600
//   syscr: 632687
//   syscw: 632675
//   read_bytes: 0
//   write_bytes: 323932160
//   cancelled_write_bytes: 0
// Values are u64 and get summed over processes, so they are kept as BigInt (exact).

export interface ProcIo {
  /** Every field of the file, by name. */
  fields: Map<string, bigint>;
}

/** The fields the io probe needs; a file without one of them is refused. */
export const REQUIRED_IO_FIELDS = ["syscr", "syscw", "read_bytes", "write_bytes"] as const;

const LINE = /^([a-z_]+):\s+(\d+)$/;

export function parseProcIo(text: string, source = "/proc/self/io"): ProcIo {
  const lines = text.split("\n");
  if (text !== "" && !text.endsWith("\n")) {
    throw new Error(`${source}:${lines.length}: truncated (no newline at end of file)`);
  }
  const fields = new Map<string, bigint>();
  lines.forEach((line, i) => {
    if (line === "") return;
    const m = LINE.exec(line);
    if (!m) throw new Error(`${source}:${i + 1}: expected "name: value", got ${JSON.stringify(line)}`);
    fields.set(m[1]!, BigInt(m[2]!));
  });
  for (const f of REQUIRED_IO_FIELDS) {
    if (!fields.has(f)) throw new Error(`${source}: no "${f}:" line`);
  }
  return { fields };
}
