// One root prefix for /proc, /sys and /dev (`--procfs-prefix`), so fixture trees can stand in
// for the real kernel in tests.
import { join } from "node:path";

export interface ProcfsRoot {
  prefix: string;
  proc(...parts: string[]): string;
  sys(...parts: string[]): string;
  dev(...parts: string[]): string;
}

export function procfsRoot(prefix = ""): ProcfsRoot {
  const at = (top: string, parts: string[]) => join(prefix || "/", top, ...parts);
  return {
    prefix,
    proc: (...p) => at("proc", p),
    sys: (...p) => at("sys", p),
    dev: (...p) => at("dev", p),
  };
}
