// Parser for flat "key value" files: /proc/vmstat, and a cgroup's memory.stat and memory.events
// (memory_events reuses it):
//   nr_free_pages 1371954
//   pgscan_kswapd 0

const KEY = /^[A-Za-z0-9_.]+$/;
// Decimal integers; a minus sign is accepted for the few signed kernel counters.
const INT = /^-?\d+$/;

export function parseKeyValues(text: string, source: string): [key: string, value: number][] {
  const out: [string, number][] = [];
  const seen = new Set<string>();
  text.split("\n").forEach((line, i) => {
    if (line.trim() === "") return;
    const where = `${source}:${i + 1}`;
    const words = line.trim().split(/\s+/);
    if (words.length !== 2) throw new Error(`${where}: expected "key value", got ${JSON.stringify(line)}`);
    const [k, v] = words as [string, string];
    if (!KEY.test(k)) throw new Error(`${where}: bad key ${JSON.stringify(k)}`);
    if (!INT.test(v)) throw new Error(`${where}: ${k} is not an integer: ${JSON.stringify(v)}`);
    if (seen.has(k)) throw new Error(`${where}: duplicate key ${k}`);
    seen.add(k);
    out.push([k, Number(v)]);
  });
  // The kernel always prints some keys: nothing at all is a failed or truncated read.
  if (out.length === 0) throw new Error(`${source}: empty file`);
  return out;
}
