// The instance lock: one agent per set of files. Like HUATUO's /var/run/huatuo-bamai.pid, a
// pidfile held with flock(LOCK_EX|LOCK_NB) for the agent's whole life; a second agent finds the
// lock taken and refuses to start instead of interleaving its writes with the first one's.
//
// The lock, not the file's content, decides: the kernel drops it when the holder exits, even
// on kill -9, so a stale pidfile never blocks a restart. The file is never unlinked (unlinking
// would let two agents lock two different inodes under the same name); its content is the
// holder's pid, for the error message and for humans.
//
// Where it lives: `[Kpulse] PidFile`, default "" = `<Storage.LocalFile.Path>/kpulse.pid`, next
// to the files it protects (kpulse runs as non-root later, and /var/run is root's). With local
// files off and PidFile "", there is nothing to protect and no lock is taken.
import { closeSync, constants, ftruncateSync, openSync, readFileSync, writeSync } from "node:fs";
import { join } from "node:path";
import { EWOULDBLOCK, flock, LOCK_EX, LOCK_NB, strerror } from "../../ffi/libc.ts";

export const DEFAULT_PIDFILE_NAME = "kpulse.pid";

/** The pidfile to lock: PidFile when set, else `<localFileDir>/kpulse.pid`; undefined = none. */
export function pidFilePath(pidFile: string, localFileDir: string | undefined): string | undefined {
  if (pidFile !== "") return pidFile;
  return localFileDir ? join(localFileDir, DEFAULT_PIDFILE_NAME) : undefined;
}

export interface InstanceLock {
  readonly path: string;
  /** Release the lock (closing the file does it; the process exiting does it too). */
  release(): void;
}

/** Another process holds the lock. */
export class LockHeldError extends Error {
  constructor(
    readonly path: string,
    readonly holder: number | undefined,
  ) {
    super(`another kpulse${holder ? ` (pid ${holder})` : ""} holds the lock on ${path}`);
    this.name = "LockHeldError";
  }
}

/** Lock `path` for this process and write our pid into it; throws LockHeldError or an Error naming the path. */
export function acquirePidFile(path: string): InstanceLock {
  let fd: number;
  try {
    // Bun opens with O_CLOEXEC: a child process never inherits (and outlives us with) the lock.
    fd = openSync(path, constants.O_RDWR | constants.O_CREAT, 0o644);
  } catch (e) {
    throw new Error(`cannot open the pidfile ${path}: ${(e as Error).message}`);
  }
  const r = flock(fd, LOCK_EX | LOCK_NB);
  if (r < 0) {
    closeSync(fd);
    if (r === -EWOULDBLOCK) throw new LockHeldError(path, readPid(path));
    throw new Error(`cannot lock the pidfile ${path}: ${strerror(-r)}`);
  }
  try {
    ftruncateSync(fd, 0);
    writeSync(fd, `${process.pid}\n`, 0);
  } catch {
    // The lock is what counts; a pidfile we cannot write (full disk) still protects the files.
  }
  let held = true;
  return {
    path,
    release() {
      if (!held) return;
      held = false;
      try {
        closeSync(fd);
      } catch {}
    },
  };
}

function readPid(path: string): number | undefined {
  try {
    const n = Number.parseInt(readFileSync(path, "utf8"), 10);
    return Number.isSafeInteger(n) && n > 0 ? n : undefined;
  } catch {
    return undefined;
  }
}
