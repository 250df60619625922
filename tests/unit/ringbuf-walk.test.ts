// walkRing on a synthetic ring: a data area of `size` bytes mapped twice back-to-back (as the
// kernel maps it), records written with the kernel's header format.
import { describe, expect, test } from "bun:test";
import { walkRing } from "../../src/bpf/ringbuf.ts";

const BUSY = 0x80000000;
const DISCARD = 0x40000000;

class FakeRing {
  readonly u32: Uint32Array;
  readonly u8: Uint8Array;
  prod: number;
  constructor(readonly size: number, start = 0) {
    this.u8 = new Uint8Array(2 * size);
    this.u32 = new Uint32Array(this.u8.buffer);
    this.prod = start;
  }
  /** Write bytes at ring position `pos`, into both copies of the data area. */
  private put(pos: number, bytes: Uint8Array): void {
    for (let i = 0; i < bytes.length; i++) {
      const o = (pos + i) % this.size;
      this.u8[o] = bytes[i];
      this.u8[o + this.size] = bytes[i];
    }
  }
  private hdr(pos: number, v: number): void {
    const b = new Uint8Array(4);
    new DataView(b.buffer).setUint32(0, v >>> 0, true);
    this.put(pos, b);
  }
  /** Append a record whose payload is `len` bytes of `fill`; returns its position. */
  push(len: number, fill: number, flags = 0): number {
    const pos = this.prod;
    this.hdr(pos, len | flags);
    this.put(pos + 8, new Uint8Array(len).fill(fill));
    this.prod += (len + 8 + 7) & ~7;
    return pos;
  }
  setFlags(pos: number, len: number, flags: number): void {
    this.hdr(pos, len | flags);
  }
}

function collect(r: FakeRing, cons: number, budget?: number) {
  const recs: { off: number; len: number; fill: number; intact: boolean }[] = [];
  const next = walkRing(r.u32, r.size, cons, r.prod, (off, len) => {
    const bytes = r.u8.subarray(off, off + len);
    recs.push({ off, len, fill: bytes[0], intact: bytes.every((b) => b === bytes[0]) });
  }, budget);
  return { next, recs };
}

describe("walkRing", () => {
  test("reads records in order and returns the producer position", () => {
    const r = new FakeRing(256);
    r.push(16, 1);
    r.push(5, 2); // padded to 8
    r.push(1, 3);
    const { next, recs } = collect(r, 0);
    expect(next).toBe(r.prod);
    expect(recs.map((x) => [x.off, x.len, x.fill])).toEqual([[8, 16, 1], [32, 5, 2], [48, 1, 3]]);
  });

  test("stops at a BUSY (uncommitted) record and resumes after commit", () => {
    const r = new FakeRing(256);
    r.push(8, 1);
    const busy = r.push(8, 2, BUSY);
    r.push(8, 3);
    let { next, recs } = collect(r, 0);
    expect(next).toBe(busy);
    expect(recs.map((x) => x.fill)).toEqual([1]);
    r.setFlags(busy, 8, 0);
    ({ next, recs } = collect(r, next));
    expect(recs.map((x) => x.fill)).toEqual([2, 3]);
    expect(next).toBe(r.prod);
  });

  test("skips DISCARDed records but advances past them", () => {
    const r = new FakeRing(256);
    r.push(8, 1);
    r.push(24, 2, DISCARD);
    r.push(8, 3);
    const { next, recs } = collect(r, 0);
    expect(recs.map((x) => x.fill)).toEqual([1, 3]);
    expect(next).toBe(r.prod);
  });

  test("a record that wraps is contiguous through the double mapping", () => {
    const r = new FakeRing(64, 48); // header at 48, payload runs past the end
    r.push(40, 7);
    const { recs } = collect(r, 48);
    expect(recs).toHaveLength(1);
    expect(recs[0].off).toBe(56);
    expect(recs[0].intact).toBe(true);
    expect(recs[0].off + recs[0].len).toBeGreaterThan(64);
  });

  test("positions beyond 2^32 use % (no int32 truncation)", () => {
    const start = 2 ** 33 + 2 ** 31 + 64; // exact as a Number; `& mask` would break here
    const r = new FakeRing(128, start);
    // produce and consume in turns so the ring never holds more than `size` bytes; wraps often
    let cons = start;
    const fills: number[] = [];
    for (let i = 0; i < 40; i += 4) {
      for (let k = 1; k <= 4; k++) r.push(12, i + k);
      const res = collect(r, cons);
      fills.push(...res.recs.map((x) => x.fill));
      expect(res.recs.every((x) => x.intact)).toBe(true);
      cons = res.next;
    }
    expect(cons).toBe(r.prod);
    expect(fills).toEqual(Array.from({ length: 40 }, (_, i) => i + 1));
    expect(fills.slice(-3)).toEqual([38, 39, 40]);
  });

  test("budget limits delivered records", () => {
    const r = new FakeRing(256);
    for (let i = 0; i < 5; i++) r.push(8, i + 1);
    const { next, recs } = collect(r, 0, 2);
    expect(recs.map((x) => x.fill)).toEqual([1, 2]);
    expect(next).toBe(32);
  });

  test("empty ring returns cons unchanged", () => {
    const r = new FakeRing(64);
    expect(collect(r, 0).next).toBe(0);
  });
});
