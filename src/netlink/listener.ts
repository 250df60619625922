// rtnetlink link notifications (RTNLGRP_LINK: RTM_NEWLINK / RTM_DELLINK) without ever blocking
// the main thread. The subscribed socket sits in the epoll set of a waiter thread of its own
// (src/bpf/waiter-thread.ts, the ring scheduler's "epoll_wait, tell the main thread, park until
// re-armed" loop) which sleeps with no timeout, so the kernel wakes us when a notification is
// queued and an idle listener causes no wake-ups at all. The main thread then drains the socket
// with non-blocking receives (MSG_DONTWAIT) under a time budget and re-arms the waiter. Reusing
// that worker keeps `bun build --compile` at its existing entrypoints.
//
// When the kernel drops notifications (the socket's receive buffer was full: ENOBUFS), the
// owner is told (onOverrun) so it can re-read the state it tracks; nothing is lost silently.
import { NETLINK_ADD_MEMBERSHIP, NetlinkSocket, NetlinkSyscallError, SO_RCVBUF, SOL_NETLINK, SOL_SOCKET } from "../../ffi/netlink.ts";
import { WaiterThread } from "../bpf/waiter-thread.ts";
import type { Logger } from "../log.ts";
import { walkMessages } from "./wire.ts";
import { parseLinkMessage, RTM_DELLINK, RTM_NEWLINK, RTNLGRP_LINK, type LinkMessage } from "./links.ts";

const ENOBUFS = 105;
/** Receive buffer asked for (the kernel caps it at net.core.rmem_max): room for bursts. */
const RCVBUF_BYTES = 1 << 20;
/** One datagram: a link notification is a single message of a few KiB. */
const DATAGRAM_BYTES = 64 << 10;
/** Main-thread time per drain slice before yielding with setImmediate. */
const BUDGET_MS = 5;
/** Poll period when the waiter thread cannot run (fallback only). */
const FALLBACK_POLL_MS = 250;

export interface LinkListenerOptions {
  /** The socket to subscribe (e.g. hostNetlink(…).open(NETLINK_ROUTE)); the listener owns it. */
  socket: NetlinkSocket;
  log: Logger;
  /** Link messages of one drain, in arrival order. */
  onLinks(links: LinkMessage[]): void;
  /** The kernel dropped notifications (ENOBUFS): re-read the state. */
  onOverrun(): void;
  /** Names the listener in logs and errors. */
  name: string;
}

export interface LinkListenerStats {
  datagrams: number;
  links: number;
  /** ENOBUFS seen: notifications the kernel dropped. */
  overruns: number;
  /** Messages that did not parse (counted, first few logged). */
  malformed: number;
  /** Exceptions thrown by onLinks / onOverrun. */
  handlerErrors: number;
}

export class LinkListener {
  readonly stats: LinkListenerStats = { datagrams: 0, links: 0, overruns: 0, malformed: 0, handlerErrors: 0 };
  private readonly buf = new Uint8Array(DATAGRAM_BYTES);
  private readonly view = new DataView(this.buf.buffer);
  private waiter: WaiterThread | null = null;
  private fallback: ReturnType<typeof setInterval> | null = null;
  private immediate: ReturnType<typeof setImmediate> | null = null;
  private draining = false;
  private stopped = false;
  private stopping: Promise<void> | null = null;

  private constructor(private readonly opts: LinkListenerOptions) {}

  /** Join RTNLGRP_LINK on `opts.socket` and start waiting; on failure the socket is closed. */
  static start(opts: LinkListenerOptions): LinkListener {
    const l = new LinkListener(opts);
    try {
      l.init();
    } catch (err) {
      void l.stop(); // joins the waiter if it started, closes the socket
      throw err;
    }
    return l;
  }

  private init(): void {
    const sock = this.opts.socket;
    sock.setOption(SOL_NETLINK, NETLINK_ADD_MEMBERSHIP, RTNLGRP_LINK);
    try {
      sock.setOption(SOL_SOCKET, SO_RCVBUF, RCVBUF_BYTES);
    } catch (err) {
      this.opts.log.warn("cannot enlarge the netlink receive buffer", { err: String(err) });
    }
    this.waiter = new WaiterThread({ minIntervalMs: 0, onWake: () => this.drain(), onFailure: (err) => this.waiterFailed(err) });
    this.waiter.add(sock.fd, sock.fd);
  }

  private waiterFailed(err: Error): void {
    if (this.stopped || this.fallback) return;
    this.opts.log.warn("link listener waiter failed, polling instead", { listener: this.opts.name, err: err.message, every_ms: FALLBACK_POLL_MS });
    this.fallback = setInterval(() => {
      if (!this.draining) this.drain(false);
    }, FALLBACK_POLL_MS);
    this.fallback.unref();
  }

  /** Receive everything queued, in budgeted slices; then re-arm the waiter. */
  private drain(rearm = true): void {
    this.immediate = null;
    if (this.stopped) return;
    this.draining = true;
    const deadline = performance.now() + BUDGET_MS;
    const batch: LinkMessage[] = [];
    let more = true;
    try {
      while (performance.now() < deadline) {
        let n: number | null;
        try {
          n = this.opts.socket.tryRecv(this.buf);
        } catch (err) {
          if (err instanceof NetlinkSyscallError && err.errno === ENOBUFS) {
            this.stats.overruns++;
            this.deliver(batch.splice(0));
            this.call(() => this.opts.onOverrun());
            continue;
          }
          throw err;
        }
        if (n === null) {
          more = false;
          break;
        }
        this.stats.datagrams++;
        this.parse(n, batch);
      }
    } catch (err) {
      // A receive error other than ENOBUFS (EBADF after stop…): log it, keep the listener alive.
      this.stats.handlerErrors++;
      if (this.stats.handlerErrors <= 5) this.opts.log.warn("link listener receive failed", { listener: this.opts.name, err: String(err) });
      more = false;
    }
    this.deliver(batch);
    if (this.stopped) return;
    if (more) {
      this.immediate = setImmediate(() => this.drain(rearm));
      return;
    }
    this.draining = false;
    if (rearm && !this.fallback) this.waiter?.rearm();
  }

  private parse(length: number, out: LinkMessage[]): void {
    const where = `netlink RTNLGRP_LINK notification (${this.opts.name})`;
    try {
      for (const msg of walkMessages(this.view, length, where)) {
        if (msg.type !== RTM_NEWLINK && msg.type !== RTM_DELLINK) continue;
        try {
          out.push(parseLinkMessage(this.view, msg, where));
          this.stats.links++;
        } catch (err) {
          this.malformed(err);
        }
      }
    } catch (err) {
      this.malformed(err);
    }
  }

  private malformed(err: unknown): void {
    this.stats.malformed++;
    if (this.stats.malformed <= 5) this.opts.log.warn("malformed link notification", { listener: this.opts.name, err: String(err) });
  }

  private deliver(batch: LinkMessage[]): void {
    if (batch.length) this.call(() => this.opts.onLinks(batch));
  }

  private call(fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.stats.handlerErrors++;
      if (this.stats.handlerErrors <= 5) this.opts.log.warn("link listener handler failed", { listener: this.opts.name, err: String(err) });
    }
  }

  /** Stop the waiter (through the eventfd), then close the socket and the epoll set. Idempotent. */
  stop(): Promise<void> {
    if (this.stopping) return this.stopping;
    this.stopped = true;
    if (this.immediate) clearImmediate(this.immediate);
    if (this.fallback) clearInterval(this.fallback);
    this.immediate = this.fallback = null;
    this.stopping = this.join();
    return this.stopping;
  }

  private async join(): Promise<void> {
    try {
      await this.waiter?.stop();
    } finally {
      this.opts.socket.close(); // ours alone: closed even if the waiter had to be abandoned
    }
  }
}
