// Receive timestamps for net_rx_latency. The kernel stamps received packets (skb->tstamp) only
// while some socket asks for software receive timestamps (net_enable_timestamp, a system-wide
// static key): the probe holds one UDP socket with SO_TIMESTAMPING = SOF_TIMESTAMPING_RX_SOFTWARE
// for as long as it runs. The stamps are CLOCK_REALTIME and BPF reads CLOCK_MONOTONIC, so the
// offset between the two clocks is measured here and handed to the object.
//
// Declares its own libc symbols (ffi/ belongs to the BPF runtime); nothing here blocks.
import { dlopen, FFIType as T, ptr, read } from "bun:ffi";

const AF_INET = 2;
const SOCK_DGRAM = 2;
const SOCK_CLOEXEC = 0o2000000;
const SOL_SOCKET = 1;
const SO_TIMESTAMPING = 37; // SO_TIMESTAMPING_OLD: the same option number on every 64-bit ABI
const SOF_TIMESTAMPING_RX_SOFTWARE = 1 << 3;
const CLOCK_REALTIME = 0;
const CLOCK_MONOTONIC = 1;

const symbols = {
  __errno_location: { args: [], returns: T.ptr },
  strerror: { args: [T.i32], returns: T.cstring },
  socket: { args: [T.i32, T.i32, T.i32], returns: T.i32 },
  setsockopt: { args: [T.i32, T.i32, T.i32, T.ptr, T.u32], returns: T.i32 },
  close: { args: [T.i32], returns: T.i32 },
  clock_gettime: { args: [T.i32, T.ptr], returns: T.i32 },
} as const;

type Lib = ReturnType<typeof dlopen<typeof symbols>>["symbols"];
let lib: Lib | undefined;
function libc(): Lib {
  if (!lib) lib = dlopen("libc.so.6", symbols).symbols;
  return lib;
}

function errnoText(call: string): string {
  const p = libc().__errno_location();
  const e = p ? read.i32(p, 0) : 0;
  return `${call}: ${String(libc().strerror(e))} (errno ${e})`;
}

/** A socket that keeps the kernel's receive timestamps on until close(). */
export interface TimestampingHold {
  close(): void;
}

/** Opens the socket; throws with errno text when the kernel refuses. */
export function holdRxTimestamps(): TimestampingHold {
  const c = libc();
  const fd = c.socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw new Error(errnoText("socket(AF_INET, SOCK_DGRAM)"));
  const val = new Int32Array([SOF_TIMESTAMPING_RX_SOFTWARE]);
  if (c.setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPING, ptr(val), 4) < 0) {
    const msg = errnoText("setsockopt(SO_TIMESTAMPING, SOF_TIMESTAMPING_RX_SOFTWARE)");
    c.close(fd);
    throw new Error(msg);
  }
  let open = true;
  return {
    close() {
      if (!open) return;
      open = false;
      c.close(fd);
    },
  };
}

const ts = new BigInt64Array(2); // module-lifetime buffer: native code writes into it

function clockNs(clock: number): bigint {
  libc().clock_gettime(clock, ptr(ts));
  return ts[0]! * 1_000_000_000n + ts[1]!;
}

/**
 * CLOCK_REALTIME - CLOCK_MONOTONIC in ns: of ten real/mono/real readings, the one whose real-time
 * pair is closest, with mono taken as the middle of that pair.
 */
export function monoToRealOffsetNs(): bigint {
  let best = -1n;
  let offset = 0n;
  for (let i = 0; i < 10; i++) {
    const r1 = clockNs(CLOCK_REALTIME);
    const m = clockNs(CLOCK_MONOTONIC);
    const r2 = clockNs(CLOCK_REALTIME);
    const spread = r2 - r1;
    if (best < 0n || spread < best) {
      best = spread;
      offset = (r1 + r2) / 2n - m;
    }
  }
  return offset;
}
