// Reading a container's cgroup and /proc files for its metric series. Containers come and go
// between the registry's listing and the scrape's read: a file that vanished (the cgroup was
// removed, the init process exited) means "this container is gone", never a failed scrape.
import { FileTooLargeError, readBoundedText } from "../util/bounded-read.ts";

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
 * the file system's. Synchronous (src/util/bounded-read.ts): an asynchronous open/read/close made
 * a 100-container scrape of cpu_util 3x slower.
 */
export function readBounded(path: string, max = MAX_CONTAINER_FILE_BYTES): string {
  try {
    return readBoundedText(path, max);
  } catch (err) {
    if (err instanceof FileTooLargeError) throw new Error(`${path}: ${err.message}, not a kernel statistics file`);
    throw err;
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
