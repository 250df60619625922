// Turns one `struct oom_event` ring record into HUATUO's oom tracer_data: the trigger (the task
// in whose allocation the OOM killer ran) and the victim, each with its memory cgroup, plus the
// host's memory at the time. Offsets come from the loaded object's BTF (bpf/include/oom.h).
import { cString, u64, type Offsets } from "../kit/decoders.ts";
import { cgroupPath, kernelAddress, type MemcgFiles } from "./memcg.ts";

const DEPTH = 8;
const NAME_LEN = 128;

/** Field name → size in bytes, as the decoder reads it. */
export const OOM_FIELDS = {
  ts_ns: 8, trigger_memcg_css: 8, victim_memcg_css: 8, trigger_memcg_id: 8, victim_memcg_id: 8, trigger_memcg_usage: 8, trigger_memcg_max: 8,
  victim_memcg_usage: 8, victim_memcg_max: 8, trigger_pid: 4, trigger_tid: 4, victim_pid: 4, victim_tid: 4,
  trigger_cgroup_depth: 4, victim_cgroup_depth: 4, flags: 4, victim_uid: 4,
  trigger_comm: 16, victim_comm: 16, trigger_cgroup: DEPTH * NAME_LEN, victim_cgroup: DEPTH * NAME_LEN,
} as const;

export type OomOffsets = Offsets<typeof OOM_FIELDS>;

/** OOM_VICTIM_PID_ONLY: the kernel's tracepoint gave the victim's pid only (kernels before early 2024). */
const VICTIM_PID_ONLY = 1;

export interface OomCgroup {
  path: string;
  current?: number;
  max?: number;
  stat?: Record<string, number>;
  events?: Record<string, number>;
}

/** HUATUO's OOMActor; container_id and container_hostname appear once containers are resolved. */
export interface OomActor {
  memory_cgroup_css_addr: string;
  container_id?: string;
  container_hostname?: string;
  pid: number;
  comm: string;
  cgroup?: OomCgroup;
}

export interface OomData {
  trigger: OomActor;
  victim: OomActor;
  memory_snapshot?: { host_meminfo: Record<string, number> };
}

export interface OomDeps {
  pageSize: number;
  /** memory.stat / memory.events of a cgroup by its path; usage and limit too when asked. */
  memcg(path: string, withUsage: boolean): MemcgFiles | undefined;
  /** HUATUO's host_meminfo keys in bytes, or undefined when /proc/meminfo cannot be read. */
  meminfo(): Record<string, number> | undefined;
  /** A live process's comm and memory cgroup path, for kernels that report only the victim's pid. */
  task(pid: number): { comm: string; cgroup?: string } | undefined;
}

/** A memory cgroup as the kernel saw it at the kill, completed with its files when it still exists. */
function cgroupOf(path: string, usagePages: number, maxPages: number, deps: OomDeps, files: MemcgFiles | undefined): OomCgroup {
  const cg: OomCgroup = { path };
  const current = usagePages * deps.pageSize;
  // PAGE_COUNTER_MAX (LONG_MAX / PAGE_SIZE) is "no limit": omitted, like any zero value
  const unlimited = maxPages >= Math.floor(2 ** 63 / deps.pageSize) - 1;
  if (current) cg.current = current;
  if (maxPages && !unlimited) cg.max = maxPages * deps.pageSize;
  if (files?.stat) cg.stat = files.stat;
  if (files?.events) cg.events = files.events;
  return cg;
}

export function decodeOom(o: OomOffsets, u8: Uint8Array, dv: DataView, at: number, deps: OomDeps): OomData {
  const trigCss = kernelAddress(dv, at + o.trigger_memcg_css);
  const victCss = kernelAddress(dv, at + o.victim_memcg_css);
  const trigger: OomActor = {
    memory_cgroup_css_addr: trigCss,
    pid: dv.getUint32(at + o.trigger_pid, true),
    comm: cString(u8, at + o.trigger_comm, 16),
  };
  let trigFiles: MemcgFiles | undefined;
  if (trigCss) {
    const path = cgroupPath(u8, at + o.trigger_cgroup, DEPTH * NAME_LEN, dv.getUint32(at + o.trigger_cgroup_depth, true));
    trigFiles = deps.memcg(path, false);
    trigger.cgroup = cgroupOf(path, u64(dv, at + o.trigger_memcg_usage), u64(dv, at + o.trigger_memcg_max), deps, trigFiles);
  }

  const victimPid = dv.getUint32(at + o.victim_pid, true);
  const victim: OomActor = { memory_cgroup_css_addr: victCss, pid: victimPid, comm: cString(u8, at + o.victim_comm, 16) };
  if (dv.getUint32(at + o.flags, true) & VICTIM_PID_ONLY) {
    // Best effort: the victim is being killed; read what /proc still shows.
    const t = deps.task(victimPid);
    if (t) {
      victim.comm = t.comm;
      if (t.cgroup !== undefined) {
        const files = deps.memcg(t.cgroup, true);
        victim.cgroup = { path: t.cgroup, ...(files?.current ? { current: files.current } : {}), ...(files?.max ? { max: files.max } : {}),
          ...(files?.stat ? { stat: files.stat } : {}), ...(files?.events ? { events: files.events } : {}) };
      }
    }
  } else if (victCss) {
    const path = cgroupPath(u8, at + o.victim_cgroup, DEPTH * NAME_LEN, dv.getUint32(at + o.victim_cgroup_depth, true));
    // one read when both tasks share the cgroup (the usual memory cgroup OOM)
    const files = victCss === trigCss && trigger.cgroup?.path === path ? trigFiles : deps.memcg(path, false);
    victim.cgroup = cgroupOf(path, u64(dv, at + o.victim_memcg_usage), u64(dv, at + o.victim_memcg_max), deps, files);
  }

  const data: OomData = { trigger, victim };
  const meminfo = deps.meminfo();
  if (meminfo) data.memory_snapshot = { host_meminfo: meminfo };
  return data;
}
