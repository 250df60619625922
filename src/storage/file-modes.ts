// Event files are readable by the agent's group only (0640) in directories closed to others
// (0750): events name processes, containers and addresses. The modes are set explicitly
// (chmod after creation), so a permissive umask does not widen them. Files and directories
// that already exist keep the modes the operator gave them.
import { existsSync, fchmodSync, mkdirSync, openSync, chmodSync } from "node:fs";
import { open, type FileHandle } from "node:fs/promises";
import { dirname, resolve } from "node:path";

export const EVENT_FILE_MODE = 0o640;
export const EVENT_DIR_MODE = 0o750;

/** mkdir -p; every directory created here gets 0750 (the parents it already finds are left alone). */
export function makeEventDir(path: string): void {
  const first = mkdirSync(path, { recursive: true, mode: EVENT_DIR_MODE });
  if (first === undefined) return;
  // mkdir returned the top-most directory it created: chmod from the leaf up to it.
  const top = resolve(first);
  for (let d = resolve(path); ; d = dirname(d)) {
    chmodSync(d, EVENT_DIR_MODE);
    if (d === top || d === dirname(d)) break;
  }
}

/** openSync that creates the file 0640 whatever the umask. */
export function openEventFileSync(path: string, flags: string): number {
  const created = !existsSync(path);
  const fd = openSync(path, flags, EVENT_FILE_MODE);
  if (created) fchmodSync(fd, EVENT_FILE_MODE);
  return fd;
}

/** fs/promises open that creates the file 0640 whatever the umask. */
export async function openEventFile(path: string, flags: string): Promise<FileHandle> {
  const created = !existsSync(path);
  const fh = await open(path, flags, EVENT_FILE_MODE);
  if (created) await fh.chmod(EVENT_FILE_MODE);
  return fh;
}
