// The event record shared by every output (local files, OpenSearch, the watch stream).
// Field names are HUATUO's document fields (design.md §3), so existing consumers read ours.

export type TracerType = "event" | "autotracing";

export interface ContainerRef {
  container_id: string;
  container_hostname: string;
  container_host_namespace: string;
  container_type: string;
  container_qos: string;
}

export interface EventRecord extends Partial<ContainerRef> {
  hostname: string;
  region: string;
  /** RFC3339Nano with local offset: when the agent handed the record to its outputs. */
  uploaded_time: string;
  /** "2006-01-02 15:04:05.000 -0700" of the event time; same value as tracer_time. */
  time: string;
  tracer_name: string;
  /** Unique per event (xid format); also the SSE id and the OpenSearch _id. */
  tracer_id: string;
  tracer_time: string;
  tracer_type: TracerType;
  tracer_data: Record<string, unknown>;
}

/** What a probe hands to the framework; the framework shapes it into an EventRecord. */
export interface ProbeEvent {
  tracerName: string;
  tracerType?: TracerType;
  /** Wall-clock time of the kernel event, ms since epoch (defaults to now). */
  timeMs?: number;
  container?: ContainerRef;
  data: Record<string, unknown>;
}
