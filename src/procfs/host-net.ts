// Network statistics of the host's network namespace: /proc/1/net/<file> is pid 1's view, which
// is the host's even when kpulse runs in a container with hostPID; /proc/net/<file> (kpulse's own
// namespace) is the fallback when pid 1 is not readable, with one warning.
import { readFile } from "node:fs/promises";
import type { Logger } from "../log.ts";
import type { ProcfsRoot } from "./root.ts";

export interface HostNetFile {
  /** The text and the path it came from (for parser errors). */
  read(): Promise<{ path: string; text: string }>;
}

export function hostNetFile(procfs: ProcfsRoot, name: string, log: Logger): HostNetFile {
  const hostPath = procfs.proc("1", "net", name);
  const selfPath = procfs.proc("net", name);
  let warnedFallback = false;
  return {
    async read() {
      try {
        return { path: hostPath, text: await readFile(hostPath, "utf8") };
      } catch (err) {
        const text = await readFile(selfPath, "utf8").catch((err2: Error) => {
          throw new Error(`cannot read ${hostPath} (${(err as Error).message}) nor ${selfPath} (${err2.message})`);
        });
        if (!warnedFallback) {
          warnedFallback = true;
          log.warn(`host ${name} unreadable, using own network namespace`, { path: hostPath, fallback: selfPath, err });
        }
        return { path: selfPath, text };
      }
    },
  };
}
