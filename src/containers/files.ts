// Reading a container's cgroup and /proc files for its metric series. Containers come and go
// between the registry's listing and the scrape's read: a file that vanished (the cgroup was
// removed, the init process exited) means "this container is gone", never a failed scrape.
import { open } from "node:fs/promises";

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

/** A file's text, at most MAX_CONTAINER_FILE_BYTES (longer is an error naming the file). Errors are the file system's. */
export async function readBounded(path: string, max = MAX_CONTAINER_FILE_BYTES): Promise<string> {
  const fh = await open(path, "r");
  try {
    // procfs and cgroupfs report size 0: read in chunks until EOF.
    const chunks: Buffer[] = [];
    let total = 0;
    for (;;) {
      const buf = Buffer.allocUnsafe(Math.min(65536, max + 1 - total));
      const { bytesRead } = await fh.read(buf, 0, buf.length, null);
      if (bytesRead === 0) break;
      chunks.push(buf.subarray(0, bytesRead));
      total += bytesRead;
      if (total > max) throw new Error(`${path}: larger than ${max} bytes, not a kernel statistics file`);
    }
    return Buffer.concat(chunks, total).toString("utf8");
  } finally {
    await fh.close();
  }
}

/** The text, or undefined when the container is gone (see isGone). */
export async function readIfPresent(path: string): Promise<string | undefined> {
  try {
    return await readBounded(path);
  } catch (err) {
    if (isGone(err)) return undefined;
    throw err;
  }
}
