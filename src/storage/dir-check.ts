// Is a directory usable for the local files? Asked twice: by the config loader for
// `[Storage.LocalFile] Path` (so `kpulse check`, run where the agent runs, refuses
// "/etc/passwd", a read-only or foreign directory, or /proc) and at start, where the directory
// is created (the loader only looks: `kpulse check` changes nothing). A directory that becomes
// unwritable later is the sink's business: it counts and reports, see localfile.ts.
import { accessSync, constants, realpathSync, statfsSync, statSync, type Stats } from "node:fs";
import { dirname, relative, resolve } from "node:path";
import { makeEventDir } from "./file-modes.ts";

/** statfs f_type of file systems that hold no files of ours (pseudo file systems). */
const PSEUDO_FS: ReadonlyMap<number, string> = new Map([
  [0x9fa0, "proc"],
  [0x62656572, "sysfs"],
  [0x27e0eb, "cgroup"],
  [0x63677270, "cgroup2"],
  [0x64626720, "debugfs"],
  [0x74726163, "tracefs"],
  [0x73636673, "securityfs"],
  [0xcafe4a11, "bpf"],
  [0x62656570, "configfs"],
  [0x6165676c, "pstore"],
  [0xde5e81e4, "efivarfs"],
]);

function kind(st: Stats): string {
  if (st.isFile()) return "a regular file";
  if (st.isCharacterDevice() || st.isBlockDevice()) return "a device";
  if (st.isFIFO()) return "a FIFO";
  if (st.isSocket()) return "a socket";
  return "not a directory";
}

/** The deepest existing ancestor of an absolute path (the path itself when it exists). */
function existingAncestor(abs: string): { path: string; st: Stats } {
  for (let p = abs; ; p = dirname(p)) {
    try {
      return { path: p, st: statSync(p) };
    } catch (e) {
      // ENOENT: keep climbing; ENOTDIR: a component is a file, reported by the caller's stat.
      if (p === dirname(p)) throw e;
    }
  }
}

/**
 * Why the directory `path` cannot hold our files, as `"<path>" is …`, or undefined when it can:
 * an existing directory this process may write, or a missing one whose nearest existing
 * ancestor is a directory (created at start). Never under /proc or /sys, never on a pseudo
 * file system. Changes nothing on disk.
 */
function dirIssue(path: string): string | undefined {
  const abs = resolve(path);
  const shown = JSON.stringify(path);
  let found: { path: string; st: Stats };
  try {
    found = existingAncestor(abs);
  } catch (e) {
    return `${shown} cannot be examined: ${(e as Error).message}`;
  }
  let real = found.path;
  try {
    real = realpathSync(found.path);
  } catch {}
  for (const top of ["/proc", "/sys"]) {
    if (real === top || !relative(top, real).startsWith("..")) return `${shown} is under ${top}, not on a real file system`;
  }
  try {
    const fs = PSEUDO_FS.get(Number(statfsSync(found.path).type));
    if (fs) return `${shown} is on ${fs}, not on a real file system`;
  } catch {}
  if (!found.st.isDirectory()) {
    return found.path === abs ? `${shown} is ${kind(found.st)}` : `${JSON.stringify(found.path)} (in ${shown}) is ${kind(found.st)}`;
  }
  if (found.path !== abs) return undefined; // created at start, where mkdir reports what it meets
  try {
    accessSync(abs, constants.W_OK | constants.X_OK);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    return code === "EROFS"
      ? `${shown} is on a read-only file system`
      : `${shown} is not writable by this user (uid ${process.getuid?.() ?? "?"}: ${code ?? (e as Error).message})`;
  }
  return undefined;
}

/** `[Storage.LocalFile] Path`: the end of "Storage.LocalFile.Path …", or undefined when usable ("" = off). */
export function localDirProblem(path: string): string | undefined {
  if (path === "") return undefined;
  const issue = dirIssue(path);
  return issue && `must be a writable directory, but ${issue}`;
}

/** `[Kpulse] PidFile`: a file (existing or not) in a usable directory. */
export function pidFileProblem(path: string): string | undefined {
  try {
    if (statSync(path).isDirectory()) return `must be a file, but ${JSON.stringify(path)} is a directory`;
  } catch {}
  const issue = dirIssue(dirname(resolve(path)));
  return issue && `must be a file in a writable directory, but ${issue}`;
}

/** At start: check, create (mode 0750, file-modes.ts) and check again; the problem (as localDirProblem), or undefined when ready. */
export function prepareLocalDir(path: string): string | undefined {
  const before = localDirProblem(path);
  if (before) return before;
  try {
    makeEventDir(path);
  } catch (e) {
    return `must be a writable directory, but it cannot be created: ${(e as Error).message}`;
  }
  return localDirProblem(path);
}
