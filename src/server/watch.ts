// POST /v1/events/watch: a Server-Sent Events stream of CloudEvents, HUATUO's contract
// (filters, `: ping` keepalive, 429 past MaxClients) plus SSE ids for Last-Event-ID resume.
//
// The body is a pull-based ReadableStream: Bun pulls the next chunk only when the socket
// can take it, so a slow client backs up into its own bounded bus queue (drops counted)
// instead of into memory. A client that has not taken three keepalives in a row is treated
// as three failed writes and disconnected, which frees its slot.
import type { Context } from "hono";
import type { EventBus, Subscription } from "../events/bus.ts";
import type { CloudEventMode } from "../events/cloudevent.ts";
import { compileFilters } from "../events/filter.ts";
import { cloudEventJson } from "../events/format.ts";
import type { EventRecord } from "../events/record.ts";
import type { Logger } from "../log.ts";
import { errorResponse } from "./errors.ts";

export interface WatchOptions {
  bus: EventBus;
  maxClients: number;
  keepAliveSec: number;
  ceMode: CloudEventMode;
  log: Logger;
  /** Per-client bus queue (HUATUO's subscriber buffer is 256). */
  queueSize?: number;
}

export interface WatchRoute {
  handle(c: Context): Promise<Response>;
  /** Open streams. */
  active(): number;
  /** End every open stream (server shutdown). */
  closeAll(): void;
}

const SSE_HEADERS = {
  "Content-Type": "text/event-stream",
  "Cache-Control": "no-cache",
  Connection: "keep-alive",
  "X-Accel-Buffering": "no",
};
const PING = ": ping\n\n";
const MAX_FAILED_WRITES = 3;
/** Frames joined into one chunk per pull when events arrive in a burst. */
const FRAMES_PER_CHUNK = 64;

interface BunServerLike {
  timeout?(req: Request, seconds: number): void;
}

export function createWatchRoute(opts: WatchOptions): WatchRoute {
  let active = 0;
  const open = new Set<() => void>();
  const enc = new TextEncoder();
  // Every watcher of a record sends the same frame: encode it once, not once per client.
  // Built from the record's numbers and its shared tracer_data JSON, by the client that
  // first takes the record (filters run there too, never inside bus.publish).
  const frames = new WeakMap<EventRecord, string>();
  const frame = (r: EventRecord) => {
    let f = frames.get(r);
    if (f === undefined) {
      f = `id: ${r.tracer_id}\ndata: ${cloudEventJson(r, opts.ceMode)}\n\n`;
      frames.set(r, f);
    }
    return f;
  };

  async function readFilters(c: Context) {
    let text: string;
    try {
      text = await c.req.text();
    } catch {
      return { error: "could not read request body" };
    }
    let body: unknown = {};
    if (text.trim() !== "") {
      try {
        body = JSON.parse(text);
      } catch (e) {
        return { error: `request body is not valid JSON: ${(e as Error).message}` };
      }
    }
    const f = compileFilters(body);
    return f.ok ? { match: f.match } : { error: f.error };
  }

  function stream(c: Context, sub: Subscription, release: () => void): ReadableStream<Uint8Array> {
    const log = opts.log.child({ route: "watch" });
    let ctrl: ReadableStreamDefaultController<Uint8Array> | undefined;
    let done = false;
    let pingDue = false;
    let unsentPings = 0;
    let failedWrites = 0;
    let wake: (() => void) | undefined;
    let readyP: Promise<void> | undefined;

    const finish = (why: string) => {
      if (done) return;
      done = true;
      clearInterval(timer);
      sub.close();
      open.delete(endNow);
      release();
      wake?.();
      log.debug("watch client gone", { why, dropped: sub.dropped });
    };
    const endNow = () => {
      finish("server closing");
      try {
        ctrl?.close();
      } catch {}
    };
    open.add(endNow);

    const timer = setInterval(() => {
      if (pingDue && ++unsentPings >= MAX_FAILED_WRITES) {
        // The client has not read anything for three keepalive periods.
        finish("client stopped reading");
        try {
          ctrl?.error(new Error("watch client stopped reading"));
        } catch {}
        return;
      }
      pingDue = true;
      wake?.();
    }, Math.max(1, opts.keepAliveSec) * 1000);

    const write = (s: string) => {
      try {
        ctrl!.enqueue(enc.encode(s));
        failedWrites = 0;
      } catch {
        if (++failedWrites >= MAX_FAILED_WRITES) finish("write failures");
      }
    };

    c.req.raw.signal?.addEventListener("abort", () => finish("client disconnected"), { once: true });

    return new ReadableStream<Uint8Array>(
      {
        start(controller) {
          ctrl = controller;
          // Bun sends the headers with the first chunk; send a comment at once so the
          // client sees 200 now rather than at the first event or keepalive.
          write(
            sub.resume === "unknown"
              ? ": last-event-id is no longer in the replay buffer; streaming live events only\n\n"
              : ": ok\n\n",
          );
        },
        async pull(controller) {
          while (!done) {
            let out = "";
            if (pingDue) {
              pingDue = false;
              unsentPings = 0;
              out = PING;
            }
            for (let i = 0, r; i < FRAMES_PER_CHUNK && (r = sub.tryNext()) !== undefined; i++) out += frame(r);
            if (out) return write(out);
            if (sub.closed) {
              finish("subscription closed");
              controller.close();
              return;
            }
            // Wait for an event or the next keepalive; keep one ready() promise across
            // waits so quiet streams do not pile up waiters on the subscription.
            await new Promise<void>((resolve) => {
              wake = resolve;
              readyP ??= sub.ready().then(() => {
                readyP = undefined;
                wake?.();
              });
            });
            wake = undefined;
          }
        },
        cancel() {
          finish("client disconnected");
        },
      },
      { highWaterMark: 0 },
    );
  }

  return {
    active: () => active,
    closeAll() {
      for (const end of [...open]) end();
    },
    async handle(c) {
      // Count the client before anything else, as HUATUO does, so a flood of connections
      // is refused cheaply.
      if (active >= opts.maxClients) return errorResponse(c, 429, "rate_limited", "max watch clients reached");
      active++;
      let released = false;
      const release = () => {
        if (!released) {
          released = true;
          active--;
        }
      };
      try {
        const f = await readFilters(c);
        if ("error" in f) {
          release();
          return errorResponse(c, 400, "invalid_request", f.error!);
        }
        const lastId = c.req.header("last-event-id")?.trim() || undefined;
        const sub = opts.bus.subscribe({ name: "watch", queueSize: opts.queueSize ?? 256, filter: f.match, after: lastId });
        // Bun closes connections idle for idleTimeout seconds; a stream is idle between
        // keepalives by design, so the timeout must not apply to it.
        (c.env as BunServerLike | undefined)?.timeout?.(c.req.raw, 0);
        return new Response(stream(c, sub, release), { status: 200, headers: SSE_HEADERS });
      } catch (e) {
        release();
        throw e;
      }
    },
  };
}
