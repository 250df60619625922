// Turn what a probe reports into the EventRecord every output carries. Nothing is formatted
// here: this runs for every event inside the ring drain, and the times stay numbers until an
// output renders them (src/events/format.ts).
import type { ContainerRef, EventRecord, ProbeEvent } from "./record.ts";
import { newTracerId } from "./id.ts";

export interface HostIdentity {
  hostname: string;
  region: string;
}

export const CONTAINER_FIELDS = ["container_id", "container_hostname", "container_host_namespace", "container_type", "container_qos"] as const;

/** Copies the non-empty container fields, in HUATUO's order (its omitempty). */
export function copyContainerFields(from: Partial<ContainerRef>, to: Partial<ContainerRef>): void {
  for (const f of CONTAINER_FIELDS) if (from[f]) to[f] = from[f];
}

export function shapeRecord(ev: ProbeEvent, host: HostIdentity, now: number = Date.now()): EventRecord {
  const rec: EventRecord = {
    hostname: host.hostname,
    region: host.region,
    timeMs: ev.timeMs ?? now,
    uploadedMs: now,
    tracer_name: ev.tracerName,
    tracer_id: newTracerId(now),
    tracer_type: ev.tracerType ?? "event",
    tracer_data: ev.data,
    _data: undefined,
    _doc: undefined,
  };
  if (ev.container) copyContainerFields(ev.container, rec);
  return rec;
}
