// Reading a file that comes from outside (kernel statistics, a runtime's state, a config file)
// whole, but never more than a limit: read in chunks until EOF (procfs and cgroupfs report size
// 0), and refuse at the first byte past the limit instead of buffering it. Synchronous on purpose:
// these files are small, and procfs/cgroupfs ones are generated in memory in microseconds.
import { closeSync, fstatSync, openSync, readSync } from "node:fs";

const CHUNK = 65536;

/** A file over the limit; the message is "larger than <max> bytes" (callers add the path and why). */
export class FileTooLargeError extends Error {
  override name = "FileTooLargeError";
  constructor(readonly max: number) {
    super(`larger than ${max} bytes`);
  }
}

export interface BoundedReadOptions {
  /** Refuse anything but a regular file ("not a regular file"), e.g. /dev/zero named as a config. */
  regularFile?: boolean;
}

/** The file's text, at most `max` bytes. File-system errors are thrown as they are (with their `code`). */
export function readBoundedText(path: string, max: number, opts: BoundedReadOptions = {}): string {
  const fd = openSync(path, "r");
  try {
    if (opts.regularFile && !fstatSync(fd).isFile()) throw new Error("not a regular file");
    const buf = Buffer.allocUnsafe(Math.min(max + 1, CHUNK));
    const chunks: Buffer[] = [];
    let total = 0;
    for (;;) {
      const n = readSync(fd, buf, 0, Math.min(buf.length, max + 1 - total), null);
      if (n === 0) break;
      chunks.push(Buffer.from(buf.subarray(0, n)));
      total += n;
      if (total > max) throw new FileTooLargeError(max);
    }
    return chunks.length === 1 ? chunks[0]!.toString("utf8") : Buffer.concat(chunks, total).toString("utf8");
  } finally {
    closeSync(fd);
  }
}

/** The text, or undefined when the file is missing, unreadable or over the limit. */
export function readBoundedTextOrUndefined(path: string, max: number): string | undefined {
  try {
    return readBoundedText(path, max);
  } catch {
    return undefined;
  }
}
