// Thin libc bindings used by the BPF runtime: mmap for the ring buffer, errno, vsnprintf for
// libbpf's print callback, memfd for loading embedded shared objects. No product logic here.
import { dlopen, FFIType as T, read, type Pointer } from "bun:ffi";

export const PROT_READ = 0x1;
export const PROT_WRITE = 0x2;
export const MAP_SHARED = 0x01;
export const MFD_CLOEXEC = 0x1;
const SC_PAGESIZE = 30;

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
export function memfdFromBytes(name: string, bytes: Uint8Array): number {
  const fd = libc().memfd_create(name, MFD_CLOEXEC);
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
