// The event bus: probes publish shaped records, outputs (local files, OpenSearch, watch
// streams) subscribe. publish() never waits: each subscriber has its own bounded queue,
// and a record that does not fit is dropped for that subscriber only and counted, so one
// slow output can neither block a probe nor starve another output.
// publish() runs inside the BPF ring drain on the main thread, so it runs no subscriber
// code but onDrop: a subscriber's filter is applied when its consumer takes records
// (next/tryNext), not when they are published.
// A small replay ring of recent records lets a watch client resume with Last-Event-ID.
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
  /** Resume: first deliver the ring's records published after this tracer_id. */
  after?: string;
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
  /** Records kept for Last-Event-ID resume (default 1024; 0 disables). */
  replaySize?: number;
}

export function createEventBus(opts: BusOptions = {}): EventBus {
  const replaySize = opts.replaySize ?? 1024;
  const ring: (EventRecord | undefined)[] = new Array(replaySize);
  let ringNext = 0; // total records ever written to the ring
  const subs = new Set<Sub>();
  let publishedTotal = 0;
  const published = new Map<string, number>();
  const dropped = new Map<string, number>();

  const countDrop = (name: string) => dropped.set(name, (dropped.get(name) ?? 0) + 1);

  /** Records in the ring after `id`, oldest first; null if `id` is not in the ring. */
  function after(id: string): EventRecord[] | null {
    const oldest = Math.max(0, ringNext - replaySize);
    for (let i = ringNext - 1; i >= oldest; i--) {
      if (ring[i % replaySize]!.tracer_id !== id) continue;
      const out: EventRecord[] = [];
      for (let j = i + 1; j < ringNext; j++) out.push(ring[j % replaySize]!);
      return out;
    }
    return null;
  }

  return {
    publish(record) {
      publishedTotal++;
      published.set(record.tracer_name, (published.get(record.tracer_name) ?? 0) + 1);
      if (replaySize > 0) ring[ringNext++ % replaySize] = record;
      for (const s of subs) s.offer(record);
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
    },
  };
}
