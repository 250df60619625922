// Walking host processes under /proc, shared by the fd and io probes. Both scan every process on
// each scrape, so both are bounded (limits below) and yield to the event loop as they go.
import { readdirSync } from "node:fs";
import type { ProcfsRoot } from "../../procfs/root.ts";

/** Processes looked at per scrape; the rest count as skipped. */
export const PROCESS_LIMIT = 8192;

/** The numeric entries of /proc (thread-group leaders), by pid (procfs lists them so already). */
export function listPids(procfs: ProcfsRoot): string[] {
  return readdirSync(procfs.proc())
    .filter((name) => /^\d+$/.test(name))
    .sort((a, b) => Number(a) - Number(b));
}

/**
 * Errors that mean "this process is gone or not ours to read" (exited, pid reused, permission:
 * another user namespace, no CAP_SYS_PTRACE): the process is skipped. Anything else is thrown.
 */
export function isProcessGone(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException)?.code;
  return code === "ENOENT" || code === "ESRCH" || code === "EACCES" || code === "EPERM" || code === "ENOTDIR";
}

/** Let HTTP requests and ring drains run between chunks of a long scan. */
export const yieldToLoop = () => new Promise<void>((resolve) => setImmediate(resolve));
