// BPF timestamps (bpf_ktime_get_ns) are CLOCK_MONOTONIC; events carry wall-clock time.
import { monotonicNs } from "../../ffi/clock.ts";

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
