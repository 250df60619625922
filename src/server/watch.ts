// The watch stream: Server-Sent Events carrying CloudEvents, HUATUO's contract (POST
// /v1/events/watch with `{"filters":{…}}`, `: ping` keepalive, 429 past MaxClients) plus:
//   - GET /v1/events/watch?tracer_name=…&hostname=… (same filters) for browser EventSource;
//   - an SSE `id` per event and Last-Event-ID resume: from the bus's in-memory window, and for
//     older ids from the local files (src/server/watch-store.ts), then on into the window;
//   - no silent loss: every stream reads the bus's shared window through its own cursor (no
//     per-client copies). A client whose unread events were overwritten ("behind") or that
//     stopped taking data for stallSec ("stalled") gets `event: gap` with
//     `{"missed":N,"last_event_id":…,"reason":…}` and is closed, socket and slot: Bun's
//     per-request timeout closes a socket that cannot take the last bytes within closeGraceSec.
//   - request bodies are bounded in size (413) and time (408), and a slot is taken only after
//     the body is read, so slow bodies cannot hold slots; the 429 check before it is one compare.
//
// The body is a pull-based ReadableStream: Bun pulls only when the socket takes data, so a
// slow client only lets its cursor fall back in the shared window; one timer per route
// (every SWEEP_MS) sends keepalives and finds the behind and stalled streams.
import type { Context } from "hono";
import type { EventBus, WindowReader } from "../events/bus.ts";
import type { CloudEventMode } from "../events/cloudevent.ts";
import { compileFilters, filtersFromQuery } from "../events/filter.ts";
import { cloudEventJson } from "../events/format.ts";
import type { EventRecord } from "../events/record.ts";
import type { Logger } from "../log.ts";
import { storedEventsAfter, XID, type StoredEvents } from "./watch-store.ts";

export interface WatchOptions {
  bus: EventBus;
  maxClients: number;
  keepAliveSec: number;
  ceMode: CloudEventMode;
  log: Logger;
  /** Local-file directory for Last-Event-ID resume beyond the window (none: window only). */
  storeDir?: string;
  /** A stream that took nothing for this long while it had data to send is cut (default min(3 × keepalive, 60)). */
  stallSec?: number;
  /** Time a cut stream has to take its last bytes before its socket is closed (default 5). */
  closeGraceSec?: number;
  /** Request body limits (defaults 64 KiB and 10 s). */
  maxBodyBytes?: number;
  bodyTimeoutMs?: number;
}

export type DropReason = "client_behind" | "client_stalled";

export interface WatchStats {
  /** Streams holding a slot (open, or closing within their grace time). */
  clients: number;
  /** Largest lag, in events, among open streams. */
  lag_max: number;
  /** Events clients did not get because they were cut, by reason. */
  dropped: Record<DropReason, number>;
}

export interface WatchRoute {
  handle(c: Context): Promise<Response>;
  /** Slots in use. */
  active(): number;
  stats(): WatchStats;
  /** End every open stream (server shutdown). */
  closeAll(): void;
}

const SSE_HEADERS = {
  "Content-Type": "text/event-stream",
  "Cache-Control": "no-cache",
  Connection: "keep-alive",
  "X-Accel-Buffering": "no",
};
const enc = new TextEncoder();
const PING = enc.encode(": ping\n\n");
/** Bounds of one chunk handed to Bun per pull. */
const CHUNK_FRAMES = 256;
const CHUNK_BYTES = 256 * 1024;
/** Recent frames cached for every stream: each event is formatted and encoded once. */
const FRAME_CACHE = 4096;
const SWEEP_MS = 250;
/** setInterval/setTimeout overflow above 2^31-1 ms; the config bounds keep us far below. */
const MAX_KEEPALIVE_SEC = 3600;

interface BunServerLike {
  timeout?(req: Request, seconds: number): void;
}

type Body = { filters: unknown; lastId?: string } | { status: 400 | 408 | 413; code: string; message: string };

/** The request body as text, bounded in bytes and time; never waits on a slow client forever. */
async function readBody(req: Request, maxBytes: number, timeoutMs: number): Promise<string | { status: 408 | 413; message: string }> {
  const declared = Number(req.headers.get("content-length") ?? "0");
  if (declared > maxBytes) return { status: 413, message: `request body is ${declared} bytes, the limit is ${maxBytes}` };
  if (!req.body) return "";
  const reader = req.body.getReader();
  const parts: Uint8Array[] = [];
  let size = 0;
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    reader.cancel().catch(() => {});
  }, timeoutMs);
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      size += value.length;
      if (size > maxBytes) {
        reader.cancel().catch(() => {});
        return { status: 413, message: `request body is over the limit of ${maxBytes} bytes` };
      }
      parts.push(value);
    }
  } catch {
    if (!timedOut) return { status: 408, message: "could not read the request body" };
  } finally {
    clearTimeout(timer);
  }
  if (timedOut) return { status: 408, message: `request body not received within ${timeoutMs} ms` };
  return Buffer.concat(parts).toString("utf8");
}

function jsonError(status: number, code: string, message: string, close = false): Response {
  const headers: Record<string, string> = { "Content-Type": "application/json" };
  // After a body we did not read to the end the connection cannot carry another request.
  if (close) headers.Connection = "close";
  return new Response(JSON.stringify({ error: { code, message } }), { status, headers });
}

export function createWatchRoute(opts: WatchOptions): WatchRoute {
  const log = opts.log.child({ route: "watch" });
  const bus = opts.bus;
  const keepAliveMs = Math.min(Math.max(1, opts.keepAliveSec), MAX_KEEPALIVE_SEC) * 1000;
  const stallMs = (opts.stallSec ?? Math.min(3 * keepAliveMs / 1000, 60)) * 1000;
  const graceSec = opts.closeGraceSec ?? 5;
  const maxBody = opts.maxBodyBytes ?? 64 * 1024;
  const bodyTimeoutMs = opts.bodyTimeoutMs ?? 10_000;
  let active = 0;
  const dropped: Record<DropReason, number> = { client_behind: 0, client_stalled: 0 };
  const streams = new Set<WatchStream>();
  let sweepTimer: ReturnType<typeof setInterval> | undefined;

  // Frames of recent records by sequence number, shared by every stream. Records read from
  // the local files (resume) are formatted per stream: that path is rare and bounded.
  const cacheSeq = new Float64Array(FRAME_CACHE).fill(-1);
  const cacheFrame: (Uint8Array | undefined)[] = new Array(FRAME_CACHE);
  const encodeFrame = (r: EventRecord) => enc.encode(`id: ${r.tracer_id}\ndata: ${cloudEventJson(r, opts.ceMode)}\n\n`);
  const frame = (seq: number, r: EventRecord) => {
    const i = seq % FRAME_CACHE;
    if (cacheSeq[i] === seq) return cacheFrame[i]!;
    const f = encodeFrame(r);
    cacheSeq[i] = seq;
    cacheFrame[i] = f;
    return f;
  };

  function sweep() {
    const now = Date.now();
    for (const s of streams) s.check(now);
    if (streams.size === 0 && sweepTimer) {
      clearInterval(sweepTimer);
      sweepTimer = undefined;
    }
  }

  class WatchStream {
    readonly reader: WindowReader;
    ending = false;
    private ctrl: ReadableStreamDefaultController<Uint8Array> | undefined;
    private inPull = false;
    private handedAt = Date.now();
    private nextPingAt = Date.now() + keepAliveMs;
    private pingDue = false;
    private wake: (() => void) | undefined;
    private released = false;
    /** Last event id this stream sent (or the client's Last-Event-ID). */
    private lastId: string;
    private stored: StoredEvents | undefined;
    private readonly hello: string;

    constructor(
      private readonly c: Context,
      private readonly match: (r: EventRecord) => boolean,
      lastId: string | undefined,
    ) {
      this.lastId = lastId ?? "";
      let from = bus.head();
      let hello = ": ok\n\n";
      if (lastId !== undefined) {
        const seq = bus.find(lastId);
        if (seq !== undefined) from = seq + 1;
        else if (opts.storeDir && XID.test(lastId)) {
          // Older than the window: the local files up to the window's oldest record, then the window.
          from = bus.oldest();
          this.stored = storedEventsAfter(opts.storeDir, lastId);
          hello = this.stored.found
            ? ": resuming from the local files\n\n"
            : ": last-event-id not found in the window or the local files; sending the stored events from its second on\n\n";
        } else {
          hello = ": last-event-id is no longer in the replay buffer; streaming live events only\n\n";
        }
      }
      this.hello = hello;
      this.reader = bus.reader({ filter: match, from });
      streams.add(this);
      sweepTimer ??= setInterval(sweep, SWEEP_MS);
      c.req.raw.signal?.addEventListener("abort", () => this.release("client disconnected"), { once: true });
    }

    /** Sweep: keepalive, behind, stalled. */
    check(now: number) {
      if (this.ending) return;
      if (now >= this.nextPingAt) {
        this.pingDue = true;
        this.nextPingAt = now + keepAliveMs;
        this.wake?.();
      }
      // While resuming from the files, what leaves the window is still in the files: the
      // window part just starts later.
      if (this.stored) this.reader.skipLost();
      else if (this.reader.behind() > 0) this.cut("client_behind");
      else if (!this.inPull && now - this.handedAt > stallMs) this.cut("client_stalled");
    }

    /** Tell the client what it misses, end the stream and bound the time its socket may stay. */
    cut(reason: DropReason) {
      if (this.ending) return;
      const missed = this.reader.lag();
      dropped[reason] += missed;
      const data = JSON.stringify({ missed, last_event_id: this.lastId, reason });
      log.info("watch client cut", { reason, missed });
      this.finish(enc.encode(`event: gap\ndata: ${data}\n\n`));
    }

    /** End the stream: the final frame (if any) then EOF; the socket gets closeGraceSec to take them. */
    finish(final?: Uint8Array) {
      if (this.ending) return;
      this.ending = true;
      this.reader.close();
      this.stored?.close();
      streams.delete(this);
      (this.c.env as BunServerLike | undefined)?.timeout?.(this.c.req.raw, Math.max(1, graceSec));
      try {
        if (final) this.ctrl?.enqueue(final);
        this.ctrl?.close();
      } catch {}
      this.wake?.();
      // The slot is given back when the socket closes (abort) or, at the latest, once the
      // grace time is over (by then Bun has sent the end or closed the socket).
      setTimeout(() => this.release("closed"), (Math.max(1, graceSec) + 1) * 1000).unref?.();
    }

    release(why: string) {
      if (this.released) return;
      this.released = true;
      if (!this.ending) {
        this.ending = true;
        this.reader.close();
        this.stored?.close();
        streams.delete(this);
      }
      active--;
      this.wake?.();
      log.debug("watch client gone", { why });
    }

    /**
     * Whether a stored record is one the window still holds for this stream: there the window
     * takes over (this agent's files and window hold the same records). By identity, never by
     * id order (ids of two agent processes do not sort in publish order): the window's oldest
     * unread record itself, or (if the sink did not write that one) any record in the window.
     * The window is searched only for records uploaded no earlier than its oldest one, so a
     * replay of older files costs no search; one search is at most the window's length.
     */
    private inWindow(r: EventRecord): boolean {
      const oldest = bus.at(this.reader.cursor);
      if (oldest === undefined) return false;
      if (r.tracer_id === oldest.tracer_id) return true;
      return r.uploadedMs >= oldest.uploadedMs && bus.find(r.tracer_id) !== undefined;
    }

    /** Up to one chunk of frames: stored events first (resume), then the window. */
    private take(): Uint8Array[] {
      const parts: Uint8Array[] = [];
      let bytes = 0;
      if (this.pingDue) {
        this.pingDue = false;
        parts.push(PING);
      }
      while (this.stored && parts.length < CHUNK_FRAMES && bytes < CHUNK_BYTES) {
        this.reader.skipLost();
        const r = this.stored.next();
        if (r === undefined || this.inWindow(r)) {
          this.stored.close();
          this.stored = undefined;
          break;
        }
        if (!this.match(r)) continue;
        const f = encodeFrame(r);
        parts.push(f);
        bytes += f.length;
        this.lastId = r.tracer_id;
      }
      if (this.stored) return parts;
      if (this.reader.behind() > 0) {
        // Send what is taken first; the next pull (or the sweep) cuts the stream.
        if (parts.length === 0) this.cut("client_behind");
        return parts;
      }
      for (let r; parts.length < CHUNK_FRAMES && bytes < CHUNK_BYTES && (r = this.reader.tryNext()) !== undefined; ) {
        const f = frame(this.reader.last, r);
        parts.push(f);
        bytes += f.length;
        this.lastId = r.tracer_id;
      }
      return parts;
    }

    body(): ReadableStream<Uint8Array> {
      return new ReadableStream<Uint8Array>(
        {
          start: (controller) => {
            this.ctrl = controller;
            // Bun sends the headers with the first chunk: a comment now shows 200 at once.
            controller.enqueue(enc.encode(this.hello));
          },
          pull: async (controller) => {
            this.inPull = true;
            try {
              while (!this.ending) {
                const parts = this.take();
                if (this.ending) break;
                if (parts.length > 0) {
                  controller.enqueue(parts.length === 1 ? parts[0]! : Buffer.concat(parts));
                  this.handedAt = Date.now();
                  return;
                }
                // Wait for a publish, a keepalive or the end.
                await new Promise<void>((resolve) => {
                  this.wake = resolve;
                  void this.reader.ready().then(resolve);
                });
                this.wake = undefined;
              }
            } finally {
              this.inPull = false;
              this.handedAt = Date.now();
            }
          },
          cancel: () => this.release("client disconnected"),
        },
        { highWaterMark: 0 },
      );
    }
  }

  async function requestFilters(c: Context): Promise<Body> {
    if (c.req.method === "GET") {
      const q = new URL(c.req.url).searchParams;
      const lastId = q.get("last_event_id") ?? undefined;
      q.delete("last_event_id");
      return { filters: filtersFromQuery(q), lastId };
    }
    const text = await readBody(c.req.raw, maxBody, bodyTimeoutMs);
    if (typeof text !== "string") {
      return { status: text.status, code: text.status === 413 ? "payload_too_large" : "request_timeout", message: text.message };
    }
    if (text.trim() === "") return { filters: {} };
    try {
      return { filters: JSON.parse(text) };
    } catch (e) {
      return { status: 400, code: "invalid_request", message: `request body is not valid JSON: ${(e as Error).message}` };
    }
  }

  const full = () => jsonError(429, "rate_limited", "max watch clients reached");

  return {
    active: () => active,
    stats() {
      let lag = 0;
      for (const s of streams) lag = Math.max(lag, s.reader.lag());
      return { clients: active, lag_max: lag, dropped: { ...dropped } };
    },
    closeAll() {
      for (const s of [...streams]) {
        s.finish();
        s.release("server closing");
      }
    },
    async handle(c) {
      // Refused cheaply while full, before the body is read (as HUATUO does)...
      if (active >= opts.maxClients) return full();
      const body = await requestFilters(c);
      if ("status" in body) return jsonError(body.status, body.code, body.message, body.status !== 400);
      const f = compileFilters(body.filters);
      if (!f.ok) return jsonError(400, "invalid_request", f.error);
      // ...and the slot is taken only now, so a slow body never holds one.
      if (active >= opts.maxClients) return full();
      active++;
      const lastId = c.req.header("last-event-id")?.trim() || body.lastId || undefined;
      let s: WatchStream;
      try {
        s = new WatchStream(c, f.match, lastId);
      } catch (e) {
        active--;
        throw e;
      }
      // Bun closes connections idle for idleTimeout seconds; a stream is idle between
      // keepalives by design, so the timeout must not apply to it (until it is cut).
      (c.env as BunServerLike | undefined)?.timeout?.(c.req.raw, 0);
      return new Response(s.body(), { status: 200, headers: SSE_HEADERS });
    },
  };
}
