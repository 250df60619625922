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
import type { LocalFileSink } from "./storage/localfile.ts";
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
      { name: "localfile_write_failures_total", help: "Failed local-file writes (the event is kept and retried).", type: "counter", value: lf.write_failures },
      { name: "localfile_rotations_total", help: "Local-file rotations.", type: "counter", value: lf.rotations },
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
}

/** Every self-metric group for one scrape. */
export function selfMetricGroups(d: SelfMetricsDeps): SampleGroup[] {
  return [{ prefix: "", samples: selfSamples(d.bus, d.localFile) }, httpRequestGroup(d.http, d.compat)];
}
