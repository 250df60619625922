// The capability drop on every other thread of the process. capset(2) changes the calling thread
// only, and the threads Bun starts itself (thread pool, JIT, GC helpers) run no JavaScript, so
// they cannot be asked to drop. As Go's psx does for ebpf_exporter, each thread is made to run
// the capset itself: a signal handler that calls capset and clears the ambient set, sent to one
// thread at a time with tgkill. The handler is a few lines of C compiled in memory by the
// runtime's built-in compiler (bun:ffi cc, from a source string: nothing outside the binary);
// libc's syscall() and errno come in as pointers, so no C library or headers are needed.
// A thread that blocks the signal (mimalloc's scavenger blocks nearly all) cannot be reached and
// keeps what it had; the caller lists those threads.
import { cc, dlopen, FFIType as T, type Pointer } from "bun:ffi";
import { readdirSync, readFileSync } from "node:fs";
import { closeFd, memfdFromBytes } from "../../ffi/libc.ts";
import type { CapabilitySets } from "../../ffi/libc.ts";

const SOURCE = `
typedef unsigned int u32;
typedef long (*syscall_fn)(long, ...);
typedef int *(*errno_fn)(void);
static syscall_fn sys;
static errno_fn errloc;
static long nr_capset, nr_prctl;
static u32 hdr[2];
static u32 data[6];
static volatile int done;
static volatile int failed;
/* Runs on the signalled thread: its own capset, then PR_CAP_AMBIENT_CLEAR_ALL. Keeps errno. */
void kp_handler(int sig) {
  int saved = *errloc();
  hdr[0] = 0x20080522; hdr[1] = 0;
  if (sys(nr_capset, hdr, data) != 0 || sys(nr_prctl, 47L, 4L, 0L, 0L, 0L) != 0) failed++;
  done++;
  *errloc() = saved;
}
void kp_setup(void *s, void *e, int capset, int prctl, u32 e0, u32 p0, u32 i0, u32 e1, u32 p1, u32 i1) {
  sys = (syscall_fn)s; errloc = (errno_fn)e; nr_capset = capset; nr_prctl = prctl;
  data[0] = e0; data[1] = p0; data[2] = i0; data[3] = e1; data[4] = p1; data[5] = i1;
}
int kp_done(void) { return done; }
int kp_failed(void) { return failed; }
void *kp_handler_ptr(void) { return (void *)kp_handler; }
`;

/** System call numbers by architecture: capset, prctl, tgkill. */
const SYSCALLS: Record<string, { capset: number; prctl: number; tgkill: number }> = {
  x64: { capset: 126, prctl: 157, tgkill: 234 },
  arm64: { capset: 91, prctl: 167, tgkill: 131 },
};

/** glibc's struct sigaction (x86-64 and arm64): handler @0, sa_mask @8 (128 bytes), sa_flags @136, restorer @144. */
const SIGACTION_SIZE = 152;
const SA_FLAGS_AT = 136;
const SA_RESTART = 0x10000000;
/** How long one thread may take to run the handler. */
const PER_THREAD_MS = 200;

type Compiled = ReturnType<typeof compile>;
// Kept for the life of the process: the handler stays installed (a blocked thread may take the
// signal later) and must never point at freed code.
let compiled: Compiled | undefined;
let installedSignal = 0;

function compile() {
  const fd = memfdFromBytes("kpulse-capset.c", new TextEncoder().encode(SOURCE));
  try {
    return cc({
      source: `/proc/self/fd/${fd}`,
      flags: ["-nostdlib"],
      symbols: {
        kp_setup: { args: [T.ptr, T.ptr, T.i32, T.i32, T.u32, T.u32, T.u32, T.u32, T.u32, T.u32], returns: T.void },
        kp_done: { args: [], returns: T.i32 },
        kp_failed: { args: [], returns: T.i32 },
        kp_handler_ptr: { args: [], returns: T.ptr },
      },
    });
  } finally {
    closeFd(fd);
  }
}

const sys = () =>
  dlopen("libc.so.6", {
    sigaction: { args: [T.i32, T.ptr, T.ptr], returns: T.i32 },
    syscall: { args: [T.i64, T.i64, T.i64, T.i64], returns: T.i64_fast },
    __errno_location: { args: [], returns: T.ptr },
  }).symbols;

/** The C address of a dlopen'ed libc function (bun:ffi gives each symbol its `ptr`). */
function addressOf(fn: unknown): Pointer {
  const p = (fn as { ptr?: Pointer }).ptr;
  if (!p) throw new Error("no address for a libc symbol");
  return p;
}

function statusMask(text: string, key: string): bigint {
  const m = new RegExp(`^${key}:\\s*([0-9a-f]+)$`, "m").exec(text);
  return m ? BigInt("0x" + m[1]) : 0n;
}

/** A real-time signal nobody in the process handles yet (Bun and JSC take some), highest first. */
function freeSignal(): number {
  const caught = statusMask(readFileSync("/proc/self/status", "utf8"), "SigCgt");
  for (let sig = 62; sig >= 40; sig--) if (!((caught >> BigInt(sig - 1)) & 1n)) return sig;
  throw new Error("no free real-time signal");
}

export interface OtherThreadsDrop {
  /** Threads that ran the handler. */
  dropped: number;
  /** Threads left as they were, with why (the signal is blocked, no answer in time, capset failed). */
  unreachable: { tid: number; comm: string; why: string }[];
}

interface OtherThread {
  tid: number;
  comm: string;
  status: string;
}

/** The threads other than the main one that hold more than `target`. */
function threadsAbove(target: CapabilitySets): OtherThread[] {
  const out: OtherThread[] = [];
  for (const t of readdirSync("/proc/self/task")) {
    const tid = Number(t);
    if (tid === process.pid) continue; // the main thread dropped its own
    try {
      const status = readFileSync(`/proc/self/task/${t}/status`, "utf8");
      const comm = readFileSync(`/proc/self/task/${t}/comm`, "utf8").trim();
      // At or below the target already (the ring waiter holds nothing): capset could only fail there.
      if (statusMask(status, "CapEff") & ~target.effective || statusMask(status, "CapPrm") & ~target.permitted) out.push({ tid, comm, status });
    } catch {
      // exited meanwhile
    }
  }
  return out;
}

/** The handler, compiled once and installed on a free real-time signal; returns that signal. */
function installHandler(libc: ReturnType<typeof sys>): { sig: number; k: Compiled["symbols"] } {
  compiled ??= compile();
  const k = compiled.symbols;
  if (!installedSignal) {
    const sig = freeSignal();
    const sa = new Uint8Array(SIGACTION_SIZE);
    const dv = new DataView(sa.buffer);
    dv.setBigUint64(0, BigInt(k.kp_handler_ptr()!), true);
    dv.setInt32(SA_FLAGS_AT, SA_RESTART, true); // a thread interrupted in read() carries on
    if (libc.sigaction(sig, sa, null) < 0) throw new Error(`sigaction(${sig}) failed`);
    installedSignal = sig;
  }
  return { sig: installedSignal, k };
}

/**
 * Give every other thread of the process the sets `target` (what the main thread now has).
 * Throws when the mechanism itself is unavailable (architecture, compiler, signal).
 */
export function dropOnOtherThreads(target: CapabilitySets): OtherThreadsDrop {
  const out: OtherThreadsDrop = { dropped: 0, unreachable: [] };
  const threads = threadsAbove(target);
  if (!threads.length) return out; // nothing to do: no compiler, no signal
  const nr = SYSCALLS[process.arch];
  if (!nr) throw new Error(`no system call numbers for ${process.arch}`);
  const libc = sys();
  const { sig, k } = installHandler(libc);
  const lo = (m: bigint) => Number(m & 0xffffffffn);
  const hi = (m: bigint) => Number((m >> 32n) & 0xffffffffn);
  k.kp_setup(addressOf(libc.syscall), addressOf(libc.__errno_location), nr.capset, nr.prctl,
    lo(target.effective), lo(target.permitted), lo(target.inheritable), hi(target.effective), hi(target.permitted), hi(target.inheritable));
  // One thread at a time: the handler's counters need no atomics, and each answer is its own.
  for (const { tid, comm, status } of threads) {
    if ((statusMask(status, "SigBlk") >> BigInt(sig - 1)) & 1n) {
      out.unreachable.push({ tid, comm, why: `blocks signal ${sig}` });
      continue;
    }
    const before = k.kp_done();
    const failedBefore = k.kp_failed();
    if (libc.syscall(nr.tgkill, process.pid, tid, sig) < 0) continue; // exited meanwhile
    const deadline = performance.now() + PER_THREAD_MS;
    while (k.kp_done() === before && performance.now() < deadline) Bun.sleepSync(1);
    if (k.kp_done() === before) out.unreachable.push({ tid, comm, why: `no answer within ${PER_THREAD_MS} ms` });
    else if (k.kp_failed() !== failedBefore) out.unreachable.push({ tid, comm, why: "capset failed" });
    else out.dropped++;
  }
  return out;
}
