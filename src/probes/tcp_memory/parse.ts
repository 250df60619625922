// Parser for /proc/sys/net/ipv4/tcp_mem: three page counts, "min pressure max" (tab-separated):
//   287898	383867	575796
// Past max, TCP refuses new socket memory; max is what HUATUO reports as the limit.

export interface TcpMem {
  minPages: number;
  pressurePages: number;
  maxPages: number;
}

const UINT = /^\d+$/;

export function parseTcpMem(text: string, source = "/proc/sys/net/ipv4/tcp_mem"): TcpMem {
  const words = text.trim().split(/\s+/);
  if (words.length !== 3 || words.some((w) => !UINT.test(w))) {
    throw new Error(`${source}: expected three page counts "min pressure max", got ${JSON.stringify(text.trim())}`);
  }
  const [min, pressure, max] = words.map(Number) as [number, number, number];
  return { minPages: min, pressurePages: pressure, maxPages: max };
}
