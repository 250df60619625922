// Turns one `struct memory_reclaim_event` ring record into HUATUO's memory_reclaim tracer_data
// (pid, tid, comm, reclaim_duration_ns) plus the thread's memory cgroup and what kind of
// reclaim blocked it. Offsets come from the loaded object's BTF (bpf/include/memory_reclaim.h).
import { cString, u64, type Offsets } from "../kit/decoders.ts";
import { CGROUP_NAME_LEN, cgroupPath, kernelAddress } from "../oom/memcg.ts";

const DEPTH = 8;

/** Field name → size in bytes, as the decoder reads it. */
export const MEMORY_RECLAIM_FIELDS = {
  ts_ns: 8, reclaim_duration_ns: 8, memcg_css: 8, nr_reclaimed: 8, pid: 4, tid: 4, cgroup_depth: 4, scope: 4,
  comm: 16, cgroup: DEPTH * CGROUP_NAME_LEN,
} as const;

export type MemoryReclaimOffsets = Offsets<typeof MEMORY_RECLAIM_FIELDS>;

/** RECLAIM_SCOPE_*: the page allocator ran short (global) or a memory cgroup reached its limit. */
const SCOPES = ["", "global", "memcg"];

export function decodeMemoryReclaim(o: MemoryReclaimOffsets, u8: Uint8Array, dv: DataView, at: number): Record<string, unknown> {
  const css = kernelAddress(dv, at + o.memcg_css);
  const scope = dv.getUint32(at + o.scope, true);
  return {
    pid: dv.getUint32(at + o.pid, true),
    tid: dv.getUint32(at + o.tid, true),
    comm: cString(u8, at + o.comm, 16),
    reclaim_duration_ns: u64(dv, at + o.reclaim_duration_ns),
    // kpulse: where the reclaim was charged, what kind it was and what it freed
    memory_cgroup_css_addr: css,
    memory_cgroup_path: css ? cgroupPath(u8, at + o.cgroup, DEPTH * CGROUP_NAME_LEN, dv.getUint32(at + o.cgroup_depth, true)) : "",
    reclaim_scope: SCOPES[scope] ?? String(scope),
    nr_reclaimed: u64(dv, at + o.nr_reclaimed),
  };
}
