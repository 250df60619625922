// Kernel address → "name+0xoff [module]" from /proc/kallsyms. Addresses arrive as u32 halves
// (hi, lo) because kernel addresses do not fit a JS Number. The index is compact (typed arrays
// plus one packed name buffer), built lazily on first use and rebuilt (rate-limited) when an
// address falls outside what it knows, since modules and BPF programs come and go.
// When the kernel hides the addresses (kernel.kptr_restrict without CAP_SYSLOG: every address
// reads 0) or the file cannot be read, the index says so (unavailable()), and stacks are then
// reported as unsymbolized with that reason instead of silently as raw addresses.
//
// The kernel decides whether a reader sees addresses when the file is opened (with the opener's
// credentials), not on each read. So the file is opened once, while the agent still holds
// CAP_SYSLOG, and every rebuild re-reads that same descriptor from offset 0: rebuilds keep real
// addresses after the agent has dropped CAP_SYSLOG.
import { constants, openSync, readSync } from "node:fs";
import { capGet } from "../../ffi/libc.ts";

export interface KallsymsOptions {
  /** Minimum time between two rebuilds triggered by unknown addresses. */
  refreshMinMs?: number;
  /** An address this far past the nearest symbol start is treated as unknown. */
  maxOffset?: number;
  /** Injected reader (tests); defaults to reading `path`. */
  read?: (path: string) => Uint8Array;
  now?: () => number;
}

/** A kernel address (as u32 halves) → text, plus why symbols are missing, when they are. */
export interface Symbolizer {
  (hi: number, lo: number): string;
  /** Why addresses stay raw (e.g. "no CAP_SYSLOG: …"), undefined while symbols are available. */
  unavailable?(): string | undefined;
}

const CAP_SYSLOG = 34n;

/** Why every /proc/kallsyms address reads 0, for the calling thread's capabilities. */
function hiddenReason(): string {
  let syslog = false;
  try {
    syslog = ((capGet().effective >> CAP_SYSLOG) & 1n) === 1n;
  } catch {
    // no capget: say what a missing capability would explain
  }
  return syslog
    ? "kernel.kptr_restrict=2 hides kernel addresses even from CAP_SYSLOG (every /proc/kallsyms address reads 0)"
    : "no CAP_SYSLOG: every /proc/kallsyms address reads 0 (kernel.kptr_restrict, kernel.perf_event_paranoid)";
}

interface Index {
  hi: Uint32Array; // sorted by (hi, lo)
  lo: Uint32Array;
  nameOff: Uint32Array;
  nameLen: Uint16Array;
  modOff: Uint32Array; // 0 = core kernel; else offset into names of the module name
  modLen: Uint16Array;
  names: Uint8Array;
  count: number;
  loOnly: boolean; // every hi is the same (x86-64: 0xffffffff), search lo alone
  commonHi: number;
  /** Symbols listed but every address 0: the kernel hides them from this reader. */
  hidden: boolean;
}

const CACHE_LIMIT = 100_000;
const O_CLOEXEC = 0o2000000; // Linux (x86-64, arm64); not in node:fs constants
/** /proc/kallsyms is ~5–6 MiB; a file past this is not kallsyms. */
const MAX_KALLSYMS_BYTES = 256 << 20;

/** All of `fd` from offset 0 (positional reads: the descriptor is read again for every rebuild). */
function readAllFrom(fd: number, path: string): Uint8Array {
  let buf = new Uint8Array(8 << 20);
  let n = 0;
  for (;;) {
    if (n === buf.length) {
      if (buf.length >= MAX_KALLSYMS_BYTES) throw new Error(`${path}: larger than ${MAX_KALLSYMS_BYTES} bytes`);
      const bigger = new Uint8Array(buf.length * 2);
      bigger.set(buf);
      buf = bigger;
    }
    const got = readSync(fd, buf, n, buf.length - n, n);
    if (got === 0) return buf.subarray(0, n);
    n += got;
  }
}

function hexVal(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 97 && c <= 102) return c - 87;
  if (c >= 65 && c <= 70) return c - 55;
  return -1;
}

/** Parse kallsyms text (bytes) into a sorted index of text symbols (t, T, w, W). */
export function parseKallsyms(buf: Uint8Array): Index {
  // Upper bound on line count, for preallocation.
  let lines = 0;
  for (let i = 0; i < buf.length; i++) if (buf[i] === 10) lines++;
  lines++;
  const hiA = new Uint32Array(lines), loA = new Uint32Array(lines);
  const nOff = new Uint32Array(lines), nLen = new Uint16Array(lines);
  const mOff = new Uint32Array(lines), mLen = new Uint16Array(lines);
  const names = new Uint8Array(buf.length + 1);
  let namesUsed = 1; // offset 0 means "no module"
  const modules = new Map<string, number>();
  let n = 0;
  let i = 0;
  const len = buf.length;
  while (i < len) {
    // address: up to 16 hex digits
    let hi = 0, lo = 0, digits = 0;
    for (; i < len; i++) {
      const v = hexVal(buf[i]);
      if (v < 0) break;
      hi = ((hi << 4) | (lo >>> 28)) >>> 0;
      lo = ((lo << 4) | v) >>> 0;
      digits++;
    }
    const typeAt = i + 1;
    const nameStart = i + 3;
    let eol = buf.indexOf(10, i);
    if (eol < 0) eol = len;
    const t = buf[typeAt];
    if (digits > 0 && buf[i] === 32 && (t === 116 || t === 84 || t === 119 || t === 87) && nameStart < eol) {
      let nameEnd = nameStart;
      while (nameEnd < eol && buf[nameEnd] !== 9 && buf[nameEnd] !== 32) nameEnd++;
      let modOff = 0, modLen = 0;
      let lb = nameEnd;
      while (lb < eol && buf[lb] !== 91) lb++; // '[' of "\t[module]"
      if (lb < eol) {
        let rb = lb;
        while (rb < eol && buf[rb] !== 93) rb++;
        if (rb < eol) {
          const mod = String.fromCharCode(...buf.subarray(lb + 1, rb));
          let off = modules.get(mod);
          if (off === undefined) {
            off = namesUsed;
            names.set(buf.subarray(lb + 1, rb), off);
            namesUsed += rb - lb - 1;
            modules.set(mod, off);
          }
          modOff = off;
          modLen = rb - lb - 1;
        }
      }
      const nl = Math.min(nameEnd - nameStart, 0xffff);
      names.set(buf.subarray(nameStart, nameStart + nl), namesUsed);
      hiA[n] = hi; loA[n] = lo; nOff[n] = namesUsed; nLen[n] = nl; mOff[n] = modOff; mLen[n] = modLen;
      namesUsed += nl;
      n++;
    }
    i = eol + 1;
  }
  // Sort an index by (hi, lo), then gather.
  const order = new Uint32Array(n);
  for (let k = 0; k < n; k++) order[k] = k;
  let sorted = true;
  for (let k = 1; k < n && sorted; k++) sorted = hiA[k - 1] < hiA[k] || (hiA[k - 1] === hiA[k] && loA[k - 1] <= loA[k]);
  if (!sorted) order.sort((a, b) => hiA[a] - hiA[b] || loA[a] - loA[b]);
  const idx: Index = {
    hi: new Uint32Array(n), lo: new Uint32Array(n), nameOff: new Uint32Array(n), nameLen: new Uint16Array(n),
    modOff: new Uint32Array(n), modLen: new Uint16Array(n), names: names.slice(0, namesUsed), count: n,
    loOnly: true, commonHi: n ? hiA[order[0]] : 0, hidden: n > 0,
  };
  for (let k = 0; k < n; k++) {
    const s = order[k];
    idx.hi[k] = hiA[s]; idx.lo[k] = loA[s]; idx.nameOff[k] = nOff[s]; idx.nameLen[k] = nLen[s];
    idx.modOff[k] = mOff[s]; idx.modLen[k] = mLen[s];
    if (hiA[s] !== idx.commonHi) idx.loOnly = false;
    if (hiA[s] !== 0 || loA[s] !== 0) idx.hidden = false;
  }
  return idx;
}

/** Index of the last symbol at or below (hi, lo), or -1. */
function search(idx: Index, hi: number, lo: number): number {
  let a = 0, b = idx.count - 1, found = -1;
  if (idx.loOnly) {
    if (hi !== idx.commonHi) return hi > idx.commonHi ? idx.count - 1 : -1;
    const L = idx.lo;
    while (a <= b) {
      const m = (a + b) >>> 1;
      if (L[m] <= lo) { found = m; a = m + 1; } else b = m - 1;
    }
    return found;
  }
  const H = idx.hi, L = idx.lo;
  while (a <= b) {
    const m = (a + b) >>> 1;
    if (H[m] < hi || (H[m] === hi && L[m] <= lo)) { found = m; a = m + 1; } else b = m - 1;
  }
  return found;
}

function hex(hi: number, lo: number): string {
  return hi ? "0x" + (hi >>> 0).toString(16) + (lo >>> 0).toString(16).padStart(8, "0") : "0x" + (lo >>> 0).toString(16);
}

export class Kallsyms {
  private idx: Index | null = null;
  private cache = new Map<number | string, string>();
  private lastLoad = -Infinity;
  private readonly refreshMinMs: number;
  private readonly maxOffset: number;
  private readonly reader: (path: string) => Uint8Array;
  /** The descriptor every rebuild reads (see the top of the file); -1 until opened. */
  private fd = -1;
  private readonly injected: KallsymsOptions["read"];
  private readonly now: () => number;
  private unreadable: string | undefined;
  /** Why the addresses are hidden, worked out when the index is built (capabilities may drop later). */
  private hiddenWhy: string | undefined;
  /** symbolize() as a free function that also tells whether symbols are available. */
  readonly symbolizer: Symbolizer = Object.assign((hi: number, lo: number) => this.symbolize(hi, lo), {
    unavailable: () => this.unavailable(),
  });

  constructor(private readonly path: string, opts: KallsymsOptions = {}) {
    this.refreshMinMs = opts.refreshMinMs ?? 30_000;
    this.maxOffset = opts.maxOffset ?? 0x100000;
    this.injected = opts.read;
    this.reader = opts.read ?? ((p) => readAllFrom(this.held(p), p));
    this.now = opts.now ?? (() => performance.now());
  }

  /** Whether the index has been built (by a lookup or preload). */
  get loaded(): boolean {
    return this.idx !== null;
  }

  /** Number of text symbols indexed (loads the index). */
  get size(): number {
    return this.index().count;
  }

  /**
   * Why addresses cannot be symbolized ("no CAP_SYSLOG: …", "cannot read …"), or undefined when
   * they can. Loads the index.
   */
  unavailable(): string | undefined {
    const idx = this.index();
    if (this.unreadable) return this.unreadable;
    if (idx.count === 0) return `no text symbols in ${this.path}`;
    return idx.hidden ? (this.hiddenWhy ??= hiddenReason()) : undefined;
  }

  /** "name+0xoff" (plus " [module]"), or the hex address when no symbol covers it. */
  symbolize(hi: number, lo: number): string {
    hi >>>= 0; lo >>>= 0;
    const idx = this.index();
    const key: number | string = idx.loOnly && hi === idx.commonHi ? lo : `${hi}:${lo}`;
    const hit = this.cache.get(key);
    if (hit !== undefined) return hit;
    let s = this.resolve(idx, hi, lo);
    if (s === null && this.maybeRefresh()) s = this.resolve(this.index(), hi, lo);
    const out = s ?? hex(hi, lo);
    if (s !== null) {
      if (this.cache.size >= CACHE_LIMIT) this.cache.clear();
      this.cache.set(key, out);
    }
    return out;
  }

  /**
   * [start, end) of a core-kernel text symbol: from its address to the next symbol's. For
   * load-time decisions such as excluding drops freed inside neigh_invalidate.
   */
  range(name: string): { start: bigint; end: bigint } | undefined {
    const idx = this.index();
    const want = new TextEncoder().encode(name);
    for (let k = 0; k + 1 < idx.count; k++) {
      if (idx.nameLen[k] !== want.length || idx.modOff[k] !== 0) continue;
      let same = true;
      for (let j = 0; j < want.length && same; j++) same = idx.names[idx.nameOff[k] + j] === want[j];
      if (!same) continue;
      if (idx.hi[k] === 0 && idx.lo[k] === 0) return undefined; // addresses hidden by kptr_restrict
      const at = (i: number) => (BigInt(idx.hi[i]) << 32n) | BigInt(idx.lo[i]);
      return { start: at(k), end: at(k + 1) };
    }
    return undefined;
  }

  /**
   * Build the index now, reading the file without blocking the event loop (the kernel takes
   * ~60 ms to generate /proc/kallsyms); only the parse runs on the main thread.
   */
  async preload(): Promise<void> {
    if (this.idx) return;
    let bytes: Uint8Array | undefined;
    if (this.injected === undefined) {
      bytes = await Bun.file(this.path).bytes().catch(() => undefined);
      // Open the descriptor for later rebuilds now, while the agent holds what it started with.
      if (bytes) {
        try {
          this.held(this.path);
        } catch {
          // readable a moment ago: a later rebuild retries and says why if it fails
        }
      }
    }
    if (this.idx) return; // built meanwhile by a synchronous lookup
    if (bytes) {
      this.lastLoad = this.now();
      this.unreadable = undefined;
      this.idx = parseKallsyms(bytes);
      this.hiddenWhy = this.idx.hidden ? hiddenReason() : undefined;
    } else this.index();
  }

  /** The descriptor of `path`, opened on first use and kept for the life of the process. */
  private held(path: string): number {
    if (this.fd < 0) this.fd = openSync(path, constants.O_RDONLY | O_CLOEXEC);
    return this.fd;
  }

  /** Drop the index; the next lookup reloads it. */
  invalidate(): void {
    this.idx = null;
    this.cache.clear();
  }

  private index(): Index {
    if (!this.idx) {
      this.lastLoad = this.now();
      try {
        this.idx = parseKallsyms(this.reader(this.path));
        this.unreadable = undefined;
        this.hiddenWhy = this.idx.hidden ? hiddenReason() : undefined;
      } catch (err) {
        this.unreadable = `cannot read ${this.path}: ${(err as Error).message}`;
        this.idx = parseKallsyms(new Uint8Array(0)); // unreadable: every address stays hex
      }
    }
    return this.idx;
  }

  private maybeRefresh(): boolean {
    if (this.now() - this.lastLoad < this.refreshMinMs) return false;
    this.invalidate();
    return true;
  }

  private resolve(idx: Index, hi: number, lo: number): string | null {
    const k = search(idx, hi, lo);
    if (k < 0) return null;
    const off = (hi - idx.hi[k]) * 2 ** 32 + (lo - idx.lo[k]);
    if (off > this.maxOffset) return null;
    if (idx.hi[k] === 0 && idx.lo[k] === 0) return null; // kptr_restrict hides addresses
    const name = latin1(idx.names, idx.nameOff[k], idx.nameLen[k]);
    let s = `${name}+0x${off.toString(16)}`;
    if (idx.modOff[k]) s += ` [${latin1(idx.names, idx.modOff[k], idx.modLen[k])}]`;
    return s;
  }
}

function latin1(b: Uint8Array, off: number, len: number): string {
  return String.fromCharCode.apply(null, b.subarray(off, off + len) as unknown as number[]);
}
