// BPF_MAP_TYPE_RINGBUF consumer that maps the ring directly and parses records in place on the
// main thread: no libbpf, no callbacks. This file is the per-ring mapped view; when to consume is
// decided by the process-wide scheduler (ring-scheduler.ts), which a worker thread wakes up when
// the kernel reports data (epoll on the map fd), never by a polling timer.
//
// Layout (kernel ABI): page 0 = consumer position (we write it), page 1 = producer position,
// then the data area mapped twice back-to-back so a record that wraps is still contiguous.
import { toArrayBuffer, type Pointer } from "bun:ffi";
import { MAP_TYPE } from "../../ffi/libbpf.ts";
import { MAP_SHARED, mmapFd, munmap, pageSize, PROT_READ, PROT_WRITE } from "../../ffi/libc.ts";
import type { BpfMap } from "./object.ts";

const BUSY = 0x80000000; // record reserved, not yet committed
const DISCARD = 0x40000000; // record discarded by the producer: skip it
const LEN_MASK = 0x3fffffff;
const HDR = 8;

/**
 * Walk committed records from `cons` towards `prod`; returns the new consumer position.
 * `u32` views the (double-mapped) data area; positions are byte counts kept as Numbers (exact to
 * 2^53) and reduced with `%`, never `&` (bitwise ops truncate to int32).
 * Plain loads only: `Atomics.load` on a read-only mapping crashes once JIT-compiled.
 */
export function walkRing(
  u32: Uint32Array,
  size: number,
  cons: number,
  prod: number,
  onRec: (dataOffsetBytes: number, len: number) => void,
  budgetRecords = Infinity,
): number {
  let n = 0;
  while (cons < prod && n < budgetRecords) {
    const off = cons % size;
    const hdr = u32[off >>> 2];
    if (hdr & BUSY) break;
    const len = hdr & LEN_MASK;
    cons += (len + HDR + 7) & ~7;
    if (!(hdr & DISCARD)) {
      n++;
      onRec(off + HDR, len);
    }
  }
  return cons;
}

/** Called for each record with views over the read-only mapping; valid only during the call. */
export type RingRecordHandler = (u8: Uint8Array, dv: DataView, offset: number, length: number) => void;

export interface RingBufferOptions {
  /** A handler that throws is reported here; the record still counts as consumed. */
  onError?: (err: unknown) => void;
}

// Records per step of a synchronous drain() (between consumer-position publishes).
const DRAIN_CHUNK = 4096;

/**
 * One ring buffer mapped into this process. It does not schedule itself: call `step()` (the
 * scheduler does, round-robin over all rings) or `drain()`. `stop()` unmaps and is safe from
 * inside the handler (the unmap waits until the walk in progress returns).
 */
export class RingBufferReader {
  readonly name: string;
  readonly fd: number;
  private consumedTotal = 0;
  private errors = 0;
  private walking = false; // a walk is reading the mapping: stop() must not unmap under it
  private unmapPending = false;
  private mapped: { consPtr: Pointer; prodPtr: Pointer; page: number; prodLen: number } | null;
  private readonly consPos: BigUint64Array; // RW consumer page
  private readonly prodPos: BigUint64Array; // RO producer page: one 8-byte load, never torn
  private readonly data32: Uint32Array;
  private readonly data8: Uint8Array;
  private readonly dv: DataView;
  private readonly size: number;
  private cons: number;
  private readonly deliver: (off: number, len: number) => void;

  constructor(map: BpfMap, private readonly onRecord: RingRecordHandler, private readonly opts: RingBufferOptions = {}) {
    if (map.type !== MAP_TYPE.RINGBUF) throw new Error(`map ${map.name} is not a ring buffer (type ${map.type})`);
    this.name = map.name;
    this.fd = map.fd;
    this.size = map.maxEntries;
    const page = pageSize();
    const prodLen = page + 2 * this.size;
    const consPtr = mmapFd(page, PROT_READ | PROT_WRITE, MAP_SHARED, map.fd, 0);
    let prodPtr: Pointer;
    try {
      prodPtr = mmapFd(prodLen, PROT_READ, MAP_SHARED, map.fd, page);
    } catch (e) {
      munmap(consPtr, page);
      throw e;
    }
    this.mapped = { consPtr, prodPtr, page, prodLen };
    this.consPos = new BigUint64Array(toArrayBuffer(consPtr, 0, page), 0, 1);
    const prodBuf = toArrayBuffer(prodPtr, 0, prodLen);
    this.prodPos = new BigUint64Array(prodBuf, 0, 1);
    this.data32 = new Uint32Array(prodBuf, page, (2 * this.size) >>> 2);
    this.data8 = new Uint8Array(prodBuf, page, 2 * this.size);
    this.dv = new DataView(prodBuf, page, 2 * this.size);
    this.cons = Number(this.consPos[0]);
    this.deliver = (off, len) => {
      if (this.unmapPending) return; // stopped from inside a handler: drop the rest of this walk
      this.consumedTotal++;
      try {
        this.onRecord(this.data8, this.dv, off, len);
      } catch (e) {
        this.errors++;
        try {
          this.opts.onError?.(e);
        } catch {
          // an error reporter that throws must not stop the consumer either
        }
      }
    };
  }

  /** Total records delivered to the handler. */
  get consumed(): number {
    return this.consumedTotal;
  }

  /** Handler exceptions seen. */
  get handlerErrors(): number {
    return this.errors;
  }

  /** Bytes committed by the producer but not yet consumed (0 once stopped). */
  get pending(): number {
    return this.mapped && !this.unmapPending ? this.producer() - this.cons : 0;
  }

  /** False once stopped. */
  get active(): boolean {
    return this.mapped !== null && !this.unmapPending;
  }

  /** Unmap; idempotent; from inside this ring's handler the unmap happens when the walk returns. */
  stop(): void {
    if (this.walking) {
      this.unmapPending = true; // step() unmaps once the walk returns
      return;
    }
    this.unmap();
  }

  private unmap(): void {
    if (this.mapped) {
      const m = this.mapped;
      this.mapped = null;
      munmap(m.consPtr, m.page);
      munmap(m.prodPtr, m.prodLen);
    }
  }

  /** Consume everything committed right now, synchronously; returns records delivered. */
  drain(): number {
    const before = this.consumedTotal;
    while (this.mapped && this.step(DRAIN_CHUNK)) {}
    return this.consumedTotal - before;
  }

  /**
   * Consume what is committed, at most `maxRecords`: the last read before stop(), bounded even
   * while the producer keeps writing.
   */
  drainAtMost(maxRecords: number): number {
    const before = this.consumedTotal;
    let left = maxRecords;
    while (left > 0 && this.mapped && this.step(Math.min(DRAIN_CHUNK, left))) left = maxRecords - (this.consumedTotal - before);
    return this.consumedTotal - before;
  }

  /** The most records the ring can hold (each takes at least 16 bytes: header and data, 8-aligned). */
  get capacityRecords(): number {
    return Math.ceil(this.size / 16);
  }

  private producer(): number {
    // Plain load (Atomics.load on a read-only mapping crashes once JITted); one BigInt per chunk.
    return Number(this.prodPos[0]);
  }

  /**
   * Deliver up to `maxRecords` committed records; returns true if more may be waiting (call
   * again), false when the ring is empty, its head record is still being written (the kernel
   * wakes us when it is committed), or the reader is stopped.
   */
  step(maxRecords: number): boolean {
    if (!this.mapped || this.walking) return false;
    const prod = this.producer();
    if (this.cons >= prod) return false;
    this.walking = true;
    let next: number;
    try {
      next = walkRing(this.data32, this.size, this.cons, prod, this.deliver, maxRecords);
    } finally {
      this.walking = false;
    }
    if (this.unmapPending) {
      this.unmap();
      return false;
    }
    if (next === this.cons) return false; // head record still BUSY
    this.cons = next;
    // Lets the producer reuse the space. A sequentially consistent store (a full fence on x86),
    // so the producer position the caller reads next is not loaded ahead of it: a record
    // committed meanwhile is either seen by that load or sees our position and wakes us.
    Atomics.store(this.consPos, 0, BigInt(next));
    return true;
  }
}
