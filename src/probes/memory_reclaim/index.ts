// memory_reclaim_events (event probe, HUATUO's registered name; its events are saved as
// tracer_name "memory_reclaim"): a thread blocked in direct reclaim longer than
// [EventTracing.MemoryReclaim] BlockedThreshold, from the vmscan direct reclaim tracepoints
// (the page allocator ran short) and the memcg reclaim ones (its memory cgroup reached its
// limit), with the thread, the duration and the memory cgroup. Reclaims under the threshold
// are counted in <ns>_memory_reclaim_events_events_total{outcome="filtered"}.
import objectPath from "../../../build/bpf/memory_reclaim.bpf.o" with { type: "file" };
import { key, section } from "../../config/spec.ts";
import { defineBpfEventProbe } from "../kit/bpf-events.ts";
import { decodeMemoryReclaim, MEMORY_RECLAIM_FIELDS } from "./decode.ts";

export const MEMORY_RECLAIM_CONFIG = section("EventTracing.MemoryReclaim", {
  /** One direct reclaim longer than this (ns) is an event. */
  BlockedThreshold: key.int(900_000_000, 0),
});

export const memoryReclaimProbe = defineBpfEventProbe({
  name: "memory_reclaim_events",
  tracerName: "memory_reclaim",
  source: "bpf tp_btf/mm_vmscan_direct_reclaim_{begin,end}, tp_btf/mm_vmscan_memcg_reclaim_{begin,end} (fallback: tracepoint vmscan/*)",
  defaultEnabled: true,
  config: MEMORY_RECLAIM_CONFIG,
  object: objectPath,
  ring: "memory_reclaim_events",
  struct: "memory_reclaim_event",
  fields: MEMORY_RECLAIM_FIELDS,
  programs: [
    { alternatives: ["direct_reclaim_begin_btf", "direct_reclaim_begin_tp"] },
    { alternatives: ["direct_reclaim_end_btf", "direct_reclaim_end_tp"] },
    { alternatives: ["memcg_reclaim_begin_btf", "memcg_reclaim_begin_tp"], optional: true },
    { alternatives: ["memcg_reclaim_end_btf", "memcg_reclaim_end_tp"], optional: true },
  ],
  rodata: ({ config }) => ({ reclaim_duration_threshold_ns: BigInt(config.BlockedThreshold) }),
  decoder: ({ offsets }) => (u8, dv, at) => decodeMemoryReclaim(offsets, u8, dv, at),
  // The stalled thread's container, found from its cgroup while it still runs.
  identity: (dv, at, o) => ({ pid: dv.getUint32(at + o.tid, true) }),
});
