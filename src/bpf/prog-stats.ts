// What each loaded BPF program costs the kernel: run count and total run time from
// bpf_obj_get_info_by_fd (struct bpf_prog_info run_cnt, run_time_ns). The kernel fills them only
// while run-time statistics are enabled; enableRunTimeStats() enables them fd-scoped with
// bpf_enable_stats(BPF_STATS_RUN_TIME) — they stay on while any such fd is open and go off when
// the last one closes — never through the global kernel.bpf_stats_enabled sysctl. With stats
// on, every program run pays two clock reads (tens of ns); [Kpulse] BpfProgramStats turns it off.
import { BPF_STATS_RUN_TIME, libbpfProgStats, PROG_INFO } from "../../ffi/libbpf.ts";
import { closeFd, ErrnoError } from "../../ffi/libc.ts";
import type { Sample } from "../metrics/sample.ts";
import { vmlinuxEnum } from "./btf.ts";
import { BpfObject } from "./object.ts";

export interface ProgramFd {
  /** The program's name in the object (libbpf's, not truncated to 15 characters). */
  program: string;
  fd: number;
}

export interface ProgramInfo {
  id: number;
  /** enum bpf_prog_type without the prefix, lower case ("tracing", "tracepoint", "kprobe"). */
  type: string;
  /** The program's tag (hash of its instructions), 16 hex digits. */
  tag: string;
  runTimeNs: number;
  runCount: number;
  recursionMisses: number;
}

const info = new Uint8Array(PROG_INFO.sz);
const infoDv = new DataView(info.buffer);
const infoLen = new Uint32Array(1);

function u64(at: number): number {
  return infoDv.getUint32(at + 4, true) * 4294967296 + infoDv.getUint32(at, true);
}

let typeNames: Map<number, string> | undefined;

function typeName(t: number): string {
  if (!typeNames) {
    try {
      typeNames = vmlinuxEnum("bpf_prog_type");
    } catch {
      typeNames = new Map();
    }
  }
  const n = typeNames.get(t);
  return n ? n.replace(/^BPF_PROG_TYPE_/, "").toLowerCase() : String(t);
}

/** bpf_obj_get_info_by_fd for a program fd; throws ErrnoError. */
export function programInfo(fd: number): ProgramInfo {
  info.fill(0); // pointer/count fields must be 0: no arrays are copied out
  infoLen[0] = PROG_INFO.sz;
  const rc = libbpfProgStats().bpf_obj_get_info_by_fd(fd, info, infoLen);
  if (rc < 0) throw new ErrnoError("bpf_obj_get_info_by_fd", -rc);
  let tag = "";
  for (let i = 0; i < 8; i++) tag += info[PROG_INFO.tag + i]!.toString(16).padStart(2, "0");
  return {
    id: infoDv.getUint32(PROG_INFO.id, true),
    type: typeName(infoDv.getUint32(PROG_INFO.type, true)),
    tag,
    runTimeNs: u64(PROG_INFO.run_time_ns),
    runCount: u64(PROG_INFO.run_cnt),
    recursionMisses: u64(PROG_INFO.recursion_misses),
  };
}

const INFO_HELP = "A loaded BPF program of a probe (always 1): its name, tag and program type.";
const TIME_HELP = "Time the kernel spent running the BPF program while run-time statistics were enabled.";
const COUNT_HELP = "Runs of the BPF program while run-time statistics were enabled.";

/**
 * `bpf_program_info{probe,program,tag,type}` 1, `bpf_program_run_time_seconds_total{probe,program}`
 * and `bpf_program_run_count_total{probe,program}` for every program the object attached. Names
 * carry no probe prefix: publish them in the agent's own group (`<ns>_bpf_program_…`).
 */
export function programCostSamples(obj: BpfObject, probe: string): Sample[] {
  const out: Sample[] = [];
  for (const { program, fd } of obj.programFds()) {
    let pi: ProgramInfo;
    try {
      pi = programInfo(fd);
    } catch {
      continue; // closed meanwhile
    }
    out.push(
      { name: "bpf_program_info", help: INFO_HELP, type: "gauge", value: 1, labels: { probe, program, tag: pi.tag, type: pi.type } },
      { name: "bpf_program_run_time_seconds_total", help: TIME_HELP, type: "counter", value: pi.runTimeNs / 1e9, labels: { probe, program } },
      { name: "bpf_program_run_count_total", help: COUNT_HELP, type: "counter", value: pi.runCount, labels: { probe, program } },
    );
  }
  return out;
}

/** Cost samples of every live BPF object, each under its probe's name (the kits name objects so). */
export function allProgramCostSamples(): Sample[] {
  return [...BpfObject.live].flatMap((o) => programCostSamples(o, o.name));
}

export interface RunTimeStats {
  /** Releases this holder; statistics go off when the last holder in the process (and the kernel) lets go. */
  close(): void;
}

let statsFd = -1;
let holders = 0;

/**
 * Turns on run-time statistics for every BPF program while the returned handle is open (one
 * bpf_enable_stats fd per process, shared by holders). Throws ErrnoError (EPERM without
 * CAP_SYS_ADMIN, EINVAL on kernels before 5.8).
 */
export function enableRunTimeStats(): RunTimeStats {
  if (statsFd < 0) {
    const fd = libbpfProgStats().bpf_enable_stats(BPF_STATS_RUN_TIME);
    if (fd < 0) throw new ErrnoError("bpf_enable_stats(BPF_STATS_RUN_TIME)", -fd);
    statsFd = fd;
  }
  holders++;
  let open = true;
  return {
    close() {
      if (!open) return;
      open = false;
      if (--holders === 0) {
        closeFd(statsFd);
        statsFd = -1;
      }
    },
  };
}
