// The agent's own health as metrics: events through the bus, what outputs dropped or failed,
// the process (CPU, memory, file descriptors, start time: what client_golang's process
// collector exports, so node_exporter-style dashboards work), the build, and the HTTP API's
// requests. Everything here runs on every scrape: a few small /proc/self reads, no more.
import { readdirSync, readFileSync } from "node:fs";
import type { Compat } from "./config/spec.ts";
import type { EventBus } from "./events/bus.ts";
import type { SampleGroup } from "./metrics/exposition.ts";
import { Histogram, type MetricSample, type Sample } from "./metrics/sample.ts";
import { pageSize } from "./procfs/pagesize.ts";
import type { WatchStats } from "./server/watch.ts";
import type { LocalFileSink } from "./storage/localfile.ts";
import type { OpenSearchSink } from "./storage/opensearch.ts";
import { VERSION } from "./version.ts";

/** Everything under the namespace with no probe prefix (`kpulse_…` / `huatuo_bamai_…`). */
export function selfSamples(bus: EventBus, localFile?: LocalFileSink): Sample[] {
  const s = bus.stats();
  const out: Sample[] = [];
  for (const [tracer, n] of Object.entries(s.published)) {
    out.push({ name: "events_published_total", help: "Events handed to the outputs, by tracer.", type: "counter", value: n, labels: { tracer } });
  }
  for (const [output, n] of Object.entries(s.dropped)) {
    out.push({ name: "events_dropped_total", help: "Events an output's bounded queue could not take, by output.", type: "counter", value: n, labels: { output } });
  }
  if (localFile) {
    const lf = localFile.stats();
    out.push(
      { name: "localfile_written_total", help: "Events written to local files.", type: "counter", value: lf.written },
      { name: "localfile_write_failures_total", help: "Failed local-file write attempts (the events are kept and retried).", type: "counter", value: lf.write_failures },
      { name: "localfile_rotations_total", help: "Local-file rotations.", type: "counter", value: lf.rotations },
      // Every event the local files will never get, by reason: queue_full (refused by the bounded
      // queue in front of the sink while writes failed or lagged), shutdown (held at exit while writes failed).
      ...Object.entries(lf.unwritten).map(([reason, value]) => ({
        name: "localfile_unwritten_total", help: "Events never written to local files, by reason.", type: "counter" as const, value, labels: { reason },
      })),
      { name: "localfile_queued", help: "Events waiting for the local-file sink.", type: "gauge", value: lf.queued },
      { name: "localfile_failing", help: "1 while local-file writes fail (ENOSPC, EIO, unwritable directory); /readyz is 503 meanwhile.", type: "gauge", value: lf.failing ? 1 : 0 },
      { name: "localfile_torn_lines_total", help: "Torn last lines (interrupted writes) cut from local files before appending.", type: "counter", value: lf.torn_lines },
      { name: "localfile_torn_bytes_total", help: "Bytes of torn last lines cut from local files.", type: "counter", value: lf.torn_bytes },
    );
  }
  out.push(
    { name: "process_heap_bytes", help: "JavaScript heap in use.", type: "gauge", value: process.memoryUsage().heapUsed },
    { name: "build_info", help: "Build information of the running kpulse binary.", type: "gauge", value: 1, labels: { version: VERSION.version, commit: VERSION.commit } },
  );
  out.push(...processSamples());
  return out;
}

// ---- the process, as client_golang's process collector reports it ----

/** USER_HZ: the unit of the times in /proc/<pid>/stat, 100 on every Linux ABI (client_golang assumes it too). */
const USER_HZ = 100;

export interface ProcSelfStat {
  /** utime + stime, in USER_HZ ticks. */
  cpuTicks: number;
  /** Start time after boot, in USER_HZ ticks. */
  startTicks: number;
  vsizeBytes: number;
  rssPages: number;
}

/** /proc/<pid>/stat. The command name (field 2) may hold spaces and parentheses: fields count from the last ')'. */
export function parseProcSelfStat(text: string, source = "/proc/self/stat"): ProcSelfStat {
  const close = text.lastIndexOf(")");
  if (close < 0) throw new Error(`${source}: no ")" after the command name`);
  // After ") ": field 3 (state) is f[0], so field n is f[n - 3].
  const f = text.slice(close + 2).trim().split(" ");
  if (f.length < 22) throw new Error(`${source}: expected at least 24 fields, got ${f.length + 2}`);
  const num = (n: number, what: string) => {
    const v = f[n - 3]!;
    if (!/^\d+$/.test(v)) throw new Error(`${source}: field ${n} (${what}) is not a number: ${JSON.stringify(v)}`);
    return Number(v);
  };
  return {
    cpuTicks: num(14, "utime") + num(15, "stime"),
    startTicks: num(22, "starttime"),
    vsizeBytes: num(23, "vsize"),
    rssPages: num(24, "rss"),
  };
}

/** The soft "Max open files" limit from /proc/<pid>/limits; "unlimited" is 2^64-1, as client_golang reports it. */
export function parseMaxOpenFiles(text: string, source = "/proc/self/limits"): number {
  const m = /^Max open files\s+(\S+)/m.exec(text);
  if (!m) throw new Error(`${source}: no "Max open files" line`);
  if (m[1] === "unlimited") return 18446744073709551615;
  if (!/^\d+$/.test(m[1]!)) throw new Error(`${source}: Max open files is not a number: ${JSON.stringify(m[1])}`);
  return Number(m[1]);
}

/** Boot time (seconds since the epoch) from the `btime` line of /proc/stat. */
export function parseBootTime(text: string, source = "/proc/stat"): number {
  const m = /^btime (\d+)$/m.exec(text);
  if (!m) throw new Error(`${source}: no "btime" line`);
  return Number(m[1]);
}

let startTimeSeconds: number | undefined;

/**
 * process_* as client_golang names them. A file that cannot be read leaves its series out
 * (a broken /proc must not take /metrics down with it).
 */
export function processSamples(): Sample[] {
  const out: Sample[] = [];
  const gauge = (name: string, help: string, value: number) => out.push({ name, help, type: "gauge", value });
  try {
    const st = parseProcSelfStat(readFileSync("/proc/self/stat", "latin1"));
    out.push({ name: "process_cpu_seconds_total", help: "Total user and system CPU time spent in seconds.", type: "counter", value: st.cpuTicks / USER_HZ });
    gauge("process_resident_memory_bytes", "Resident memory size in bytes.", st.rssPages * pageSize());
    gauge("process_virtual_memory_bytes", "Virtual memory size in bytes.", st.vsizeBytes);
    // Constant for the process's life: boot time + start ticks, read once.
    startTimeSeconds ??= parseBootTime(readFileSync("/proc/stat", "latin1")) + st.startTicks / USER_HZ;
    gauge("process_start_time_seconds", "Start time of the process since unix epoch in seconds.", startTimeSeconds);
  } catch {
    // left out
  }
  try {
    // The directory handle readdir holds is counted too, as client_golang's count includes its own.
    gauge("process_open_fds", "Number of open file descriptors.", readdirSync("/proc/self/fd").length);
  } catch {
    // left out
  }
  try {
    gauge("process_max_fds", "Maximum number of open file descriptors.", parseMaxOpenFiles(readFileSync("/proc/self/limits", "latin1")));
  } catch {
    // left out
  }
  return out;
}

// ---- HTTP requests ----

/** Methods kept as they are; any other token becomes "other", so clients cannot grow the label set. */
const KNOWN_METHODS = new Set(["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "CONNECT", "TRACE"]);

/** The route label of a request no route matched (HUATUO's value). */
export const UNMATCHED_ROUTE = "unmatched";

const REQUESTS_HELP = "Total API requests by route, method, and status.";
const DURATION_HELP = "API request duration by route and method.";

/**
 * Request counts by route pattern, method and status, and a duration histogram by route and
 * method (client_golang's default buckets), as HUATUO's HTTP middleware keeps them. The label
 * sets stay bounded: routes are patterns (or "unmatched"), methods are known ones (or "other").
 */
export class HttpRequestMetrics {
  private readonly requests = new Map<string, { route: string; method: string; status: string; n: number }>();
  private readonly durations = new Map<string, { route: string; method: string; h: Histogram }>();

  record(route: string, method: string, status: number, seconds: number): void {
    const m = KNOWN_METHODS.has(method) ? method : "other";
    const st = String(status);
    const rk = `${route}\0${m}\0${st}`;
    const r = this.requests.get(rk);
    if (r) r.n++;
    else this.requests.set(rk, { route, method: m, status: st, n: 1 });
    const dk = `${route}\0${m}`;
    let d = this.durations.get(dk);
    if (!d) this.durations.set(dk, (d = { route, method: m, h: new Histogram() }));
    d.h.observe(seconds);
  }

  samples(): MetricSample[] {
    const out: MetricSample[] = [];
    for (const r of this.requests.values()) {
      out.push({ name: "http_server_requests_total", help: REQUESTS_HELP, type: "counter", value: r.n, labels: { route: r.route, method: r.method, status: r.status } });
    }
    for (const d of this.durations.values()) {
      out.push({ name: "http_server_request_duration_seconds", help: DURATION_HELP, type: "histogram", histogram: d.h.value(), labels: { route: d.route, method: d.method } });
    }
    return out;
  }
}

/**
 * The HTTP request families. kpulse: `kpulse_http_server_*` with host and region like every
 * kpulse series. Compat = "huatuo": exactly HUATUO's `huatuo_http_server_*` (prefix `huatuo_`,
 * not `huatuo_bamai_`, and no host/region: HUATUO registers them outside its labelled registry),
 * so its dashboards and alerts keep working.
 */
export function httpRequestGroup(http: HttpRequestMetrics, compat: Compat): SampleGroup {
  const samples = http.samples();
  return compat === "huatuo" ? { prefix: "", namespace: "huatuo", constLabels: {}, samples } : { prefix: "", samples };
}

export interface SelfMetricsDeps {
  bus: EventBus;
  localFile?: LocalFileSink;
  http: HttpRequestMetrics;
  compat: Compat;
  /** The OpenSearch/Elasticsearch sink, when Storage.ES is enabled. */
  openSearch?: OpenSearchSink;
  /** The watch stream's clients, lag and drops. */
  watch?: WatchStats;
}

/** Watch stream self metrics: clients, the largest lag, events lost to cut clients by reason. */
export function watchSamples(w: WatchStats): Sample[] {
  const out: Sample[] = [
    { name: "watch_clients", help: "Watch stream clients holding a slot.", type: "gauge", value: w.clients },
    { name: "watch_client_lag_max_events", help: "Events published that the furthest-behind watch client has not been sent yet.", type: "gauge", value: w.lag_max },
  ];
  for (const [reason, n] of Object.entries(w.dropped)) {
    out.push({ name: "watch_events_dropped_total", help: "Events watch clients did not get because they were cut: client_behind (the in-memory window overwrote them) or client_stalled (the client stopped reading).", type: "counter", value: n, labels: { reason } });
  }
  return out;
}

/** The OpenSearch/Elasticsearch sink: memory queue, spool, outcomes, and whether the backend answers. */
export function openSearchSamples(sink: OpenSearchSink): Sample[] {
  const s = sink.stats();
  return [
    { name: "opensearch_queued", help: "Events in memory waiting for the OpenSearch sink (bus queue, batch being built, batch in flight).", type: "gauge", value: s.queued },
    { name: "opensearch_spool_events", help: "Events in the OpenSearch spool on disk, not yet sent.", type: "gauge", value: s.spool_events },
    { name: "opensearch_spool_bytes", help: "Bytes of the events in the OpenSearch spool, not yet sent.", type: "gauge", value: s.spool_bytes },
    { name: "opensearch_sent_total", help: "Events OpenSearch accepted.", type: "counter", value: s.sent },
    { name: "opensearch_retried_total", help: "Event sends that failed with a retryable error (connection, timeout, 429, 5xx) and will be retried from the spool.", type: "counter", value: s.retried },
    { name: "opensearch_dead_lettered_total", help: "Events OpenSearch rejected for good (mapping or validation errors), written to the dead-letter file.", type: "counter", value: s.dead_lettered },
    { name: "opensearch_dropped_total", help: "Unsent events deleted from the spool because it reached its size limit (oldest first).", type: "counter", value: s.dropped },
    { name: "opensearch_spool_write_failures_total", help: "Failed writes to the OpenSearch spool (events stay in memory meanwhile).", type: "counter", value: s.spool_write_failures },
    { name: "opensearch_up", help: "1 when the last request to OpenSearch succeeded, 0 while it is unreachable or failing.", type: "gauge", value: s.up },
  ];
}

/** Every self-metric group for one scrape. */
export function selfMetricGroups(d: SelfMetricsDeps): SampleGroup[] {
  const self = selfSamples(d.bus, d.localFile);
  if (d.watch) self.push(...watchSamples(d.watch));
  if (d.openSearch) self.push(...openSearchSamples(d.openSearch));
  return [{ prefix: "", samples: self }, httpRequestGroup(d.http, d.compat)];
}
