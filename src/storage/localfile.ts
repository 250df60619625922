// The local-file sink: one NDJSON file per tracer at `<Path>/<tracer_name>` (HUATUO's
// naming; NDJSON instead of HUATUO's concatenated pretty JSON, so jq and log shippers read
// it line by line), rotated lumberjack-style to `<name>-2006-01-02T15-04-05.000`.
//
// Writes are synchronous appends on fds kept open: records are small, the disk is local,
// and sync writes make "written" mean written. The sink drains the bus in batches; a failed
// write keeps its records and is retried with backoff, while the bus queue in front of it
// stays bounded and counts what it has to drop.
import {
  closeSync,
  fstatSync,
  ftruncateSync,
  mkdirSync,
  openSync,
  readdirSync,
  renameSync,
  statSync,
  unlinkSync,
  writeSync,
  existsSync,
} from "node:fs";
import { join } from "node:path";
import type { EventBus, Subscription } from "../events/bus.ts";
import { documentJson } from "../events/format.ts";
import type { EventRecord } from "../events/record.ts";
import { rotationStamp } from "../events/time.ts";
import type { Logger } from "../log.ts";

const MiB = 1024 * 1024;
/** Bytes per write (a chunk holds at least one line, however long). */
const CHUNK_BYTES = 1 * MiB;
const SCRATCH_BYTES = 64 * 1024;
const BACKUP = /^-(\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}\.\d{3})(?:-(\d+))?$/;

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
}

/** Tracer names become file names: keep them to one safe path component. */
export function fileNameFor(tracer: string): string {
  const s = tracer.replace(/[^\w.-]/g, "_");
  return s === "" || s === "." || s === ".." ? "_" + s : s;
}

export class LocalFileWriter {
  private readonly files = new Map<string, OpenFile>();
  private readonly maxBytes: number;
  private readonly now: () => number;
  rotations = 0;

  constructor(private readonly opts: LocalFileWriterOptions) {
    this.maxBytes = Math.max(1, opts.rotationSizeMiB * MiB);
    this.now = opts.now ?? Date.now;
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
   * from the front of `records`; on an error the rest stay there for the retry, and it throws.
   */
  append(tracer: string, records: EventRecord[]): void {
    const name = fileNameFor(tracer);
    const path = join(this.opts.dir, name);
    let f = this.current(name, path);
    try {
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
          this.scratch[bytes + len - 1] = 0x0a;
          if (n > 0 && bytes + len > CHUNK_BYTES) break;
          if (f.size + bytes + len > this.maxBytes && f.size + bytes !== 0) break;
          bytes += len;
          n++;
        }
        if (n === 0) {
          f = this.rotate(name, path, f);
          continue;
        }
        this.writeAll(f, this.scratch.subarray(0, bytes));
        records.splice(0, n);
      }
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

  /** One write for the chunk; on failure cut any partial line so a retry cannot corrupt the file. */
  private writeAll(f: OpenFile, buf: Buffer) {
    const before = f.size;
    let off = 0;
    try {
      while (off < buf.length) off += writeSync(f.fd, buf, off, buf.length - off);
    } catch (e) {
      if (off > 0) {
        try {
          ftruncateSync(f.fd, before);
        } catch {}
      }
      throw e;
    }
    f.size += buf.length;
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
    mkdirSync(this.opts.dir, { recursive: true, mode: 0o755 });
    const fd = openSync(path, "a", 0o644); // O_WRONLY|O_CREAT|O_APPEND
    const st = fstatSync(fd);
    const f = { fd, dev: st.dev, ino: st.ino, size: st.size };
    this.files.set(name, f);
    return f;
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
  /** First retry delay after a failed write (default 1000 ms; doubles up to 30 s). */
  retryMs?: number;
}

export interface LocalFileStats {
  written: number;
  write_failures: number;
  rotations: number;
  queued: number;
  dropped: number;
}

export interface LocalFileSink {
  stats(): LocalFileStats;
  /** Resolves once everything queued when it was called has been written (or given up). */
  flush(): Promise<void>;
  /** Stop taking records, write what is queued, close the files. */
  close(): Promise<void>;
}

const BATCH = 512;

export function startLocalFileSink(opts: LocalFileSinkOptions): LocalFileSink {
  const log = opts.log.child({ sink: "localfile" });
  const writer = new LocalFileWriter(opts);
  const sub: Subscription = opts.bus.subscribe({ name: "localfile", queueSize: opts.queueSize ?? 4096 });
  const pending = new Map<string, EventRecord[]>(); // per tracer, in arrival order
  let written = 0;
  let failures = 0;
  let closing = false;
  let idle: (() => void)[] = [];
  let wakeRetry: (() => void) | undefined;

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

  async function run() {
    let delay = opts.retryMs ?? 1000;
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
      let failed: unknown;
      for (const [tracer, recs] of pending) {
        const n = recs.length;
        try {
          writer.append(tracer, recs);
        } catch (e) {
          failed = e;
        }
        written += n - recs.length;
        if (recs.length === 0) pending.delete(tracer);
      }
      if (failed === undefined) {
        delay = opts.retryMs ?? 1000;
        continue;
      }
      failures++;
      const held = [...pending.values()].reduce((a, l) => a + l.length, 0);
      if (closing) {
        log.error("local file write failed at shutdown; records not written", { err: failed, records: held });
        pending.clear();
        continue;
      }
      log.error("local file write failed; will retry", { err: failed, records: held, retry_ms: delay });
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, delay);
        wakeRetry = () => {
          clearTimeout(t);
          resolve();
        };
      });
      wakeRetry = undefined;
      delay = Math.min(delay * 2, 30_000);
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
      queued: sub.queued + [...pending.values()].reduce((a, l) => a + l.length, 0),
      dropped: sub.dropped,
    }),
    flush() {
      if (pending.size === 0 && sub.queued === 0) return Promise.resolve();
      return new Promise((resolve) => idle.push(resolve));
    },
    async close() {
      closing = true;
      sub.close();
      wakeRetry?.(); // one last attempt now rather than after the backoff
      await done;
    },
  };
}
