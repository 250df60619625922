import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createApp, parseListen, type AppDeps, type RunningServer } from "../../src/server/app.ts";
import { createEventBus, type EventBus } from "../../src/events/bus.ts";
import { shapeRecord } from "../../src/events/shape.ts";
import type { EventRecord } from "../../src/events/record.ts";
import type { CloudEvent } from "../../src/events/cloudevent.ts";
import { rfc3339NanoUTC } from "../../src/events/time.ts";
import { silentLogger } from "../../src/log.ts";

const HOST = { hostname: "node-1", region: "r1" };
const rec = (tracer: string, data: Record<string, unknown> = {}): EventRecord =>
  shapeRecord({ tracerName: tracer, data }, HOST);

async function until(cond: () => boolean, ms = 5000, what = "condition") {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`${what} not met within ${ms} ms`);
    await Bun.sleep(10);
  }
}

interface Harness {
  bus: EventBus;
  server: RunningServer;
  url: string;
  state: { ready: boolean; metricsFail: boolean };
}

function start(watch: Partial<AppDeps["watch"]> = {}, idleTimeoutSec?: number): Harness {
  const bus = createEventBus();
  const state = { ready: true, metricsFail: false };
  const { serve } = createApp({
    renderMetrics: async () => {
      if (state.metricsFail) throw new Error("collector exploded");
      return "# TYPE kpulse_up gauge\nkpulse_up 1\n";
    },
    probes: () => [
      { name: "oom", kind: "event", status: "loaded" },
      { name: "softlockup", kind: "event", status: "unsupported", reason: "no tracepoint" },
    ],
    bus,
    watch: { maxClients: 10, keepAliveSec: 2, ceMode: "kpulse", ...watch },
    version: { name: "kpulse", version: "0.1.0", commit: "abc", build_time: "2026-01-01", bun: Bun.version },
    log: silentLogger,
    ready: () => state.ready,
    idleTimeoutSec,
  });
  const server = serve("127.0.0.1:0");
  return { bus, server, url: `http://127.0.0.1:${server.port}`, state };
}

interface SseEvent {
  id?: string;
  data: CloudEvent;
}

/** A watch client that parses the stream as it arrives. */
async function watch(h: Harness, body: string | null = "{}", headers: Record<string, string> = {}) {
  const ac = new AbortController();
  const res = await fetch(`${h.url}/v1/events/watch`, {
    method: "POST",
    body: body ?? undefined,
    headers: { "Content-Type": "application/json", ...headers },
    signal: ac.signal,
  });
  const c = { res, events: [] as SseEvent[], comments: [] as string[], ended: false, close: () => ac.abort() };
  if (res.status !== 200) return c;
  (async () => {
    const dec = new TextDecoder();
    let buf = "";
    try {
      for await (const chunk of res.body!) {
        buf += dec.decode(chunk as Uint8Array, { stream: true });
        let i;
        while ((i = buf.indexOf("\n\n")) >= 0) {
          const block = buf.slice(0, i);
          buf = buf.slice(i + 2);
          let id: string | undefined;
          let data: string | undefined;
          for (const line of block.split("\n")) {
            if (line.startsWith(":")) c.comments.push(line.slice(1).trim());
            else if (line.startsWith("id: ")) id = line.slice(4);
            else if (line.startsWith("data: ")) data = line.slice(6);
          }
          if (data !== undefined) c.events.push({ id, data: JSON.parse(data) });
        }
      }
    } catch {}
    c.ended = true;
  })();
  return c;
}

describe("routes", () => {
  let h: Harness;
  beforeAll(() => {
    h = start();
  });
  afterAll(() => h.server.stop());

  test("healthz and readyz", async () => {
    expect((await fetch(`${h.url}/healthz`)).status).toBe(204);
    expect((await fetch(`${h.url}/readyz`)).status).toBe(204);
    h.state.ready = false;
    expect((await fetch(`${h.url}/readyz`)).status).toBe(503);
    h.state.ready = true;
  });

  test("metrics", async () => {
    const res = await fetch(`${h.url}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("text/plain; version=0.0.4; charset=utf-8");
    expect(await res.text()).toContain("kpulse_up 1");
  });

  test("metrics failure is a 500 envelope", async () => {
    h.state.metricsFail = true;
    const res = await fetch(`${h.url}/metrics`);
    h.state.metricsFail = false;
    expect(res.status).toBe(500);
    expect(await res.json()).toEqual({ error: { code: "internal_error", message: "collector exploded" } });
  });

  test("version and probes use the data envelope", async () => {
    const v = await (await fetch(`${h.url}/version`)).json();
    expect(v.data).toMatchObject({ name: "kpulse", version: "0.1.0", git_commit: "abc", build_time: "2026-01-01", bun_version: Bun.version });
    expect(v.data.platform).toMatch(/^linux\//);
    const p = await (await fetch(`${h.url}/v1/probes`)).json();
    expect(p).toEqual({
      data: [
        { name: "oom", kind: "event", status: "loaded" },
        { name: "softlockup", kind: "event", status: "unsupported", reason: "no tracepoint" },
      ],
    });
  });

  test("unknown routes and methods: 404 envelope", async () => {
    for (const [method, path] of [["GET", "/nope"], ["GET", "/v1/events/watch"], ["POST", "/tasks"]]) {
      const res = await fetch(`${h.url}${path}`, { method });
      expect(res.status).toBe(404);
      const body = await res.json();
      expect(body.error.code).toBe("not_found");
      expect(typeof body.error.message).toBe("string");
    }
  });
});

describe("watch", () => {
  let h: Harness;
  beforeAll(() => {
    // An idle timeout shorter than the keepalive: streams survive only because the watch
    // route turns the timeout off for itself (Bun's default of 10 s cut quiet streams).
    h = start({}, 1);
  });
  afterAll(() => h.server.stop());

  test("SSE headers; a published event arrives with id and tracer_data", async () => {
    const c = await watch(h);
    expect(c.res.status).toBe(200);
    expect(c.res.headers.get("content-type")).toBe("text/event-stream");
    expect(c.res.headers.get("cache-control")).toBe("no-cache");
    expect(c.res.headers.get("x-accel-buffering")).toBe("no");
    await until(() => h.bus.stats().subscribers.length === 1, 5000, "subscription");
    const r = rec("oom", { victim: "java", pid: 42 });
    h.bus.publish(r);
    await until(() => c.events.length === 1, 5000, "event");
    const ev = c.events[0];
    expect(ev.id).toBe(r.tracer_id);
    expect(ev.data).toMatchObject({
      specversion: "1.0",
      id: r.tracer_id,
      source: "/kpulse/node-1/oom",
      type: "io.kpulse.kernel.event",
      datacontenttype: "application/json",
    });
    expect(ev.data.data.tracer_data).toEqual({ victim: "java", pid: 42 });
    expect(ev.data.data.tracer_id).toBe(r.tracer_id);
    // Times rendered from the record's numbers: uploaded and event time, in UTC.
    expect(ev.data.time).toBe(rfc3339NanoUTC(r.uploadedMs));
    expect(ev.data.data.observed_timestamp).toBe(rfc3339NanoUTC(r.timeMs));
    c.close();
    // Disconnecting releases the bus subscription.
    await until(() => h.bus.stats().subscribers.length === 0, 5000, "unsubscribe");
  });

  test("filters are applied server-side", async () => {
    const c = await watch(h, JSON.stringify({ filters: { tracer_name: "^oom$", region: "r" } }));
    await until(() => h.bus.stats().subscribers.length === 1);
    const skip = rec("oom_group");
    const want = rec("oom");
    h.bus.publish(skip);
    h.bus.publish(rec("dload"));
    h.bus.publish(want);
    await until(() => c.events.length >= 1);
    await Bun.sleep(50); // give any wrongly passed event the chance to show up
    expect(c.events.map((e) => e.id)).toEqual([want.tracer_id]);
    c.close();
    await until(() => h.bus.stats().subscribers.length === 0);
  });

  test("empty body is accepted as {}", async () => {
    const c = await watch(h, null);
    expect(c.res.status).toBe(200);
    c.close();
    await until(() => h.bus.stats().subscribers.length === 0);
  });

  test("bad requests: 400 invalid_request", async () => {
    const cases: [string, string][] = [
      [JSON.stringify({ filters: { tracer_name: "(" } }), "tracer_name"],
      [JSON.stringify({ filters: { pod: "x" } }), "pod"],
      ["{not json", "JSON"],
    ];
    for (const [body, mention] of cases) {
      const c = await watch(h, body);
      expect(c.res.status).toBe(400);
      const e = await c.res.json();
      expect(e.error.code).toBe("invalid_request");
      expect(e.error.message).toContain(mention);
    }
  });

  test("keepalive ping arrives", async () => {
    const c = await watch(h);
    await until(() => c.comments.includes("ping"), 4000, "ping");
    c.close();
  });

  test("Last-Event-ID resumes from the replay ring", async () => {
    const recs = [rec("oom", { n: 1 }), rec("oom", { n: 2 }), rec("hungtask", { n: 3 })];
    for (const r of recs) h.bus.publish(r);
    const c = await watch(h, "{}", { "Last-Event-ID": recs[0].tracer_id });
    await until(() => c.events.length === 2);
    expect(c.events.map((e) => e.id)).toEqual([recs[1].tracer_id, recs[2].tracer_id]);
    const live = rec("oom", { n: 4 });
    h.bus.publish(live);
    await until(() => c.events.length === 3);
    expect(c.events[2].id).toBe(live.tracer_id);
    c.close();

    // An id the ring no longer has: say so, then stream live.
    const d = await watch(h, "{}", { "Last-Event-ID": "00000000000000000000" });
    await until(() => d.comments.some((x) => x.includes("replay buffer")));
    await until(() => h.bus.stats().subscribers.length === 1);
    const next = rec("oom");
    h.bus.publish(next);
    await until(() => d.events.length === 1);
    expect(d.events[0].id).toBe(next.tracer_id);
    d.close();
    await until(() => h.bus.stats().subscribers.length === 0);
  });

  test(
    "a stream quiet for longer than 10 s stays open (keepalive 2 s)",
    async () => {
      const c = await watch(h);
      const opened = Date.now();
      await until(() => Date.now() - opened > 11_500, 13_000, "time to pass");
      expect(c.ended).toBe(false);
      expect(c.comments.filter((x) => x === "ping").length).toBeGreaterThanOrEqual(4);
      const r = rec("softlockup");
      h.bus.publish(r);
      await until(() => c.events.length === 1, 2000, "event after the quiet period");
      expect(c.events[0].id).toBe(r.tracer_id);
      c.close();
    },
    { timeout: 16_000 },
  );

  test("server stop ends open streams", async () => {
    const h2 = start();
    const c = await watch(h2);
    await until(() => h2.bus.stats().subscribers.length === 1);
    await h2.server.stop();
    await until(() => c.ended, 3000, "stream end");
    expect(h2.bus.stats().subscribers).toHaveLength(0);
  });
});

describe("watch limits and modes", () => {
  test("429 rate_limited at MaxClients; slot released on disconnect and on 400", async () => {
    const h = start({ maxClients: 2 });
    try {
      const a = await watch(h);
      const b = await watch(h);
      expect([a.res.status, b.res.status]).toEqual([200, 200]);
      const c = await watch(h);
      expect(c.res.status).toBe(429);
      expect(await c.res.json()).toEqual({ error: { code: "rate_limited", message: "max watch clients reached" } });
      a.close();
      let d = await watch(h);
      const deadline = Date.now() + 5000;
      while (d.res.status === 429 && Date.now() < deadline) {
        await Bun.sleep(20);
        d = await watch(h);
      }
      expect(d.res.status).toBe(200);
      b.close();
      await until(() => h.bus.stats().subscribers.length === 1);
      // Rejected requests do not hold a slot.
      for (let i = 0; i < 3; i++) expect((await watch(h, "{bad")).res.status).toBe(400);
      const e = await watch(h);
      expect(e.res.status).toBe(200);
      d.close();
      e.close();
    } finally {
      await h.server.stop();
    }
  });

  test("huatuo CloudEvent mode", async () => {
    const h = start({ ceMode: "huatuo" });
    try {
      const c = await watch(h);
      await until(() => h.bus.stats().subscribers.length === 1);
      h.bus.publish(rec("oom"));
      await until(() => c.events.length === 1);
      expect(c.events[0].data.type).toBe("tech.huatuo.kernel.event");
      expect(c.events[0].data.source).toBe("/huatuo/node-1/oom");
      c.close();
    } finally {
      await h.server.stop();
    }
  });

  test("a client that stops reading is dropped; its drops are counted", async () => {
    const h = start({ keepAliveSec: 1, queueSize: 16 });
    try {
      const sock = await Bun.connect({
        hostname: "127.0.0.1",
        port: h.server.port,
        socket: { data() {}, open() {} },
      });
      sock.pause?.();
      sock.write("POST /v1/events/watch HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}");
      await until(() => h.bus.stats().subscribers.length === 1);
      const big = "x".repeat(64 * 1024);
      // Publish until the client's queue overflows and the server gives up on it.
      const deadline = Date.now() + 10_000;
      while (h.bus.stats().subscribers.length === 1 && Date.now() < deadline) {
        for (let i = 0; i < 20; i++) h.bus.publish(rec("oom", { big }));
        await Bun.sleep(50);
      }
      expect(h.bus.stats().subscribers).toHaveLength(0);
      expect(h.bus.stats().dropped.watch).toBeGreaterThan(0);
      sock.end();
    } finally {
      await h.server.stop();
    }
  }, 15_000);
});

describe("parseListen", () => {
  test("HUATUO-style addresses", () => {
    expect(parseListen(":19704")).toEqual({ hostname: "", port: 19704 });
    expect(parseListen("127.0.0.1:0")).toEqual({ hostname: "127.0.0.1", port: 0 });
    expect(parseListen("[::1]:8080")).toEqual({ hostname: "::1", port: 8080 });
    expect(parseListen("localhost:1")).toEqual({ hostname: "localhost", port: 1 });
    // the same rule as the config loader and --listen: a bare port is not host:port
    expect(() => parseListen("19704")).toThrow(/invalid listen address/);
    expect(() => parseListen("nope")).toThrow(/invalid listen address/);
    expect(() => parseListen(":70000")).toThrow(/invalid listen address/);
  });
});
