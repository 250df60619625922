import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createApp, parseListen, type AppDeps, type KpulseApp, type RunningServer } from "../../src/server/app.ts";
import { createEventBus, type EventBus } from "../../src/events/bus.ts";
import { shapeRecord } from "../../src/events/shape.ts";
import type { EventRecord } from "../../src/events/record.ts";
import type { CloudEvent } from "../../src/events/cloudevent.ts";
import { rfc3339NanoUTC } from "../../src/events/time.ts";
import { silentLogger } from "../../src/log.ts";
import { startLocalFileSink } from "../../src/storage/localfile.ts";
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { documentJson } from "../../src/events/format.ts";
import { tmpdir } from "node:os";
import { join } from "node:path";

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
  /** Watch clients holding a slot. */
  clients(): number;
  app: KpulseApp;
  server: RunningServer;
  url: string;
  state: { ready: boolean; metricsFail: boolean };
}

function start(watch: Partial<AppDeps["watch"]> = {}, idleTimeoutSec?: number, windowSize?: number): Harness {
  const bus = createEventBus({ windowSize });
  const state = { ready: true, metricsFail: false };
  const app = createApp({
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
  const server = app.serve("127.0.0.1:0");
  return { bus, server, url: `http://127.0.0.1:${server.port}`, state, app, clients: () => app.watchStats().clients };
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
    for (const [method, path] of [["GET", "/nope"], ["PUT", "/v1/events/watch"], ["POST", "/tasks"]]) {
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
    await until(() => h.clients() === 1, 5000, "subscription");
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
    await until(() => h.clients() === 0, 5000, "unsubscribe");
  });

  test("filters are applied server-side", async () => {
    const c = await watch(h, JSON.stringify({ filters: { tracer_name: "^oom$", region: "r" } }));
    await until(() => h.clients() === 1);
    const skip = rec("oom_group");
    const want = rec("oom");
    h.bus.publish(skip);
    h.bus.publish(rec("dload"));
    h.bus.publish(want);
    await until(() => c.events.length >= 1);
    await Bun.sleep(50); // give any wrongly passed event the chance to show up
    expect(c.events.map((e) => e.id)).toEqual([want.tracer_id]);
    c.close();
    await until(() => h.clients() === 0);
  });

  test("empty body is accepted as {}", async () => {
    const c = await watch(h, null);
    expect(c.res.status).toBe(200);
    c.close();
    await until(() => h.clients() === 0);
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
    await until(() => h.clients() === 1);
    const next = rec("oom");
    h.bus.publish(next);
    await until(() => d.events.length === 1);
    expect(d.events[0].id).toBe(next.tracer_id);
    d.close();
    await until(() => h.clients() === 0);
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
    await until(() => h2.clients() === 1);
    await h2.server.stop();
    await until(() => c.ended, 3000, "stream end");
    expect(h2.clients()).toBe(0);
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
      await until(() => h.clients() === 1);
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
      await until(() => h.clients() === 1);
      h.bus.publish(rec("oom"));
      await until(() => c.events.length === 1);
      expect(c.events[0].data.type).toBe("tech.huatuo.kernel.event");
      expect(c.events[0].data.source).toBe("/huatuo/node-1/oom");
      c.close();
    } finally {
      await h.server.stop();
    }
  });

});

// ---- issue 7: delivery that holds, cut clients really closed, bounded bodies ----

/** Server-side TCP sockets of this process on `port` (the accepted ends), by state. */
function serverSockets(port: number): { state: string; owned: boolean; sendQ: number }[] {
  const out = Bun.spawnSync(["ss", "-tanp", `sport = :${port}`]).stdout.toString();
  return out.split("\n").slice(1).filter((l) => l.trim() && !l.startsWith("LISTEN")).map((l) => {
    const f = l.trim().split(/\s+/);
    return { state: f[0]!, sendQ: Number(f[2]), owned: l.includes(`pid=${process.pid},`) };
  });
}

/** A raw HTTP client that does not read until told to (its kernel buffers fill, then the server's). */
async function rawClient(port: number, request: string) {
  let got = "";
  let closed = false;
  const sock = await Bun.connect({
    hostname: "127.0.0.1",
    port,
    socket: {
      data(_s, d) {
        got += d.toString("latin1");
      },
      close() {
        closed = true;
      },
      error() {
        closed = true;
      },
    },
  });
  sock.write(request);
  return {
    sock,
    text: () => got,
    closed: () => closed,
    stall: () => sock.pause?.(),
    resume: () => sock.resume?.(),
    end: () => sock.end(),
  };
}

const WATCH_REQ = "POST /v1/events/watch HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}";

describe("watch delivery that holds", () => {
  test("a 5 000-event burst reaches two healthy clients whole, in order (was 1 594 of 5 000)", async () => {
    const h = start();
    try {
      const a = await watch(h);
      const b = await watch(h);
      const recs = Array.from({ length: 5000 }, (_, i) => rec("dropwatch", { i, pad: "x".repeat(200) }));
      for (const r of recs) h.bus.publish(r); // one synchronous burst, as a ring drain publishes
      await until(() => a.events.length >= 5000 && b.events.length >= 5000, 15_000, "5 000 events on both");
      for (const c of [a, b]) {
        expect(c.events.map((e) => e.id)).toEqual(recs.map((r) => r.tracer_id));
        expect(c.ended).toBe(false);
      }
      expect(h.app.watchStats().dropped).toEqual({ client_behind: 0, client_stalled: 0 });
      a.close();
      b.close();
    } finally {
      await h.server.stop();
    }
  }, 30_000);

  test("a stalled client is told (event: gap) and its socket closed, its slot freed; others keep streaming", async () => {
    const h = start({ keepAliveSec: 1, closeGraceSec: 3 });
    try {
      const healthy = await watch(h);
      const stalled = await rawClient(h.server.port, WATCH_REQ);
      stalled.stall();
      const told = await rawClient(h.server.port, WATCH_REQ);
      told.stall();
      await until(() => h.clients() === 3, 5000, "three clients");
      const big = "x".repeat(32 * 1024);
      let n = 0;
      // Publish until the server gives up on the stalled clients (their buffers fill first;
      // then nothing is taken for 3 keepalives).
      const deadline = Date.now() + 20_000;
      while (h.app.watchStats().dropped.client_stalled === 0 && Date.now() < deadline) {
        for (let i = 0; i < 20; i++, n++) h.bus.publish(rec("oom", { big, n }));
        await Bun.sleep(20);
      }
      expect(h.app.watchStats().dropped.client_stalled).toBeGreaterThan(0);
      // The client that reads again within the grace time gets everything up to the cut, then
      // the gap event, then EOF.
      told.resume();
      await until(() => h.clients() === 1, 10_000, "both stalled clients' slots freed");
      await until(() => /event: gap\ndata: (\{[^\n]*\})\n\n/.test(told.text()), 10_000, "the gap event");
      const gap = JSON.parse(/event: gap\ndata: (\{[^\n]*\})\n\n/.exec(told.text())![1]!);
      expect(gap.reason).toBe("client_stalled");
      expect(gap.missed).toBeGreaterThan(0);
      expect(gap.last_event_id).toMatch(/^[0-9a-v]{20}$/);
      // The one that never reads again: the agent's socket is closed (no longer owned by the
      // process; the kernel may keep an orphan FIN-WAIT for the unsent bytes).
      const port = h.server.port;
      await until(() => serverSockets(port).filter((s) => s.owned && s.sendQ > 100_000).length === 0, 10_000, "stalled server socket closed");
      // The healthy client saw every event.
      await until(() => healthy.events.length >= n, 10_000, "healthy client complete");
      expect(healthy.events.length).toBe(n);
      healthy.close();
      stalled.end();
      told.end();
    } finally {
      await h.server.stop();
    }
  }, 40_000);

  test("a client that reads too slowly is cut once the window overwrote what it had not read", async () => {
    const h = start({ keepAliveSec: 30, closeGraceSec: 1 }, undefined, 256);
    try {
      const slow = await rawClient(h.server.port, WATCH_REQ);
      await until(() => h.clients() === 1);
      const big = "y".repeat(16 * 1024);
      // The client reads a little every 100 ms (it never stalls for long), far below the rate.
      const reading = setInterval(() => {
        slow.resume();
        setTimeout(() => slow.stall(), 1);
      }, 400);
      const deadline = Date.now() + 20_000;
      try {
        while (h.clients() > 0 && Date.now() < deadline) {
          for (let i = 0; i < 50; i++) h.bus.publish(rec("oom", { big }));
          await Bun.sleep(20);
        }
      } finally {
        clearInterval(reading);
      }
      expect(h.app.watchStats()).toMatchObject({ clients: 0, dropped: { client_stalled: 0 } });
      expect(h.app.watchStats().dropped.client_behind).toBeGreaterThan(0);
      slow.end();
    } finally {
      await h.server.stop();
    }
  }, 30_000);

  test("100 slow bodies (Content-Length: 100, one byte sent) hold no slot; they get 408 and are closed", async () => {
    const h = start({ maxClients: 100, bodyTimeoutMs: 1500 });
    try {
      const slow = await Promise.all(
        Array.from({ length: 100 }, () =>
          rawClient(h.server.port, "POST /v1/events/watch HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"),
        ),
      );
      await Bun.sleep(200);
      const c = await watch(h);
      expect(c.res.status).toBe(200);
      const r = rec("oom");
      h.bus.publish(r);
      await until(() => c.events.length === 1, 5000, "event for the new client");
      // The slow ones time out with the JSON envelope and their connections close.
      await until(() => slow.every((s) => s.closed()), 10_000, "slow-body connections closed");
      for (const s of slow) {
        expect(s.text()).toStartWith("HTTP/1.1 408");
        expect(s.text()).toContain('{"error":{"code":"request_timeout"');
      }
      c.close();
    } finally {
      await h.server.stop();
    }
  }, 30_000);

  test("request body size limit: 413 with the JSON envelope", async () => {
    const h = start();
    try {
      const big = JSON.stringify({ filters: { tracer_name: "a" }, pad: "z".repeat(100 * 1024) });
      const res = await fetch(`${h.url}/v1/events/watch`, { method: "POST", body: big });
      expect(res.status).toBe(413);
      expect((await res.json()).error.code).toBe("payload_too_large");
      expect(h.clients()).toBe(0);
    } finally {
      await h.server.stop();
    }
  });

  test("KeepAliveInterval beyond the timer range does not ping every millisecond (was: 3000000 s → ~1 ping/ms)", async () => {
    const h = start({ keepAliveSec: 3_000_000 });
    try {
      const c = await watch(h);
      await Bun.sleep(1000);
      expect(c.comments.filter((x) => x === "ping").length).toBe(0);
      c.close();
    } finally {
      await h.server.stop();
    }
  });

  test("GET form with query filters (browser EventSource); unknown parameter is a 400", async () => {
    const h = start();
    try {
      const ac = new AbortController();
      const res = await fetch(`${h.url}/v1/events/watch?tracer_name=%5Eoom%24&region=r`, { signal: ac.signal });
      expect(res.status).toBe(200);
      expect(res.headers.get("content-type")).toBe("text/event-stream");
      const want = rec("oom");
      h.bus.publish(rec("oom_group"));
      h.bus.publish(want);
      const reader = res.body!.getReader();
      let text = "";
      while (!text.includes(want.tracer_id)) text += new TextDecoder().decode((await reader.read()).value);
      expect(text).not.toContain('"tracer_name":"oom_group"');
      ac.abort();
      const bad = await fetch(`${h.url}/v1/events/watch?pod=x`);
      expect(bad.status).toBe(400);
      expect((await bad.json()).error.message).toContain("pod");
    } finally {
      await h.server.stop();
    }
  });
});

describe("Last-Event-ID resume from the local files", () => {
  test("an id older than the window resumes from the files, then the window: no loss, no duplicate", async () => {
    const dir = mkdtempSync(join(tmpdir(), "kpulse-watch-store-"));
    const bus = createEventBus({ windowSize: 16 });
    const sink = startLocalFileSink({ bus, log: silentLogger, dir, rotationSizeMiB: 1, maxRotation: 5 });
    const app = createApp({
      renderMetrics: () => "",
      probes: () => [],
      bus,
      watch: { maxClients: 10, keepAliveSec: 30, ceMode: "kpulse", storeDir: dir },
      version: { name: "kpulse", version: "0", bun: Bun.version },
      log: silentLogger,
      ready: () => true,
    });
    const server = app.serve("127.0.0.1:0");
    const h = { bus, server, url: `http://127.0.0.1:${server.port}` } as unknown as Harness;
    try {
      // Two tracers interleaved, big enough to rotate: the files are read across backups.
      const big = "w".repeat(3000);
      const recs = Array.from({ length: 800 }, (_, i) => rec(i % 3 ? "oom" : "dropwatch", { i, big }));
      for (const r of recs) bus.publish(r);
      await sink.flush();
      expect(readdirSync(dir).length).toBeGreaterThan(2); // rotated backups exist
      // Files of other outputs next to the tracer files are not events to resume from.
      const stray = documentJson(rec("oom", { stray: true }));
      writeFileSync(join(dir, "dead-letter.ndjson"), stray + "\n");
      mkdirSync(join(dir, ".spool"));
      writeFileSync(join(dir, ".spool", "oom"), stray + "\n");
      const from = 100;
      const c = await watch(h, "{}", { "Last-Event-ID": recs[from]!.tracer_id });
      await until(() => c.events.length >= recs.length - from - 1, 10_000, "resumed events");
      expect(c.comments).toContain("resuming from the local files");
      expect(c.events.map((e) => e.id)).toEqual(recs.slice(from + 1).map((r) => r.tracer_id));
      expect(c.events[0]!.data.data.tracer_data).toEqual({ i: from + 1, big });
      const live = rec("oom", { live: true });
      bus.publish(live);
      await until(() => c.events.length === recs.length - from);
      expect(c.events.at(-1)!.id).toBe(live.tracer_id);
      c.close();

      // Filtered resume: only dropwatch events after the id.
      const f = await watch(h, JSON.stringify({ filters: { tracer_name: "^dropwatch$" } }), { "Last-Event-ID": recs[from]!.tracer_id });
      const want = recs.slice(from + 1).filter((r) => r.tracer_name === "dropwatch").map((r) => r.tracer_id);
      await until(() => f.events.length >= want.length, 10_000, "filtered resume");
      expect(f.events.map((e) => e.id)).toEqual(want);
      f.close();
    } finally {
      await server.stop();
      await sink.close();
      rmSync(dir, { recursive: true, force: true });
    }
  }, 30_000);
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
