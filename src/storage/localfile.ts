// The local-file sink: one NDJSON file per tracer at `<Path>/<tracer_name>` (HUATUO's
// naming; NDJSON instead of HUATUO's concatenated pretty JSON, so jq and log shippers read
// it line by line), rotated lumberjack-style to `<name>-2006-01-02T15-04-05.000`.
//
// Writes are synchronous appends on fds kept open: records are small, the disk is local,
// and sync writes make "written" mean written. What keeps the files valid NDJSON:
//   - whole lines only: a write that stops part-way (ENOSPC, EIO, kill -9 between pages)
//     keeps the complete lines it wrote, counts exactly those records as written and cuts the
//     torn rest, so a retry neither duplicates nor tears a record;
//   - a torn last line left by a crash is cut before anything is appended: for every file of
//     ours at start and whenever a file is (re)opened (after a rotation, or when it was replaced).
//     The cut bytes are counted (`torn_lines`, `torn_bytes`) and logged with a preview, not
//     kept: they are an incomplete JSON document, and the event they began was never counted
//     as written.
//
// The sink drains the bus in batches. A failed write keeps its records and is retried with
// backoff until writing works again (ENOSPC, EIO, EROFS, EACCES: all wait for the operator or
// the disk); meanwhile the bounded bus queue in front of the sink takes what arrives and
// counts what it must refuse, and `failure()` tells /readyz why the sink is not writing.
// Every event not written is counted with its reason (`unwritten`): `queue_full` (refused by
// the queue while the sink was failing or behind) or `shutdown` (still held when the agent
// stopped with writes failing; the count is logged too).
import {
  closeSync,
  existsSync,
  fstatSync,
  ftruncateSync,
  lstatSync,
  openSync,
  readdirSync,
  readSync,
  renameSync,
  statSync,
  unlinkSync,
  writeSync,
} from "node:fs";
import { join } from "node:path";
import type { EventBus, Subscription } from "../events/bus.ts";
import { documentJson } from "../events/format.ts";
import type { EventRecord } from "../events/record.ts";
import { rotationStamp } from "../events/time.ts";
import { silentLogger, type Logger } from "../log.ts";
import { makeEventDir, openEventFileSync } from "./file-modes.ts";

const MiB = 1024 * 1024;
/** Bytes per write (a chunk holds at least one line, however long). */
const CHUNK_BYTES = 1 * MiB;
const SCRATCH_BYTES = 64 * 1024;
const BACKUP = /^-(\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}\.\d{3})(?:-(\d+))?$/;
const NL = 0x0a;
/** Every document line starts with these bytes (documentJson's first member). */
const DOC_PREFIX = Buffer.from('{"hostname":');

interface OpenFile {
  fd: number;
  dev: number;
  ino: number;
  size: number;
}

export interface LocalFileWriterOptions {
  dir: string;
  /** Rotate before a write that would take the file past this many MiB. */
  rotationSizeMiB: number;
  /** Rotated files kept per tracer; older ones are deleted. */
  maxRotation: number;
  now?: () => number;
  /** Where torn-line repairs are reported (default: nowhere). */
  log?: Logger;
}

/** Tracer names become file names: keep them to one safe path component. */
export function fileNameFor(tracer: string): string {
  const s = tracer.replace(/[^\w.-]/g, "_");
  return s === "" || s === "." || s === ".." ? "_" + s : s;
}

/** An error with the file it happened on (for logs and /readyz). */
function withFile(e: unknown, path: string): Error {
  const err = e instanceof Error ? e : new Error(String(e));
  if (!err.message.includes(path)) err.message = `${err.message} (${path})`;
  return err;
}

export class LocalFileWriter {
  private readonly files = new Map<string, OpenFile>();
  private readonly maxBytes: number;
  private readonly now: () => number;
  private readonly log: Logger;
  rotations = 0;
  /** Torn last lines cut before appending, and their bytes. */
  tornLines = 0;
  tornBytes = 0;

  constructor(private readonly opts: LocalFileWriterOptions) {
    this.maxBytes = Math.max(1, opts.rotationSizeMiB * MiB);
    this.now = opts.now ?? Date.now;
    this.log = opts.log ?? silentLogger;
  }

  /**
   * Reused encode buffer: lines are UTF-8-encoded straight into it and written with one
   * write per chunk, instead of a Buffer per line plus a concat. Shrunk back after a batch
   * with a very large record.
   */
  private scratch = Buffer.allocUnsafe(SCRATCH_BYTES);

  /**
   * Append records of one tracer, one HUATUO document JSON line each (documentJson, built
   * once per record and shared with any other document sink). Written records are removed
   * from the front of `records`; on an error the rest stay there for the retry, and it throws
   * (the error names the file).
   */
  append(tracer: string, records: EventRecord[]): void {
    const name = fileNameFor(tracer);
    const path = join(this.opts.dir, name);
    try {
      let f = this.current(name, path);
      while (records.length > 0) {
        // Encode as many lines as fit before the rotation size (at least one into an empty
        // file) and in one chunk (at least one line). A line that does not fit is encoded
        // again for the next chunk; its JSON is cached on the record.
        let n = 0;
        let bytes = 0;
        while (n < records.length) {
          // The document and its newline are written separately: no new string per line, and
          // the cached document is flattened once, in place, for every sink that uses it.
          const doc = documentJson(records[n]!);
          this.reserve(bytes, 3 * doc.length + 1); // UTF-8 takes at most 3 bytes per UTF-16 unit
          const len = this.scratch.write(doc, bytes) + 1;
          this.scratch[bytes + len - 1] = NL;
          if (n > 0 && bytes + len > CHUNK_BYTES) break;
          if (f.size + bytes + len > this.maxBytes && f.size + bytes !== 0) break;
          bytes += len;
          n++;
        }
        if (n === 0) {
          f = this.rotate(name, path, f);
          continue;
        }
        const { kept, err } = this.writeLines(name, f, bytes);
        records.splice(0, err ? kept : n);
        if (err) throw err;
      }
    } catch (e) {
      throw withFile(e, path);
    } finally {
      if (this.scratch.length > CHUNK_BYTES * 2) this.scratch = Buffer.allocUnsafe(SCRATCH_BYTES);
    }
  }

  /** Room for `extra` more bytes after the first `used` bytes of the scratch buffer. */
  private reserve(used: number, extra: number) {
    if (used + extra <= this.scratch.length) return;
    const next = Buffer.allocUnsafe(Math.max(2 * this.scratch.length, used + extra));
    this.scratch.copy(next, 0, 0, used);
    this.scratch = next;
  }

  /**
   * Write the first `bytes` of the scratch buffer (whole lines). If the write stops part-way,
   * the complete lines that reached the file stay and are returned as `kept` (their records
   * count as written), the torn rest is cut, and `err` says why it stopped.
   */
  private writeLines(name: string, f: OpenFile, bytes: number): { kept: number; err?: Error } {
    const buf = this.scratch;
    let off = 0;
    try {
      while (off < bytes) off += writeSync(f.fd, buf, off, bytes - off);
      f.size += bytes;
      return { kept: -1 };
    } catch (e) {
      // What reached the file: its size says exactly (each write call either wrote bytes or
      // failed); the loop's own count is the fallback.
      let wrote = off;
      try {
        wrote = Math.min(bytes, Math.max(0, fstatSync(f.fd).size - f.size));
      } catch {}
      const keep = wrote > 0 ? buf.lastIndexOf(NL, wrote - 1) + 1 : 0;
      if (keep < wrote) {
        try {
          ftruncateSync(f.fd, f.size + keep);
        } catch {
          this.closeOne(name); // the next open cuts the torn tail (repairTail)
        }
      }
      f.size += keep;
      let kept = 0;
      for (let i = buf.indexOf(NL); i >= 0 && i < keep; i = buf.indexOf(NL, i + 1)) kept++;
      return { kept, err: e as Error };
    }
  }

  /** The open file for `name`, reopened if it was deleted or replaced behind our back. */
  private current(name: string, path: string): OpenFile {
    const f = this.files.get(name);
    if (f) {
      let st: import("node:fs").Stats | undefined;
      try {
        st = statSync(path);
      } catch {}
      if (st && st.ino === f.ino && st.dev === f.dev) {
        f.size = st.size; // someone may have truncated it (copytruncate)
        return f;
      }
      this.closeOne(name);
    }
    return this.open(name, path);
  }

  private open(name: string, path: string): OpenFile {
    makeEventDir(this.opts.dir);
    const fd = openEventFileSync(path, "a+"); // O_RDWR|O_CREAT|O_APPEND: read to find a torn tail
    try {
      this.repairTail(fd, fstatSync(fd).size, path);
      const st = fstatSync(fd);
      const f = { fd, dev: st.dev, ino: st.ino, size: st.size };
      this.files.set(name, f);
      return f;
    } catch (e) {
      closeSync(fd);
      throw e;
    }
  }

  /**
   * If the file does not end with a newline, cut it after its last complete line (a write was
   * interrupted: kill -9, power loss, a full disk before this version). Only files that hold
   * our documents are cut; anything else at the path gets a newline so our lines start clean.
   * Returns the size after the repair.
   */
  private repairTail(fd: number, size: number, path: string): number {
    if (size === 0) return 0;
    const one = Buffer.alloc(1);
    readSync(fd, one, 0, 1, size - 1);
    if (one[0] === NL) return size;
    const head = Buffer.alloc(Math.min(size, DOC_PREFIX.length));
    readSync(fd, head, 0, head.length, 0);
    // Ours: starts like a document (or is zeros: a tail the file system never filled).
    if (!(head.equals(DOC_PREFIX.subarray(0, head.length)) || head[0] === 0)) {
      writeSync(fd, "\n");
      this.log.warn("a file not written by kpulse has no final newline; one was added before appending", { file: path });
      return size + 1;
    }
    let keep = 0;
    const block = Buffer.allocUnsafe(64 * 1024);
    for (let end = size; end > 0; ) {
      const start = Math.max(0, end - block.length);
      const n = readSync(fd, block, 0, end - start, start);
      const i = block.subarray(0, n).lastIndexOf(NL);
      if (i >= 0) {
        keep = start + i + 1;
        break;
      }
      end = start;
    }
    const preview = Buffer.alloc(Math.min(size - keep, 120));
    readSync(fd, preview, 0, preview.length, keep);
    ftruncateSync(fd, keep);
    this.tornLines++;
    this.tornBytes += size - keep;
    this.log.warn("cut a torn last line left by an interrupted write", {
      file: path,
      bytes: size - keep,
      kept_bytes: keep,
      head: preview.toString("utf8").replace(/\0/g, "\\0"),
    });
    return keep;
  }

  /**
   * Cut the torn last line of every file of ours in the directory (at start, before anything
   * is appended: a tracer that never writes again must not leave an invalid file behind).
   * Files that do not hold our documents are left alone. Errors are logged, not thrown.
   */
  repairAll(): void {
    let names: string[];
    try {
      names = readdirSync(this.opts.dir);
    } catch {
      return; // no directory yet: nothing to repair
    }
    for (const file of names) {
      const path = join(this.opts.dir, file);
      let fd: number | undefined;
      try {
        if (!lstatSync(path).isFile()) continue;
        fd = openSync(path, "r+");
        this.repairTailIfOurs(fd, fstatSync(fd).size, path);
      } catch (e) {
        this.log.warn("cannot check a local file for a torn last line", { file: path, err: String(e) });
      } finally {
        if (fd !== undefined) closeSync(fd);
      }
    }
  }

  /** repairTail for files that start like our documents; others untouched. */
  private repairTailIfOurs(fd: number, size: number, path: string) {
    if (size === 0) return;
    const head = Buffer.alloc(Math.min(size, DOC_PREFIX.length));
    readSync(fd, head, 0, head.length, 0);
    if (head.equals(DOC_PREFIX.subarray(0, head.length))) this.repairTail(fd, size, path);
  }

  private rotate(name: string, path: string, f: OpenFile): OpenFile {
    const stamp = rotationStamp(this.now());
    let target = `${path}-${stamp}`;
    for (let n = 1; existsSync(target); n++) target = `${path}-${stamp}-${n}`;
    renameSync(path, target);
    this.closeOne(name);
    this.rotations++;
    this.prune(name);
    return this.open(name, path);
  }

  /** Keep the newest maxRotation backups of `name`. */
  private prune(name: string) {
    const backups: { file: string; stamp: string; n: number }[] = [];
    for (const file of readdirSync(this.opts.dir)) {
      if (!file.startsWith(name)) continue;
      const m = BACKUP.exec(file.slice(name.length));
      if (m) backups.push({ file, stamp: m[1], n: Number(m[2] ?? 0) });
    }
    backups.sort((a, b) => (a.stamp < b.stamp ? -1 : a.stamp > b.stamp ? 1 : a.n - b.n));
    const excess = backups.length - Math.max(0, this.opts.maxRotation);
    for (let i = 0; i < excess; i++) {
      try {
        unlinkSync(join(this.opts.dir, backups[i].file));
      } catch {}
    }
  }

  private closeOne(name: string) {
    const f = this.files.get(name);
    if (!f) return;
    this.files.delete(name);
    try {
      closeSync(f.fd);
    } catch {}
  }

  close() {
    for (const name of [...this.files.keys()]) this.closeOne(name);
  }
}

export interface LocalFileSinkOptions extends LocalFileWriterOptions {
  bus: EventBus;
  log: Logger;
  /** Bus queue in front of the sink (default 4096). */
  queueSize?: number;
  /** First retry delay after a failed write (default 500 ms; doubles up to maxRetryMs). */
  retryMs?: number;
  /** Longest retry delay (default 5 s: a failing local write costs one syscall). */
  maxRetryMs?: number;
}

export interface LocalFileStats {
  written: number;
  /** Failed write attempts (each retried). */
  write_failures: number;
  rotations: number;
  queued: number;
  /** Refused by the full bus queue (= unwritten.queue_full). */
  dropped: number;
  /** Events that will never be written, by reason. */
  unwritten: { queue_full: number; shutdown: number };
  torn_lines: number;
  torn_bytes: number;
  /** True while the last write attempt failed. */
  failing: boolean;
}

export interface LocalFileSink {
  stats(): LocalFileStats;
  /** Why the sink is not writing (the last error, e.g. "ENOSPC: …"), or undefined while it writes: for /readyz. */
  failure(): string | undefined;
  /** Resolves once everything queued when it was called has been written (or given up). */
  flush(): Promise<void>;
  /** Stop taking records, write what is queued, close the files; what cannot be written is counted and logged. */
  close(): Promise<void>;
}

const BATCH = 512;

export function startLocalFileSink(opts: LocalFileSinkOptions): LocalFileSink {
  const log = opts.log.child({ sink: "localfile" });
  const writer = new LocalFileWriter({ ...opts, log });
  writer.repairAll(); // before the first append: no record goes after a torn line
  const sub: Subscription = opts.bus.subscribe({ name: "localfile", queueSize: opts.queueSize ?? 4096 });
  const pending = new Map<string, EventRecord[]>(); // per tracer, in arrival order
  const firstDelay = opts.retryMs ?? 500;
  const maxDelay = Math.max(firstDelay, opts.maxRetryMs ?? 5000);
  let written = 0;
  let failures = 0;
  let unwrittenAtShutdown = 0;
  /** The last write error while writes fail; undefined while they work. */
  let failing: Error | undefined;
  let failingSince = 0;
  let lastLogged = { message: "", at: 0 };
  let closing = false;
  let idle: (() => void)[] = [];
  let wakeRetry: (() => void) | undefined;

  const held = () => {
    let n = 0;
    for (const l of pending.values()) n += l.length;
    return n;
  };

  const settleIdle = () => {
    const waiting = idle;
    idle = [];
    for (const f of waiting) f();
  };

  const take = (r: EventRecord) => {
    const list = pending.get(r.tracer_name);
    if (list) list.push(r);
    else pending.set(r.tracer_name, [r]);
  };

  /** One pass over the held records; the first error, or undefined when all were written. */
  function writePending(): Error | undefined {
    let failed: Error | undefined;
    for (const [tracer, recs] of pending) {
      const n = recs.length;
      try {
        writer.append(tracer, recs);
      } catch (e) {
        failed ??= e as Error;
      }
      written += n - recs.length;
      if (recs.length === 0) pending.delete(tracer);
    }
    return failed;
  }

  function noteFailure(err: Error, retryMs: number) {
    failures++;
    const now = Date.now();
    if (!failing) failingSince = now;
    failing = err;
    // The first failure and every new error are logged; the same error again once a minute.
    if (err.message !== lastLogged.message || now - lastLogged.at >= 60_000) {
      lastLogged = { message: err.message, at: now };
      log.error("local file write failed; events are held and retried", {
        err: err.message, held: held(), queued: sub.queued, unwritten: sub.dropped, retry_ms: retryMs,
      });
    }
  }

  function noteSuccess() {
    if (!failing) return;
    log.info("local file writes resumed", { failed_for_ms: Date.now() - failingSince, unwritten: sub.dropped });
    failing = undefined;
    lastLogged = { message: "", at: 0 };
  }

  async function run() {
    let delay = firstDelay;
    for (;;) {
      // Take more from the bus only once the previous batch is out, so a failing disk
      // backs up into the bounded bus queue (which counts drops) and not into memory.
      if (pending.size === 0) {
        if (sub.queued === 0) settleIdle();
        const first = await sub.next();
        if (first === undefined) break;
        take(first);
        for (let i = 1, r; i < BATCH && (r = sub.tryNext()) !== undefined; i++) take(r);
      }
      const failed = writePending();
      if (failed === undefined) {
        noteSuccess();
        delay = firstDelay;
        continue;
      }
      noteFailure(failed, delay);
      if (closing) {
        // Shutdown with writes failing: what is held and what is still queued is lost. Count it.
        let n = held();
        pending.clear();
        while (sub.tryNext() !== undefined) n++;
        unwrittenAtShutdown += n;
        log.error("local file sink stopped with events not written", { unwritten: n, err: failed.message });
        break;
      }
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, delay);
        wakeRetry = () => {
          clearTimeout(t);
          resolve();
        };
      });
      wakeRetry = undefined;
      delay = Math.min(delay * 2, maxDelay);
    }
    writer.close();
    settleIdle();
  }

  const done = run().catch((e) => log.error("local file sink stopped", { err: e }));

  return {
    stats: () => ({
      written,
      write_failures: failures,
      rotations: writer.rotations,
      queued: sub.queued + held(),
      dropped: sub.dropped,
      unwritten: { queue_full: sub.dropped, shutdown: unwrittenAtShutdown },
      torn_lines: writer.tornLines,
      torn_bytes: writer.tornBytes,
      failing: failing !== undefined,
    }),
    failure() {
      if (!failing) return undefined;
      const lost = sub.dropped + unwrittenAtShutdown;
      return `${failing.message}; ${held() + sub.queued} events waiting${lost ? `, ${lost} not written` : ""}`;
    },
    flush() {
      if (pending.size === 0 && sub.queued === 0) return Promise.resolve();
      return new Promise((resolve) => idle.push(resolve));
    },
    async close() {
      closing = true;
      sub.close();
      wakeRetry?.(); // one last attempt now rather than after the backoff
      await done;
      const unwritten = sub.dropped + unwrittenAtShutdown;
      (unwritten ? log.warn : log.info)("local file sink closed", {
        written, unwritten, unwritten_queue_full: sub.dropped, unwritten_shutdown: unwrittenAtShutdown,
      });
    },
  };
}
