// Netlink sockets in the host's network namespace, the netlink twin of hostNetFile(): the host
// is pid 1's namespace (<procfs>/proc/1/ns/net), which differs from kpulse's own when it runs
// in a container without hostNetwork. When both are the same, no namespace switch happens; when
// pid 1's namespace cannot be entered (not root, no such file), kpulse's own is used, with one
// warning. A container source later passes /proc/<pid>/ns/net the same way.
import { statSync } from "node:fs";
import { NetlinkSocket, NetlinkSyscallError } from "../../ffi/netlink.ts";
import type { Logger } from "../log.ts";
import type { ProcfsRoot } from "../procfs/root.ts";
import type { NetlinkTransport } from "./request.ts";

/** Each recv() of a reply waits at most this long. */
export const RECV_TIMEOUT_MS = 3000;

/** An open netlink socket as the collectors use it (a fake kernel in unit tests). */
export interface NetlinkConn extends NetlinkTransport {
  close(): void;
}

export interface NetlinkOpener {
  /** Which namespace the sockets go to, for messages ("/proc/1/ns/net" or "own network namespace"). */
  describe(): string;
  open(protocol: number): NetlinkConn;
}

const sameFile = (a: string, b: string) => {
  const x = statSync(a);
  const y = statSync(b);
  return x.dev === y.dev && x.ino === y.ino;
};

export function hostNetlink(procfs: ProcfsRoot, log: Logger, recvTimeoutMs = RECV_TIMEOUT_MS): NetlinkOpener {
  const hostNs = procfs.proc("1", "ns", "net");
  let warned = false;
  let usingOwn = false;
  const own = (protocol: number) => NetlinkSocket.open(protocol, { recvTimeoutMs });
  return {
    describe: () => (usingOwn ? "own network namespace" : hostNs),
    open(protocol) {
      let inHost: boolean;
      try {
        inHost = sameFile(hostNs, "/proc/thread-self/ns/net");
      } catch (err) {
        return fallback(protocol, err);
      }
      if (inHost) {
        usingOwn = false;
        return own(protocol);
      }
      try {
        const sock = NetlinkSocket.open(protocol, { recvTimeoutMs, netnsPath: hostNs });
        usingOwn = false;
        return sock;
      } catch (err) {
        // Failing to come back to our own namespace is not something to paper over.
        if (err instanceof NetlinkSyscallError && err.call.startsWith("setns back")) throw err;
        return fallback(protocol, err);
      }
    },
  };

  function fallback(protocol: number, err: unknown): NetlinkSocket {
    usingOwn = true;
    if (!warned) {
      warned = true;
      log.warn("host network namespace not accessible, netlink uses the agent's own", { path: hostNs, err: (err as Error).message });
    }
    return own(protocol);
  }
}

/** Open a socket, run `fn` with it, close it. */
export function withSocket<T>(opener: NetlinkOpener, protocol: number, fn: (sock: NetlinkConn) => T): T {
  const sock = opener.open(protocol);
  try {
    return fn(sock);
  } finally {
    sock.close();
  }
}
