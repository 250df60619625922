// The event record shared by every output (local files, OpenSearch, the watch stream).
// The record keeps its times as numbers: publishing formats nothing. Each output renders
// what it needs once per record (src/events/format.ts), and the JSON of tracer_data is
// computed once and shared by all of them (dataJson below).
// String field names are HUATUO's document fields (design.md §3), so watch filters read
// `record[field]` directly and existing consumers read our documents.

export type TracerType = "event" | "autotracing";

export interface ContainerRef {
  container_id: string;
  container_hostname: string;
  container_host_namespace: string;
  container_type: string;
  container_qos: string;
}

/** Container fields are present only when non-empty (HUATUO's omitempty). */
export interface EventRecord extends Partial<ContainerRef> {
  hostname: string;
  region: string;
  /** Wall-clock time of the event, ms since the epoch (may carry a fraction; outputs print whole ms). */
  timeMs: number;
  /** When the agent handed the record to its outputs, ms since the epoch. */
  uploadedMs: number;
  tracer_name: string;
  /** Unique per event (xid format); also the SSE id and the OpenSearch _id. */
  tracer_id: string;
  tracer_type: TracerType;
  /** Must not be changed once the record is published: outputs share its JSON. */
  tracer_data: Record<string, unknown>;
  /** Memo of dataJson(); "" when tracer_data has no JSON form. Filled on first use. */
  _data?: string;
  /** Memo of documentJson() (src/events/format.ts). Filled on first use. */
  _doc?: string;
}

/**
 * JSON of the record's tracer_data, computed on first use and shared by every output.
 * undefined when tracer_data has no JSON form (the outputs then omit the key, as
 * JSON.stringify of the whole record did).
 */
export function dataJson(r: EventRecord): string | undefined {
  let s = r._data;
  if (s === undefined) s = r._data = JSON.stringify(r.tracer_data) ?? "";
  return s === "" ? undefined : s;
}

/** Kernel identifiers of where an event happened, most specific first (see src/containers/registry.ts). */
export interface KernelIdentity {
  /** Cgroup id (kernfs id) of the task's cgroup in one hierarchy (memory, cpu… or the unified one). */
  cgroupId?: number;
  /** Path of the cgroup below its hierarchy's root (the memory hierarchy's on v1). */
  cgroupPath?: string;
  /** Network namespace cookie (decimal): unlike an inode number, never reused by a later namespace. */
  netnsCookie?: string;
  /** Network namespace inode. */
  netnsInum?: number;
  /** A pid inside the container (used only when nothing else maps). */
  pid?: number;
}

/** What a probe hands to the framework; the framework shapes it into an EventRecord. */
export interface ProbeEvent {
  tracerName: string;
  tracerType?: TracerType;
  /** Wall-clock time of the kernel event, ms since epoch (defaults to now). */
  timeMs?: number;
  container?: ContainerRef;
  /** Where the event happened; the framework fills `container` from it when the probe did not. */
  identity?: KernelIdentity;
  data: Record<string, unknown>;
}
