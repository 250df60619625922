// `kpulse watch [URL]`: a client of the agent's watch stream (POST /v1/events/watch), built on
// eventsource-parser. Prints one CloudEvent JSON per line (or a one-line summary), and never
// loses or repeats an event across reconnects: it remembers the id of the last event printed,
// reconnects with Last-Event-ID (the agent resumes from its memory or its local files), and with
// --state keeps that id in a file so a restarted client resumes too. Errors are one line on
// stderr, never a stack trace.
import { closeSync, existsSync, ftruncateSync, openSync, readFileSync, writeSync } from "node:fs";
import { createParser, type EventSourceMessage } from "eventsource-parser";
import type { WatchCliOptions } from "./cli.ts";
import { watchAccess, type WatchAccess } from "./watch-access.ts";

const WATCH_PATH = "/v1/events/watch";
const BACKOFF_MIN_MS = 500;
const BACKOFF_MAX_MS = 30_000;
/** Fixed width of the id in the state file, so each update is one write at offset 0. */
const STATE_WIDTH = 64;

/** The watch URL for a base URL ("http://host:19704") or a full one. */
export function watchUrl(url: string): string {
  const u = new URL(url);
  if (!u.pathname.endsWith(WATCH_PATH)) u.pathname = u.pathname.replace(/\/+$/, "") + WATCH_PATH;
  return u.toString();
}

const short = (v: unknown): string => {
  let s = typeof v === "string" ? v : JSON.stringify(v) ?? String(v);
  const nl = s.indexOf("\n");
  if (nl >= 0) s = s.slice(0, nl) + "…";
  if (s.length > 80) s = s.slice(0, 79) + "…";
  return typeof v === "string" && /[\s"=]/.test(s) ? JSON.stringify(s) : s;
};

/** One readable line: time, tracer, host (and container), then tracer_data as key=value. */
export function summaryLine(ce: any): string {
  const d = ce?.data ?? {};
  const where = d.container_hostname ? `${d.hostname}/${d.container_hostname}` : d.hostname;
  const fields = Object.entries((d.tracer_data ?? {}) as Record<string, unknown>)
    .filter(([, v]) => v !== "" && v !== null && v !== undefined)
    .map(([k, v]) => `${k}=${short(v)}`);
  return [d.observed_timestamp ?? ce?.time ?? "-", d.tracer_name ?? "-", where ?? "-", ...fields, `id=${ce?.id ?? "-"}`].join(" ");
}

/** A write that waits out a non-blocking pipe that is full, so output order and state agree. */
function writeAll(fd: number, s: string): void {
  const buf = Buffer.from(s);
  for (let off = 0; off < buf.length; ) {
    try {
      off += writeSync(fd, buf, off, buf.length - off);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EAGAIN") throw e;
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 2);
    }
  }
}

class StateFile {
  private fd: number;
  constructor(readonly path: string) {
    this.fd = openSync(path, existsSync(path) ? "r+" : "w+", 0o644);
  }
  static read(path: string): string | undefined {
    try {
      return readFileSync(path, "utf8").trim() || undefined;
    } catch {
      return undefined;
    }
  }
  save(id: string) {
    writeSync(this.fd, id.padEnd(STATE_WIDTH) + "\n", 0);
    ftruncateSync(this.fd, STATE_WIDTH + 1);
  }
  close() {
    closeSync(this.fd);
  }
}

const say = (msg: string) => process.stderr.write(`kpulse watch: ${msg}\n`);

/** Why a connection attempt failed, in words. */
function describe(err: unknown, url: string): string {
  const e = err as { code?: string; message?: string };
  const code = e?.code ?? "";
  if (/ECONNREFUSED|ConnectionRefused/i.test(code + (e?.message ?? ""))) return `cannot connect to ${url}: connection refused (is the agent running and listening there?)`;
  if (/ENOTFOUND|EAI_|DNS/i.test(code + (e?.message ?? ""))) return `cannot resolve the host of ${url}`;
  return `cannot reach ${url}: ${e?.message ?? String(err)}`;
}

/** Runs the client until interrupted (exit 0) or a first-attempt failure (exit 1; 2 for a bad request). */
export async function runWatchClient(o: WatchCliOptions): Promise<number> {
  let access: WatchAccess;
  try {
    access = watchAccess(o, watchUrl(o.url));
  } catch (e) {
    say((e as Error).message);
    return 2;
  }
  const url = access.url;
  let state: StateFile | undefined;
  let lastId = o.lastEventId;
  if (o.stateFile) {
    lastId = StateFile.read(o.stateFile) ?? lastId;
    try {
      state = new StateFile(o.stateFile);
    } catch (e) {
      say(`cannot open the state file ${o.stateFile}: ${(e as Error).message}`);
      return 1;
    }
  }
  const body = JSON.stringify({ filters: o.filters });
  let stopped = false;
  let ctrl = new AbortController();
  let wakeSleep: (() => void) | undefined;
  const stop = () => {
    stopped = true;
    ctrl.abort();
    wakeSleep?.();
  };
  process.on("SIGINT", stop);
  process.on("SIGTERM", stop);
  const sleep = (ms: number) => new Promise<void>((r) => {
    const t = setTimeout(r, ms);
    wakeSleep = () => {
      clearTimeout(t);
      r();
    };
  });

  let connectedOnce = false;
  let failures = 0;
  const backoff = () => {
    const base = Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * 2 ** failures++);
    return Math.round(base * (0.8 + 0.4 * Math.random()));
  };

  try {
    while (!stopped) {
      ctrl = new AbortController();
      const headers: Record<string, string> = { "Content-Type": "application/json", Accept: "text/event-stream", ...access.headers };
      if (lastId) headers["Last-Event-ID"] = lastId;
      let res: Response;
      try {
        res = await fetch(url, { method: "POST", body, headers, signal: ctrl.signal, ...(access.tls && { tls: access.tls }) } as RequestInit);
      } catch (e) {
        if (stopped) break;
        if (!connectedOnce) {
          say(describe(e, url));
          return 1;
        }
        const wait = backoff();
        say(`${describe(e, url)}; retrying in ${(wait / 1000).toFixed(1)} s`);
        await sleep(wait);
        continue;
      }
      if (res.status !== 200) {
        let msg = `HTTP ${res.status}`;
        try {
          const j = await res.json();
          if (j?.error?.message) msg += `: ${j.error.message}`;
        } catch {}
        if (res.status === 400) {
          say(`the agent refused the request (${msg})`);
          return 2;
        }
        const what = res.status === 429 ? `the agent at ${url} has no free watch slot (${msg}; raise [EventsWatch] MaxClients or stop other clients)` : `the agent at ${url} answered ${msg}`;
        if (!connectedOnce) {
          say(what);
          return 1;
        }
        const wait = backoff();
        say(`${what}; retrying in ${(wait / 1000).toFixed(1)} s`);
        await sleep(wait);
        continue;
      }
      connectedOnce = true;
      let cut = false;
      const parser = createParser({
        onEvent(ev: EventSourceMessage) {
          if (ev.event === "gap") {
            cut = true;
            let g: any = {};
            try {
              g = JSON.parse(ev.data);
            } catch {}
            say(`the agent cut this stream (${g.reason ?? "gap"}: ${g.missed ?? "?"} events not sent); resuming after ${lastId ?? "the start"}`);
            return;
          }
          if (ev.event !== undefined && ev.event !== "message") return;
          let line = ev.data;
          if (o.format === "summary") {
            try {
              line = summaryLine(JSON.parse(ev.data));
            } catch {}
          }
          writeAll(1, line + "\n");
          if (ev.id) {
            lastId = ev.id;
            state?.save(ev.id);
          }
          failures = 0;
        },
      });
      try {
        const dec = new TextDecoder();
        for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) parser.feed(dec.decode(chunk, { stream: true }));
      } catch (e) {
        if (stopped) break;
        if ((e as NodeJS.ErrnoException)?.code === "EPIPE") return 0;
      }
      if (stopped) break;
      if (cut) continue; // resume at once: the agent keeps what this stream did not send
      const wait = backoff();
      say(`the stream from ${url} ended; reconnecting in ${(wait / 1000).toFixed(1)} s`);
      await sleep(wait);
    }
  } catch (e) {
    if ((e as NodeJS.ErrnoException)?.code === "EPIPE") return 0; // the reader of our output is gone
    say((e as Error).message ?? String(e));
    return 1;
  } finally {
    state?.close();
    process.off("SIGINT", stop);
    process.off("SIGTERM", stop);
  }
  return 0;
}
