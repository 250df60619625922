import { describe, expect, test } from "bun:test";
import { closeSync, openSync } from "node:fs";
import { createEventBus } from "../../src/events/bus.ts";
import { shapeRecord } from "../../src/events/shape.ts";
import { silentLogger } from "../../src/log.ts";
import { renderExposition } from "../../src/metrics/exposition.ts";
import type { HistogramSample, MetricSample, Sample } from "../../src/metrics/sample.ts";
import {
  HttpRequestMetrics,
  parseBootTime,
  parseMaxOpenFiles,
  parseProcSelfStat,
  processSamples,
  selfMetricGroups,
  selfSamples,
} from "../../src/self-metrics.ts";
import { createApp } from "../../src/server/app.ts";
import { VERSION } from "../../src/version.ts";

// A real /proc/<pid>/stat line (kernel 6.1) with a command name that has spaces and parentheses.
const STAT =
  "4242 (a) b (c d) S 1 4242 4242 0 -1 4194560 2683 0 0 0 123 45 0 0 20 0 9 0 987654 6877007872 27416 " +
  "18446744073709551615 1 1 0 0 0 0 0 16781312 17919 0 0 0 17 1 0 0 0 0 0 0 0 0 0 0 0 0 0\n";

const LIMITS = `Limit                     Soft Limit           Hard Limit           Units
Max cpu time              unlimited            unlimited            seconds
Max open files            20000                1048576              files
Max locked memory         8388608              8388608              bytes
`;

const num = (samples: readonly MetricSample[], name: string): number | undefined => {
  const s = samples.find((x) => x.name === name);
  return s && s.type !== "histogram" ? s.value : undefined;
};

describe("/proc/self parsers", () => {
  test("stat: fields counted from the last ')'", () => {
    expect(parseProcSelfStat(STAT)).toEqual({ cpuTicks: 168, startTicks: 987654, vsizeBytes: 6877007872, rssPages: 27416 });
  });
  test("stat: the live file parses", () => {
    const st = parseProcSelfStat(require("node:fs").readFileSync("/proc/self/stat", "latin1"));
    expect(st.rssPages).toBeGreaterThan(0);
    expect(st.vsizeBytes).toBeGreaterThan(st.rssPages);
  });
  test("stat: truncated and malformed input name the file", () => {
    expect(() => parseProcSelfStat(STAT.slice(0, 60), "/proc/9/stat")).toThrow("/proc/9/stat: expected at least 24 fields");
    expect(() => parseProcSelfStat("4242 no-paren S 1", "/proc/9/stat")).toThrow('/proc/9/stat: no ")"');
    expect(() => parseProcSelfStat(STAT.replace(" 123 45 ", " x 45 "))).toThrow("/proc/self/stat: field 14 (utime) is not a number");
    expect(() => parseProcSelfStat("")).toThrow(Error);
  });
  test("limits: the soft limit; unlimited is 2^64-1 as client_golang reports it", () => {
    expect(parseMaxOpenFiles(LIMITS)).toBe(20000);
    expect(parseMaxOpenFiles(LIMITS.replace("20000     ", "unlimited "))).toBe(18446744073709551615);
    expect(() => parseMaxOpenFiles("Limit Soft\n")).toThrow('/proc/self/limits: no "Max open files" line');
    expect(() => parseMaxOpenFiles(LIMITS.replace("20000", "lots"))).toThrow("not a number");
  });
  test("boot time", () => {
    expect(parseBootTime("cpu  1 2 3\nintr 5\nbtime 1700000000\nprocesses 9\n")).toBe(1700000000);
    expect(() => parseBootTime("cpu 1\n")).toThrow('/proc/stat: no "btime" line');
  });
});

describe("process metrics on the live process", () => {
  test("every client_golang process series is there, with its type", () => {
    const byName = new Map(processSamples().map((s) => [s.name, s.type]));
    expect(Object.fromEntries(byName)).toEqual({
      process_cpu_seconds_total: "counter",
      process_resident_memory_bytes: "gauge",
      process_virtual_memory_bytes: "gauge",
      process_start_time_seconds: "gauge",
      process_open_fds: "gauge",
      process_max_fds: "gauge",
    });
  });

  test("CPU time grows with work", () => {
    const before = num(processSamples(), "process_cpu_seconds_total")!;
    const until = performance.now() + 150;
    let x = 0;
    while (performance.now() < until) x += Math.sqrt(x + 1);
    expect(x).toBeGreaterThan(0);
    const after = num(processSamples(), "process_cpu_seconds_total")!;
    expect(after - before).toBeGreaterThanOrEqual(0.05);
  });

  test("open fds count files as they are opened", () => {
    const before = num(processSamples(), "process_open_fds")!;
    const fds = Array.from({ length: 5 }, () => openSync("/proc/self/stat", "r"));
    try {
      expect(num(processSamples(), "process_open_fds")).toBe(before + 5);
    } finally {
      for (const fd of fds) closeSync(fd);
    }
    expect(num(processSamples(), "process_open_fds")).toBe(before);
  });

  test("max fds is the soft limit a child inherits (ulimit -n)", () => {
    const soft = Bun.spawnSync(["sh", "-c", "ulimit -n"]).stdout.toString().trim();
    const want = soft === "unlimited" ? 18446744073709551615 : Number(soft);
    expect(num(processSamples(), "process_max_fds")).toBe(want);
  });

  test("memory and start time agree with what the runtime says", () => {
    const s = processSamples();
    const rss = num(s, "process_resident_memory_bytes")!;
    const runtimeRss = process.memoryUsage().rss;
    expect(Math.abs(rss - runtimeRss) / runtimeRss).toBeLessThan(0.2);
    expect(num(s, "process_virtual_memory_bytes")!).toBeGreaterThan(rss);
    const started = Date.now() / 1000 - process.uptime();
    expect(Math.abs(num(s, "process_start_time_seconds")! - started)).toBeLessThan(2);
  });
});

describe("selfSamples", () => {
  test("keeps the event and output series, adds build_info and process_*", () => {
    const bus = createEventBus();
    bus.publish(shapeRecord({ tracerName: "dropwatch", data: {} }, { hostname: "h", region: "r" }));
    const samples: Sample[] = selfSamples(bus);
    expect(samples.find((s) => s.name === "events_published_total")).toMatchObject({ type: "counter", value: 1, labels: { tracer: "dropwatch" } });
    expect(samples.find((s) => s.name === "build_info")).toMatchObject({
      type: "gauge",
      value: 1,
      labels: { version: VERSION.version, commit: VERSION.commit },
    });
    expect(samples.some((s) => s.name === "process_heap_bytes")).toBe(true);
    expect(samples.some((s) => s.name === "process_open_fds")).toBe(true);
    bus.close();
  });
});

describe("HTTP request metrics", () => {
  test("counts by route, method and status; one histogram per route and method", () => {
    const m = new HttpRequestMetrics();
    m.record("/metrics", "GET", 200, 0.003);
    m.record("/metrics", "GET", 200, 0.2);
    m.record("/metrics", "GET", 500, 20);
    const samples = m.samples();
    const counts = samples.filter((s): s is Sample => s.type === "counter").map((s) => [s.labels, s.value]);
    expect(counts).toEqual([
      [{ route: "/metrics", method: "GET", status: "200" }, 2],
      [{ route: "/metrics", method: "GET", status: "500" }, 1],
    ]);
    const h = samples.filter((s): s is HistogramSample => s.type === "histogram");
    expect(h.length).toBe(1);
    expect(h[0]!.labels).toEqual({ route: "/metrics", method: "GET" });
    expect(h[0]!.histogram.count).toBe(3);
    expect(h[0]!.histogram.sum).toBeCloseTo(20.203, 9);
    expect(h[0]!.histogram.cumulativeCounts).toEqual([1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2]); // 20 s: +Inf only
  });

  test("unknown methods collapse into \"other\"", () => {
    const m = new HttpRequestMetrics();
    for (let i = 0; i < 100; i++) m.record("unmatched", `X-PROBE-${i}`, 404, 0);
    m.record("unmatched", "DELETE", 404, 0);
    const methods = m.samples().filter((s) => s.type === "counter").map((s) => s.labels!.method);
    expect(methods.sort()).toEqual(["DELETE", "other"]);
  });

  function app(metricsFail = false) {
    const bus = createEventBus();
    const a = createApp({
      renderMetrics: () => {
        if (metricsFail) throw new Error("boom");
        return "";
      },
      probes: () => [],
      bus,
      watch: { maxClients: 1, keepAliveSec: 5, ceMode: "kpulse" },
      version: { name: "kpulse", version: "t", bun: Bun.version },
      log: silentLogger,
      ready: () => true,
    });
    return a;
  }
  const rows = (m: HttpRequestMetrics) =>
    m.samples().filter((s): s is Sample => s.type === "counter").map((s) => `${s.labels!.method} ${s.labels!.route} ${s.labels!.status} ${s.value}`).sort();

  test("the middleware labels the route pattern, not the raw path; unknown routes are \"unmatched\"", async () => {
    const { app: hono, httpMetrics } = app();
    const req = (method: string, path: string, body?: string) => hono.fetch(new Request(`http://x${path}`, { method, body }));
    expect((await req("GET", "/healthz")).status).toBe(204);
    expect((await req("GET", "/healthz")).status).toBe(204);
    expect((await req("GET", "/metrics")).status).toBe(200);
    for (let i = 0; i < 50; i++) expect((await req("GET", `/no/such/${i}`)).status).toBe(404);
    // Bun accepts the methods it knows (WebDAV ones too) and refuses other tokens before any handler.
    expect((await req("PROPFIND", "/healthz")).status).toBe(404);
    expect((await req("POST", "/v1/events/watch", "{not json")).status).toBe(400);
    expect(rows(httpMetrics)).toEqual([
      "GET /healthz 204 2",
      "GET /metrics 200 1",
      "GET unmatched 404 50",
      "POST /v1/events/watch 400 1",
      "other unmatched 404 1",
    ]);
  });

  test("a handler that throws is counted with the status onError sent", async () => {
    const { app: hono, httpMetrics } = app(true);
    expect((await hono.fetch(new Request("http://x/metrics"))).status).toBe(500);
    expect(rows(httpMetrics)).toEqual(["GET /metrics 500 1"]);
  });

  test("kpulse names with host/region; Compat = huatuo: HUATUO's huatuo_http_server_* without them", () => {
    const http = new HttpRequestMetrics();
    http.record("/metrics", "GET", 200, 0.001);
    const bus = createEventBus();
    const render = (compat: "" | "huatuo") =>
      renderExposition(
        { namespace: compat === "huatuo" ? "huatuo_bamai" : "kpulse", constLabels: { host: "h", region: "r" } },
        selfMetricGroups({ bus, http, compat }),
      );
    const kp = render("");
    expect(kp).toContain('kpulse_http_server_requests_total{host="h",method="GET",region="r",route="/metrics",status="200"} 1\n');
    expect(kp).toContain("# TYPE kpulse_http_server_request_duration_seconds histogram\n");
    expect(kp).toContain('kpulse_http_server_request_duration_seconds_bucket{host="h",method="GET",region="r",route="/metrics",le="0.005"} 1\n');
    expect(kp).toContain('kpulse_process_open_fds{host="h",region="r"} ');
    const ht = render("huatuo");
    expect(ht).toContain("# HELP huatuo_http_server_requests_total Total API requests by route, method, and status.\n");
    expect(ht).toContain('huatuo_http_server_requests_total{method="GET",route="/metrics",status="200"} 1\n');
    expect(ht).toContain("# HELP huatuo_http_server_request_duration_seconds API request duration by route and method.\n");
    expect(ht).toContain('huatuo_http_server_request_duration_seconds_count{method="GET",route="/metrics"} 1\n');
    expect(ht).toContain('huatuo_bamai_process_cpu_seconds_total{host="h",region="r"} ');
    expect(ht).toContain(`huatuo_bamai_build_info{commit="${VERSION.commit}",host="h",region="r",version="${VERSION.version}"} 1\n`);
    expect(ht).not.toContain("huatuo_bamai_http_server");
    bus.close();
  });
});
