// The OpenSearch sink's durable spool: events the backend has not taken yet, on disk, in order.
//
// Layout of the spool directory:
//   0000000000000001.ndjson …   segments, one HUATUO document per line (the bytes the local file
//                               gets), appended in order; the newest is the tail
//   cursor                      "<segment> <byte offset>": where the next unsent line starts
//   dead-letter.ndjson (+ .1)   documents the backend rejected for good (DeadLetterFile below)
//
// Appends are fdatasync'ed once per call (one call per batch): when append() resolves, the lines
// survive kill -9 and power loss. Appends and reads are asynchronous (the thread pool does the
// I/O), so a slow disk never holds up the main thread, where the BPF rings are drained; appends
// run one at a time, in call order. A failed append is rolled back (truncated),
// so a retry cannot leave half a line. The reader hands out batches from the head segment;
// commit() moves the cursor past a batch the backend acknowledged, deletes consumed segments
// and rewrites the cursor file (tmp + rename). A batch sent but not yet committed when the
// agent dies is sent again on restart: the sink indexes with _id = tracer_id, so a replay
// overwrites and never duplicates.
//
// Bound: `maxBytes` of segment files. When an append would pass it, the OLDEST segments are
// deleted (whole files, no rewriting) and their unsent events counted in `dropped`: the newest
// events describe the machine as it is now, which is what an operator needs when the backend
// returns, and the local files keep the older ones with the same oldest-first policy. A segment
// a batch is being sent from is skipped. Only a single line bigger than the whole bound is
// refused (also counted).
//
// On open, the tail segment is repaired: bytes after its last newline (a write cut by kill -9)
// are cut, unless they are a complete JSON document, which gets its newline back.
import {
  closeSync,
  existsSync,
  fdatasyncSync,
  fstatSync,
  ftruncateSync,
  openSync,
  readdirSync,
  readFileSync,
  readSync,
  renameSync,
  unlinkSync,
  writeFileSync,
  writeSync,
} from "node:fs";
import { open, type FileHandle } from "node:fs/promises";
import { join } from "node:path";
import type { Logger } from "../log.ts";
import { EVENT_FILE_MODE, makeEventDir, openEventFile } from "./file-modes.ts";

const KiB = 1024;
const MiB = 1024 * KiB;
const SEGMENT = /^(\d{16})\.ndjson$/;
const NL = 0x0a;
/** Bytes per write() while appending. */
const CHUNK = 1 * MiB;

interface Segment {
  seq: number;
  path: string;
  /** Bytes written (what the file holds once the current append returns). */
  size: number;
  /** Complete lines (events) in the file. */
  lines: number;
}

/** Lines handed to the sender, all from one segment, starting at the cursor. */
export interface SpoolBatch {
  readonly seq: number;
  readonly start: number;
  readonly end: number;
  readonly lines: string[];
}

export interface SpoolOptions {
  dir: string;
  /** Most bytes of segment files kept; beyond it the oldest segments go (counted). */
  maxBytes: number;
  /** Size at which the tail segment is closed and a new one started (default maxBytes/16, 64 KiB–64 MiB). */
  segmentBytes?: number;
  log?: Logger;
}

/** What open() found and fixed, for the log and tests. */
export interface SpoolRecovery {
  segments: number;
  events: number;
  bytes: number;
  /** Bytes cut from the tail segment (a torn last line), 0 when it was whole. */
  repairedBytes: number;
}

export class Spool {
  readonly dir: string;
  readonly maxBytes: number;
  readonly segmentBytes: number;
  /** Unsent events deleted to stay within maxBytes. */
  dropped = 0;
  readonly recovery: SpoolRecovery;

  private segs: Segment[] = [];
  private nextSeq = 1;
  /** Bytes and lines of every segment file, consumed parts included. */
  private totalBytes = 0;
  private totalLines = 0;
  /** The cursor, always inside segs[0]. */
  private headOff = 0;
  private headLine = 0;
  private tailFd: FileHandle | undefined;
  private readFd: { seq: number; fh: FileHandle } | undefined;
  /** The last append in the queue: appends run one after another. */
  private appending: Promise<void> = Promise.resolve();
  private appendsInFlight = 0;
  /** Segment a batch is being sent from: not deleted to make room. */
  private readLock: number | undefined;
  private readonly log: Logger | undefined;

  constructor(opts: SpoolOptions) {
    this.dir = opts.dir;
    this.maxBytes = opts.maxBytes;
    this.segmentBytes = opts.segmentBytes ?? Math.min(64 * MiB, Math.max(64 * KiB, Math.floor(opts.maxBytes / 16)));
    this.log = opts.log;
    makeEventDir(this.dir);
    this.recovery = this.open();
  }

  /** Events written and not yet committed. */
  get pendingEvents(): number {
    return this.totalLines - this.headLine;
  }

  /** Bytes of those events. */
  get pendingBytes(): number {
    return this.totalBytes - this.headOff;
  }

  /** Bytes of segment files on disk (what the bound applies to). */
  get diskBytes(): number {
    return this.totalBytes;
  }

  // ── writing ────────────────────────────────────────────────────────────────────────────────

  /**
   * Append documents (one line each, in order) and fdatasync. All or nothing: on an error
   * (ENOSPC, EIO) every byte this call wrote is truncated away again and the promise rejects;
   * the caller still holds the documents. Documents that cannot fit even after dropping the
   * oldest segments are counted in `dropped` and skipped. Calls are queued: each starts when
   * the previous one has finished, so lines land in call order.
   */
  append(docs: readonly string[]): Promise<void> {
    this.appendsInFlight++;
    const run = this.appending.then(() => this.appendNow(docs));
    this.appending = run.then(
      () => void this.appendsInFlight--,
      () => void this.appendsInFlight--,
    );
    return run;
  }

  private async appendNow(docs: readonly string[]): Promise<void> {
    if (docs.length === 0) return;
    // Sizes before this call, to roll back to; segments this call created.
    const before = new Map<Segment, { size: number; lines: number }>();
    const created: Segment[] = [];
    // Lines are encoded into `buf` and written a chunk at a time; a segment's size grows only
    // once its bytes are written, so a reader never sees a line that is not in the file.
    let buf = Buffer.allocUnsafe(Math.min(CHUNK, 64 * KiB));
    let used = 0;
    let lines = 0;
    const flush = async () => {
      if (used === 0) return;
      const tail = this.segs[this.segs.length - 1]!;
      const fh = (this.tailFd ??= await open(tail.path, "a"));
      let off = 0;
      while (off < used) off += (await fh.write(buf, off, used - off)).bytesWritten;
      tail.size += used;
      tail.lines += lines;
      this.totalBytes += used;
      this.totalLines += lines;
      used = 0;
      lines = 0;
    };
    try {
      for (const doc of docs) {
        const len = Buffer.byteLength(doc) + 1;
        while (this.totalBytes + used + len > this.maxBytes && this.dropOldest()) {}
        if (this.totalBytes + used + len > this.maxBytes) {
          this.dropped++;
          continue;
        }
        let tail = this.segs[this.segs.length - 1];
        if (tail === undefined || (tail.size + used + len > this.segmentBytes && tail.size + used > 0)) {
          await flush();
          if (tail && this.tailFd !== undefined) await this.tailFd.datasync();
          tail = await this.newSegment();
          created.push(tail);
        }
        if (!before.has(tail)) before.set(tail, { size: tail.size, lines: tail.lines });
        if (used + len > buf.length) {
          await flush();
          if (len > buf.length) buf = Buffer.allocUnsafe(Math.max(len, Math.min(2 * buf.length, CHUNK)));
          else if (buf.length < CHUNK) buf = Buffer.allocUnsafe(CHUNK);
        }
        buf.write(doc, used);
        buf[used + len - 1] = NL;
        used += len;
        lines++;
        if (used >= CHUNK) await flush();
      }
      await flush();
      if (this.tailFd !== undefined) await this.tailFd.datasync();
    } catch (e) {
      await this.rollback(before, created);
      throw e;
    }
  }

  private async rollback(before: Map<Segment, { size: number; lines: number }>, created: Segment[]) {
    for (const [seg, was] of before) {
      if (!this.segs.includes(seg) || created.includes(seg)) continue;
      try {
        const fd = openSync(seg.path, "r+");
        try {
          ftruncateSync(fd, was.size);
        } finally {
          closeSync(fd);
        }
      } catch {}
      this.totalBytes -= seg.size - was.size;
      this.totalLines -= seg.lines - was.lines;
      seg.size = was.size;
      seg.lines = was.lines;
      // Lines read (and sent) from the part cut away: the cursor cannot point past the end.
      if (seg === this.segs[0] && this.headOff > seg.size) [this.headOff, this.headLine] = [seg.size, seg.lines];
    }
    for (const seg of created) {
      const i = this.segs.indexOf(seg);
      if (i < 0) continue;
      this.segs.splice(i, 1);
      this.totalBytes -= seg.size;
      this.totalLines -= seg.lines;
      if (this.tailFd !== undefined && i === this.segs.length) await this.closeTail();
      try {
        unlinkSync(seg.path);
      } catch {}
    }
    if (this.segs.length === 0) this.headOff = this.headLine = 0;
  }

  private async newSegment(): Promise<Segment> {
    await this.closeTail();
    const seq = this.nextSeq++;
    const seg: Segment = { seq, path: segmentPath(this.dir, seq), size: 0, lines: 0 };
    this.tailFd = await openEventFile(seg.path, "a");
    this.segs.push(seg);
    // The new name must survive a crash too.
    try {
      const d = await open(this.dir, "r");
      try {
        await d.datasync();
      } finally {
        await d.close();
      }
    } catch {}
    return seg;
  }

  private async closeTail() {
    const fh = this.tailFd;
    this.tailFd = undefined;
    await fh?.close().catch(() => {});
  }

  /** Delete the oldest segment that is neither the tail nor being sent from. */
  private dropOldest(): boolean {
    for (let i = 0; i < this.segs.length - 1; i++) {
      const s = this.segs[i]!;
      if (s.seq === this.readLock) continue;
      this.dropped += i === 0 ? s.lines - this.headLine : s.lines;
      this.removeSegment(i);
      return true;
    }
    return false;
  }

  private removeSegment(i: number) {
    const s = this.segs[i]!;
    this.segs.splice(i, 1);
    this.totalBytes -= s.size;
    this.totalLines -= s.lines;
    if (i === 0) {
      this.headOff = 0;
      this.headLine = 0;
    }
    if (this.readFd?.seq === s.seq) {
      void this.readFd.fh.close().catch(() => {});
      this.readFd = undefined;
    }
    if (this.tailFd !== undefined && i === this.segs.length) void this.closeTail();
    try {
      unlinkSync(s.path);
    } catch {}
  }

  // ── reading ────────────────────────────────────────────────────────────────────────────────

  /**
   * The next unsent lines (at most maxEvents, and maxBytes unless a single line is longer),
   * from the head segment. The batch stays in the spool until commit(batch).
   */
  async read(maxEvents: number, maxBytes: number): Promise<SpoolBatch | undefined> {
    this.skipConsumed();
    const s = this.segs[0];
    if (!s || this.headOff >= s.size) return undefined;
    if (this.readFd?.seq !== s.seq) {
      void this.readFd?.fh.close().catch(() => {});
      this.readFd = { seq: s.seq, fh: await open(s.path, "r") };
    }
    const { fh } = this.readFd;
    const start = this.headOff;
    const left = s.size - start;
    let want = Math.min(left, Math.max(maxBytes, 64 * KiB));
    let buf: Buffer;
    for (;;) {
      buf = Buffer.allocUnsafe(want);
      let got = 0;
      while (got < want) {
        const { bytesRead } = await fh.read(buf, got, want - got, start + got);
        if (bytesRead === 0) break;
        got += bytesRead;
      }
      buf = buf.subarray(0, got);
      if (buf.indexOf(NL) >= 0 || want >= left) break;
      want = Math.min(left, want * 2); // one line longer than the read: read more
    }
    const lines: string[] = [];
    let at = 0;
    while (lines.length < maxEvents) {
      const nl = buf.indexOf(NL, at);
      if (nl < 0) break;
      if (lines.length > 0 && nl + 1 > maxBytes) break;
      lines.push(buf.toString("utf8", at, nl));
      at = nl + 1;
    }
    // The segment may have been dropped (or committed past) while reading.
    if (lines.length === 0 || this.segs[0] !== s || this.headOff !== start) return undefined;
    this.readLock = s.seq;
    return { seq: s.seq, start, end: start + at, lines };
  }

  /** The batch will not be committed now (the send failed): its segment may be dropped again. */
  release(): void {
    this.readLock = undefined;
  }

  /**
   * The backend has every line of `batch`: move the cursor past it. False when the batch is
   * stale (its segment was dropped meanwhile): nothing moves.
   */
  commit(batch: SpoolBatch): boolean {
    this.readLock = undefined;
    const s = this.segs[0];
    if (!s || s.seq !== batch.seq || this.headOff !== batch.start) return false;
    this.headOff = batch.end;
    this.headLine += batch.lines.length;
    this.skipConsumed();
    if (this.pendingEvents === 0) this.reset();
    this.saveCursor();
    return true;
  }

  /** Delete fully sent segments before the tail. */
  private skipConsumed() {
    while (this.segs.length > 1 && this.headOff >= this.segs[0]!.size) this.removeSegment(0);
  }

  /** Everything was sent: delete every segment; the next append starts a new one. */
  private reset() {
    if (this.appendsInFlight > 0) return; // the tail is being written: keep it
    while (this.segs.length > 0) this.removeSegment(0);
    this.totalBytes = this.totalLines = this.headOff = this.headLine = 0;
  }

  private saveCursor() {
    const path = join(this.dir, "cursor");
    const s = this.segs[0];
    try {
      if (!s) {
        if (existsSync(path)) unlinkSync(path);
        return;
      }
      // A stale or lost cursor only means lines are sent again (idempotent): no fsync needed.
      writeFileSync(path + ".tmp", `${s.seq} ${this.headOff}\n`, { mode: EVENT_FILE_MODE });
      renameSync(path + ".tmp", path);
    } catch (e) {
      this.log?.warn("spool: cannot save the cursor; lines may be sent again after a restart", { err: String(e) });
    }
  }

  // ── opening ────────────────────────────────────────────────────────────────────────────────

  private open(): SpoolRecovery {
    const found = readdirSync(this.dir)
      .map((f) => SEGMENT.exec(f))
      .filter((m): m is RegExpExecArray => m !== null)
      .map((m) => Number(m[1]))
      .sort((a, b) => a - b);
    let cursorSeq = found[0] ?? 0;
    let cursorOff = 0;
    try {
      const m = /^(\d+) (\d+)\n?$/.exec(readFileSync(join(this.dir, "cursor"), "utf8"));
      if (m && found.includes(Number(m[1]))) [cursorSeq, cursorOff] = [Number(m[1]), Number(m[2])];
      else if (m && Number(m[1]) > (found[found.length - 1] ?? 0)) cursorSeq = Infinity; // all sent
    } catch {}
    for (const seq of found) {
      const seg: Segment = { seq, path: segmentPath(this.dir, seq), size: 0, lines: 0 };
      if (seq < cursorSeq) {
        unlinkSync(seg.path); // sent before the last stop; deleting it was cut short
        continue;
      }
      this.segs.push(seg);
    }
    this.nextSeq = (found[found.length - 1] ?? 0) + 1;
    const repairedBytes = this.repairTail();
    for (const seg of this.segs) {
      const { size, lines, linesBefore, lineStart } = countLines(seg.path, seg === this.segs[0] ? cursorOff : 0);
      seg.size = size;
      seg.lines = lines;
      this.totalBytes += size;
      this.totalLines += lines;
      if (seg === this.segs[0]) {
        this.headOff = lineStart;
        this.headLine = linesBefore;
      }
    }
    // Empty segments (and a head fully sent) are of no use.
    this.skipConsumed();
    if (this.pendingEvents === 0) this.reset();
    this.saveCursor();
    const r = { segments: this.segs.length, events: this.pendingEvents, bytes: this.pendingBytes, repairedBytes };
    if (repairedBytes > 0) this.log?.warn("spool: cut a torn last line (the agent was stopped mid-write)", { dir: this.dir, bytes: repairedBytes });
    if (r.events > 0) this.log?.info("spool: events from an earlier run will be sent", { dir: this.dir, events: r.events, bytes: r.bytes });
    return r;
  }

  /**
   * Cut what follows the tail segment's last newline: a line whose write was interrupted.
   * If those bytes are a whole JSON document (only the newline was lost), keep it.
   */
  private repairTail(): number {
    const tail = this.segs[this.segs.length - 1];
    if (!tail) return 0;
    const fd = openSync(tail.path, "r+");
    try {
      const size = fstatSync(fd).size;
      if (size === 0) return 0;
      // Find the last newline, reading backwards in 64 KiB steps.
      const step = 64 * KiB;
      let end = size;
      let lastNl = -1;
      const buf = Buffer.allocUnsafe(step);
      while (end > 0 && lastNl < 0) {
        const start = Math.max(0, end - step);
        const n = readSync(fd, buf, 0, end - start, start);
        const i = buf.subarray(0, n).lastIndexOf(NL);
        if (i >= 0) lastNl = start + i;
        end = start;
      }
      const keep = lastNl + 1;
      if (keep === size) return 0;
      const rest = Buffer.allocUnsafe(size - keep);
      readSync(fd, rest, 0, rest.length, keep);
      if (isWholeJson(rest)) {
        writeSync(fd, Buffer.from("\n"), 0, 1, size);
        fdatasyncSync(fd);
        return 0;
      }
      ftruncateSync(fd, keep);
      fdatasyncSync(fd);
      return size - keep;
    } finally {
      closeSync(fd);
    }
  }

  /** Waits for queued appends, then closes the files. */
  async close(): Promise<void> {
    await this.appending;
    await this.closeTail();
    await this.readFd?.fh.close().catch(() => {});
    this.readFd = undefined;
  }
}

function segmentPath(dir: string, seq: number): string {
  return join(dir, `${String(seq).padStart(16, "0")}.ndjson`);
}

function isWholeJson(b: Buffer): boolean {
  if (b.length < 2 || b[0] !== 0x7b || b[b.length - 1] !== 0x7d) return false;
  try {
    JSON.parse(b.toString("utf8"));
    return true;
  } catch {
    return false;
  }
}

/**
 * Size and newline count of a segment, and for a cursor offset: the start of the line it is
 * in or at (a cursor that is not on a line start moves to the next one) and the lines before it.
 */
function countLines(path: string, cursor: number): { size: number; lines: number; linesBefore: number; lineStart: number } {
  const fd = openSync(path, "r");
  try {
    const size = fstatSync(fd).size;
    const buf = Buffer.allocUnsafe(Math.min(size, 4 * MiB) || 1);
    let lines = 0;
    let linesBefore = 0;
    let lineStart = Math.min(cursor, size);
    let lastNlBeforeCursor = -1;
    let firstNlFromCursor = -1;
    for (let pos = 0; pos < size; ) {
      const n = readSync(fd, buf, 0, Math.min(buf.length, size - pos), pos);
      if (n === 0) break;
      for (let i = buf.indexOf(NL, 0); i >= 0 && i < n; i = buf.indexOf(NL, i + 1)) {
        const at = pos + i;
        if (at < lineStart) {
          linesBefore++;
          lastNlBeforeCursor = at;
        } else if (firstNlFromCursor < 0) firstNlFromCursor = at;
        lines++;
      }
      pos += n;
    }
    // On a line start: the byte before the cursor is a newline (or the cursor is 0).
    if (lineStart > 0 && lastNlBeforeCursor !== lineStart - 1) {
      if (firstNlFromCursor >= 0) {
        lineStart = firstNlFromCursor + 1;
        linesBefore++;
      } else {
        lineStart = size;
        linesBefore = lines;
      }
    }
    return { size, lines, linesBefore, lineStart };
  } finally {
    closeSync(fd);
  }
}

/**
 * Documents the backend refused for good, one JSON line each:
 * {"time":…, "index":…, "status":…, "error":…, "document":<the document>}. Appended and
 * fdatasync'ed per call, calls in order; when the file would pass maxBytes it is renamed to
 * `<path>.1` (replacing the previous one) and a new file is started.
 */
export class DeadLetterFile {
  private fh: FileHandle | undefined;
  private size = 0;
  private chain: Promise<void> = Promise.resolve();

  constructor(
    readonly path: string,
    private readonly maxBytes: number,
  ) {}

  append(lines: readonly string[]): Promise<void> {
    const run = this.chain.then(() => this.appendNow(lines));
    this.chain = run.catch(() => {});
    return run;
  }

  private async appendNow(lines: readonly string[]): Promise<void> {
    if (lines.length === 0) return;
    const buf = Buffer.from(lines.join("\n") + "\n");
    if (this.fh === undefined) await this.openFile();
    if (this.size > 0 && this.size + buf.length > this.maxBytes) {
      await this.fh!.close();
      this.fh = undefined;
      renameSync(this.path, this.path + ".1");
      await this.openFile();
    }
    const fh = this.fh!;
    const before = this.size;
    try {
      let off = 0;
      while (off < buf.length) off += (await fh.write(buf, off, buf.length - off)).bytesWritten;
      await fh.datasync();
      this.size += buf.length;
    } catch (e) {
      await fh.truncate(before).catch(() => {});
      throw e;
    }
  }

  private async openFile() {
    this.fh = await openEventFile(this.path, "a");
    this.size = (await this.fh.stat()).size;
  }

  async close(): Promise<void> {
    await this.chain;
    await this.fh?.close().catch(() => {});
    this.fh = undefined;
  }
}
