// The two wire forms of an EventRecord, each built once per record by string concatenation
// from the record's numbers and the shared tracer_data JSON (dataJson):
//
//   documentJson   HUATUO's Document (local files, OpenSearch): the bytes JSON.stringify gave
//                  for the record shaped with string times, key order and time layouts included.
//   cloudEventJson the CloudEvent of the watch stream: the bytes of JSON.stringify(toCloudEvent()).
//
// Nothing here parses a formatted time back: each output formats the number it needs.
import { CLOUDEVENT_TYPE, cloudEventTime, observedTimestamp, type CloudEventMode } from "./cloudevent.ts";
import { dataJson, type EventRecord } from "./record.ts";
import { huatuoTime, rfc3339NanoLocal } from "./time.ts";

/**
 * JSON string literals of the short strings that repeat on every record (host, region, tracer
 * name and type, container fields), so each is escaped once rather than per event.
 */
const quoted = new Map<string, string>();
const QUOTED_LIMIT = 4096;

function q(s: string): string {
  let j = quoted.get(s);
  if (j === undefined) {
    j = JSON.stringify(s);
    if (quoted.size >= QUOTED_LIMIT) quoted.clear();
    quoted.set(s, j);
  }
  return j;
}

function containerJson(r: EventRecord): string {
  let s = "";
  if (r.container_id) s += ',"container_id":' + q(r.container_id);
  if (r.container_hostname) s += ',"container_hostname":' + q(r.container_hostname);
  if (r.container_host_namespace) s += ',"container_host_namespace":' + q(r.container_host_namespace);
  if (r.container_type) s += ',"container_type":' + q(r.container_type);
  if (r.container_qos) s += ',"container_qos":' + q(r.container_qos);
  return s;
}

const hasContainer = (r: EventRecord) =>
  !!(r.container_id || r.container_hostname || r.container_host_namespace || r.container_type || r.container_qos);

/** `"key":<json>` for tracer_data, or nothing when it has no JSON form (JSON.stringify omits it). */
function dataMember(r: EventRecord): string {
  const d = dataJson(r);
  return d === undefined ? "" : ',"tracer_data":' + d;
}

/**
 * The HUATUO document as one JSON line (no newline): hostname, region, uploaded_time, time,
 * the non-empty container fields, tracer_name, tracer_id, tracer_time, tracer_type,
 * tracer_data. Cached on the record, so every sink that writes documents shares it.
 */
export function documentJson(r: EventRecord): string {
  let s = r._doc;
  if (s !== undefined) return s;
  // Both layouts print only digits, letters, spaces and "-:.+": no escaping needed.
  const t = '"' + huatuoTime(r.timeMs) + '"';
  s =
    '{"hostname":' + q(r.hostname) +
    ',"region":' + q(r.region) +
    ',"uploaded_time":"' + rfc3339NanoLocal(r.uploadedMs) +
    '","time":' + t +
    (hasContainer(r) ? containerJson(r) : "") +
    ',"tracer_name":' + q(r.tracer_name) +
    ',"tracer_id":' + JSON.stringify(r.tracer_id) +
    ',"tracer_time":' + t +
    ',"tracer_type":' + q(r.tracer_type) +
    dataMember(r) +
    "}";
  r._doc = s;
  return s;
}

/** The JSON string "/<mode>/<hostname>/<tracer_name>" (CloudEvent `source`), escaped once per tracer. */
const sources = new Map<string, { mode: string; host: string; json: string }>();

function sourceJson(mode: string, host: string, tracer: string): string {
  const c = sources.get(tracer);
  if (c !== undefined && c.mode === mode && c.host === host) return c.json;
  const json = JSON.stringify(`/${mode}/${host}/${tracer}`);
  if (sources.size >= QUOTED_LIMIT) sources.clear();
  sources.set(tracer, { mode, host, json });
  return json;
}

/**
 * The watch stream's CloudEvent JSON for `r` (see toCloudEvent for the fields). The caller
 * caches it per record: src/server/watch.ts encodes one SSE frame per record for all clients.
 */
export function cloudEventJson(r: EventRecord, mode: CloudEventMode): string {
  // Times print only digits, letters and "-:.+" (see documentJson): no escaping needed.
  const id = JSON.stringify(r.tracer_id);
  const type = CLOUDEVENT_TYPE[mode];
  return (
    '{"specversion":"1.0","id":' + id +
    ',"source":' + sourceJson(mode, r.hostname, r.tracer_name) +
    (type === undefined ? "" : ',"type":' + q(type)) +
    ',"datacontenttype":"application/json","time":"' + cloudEventTime(r.uploadedMs) +
    '","data":{"hostname":' + q(r.hostname) +
    ',"region":' + q(r.region) +
    ',"observed_timestamp":"' + observedTimestamp(r.timeMs) + '"' +
    (hasContainer(r) ? containerJson(r) : "") +
    ',"tracer_name":' + q(r.tracer_name) +
    ',"tracer_id":' + id +
    ',"tracer_run_type":"auto","tracer_type":' + q(r.tracer_type) +
    dataMember(r) +
    "}}"
  );
}
