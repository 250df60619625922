// A thread that sleeps in epoll_wait for the main thread. It owns one epoll set plus an eventfd
// (only there to get the thread out of epoll_wait when it must exit) and runs
// ring-waiter.worker.ts: wait with no timeout, post "wake", park until the main thread has
// drained what was ready and calls rearm(). The ring scheduler and the netlink link listener both
// sleep this way, so the thread's lifecycle (start, failure, re-arm, stop and join) lives here once.
import { readdirSync } from "node:fs";
import { closeFd, EPOLLIN, epollAdd, epollCreate, epollDel, eventfdCreate, eventfdSignal } from "../../ffi/libc.ts";

/** workerData of ring-waiter.worker.ts. */
export interface RingWaiterInit {
  ctl: SharedArrayBuffer;
  index: { ARM: number; STOP: number };
  epfd: number;
  minIntervalMs: number;
}

export type RingWaiterMessage =
  | { type: "wake"; ready: number }
  | { type: "error"; errno: number; message?: string }
  | { type: "exit" };

// ctl (Int32Array over a SharedArrayBuffer) slots.
const ARM = 0; // 1: the waiter may epoll_wait; it sets 0 when it wakes, rearm() sets 1 after a drain
const STOP = 1; // 1: the waiter must exit

const JOIN_TIMEOUT_MS = 2000;
/** epoll data of the stop eventfd: never a real fd. */
const EVENTFD_TAG = 0xffffffff;

export interface WaiterThreadOptions {
  /** Minimum time between two wake-ups: bounds the drain rate under load (0: none). */
  minIntervalMs: number;
  /** The kernel reported a ready fd; drain, then call rearm(). */
  onWake(): void;
  /** The thread could not start or epoll_wait failed: the owner should poll instead. */
  onFailure(err: Error): void;
}

export class WaiterThread {
  private readonly ctl = new Int32Array(new SharedArrayBuffer(8));
  private epfd = -1;
  private evfd = -1;
  private worker: Worker | null = null;
  private workerGone: Promise<void> | null = null;
  private stopping: Promise<boolean> | null = null;

  /**
   * Create the epoll set and start the thread. Throws (with nothing left open) only when the fds
   * cannot be created; a thread that cannot start is reported through onFailure instead.
   */
  constructor(private readonly opts: WaiterThreadOptions) {
    const epfd = epollCreate();
    let evfd = -1;
    try {
      evfd = eventfdCreate();
      epollAdd(epfd, evfd, EPOLLIN, EVENTFD_TAG);
    } catch (err) {
      closeFd(epfd);
      if (evfd >= 0) closeFd(evfd);
      throw err;
    }
    this.epfd = epfd;
    this.evfd = evfd;
    this.ctl[ARM] = 1;
    this.spawn();
  }

  /** Watch `fd` for input (level-triggered); `data` comes back in the epoll event. */
  add(fd: number, data: number): void {
    if (this.epfd < 0) throw new Error("waiter thread is stopped");
    epollAdd(this.epfd, fd, EPOLLIN, data);
  }

  /** Stop watching `fd`; call before its owner closes it. ENOENT/EBADF are ignored. */
  remove(fd: number): void {
    if (this.epfd >= 0) epollDel(this.epfd, fd);
  }

  /** The drain is over: let the thread wait again. */
  rearm(): void {
    if (this.stopping) return;
    Atomics.store(this.ctl, ARM, 1);
    Atomics.notify(this.ctl, ARM);
  }

  /**
   * Make the thread leave epoll_wait (through the eventfd) and exit, then close the fds. Resolves
   * to whether it exited in time; if not, the fds are leaked on purpose: a thread still inside
   * epoll_wait keeps using the epoll fd, and a closed number could be reused under it. Idempotent.
   */
  stop(): Promise<boolean> {
    this.stopping ??= this.join();
    return this.stopping;
  }

  private async join(): Promise<boolean> {
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
      if (!joined) this.worker.terminate(); // should not happen: the eventfd wakes it
    }
    this.worker = null;
    if (joined) {
      closeFd(this.epfd);
      closeFd(this.evfd);
    }
    this.epfd = this.evfd = -1;
    return joined;
  }

  private spawn(): void {
    const init: RingWaiterInit = { ctl: this.ctl.buffer as SharedArrayBuffer, index: { ARM, STOP }, epfd: this.epfd, minIntervalMs: this.opts.minIntervalMs };
    let worker: Worker;
    try {
      worker = new Worker(waiterEntry(), { workerData: init } as WorkerOptions);
    } catch (err) {
      this.opts.onFailure(new Error(`cannot start the waiter thread: ${String(err)}`));
      return;
    }
    this.worker = worker;
    // Never keeps the process alive: the agent's server does, and a blocked epoll_wait must not.
    (worker as Worker & { unref(): void }).unref();
    this.workerGone = new Promise<void>((resolve) => worker.addEventListener("close", () => resolve(), { once: true }));
    worker.addEventListener("message", (ev: MessageEvent<RingWaiterMessage>) => {
      const m = ev.data;
      if (this.stopping) return;
      if (m.type === "wake") this.opts.onWake();
      else if (m.type === "error") this.opts.onFailure(new Error(`waiter: ${m.message ?? `epoll_wait errno ${m.errno}`}`));
    });
    worker.addEventListener("error", (ev: ErrorEvent) => {
      if (!this.stopping) this.opts.onFailure(new Error(`waiter thread failed: ${ev.message}`));
    });
  }
}

const WAITER = "ring-waiter.worker";

/**
 * The waiter thread's entry file. From source it sits next to this module. In a
 * `bun build --compile` binary every module is bundled into the entry file, so import.meta.url is
 * the binary's root (/$bunfs/root/<binary>) and the worker, an extra entrypoint, lives at its path
 * relative to the common root of all entrypoints (bpf/… for `src/main.ts`, src/bpf/… for
 * tests/e2e/test-entry.ts): look it up there rather than guess.
 */
export function waiterEntry(): string {
  const here = new URL(`./${WAITER}.ts`, import.meta.url).href;
  const dir = import.meta.dir;
  if (!dir.startsWith("/$bunfs/")) return here;
  try {
    for (const f of readdirSync(dir, { recursive: true }) as string[]) {
      const base = f.slice(f.lastIndexOf("/") + 1);
      if (base === `${WAITER}.js` || base === `${WAITER}.ts`) return `${dir}/${f}`;
    }
  } catch {
    // fall through: the Worker then fails with a clear "ModuleNotFound", reported via onFailure
  }
  return here;
}
