// The OpenSearch / Elasticsearch sink against real nodes (OpenSearch 2.19.1 and Elasticsearch
// 7.10.2 OSS, tests/opensearch/run.sh) and the real agent on the real kernel: dropwatch events
// from UDP sent to a closed port inside a network namespace of our own.
//
// One OpenSearch node and one Elasticsearch node serve the whole file; both start while the
// first agents are already running against their (not yet open) ports.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { appendFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { spawnSync } from "bun";
import { KPULSE, ROOT, kernelTestSkipReason, metricValue, startAgent, waitFor, type Agent } from "../e2e/agent.ts";
import { createEventBus, type EventBus } from "../../src/events/bus.ts";
import { documentJson } from "../../src/events/format.ts";
import type { EventRecord } from "../../src/events/record.ts";
import { shapeRecord } from "../../src/events/shape.ts";
import { createLogger } from "../../src/log.ts";
import { startOpenSearchSink, type OpenSearchSink, type OpenSearchSinkOptions } from "../../src/storage/opensearch.ts";
import { agentConfig, allDocs, DropSource, es, freePort, localIds, Node, UDP_FLOOD, type StoredDoc } from "./backend.ts";

// Root for the kernel events, namespaces and tmpfs: skipped with a reason off-root, never under CI=true.
const skip = kernelTestSkipReason();

const BINARY = process.env.KPULSE_BINARY ? resolve(ROOT, process.env.KPULSE_BINARY) : KPULSE; // a developer build
const tag = `kpos${process.pid}`;
const work = mkdtempSync(join(tmpdir(), "kpulse-storage-"));
let os: Node;
let es7: Node;
let drops: DropSource;

/** Our documents in an index (this namespace, this port), ordered as the index received them. */
async function ours(url: string, index: string, port: number): Promise<StoredDoc[]> {
  return (await allDocs(url, index)).filter((d) => d.inum === drops.inum && d.dport === port).sort((a, b) => a._seq_no - b._seq_no);
}

async function metric(agent: Agent, name: string): Promise<number> {
  return metricValue(await agent.metrics(), name) ?? NaN;
}

/** Waits until the local file holds `n` of our events; returns their ids in order. */
function localCount(agent: Agent, port: number, n: number, ms = 30_000): Promise<string[]> {
  return waitFor(`${n} events in the local file`, () => {
    const ids = localIds(agent.dir, drops.inum, port);
    return ids.length >= n ? ids : undefined;
  }, ms, 100);
}

/** Exactly the local file's events, once each (_id = tracer_id), in the order they were published. */
function expectSameInOrder(docs: StoredDoc[], local: string[]) {
  expect(docs.length).toBe(local.length);
  expect(new Set(docs.map((d) => d._id)).size).toBe(docs.length);
  for (const d of docs) expect(d._id).toBe(d.tracer_id);
  expect(docs.map((d) => d._id)).toEqual(local);
  for (let i = 1; i < docs.length; i++) expect(docs[i]!.tracer_time >= docs[i - 1]!.tracer_time).toBe(true);
}

async function agentAt(address: string, index: string, opts: { dir?: string; extra?: string } = {}): Promise<Agent> {
  return startAgent({ binary: BINARY, config: agentConfig(address, index, opts.extra), dir: opts.dir });
}

beforeAll(async () => {
  if (skip) return;
  for (const f of [BINARY, UDP_FLOOD]) if (!existsSync(f)) throw new Error(`${f} is missing: run make build/kpulse build/tools/udp-flood`);
  drops = new DropSource(tag);
  os = new Node("os", join(work, "os"), await freePort());
  es7 = new Node("es7", join(work, "es7"), await freePort());
  await Promise.all([os.classpath(), es7.classpath()]); // cached after the first run
});

afterAll(async () => {
  await Promise.allSettled([os?.stop(), es7?.stop()]);
  drops?.remove();
  rmSync(work, { recursive: true, force: true });
});

describe.skipIf(!!skip)("agent up while the backend is down", () => {
  test("1 000 kernel events reach OpenSearch 2.19 and Elasticsearch 7.10 once each, in order, after they start", async () => {
    const a = await agentAt(os.url, "kp-down");
    const b = await agentAt(es7.url, "kp-down");
    try {
      const port = 40_001;
      await drops.paced(port, 1000, 100, 500);
      const [la, lb] = await Promise.all([localCount(a, port, 1000), localCount(b, port, 1000)]);
      expect(la.length).toBe(1000);
      expect(lb.length).toBe(1000); // the same kernel events, under each agent's own ids
      // Both run normally with nothing to send to: ready, events on disk, the backend down.
      for (const ag of [a, b]) {
        expect((await fetch(`${ag.url}/readyz`)).status).toBe(204);
        await waitFor("events spooled", async () => (await metric(ag, "kpulse_opensearch_spool_events")) >= 1000 || undefined);
        expect(await metric(ag, "kpulse_opensearch_up")).toBe(0);
        expect(await metric(ag, "kpulse_opensearch_sent_total")).toBe(0);
      }
      const t0 = Date.now();
      await Promise.all([os.start(), es7.start()]);
      const started = Date.now() - t0;
      const docs: Record<string, StoredDoc[]> = {};
      for (const [name, node] of [["os", os], ["es7", es7]] as const) {
        docs[name] = await waitFor(`1 000 documents in ${name}`, async () => {
          const d = await ours(node.url, "kp-down", port);
          return d.length >= 1000 ? d : undefined;
        }, 60_000, 500);
      }
      console.log(`nodes yellow in ${started} ms; all documents in both ${Date.now() - t0} ms after the start`);
      expectSameInOrder(docs.os!, la);
      expectSameInOrder(docs.es7!, lb);
      for (const ag of [a, b]) {
        await waitFor("the spool empty", async () => (await metric(ag, "kpulse_opensearch_spool_events")) === 0 || undefined, 30_000);
        expect(await metric(ag, "kpulse_opensearch_up")).toBe(1);
        expect(await metric(ag, "kpulse_opensearch_dead_lettered_total")).toBe(0);
        expect(await metric(ag, "kpulse_opensearch_dropped_total")).toBe(0);
      }
      // The template made the times dates and kept tracer_data out of the mapping.
      for (const node of [os, es7]) {
        const m = await es(node.url, "GET", "/kp-down/_mapping");
        const props = m["kp-down"].mappings.properties;
        expect(props.tracer_time.type).toBe("date");
        expect(props.uploaded_time.type).toBe("date");
        expect(props.tracer_data).toEqual({ type: "object", enabled: false });
      }
      expect(await Promise.all([a.stop(), b.stop()])).toEqual([0, 0]); // a clean, bounded shutdown
    } finally {
      await Promise.all([a.stop(), b.stop()]);
    }
    await es7.stop(); // not needed again: free its memory
  });
});

describe.skipIf(!!skip)("OpenSearch killed mid-run", () => {
  test("10 000 events with OpenSearch killed (SIGKILL) and restarted meanwhile: none lost, none duplicated", async () => {
    const agent = await agentAt(os.url, "kp-kill");
    try {
      await waitFor("the agent connected", async () => (await metric(agent, "kpulse_opensearch_up")) === 1 || undefined, 30_000);
      const port = 40_002;
      const traffic = drops.paced(port, 10_000, 100, 6000);
      await Bun.sleep(1500);
      await os.kill();
      const killedAt = Date.now();
      await waitFor("the agent noticed", async () => (await metric(agent, "kpulse_opensearch_up")) === 0 || undefined, 15_000);
      await os.start();
      const down = Date.now() - killedAt;
      await traffic;
      const local = await localCount(agent, port, 10_000);
      expect(local.length).toBe(10_000);
      const docs = await waitFor("10 000 documents", async () => {
        const d = await ours(os.url, "kp-kill", port);
        return d.length >= 10_000 ? d : undefined;
      }, 60_000, 500);
      expect(docs.length).toBe(10_000);
      expect(new Set(docs.map((d) => d._id))).toEqual(new Set(local));
      const resent = docs.filter((d) => d._version > 1).length;
      console.log(`OpenSearch down ${down} ms; ${resent} documents were sent again (overwritten, not duplicated)`);
      expect(await metric(agent, "kpulse_opensearch_retried_total")).toBeGreaterThan(0);
      expect(await metric(agent, "kpulse_opensearch_dead_lettered_total")).toBe(0);
      expect(await metric(agent, "kpulse_opensearch_dropped_total")).toBe(0);
    } finally {
      await agent.stop();
    }
  });
});

describe.skipIf(!!skip)("agent killed with events in the spool", () => {
  test("kill -9, a torn last spool line, restart: every spooled event arrives once", async () => {
    const dir = join(work, "agent-kill");
    mkdirSync(dir);
    const closed = `http://127.0.0.1:${await freePort()}`;
    const port = 40_003;
    const first = await agentAt(closed, "kp-crash", { dir });
    let local: string[];
    try {
      await drops.paced(port, 1000, 100, 500);
      local = await localCount(first, port, 1000);
      await waitFor("events spooled", async () =>
        (await metric(first, "kpulse_opensearch_spool_events")) >= 1000 && (await metric(first, "kpulse_opensearch_queued")) === 0 || undefined);
    } finally {
      first.proc.kill("SIGKILL");
      await first.proc.exited;
    }
    // What a write cut by the kill leaves: half a line at the end of the last segment.
    const spool = join(dir, "local", ".spool");
    const segs = readdirSync(spool).filter((f) => f.endsWith(".ndjson") && f !== "dead-letter.ndjson").sort();
    expect(segs.length).toBeGreaterThan(0);
    appendFileSync(join(spool, segs[segs.length - 1]!), '{"hostname":"torn","region":"x","uploaded_ti');

    const second = await agentAt(os.url, "kp-crash", { dir });
    try {
      const docs = await waitFor("1 000 documents", async () => {
        const d = await ours(os.url, "kp-crash", port);
        return d.length >= 1000 ? d : undefined;
      }, 60_000, 500);
      expectSameInOrder(docs, local);
      expect(second.output()).toContain("spool: cut a torn last line");
      await waitFor("the spool empty", async () => (await metric(second, "kpulse_opensearch_spool_events")) === 0 || undefined, 30_000);
      expect(await metric(second, "kpulse_opensearch_dead_lettered_total")).toBe(0);
    } finally {
      await second.stop();
    }
  });
});

describe.skipIf(!!skip)("documents the backend rejects", () => {
  test("a mapping conflict puts the documents in the dead-letter file and the counter, not in an endless retry", async () => {
    await os.start();
    // Our own mapping: region is a number, so documents with region "test" cannot be indexed.
    await es(os.url, "PUT", "/kp-dead", { settings: { number_of_replicas: 0 }, mappings: { properties: { region: { type: "long" } } } });
    const agent = await agentAt(os.url, "kp-dead");
    try {
      const port = 40_004;
      await drops.send(port, 100);
      const local = await localCount(agent, port, 100);
      const file = join(agent.dir, "local", ".spool", "dead-letter.ndjson");
      const dead = await waitFor("100 dead letters", () => {
        if (!existsSync(file)) return undefined;
        const mine = readFileSync(file, "utf8").split("\n").filter(Boolean).map((l) => JSON.parse(l))
          .filter((e) => e.document?.tracer_data?.net_namespace_inum === drops.inum && e.document?.tracer_data?.dport === port);
        return mine.length >= 100 ? mine : undefined;
      }, 30_000, 200);
      expect(dead.map((e) => e.document.tracer_id)).toEqual(local);
      for (const e of dead) {
        expect(e.status).toBe(400);
        expect(e.error.type).toBe("mapper_parsing_exception");
        expect(e.index).toBe("kp-dead");
      }
      expect(await metric(agent, "kpulse_opensearch_dead_lettered_total")).toBeGreaterThanOrEqual(100);
      await waitFor("the spool empty", async () => (await metric(agent, "kpulse_opensearch_spool_events")) === 0 || undefined, 30_000);
      expect(await ours(os.url, "kp-dead", port)).toEqual([]);
    } finally {
      await agent.stop();
    }
  });
});

// ── the sink in this process, against the same OpenSearch node ─────────────────────────────────

/** A sink with small, fast settings; its log lines are kept for assertions. */
function inProcess(bus: EventBus, o: Partial<OpenSearchSinkOptions> & { index: string; spoolDir: string }) {
  const lines: string[] = [];
  const sink = startOpenSearchSink({
    bus, log: createLogger("debug", (l) => lines.push(l)),
    addresses: [os.url], username: "u", password: "p", tls: {},
    maxEvents: 1000, maxBytes: 5 * 1024 * 1024, flushIntervalMs: 100, requestTimeoutMs: 5000, retryMaxMs: 300,
    queueSize: 8192, spoolMaxBytes: 64 * 1024 * 1024, deadLetterMaxBytes: 1024 * 1024, closeTimeoutMs: 3000,
    ...o,
  });
  return { sink, lines };
}

const record = (data: Record<string, unknown>, region = "r"): EventRecord =>
  shapeRecord({ tracerName: "kp_test", data }, { hostname: "node-1", region });

async function ids(index: string): Promise<string[]> {
  return (await allDocs(os.url, index)).sort((a, b) => a._seq_no - b._seq_no).map((d) => d._id);
}

/**
 * An HTTP(S) proxy in front of OpenSearch that can refuse, hang, or record the _bulk requests it
 * forwards (items per request), for TLS and batching checks.
 */
function proxy(tls?: { cert: string; key: string; ca?: string; requestCert?: boolean }) {
  const state = { mode: "forward" as "forward" | "hang" | "fail", bulkItems: [] as number[] };
  const server = Bun.serve({
    port: 0,
    hostname: "127.0.0.1",
    tls: tls && { ...tls, rejectUnauthorized: !!tls.requestCert },
    async fetch(req) {
      const u = new URL(req.url);
      const body = req.method === "GET" || req.method === "HEAD" ? undefined : await req.text();
      if (state.mode === "hang") return new Promise<Response>(() => {});
      if (state.mode === "fail") return new Response('{"error":"down"}', { status: 503 });
      if (u.pathname.endsWith("/_bulk") && body) state.bulkItems.push(body.split("\n").filter(Boolean).length / 2);
      const res = await fetch(os.url + u.pathname + u.search, { method: req.method, headers: { "content-type": req.headers.get("content-type") ?? "application/json" }, body });
      return new Response(await res.arrayBuffer(), { status: res.status, headers: { "content-type": res.headers.get("content-type") ?? "application/json" } });
    },
  });
  return { url: `${tls ? "https" : "http"}://127.0.0.1:${server.port}`, state, stop: () => server.stop(true) };
}

describe.skipIf(!!skip)("the sink in process", () => {
  beforeAll(() => os.start());

  test("a document rejected for its mapping goes to the dead-letter file; the others are indexed", async () => {
    await es(os.url, "PUT", "/kp-mix", { settings: { number_of_replicas: 0 }, mappings: { properties: { region: { type: "long" } } } });
    const bus = createEventBus();
    const spoolDir = join(work, "mix");
    const { sink } = inProcess(bus, { index: "kp-mix", spoolDir });
    const recs = ["1", "2", "x", "3", "y", "4"].map((region, i) => record({ i }, region));
    try {
      for (const r of recs) bus.publish(r);
      await waitFor("all settled", () => sink.stats().sent + sink.stats().dead_lettered === 6 && sink.stats().spool_events === 0 || undefined, 30_000);
      expect(sink.stats()).toMatchObject({ sent: 4, dead_lettered: 2, spool_events: 0, queued: 0 });
    } finally {
      await sink.close();
    }
    expect(await ids("kp-mix")).toEqual(recs.filter((r) => r.region !== "x" && r.region !== "y").map((r) => r.tracer_id));
    const dead = readFileSync(join(spoolDir, "dead-letter.ndjson"), "utf8").trim().split("\n");
    expect(dead.length).toBe(2);
    for (const [i, line] of dead.entries()) {
      const r = recs.filter((x) => x.region === "x" || x.region === "y")[i]!;
      expect(line).toContain(',"document":' + documentJson(r) + "}"); // the exact bytes
      const e = JSON.parse(line);
      expect(e.status).toBe(400);
      expect(e.error.type).toBe("mapper_parsing_exception");
    }
  });

  test("batches respect MaxEvents and MaxBytes; a partial batch leaves after FlushIntervalMs", async () => {
    const p = proxy();
    try {
      const bus = createEventBus();
      const { sink } = inProcess(bus, { index: "kp-batch", spoolDir: join(work, "batch"), addresses: [p.url], maxEvents: 7, maxBytes: 4096, flushIntervalMs: 300 });
      // The first events go through the spool until the backend has answered once.
      bus.publish(record({ warm: 1 }));
      await waitFor("the first event sent", () => sink.stats().sent === 1 || undefined, 30_000);
      p.state.bulkItems.length = 0;
      const t0 = Date.now();
      bus.publish(record({ one: 1 }));
      await waitFor("the lone event sent", () => sink.stats().sent === 2 || undefined, 5000, 10);
      const lone = Date.now() - t0;
      expect(lone).toBeGreaterThanOrEqual(250);
      expect(lone).toBeLessThan(2000);
      expect(p.state.bulkItems).toEqual([1]);
      // Small documents: MaxEvents binds.
      p.state.bulkItems.length = 0;
      for (let i = 0; i < 100; i++) bus.publish(record({ i }));
      await waitFor("100 more sent", () => sink.stats().sent === 102 || undefined, 10_000, 10);
      expect(Math.max(...p.state.bulkItems)).toBe(7);
      expect(p.state.bulkItems.reduce((a, b) => a + b, 0)).toBe(100);
      // Large documents: MaxBytes binds.
      p.state.bulkItems.length = 0;
      const big = Array.from({ length: 30 }, (_, i) => record({ i, pad: "p".repeat(1000) }));
      const perRequest = Math.floor(4096 / Math.max(...big.map((r) => documentJson(r).length)));
      for (const r of big) bus.publish(r);
      await waitFor("30 more sent", () => sink.stats().sent === 132 || undefined, 10_000, 10);
      expect(perRequest).toBe(3);
      expect(Math.max(...p.state.bulkItems)).toBe(perRequest);
      await sink.close();
    } finally {
      p.stop();
    }
  });

  test("TLS: verified with CAFile, refused without it, accepted with Insecure; client certificates", async () => {
    const pki = makePki(join(work, "pki"));
    const server = proxy({ cert: pki.serverCert, key: pki.serverKey });
    const mutual = proxy({ cert: pki.serverCert, key: pki.serverKey, ca: pki.caCert, requestCert: true });
    try {
      const run = async (name: string, url: string, tls: OpenSearchSinkOptions["tls"]) => {
        const bus = createEventBus();
        const s = inProcess(bus, { index: "kp-tls", spoolDir: join(work, `tls-${name}`), addresses: [url], tls });
        bus.publish(record({ tls: name }));
        await waitFor(`${name}: answered or refused`, () => s.sink.stats().sent === 1 || s.lines.some((l) => l.includes("backend unavailable")) || undefined, 15_000);
        const result = { sent: s.sink.stats().sent, spooled: s.sink.stats().spool_events, log: s.lines.find((l) => l.includes("backend unavailable")) ?? "" };
        await s.sink.close();
        return result;
      };
      expect(await run("ca", server.url, { caFile: pki.caFile })).toMatchObject({ sent: 1, spooled: 0 });
      const refused = await run("none", server.url, {});
      expect(refused).toMatchObject({ sent: 0, spooled: 1 });
      expect(refused.log).toMatch(/certificate/i);
      expect(await run("insecure", server.url, { insecure: true })).toMatchObject({ sent: 1, spooled: 0 });
      expect(await run("client-cert", mutual.url, { caFile: pki.caFile, certFile: pki.clientCertFile, keyFile: pki.clientKeyFile })).toMatchObject({ sent: 1 });
      expect(await run("no-client-cert", mutual.url, { caFile: pki.caFile })).toMatchObject({ sent: 0, spooled: 1 });
    } finally {
      server.stop();
      mutual.stop();
    }
  });

  test("close() sends what is in memory within its bound; a hanging backend leaves it in the spool", async () => {
    const p = proxy();
    try {
      const dir = join(work, "close");
      const bus = createEventBus();
      const { sink } = inProcess(bus, { index: "kp-close", spoolDir: dir, addresses: [p.url], flushIntervalMs: 60_000 });
      bus.publish(record({ warm: 1 }));
      await waitFor("the first event sent", () => sink.stats().sent === 1 || undefined, 30_000);
      for (let i = 0; i < 500; i++) bus.publish(record({ i }));
      await waitFor("in memory", () => sink.stats().queued === 500 || undefined);
      let t0 = Date.now();
      await sink.close();
      expect(Date.now() - t0).toBeLessThan(2000); // not the 60 s flush interval
      expect((await ids("kp-close")).length).toBe(501);

      const bus2 = createEventBus();
      const again = inProcess(bus2, { index: "kp-close", spoolDir: dir, addresses: [p.url], flushIntervalMs: 60_000 });
      await waitFor("up", () => again.sink.stats().up === 1 || undefined, 30_000);
      p.state.mode = "hang";
      for (let i = 0; i < 300; i++) bus2.publish(record({ i }));
      t0 = Date.now();
      await again.sink.close(); // the flush hangs: after 3 s the events are spooled
      expect(Date.now() - t0).toBeLessThan(6000);
      p.state.mode = "forward";
      const bus3 = createEventBus();
      const third = inProcess(bus3, { index: "kp-close", spoolDir: dir, addresses: [p.url] });
      expect(third.sink.stats().spool_events).toBe(300);
      await waitFor("replayed", () => third.sink.stats().spool_events === 0 || undefined, 30_000);
      await third.sink.close();
      expect((await ids("kp-close")).length).toBe(801);
    } finally {
      p.stop();
    }
  });

  test("the spool limit drops the oldest events, counted; the newest are sent when the backend returns", async () => {
    const dir = join(work, "limit");
    const closed = `http://127.0.0.1:${await freePort()}`;
    const bus = createEventBus();
    const { sink } = inProcess(bus, { index: "kp-limit", spoolDir: dir, addresses: [closed], spoolMaxBytes: 1024 * 1024 });
    const recs: EventRecord[] = [];
    for (let i = 0; i < 3000; i++) {
      const r = record({ i, pad: "x".repeat(800) });
      recs.push(r);
      bus.publish(r);
      if (i % 100 === 99) await Bun.sleep(5);
    }
    await waitFor("everything spooled or dropped", () => sink.stats().queued === 0 && sink.stats().spool_events + sink.stats().dropped === 3000 || undefined, 30_000);
    const { dropped, spool_events, spool_bytes } = sink.stats();
    expect(dropped).toBeGreaterThan(0);
    expect(spool_bytes).toBeLessThanOrEqual(1024 * 1024);
    await sink.close();

    const bus2 = createEventBus();
    const again = inProcess(bus2, { index: "kp-limit", spoolDir: dir });
    await waitFor("replayed", () => again.sink.stats().spool_events === 0 || undefined, 30_000);
    await again.sink.close();
    // The newest, in order: the oldest went first.
    expect(await ids("kp-limit")).toEqual(recs.slice(3000 - spool_events).map((r) => r.tracer_id));
    expect(dropped + spool_events).toBe(3000);
  });

  test("a full disk under the spool: events wait in memory, then the bus drops and counts; writing resumes when space returns", async () => {
    const dir = join(work, "tmpfs");
    mkdirSync(dir);
    const mount = spawnSync(["mount", "-t", "tmpfs", "-o", "size=256k", "kpulse-test", dir], { stderr: "pipe" });
    if (mount.exitCode !== 0) throw new Error(`mount tmpfs: ${mount.stderr}`);
    try {
      const closed = `http://127.0.0.1:${await freePort()}`;
      const bus = createEventBus();
      const { sink, lines } = inProcess(bus, { index: "kp-full", spoolDir: dir, addresses: [closed], queueSize: 200, maxEvents: 50 });
      for (let i = 0; i < 2000; i++) {
        bus.publish(record({ i, pad: "y".repeat(900) }));
        if (i % 50 === 49) await Bun.sleep(2);
      }
      await waitFor("write failures", () => sink.stats().spool_write_failures > 0 || undefined);
      const busDropped = () => bus.stats().dropped.opensearch ?? 0;
      await waitFor("the bus dropping", () => busDropped() > 0 || undefined);
      const s = sink.stats();
      expect(s.spool_events + s.queued + busDropped()).toBe(2000); // every event is somewhere, or counted
      expect(s.dropped).toBe(0); // not the spool limit
      expect(lines.some((l) => l.includes("cannot write the spool"))).toBe(true);
      // Space again: the spool takes what memory held, by itself.
      const grow = spawnSync(["mount", "-o", "remount,size=8m", dir], { stderr: "pipe" });
      if (grow.exitCode !== 0) throw new Error(`remount: ${grow.stderr}`);
      await waitFor("memory spooled", () => sink.stats().queued === 0 || undefined, 10_000);
      const spooled = sink.stats().spool_events;
      expect(spooled + busDropped()).toBe(2000);
      await sink.close();
      const again = inProcess(createEventBus(), { index: "kp-full", spoolDir: dir });
      await waitFor("replayed", () => again.sink.stats().spool_events === 0 || undefined, 30_000);
      await again.sink.close();
      expect((await ids("kp-full")).length).toBe(spooled);
    } finally {
      spawnSync(["umount", dir]);
    }
  });
});

/** A CA, a server certificate for 127.0.0.1 and a client certificate, made with openssl. */
function makePki(dir: string) {
  mkdirSync(dir, { recursive: true });
  const ossl = (...args: string[]) => {
    const r = spawnSync(["openssl", ...args], { cwd: dir, stderr: "pipe" });
    if (r.exitCode !== 0) throw new Error(`openssl ${args.join(" ")}: ${r.stderr}`);
  };
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
  ossl("req", "-x509", ...ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=kpulse test CA");
  for (const [name, ext] of [["server", "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n"], ["client", "extendedKeyUsage=clientAuth\n"]] as const) {
    ossl("req", ...ec, "-keyout", `${name}.key`, "-out", `${name}.csr`, "-subj", `/CN=kpulse test ${name}`);
    writeFileSync(join(dir, `${name}.ext`), ext);
    ossl("x509", "-req", "-in", `${name}.csr`, "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-out", `${name}.pem`, "-days", "2", "-extfile", `${name}.ext`);
  }
  const read = (f: string) => readFileSync(join(dir, f), "utf8");
  return {
    caFile: join(dir, "ca.pem"), caCert: read("ca.pem"),
    serverCert: read("server.pem"), serverKey: read("server.key"),
    clientCertFile: join(dir, "client.pem"), clientKeyFile: join(dir, "client.key"),
  };
}
