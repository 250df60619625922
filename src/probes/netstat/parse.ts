// Parser for /proc/<pid>/net/snmp and /proc/<pid>/net/netstat: rows come in pairs, a header line
// of field names and a value line, both starting with the same "Proto:":
//   Tcp: RtoAlgorithm RtoMin RtoMax MaxConn ActiveOpens ...
//   Tcp: 1 200 120000 -1 455 ...
// Values are integers and may be negative (Tcp MaxConn is -1). Newer kernels add fields at the
// end of a row; the names come from the header, so they are picked up as they are.

export interface NetstatRow {
  /** "Tcp", "TcpExt", "Ip", "IpExt", "MPTcpExt", … */
  proto: string;
  fields: [name: string, value: number][];
}

const INT = /^-?\d+$/;

function split(line: string): { proto: string; words: string[] } | undefined {
  const colon = line.indexOf(":");
  if (colon <= 0) return undefined;
  const rest = line.slice(colon + 1).trim();
  return { proto: line.slice(0, colon), words: rest === "" ? [] : rest.split(/\s+/) };
}

export function parseNetstat(text: string, source = "/proc/net/netstat"): NetstatRow[] {
  const lines = text.split("\n");
  const out: NetstatRow[] = [];
  for (let i = 0; i < lines.length; i++) {
    if (lines[i]!.trim() === "") continue;
    const head = split(lines[i]!);
    if (!head) throw new Error(`${source}:${i + 1}: expected "Proto: Field ...", got ${JSON.stringify(lines[i])}`);
    const j = i + 1;
    const vals = j < lines.length && lines[j]!.trim() !== "" ? split(lines[j]!) : undefined;
    if (!vals) throw new Error(`${source}:${j + 1}: ${head.proto}: header without a value line`);
    if (vals.proto !== head.proto) {
      throw new Error(`${source}:${j + 1}: ${head.proto} header followed by a ${JSON.stringify(vals.proto)} line`);
    }
    if (vals.words.length !== head.words.length) {
      throw new Error(`${source}:${j + 1}: ${head.proto}: ${vals.words.length} values for ${head.words.length} fields`);
    }
    const fields: [string, number][] = head.words.map((name, k) => {
      const raw = vals.words[k]!;
      if (!INT.test(raw)) throw new Error(`${source}:${j + 1}: ${head.proto} ${name} is not an integer: ${JSON.stringify(raw)}`);
      return [name, Number(raw)];
    });
    out.push({ proto: head.proto, fields });
    i = j;
  }
  return out;
}
