// One ring-buffer scheduler for the whole process, woken by the kernel instead of a timer.
//
// Every ring-buffer map fd is registered (EPOLLIN) in one epoll set. A worker thread
// (ring-waiter.worker.ts) blocks in epoll_wait on it with no timeout; the kernel makes a ring fd
// readable when it has data (producer flags 0 = adaptive wakeup: the first record committed after
// the consumer caught up wakes us). The worker posts one message and parks; the main thread then
// drains ALL rings in one cycle under ONE time budget, round-robin in chunks so a busy ring cannot
// starve a quiet one, continues with setImmediate when the budget runs out, and re-arms the worker
// when every ring is empty. An idle agent therefore does no ring-related wake-ups at all; under
// load the worker waits `minIntervalMs` after a wake-up before waiting again, which bounds the
// rate of drain cycles (and coalesces records into fewer, larger drains).
//
// Why no wake-up is lost: epoll is level-triggered, so a ring reported once stays on the ready
// list until an epoll_wait finds it empty, and epoll_wait only runs while the main thread is not
// draining. A ring found empty there gets the kernel's wake-up for its next record (that record is
// then at the consumer position). Records that land during a drain are either seen by it (each
// step re-reads the producer position after a fenced consumer-position store) or leave the ring
// readable for the next epoll_wait.
import type { BpfMap } from "./object.ts";
import { RingBufferReader, type RingRecordHandler } from "./ringbuf.ts";
import { WaiterThread } from "./waiter-thread.ts";

export type { RingRecordHandler };

export interface RingConsumer {
  readonly name: string;
  /** Records delivered to the handler. */
  readonly consumed: number;
  /** Handler exceptions (the record still counts as consumed). */
  readonly handlerErrors: number;
  /** Bytes committed but not yet consumed. */
  readonly pending: number;
  /** Consume everything now, synchronously (tests, benches); returns records delivered. */
  drain(): number;
  /**
   * Deliver what is already committed (bounded by the ring's capacity), then unregister and
   * unmap; idempotent; safe from inside its own handler (or another ring's).
   */
  stop(): void;
}

export interface RingSchedulerStats {
  /** Rings registered now. */
  rings: number;
  /** Times the waiter thread was woken by the kernel (one per drain cycle). */
  wakeups: number;
  /** Drain cycles run (each may span several setImmediate slices). */
  drains: number;
  /** Slices that ran out of time budget with records still waiting. */
  budgetExhausted: number;
}

export interface RingSchedulerOptions {
  /** Main-thread time per slice before yielding with setImmediate (default 5 ms). */
  budgetMs?: number;
  /** Records per ring per round-robin turn (default 64). */
  chunk?: number;
  /** Minimum time between two wake-ups of the waiter, i.e. between drain cycles (default 2 ms). */
  minIntervalMs?: number;
  /**
   * The waiter thread failed (it could not start, or epoll_wait failed); the scheduler then falls
   * back to polling every 10 ms so records still flow. Default: one line on stderr.
   */
  onError?: (err: Error) => void;
}

const FALLBACK_POLL_MS = 10;

interface Entry {
  readonly view: RingBufferReader;
  readonly consumer: RingConsumer;
  stopped: boolean;
  more: boolean; // within a cycle: may still have records
}

export class RingScheduler {
  private readonly budgetMs: number;
  private readonly chunk: number;
  private readonly minIntervalMs: number;
  private readonly onError: (err: Error) => void;
  private entries: Entry[] = []; // copy-on-write: a cycle iterates a stable snapshot
  private waiter: WaiterThread | null = null; // started with the first ring
  private fallback: ReturnType<typeof setInterval> | null = null;
  private immediate: ReturnType<typeof setImmediate> | null = null;
  private inCycle = false;
  private cursor = 0; // round-robin position carried across slices
  private closed = false;
  private closing: Promise<void> | null = null;
  private readonly st = { wakeups: 0, drains: 0, budgetExhausted: 0 };

  constructor(opts: RingSchedulerOptions = {}) {
    this.budgetMs = opts.budgetMs ?? 5;
    this.chunk = Math.max(1, Math.floor(opts.chunk ?? 64));
    this.minIntervalMs = Math.max(0, opts.minIntervalMs ?? 2);
    this.onError = opts.onError ?? ((err) => process.stderr.write(`kpulse: ring scheduler: ${err.message}\n`));
  }

  /** Map `map` (a BPF_MAP_TYPE_RINGBUF) and deliver its records to `onRecord` from now on. */
  add(map: BpfMap, onRecord: RingRecordHandler, opts: { name?: string; onError?: (err: unknown) => void } = {}): RingConsumer {
    if (this.closed) throw new Error("ring scheduler is closed");
    const waiter = this.ensureStarted();
    const view = new RingBufferReader(map, onRecord, { onError: opts.onError });
    try {
      waiter.add(map.fd, map.fd);
    } catch (err) {
      view.stop();
      throw err;
    }
    const name = opts.name ?? map.name;
    const consumer: RingConsumer = {
      name,
      get consumed() {
        return view.consumed;
      },
      get handlerErrors() {
        return view.handlerErrors;
      },
      get pending() {
        return view.pending;
      },
      drain: () => view.drain(),
      stop: () => {
        // What the kernel committed before the stop still reaches the handler (and so the
        // outputs): a probe stopped at shutdown loses nothing that was already in its ring.
        try {
          view.drainAtMost(view.capacityRecords);
        } catch {
          // a handler that throws is counted by the reader; stop anyway
        }
        this.remove(entry);
      },
    };
    const entry: Entry = { view, consumer, stopped: false, more: false };
    this.entries = [...this.entries, entry];
    return consumer;
  }

  /** True once close() was called. */
  get isClosed(): boolean {
    return this.closed;
  }

  stats(): RingSchedulerStats {
    return { rings: this.entries.length, ...this.st };
  }

  /** Stop the waiter thread (it leaves epoll_wait through the eventfd and exits) and unregister everything. */
  close(): Promise<void> {
    if (this.closing) return this.closing;
    this.closed = true;
    if (this.immediate) clearImmediate(this.immediate);
    if (this.fallback) clearInterval(this.fallback);
    this.immediate = this.fallback = null;
    for (const e of this.entries) this.remove(e);
    this.closing = this.waiter ? this.waiter.stop().then(() => undefined) : Promise.resolve();
    return this.closing;
  }

  private remove(e: Entry): void {
    if (e.stopped) return;
    e.stopped = true;
    e.more = false;
    // Before the map fd can be closed by its owner; ENOENT/EBADF mean it is already gone.
    this.waiter?.remove(e.view.fd);
    this.entries = this.entries.filter((x) => x !== e);
    e.view.stop(); // deferred to the end of the walk when called from a handler
  }

  private ensureStarted(): WaiterThread {
    this.waiter ??= new WaiterThread({
      minIntervalMs: this.minIntervalMs,
      onWake: () => this.onWake(),
      onFailure: (err) => this.workerFailed(err),
    });
    return this.waiter;
  }

  private workerFailed(err: Error): void {
    if (this.closed || this.fallback) return;
    this.onError(err);
    this.fallback = setInterval(() => {
      if (!this.inCycle) this.cycle();
    }, FALLBACK_POLL_MS);
    this.fallback.unref(); // like the waiter thread: never what keeps the process alive
  }

  private onWake(): void {
    if (this.closed) return;
    this.st.wakeups++;
    if (this.inCycle) return; // cannot happen: the waiter is parked until rearm()
    this.cycle();
  }

  private cycle(): void {
    this.inCycle = true;
    this.st.drains++;
    for (const e of this.entries) e.more = true;
    this.slice();
  }

  /** One budgeted slice of the current cycle: round-robin, `chunk` records per ring per turn. */
  private slice(): void {
    this.immediate = null;
    if (this.closed) return;
    const deadline = performance.now() + this.budgetMs;
    const list = this.entries;
    const n = list.length;
    let idle = 0; // consecutive rings (in round-robin order) found with nothing more
    let i = n ? this.cursor % n : 0;
    while (idle < n) {
      const e = list[i];
      i = i + 1 === n ? 0 : i + 1;
      if (!e.more || e.stopped) {
        idle++;
        continue;
      }
      e.more = e.view.step(this.chunk) && !e.stopped;
      if (this.closed) return; // a handler closed the scheduler
      idle = e.more ? 0 : idle + 1;
      if (performance.now() >= deadline && list.some((x) => x.more && !x.stopped)) {
        this.st.budgetExhausted++;
        this.cursor = i; // the next slice starts with the ring after this one
        this.immediate = setImmediate(() => this.slice());
        return;
      }
    }
    // Rings added during this cycle were not in `list`: a record already waiting in one of them
    // left its fd readable, so the next epoll_wait reports it at once.
    this.cursor = i;
    this.inCycle = false;
    this.rearm();
  }

  private rearm(): void {
    if (!this.closed) this.waiter?.rearm();
  }
}

let shared: RingScheduler | null = null;

/** The process-wide scheduler, created on first use (again after close()). */
export function sharedRingScheduler(): RingScheduler {
  if (!shared || shared.isClosed) shared = new RingScheduler();
  return shared;
}
