// Turn what a probe reports into the EventRecord every output carries. Key order follows
// HUATUO's Document struct so our JSON reads like theirs.
import type { ContainerRef, EventRecord, ProbeEvent } from "./record.ts";
import { newTracerId } from "./id.ts";
import { huatuoTime, rfc3339NanoLocal } from "./time.ts";

export interface HostIdentity {
  hostname: string;
  region: string;
}

const CONTAINER_FIELDS = ["container_id", "container_hostname", "container_host_namespace", "container_type", "container_qos"] as const;

/** Copies the non-empty container fields, in HUATUO's order (its omitempty). */
export function copyContainerFields(from: Partial<ContainerRef>, to: Partial<ContainerRef>): void {
  for (const f of CONTAINER_FIELDS) if (from[f]) to[f] = from[f];
}

export function shapeRecord(ev: ProbeEvent, host: HostIdentity, now: number = Date.now()): EventRecord {
  const eventTime = huatuoTime(ev.timeMs ?? now);
  const rec: EventRecord = {
    hostname: host.hostname,
    region: host.region,
    uploaded_time: rfc3339NanoLocal(now),
    time: eventTime,
  } as EventRecord;
  if (ev.container) copyContainerFields(ev.container, rec);
  rec.tracer_name = ev.tracerName;
  rec.tracer_id = newTracerId(now);
  rec.tracer_time = eventTime;
  rec.tracer_type = ev.tracerType ?? "event";
  rec.tracer_data = ev.data;
  return rec;
}
