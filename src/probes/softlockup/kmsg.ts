// /dev/kmsg: the kernel log, one record per read(2). Records are parsed here; KmsgReader reads
// them without losing or repeating any:
//   - the data fd is opened non-blocking and positioned at the end (SEEK_END), so records
//     logged before the agent started are not reported again;
//   - each read returns one whole record; EAGAIN ends a drain, EPIPE (the ring overwrote
//     records we had not read; the kernel moves us to the oldest one left) is counted and
//     reading goes on; lost records are counted exactly from gaps in the sequence numbers;
//   - a drain reads at most `maxRecordsPerSlice` records, then yields (setImmediate);
//   - it wakes only when records arrive: a second fd on /dev/kmsg is watched by Bun's event
//     loop (its stream is epoll-driven for this device) and each chunk it sees triggers a drain.
//     That watcher only signals; the records are read from the data fd. If the watcher stops
//     (error or end) it is reopened after `rewatchMs`, with one drain at that moment;
//   - the watcher's fd is a duplicate of one opened at start and kept: with
//     kernel.dmesg_restrict=1 only CAP_SYSLOG may open /dev/kmsg, and the agent drops it after
//     start-up, so a watcher started later must not need to open the device again.
import { closeSync, constants, openSync, readSync } from "node:fs";
import { dlopen, FFIType as T } from "bun:ffi";

export interface KmsgRecord {
  /** Syslog facility (0 = the kernel; userspace writes always get another one). */
  facility: number;
  level: number;
  seq: number;
  /** Timestamp in µs of the kernel's log clock (since boot). */
  tsUsec: number;
  /** Whether the record continues the previous one ("c") — flags other than "-". */
  flags: string;
  /** The message, with the kernel's \xNN escapes decoded. */
  message: string;
}

/**
 * One /dev/kmsg record: `<pri>,<seq>,<ts>,<flags>[,...];<message>\n` followed by optional
 * ` KEY=value` dictionary lines. undefined when the text is not a record.
 */
export function parseKmsgRecord(text: string): KmsgRecord | undefined {
  const semi = text.indexOf(";");
  if (semi < 0) return undefined;
  const head = text.slice(0, semi).split(",");
  if (head.length < 4) return undefined;
  const pri = Number(head[0]), seq = Number(head[1]), ts = Number(head[2]);
  if (!/^\d+$/.test(head[0]!) || !Number.isSafeInteger(seq) || !Number.isFinite(ts)) return undefined;
  let end = text.indexOf("\n", semi + 1);
  if (end < 0) end = text.length;
  return { facility: pri >> 3, level: pri & 7, seq, tsUsec: ts, flags: head[3]!, message: unescape(text.slice(semi + 1, end)) };
}

function unescape(s: string): string {
  if (!s.includes("\\x")) return s;
  return s.replace(/\\x([0-9a-fA-F]{2})/g, (_, h: string) => String.fromCharCode(parseInt(h, 16)));
}

/** "[ 1234.567890] message", as dmesg prints a record. */
export function formatKmsgLine(r: KmsgRecord): string {
  const sec = Math.floor(r.tsUsec / 1e6);
  const usec = String(r.tsUsec % 1e6).padStart(6, "0");
  return `[${String(sec).padStart(5)}.${usec}] ${r.message}`;
}

/** What one read(2) of the data fd gave. */
export type KmsgRead = { bytes: number } | "again" | "pipe";

/** The system calls the reader makes (injected by tests). */
export interface KmsgIo {
  /** Opens `path` read-only, non-blocking, positioned at the end of the log. */
  openAtEnd(path: string): number;
  read(fd: number, buf: Uint8Array): KmsgRead;
  close(fd: number): void;
  /** Calls `onData` when the log (probably) has new records; stop() ends the watch. */
  watch(path: string, onData: () => void, onEnd: (err?: unknown) => void): { stop(): void };
}

const SEEK_END = 2;
const O_CLOEXEC = 0o2000000; // Linux (x86-64, arm64); not in node:fs constants
const F_DUPFD_CLOEXEC = 1030;
let fdLib: { lseek(fd: number, off: number, whence: number): number; fcntl(fd: number, cmd: number, arg: number): number } | undefined;

function fdCalls() {
  if (!fdLib) {
    const libc = dlopen("libc.so.6", {
      lseek: { args: [T.i32, T.i64, T.i32], returns: T.i64_fast },
      fcntl: { args: [T.i32, T.i32, T.i32], returns: T.i32 },
    }).symbols;
    fdLib = { lseek: (f, o, w) => Number(libc.lseek(f, o, w)), fcntl: (f, c, a) => libc.fcntl(f, c, a) };
  }
  return fdLib;
}

const lseek = (fd: number, off: number, whence: number): number => fdCalls().lseek(fd, off, whence);

/** One open file description per path that watchers duplicate (never closed: reused by every rewatch). */
const watchOrigins = new Map<string, number>();

/** A new fd on the watch description of `path` (opened on first use), positioned at the end. */
function watchFd(path: string): number {
  let origin = watchOrigins.get(path);
  if (origin === undefined) {
    origin = systemKmsgIo.openAtEnd(path);
    watchOrigins.set(path, origin);
  }
  const fd = fdCalls().fcntl(origin, F_DUPFD_CLOEXEC, 0);
  if (fd < 0) throw new Error(`${path}: cannot duplicate the watch descriptor`);
  lseek(fd, 0, SEEK_END); // shared offset: skip what an earlier watcher left unread
  return fd;
}

/** The real /dev/kmsg. */
export const systemKmsgIo: KmsgIo = {
  openAtEnd(path) {
    const fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK | O_CLOEXEC);
    if (lseek(fd, 0, SEEK_END) < 0) {
      closeSync(fd);
      throw new Error(`${path}: lseek SEEK_END failed`);
    }
    return fd;
  },
  read(fd, buf) {
    try {
      return { bytes: readSync(fd, buf, 0, buf.length, null) };
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === "EAGAIN") return "again";
      if (code === "EPIPE") return "pipe";
      throw err;
    }
  },
  close(fd) {
    closeSync(fd);
  },
  watch(path, onData, onEnd) {
    const fd = watchFd(path);
    const reader = Bun.file(fd).stream().getReader(); // Bun reads a dup of fd from its event loop
    let stopped = false;
    void (async () => {
      try {
        for (;;) {
          const r = await reader.read();
          if (r.done) break;
          if (!stopped) onData();
        }
        if (!stopped) onEnd();
      } catch (err) {
        if (!stopped) onEnd(err);
      } finally {
        try { closeSync(fd); } catch { /* already closed */ }
      }
    })();
    return {
      stop() {
        if (stopped) return;
        stopped = true;
        reader.cancel().catch(() => {});
      },
    };
  },
};

export interface KmsgReaderOptions {
  path: string;
  onRecord(rec: KmsgRecord): void;
  io?: KmsgIo;
  /** Records per drain slice before yielding to the event loop (default 256). */
  maxRecordsPerSlice?: number;
  /** Delay before watching again after the watcher stopped (default 1000 ms). */
  rewatchMs?: number;
  onWatchError?(err: unknown): void;
}

/** The largest record the kernel hands out is 8 KiB (CONSOLE_EXT_LOG_MAX); a smaller buffer gets EINVAL. */
const RECORD_BUF = 16 * 1024;

export class KmsgReader {
  /** Records read. */
  records = 0;
  /** Records the ring overwrote before we read them (from sequence gaps). */
  lost = 0;
  /** Reads that returned EPIPE. */
  overruns = 0;
  /** Records that did not parse. */
  malformed = 0;
  /** Times the watcher had to be restarted. */
  rewatches = 0;

  private readonly io: KmsgIo;
  private readonly buf = new Uint8Array(RECORD_BUF);
  private readonly dec = new TextDecoder();
  private readonly perSlice: number;
  private readonly rewatchMs: number;
  private fd: number;
  private lastSeq = -1;
  private watcher: { stop(): void } | undefined;
  private rewatchTimer: ReturnType<typeof setTimeout> | undefined;
  private scheduled: ReturnType<typeof setImmediate> | undefined;
  private stopped = false;

  constructor(private readonly opts: KmsgReaderOptions) {
    this.io = opts.io ?? systemKmsgIo;
    this.perSlice = Math.max(1, opts.maxRecordsPerSlice ?? 256);
    this.rewatchMs = opts.rewatchMs ?? 1000;
    this.fd = this.io.openAtEnd(opts.path);
    try {
      this.startWatch();
    } catch (err) {
      this.io.close(this.fd);
      throw err;
    }
  }

  /**
   * Reads up to one slice of records now; schedules the next slice if the log may hold more.
   * Returns the records delivered by this call.
   */
  drain(): number {
    if (this.scheduled) {
      clearImmediate(this.scheduled);
      this.scheduled = undefined;
    }
    let n = 0;
    while (!this.stopped && n < this.perSlice) {
      const r = this.io.read(this.fd, this.buf);
      if (r === "again") return n;
      if (r === "pipe") {
        this.overruns++;
        continue; // the kernel moved us to the oldest record still there
      }
      if (r.bytes <= 0) return n;
      n++;
      this.records++;
      const rec = parseKmsgRecord(this.dec.decode(this.buf.subarray(0, r.bytes)));
      if (!rec) {
        this.malformed++;
        continue;
      }
      if (this.lastSeq >= 0 && rec.seq > this.lastSeq + 1) this.lost += rec.seq - this.lastSeq - 1;
      this.lastSeq = rec.seq;
      this.opts.onRecord(rec);
    }
    if (!this.stopped) this.schedule(); // a full slice: there may be more
    return n;
  }

  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.watcher?.stop();
    if (this.rewatchTimer) clearTimeout(this.rewatchTimer);
    if (this.scheduled) clearImmediate(this.scheduled);
    this.io.close(this.fd);
  }

  private schedule(): void {
    if (!this.scheduled) this.scheduled = setImmediate(() => {
      this.scheduled = undefined;
      this.drain();
    });
  }

  private startWatch(): void {
    this.watcher = this.io.watch(this.opts.path, () => this.schedule(), (err) => {
      if (this.stopped) return;
      if (err !== undefined) this.opts.onWatchError?.(err);
      this.watcher = undefined;
      this.rewatchLater();
    });
  }

  private rewatchLater(): void {
    this.rewatchTimer = setTimeout(() => {
      this.rewatchTimer = undefined;
      if (this.stopped) return;
      this.rewatches++;
      try {
        this.startWatch();
      } catch (err) {
        this.opts.onWatchError?.(err);
        this.rewatchLater();
        return;
      }
      this.drain(); // records that came while nothing watched
    }, this.rewatchMs);
  }
}
