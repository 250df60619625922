// What the agent does with local storage before any output starts (main.ts calls it right
// after the logger): the `[Storage.LocalFile] Path` directory is created and checked, then the
// instance lock is taken, so a second agent stops here, before it touches (or "repairs") a file
// the first one is writing. Any problem is returned as the message main prints (exit code 1),
// naming the file, the key and its line.
import type { LoadedConfig } from "../config/load.ts";
import { KPULSE, STORAGE_LOCALFILE } from "../config/sections.ts";
import { pidFileProblem, prepareLocalDir } from "./dir-check.ts";
import { acquirePidFile, LockHeldError, pidFilePath, type InstanceLock } from "./pidfile.ts";
import { mkdirSync } from "node:fs";
import { dirname } from "node:path";

export interface LocalStorage {
  /** The local-file directory, undefined when local files are off. */
  dir?: string;
  lock?: InstanceLock;
}

/** "<file>:<line>: <Key>" as written, or "<file>: <Key> (default …)" when the file does not set it. */
function where(cfg: LoadedConfig, key: string, value: string): string {
  const line = cfg.lineOf(key);
  return line !== undefined ? `${cfg.file}:${line}: ${key}` : `${cfg.file}: ${key} (default ${JSON.stringify(value)})`;
}

export function prepareLocalStorage(cfg: LoadedConfig, disableStorage: boolean): LocalStorage | { error: string } {
  const path = cfg.get(STORAGE_LOCALFILE).Path;
  const dir = !disableStorage && path !== "" ? path : undefined;
  if (dir !== undefined) {
    const problem = prepareLocalDir(dir);
    if (problem) return { error: `${where(cfg, "Storage.LocalFile.Path", dir)} ${problem}` };
  }
  const configured = cfg.get(KPULSE).PidFile;
  const pidPath = pidFilePath(configured, dir);
  if (pidPath === undefined) return { dir };
  const key = configured !== "" ? where(cfg, "Kpulse.PidFile", configured) : where(cfg, "Storage.LocalFile.Path", path);
  if (configured !== "") {
    const problem = pidFileProblem(configured);
    if (problem) return { error: `${key} ${problem}` };
    try {
      mkdirSync(dirname(configured), { recursive: true, mode: 0o755 });
    } catch {} // acquirePidFile reports it
  }
  try {
    return { dir, lock: acquirePidFile(pidPath) };
  } catch (e) {
    if (e instanceof LockHeldError) {
      return {
        error:
          `${key}: ${e.message} ([Kpulse] PidFile), so it writes the same files: stop it, or give ` +
          `this agent its own [Storage.LocalFile] Path or [Kpulse] PidFile`,
      };
    }
    return { error: `${key}: ${(e as Error).message}` };
  }
}
