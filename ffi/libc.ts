// Thin libc bindings used by the BPF runtime: mmap for the ring buffer, errno, vsnprintf for
// libbpf's print callback, memfd for loading embedded shared objects, epoll + eventfd for the
// ring-buffer waiter thread. No product logic here.
//
// FFI symbols belong to the thread (JS realm) that opened them: a Worker that imports this module
// gets its own module instance and therefore its own lazy dlopen of the same declarations below.
import { dlopen, FFIType as T, read, type Pointer } from "bun:ffi";

export const PROT_READ = 0x1;
export const PROT_WRITE = 0x2;
export const MAP_SHARED = 0x01;
export const MFD_CLOEXEC = 0x1;
/** Linux 6.3+: the memfd can never be made executable (exec bits cleared and sealed); mmap still works. */
export const MFD_NOEXEC_SEAL = 0x8;
export const EINVAL = 22;
const SC_PAGESIZE = 30;

export const EINTR = 4;
export const EAGAIN = 11;
export const EPOLLIN = 0x001;
export const EPOLL_CTL_ADD = 1;
export const EPOLL_CTL_DEL = 2;
export const EPOLL_CLOEXEC = 0o2000000;
export const EFD_CLOEXEC = 0o2000000;
export const EFD_NONBLOCK = 0o4000;
/** struct epoll_event is packed on x86-64: u32 events at 0, u64 data at 4. */
export const EPOLL_EVENT_SIZE = 12;

const symbols = {
  __errno_location: { args: [], returns: T.ptr },
  mmap: { args: [T.ptr, T.u64, T.i32, T.i32, T.i32, T.i64], returns: T.ptr },
  munmap: { args: [T.ptr, T.u64], returns: T.i32 },
  memfd_create: { args: [T.cstring, T.u32], returns: T.i32 },
  write: { args: [T.i32, T.ptr, T.u64], returns: T.i64_fast },
  close: { args: [T.i32], returns: T.i32 },
  // size_t n declared u64 and passed as a Number; va_list is a pointer on x86-64 (__va_list_tag[1]).
  vsnprintf: { args: [T.ptr, T.u64, T.ptr, T.ptr], returns: T.i32 },
  memcpy: { args: [T.ptr, T.ptr, T.u64], returns: T.ptr },
  strerror: { args: [T.i32], returns: T.cstring },
  sysconf: { args: [T.i32], returns: T.i64_fast },
  read: { args: [T.i32, T.ptr, T.u64], returns: T.i64_fast },
  epoll_create1: { args: [T.i32], returns: T.i32 },
  epoll_ctl: { args: [T.i32, T.i32, T.i32, T.ptr], returns: T.i32 },
  epoll_wait: { args: [T.i32, T.ptr, T.i32, T.i32], returns: T.i32 },
  eventfd: { args: [T.u32, T.i32], returns: T.i32 },
} as const;

type LibC = ReturnType<typeof dlopen<typeof symbols>>["symbols"];
let lib: LibC | undefined;

/** The libc symbols, opened on first use. */
export function libc(): LibC {
  if (!lib) lib = dlopen("libc.so.6", symbols).symbols;
  return lib;
}

/** errno of the calling thread. Read it right after the failing call, before any other FFI work. */
export function errno(): number {
  const p = libc().__errno_location();
  return p ? read.i32(p, 0) : 0;
}

/**
 * True when a pointer return is NULL or a `(void*)-1`-style sentinel: bun:ffi hands pointers back
 * as Numbers, so MAP_FAILED arrives as ~1.8e19 rather than -1.
 */
export function isBadPointer(p: number | bigint | null | undefined): boolean {
  if (p === null || p === undefined) return true;
  const n = Number(p);
  return n === 0 || n >= 2 ** 63;
}

export function strerror(err: number): string {
  return String(libc().strerror(Math.abs(err)) ?? `errno ${err}`);
}

let pageSizeCache = 0;
export function pageSize(): number {
  if (!pageSizeCache) pageSizeCache = Number(libc().sysconf(SC_PAGESIZE)) || 4096;
  return pageSizeCache;
}

export class ErrnoError extends Error {
  constructor(public readonly call: string, public readonly errno: number) {
    super(`${call}: ${strerror(errno)} (errno ${errno})`);
    this.name = "ErrnoError";
  }
}

/** mmap a file descriptor; throws ErrnoError on MAP_FAILED. */
export function mmapFd(length: number, prot: number, flags: number, fd: number, offset: number): Pointer {
  const p = libc().mmap(null, length, prot, flags, fd, offset);
  if (isBadPointer(p)) throw new ErrnoError("mmap", errno());
  return p as Pointer;
}

export function munmap(p: Pointer, length: number): void {
  libc().munmap(p, length);
}

/** Write all of `bytes` into a new memfd (e.g. to dlopen an embedded library via /proc/self/fd/N). */
export function memfdFromBytes(name: string, bytes: Uint8Array, flags = MFD_CLOEXEC): number {
  const fd = libc().memfd_create(name, flags);
  if (fd < 0) throw new ErrnoError("memfd_create", errno());
  let done = 0;
  while (done < bytes.length) {
    const n = Number(libc().write(fd, bytes.subarray(done), bytes.length - done));
    if (n <= 0) {
      const e = errno();
      libc().close(fd);
      throw new ErrnoError("write", e);
    }
    done += n;
  }
  return fd;
}

export function closeFd(fd: number): void {
  libc().close(fd);
}

/** A new epoll instance (close-on-exec); throws ErrnoError. */
export function epollCreate(): number {
  const fd = libc().epoll_create1(EPOLL_CLOEXEC);
  if (fd < 0) throw new ErrnoError("epoll_create1", errno());
  return fd;
}

/** Register `fd` for `events`; `data` (a u32 here) comes back in each epoll_event. Throws ErrnoError. */
export function epollAdd(epfd: number, fd: number, events: number, data: number): void {
  const ev = new Uint8Array(EPOLL_EVENT_SIZE);
  const dv = new DataView(ev.buffer);
  dv.setUint32(0, events, true);
  dv.setUint32(4, data >>> 0, true);
  dv.setUint32(8, 0, true);
  if (libc().epoll_ctl(epfd, EPOLL_CTL_ADD, fd, ev) < 0) throw new ErrnoError("epoll_ctl(ADD)", errno());
}

/** Unregister `fd`; returns 0 or -errno (ENOENT/EBADF when it is already gone). */
export function epollDel(epfd: number, fd: number): number {
  // Linux ignores the event argument of EPOLL_CTL_DEL (non-NULL only for kernels before 2.6.9).
  if (libc().epoll_ctl(epfd, EPOLL_CTL_DEL, fd, null) < 0) return -errno();
  return 0;
}

/**
 * Wait for events into `buf` (room for `buf.byteLength / EPOLL_EVENT_SIZE` events); `timeoutMs`
 * -1 blocks. Returns the number of ready events, or -errno (e.g. -EINTR). Blocks the calling
 * thread: call it from a Worker, never from the main thread with a non-zero timeout.
 */
export function epollWait(epfd: number, buf: Uint8Array, timeoutMs: number): number {
  const n = libc().epoll_wait(epfd, buf, Math.floor(buf.byteLength / EPOLL_EVENT_SIZE), timeoutMs);
  return n < 0 ? -errno() : n;
}

/** A new eventfd (close-on-exec, non-blocking); throws ErrnoError. */
export function eventfdCreate(initval = 0): number {
  const fd = libc().eventfd(initval, EFD_CLOEXEC | EFD_NONBLOCK);
  if (fd < 0) throw new ErrnoError("eventfd", errno());
  return fd;
}

/** Add 1 to an eventfd's counter (makes it readable); returns 0 or -errno. */
export function eventfdSignal(fd: number): number {
  const one = new BigUint64Array([1n]);
  if (Number(libc().write(fd, one, 8)) !== 8) return -errno();
  return 0;
}

/** Read and reset an eventfd's counter; 0 when it was not signalled (non-blocking fd). */
export function eventfdDrain(fd: number): number {
  const v = new BigUint64Array(1);
  if (Number(libc().read(fd, v, 8)) !== 8) return 0;
  return Number(v[0]);
}

// ── flock(2), for the instance lock (src/storage/pidfile.ts) ──────────────────────────────
// Opened as its own small symbol set so the table above stays untouched.

export const LOCK_EX = 2;
export const LOCK_NB = 4;
export const LOCK_UN = 8;
/** EWOULDBLOCK is EAGAIN on Linux: the lock is held by another open file description. */
export const EWOULDBLOCK = EAGAIN;

let flockFn: ((fd: number, op: number) => number) | undefined;

/** flock(fd, op); returns 0 or -errno (e.g. -EWOULDBLOCK with LOCK_NB while another holds it). */
export function flock(fd: number, op: number): number {
  if (!flockFn) flockFn = dlopen("libc.so.6", { flock: { args: [T.i32, T.i32], returns: T.i32 } }).symbols.flock;
  return flockFn(fd, op) < 0 ? -errno() : 0;
}

// ── capget(2)/capset(2)/prctl(2), for the capability report and drop (src/privileges/) ───
// Its own small symbol set, as flock's. Capabilities belong to a thread: capget/capset with
// pid 0 read and change the calling thread only.

const LINUX_CAPABILITY_VERSION_3 = 0x20080522;
export const PR_CAPBSET_READ = 23;
export const PR_CAP_AMBIENT = 47;
export const PR_CAP_AMBIENT_IS_SET = 1;
export const PR_CAP_AMBIENT_CLEAR_ALL = 4;

/** The three per-thread capability sets as 64-bit masks (bit n = capability n). */
export interface CapabilitySets {
  effective: bigint;
  permitted: bigint;
  inheritable: bigint;
}

const capSymbols = {
  capget: { args: [T.ptr, T.ptr], returns: T.i32 },
  capset: { args: [T.ptr, T.ptr], returns: T.i32 },
  prctl: { args: [T.i32, T.u64, T.u64, T.u64, T.u64], returns: T.i32 },
} as const;
let capLib: ReturnType<typeof dlopen<typeof capSymbols>>["symbols"] | undefined;
const caps = () => (capLib ??= dlopen("libc.so.6", capSymbols).symbols);

/** The calling thread's sets (capget, version 3: two 32-bit words per set). Throws ErrnoError. */
export function capGet(): CapabilitySets {
  const hdr = new Uint32Array([LINUX_CAPABILITY_VERSION_3, 0]);
  const data = new Uint32Array(6); // [effective, permitted, inheritable] × 2 words
  if (caps().capget(hdr, data) < 0) throw new ErrnoError("capget", errno());
  const word = (i: number) => BigInt(data[i]!) | (BigInt(data[i + 3]!) << 32n);
  return { effective: word(0), permitted: word(1), inheritable: word(2) };
}

/** Set the calling thread's sets; returns 0 or -errno (EPERM when raising beyond permitted). */
export function capSet(s: CapabilitySets): number {
  const hdr = new Uint32Array([LINUX_CAPABILITY_VERSION_3, 0]);
  const lo = (m: bigint) => Number(m & 0xffffffffn);
  const hi = (m: bigint) => Number((m >> 32n) & 0xffffffffn);
  const data = new Uint32Array([
    lo(s.effective), lo(s.permitted), lo(s.inheritable),
    hi(s.effective), hi(s.permitted), hi(s.inheritable),
  ]);
  return caps().capset(hdr, data) < 0 ? -errno() : 0;
}

/** prctl(option, a2, a3, 0, 0); returns its result or -errno. */
export function prctl(option: number, a2 = 0, a3 = 0): number {
  const r = caps().prctl(option, a2, a3, 0, 0);
  return r < 0 ? -errno() : r;
}
