// Parser for /proc/<pid>/net/sockstat:
//   sockets: used 409
//   TCP: inuse 1 orphan 0 tw 75 alloc 171 mem 3
//   FRAG: inuse 0 memory 0
// Each line is a protocol followed by name/value pairs; which names appear depends on the kernel.

export interface SockstatLine {
  /** "sockets", "TCP", "UDP", "UDPLITE", "RAW", "FRAG", … */
  proto: string;
  fields: [name: string, value: number][];
}

const NAME = /^[a-z_]+$/;
const UINT = /^\d+$/;

export function parseSockstat(text: string, source = "/proc/net/sockstat"): SockstatLine[] {
  const out: SockstatLine[] = [];
  text.split("\n").forEach((line, i) => {
    if (line.trim() === "") return;
    const bad = (why: string) => new Error(`${source}:${i + 1}: ${why} in ${JSON.stringify(line)}`);
    const colon = line.indexOf(":");
    if (colon <= 0) throw bad("expected \"PROTO: name value ...\"");
    const proto = line.slice(0, colon).trim();
    const words = line.slice(colon + 1).trim().split(/\s+/);
    if (words.length % 2 !== 0) throw bad("expected name/value pairs");
    const fields: [string, number][] = [];
    for (let w = 0; w < words.length; w += 2) {
      const [name, value] = [words[w]!, words[w + 1]!];
      if (!NAME.test(name) || !UINT.test(value)) throw bad(`bad pair ${JSON.stringify(`${name} ${value}`)}`);
      fields.push([name, Number(value)]);
    }
    out.push({ proto, fields });
  });
  return out;
}
