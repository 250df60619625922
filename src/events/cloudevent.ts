// The CloudEvents 1.0 structured-JSON envelope of the watch stream. HUATUO's shape, with two
// deliberate differences: `id` is the tracer_id (so it doubles as the SSE id for resuming),
// and `data` carries tracer_data.
import type { EventRecord } from "./record.ts";
import { copyContainerFields } from "./shape.ts";
import { parseHuatuoTime, rfc3339NanoUTC, toUTCRfc3339Nano } from "./time.ts";

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

const TYPE: Record<CloudEventMode, string> = {
  huatuo: "tech.huatuo.kernel.event",
  kpulse: "io.kpulse.kernel.event",
};

function observedTimestamp(tracerTime: string): string {
  const ms = parseHuatuoTime(tracerTime);
  return ms === undefined ? tracerTime : rfc3339NanoUTC(ms);
}

export function toCloudEvent(record: EventRecord, mode: CloudEventMode): CloudEvent {
  const data: WatchEventData = {
    hostname: record.hostname,
    region: record.region,
    // RFC3339 in UTC, as the seed's WatchEventData sample shows it.
    observed_timestamp: observedTimestamp(record.tracer_time),
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
    type: TYPE[mode],
    datacontenttype: "application/json",
    time: toUTCRfc3339Nano(record.uploaded_time),
    data,
  };
}
