// Parser for a cgroup v2 memory.events file ("low 0\nhigh 0\nmax 0\noom 0\noom_kill 0\n..."):
// the same flat "key value" format as /proc/vmstat, so the vmstat parser does the work.
import { parseKeyValues } from "../memory_vmstat/parse.ts";

export function parseMemoryEvents(text: string, source = "memory.events"): [key: string, value: number][] {
  return parseKeyValues(text, source);
}
