// loadavg's container series, HUATUO's loadavg_container_{nr_running,nr_uninterruptible}: how
// many of a container's threads are running (R) and in uninterruptible sleep (D) right now.
//
// HUATUO asks the kernel through netlink CGROUPSTATS, which exists for cgroup v1 only. kpulse
// counts the same task states itself: the thread ids of the container's cgroup (`tasks` on v1,
// `cgroup.threads` on v2, both listing the threads of that cgroup alone, as CGROUPSTATS counts)
// and the state letter of each /proc/<tid>/stat. That works on v1 and v2 alike, needs no
// netlink family or cgroup directory descriptors, and fixture trees can stand in for it. The
// cost is one small read per thread, so it is bounded: at most TASKS_PER_CONTAINER threads of a
// container and TASKS_PER_SCRAPE in all; the threads left out are counted (tasks_skipped).
import { readFileSync } from "node:fs";
import { isGone } from "../../containers/files.ts";
import { readCgroupFile } from "../../containers/series.ts";
import type { Container, ContainerView } from "../../containers/types.ts";
import type { ProcfsRoot } from "../../procfs/root.ts";
import { yieldToLoop } from "../fd/procs.ts";
import { parseTaskIds, parseTaskState } from "./parse.ts";

export const TASKS_PER_CONTAINER = 1024;
export const TASKS_PER_SCRAPE = 16384;
/** Threads read between two yields to the event loop. */
const CHUNK = 256;

export interface TaskCounts {
  running: number;
  uninterruptible: number;
}

/** Threads still to be read in this scrape, and those left out; shared by the scrape's containers. */
export interface TaskBudget {
  left: number;
  skipped: number;
}

export const newTaskBudget = (): TaskBudget => ({ left: TASKS_PER_SCRAPE, skipped: 0 });

/** Counts of one container, or undefined when its cgroup is gone. */
export async function countTasks(view: ContainerView, procfs: ProcfsRoot, c: Container, budget: TaskBudget): Promise<TaskCounts | undefined> {
  const file = view.unified ? "cgroup.threads" : "tasks";
  const text = readCgroupFile(view, c, "cpu", file);
  if (text === undefined) return undefined;
  const ids = parseTaskIds(text, `${view.cgroupDir(c, "cpu")}/${file}`);
  const take = Math.max(0, Math.min(ids.length, TASKS_PER_CONTAINER, budget.left));
  budget.left -= take;
  budget.skipped += ids.length - take;
  const counts: TaskCounts = { running: 0, uninterruptible: 0 };
  for (let i = 0; i < take; i++) {
    if (i > 0 && i % CHUNK === 0) await yieldToLoop();
    const path = procfs.proc(String(ids[i]), "stat");
    let stat: string;
    try {
      // Sync on purpose: a /proc/<tid>/stat read is a few µs, far less than an async round trip.
      stat = readFileSync(path, "utf8");
    } catch (err) {
      if (isGone(err)) continue; // the thread exited since the list was read
      throw err;
    }
    const state = parseTaskState(stat, path);
    if (state === "R") counts.running++;
    else if (state === "D") counts.uninterruptible++;
  }
  return counts;
}
