// io: KubeSkoop's `io` probe, host-wide: /proc/<pid>/io summed over processes,
// `<ns>_io_{ioreadsyscall,iowritesyscall,ioreadbytes,iowritebytes}` (inspector_pod_io<field>):
// syscr, syscw, read_bytes and write_bytes (bytes that went to or came from storage, not the page
// cache: rchar/wchar are not exported, as in KubeSkoop). A sum over the processes alive at the
// scrape drops when a process exits, so these are gauges, not counters.
// Bounded: at most PROCESS_LIMIT processes per scrape, one small read each; processes that exited
// or are not readable (another user namespace, no CAP_SYS_PTRACE) are skipped and counted.
import { readFileSync } from "node:fs";
import type { Sample } from "../../metrics/sample.ts";
import type { ProcfsRoot } from "../../procfs/root.ts";
import { isProcessGone, listPids, PROCESS_LIMIT, yieldToLoop } from "../fd/procs.ts";
import { defineProbe } from "../types.ts";
import { parseProcIo } from "./parse.ts";

export interface IoSums {
  syscr: bigint;
  syscw: bigint;
  read_bytes: bigint;
  write_bytes: bigint;
  /** Processes whose io file was summed. */
  counted: number;
  /** Processes left out: exited, unreadable, or beyond the process limit. */
  skipped: number;
}

/** Sums /proc/<pid>/io over `pids` (the host's, or later a container's). */
export async function sumProcessIo(procfs: ProcfsRoot, pids: readonly string[], processLimit = PROCESS_LIMIT): Promise<IoSums> {
  const sums: IoSums = { syscr: 0n, syscw: 0n, read_bytes: 0n, write_bytes: 0n, counted: 0, skipped: 0 };
  const last = Math.min(pids.length, processLimit);
  for (let i = 0; i < last; i++) {
    const path = procfs.proc(pids[i]!, "io");
    let text: string;
    try {
      text = readFileSync(path, "utf8");
    } catch (err) {
      if (isProcessGone(err)) continue;
      throw err;
    }
    if (text === "") continue; // exited while being read
    const { fields } = parseProcIo(text, path);
    sums.syscr += fields.get("syscr")!;
    sums.syscw += fields.get("syscw")!;
    sums.read_bytes += fields.get("read_bytes")!;
    sums.write_bytes += fields.get("write_bytes")!;
    sums.counted++;
    if (i % 256 === 255) await yieldToLoop();
  }
  sums.skipped = pids.length - sums.counted;
  return sums;
}

const LIMIT_TEXT = `at most ${PROCESS_LIMIT} processes per scrape; exited processes drop out`;

export function ioSamples(s: IoSums): Sample[] {
  return [
    { name: "ioreadsyscall", help: `Read syscalls of host processes alive now: syscr of /proc/<pid>/io summed (${LIMIT_TEXT}).`, type: "gauge", value: Number(s.syscr) },
    { name: "iowritesyscall", help: `Write syscalls of host processes alive now: syscw of /proc/<pid>/io summed (${LIMIT_TEXT}).`, type: "gauge", value: Number(s.syscw) },
    { name: "ioreadbytes", help: `Bytes host processes alive now read from storage: read_bytes of /proc/<pid>/io summed (${LIMIT_TEXT}).`, type: "gauge", value: Number(s.read_bytes) },
    { name: "iowritebytes", help: `Bytes host processes alive now caused to be written to storage: write_bytes of /proc/<pid>/io summed (${LIMIT_TEXT}).`, type: "gauge", value: Number(s.write_bytes) },
    { name: "processes_counted", help: "Processes whose /proc/<pid>/io was summed in this scrape.", type: "gauge", value: s.counted },
    { name: "processes_skipped", help: `Processes left out of this scrape: exited, unreadable, or beyond the limit (at most ${PROCESS_LIMIT} processes per scrape).`, type: "gauge", value: s.skipped },
  ];
}

export const ioProbe = defineProbe({
  name: "io",
  kind: "metric",
  source: "procfs /proc/<pid>/io",
  defaultEnabled: false, // KubeSkoop's probes are opt-in, as in KubeSkoop: [Kpulse] EnableProbes
  runtimeCapabilities: {
    CAP_DAC_READ_SEARCH: "reads /proc/<pid>/io of other users' processes (mode 0400)",
    CAP_SYS_PTRACE: "reads /proc/<pid>/io of other users' processes (ptrace access)",
  },

  create(ctx) {
    return {
      async collect() {
        return ioSamples(await sumProcessIo(ctx.procfs, listPids(ctx.procfs)));
      },
      stop() {},
    };
  },
});
