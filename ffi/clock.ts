// clock_gettime through libc: BPF timestamps (bpf_ktime_get_ns) are CLOCK_MONOTONIC, and
// neither Date nor process.hrtime exposes that clock's absolute value.
import { dlopen, FFIType, ptr } from "bun:ffi";

const CLOCK_MONOTONIC = 1;
const libc = dlopen("libc.so.6", {
  clock_gettime: { args: [FFIType.i32, FFIType.ptr], returns: FFIType.i32 },
});
const ts = new BigInt64Array(2); // module-lifetime buffer: native code writes into it

export function monotonicNs(): number {
  libc.symbols.clock_gettime(CLOCK_MONOTONIC, ptr(ts));
  return Number(ts[0]) * 1e9 + Number(ts[1]);
}

// epoch ms = monotonic ms + offset; the offset is re-read every second so a wall-clock step
// (NTP) is followed quickly, without a clock_gettime call per event.
let offsetMs = 0;
let offsetReadAt = -Infinity;

/** Milliseconds since the epoch for a CLOCK_MONOTONIC nanosecond timestamp. */
export function monotonicToEpochMs(tsNs: number): number {
  const now = Date.now();
  if (now - offsetReadAt > 1000 || now < offsetReadAt) {
    offsetMs = now - monotonicNs() / 1e6;
    offsetReadAt = now;
  }
  return tsNs / 1e6 + offsetMs;
}
