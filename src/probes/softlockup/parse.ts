// The kernel's soft lockup report, read from /dev/kmsg records (kernel/watchdog.c):
//
//   watchdog: BUG: soft lockup - CPU#3 stuck for 23s! [stress-ng:4242]
//   Modules linked in: ...
//   CPU: 3 PID: 4242 Comm: stress-ng Tainted: G             L     6.1.0 #1
//   RIP: 0010:...            (registers, Call Trace, <IRQ>/<TASK> frames, NMI backtraces)
//
// Only records of the kernel facility (0) count: userspace writes to /dev/kmsg always carry
// another facility (the kernel forces LOG_USER when a writer asks for 0), so a forged line can
// never pass for a soft lockup. The report is the header plus the kernel records that follow
// it, up to a bound, until the log has been quiet for a moment or the next report starts.
import { formatKmsgLine, type KmsgRecord } from "./kmsg.ts";

/** The header: "BUG: soft lockup - CPU#N stuck for Ns! [comm:pid]" (with "watchdog: " since 4.x). */
const HEADER = /^(?:(?:NMI )?watchdog: )?BUG: soft lockup - CPU#(\d+) stuck for (\d+)s! \[(.*):(\d+)\]\s*$/;

export interface SoftlockupHeader {
  cpu: number;
  stuckSeconds: number;
  comm: string;
  pid: number;
}

/** The header of a soft lockup report, or undefined (including any record not from the kernel). */
export function parseSoftlockupHeader(rec: KmsgRecord): SoftlockupHeader | undefined {
  if (rec.facility !== 0) return undefined;
  const m = HEADER.exec(rec.message);
  if (!m) return undefined;
  return { cpu: Number(m[1]), stuckSeconds: Number(m[2]), comm: m[3]!, pid: Number(m[4]) };
}

export interface SoftlockupReport extends SoftlockupHeader {
  /** Log time of the header, µs since boot. */
  tsUsec: number;
  /** The kernel records that followed the header, dmesg-formatted ("[sec.usec] text"). */
  lines: string[];
  /** The report was cut at a bound (lines, bytes or time). */
  truncated: boolean;
}

export interface AssemblerOptions {
  /** Called once per report, when it is complete. */
  onReport(r: SoftlockupReport): void;
  /** Header seen: return false to skip collecting this report's lines (e.g. saves backed off). */
  onHeader?(h: SoftlockupHeader): boolean;
  maxLines?: number;
  maxBytes?: number;
  /** Records logged more than this after the header (log clock) belong to something else. */
  windowUsec?: number;
}

/** Collects each soft lockup report from the records that follow its header. */
export class SoftlockupAssembler {
  private cur: SoftlockupReport | undefined;
  private bytes = 0;
  private collecting = false;
  private readonly maxLines: number;
  private readonly maxBytes: number;
  private readonly windowUsec: number;

  constructor(private readonly opts: AssemblerOptions) {
    this.maxLines = opts.maxLines ?? 256;
    this.maxBytes = opts.maxBytes ?? 64 * 1024;
    this.windowUsec = opts.windowUsec ?? 5_000_000;
  }

  /** A report is being collected (the caller flushes it after a quiet period). */
  get pending(): boolean {
    return this.cur !== undefined;
  }

  push(rec: KmsgRecord): void {
    const h = parseSoftlockupHeader(rec);
    if (h) {
      this.flush();
      this.collecting = this.opts.onHeader?.(h) ?? true;
      this.cur = { ...h, tsUsec: rec.tsUsec, lines: [], truncated: false };
      this.bytes = 0;
      return;
    }
    const cur = this.cur;
    if (!cur || rec.facility !== 0) return;
    if (rec.tsUsec - cur.tsUsec > this.windowUsec) {
      this.flush();
      return;
    }
    if (!this.collecting) return;
    const line = formatKmsgLine(rec);
    if (cur.lines.length >= this.maxLines || this.bytes + line.length + 1 > this.maxBytes) {
      cur.truncated = true;
      return;
    }
    cur.lines.push(line);
    this.bytes += line.length + 1;
  }

  /** Completes the pending report, if any. */
  flush(): void {
    const cur = this.cur;
    this.cur = undefined;
    if (cur && this.collecting) this.opts.onReport(cur);
  }
}
