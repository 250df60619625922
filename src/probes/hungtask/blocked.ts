// The blocked_processes_stack text: every task in uninterruptible sleep (D state) with its
// kernel stack, like the kernel's sysrq "w" dump HUATUO captures, but read from
// /proc/<pid>/task/<tid>/{stat,stack} (kpulse never writes to /proc/sysrq-trigger). Read
// asynchronously and bounded in tasks and bytes: it runs only for events the backoff lets through.
import { readdir, readFile } from "node:fs/promises";
import type { ProcfsRoot } from "../../procfs/root.ts";

export const MAX_BLOCKED_TASKS = 64;
export const MAX_BLOCKED_BYTES = 64 * 1024;
/** Files read at once while scanning /proc. */
const CONCURRENCY = 32;

export interface BlockedTask {
  tid: number;
  pid: number;
  comm: string;
  /** Frames, one per line. */
  stack: string;
}

/** comm and state of a /proc/<pid>/task/<tid>/stat line ("123 (a b) D 1 ..."), or undefined. */
export function parseStatState(text: string): { comm: string; state: string } | undefined {
  const open = text.indexOf("("), close = text.lastIndexOf(")");
  if (open < 0 || close < open) return undefined;
  const state = text.slice(close + 2, close + 3);
  return state ? { comm: text.slice(open + 1, close), state } : undefined;
}

/** /proc/<pid>/stack lines ("[<0>] fn+0x1/0x2") as frames ("fn+0x1/0x2"). */
export function procStackFrames(text: string): string {
  return text.split("\n").map((l) => l.replace(/^\[<[0-9a-fx]+>\]\s*/, "").trim()).filter(Boolean).join("\n");
}

/** One task's block of the text: a header line, then its frames indented. */
export function formatBlocked(t: BlockedTask): string {
  const frames = t.stack ? t.stack.split("\n").map((f) => "  " + f).join("\n") + "\n" : "";
  return `task:${t.comm} state:D pid:${t.tid} tgid:${t.pid}\n${frames}`;
}

/** The hung task first, then the other blocked tasks, cut at MAX_BLOCKED_TASKS / MAX_BLOCKED_BYTES. */
export function blockedText(first: BlockedTask | undefined, others: readonly BlockedTask[]): string {
  const all = first ? [first, ...others] : [...others];
  let out = "";
  let n = 0;
  for (const t of all) {
    const block = formatBlocked(t);
    if (n >= MAX_BLOCKED_TASKS || out.length + block.length > MAX_BLOCKED_BYTES) {
      out += `... ${all.length - n} more blocked tasks\n`;
      break;
    }
    out += (n ? "\n" : "") + block;
    n++;
  }
  return out;
}

async function readOptional(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, "utf8");
  } catch {
    return undefined;
  }
}

async function mapLimited<T, R>(items: readonly T[], fn: (t: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(CONCURRENCY, items.length) }, worker));
  return out;
}

/** Tasks in D state now, except `excludeTid`; at most MAX_BLOCKED_TASKS + 1 (to say more exist). */
export async function scanBlocked(procfs: ProcfsRoot, excludeTid: number): Promise<BlockedTask[]> {
  const pids = ((await readdir(procfs.proc()).catch(() => [])) as string[]).filter((n) => /^\d+$/.test(n));
  const threads = (await mapLimited(pids, async (pid) => {
    const tids = (await readdir(procfs.proc(pid, "task")).catch(() => [])) as string[];
    return tids.filter((t) => /^\d+$/.test(t)).map((tid) => [pid, tid] as const);
  })).flat();
  const found: BlockedTask[] = [];
  await mapLimited(threads, async ([pid, tid]) => {
    if (Number(tid) === excludeTid || found.length > MAX_BLOCKED_TASKS) return;
    const st = parseStatState((await readOptional(procfs.proc(pid, "task", tid, "stat"))) ?? "");
    if (st?.state !== "D") return;
    const stack = procStackFrames((await readOptional(procfs.proc(pid, "task", tid, "stack"))) ?? "");
    found.push({ tid: Number(tid), pid: Number(pid), comm: st.comm, stack });
  });
  return found.sort((a, b) => a.tid - b.tid);
}
