// The OpenSearch / Elasticsearch sink: every event as HUATUO's document (the bytes the local
// file gets), indexed with _id = tracer_id through _bulk, so sending an event twice overwrites
// it and never duplicates it. Works with OpenSearch 2.x and Elasticsearch 7.x (OSS included).
//
// Unlike HUATUO (exit when ES is down at start, drop a batch after three retries), no event is
// given up while the backend is away:
//
//   bus ──► intake ──► memory (a batch or two) ──► sender ──► _bulk
//                 └──► spool (disk, in order) ──────┘
//
// - The intake is a bus subscriber (bounded queue; the bus counts what it cannot take). It
//   moves records into memory and, whenever the backend is not known to be up, the spool
//   already holds events, or memory grows past two batches, spills memory to the spool (NDJSON
//   segments, fdatasync'ed per spill). Disk I/O is asynchronous: nothing here runs inside, or
//   holds up, the ring drain.
// - The sender sends the spool first (it is older), then memory, one request at a time, so
//   documents reach the index in the order they were published. A batch that fails with a
//   connection error, timeout, 429 or 5xx goes (back) to the spool and is retried with
//   exponential backoff and jitter; the agent meanwhile runs normally.
// - Per item: 2xx sent; 4xx (mapping, validation) → the dead-letter file and a counter; 429,
//   5xx and 403/404/408 (cluster blocks, a missing index, timeouts: conditions an operator
//   fixes on the cluster) → retried.
// - An index template is put at start (and retried until the backend answers): time fields
//   are dates, top-level strings keywords, tracer_data stored but not indexed (see
//   indexTemplate for why), so tracers cannot conflict in the mapping.
// - While the backend is healthy, events stay in memory for at most FlushIntervalMs plus one
//   request: a kill -9 then loses at most those (the local file has them). Everything that
//   waits longer is on disk.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { Client } from "@opensearch-project/opensearch";
import type { LoadedConfig } from "../config/load.ts";
import {
  esAddresses,
  STORAGE_ES,
  STORAGE_ES_BULK,
  STORAGE_ES_SPOOL,
  STORAGE_ES_TLS,
  STORAGE_LOCALFILE,
} from "../config/sections.ts";
import type { EventBus, Subscription } from "../events/bus.ts";
import { documentJson } from "../events/format.ts";
import type { EventRecord } from "../events/record.ts";
import type { Logger } from "../log.ts";
import { DeadLetterFile, Spool, type SpoolBatch } from "./spool.ts";

const MiB = 1024 * 1024;

export interface OpenSearchTls {
  /** PEM CA bundle for the server certificate ("" = system roots). */
  caFile?: string;
  /** PEM client certificate (mutual TLS); keyFile "" = the key is in the same file. */
  certFile?: string;
  keyFile?: string;
  /** Accept any server certificate. */
  insecure?: boolean;
}

export interface OpenSearchSettings {
  addresses: string[];
  username: string;
  password: string;
  index: string;
  tls: OpenSearchTls;
  /** Events per _bulk request. */
  maxEvents: number;
  /** Bytes of documents per _bulk request. */
  maxBytes: number;
  flushIntervalMs: number;
  requestTimeoutMs: number;
  /** Backoff cap; the first retry waits min(500, retryMaxMs), doubling, jittered to 50–100 %. */
  retryMaxMs: number;
  /** Bus queue in front of the sink. */
  queueSize: number;
  spoolDir: string;
  spoolMaxBytes: number;
  deadLetterMaxBytes: number;
}

export interface OpenSearchSinkOptions extends OpenSearchSettings {
  bus: EventBus;
  log: Logger;
  /** How long close() keeps sending what is in memory before spooling it (default 5000 ms). */
  closeTimeoutMs?: number;
}

export interface OpenSearchStats {
  /** Events in memory: the bus queue, the batch being built, the batch in flight. */
  queued: number;
  /** Unsent events and their bytes in the spool. */
  spool_events: number;
  spool_bytes: number;
  /** Events the backend accepted. */
  sent: number;
  /** Failed sends that will be tried again (one per event per attempt). */
  retried: number;
  /** Events the backend refused for good, written to the dead-letter file. */
  dead_lettered: number;
  /** Unsent events deleted from the spool to keep it within its size limit. */
  dropped: number;
  /** Spool writes that failed (the events stay in memory; the bus drops once that is full). */
  spool_write_failures: number;
  /** 1 when the last request got a 2xx answer. */
  up: number;
}

export interface OpenSearchSink {
  readonly spoolDir: string;
  readonly deadLetterPath: string;
  stats(): OpenSearchStats;
  /** Stop taking events; send what is in memory for up to closeTimeoutMs; spool the rest. */
  close(): Promise<void>;
}

/** The sink's settings from the config (`[Storage.ES]` and its TLS, Bulk and Spool sections). */
export function openSearchSettings(cfg: LoadedConfig): OpenSearchSettings {
  const es = cfg.get(STORAGE_ES);
  const tls = cfg.get(STORAGE_ES_TLS);
  const bulk = cfg.get(STORAGE_ES_BULK);
  const spool = cfg.get(STORAGE_ES_SPOOL);
  const local = cfg.get(STORAGE_LOCALFILE).Path;
  return {
    addresses: esAddresses(es.Address),
    username: es.Username,
    password: es.Password,
    index: es.Index,
    tls: { caFile: tls.CAFile, certFile: tls.CertFile, keyFile: tls.KeyFile, insecure: tls.Insecure },
    maxEvents: bulk.MaxEvents,
    maxBytes: bulk.MaxBytes,
    flushIntervalMs: bulk.FlushIntervalMs,
    requestTimeoutMs: bulk.RequestTimeoutMs,
    retryMaxMs: bulk.RetryMaxMs,
    queueSize: bulk.QueueSize,
    spoolDir: spool.Path || (local ? join(local, ".spool") : cfg.compat === "huatuo" ? "huatuo-spool" : "kpulse-spool"),
    spoolMaxBytes: spool.MaxSize * MiB,
    deadLetterMaxBytes: spool.DeadLetterMaxSize * MiB,
  };
}

/**
 * The index template. Dates: `time`/`tracer_time` in HUATUO's Go layout "2006-01-02
 * 15:04:05.000 -0700" (Java: "yyyy-MM-dd HH:mm:ss.SSS Z"), `uploaded_time` RFC 3339 with up
 * to nanoseconds. Top-level strings are keywords.
 *
 * tracer_data is `"type": "object", "enabled": false`: kept in _source (returned by searches,
 * shown in Dashboards/Kibana) but not indexed, so no tracer's fields can conflict with
 * another's. The alternatives fail one backend or the other: `flattened` is X-Pack (not in
 * Elasticsearch 7.10 OSS nor in OpenSearch); OpenSearch's `flat_object` (2.7+) is not in
 * Elasticsearch and rejects any string over 32 KiB ("immense term"), which stack-carrying
 * tracers exceed; dynamic mapping is what makes tracers conflict (a field that is a number in
 * one tracer and an object in another). `dynamic: false` keeps unknown top-level fields out of
 * the mapping too.
 */
export function indexTemplate(index: string): Record<string, unknown> {
  const keyword = { type: "keyword", ignore_above: 1024 };
  const goTime = { type: "date", format: "yyyy-MM-dd HH:mm:ss.SSS Z||strict_date_optional_time||epoch_millis" };
  return {
    index_patterns: [index],
    priority: 100,
    version: 1,
    _meta: { managed_by: "kpulse" },
    template: {
      mappings: {
        dynamic: false,
        properties: {
          hostname: keyword,
          region: keyword,
          uploaded_time: { type: "date", format: "strict_date_optional_time||epoch_millis" },
          time: goTime,
          container_id: keyword,
          container_hostname: keyword,
          container_host_namespace: keyword,
          container_type: keyword,
          container_qos: keyword,
          tracer_name: keyword,
          tracer_id: keyword,
          tracer_time: goTime,
          tracer_type: keyword,
          tracer_data: { type: "object", enabled: false },
        },
      },
    },
  };
}

/**
 * tracer_id of a spooled document without parsing it: documentJson writes tracer_id after
 * fields that are all escaped JSON strings, so the first `,"tracer_id":"` is the key itself.
 */
export function documentId(doc: string): string | undefined {
  const k = doc.indexOf(',"tracer_id":"');
  if (k < 0) return undefined;
  const start = k + 14;
  const end = doc.indexOf('"', start);
  if (end < 0) return undefined;
  const id = doc.slice(start, end);
  if (!id.includes("\\")) return id;
  try {
    const v = JSON.parse(doc).tracer_id;
    return typeof v === "string" ? v : undefined;
  } catch {
    return undefined;
  }
}

interface Item {
  id: string;
  doc: string;
  /** Key in `settled` (spool batches): the id, or the line's position when it has none. */
  key?: string;
}

/** What one _bulk attempt came to. */
type Outcome =
  | { kind: "answered"; statuses: number[]; errors: unknown[] }
  /** The request failed as a whole; retryable or not. */
  | { kind: "failed"; retryable: boolean; status?: number; error: unknown }
  /** 413: the request was too large for the server (or a proxy): send smaller batches. */
  | { kind: "too_large" };

/** Item statuses retried rather than dead-lettered: throttling, server errors, and conditions fixed on the cluster. */
const isRetryableStatus = (s: number) => s === 429 || s >= 500 || s === 403 || s === 404 || s === 408 || s === 0;

export function startOpenSearchSink(opts: OpenSearchSinkOptions): OpenSearchSink {
  const log = opts.log.child({ sink: "opensearch" });
  if (opts.addresses.length === 0) throw new Error("Storage.ES.Address names no URL");
  if (!opts.index) throw new Error("Storage.ES.Index is empty");
  const client = new Client({
    node: opts.addresses,
    auth: { username: opts.username, password: opts.password },
    ssl: tlsOptions(opts.tls),
    maxRetries: 0, // retries are ours: through the spool, with backoff
    requestTimeout: opts.requestTimeoutMs,
  });
  if (opts.tls.insecure) log.warn("TLS certificate verification is off (Storage.ES.TLS Insecure = true)");

  const spool = new Spool({ dir: opts.spoolDir, maxBytes: opts.spoolMaxBytes, log });
  const deadLetterPath = join(opts.spoolDir, "dead-letter.ndjson");
  const deadLetter = new DeadLetterFile(deadLetterPath, opts.deadLetterMaxBytes);
  const sub: Subscription = opts.bus.subscribe({ name: "opensearch", queueSize: opts.queueSize });
  const retryInitialMs = Math.min(500, opts.retryMaxMs);

  // ── state ────────────────────────────────────────────────────────────────────────────────
  let mem: Item[] = []; // newer than everything in the spool
  let memBytes = 0;
  let memSince = 0; // when mem last went from empty to non-empty
  /** A memory batch being sent. `spilled`: it was also written to the spool meanwhile. */
  let inflight: { items: Item[]; at: number; spilled: boolean; spilling?: Promise<void> } | undefined;
  /** Docs taken from memory for a spool append that has not finished yet. */
  let spilling = 0;
  let spillChain: Promise<unknown> = Promise.resolve();
  let spoolRetryAt = 0;
  /** Spool lines the backend has settled (sent or dead-lettered) whose batch is not committed yet. */
  const settled = new Set<string>();
  let batchCap = opts.maxEvents;
  let up = false;
  let downLogged = false;
  let templateDone = false;
  let failures = 0;
  let closing = false;
  let stopped = false;
  let intakeDone = false;
  const n = { sent: 0, retried: 0, deadLettered: 0, spoolWriteFailures: 0 };

  // One waiter list for "something changed" (new events, a spill landed, close).
  let waiters: (() => void)[] = [];
  const wake = () => {
    const w = waiters;
    waiters = [];
    for (const f of w) f();
  };
  /** Resolves on the next wake(), or after timeoutMs. */
  const changed = (timeoutMs?: number) =>
    new Promise<void>((resolve) => {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const done = () => {
        if (timer !== undefined) clearTimeout(timer);
        resolve();
      };
      waiters.push(done);
      if (timeoutMs !== undefined) timer = setTimeout(done, Math.max(0, timeoutMs));
    });

  // ── intake: bus → memory → (spool) ─────────────────────────────────────────────────────────
  const push = (r: EventRecord) => {
    const doc = documentJson(r);
    if (mem.length === 0) memSince = Date.now();
    mem.push({ id: r.tracer_id, doc });
    memBytes += doc.length;
  };

  const mustSpill = () =>
    mem.length > 0 &&
    (!up || spool.pendingEvents > 0 || spilling > 0 ||
      mem.length >= 2 * batchCap || memBytes >= 2 * opts.maxBytes ||
      (inflight !== undefined && Date.now() - inflight.at > opts.flushIntervalMs));

  /** Move memory (and a batch in flight not yet on disk) to the end of the spool. */
  function spill(): Promise<unknown> {
    if (mem.length === 0 || Date.now() < spoolRetryAt) return spillChain;
    const carry = inflight && !inflight.spilled && !inflight.spilling ? inflight : undefined;
    const items = mem;
    const docs = (carry ? carry.items.concat(items) : items).map((i) => i.doc);
    mem = [];
    memBytes = 0;
    spilling += docs.length;
    const done = spool.append(docs).then(
      () => {
        if (carry) carry.spilled = true;
      },
      (err) => {
        // Back to the front of memory, before anything that arrived meanwhile.
        mem = items.concat(mem);
        memBytes = mem.reduce((a, i) => a + i.doc.length, 0);
        memSince = Date.now();
        n.spoolWriteFailures++;
        spoolRetryAt = Date.now() + 1000;
        if (n.spoolWriteFailures === 1 || n.spoolWriteFailures % 100 === 0)
          log.error("cannot write the spool; events stay in memory and the bus drops (counted) once that is full", {
            dir: spool.dir, err: String(err), failures: n.spoolWriteFailures,
          });
      },
    ).finally(() => {
      spilling -= docs.length;
      if (carry) carry.spilling = undefined;
      wake();
    });
    if (carry) carry.spilling = done;
    spillChain = done;
    return done;
  }

  async function intake() {
    const memCap = Math.max(opts.queueSize, 4 * opts.maxEvents);
    for (;;) {
      // The spool cannot be written and the backend is not taking events: stop reading the
      // bus, so its bounded queue absorbs, then drops (counted), instead of memory growing.
      while (mem.length >= memCap && !closing) {
        await spill();
        if (mem.length >= memCap) await changed(1000);
      }
      const first = await sub.next();
      if (first === undefined) break;
      push(first);
      for (let i = 1, r; i < opts.maxEvents && (r = sub.tryNext()) !== undefined; i++) push(r);
      if (mustSpill()) void spill();
      wake();
    }
    intakeDone = true;
    wake();
  }

  // ── sender: spool, then memory → _bulk ─────────────────────────────────────────────────────
  async function bulk(items: Item[]): Promise<Outcome> {
    let body = "";
    for (const it of items) body += '{"index":{"_id":' + JSON.stringify(it.id) + "}}\n" + it.doc + "\n";
    try {
      const res = await client.bulk(
        { index: opts.index, body, filter_path: "errors,items.*.status,items.*.error" } as never,
        { requestTimeout: opts.requestTimeoutMs, maxRetries: 0 },
      );
      const b = res.body as { errors?: boolean; items?: Record<string, { status?: number; error?: unknown }>[] };
      if (!b.errors) return { kind: "answered", statuses: items.map(() => 201), errors: [] };
      const statuses: number[] = [];
      const errors: unknown[] = [];
      for (let i = 0; i < items.length; i++) {
        const r = b.items?.[i] ? Object.values(b.items[i]!)[0] : undefined;
        statuses.push(r?.status ?? 0);
        errors.push(r?.error);
      }
      return { kind: "answered", statuses, errors };
    } catch (e) {
      const status = statusOf(e);
      if (status === 413 && items.length > 1) return { kind: "too_large" };
      const retryable = status === undefined || isRetryableStatus(status) || status === 401;
      return { kind: "failed", retryable, status, error: errorSummary(e) };
    }
  }

  async function toDeadLetter(entries: { item: Item; status: number | undefined; error: unknown }[]) {
    if (entries.length === 0) return;
    n.deadLettered += entries.length;
    const now = new Date().toISOString();
    const lines = entries.map(({ item, status, error }) => {
      const doc = item.doc.startsWith("{") && item.doc.endsWith("}") ? item.doc : undefined;
      return (
        '{"time":"' + now + '","index":' + JSON.stringify(opts.index) + ',"status":' + (status ?? 0) +
        ',"error":' + (JSON.stringify(error) ?? "null") +
        (doc !== undefined ? ',"document":' + doc : ',"document_text":' + JSON.stringify(item.doc)) + "}"
      );
    });
    const first = entries[0]!;
    log.warn("the backend rejected events for good; written to the dead-letter file", {
      count: entries.length, status: first.status, error: JSON.stringify(first.error)?.slice(0, 300), file: deadLetterPath,
    });
    try {
      await deadLetter.append(lines);
    } catch (e) {
      log.error("cannot write the dead-letter file; rejected events are only counted", { file: deadLetterPath, count: entries.length, err: String(e) });
    }
  }

  function markUp() {
    if (!up) log.info("backend reachable; sending", { spooled: spool.pendingEvents });
    up = true;
    downLogged = false;
  }

  /** Logged once per outage, not per retry. */
  function markDown(err: unknown, status?: number) {
    if (!downLogged) log.warn("backend unavailable; events go to the spool and are retried", { err: JSON.stringify(err)?.slice(0, 300), status });
    downLogged = true;
    up = false;
  }

  /** Wait before the next attempt: exponential, jittered, cut short by close(). */
  async function backoff() {
    failures++;
    const base = Math.min(opts.retryMaxMs, retryInitialMs * 2 ** Math.min(failures - 1, 30));
    const delay = base / 2 + (Math.random() * base) / 2;
    // While closing, retry soon: close() gives the whole flush a bound of its own.
    const until = Date.now() + (closing ? Math.min(delay, 200) : delay);
    while (!stopped && Date.now() < until) await changed(until - Date.now());
  }

  /**
   * Put the index template. False while the backend cannot be reached (retried with backoff,
   * everything spools meanwhile); true once it answered, even with a refusal: without the
   * permission (or on a cluster that refuses it) documents get the index's existing or dynamic
   * mapping, which is logged, not a reason to stop storing.
   */
  async function putTemplate(): Promise<boolean> {
    const name = `kpulse-${opts.index}`;
    const body = indexTemplate(opts.index);
    const ask = { requestTimeout: opts.requestTimeoutMs, maxRetries: 0 };
    try {
      await client.indices.putIndexTemplate({ name, body } as never, ask);
      log.info("index template in place", { template: name, index: opts.index });
    } catch (e) {
      const status = statusOf(e);
      if (status === undefined || status >= 500 || status === 429 || status === 408) {
        markDown(errorSummary(e), status);
        return false;
      }
      if (status === 401 || status === 403) {
        log.warn("no permission to put the index template; documents get the index's existing or dynamic mapping", { status, template: name });
      } else {
        // Before Elasticsearch 7.8 there are no composable templates: put a legacy one.
        const tpl = body as { index_patterns: string[]; version: number; template: { mappings: unknown } };
        try {
          await client.indices.putTemplate({ name, body: { index_patterns: tpl.index_patterns, version: tpl.version, mappings: tpl.template.mappings } } as never, ask);
          log.info("legacy index template in place", { template: name, index: opts.index });
        } catch (e2) {
          log.error("cannot put the index template; documents get the index's existing or dynamic mapping", {
            template: name, err: JSON.stringify(errorSummary(e2)).slice(0, 300), composable_err: JSON.stringify(errorSummary(e)).slice(0, 300),
          });
        }
      }
    }
    markUp();
    return true;
  }

  /** Handle one answered attempt: count, dead-letter, and return the items to retry. */
  async function settle(items: Item[], o: Outcome & { kind: "answered" }, onDone: (it: Item) => void): Promise<Item[]> {
    const retry: Item[] = [];
    const dead: { item: Item; status: number; error: unknown }[] = [];
    for (let i = 0; i < items.length; i++) {
      const s = o.statuses[i]!;
      const it = items[i]!;
      if (s >= 200 && s < 300) {
        n.sent++;
        onDone(it);
      } else if (isRetryableStatus(s)) {
        retry.push(it);
      } else {
        dead.push({ item: it, status: s, error: o.errors[i] });
        onDone(it);
      }
    }
    await toDeadLetter(dead);
    n.retried += retry.length;
    if (retry.length > 0) log.debug("items to retry", { count: retry.length, first_error: JSON.stringify(o.errors[o.statuses.findIndex(isRetryableStatus)])?.slice(0, 200) });
    return retry;
  }

  /** Send one batch of the spool; commit it once every line is settled. */
  async function sendSpoolBatch(b: SpoolBatch) {
    const items: Item[] = [];
    const bad: { item: Item; status: undefined; error: unknown }[] = [];
    let off = b.start;
    for (const line of b.lines) {
      const id = documentId(line);
      const key = id ?? `@${b.seq}:${off}`;
      off += Buffer.byteLength(line) + 1;
      if (settled.has(key)) continue;
      if (id === undefined) {
        bad.push({ item: { id: "", doc: line, key }, status: undefined, error: "spool line without a tracer_id (not a kpulse document)" });
        settled.add(key);
        continue;
      }
      items.push({ id, doc: line, key });
    }
    await toDeadLetter(bad);
    let retry: Item[] = [];
    if (items.length > 0) {
      const o = await bulk(items);
      if (stopped) return;
      if (o.kind === "too_large") {
        spool.release();
        batchCap = Math.max(1, Math.floor(items.length / 2));
        log.warn("the backend refused a request as too large; sending smaller batches", { events: batchCap });
        return;
      }
      if (o.kind === "failed") {
        if (o.retryable) {
          spool.release();
          n.retried += items.length;
          markDown(o.error, o.status);
          await backoff();
          return;
        }
        await toDeadLetter(items.map((item) => ({ item, status: o.status, error: o.error })));
        for (const it of items) settled.add(it.key!);
      } else {
        markUp();
        retry = await settle(items, o, (it) => settled.add(it.key!));
      }
    }
    if (retry.length > 0) {
      spool.release();
      await backoff();
      return;
    }
    // Every line settled: move past the batch.
    failures = 0;
    spool.commit(b);
    off = b.start;
    for (const line of b.lines) {
      settled.delete(documentId(line) ?? `@${b.seq}:${off}`);
      off += Buffer.byteLength(line) + 1;
    }
    if (spool.pendingEvents === 0) settled.clear();
  }

  /** Send one batch from memory. Failures go back in order (to the spool when it works). */
  async function sendMemBatch() {
    let count = 0;
    let bytes = 0;
    while (count < mem.length && count < batchCap && (count === 0 || bytes + mem[count]!.doc.length <= opts.maxBytes)) {
      bytes += mem[count]!.doc.length;
      count++;
    }
    const items = mem.splice(0, count);
    memBytes -= bytes; // what stays keeps memSince: it is as old as that or older than the wait
    const flight = (inflight = { items, at: Date.now(), spilled: false as boolean, spilling: undefined as Promise<void> | undefined });
    const o = await bulk(items);
    if (flight.spilling) await flight.spilling; // a spill that includes this batch: let it land first
    inflight = undefined;
    if (stopped && !flight.spilled) {
      // close() is over: whatever is not known sent goes back for the final spill.
      if (o.kind !== "answered") mem = items.concat(mem);
      return;
    }
    // Spilled batches are on disk now, at the head of the spool: settle them by key there.
    const onDone = (it: Item) => {
      if (flight.spilled) settled.add(it.id);
    };
    let retry: Item[];
    if (o.kind === "too_large") {
      // Not a failure of the items: they are sent again at once, in smaller batches.
      batchCap = Math.max(1, Math.floor(items.length / 2));
      log.warn("the backend refused a request as too large; sending smaller batches", { events: batchCap });
      retry = items;
    } else if (o.kind === "failed") {
      if (o.retryable) {
        markDown(o.error, o.status);
        n.retried += items.length;
        retry = items;
      } else {
        await toDeadLetter(items.map((item) => ({ item, status: o.status, error: o.error })));
        for (const it of items) onDone(it);
        retry = [];
      }
    } else {
      markUp();
      retry = await settle(items, o, onDone);
    }
    if (retry.length === 0) {
      failures = 0;
      return;
    }
    if (!flight.spilled) {
      // Back in front of newer events, then onto disk (durable while we wait).
      mem = retry.concat(mem);
      memBytes = mem.reduce((a, i) => a + i.doc.length, 0);
      memSince = Date.now();
      if (o.kind !== "too_large") void spill();
    }
    if (o.kind !== "too_large") await backoff();
  }

  async function sender() {
    for (;;) {
      if (stopped) break;
      if (!templateDone) {
        templateDone = await putTemplate();
        if (!templateDone) {
          await backoff();
          continue;
        }
      }
      // The spool is older than memory: it goes first.
      if (spool.pendingEvents > 0) {
        let b: SpoolBatch | undefined;
        try {
          b = await spool.read(batchCap, opts.maxBytes);
        } catch (e) {
          log.error("cannot read the spool; retrying", { dir: spool.dir, err: String(e) });
          await backoff();
          continue;
        }
        if (b) await sendSpoolBatch(b);
        else await changed(10); // the head moved under the read (a dropped segment): read again
        wake();
        continue;
      }
      // Memory is newer than a spill still being written: let that land first.
      if (spilling > 0) {
        await changed();
        continue;
      }
      if (mem.length === 0) {
        if (intakeDone) break;
        await changed();
        continue;
      }
      const full = mem.length >= batchCap || memBytes >= opts.maxBytes;
      const wait = memSince + opts.flushIntervalMs - Date.now();
      if (!full && !closing && wait > 0) {
        await changed(wait);
        continue;
      }
      await sendMemBatch();
      wake();
    }
  }

  const intakeRun = intake().catch((e) => log.error("opensearch intake stopped", { err: String(e) }));
  const senderRun = sender().catch((e) => log.error("opensearch sender stopped", { err: String(e) }));
  log.info("OpenSearch sink started", {
    addresses: opts.addresses.join(","), index: opts.index, spool: spool.dir, spooled: spool.recovery.events,
  });

  return {
    spoolDir: spool.dir,
    deadLetterPath,
    stats: () => ({
      queued: sub.queued + mem.length + spilling + (inflight && !inflight.spilled ? inflight.items.length : 0),
      spool_events: spool.pendingEvents,
      spool_bytes: spool.pendingBytes,
      sent: n.sent,
      retried: n.retried,
      dead_lettered: n.deadLettered,
      dropped: spool.dropped,
      spool_write_failures: n.spoolWriteFailures,
      up: up ? 1 : 0,
    }),
    async close() {
      closing = true;
      sub.close();
      wake();
      await intakeRun;
      // Keep sending while the backend takes it, for a bounded time (the spool first, as always).
      const deadline = Date.now() + (opts.closeTimeoutMs ?? 5000);
      while (up && (mem.length > 0 || inflight || spilling > 0 || spool.pendingEvents > 0) && Date.now() < deadline) await changed(deadline - Date.now());
      stopped = true;
      wake();
      // The rest goes to the spool (a batch still in flight too: if it did arrive, the replay
      // after the next start overwrites it with the same document).
      if (inflight && !inflight.spilled) {
        mem = inflight.items.concat(mem);
        inflight.spilled = true;
      }
      spoolRetryAt = 0;
      await spill();
      await Promise.race([senderRun, new Promise((r) => setTimeout(r, 1000))]);
      if (mem.length > 0) log.error("events not spooled at shutdown", { count: mem.length, dir: spool.dir });
      await spool.close();
      await deadLetter.close();
      await client.close().catch(() => {});
      log.info("OpenSearch sink stopped", { sent: n.sent, spooled: spool.pendingEvents, dead_lettered: n.deadLettered });
    },
  };
}

function tlsOptions(t: OpenSearchTls): Record<string, unknown> | undefined {
  const o: Record<string, unknown> = {};
  const read = (what: string, path: string) => {
    try {
      return readFileSync(path);
    } catch (e) {
      throw new Error(`Storage.ES.TLS ${what} ${JSON.stringify(path)}: ${(e as Error).message}`);
    }
  };
  if (t.caFile) o.ca = read("CAFile", t.caFile);
  if (t.certFile) {
    o.cert = read("CertFile", t.certFile);
    o.key = read(t.keyFile ? "KeyFile" : "CertFile", t.keyFile || t.certFile);
  } else if (t.keyFile) throw new Error("Storage.ES.TLS KeyFile is set without CertFile");
  o.rejectUnauthorized = !t.insecure;
  return o;
}

/** The HTTP status of a client error; undefined when there was no answer (connection, timeout). */
function statusOf(e: unknown): number | undefined {
  const s = (e as { meta?: { statusCode?: number | null } })?.meta?.statusCode;
  return typeof s === "number" && s > 0 ? s : undefined;
}

/** The useful part of a client error, for logs and the dead-letter file. */
function errorSummary(e: unknown): unknown {
  const err = e as { name?: string; message?: string; meta?: { statusCode?: number; body?: { error?: unknown } } };
  if (err?.meta?.body?.error) return err.meta.body.error;
  return { type: err?.name ?? "Error", reason: err?.message ?? String(e) };
}
