// The event bus: probes publish shaped records, outputs (local files, OpenSearch, watch
// streams) subscribe. publish() never waits: each subscriber has its own bounded queue,
// and a record that does not fit is dropped for that subscriber only and counted, so one
// slow output can neither block a probe nor starve another output.
// publish() runs inside the BPF ring drain on the main thread, so it runs no subscriber
// code but onDrop: a subscriber's filter is applied when its consumer takes records
// (next/tryNext), not when they are published.
//
// Watch streams do not take per-client copies: the bus keeps one shared window of the most
// recent records (a ring, `windowSize` long) and each stream reads it through its own
// cursor (bus.reader). A reader whose unread records were overwritten is "behind": it knows
// exactly how many it lost and its owner decides what to do (the watch route tells the client
// and closes it). The same window serves Last-Event-ID resume. Publishing stays O(1) in the
// number of readers: it writes one slot and schedules one wake-up per turn of the event loop.
import type { EventRecord } from "./record.ts";

export type ResumeStatus = "none" | "replayed" | "unknown";

export interface SubscribeOptions {
  /** Output label for drop accounting ("localfile", "opensearch", "watch"). */
  name?: string;
  /**
   * Records the consumer wants. Applied as the consumer reads (next/tryNext skip records it
   * rejects; a throwing filter rejects), never inside publish. So the queue holds records
   * before filtering: `queued`, `dropped` and the queueSize bound count every published
   * record, including ones the filter would have rejected.
   */
  filter?: (record: EventRecord) => boolean;
  /** Records held for this subscriber before new ones are dropped (filtered or not). */
  queueSize: number;
  onDrop?: (record: EventRecord) => void;
  /** Resume: first deliver the window's records published after this tracer_id. */
  after?: string;
}

export interface ReaderOptions {
  /** Records the reader wants; applied as it reads (tryNext), never inside publish. */
  filter?: (record: EventRecord) => boolean;
  /** Sequence number of the first record to read (default: the next one published). */
  from?: number;
}

/**
 * A cursor over the bus's shared window. Sequence numbers count every record ever published
 * (the first is 0), so `lag` and `behind` are exact, counted before filtering.
 */
export interface WindowReader {
  /** Sequence number of the next record to read. */
  readonly cursor: number;
  /** Sequence number of the record tryNext returned last (-1 before the first). */
  readonly last: number;
  readonly closed: boolean;
  /** Records published that this reader has not read yet (before filtering). */
  lag(): number;
  /** Of those, how many the window overwrote before they were read: lost to this reader. */
  behind(): number;
  /** The next record that passes the filter; undefined when caught up, behind or closed. */
  tryNext(): EventRecord | undefined;
  /** Skip what was overwritten: continue at the oldest record still held. */
  skipLost(): void;
  /** Resolves after the next publish (once per event-loop turn) or on close. */
  ready(): Promise<void>;
  close(): void;
}

export interface Subscription extends AsyncIterable<EventRecord> {
  readonly name: string;
  /** Outcome of `after`: none asked, replayed from the ring, or id no longer known. */
  readonly resume: ResumeStatus;
  readonly replayed: number;
  /** Records the full queue had to refuse; counted before filtering. */
  readonly dropped: number;
  /** Records waiting, before filtering. */
  readonly queued: number;
  readonly closed: boolean;
  /** The next record that passes the filter, waiting for one; undefined once closed and drained. */
  next(): Promise<EventRecord | undefined>;
  /** The next queued record that passes the filter, without waiting (rejected ones are discarded). */
  tryNext(): EventRecord | undefined;
  /**
   * Resolves once a record is queued or the subscription is closed. The record may still be
   * one the filter rejects: tryNext() can then return undefined, and the consumer waits again.
   */
  ready(): Promise<void>;
  /** Stop receiving. Records already queued can still be read. */
  close(): void;
}

export interface BusStats {
  published_total: number;
  /** Published records per tracer_name. */
  published: Record<string, number>;
  /** Dropped records per subscriber name, including subscribers since closed. */
  dropped: Record<string, number>;
  subscribers: { name: string; queued: number; queue_size: number; dropped: number }[];
}

export interface EventBus {
  publish(record: EventRecord): void;
  subscribe(opts: SubscribeOptions): Subscription;
  /** A cursor over the shared window (watch streams). */
  reader(opts?: ReaderOptions): WindowReader;
  /** Sequence number the next published record will get (= records published so far). */
  head(): number;
  /** Sequence number of the oldest record the window still holds (= head() when empty). */
  oldest(): number;
  /** The record with this sequence number, if the window still holds it. */
  at(seq: number): EventRecord | undefined;
  /** Sequence number of the held record with this tracer_id (newest first search). */
  find(id: string): number | undefined;
  /** Records the window holds at most. */
  readonly windowSize: number;
  stats(): BusStats;
  /** Close every subscription (shutdown). */
  close(): void;
}

/** FIFO with O(1) push/shift and no unbounded growth of dead slots. */
class Fifo<T> {
  private items: (T | undefined)[] = [];
  private head = 0;
  get length() {
    return this.items.length - this.head;
  }
  push(v: T) {
    this.items.push(v);
  }
  shift(): T | undefined {
    if (this.head >= this.items.length) return undefined;
    const v = this.items[this.head];
    this.items[this.head++] = undefined;
    if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return v;
  }
}

class Sub implements Subscription {
  readonly queue = new Fifo<EventRecord>();
  dropped = 0;
  closed = false;
  resume: ResumeStatus = "none";
  replayed = 0;
  private waiters: (() => void)[] = [];

  constructor(
    readonly name: string,
    readonly queueSize: number,
    readonly filter: ((r: EventRecord) => boolean) | undefined,
    readonly onDrop: ((r: EventRecord) => void) | undefined,
    private readonly countDrop: (name: string) => void,
    private readonly detach: (s: Sub) => void,
  ) {}

  get queued() {
    return this.queue.length;
  }

  /** A throwing filter rejects the record rather than breaking its consumer. */
  accepts(r: EventRecord): boolean {
    if (!this.filter) return true;
    try {
      return this.filter(r);
    } catch {
      return false;
    }
  }

  /**
   * Called by publish; must not throw or wait, and runs no filter. A full queue drops the
   * record before anyone has looked at it, so a filtered subscriber's drops include records
   * it would have discarded anyway: the count is an upper bound of what it lost.
   * (A later rework of watch delivery may filter earlier, off the publish path.)
   */
  offer(r: EventRecord) {
    if (this.closed) return;
    if (this.queue.length >= this.queueSize) {
      this.dropped++;
      this.countDrop(this.name);
      try {
        this.onDrop?.(r);
      } catch {}
      return;
    }
    this.queue.push(r);
    this.wake();
  }

  /** Replayed records bypass the bound: the ring they come from is bounded already. */
  preload(r: EventRecord) {
    this.queue.push(r);
    this.replayed++;
  }

  private wake() {
    const w = this.waiters;
    if (w.length === 0) return;
    this.waiters = [];
    for (const f of w) f();
  }

  tryNext(): EventRecord | undefined {
    if (this.filter === undefined) return this.queue.shift();
    for (let r; (r = this.queue.shift()) !== undefined; ) if (this.accepts(r)) return r;
    return undefined;
  }

  ready(): Promise<void> {
    if (this.queue.length > 0 || this.closed) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  async next(): Promise<EventRecord | undefined> {
    for (;;) {
      const r = this.tryNext();
      if (r !== undefined || this.closed) return r;
      await this.ready();
    }
  }

  close() {
    if (this.closed) return;
    this.closed = true;
    this.detach(this);
    this.wake();
  }

  async *[Symbol.asyncIterator](): AsyncIterator<EventRecord> {
    for (;;) {
      const r = await this.next();
      if (r === undefined) return;
      yield r;
    }
  }
}

export interface BusOptions {
  /**
   * Records kept in the shared window (watch delivery and Last-Event-ID resume; default 8192,
   * enough for a healthy client to take a 5 000-event burst). 0 disables it (readers see nothing).
   */
  windowSize?: number;
}

/** Default window: a 5 000-event burst fits with room to spare; memory ≈ windowSize × record size. */
export const DEFAULT_WINDOW = 8192;

export function createEventBus(opts: BusOptions = {}): EventBus {
  const windowSize = Math.max(0, Math.floor(opts.windowSize ?? DEFAULT_WINDOW));
  const ring: (EventRecord | undefined)[] = new Array(windowSize);
  let head = 0; // total records ever published = sequence number of the next one
  const oldest = () => Math.max(0, head - windowSize);
  const at = (seq: number) => (seq >= oldest() && seq < head ? ring[seq % windowSize] : undefined);
  const subs = new Set<Sub>();
  let publishedTotal = 0;
  const published = new Map<string, number>();
  const dropped = new Map<string, number>();

  // Readers waiting for records. publish() only schedules one microtask per turn of the event
  // loop: a ring drain publishing thousands of records wakes each waiting stream once, after it.
  let waiters: (() => void)[] = [];
  let wakeQueued = false;
  let busClosed = false;
  const wakeReaders = () => {
    wakeQueued = false;
    const w = waiters;
    waiters = [];
    for (const f of w) f();
  };

  const countDrop = (name: string) => dropped.set(name, (dropped.get(name) ?? 0) + 1);

  function find(id: string): number | undefined {
    for (let i = head - 1, end = oldest(); i >= end; i--) if (ring[i % windowSize]!.tracer_id === id) return i;
    return undefined;
  }

  /** Records in the window after `id`, oldest first; null if `id` is not in the window. */
  function after(id: string): EventRecord[] | null {
    const i = find(id);
    if (i === undefined) return null;
    const out: EventRecord[] = [];
    for (let j = i + 1; j < head; j++) out.push(ring[j % windowSize]!);
    return out;
  }

  class Reader implements WindowReader {
    cursor: number;
    last = -1;
    private shut = false;
    get closed() {
      return this.shut || busClosed;
    }
    constructor(private readonly filter: ((r: EventRecord) => boolean) | undefined, from: number) {
      this.cursor = Math.min(Math.max(0, from), head);
    }
    lag() {
      return head - this.cursor;
    }
    behind() {
      return Math.max(0, oldest() - this.cursor);
    }
    skipLost() {
      this.cursor = Math.max(this.cursor, oldest());
    }
    tryNext(): EventRecord | undefined {
      if (this.closed || this.cursor < oldest()) return undefined;
      while (this.cursor < head) {
        const seq = this.cursor++;
        const r = ring[seq % windowSize]!;
        let ok = true;
        if (this.filter) {
          try {
            ok = this.filter(r);
          } catch {
            ok = false; // a throwing filter rejects, as for subscriptions
          }
        }
        if (ok) {
          this.last = seq;
          return r;
        }
      }
      return undefined;
    }
    ready(): Promise<void> {
      if (this.closed || this.cursor < head) return Promise.resolve();
      return new Promise((resolve) => waiters.push(resolve));
    }
    close() {
      this.shut = true;
    }
  }

  return {
    windowSize,
    head: () => head,
    oldest,
    at,
    find,

    publish(record) {
      publishedTotal++;
      published.set(record.tracer_name, (published.get(record.tracer_name) ?? 0) + 1);
      if (windowSize > 0) {
        ring[head % windowSize] = record;
        head++;
        if (waiters.length > 0 && !wakeQueued) {
          wakeQueued = true;
          queueMicrotask(wakeReaders);
        }
      }
      for (const s of subs) s.offer(record);
    },

    reader(o = {}) {
      return new Reader(o.filter, o.from ?? head);
    },

    subscribe(o) {
      if (!(o.queueSize >= 1)) throw new RangeError("queueSize must be at least 1");
      const name = o.name ?? "subscriber";
      if (!dropped.has(name)) dropped.set(name, 0);
      const s = new Sub(name, Math.floor(o.queueSize), o.filter, o.onDrop, countDrop, (x) => subs.delete(x));
      if (o.after !== undefined) {
        const missed = after(o.after);
        if (missed === null) s.resume = "unknown";
        else {
          // Filtered here (the subscriber's request, not publish) so `replayed` counts what
          // the client will get; tryNext applies the filter again, to the same answer.
          s.resume = "replayed";
          for (const r of missed) if (s.accepts(r)) s.preload(r);
        }
      }
      subs.add(s);
      return s;
    },

    stats() {
      return {
        published_total: publishedTotal,
        published: Object.fromEntries(published),
        dropped: Object.fromEntries(dropped),
        subscribers: [...subs].map((s) => ({
          name: s.name,
          queued: s.queued,
          queue_size: s.queueSize,
          dropped: s.dropped,
        })),
      };
    },

    close() {
      for (const s of [...subs]) s.close();
      busClosed = true;
      wakeReaders();
    },
  };
}
