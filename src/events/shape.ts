// Turn what a probe reports into the EventRecord every output carries. Key order follows
// HUATUO's Document struct so our JSON reads like theirs.
import type { EventRecord, ProbeEvent } from "./record.ts";
import { newTracerId } from "./id.ts";
import { huatuoTime, rfc3339NanoLocal } from "./time.ts";

export interface HostIdentity {
  hostname: string;
  region: string;
}

export function shapeRecord(ev: ProbeEvent, host: HostIdentity, now: number = Date.now()): EventRecord {
  const eventTime = huatuoTime(ev.timeMs ?? now);
  const rec: EventRecord = {
    hostname: host.hostname,
    region: host.region,
    uploaded_time: rfc3339NanoLocal(now),
    time: eventTime,
  } as EventRecord;
  // Container fields only when the event belongs to a container (HUATUO's omitempty).
  const c = ev.container;
  if (c) {
    if (c.container_id) rec.container_id = c.container_id;
    if (c.container_hostname) rec.container_hostname = c.container_hostname;
    if (c.container_host_namespace) rec.container_host_namespace = c.container_host_namespace;
    if (c.container_type) rec.container_type = c.container_type;
    if (c.container_qos) rec.container_qos = c.container_qos;
  }
  rec.tracer_name = ev.tracerName;
  rec.tracer_id = newTracerId(now);
  rec.tracer_time = eventTime;
  rec.tracer_type = ev.tracerType ?? "event";
  rec.tracer_data = ev.data;
  return rec;
}
