// The CloudEvents 1.0 structured-JSON envelope of the watch stream. HUATUO's shape, with two
// deliberate differences: `id` is the tracer_id (so it doubles as the SSE id for resuming),
// and `data` carries tracer_data.
// The stream sends cloudEventJson() (src/events/format.ts), built from the same fields;
// toCloudEvent() is the object form of the same envelope.
import type { EventRecord } from "./record.ts";
import { copyContainerFields } from "./shape.ts";
import { huatuoTime, parseHuatuoTime, rfc3339NanoLocal, rfc3339NanoUTC, toUTCRfc3339Nano } from "./time.ts";

export type CloudEventMode = "kpulse" | "huatuo";

export interface WatchEventData {
  hostname: string;
  region: string;
  observed_timestamp: string;
  container_id?: string;
  container_hostname?: string;
  container_host_namespace?: string;
  container_type?: string;
  container_qos?: string;
  tracer_name: string;
  tracer_id: string;
  tracer_run_type: string;
  tracer_type: string;
  tracer_data: Record<string, unknown>;
}

export interface CloudEvent {
  specversion: "1.0";
  id: string;
  source: string;
  type: string;
  datacontenttype: "application/json";
  time: string;
  data: WatchEventData;
}

export const CLOUDEVENT_TYPE: Record<CloudEventMode, string> = {
  huatuo: "tech.huatuo.kernel.event",
  kpulse: "io.kpulse.kernel.event",
};

/**
 * Instants where formatting the number straight to UTC gives exactly what the original
 * definition (format the local string, parse it, re-format in UTC) gives: 1973 on (every
 * zone's offset is whole minutes since then) up to year 9999 (four-digit years in every
 * zone). Outside it the original definition runs.
 */
const FAST_MIN = Date.UTC(1973, 0, 1);
const FAST_MAX = Date.UTC(9999, 11, 30);
const fast = (ms: number) => ms >= FAST_MIN && ms < FAST_MAX;

/** The CloudEvent `time`: uploaded_time (RFC3339Nano) in UTC. */
export function cloudEventTime(uploadedMs: number): string {
  return fast(uploadedMs) ? rfc3339NanoUTC(uploadedMs) : toUTCRfc3339Nano(rfc3339NanoLocal(uploadedMs));
}

/** `observed_timestamp`: tracer_time (whole ms) as RFC3339Nano in UTC, as the seed's sample shows it. */
export function observedTimestamp(timeMs: number): string {
  if (fast(timeMs)) return rfc3339NanoUTC(timeMs);
  const t = huatuoTime(timeMs);
  const ms = parseHuatuoTime(t);
  return ms === undefined ? t : rfc3339NanoUTC(ms);
}

export function toCloudEvent(record: EventRecord, mode: CloudEventMode): CloudEvent {
  const data: WatchEventData = {
    hostname: record.hostname,
    region: record.region,
    observed_timestamp: observedTimestamp(record.timeMs),
  } as WatchEventData;
  copyContainerFields(record, data);
  data.tracer_name = record.tracer_name;
  data.tracer_id = record.tracer_id;
  // Every kpulse event is raised by a probe on its own; "manual" would be a task.
  data.tracer_run_type = "auto";
  data.tracer_type = record.tracer_type;
  data.tracer_data = record.tracer_data;
  return {
    specversion: "1.0",
    id: record.tracer_id,
    source: `/${mode}/${record.hostname}/${record.tracer_name}`,
    type: CLOUDEVENT_TYPE[mode],
    datacontenttype: "application/json",
    time: cloudEventTime(record.uploadedMs),
    data,
  };
}
