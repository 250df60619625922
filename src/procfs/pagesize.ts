// The kernel page size, for counters the kernel reports in pages (sockstat mem, tcp_mem):
// AT_PAGESZ from this process's auxiliary vector, 4096 if it cannot be read.
import { readFileSync } from "node:fs";

const AT_PAGESZ = 6;
let cached: number | undefined;

export function pageSize(): number {
  if (cached !== undefined) return cached;
  cached = 4096;
  try {
    const auxv = readFileSync("/proc/self/auxv");
    const dv = new DataView(auxv.buffer, auxv.byteOffset, auxv.byteLength);
    for (let at = 0; at + 16 <= auxv.byteLength; at += 16) {
      if (dv.getUint32(at, true) === AT_PAGESZ && dv.getUint32(at + 4, true) === 0) {
        cached = dv.getUint32(at + 8, true);
        break;
      }
    }
  } catch {
    // keep 4096
  }
  return cached;
}
