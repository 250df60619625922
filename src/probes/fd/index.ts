// fd: KubeSkoop's `fd` probe, host-wide: `<ns>_fd_openfd` (entries of /proc/<pid>/fd summed over
// processes) and `<ns>_fd_opensocket` (distinct sockets among them: a socket shared by several
// processes counts once, as in KubeSkoop), plus how many processes were counted and skipped.
//
// Cost: one readdir per process and one readlink per fd (the only way to tell a socket), about
// 1 µs + 5 µs per fd. Bounded per scrape by FD_LIMITS: at most `processes` processes and `fds`
// fd entries; the process during which the fd budget runs out and every later one are skipped
// (the series then cover the counted processes only, and processes_skipped says so).
import { opendirSync, readlinkSync, type Dir } from "node:fs";
import { join } from "node:path";
import type { Sample } from "../../metrics/sample.ts";
import type { ProcfsRoot } from "../../procfs/root.ts";
import { defineProbe } from "../types.ts";
import { socketInode } from "./parse.ts";
import { isProcessGone, listPids, PROCESS_LIMIT, yieldToLoop } from "./procs.ts";

export interface FdLimits {
  processes: number;
  fds: number;
}
export const FD_LIMITS: FdLimits = { processes: PROCESS_LIMIT, fds: 65536 };

export interface FdCounts {
  openFds: number;
  openSockets: number;
  /** Processes whose fd table was counted. */
  counted: number;
  /** Processes not counted: gone, unreadable, or beyond the limits. */
  skipped: number;
}

/** Names in an fd directory, at most `max` of them; undefined when the process is gone/unreadable. */
function fdNames(dir: string, max: number): string[] | undefined {
  const names: string[] = [];
  let d: Dir;
  try {
    d = opendirSync(dir);
  } catch (err) {
    if (isProcessGone(err)) return undefined;
    throw err;
  }
  try {
    for (let e = d.readSync(); e !== null && names.length < max; e = d.readSync()) names.push(e.name);
  } catch (err) {
    if (isProcessGone(err)) return undefined;
    throw err;
  } finally {
    d.closeSync();
  }
  return names;
}

function linkTarget(path: string): string {
  try {
    return readlinkSync(path);
  } catch {
    return ""; // closed since the readdir, or the process exited: still counted as an open fd
  }
}

/** Counts the fds and distinct sockets of `pids` (the host's, or later a container's). */
export async function countFds(procfs: ProcfsRoot, pids: readonly string[], limits: FdLimits = FD_LIMITS): Promise<FdCounts> {
  const sockets = new Set<string>();
  let openFds = 0;
  let counted = 0;
  let budget = limits.fds;
  let sinceYield = 0;
  const last = Math.min(pids.length, limits.processes);
  for (let i = 0; i < last; i++) {
    const dir = procfs.proc(pids[i]!, "fd");
    const names = fdNames(dir, budget + 1);
    if (names === undefined) continue;
    if (names.length > budget) break; // out of fd budget: this process and the rest are skipped
    budget -= names.length;
    openFds += names.length;
    counted++;
    for (const name of names) {
      const inode = socketInode(linkTarget(join(dir, name)));
      if (inode !== undefined) sockets.add(inode);
    }
    sinceYield += names.length + 1;
    if (sinceYield >= 4096) {
      sinceYield = 0;
      await yieldToLoop();
    }
  }
  return { openFds, openSockets: sockets.size, counted, skipped: pids.length - counted };
}

const LIMITS_TEXT = `at most ${FD_LIMITS.processes} processes and ${FD_LIMITS.fds} fds per scrape`;

export function fdSamples(c: FdCounts): Sample[] {
  return [
    { name: "openfd", help: `Open file descriptors of host processes: entries of /proc/<pid>/fd summed (${LIMITS_TEXT}).`, type: "gauge", value: c.openFds },
    { name: "opensocket", help: `Distinct sockets open in host processes: socket:[inode] targets in /proc/<pid>/fd, each socket once (${LIMITS_TEXT}).`, type: "gauge", value: c.openSockets },
    { name: "processes_counted", help: "Processes whose /proc/<pid>/fd was counted in this scrape.", type: "gauge", value: c.counted },
    { name: "processes_skipped", help: `Processes left out of this scrape: exited, unreadable, or beyond the limits (${LIMITS_TEXT}).`, type: "gauge", value: c.skipped },
  ];
}

export const fdProbe = defineProbe({
  name: "fd",
  kind: "metric",
  source: "procfs /proc/<pid>/fd",
  defaultEnabled: false, // KubeSkoop's probes are opt-in, as in KubeSkoop: [Kpulse] EnableProbes
  runtimeCapabilities: {
    CAP_DAC_READ_SEARCH: "lists /proc/<pid>/fd of other users' processes (mode 0500)",
    CAP_SYS_PTRACE: "reads the fd links of other users' processes (ptrace access)",
  },

  create(ctx) {
    return {
      async collect() {
        return fdSamples(await countFds(ctx.procfs, listPids(ctx.procfs)));
      },
      stop() {},
    };
  },
});
