// Thin netlink socket bindings over libc: socket, bind, setsockopt(SO_RCVTIMEO), sendto, recv,
// close, and setns to create a socket inside another network namespace. Sockets, errno and
// buffers only: building requests and walking replies is in src/netlink/.
//
// Declares its own libc symbols (ffi/libc.ts belongs to the BPF runtime). Every call blocks the
// calling thread, at most for the receive timeout set at open, except tryRecv() (never waits).
// A netlink socket also carries the network-namespace ioctls (SIOCETHTOOL…, ifreqIoctl()).
import { dlopen, FFIType as T, ptr, read } from "bun:ffi";
import { closeSync, openSync } from "node:fs";

export const AF_NETLINK = 16;
export const NETLINK_ROUTE = 0;
export const NETLINK_SOCK_DIAG = 4;
const SOCK_RAW = 3;
const SOCK_CLOEXEC = 0o2000000;
export const SOL_SOCKET = 1;
const SO_RCVTIMEO = 20;
const MSG_TRUNC = 0x20;
const MSG_DONTWAIT = 0x40;
const CLONE_NEWNET = 0x40000000;
const EINTR = 4;
const EAGAIN = 11;
/** struct sockaddr_nl: u16 family, u16 pad, u32 pid, u32 groups. */
const SOCKADDR_NL_SIZE = 12;

const symbols = {
  __errno_location: { args: [], returns: T.ptr },
  strerror: { args: [T.i32], returns: T.cstring },
  socket: { args: [T.i32, T.i32, T.i32], returns: T.i32 },
  bind: { args: [T.i32, T.ptr, T.u32], returns: T.i32 },
  setsockopt: { args: [T.i32, T.i32, T.i32, T.ptr, T.u32], returns: T.i32 },
  getsockopt: { args: [T.i32, T.i32, T.i32, T.ptr, T.ptr], returns: T.i32 },
  // size_t / ssize_t as u64 / i64_fast: lengths here are small Numbers.
  sendto: { args: [T.i32, T.ptr, T.u64, T.i32, T.ptr, T.u32], returns: T.i64_fast },
  recv: { args: [T.i32, T.ptr, T.u64, T.i32], returns: T.i64_fast },
  close: { args: [T.i32], returns: T.i32 },
  setns: { args: [T.i32, T.i32], returns: T.i32 },
  // int ioctl(int fd, unsigned long request, ...): called with one pointer argument.
  ioctl: { args: [T.i32, T.u64, T.ptr], returns: T.i32 },
} as const;

/** setsockopt level of netlink options (NETLINK_ADD_MEMBERSHIP…). */
export const SOL_NETLINK = 270;
/** Join a multicast group after open: setOption(SOL_NETLINK, NETLINK_ADD_MEMBERSHIP, RTNLGRP_LINK). */
export const NETLINK_ADD_MEMBERSHIP = 1;
export const SO_RCVBUF = 8;
/** struct ifreq: char ifr_name[16], then a union (ifr_data: a pointer) padded to 40 bytes. */
const IFREQ_SIZE = 40;
const IFNAMSIZ = 16;

type Lib = ReturnType<typeof dlopen<typeof symbols>>["symbols"];
let lib: Lib | undefined;
function libc(): Lib {
  if (!lib) lib = dlopen("libc.so.6", symbols).symbols;
  return lib;
}

/** errno of this thread: read it right after the failing call, before any other FFI work. */
function errno(): number {
  const p = libc().__errno_location();
  return p ? read.i32(p, 0) : 0;
}

export function strerror(err: number): string {
  return String(libc().strerror(Math.abs(err)) ?? `errno ${err}`);
}

/** A failed system call, with its errno (e.g. EPERM from setns). */
export class NetlinkSyscallError extends Error {
  constructor(readonly call: string, readonly errno: number) {
    super(`${call}: ${strerror(errno)} (errno ${errno})`);
    this.name = "NetlinkSyscallError";
  }
}

/** recv() saw nothing within the receive timeout. */
export class NetlinkTimeoutError extends Error {
  override name = "NetlinkTimeoutError";
}

export interface NetlinkOpenOptions {
  /** Each recv() gives up after this long (SO_RCVTIMEO), so a silent kernel never hangs us. */
  recvTimeoutMs: number;
  /**
   * An nsfs file (/proc/<pid>/ns/net, /run/netns/<name>): the socket is created in that network
   * namespace and stays bound to it. Absent: the calling thread's own namespace.
   */
  netnsPath?: string;
}

export class NetlinkSocket {
  private closed = false;
  private constructor(readonly fd: number) {}

  static open(protocol: number, opts: NetlinkOpenOptions): NetlinkSocket {
    const fd = opts.netnsPath ? socketInNetns(protocol, opts.netnsPath) : newSocket(protocol);
    const sock = new NetlinkSocket(fd);
    try {
      // struct timeval { long tv_sec; long tv_usec; }
      const ms = Math.max(1, Math.floor(opts.recvTimeoutMs));
      const tv = new BigInt64Array([BigInt(Math.floor(ms / 1000)), BigInt((ms % 1000) * 1000)]);
      if (libc().setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, tv, 16) < 0) throw new NetlinkSyscallError("setsockopt(SO_RCVTIMEO)", errno());
      const addr = sockaddrNl();
      if (libc().bind(fd, addr, SOCKADDR_NL_SIZE) < 0) throw new NetlinkSyscallError("bind(AF_NETLINK)", errno());
    } catch (err) {
      sock.close();
      throw err;
    }
    return sock;
  }

  /** Send one datagram to the kernel (port id 0). */
  send(msg: Uint8Array): void {
    const addr = sockaddrNl();
    for (;;) {
      const n = Number(libc().sendto(this.fd, msg, msg.byteLength, 0, addr, SOCKADDR_NL_SIZE));
      if (n >= 0) {
        if (n !== msg.byteLength) throw new Error(`netlink sendto: sent ${n} of ${msg.byteLength} bytes`);
        return;
      }
      const e = errno();
      if (e !== EINTR) throw new NetlinkSyscallError("netlink sendto", e);
    }
  }

  /**
   * Receive one datagram into `buf`; returns its length. Throws NetlinkTimeoutError after the
   * receive timeout, and an Error when the datagram did not fit (MSG_TRUNC reports the real size).
   */
  recv(buf: Uint8Array): number {
    for (;;) {
      const n = Number(libc().recv(this.fd, buf, buf.byteLength, MSG_TRUNC));
      if (n >= 0) {
        if (n > buf.byteLength) throw new Error(`netlink recv: datagram of ${n} bytes does not fit in ${buf.byteLength}`);
        return n;
      }
      const e = errno();
      if (e === EINTR) continue;
      if (e === EAGAIN) throw new NetlinkTimeoutError("netlink recv: no reply from the kernel within the receive timeout");
      throw new NetlinkSyscallError("netlink recv", e);
    }
  }

  /**
   * Receive one datagram if one is queued, without waiting (MSG_DONTWAIT); null when none is.
   * Errors as recv() (ENOBUFS: the kernel dropped multicast messages, the receive buffer was full).
   */
  tryRecv(buf: Uint8Array): number | null {
    for (;;) {
      const n = Number(libc().recv(this.fd, buf, buf.byteLength, MSG_TRUNC | MSG_DONTWAIT));
      if (n >= 0) {
        if (n > buf.byteLength) throw new Error(`netlink recv: datagram of ${n} bytes does not fit in ${buf.byteLength}`);
        return n;
      }
      const e = errno();
      if (e === EINTR) continue;
      if (e === EAGAIN) return null;
      throw new NetlinkSyscallError("netlink recv", e);
    }
  }

  /** setsockopt with an int value (NETLINK_ADD_MEMBERSHIP, SO_RCVBUF…). */
  setOption(level: number, name: number, value: number): void {
    const v = new Int32Array([value]);
    if (libc().setsockopt(this.fd, level, name, v, 4) < 0) throw new NetlinkSyscallError(`setsockopt(${level}, ${name})`, errno());
  }

  /**
   * ioctl(fd, request, &ifreq) with ifr_name = `ifname` and ifr_data pointing at `data`
   * (SIOCETHTOOL and the like), in the socket's network namespace. `data` is read and written
   * in place by the kernel.
   */
  ifreqIoctl(request: number, ifname: string, data: Uint8Array): void {
    const name = new TextEncoder().encode(ifname);
    if (name.byteLength >= IFNAMSIZ) throw new Error(`interface name too long: ${ifname}`);
    const ifr = new Uint8Array(IFREQ_SIZE);
    ifr.set(name, 0);
    new DataView(ifr.buffer).setBigUint64(IFNAMSIZ, BigInt(ptr(data)), true);
    if (libc().ioctl(this.fd, request, ifr) < 0) throw new NetlinkSyscallError(`ioctl(${ifname}, 0x${request.toString(16)})`, errno());
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    libc().close(this.fd);
  }
}

function sockaddrNl(): Uint8Array {
  const a = new Uint8Array(SOCKADDR_NL_SIZE);
  new DataView(a.buffer).setUint16(0, AF_NETLINK, true); // pid 0, groups 0
  return a;
}

function newSocket(protocol: number): number {
  const fd = libc().socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, protocol);
  if (fd < 0) throw new NetlinkSyscallError(`socket(AF_NETLINK, ${protocol})`, errno());
  return fd;
}

/**
 * socket() inside the namespace at `netnsPath`: setns there, create, setns back. setns changes
 * only the calling thread, and nothing else runs on it in between (no await). A socket keeps the
 * namespace it was created in.
 */
function socketInNetns(protocol: number, netnsPath: string): number {
  const target = openSync(netnsPath, "r");
  let own: number;
  try {
    own = openSync("/proc/thread-self/ns/net", "r");
  } catch (err) {
    closeSync(target);
    throw err;
  }
  try {
    if (libc().setns(target, CLONE_NEWNET) < 0) throw new NetlinkSyscallError(`setns(${netnsPath})`, errno());
    let fd = -1;
    let createErr: unknown;
    try {
      fd = newSocket(protocol);
    } catch (err) {
      createErr = err;
    }
    if (libc().setns(own, CLONE_NEWNET) < 0) {
      // The thread is now stuck in the other namespace: never carry on silently.
      const e = errno();
      if (fd >= 0) libc().close(fd);
      throw new NetlinkSyscallError("setns back to the agent's own network namespace", e);
    }
    if (createErr) throw createErr;
    return fd;
  } finally {
    closeSync(own);
    closeSync(target);
  }
}

const SO_NETNS_COOKIE = 71;

/**
 * The kernel's cookie of the network namespace at `netnsPath` (e.g. /proc/<pid>/ns/net): the id
 * BPF programs see as net->net_cookie. Read with SO_NETNS_COOKIE (Linux 5.14+) on a socket made
 * inside that namespace; needs the right to setns there (CAP_SYS_ADMIN).
 */
export function netnsCookie(netnsPath: string): bigint {
  const fd = socketInNetns(NETLINK_ROUTE, netnsPath);
  try {
    const val = new BigUint64Array(1);
    const len = new Uint32Array([8]);
    if (libc().getsockopt(fd, SOL_SOCKET, SO_NETNS_COOKIE, ptr(val), ptr(len)) < 0) throw new NetlinkSyscallError("getsockopt(SO_NETNS_COOKIE)", errno());
    return val[0]!;
  } finally {
    libc().close(fd);
  }
}
