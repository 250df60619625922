// Parser for /proc/buddyinfo: free blocks per order, for each zone of each NUMA node:
//   Node 0, zone      DMA      0      0      0      0      0      0      0      0      1      1      3
// Column k is the number of free blocks of 2^k pages. The number of orders depends on the kernel
// configuration (11 on most x86_64 kernels, more with larger pages), so any count ≥ 1 is accepted.

export interface BuddyZone {
  node: string;
  zone: string;
  /** Free blocks by order, index = order. */
  blocks: number[];
}

const LINE = /^Node\s+(\d+),\s+zone\s+(\S+)((?:\s+\S+)+)\s*$/;
const UINT = /^\d+$/;

export function parseBuddyInfo(text: string, source = "/proc/buddyinfo"): BuddyZone[] {
  const out: BuddyZone[] = [];
  text.split("\n").forEach((line, i) => {
    if (line.trim() === "") return;
    const where = `${source}:${i + 1}`;
    const m = LINE.exec(line);
    if (!m) throw new Error(`${where}: expected "Node N, zone NAME count...", got ${JSON.stringify(line)}`);
    const words = m[3]!.trim().split(/\s+/);
    const blocks = words.map((w, order) => {
      if (!UINT.test(w)) throw new Error(`${where}: zone ${m[2]}: order ${order} is not a count: ${JSON.stringify(w)}`);
      return Number(w);
    });
    // Every zone prints the same number of orders; a shorter line is a truncated one.
    if (out.length > 0 && blocks.length !== out[0]!.blocks.length) {
      throw new Error(`${where}: zone ${m[2]}: ${blocks.length} orders, the first zone has ${out[0]!.blocks.length}`);
    }
    out.push({ node: m[1]!, zone: m[2]!, blocks });
  });
  if (out.length === 0) throw new Error(`${source}: empty file (every kernel has at least one zone)`);
  return out;
}
