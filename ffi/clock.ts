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
