// Last-Event-ID resume beyond the in-memory window: the events stored in the local files
// after a given tracer_id, oldest first, read lazily.
//
// The local-file sink writes one NDJSON file per tracer (`<dir>/<name>`, rotated to
// `<name>-<stamp>[-n]`), each in publish order. tracer_ids are xids, which sort by creation
// time (and, within one agent, by publish order), so every file is sorted by id: a binary
// search by byte offset finds the first line after the id, and a k-way merge of the per-tracer
// files gives one stream in id order. Memory stays one 64 KiB chunk per tracer; the caller
// takes records one at a time (a watch stream under backpressure), so nothing is read ahead.
// Only complete lines are read (a torn last line is not an event yet). Files that are not
// tracer files (spool, dead letters, locks) are skipped: a tracer file's first document has a
// tracer_name that maps to the file's own name.
import { closeSync, fstatSync, openSync, readdirSync, readSync, statSync } from "node:fs";
import { join } from "node:path";
import type { EventRecord, TracerType } from "../events/record.ts";
import { CONTAINER_FIELDS } from "../events/shape.ts";
import { parseHuatuoTime } from "../events/time.ts";
import { fileNameFor } from "../storage/localfile.ts";

const CHUNK = 64 * 1024;
const BACKUP = /^(.+)-(\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}\.\d{3})(?:-(\d+))?$/;
const ID_IN_LINE = /"tracer_id":"([0-9a-v]{20})"/;
export const XID = /^[0-9a-v]{20}$/;

/** One file read forward, line by line, from a byte offset; lines appended later are read too. */
class LineReader {
  private buf = "";
  private pos: number;
  constructor(private readonly fd: number, from: number) {
    this.pos = from;
  }
  /** The next complete line (without "\n"), or undefined at the end of what is written so far. */
  next(): string | undefined {
    for (;;) {
      const nl = this.buf.indexOf("\n");
      if (nl >= 0) {
        const line = this.buf.slice(0, nl);
        this.buf = this.buf.slice(nl + 1);
        return line;
      }
      const b = Buffer.allocUnsafe(CHUNK);
      const n = readSync(this.fd, b, 0, CHUNK, this.pos);
      if (n === 0) return undefined; // a partial last line waits for the rest
      this.pos += n;
      this.buf += b.toString("utf8", 0, n);
    }
  }
}

/** The id of the line starting at `off` (undefined if it has none in its first 4 KiB). */
function idAt(fd: number, off: number): string | undefined {
  const b = Buffer.allocUnsafe(4096);
  const n = readSync(fd, b, 0, b.length, off);
  const s = b.toString("utf8", 0, n);
  const end = s.indexOf("\n");
  return ID_IN_LINE.exec(end >= 0 ? s.slice(0, end) : s)?.[1];
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

/** A byte offset at a line start, at or before the first line whose id is > afterId. */
function searchAfter(fd: number, afterId: string): number {
  const size = fstatSync(fd).size;
  let lo = 0;
  let hi = size;
  while (hi - lo > 16 * 1024) {
    const ls = lineStartFrom(fd, Math.floor((lo + hi) / 2), size);
    if (ls >= hi) break;
    const id = idAt(fd, ls);
    if (id !== undefined && id <= afterId) lo = ls;
    else hi = ls;
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

/** One tracer's files, oldest first, read as one sequence of records after the id. */
class TracerFiles {
  private i = 0;
  private fd = -1;
  private lines: LineReader | undefined;
  head: EventRecord | undefined;
  constructor(private readonly paths: string[], private readonly afterId: string, private readonly onFound: () => void) {
    this.advance();
  }
  /** Move `head` to the next record with an id > afterId (undefined when done). */
  advance(): void {
    this.head = undefined;
    for (;;) {
      if (!this.lines) {
        if (this.i >= this.paths.length) return;
        try {
          this.fd = openSync(this.paths[this.i++]!, "r");
          this.lines = new LineReader(this.fd, searchAfter(this.fd, this.afterId));
        } catch {
          this.closeFile(); // rotated or deleted meanwhile: go on with the next file
          continue;
        }
      }
      const line = this.lines.next();
      if (line === undefined) {
        // The current (last) file stays open: the sink may still append to it.
        if (this.i >= this.paths.length) return;
        this.closeFile();
        continue;
      }
      const id = ID_IN_LINE.exec(line)?.[1];
      if (id === undefined || id <= this.afterId) {
        if (id === this.afterId) this.onFound();
        continue;
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

export interface StoredEvents {
  /** The next stored record after the id, in id order; undefined when the files hold no more. */
  next(): EventRecord | undefined;
  /** Whether the id itself was seen in the files (so nothing between it and what follows is missing). */
  readonly found: boolean;
  close(): void;
}

/** The stored events after `afterId` (an xid), across every tracer's files. */
export function storedEventsAfter(dir: string, afterId: string): StoredEvents {
  let found = false;
  const tracers = [...tracerFiles(dir).values()].map((paths) => new TracerFiles(paths, afterId, () => (found = true)));
  return {
    get found() {
      return found;
    },
    next() {
      // k-way merge: a handful of tracers, so a linear pick of the smallest head is enough.
      let best: TracerFiles | undefined;
      for (const t of tracers) if (t.head && (!best || t.head.tracer_id < best.head!.tracer_id)) best = t;
      if (!best) {
        // Every file read to its end: look once more for lines the sink appended since (they
        // are newer than every head taken so far, so the order holds).
        for (const t of tracers) t.advance();
        for (const t of tracers) if (t.head && (!best || t.head.tracer_id < best.head!.tracer_id)) best = t;
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
