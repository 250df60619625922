// Last-Event-ID resume beyond the in-memory window: the events stored in the local files
// after a given tracer_id, oldest first, read lazily.
//
// The local-file sink writes one NDJSON file per tracer (`<dir>/<name>`, rotated to
// `<name>-<stamp>[-n]`), each in publish order. Ids do NOT give that order across agent
// processes: an xid sorts by second, then machine, then pid, then a counter that starts at
// random, so an agent restarted within the same second (or in a container, with the same pid)
// writes ids that may sort before the old agent's. So the order used here is the publish time
// (`uploaded_time`, milliseconds; one agent stops before the next starts), and the resume point
// is found by identity:
//   - each tracer's files are positioned by a binary search on uploaded_time, a little before
//     the Last-Event-ID's second (the second is the id's first 4 bytes);
//   - from there the lines are scanned in file order for the id itself, within SCAN_BYTES and
//     up to a little after its second. In its tracer the replay starts right after that line;
//     the other tracers start at their first line published after it (later uploaded_time, or
//     the same millisecond and a later id: the same agent, whose counter orders it);
//   - an id not found there (rotated away, another host's, forged) resumes from its second on:
//     the stored events of that second may repeat, none after it is lost (`found` is false);
//   - a k-way merge of the tracers on (uploaded_time, id) gives one stream in publish order.
// Memory stays one chunk (and one line) per tracer; the caller takes records one at a time (a
// watch stream under backpressure), so nothing is read ahead. Only complete lines are read (a
// torn last line is not an event yet). Files that are not tracer files (spool, dead letters,
// locks) are skipped: a tracer file's first document has a tracer_name that maps to the file's
// own name.
import { closeSync, fstatSync, openSync, readdirSync, readSync, statSync } from "node:fs";
import { join } from "node:path";
import { xidTime } from "../events/id.ts";
import type { EventRecord, TracerType } from "../events/record.ts";
import { CONTAINER_FIELDS } from "../events/shape.ts";
import { parseHuatuoTime } from "../events/time.ts";
import { fileNameFor } from "../storage/localfile.ts";

const CHUNK = 64 * 1024;
/** A longer line is not a document the sink wrote: it is skipped, not buffered. */
const MAX_LINE = 16 * 1024 * 1024;
/** Bytes read, over every tracer, looking for the Last-Event-ID (bounds the connect time). */
export const SCAN_BYTES = 32 * 1024 * 1024;
/** Wall-clock jitter allowed between the id's second and the stored upload times. */
const SLACK_MS = 2000;
const BACKUP = /^(.+)-(\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}\.\d{3})(?:-(\d+))?$/;
const ID_IN_LINE = /"tracer_id":"([0-9a-v]{20})"/;
const UPLOADED_IN_LINE = /"uploaded_time":"([^"]{1,64})"/;
export const XID = /^[0-9a-v]{20}$/;

/** Where a record sits in publish order: upload time, then id (one agent's counter, same ms). */
interface Place {
  ms: number;
  id: string;
}
const before = (a: Place, b: Place) => a.ms < b.ms || (a.ms === b.ms && a.id < b.id);

/** A place just before the second starting at `ms` (the latest in the millisecond before it). */
const startOfSecond = (ms: number): Place => ({ ms: ms - 1, id: "~" });

const idOf = (line: string) => ID_IN_LINE.exec(line)?.[1];
/** Upload time of a stored line in ms (NaN if it has none). */
function msOf(line: string): number {
  const t = UPLOADED_IN_LINE.exec(line)?.[1];
  return t === undefined ? NaN : Date.parse(t);
}

const EMPTY = Buffer.alloc(0);

/** One file read forward, line by line, from a byte offset; lines appended later are read too. */
class LineReader {
  /** The unread rest of the last chunk read. */
  private buf = EMPTY;
  /** The start of a line that spans chunks, and its length. */
  private parts: Buffer[] = [];
  private partBytes = 0;
  /** Inside a line longer than MAX_LINE: dropped up to its end. */
  private skipping = false;
  /** File offset just past the last line returned. */
  end: number;
  constructor(private readonly fd: number, private pos: number) {
    this.end = pos;
  }
  /** The next complete line (without "\n"), or undefined at the end of what is written so far. */
  next(): string | undefined {
    for (;;) {
      const nl = this.buf.indexOf(0x0a);
      if (nl >= 0) {
        const tail = this.buf.subarray(0, nl);
        this.buf = this.buf.subarray(nl + 1);
        this.end = this.pos - this.buf.length;
        const line = this.parts.length > 0 ? Buffer.concat([...this.parts, tail]).toString("utf8") : tail.toString("utf8");
        const skipped = this.skipping;
        this.parts = [];
        this.partBytes = 0;
        this.skipping = false;
        if (skipped) continue;
        return line;
      }
      if (this.buf.length > 0 && !this.skipping) {
        this.parts.push(this.buf);
        this.partBytes += this.buf.length;
        if (this.partBytes > MAX_LINE) {
          this.parts = [];
          this.partBytes = 0;
          this.skipping = true;
        }
      }
      this.buf = EMPTY;
      const b = Buffer.allocUnsafe(CHUNK);
      const n = readSync(this.fd, b, 0, CHUNK, this.pos);
      if (n === 0) return undefined; // a partial last line waits for the rest
      this.pos += n;
      this.buf = b.subarray(0, n);
    }
  }
}

/** The first line starting at `off`, up to 4 KiB (enough for the leading members). */
function lineAt(fd: number, off: number): string {
  const b = Buffer.allocUnsafe(4096);
  const s = b.toString("utf8", 0, readSync(fd, b, 0, b.length, off));
  const end = s.indexOf("\n");
  return end >= 0 ? s.slice(0, end) : s;
}

/** Start of the first line at or after `off` (size if none). */
function lineStartFrom(fd: number, off: number, size: number): number {
  if (off === 0) return 0;
  const b = Buffer.allocUnsafe(4096);
  for (let p = off - 1; p < size; p += b.length) {
    const n = readSync(fd, b, 0, b.length, p);
    if (n === 0) break;
    const i = b.subarray(0, n).indexOf(0x0a);
    if (i >= 0) return p + i + 1;
  }
  return size;
}

/** A line start at or before the first line uploaded at or after `fromMs` (upload times rise along a file). */
function searchFrom(fd: number, fromMs: number): number {
  const size = fstatSync(fd).size;
  let lo = 0;
  let hi = size;
  while (hi - lo > 16 * 1024) {
    const ls = lineStartFrom(fd, Math.floor((lo + hi) / 2), size);
    if (ls >= hi) break;
    if (msOf(lineAt(fd, ls)) < fromMs) lo = ls;
    else hi = ls; // a line without a time moves left: more to read, nothing skipped
  }
  return lo;
}

/** A stored document back into the record the outputs format (times as numbers again). */
export function recordFromDocument(doc: any): EventRecord | undefined {
  if (typeof doc !== "object" || doc === null || typeof doc.tracer_id !== "string" || typeof doc.tracer_name !== "string") return undefined;
  const timeMs = parseHuatuoTime(String(doc.tracer_time ?? doc.time ?? "")) ?? Date.parse(doc.uploaded_time);
  const uploadedMs = Date.parse(doc.uploaded_time);
  const r: EventRecord = {
    hostname: String(doc.hostname ?? ""),
    region: String(doc.region ?? ""),
    timeMs: Number.isFinite(timeMs) ? timeMs : 0,
    uploadedMs: Number.isFinite(uploadedMs) ? uploadedMs : 0,
    tracer_name: doc.tracer_name,
    tracer_id: doc.tracer_id,
    tracer_type: (doc.tracer_type ?? "event") as TracerType,
    tracer_data: doc.tracer_data,
  };
  for (const f of CONTAINER_FIELDS) if (typeof doc[f] === "string" && doc[f]) r[f] = doc[f];
  return r;
}

/** One tracer's files, oldest first, read forward as one sequence of lines. */
class TracerLines {
  private i: number;
  private fd = -1;
  private lines: LineReader | undefined;
  private offset: number | undefined;
  private readonly fromMs: number | undefined;
  /**
   * From file `file`: at byte `offset` in it if given, else (and in every later file) from the
   * first line uploaded at or after `fromMs` (binary search), else from the start.
   */
  constructor(private readonly paths: string[], start: { file: number; offset?: number; fromMs?: number }) {
    this.i = start.file;
    this.offset = start.offset;
    this.fromMs = start.fromMs;
  }
  /** The file the last line came from, and the offset just past that line. */
  get where(): { file: number; offset: number } {
    return { file: this.i - 1, offset: this.lines?.end ?? 0 };
  }
  /** The next complete line, undefined at the end of what is written so far. */
  next(): string | undefined {
    for (;;) {
      if (!this.lines) {
        if (this.i >= this.paths.length) return undefined;
        try {
          this.fd = openSync(this.paths[this.i++]!, "r");
          const from = this.offset ?? (this.fromMs !== undefined ? searchFrom(this.fd, this.fromMs) : 0);
          this.offset = undefined;
          this.lines = new LineReader(this.fd, from);
        } catch {
          this.closeFile(); // rotated or deleted meanwhile: go on with the next file
          continue;
        }
      }
      const line = this.lines.next();
      if (line !== undefined) return line;
      // The current (last) file stays open: the sink may still append to it.
      if (this.i >= this.paths.length) return undefined;
      this.closeFile();
    }
  }
  private closeFile() {
    if (this.fd >= 0) {
      try {
        closeSync(this.fd);
      } catch {}
    }
    this.fd = -1;
    this.lines = undefined;
  }
  close() {
    this.closeFile();
    this.i = this.paths.length;
  }
}

const placeOf = (r: EventRecord): Place => ({ ms: r.uploadedMs, id: r.tracer_id });

/** One tracer's records, its leading lines published up to `after` skipped. */
class TracerRecords {
  head: EventRecord | undefined;
  constructor(private readonly lines: TracerLines, private after: Place | undefined) {
    this.advance();
  }
  /** Move `head` to the next record (undefined when the files hold no more for now). */
  advance(): void {
    this.head = undefined;
    for (let line; (line = this.lines.next()) !== undefined; ) {
      if (this.after) {
        const id = idOf(line);
        if (id === undefined || !before(this.after, { ms: msOf(line), id })) continue;
        this.after = undefined; // from the first line after it on, everything is sent
      }
      let doc: unknown;
      try {
        doc = JSON.parse(line);
      } catch {
        continue; // not a complete document
      }
      const r = recordFromDocument(doc);
      if (r) {
        this.head = r;
        return;
      }
    }
  }
  close() {
    this.lines.close();
    this.head = undefined;
  }
}

/** The first document of a file is one of `name`'s events (so it is a tracer file). */
function isTracerFile(path: string, name: string): boolean {
  let fd = -1;
  try {
    fd = openSync(path, "r");
    const line = new LineReader(fd, 0).next();
    if (line === undefined) return true; // empty or one torn line: harmless either way
    const t = JSON.parse(line)?.tracer_name;
    return typeof t === "string" && fileNameFor(t) === name;
  } catch {
    return false;
  } finally {
    if (fd >= 0) closeSync(fd);
  }
}

/** Tracer name (file name) → its files, oldest backup first and the current file last. */
export function tracerFiles(dir: string): Map<string, string[]> {
  const groups = new Map<string, { stamp: string; n: number; path: string }[]>();
  let entries: string[];
  try {
    entries = readdirSync(dir);
  } catch {
    return new Map();
  }
  for (const e of entries) {
    if (e.startsWith(".")) continue;
    const path = join(dir, e);
    try {
      if (!statSync(path).isFile()) continue;
    } catch {
      continue;
    }
    const m = BACKUP.exec(e);
    const name = m ? m[1]! : e;
    const list = groups.get(name) ?? [];
    // The current file sorts after every backup.
    list.push(m ? { stamp: m[2]!, n: Number(m[3] ?? 0), path } : { stamp: "~", n: 0, path });
    groups.set(name, list);
  }
  const out = new Map<string, string[]>();
  for (const [name, list] of groups) {
    list.sort((a, b) => (a.stamp < b.stamp ? -1 : a.stamp > b.stamp ? 1 : a.n - b.n));
    const newest = list[list.length - 1]!.path;
    if (!isTracerFile(newest, name) && !isTracerFile(list[0]!.path, name)) continue;
    out.set(name, list.map((f) => f.path));
  }
  return out;
}

/**
 * Finds `afterId` by identity: each tracer's lines from a little before the id's second to a
 * little after it, in file order, at most `budget` bytes in all. Returns the tracer, the
 * position just past its line and its place; undefined if it is not there.
 */
function findId(tracers: string[][], afterId: string, idMs: number, budget: number): { tracer: number; file: number; offset: number; after: Place } | undefined {
  for (let t = 0; t < tracers.length && budget > 0; t++) {
    const lines = new TracerLines(tracers[t]!, { file: 0, fromMs: idMs - SLACK_MS });
    try {
      for (let line; budget > 0 && (line = lines.next()) !== undefined; ) {
        budget -= line.length + 1;
        if (line.includes(afterId) && idOf(line) === afterId) {
          const ms = msOf(line);
          // Without its upload time, the other tracers resume from its second.
          return { tracer: t, ...lines.where, after: Number.isFinite(ms) ? { ms, id: afterId } : startOfSecond(idMs) };
        }
        if (msOf(line) > idMs + 999 + SLACK_MS) break; // past its second: not in this tracer
      }
    } finally {
      lines.close();
    }
  }
  return undefined;
}

export interface StoredEvents {
  /** The next stored record after the id, in publish order; undefined when the files hold no more. */
  next(): EventRecord | undefined;
  /** Whether the id itself was found in the files (so nothing between it and what follows is missing). */
  readonly found: boolean;
  close(): void;
}

/** The stored events published after `afterId` (an xid), across every tracer's files. */
export function storedEventsAfter(dir: string, afterId: string, scanBytes = SCAN_BYTES): StoredEvents {
  const paths = [...tracerFiles(dir).values()];
  const idMs = (xidTime(afterId) ?? 0) * 1000;
  const fromMs = idMs - SLACK_MS;
  const hit = findId(paths, afterId, idMs, scanBytes);
  // Not found: everything uploaded from its second on.
  const after = hit?.after ?? startOfSecond(idMs);
  const tracers = paths.map((p, t) =>
    hit?.tracer === t
      ? new TracerRecords(new TracerLines(p, { file: hit.file, offset: hit.offset, fromMs }), undefined)
      : new TracerRecords(new TracerLines(p, { file: 0, fromMs }), after),
  );
  // k-way merge: a handful of tracers, so a linear pick of the earliest head is enough.
  const pick = () => {
    let best: TracerRecords | undefined;
    for (const t of tracers) if (t.head && (!best || before(placeOf(t.head), placeOf(best.head!)))) best = t;
    return best;
  };
  return {
    found: hit !== undefined,
    next() {
      let best = pick();
      if (!best) {
        // Every file read to its end: look once more for lines the sink appended since (they
        // were published after every head taken so far, so the order holds).
        for (const t of tracers) t.advance();
        best = pick();
      }
      if (!best) return undefined;
      const r = best.head!;
      best.advance();
      return r;
    },
    close() {
      for (const t of tracers) t.close();
    },
  };
}
