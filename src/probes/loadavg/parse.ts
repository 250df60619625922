// Parser for /proc/loadavg: "0.30 0.20 0.22 2/345 12345".

export interface LoadAvg {
  load1: number;
  load5: number;
  load15: number;
  /** Tasks currently runnable. */
  runnable: number;
  /** Tasks in the system. */
  total: number;
  lastPid: number;
}

const LOAD = /^\d+(\.\d+)?$/;
const UINT = /^\d+$/;

export function parseLoadAvg(text: string, source = "/proc/loadavg"): LoadAvg {
  const fields = text.trim().split(/\s+/);
  const bad = (why: string) => new Error(`${source}: ${why} in ${JSON.stringify(text.trim())}`);
  if (fields.length !== 5) throw bad(`expected 5 fields, got ${fields[0] === "" ? 0 : fields.length}`);
  const [l1, l5, l15, tasks, pid] = fields as [string, string, string, string, string];
  for (const [name, v] of [["load1", l1], ["load5", l5], ["load15", l15]] as const) {
    if (!LOAD.test(v)) throw bad(`${name} is not a load average: ${JSON.stringify(v)}`);
  }
  const slash = tasks.split("/");
  if (slash.length !== 2 || !UINT.test(slash[0]!) || !UINT.test(slash[1]!)) {
    throw bad(`expected runnable/total, got ${JSON.stringify(tasks)}`);
  }
  if (!UINT.test(pid)) throw bad(`last pid is not a number: ${JSON.stringify(pid)}`);
  return {
    load1: Number(l1),
    load5: Number(l5),
    load15: Number(l15),
    runnable: Number(slash[0]),
    total: Number(slash[1]),
    lastPid: Number(pid),
  };
}

/**
 * The ids of a cgroup's `tasks` (v1) or `cgroup.threads` (v2) file: one thread id per line.
 * `source` names the file in errors.
 */
export function parseTaskIds(text: string, source = "tasks"): number[] {
  const ids: number[] = [];
  text.split("\n").forEach((line, i) => {
    if (line === "") return;
    if (!UINT.test(line) || line.length > 10) throw new Error(`${source}:${i + 1}: not a thread id: ${JSON.stringify(line.slice(0, 32))}`);
    ids.push(Number(line));
  });
  return ids;
}

/**
 * The state letter of /proc/<tid>/stat ("1234 (comm) S 1 ..."): the first field after the last
 * ')' (a comm may contain spaces and parentheses). R running, D uninterruptible, S, I, T, Z, …
 */
export function parseTaskState(text: string, source = "/proc/<tid>/stat"): string {
  const close = text.lastIndexOf(")");
  const state = close < 0 ? undefined : text.slice(close + 1).trimStart()[0];
  if (state === undefined || !/^[A-Za-z]$/.test(state)) {
    throw new Error(`${source}: no task state after "(comm)" in ${JSON.stringify(text.slice(0, 64))}`);
  }
  return state;
}
