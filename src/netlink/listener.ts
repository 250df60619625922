// rtnetlink link notifications (RTNLGRP_LINK: RTM_NEWLINK / RTM_DELLINK) without ever blocking
// the main thread. The subscribed socket sits in an epoll set of its own with an eventfd; the
// ring scheduler's waiter thread (src/bpf/ring-waiter.worker.ts, a generic "epoll_wait, tell
// the main thread, park until re-armed" loop) sleeps on it with no timeout, so the kernel wakes
// us when a notification is queued and an idle listener causes no wake-ups at all. The main
// thread then drains the socket with non-blocking receives (MSG_DONTWAIT) under a time budget and
// re-arms the waiter. Reusing that worker keeps `bun build --compile` at its existing entrypoints.
//
// When the kernel drops notifications (the socket's receive buffer was full: ENOBUFS), the
// owner is told (onOverrun) so it can re-read the state it tracks; nothing is lost silently.
import { closeFd, EPOLLIN, epollAdd, epollCreate, eventfdCreate, eventfdSignal } from "../../ffi/libc.ts";
import { NETLINK_ADD_MEMBERSHIP, NetlinkSocket, NetlinkSyscallError, SO_RCVBUF, SOL_NETLINK, SOL_SOCKET } from "../../ffi/netlink.ts";
import { waiterEntry, type RingWaiterInit, type RingWaiterMessage } from "../bpf/ring-scheduler.ts";
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
const JOIN_TIMEOUT_MS = 2000;
const ARM = 0;
const STOP = 1;

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
  private readonly ctl = new Int32Array(new SharedArrayBuffer(8));
  private epfd = -1;
  private evfd = -1;
  private worker: Worker | null = null;
  private workerGone: Promise<void> | null = null;
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
      l.closeFds();
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
    this.epfd = epollCreate();
    this.evfd = eventfdCreate();
    epollAdd(this.epfd, sock.fd, EPOLLIN, sock.fd);
    epollAdd(this.epfd, this.evfd, EPOLLIN, 0xffffffff);
    this.ctl[ARM] = 1;
    const init: RingWaiterInit = { ctl: this.ctl.buffer as SharedArrayBuffer, index: { ARM, STOP }, epfd: this.epfd, minIntervalMs: 0 };
    let worker: Worker;
    try {
      worker = new Worker(waiterEntry(), { workerData: init } as WorkerOptions);
    } catch (err) {
      this.waiterFailed(new Error(`cannot start the waiter thread: ${String(err)}`));
      return;
    }
    this.worker = worker;
    (worker as Worker & { unref(): void }).unref();
    this.workerGone = new Promise<void>((resolve) => worker.addEventListener("close", () => resolve(), { once: true }));
    worker.addEventListener("message", (ev: MessageEvent<RingWaiterMessage>) => {
      const m = ev.data;
      if (m.type === "wake") this.drain();
      else if (m.type === "error") this.waiterFailed(new Error(m.message ?? `epoll_wait errno ${m.errno}`));
    });
    worker.addEventListener("error", (ev: ErrorEvent) => this.waiterFailed(new Error(ev.message)));
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
    if (rearm && !this.fallback) {
      Atomics.store(this.ctl, ARM, 1);
      Atomics.notify(this.ctl, ARM);
    }
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
    Atomics.store(this.ctl, STOP, 1);
    Atomics.notify(this.ctl, STOP);
    Atomics.notify(this.ctl, ARM);
    if (this.evfd >= 0) eventfdSignal(this.evfd);
    let joined = true;
    if (this.worker && this.workerGone) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      joined = await Promise.race([
        this.workerGone.then(() => true),
        new Promise<boolean>((r) => (timer = setTimeout(() => r(false), JOIN_TIMEOUT_MS))),
      ]);
      clearTimeout(timer);
      if (!joined) this.worker.terminate();
    }
    this.worker = null;
    // A thread possibly still in epoll_wait keeps using the epoll fd: leak it rather than let
    // its number be reused under it. The socket is ours alone and always closed.
    if (joined) this.closeFds();
    else this.opts.socket.close();
  }

  private closeFds(): void {
    if (this.epfd >= 0) closeFd(this.epfd);
    if (this.evfd >= 0) closeFd(this.evfd);
    this.epfd = this.evfd = -1;
    this.opts.socket.close();
  }
}

