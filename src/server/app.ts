// The HTTP API: HUATUO's routes and envelopes (`{"data":…}` / `{"error":{code,message}}`)
// for what kpulse offers. No route runs programs (HUATUO's /tasks is deliberately absent).
import { parseListenAddress } from "../util/listen.ts";
import { Hono, type Context, type MiddlewareHandler } from "hono";
import { matchedRoutes } from "hono/route";
import type { EventBus } from "../events/bus.ts";
import type { CloudEventMode } from "../events/cloudevent.ts";
import type { Logger } from "../log.ts";
import { HttpRequestMetrics, UNMATCHED_ROUTE } from "../self-metrics.ts";
import { errorResponse } from "./errors.ts";
import { createWatchRoute, type WatchOptions, type WatchStats } from "./watch.ts";
import { Authenticator } from "./web-auth.ts";
import type { WebConfig } from "./web-config.ts";
import { webGuard } from "./web-guard.ts";

export interface VersionInfo {
  name: string;
  version: string;
  commit?: string;
  build_time?: string;
  bun: string;
  /** The libbpf in use: major.minor, "embedded" | "system" | "unavailable", the bundle's contents, why not embedded. */
  libbpf?: { version: string; source: string; contents: string; error: string };
}

export interface AppDeps {
  renderMetrics(): Promise<string> | string;
  /** Rows of GET /v1/probes, served as they are (the probe manager owns their shape). */
  probes(): readonly object[];
  /** Rows of GET /v1/containers (each with an `id`), shaped by the container tracker; none when absent. */
  containers?(): readonly { id: string }[];
  /** The agent's capability state, served next to `data` in GET /v1/probes. */
  capabilities?(): object;
  bus: EventBus;
  /** The watch stream's settings (src/server/watch.ts). */
  watch: Omit<WatchOptions, "bus" | "log">;
  version: VersionInfo;
  log: Logger;
  /** /readyz: true (or no reasons) → 204; false or reasons ("localfile: ENOSPC …") → 503 not_ready. See readiness.ts. */
  ready(): boolean | readonly string[];
  /** Seconds before Bun closes an idle connection (default 120, HUATUO's; max 255). */
  idleTimeoutSec?: number;
  /** Where request counts and durations go (rendered with the self metrics); a fresh one if absent. */
  httpMetrics?: HttpRequestMetrics;
  /** TLS, authentication and response headers for every route (web-config.ts); none: plain HTTP, open. */
  web?: WebConfig;
}

export interface RunningServer {
  port: number;
  hostname: string;
  /** "https" when the web config sets TLS. */
  scheme: "http" | "https";
  stop(): Promise<void>;
}

export interface KpulseApp {
  app: Hono;
  serve(listen: string): RunningServer;
  /** The requests this app has served, by route pattern, method and status. */
  httpMetrics: HttpRequestMetrics;
  /** Watch stream clients, lag and drops, for the self metrics. */
  watchStats(): WatchStats;
}

const PROM_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";
/** HUATUO's request body limit. */
const MAX_BODY = 4 * 1024 * 1024;
/** HUATUO's idle timeout is 120 s; Bun allows at most 255. Watch streams opt out per request. */
const IDLE_TIMEOUT_SEC = 120;

/** Go-style platform string, as HUATUO's /version reports it. */
function platform(): string {
  const arch: Record<string, string> = { x64: "amd64", arm64: "arm64", ia32: "386" };
  return `${process.platform}/${arch[process.arch] ?? process.arch}`;
}

/** ":19704", "127.0.0.1:0", "[::1]:8080", "19704" → host and port ("" host = all interfaces). */
export function parseListen(listen: string): { hostname: string; port: number } {
  const addr = parseListenAddress(listen.trim());
  if (!addr) throw new Error(`invalid listen address "${listen}" (want host:port, e.g. ":19704")`);
  return { hostname: addr.host, port: addr.port };
}

export function createApp(deps: AppDeps): KpulseApp {
  const log = deps.log.child({ component: "http" });
  const app = new Hono();
  const watch = createWatchRoute({ ...deps.watch, bus: deps.bus, log });
  const httpMetrics = deps.httpMetrics ?? new HttpRequestMetrics();

  // Request metrics, registered first so it wraps every route. The route label is the matched
  // pattern, never the raw path (cardinality stays bounded); a request no route matched is
  // "unmatched". For watch streams the duration ends when the stream's headers are sent.
  const recordRequest: MiddlewareHandler = async (c, next) => {
    const began = performance.now();
    await next();
    // After next(), routeIndex points at the last handler that ran: the route's, or still this
    // middleware when nothing matched (Hono then answered with notFound).
    const route = matchedRoutes(c)[c.req.routeIndex];
    const pattern = route && route.handler !== recordRequest && route.handler !== guard ? route.path : UNMATCHED_ROUTE;
    httpMetrics.record(pattern, c.req.method, c.res.status, (performance.now() - began) / 1000);
  };
  app.use("*", recordRequest);
  // Authentication after the request metrics (refusals are counted, as route "unmatched"), before every route.
  const guard = deps.web && webGuard({ auth: new Authenticator(deps.web.basicAuthUsers, deps.web.bearerTokens), ...deps.web });
  if (guard) app.use("*", guard);

  app.get("/healthz", (c) => c.body(null, 204));
  app.get("/readyz", (c) => {
    const r = deps.ready();
    const failing = r === true ? [] : r === false ? ["not ready"] : r;
    return failing.length === 0 ? c.body(null, 204) : errorResponse(c, 503, "not_ready", failing.join("; "));
  });

  app.get("/metrics", async (c) => {
    const text = await deps.renderMetrics();
    return c.body(text, 200, { "Content-Type": PROM_CONTENT_TYPE });
  });

  app.get("/version", (c) => {
    const v = deps.version;
    return c.json({
      data: {
        name: v.name,
        version: v.version,
        git_commit: v.commit ?? "",
        build_time: v.build_time ?? "",
        bun_version: v.bun,
        ...(v.libbpf && {
          libbpf_version: v.libbpf.version,
          libbpf_source: v.libbpf.source,
          libbpf_contents: v.libbpf.contents,
          libbpf_error: v.libbpf.error,
        }),
        compiler: "bun",
        platform: platform(),
      },
    });
  });

  app.get("/v1/probes", (c) => c.json(deps.capabilities ? { data: deps.probes(), capabilities: deps.capabilities() } : { data: deps.probes() }));

  // The containers kpulse knows; ?container_id= picks one (HUATUO's /containers/json too).
  const containers = (c: Context) => {
    const rows = deps.containers?.() ?? [];
    const id = c.req.query("container_id");
    if (id === undefined) return c.json({ data: rows });
    if (!/^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/.test(id)) return errorResponse(c, 400, "invalid_request", "container_id must be a container id (letters, digits, '.', '_', '-'; at most 128)");
    return c.json({ data: rows.filter((r) => r.id === id) });
  };
  app.get("/v1/containers", containers);
  app.get("/containers/json", containers);

  app.post("/v1/events/watch", (c) => watch.handle(c));
  // The same stream for browsers' EventSource: filters as query parameters.
  app.get("/v1/events/watch", (c) => watch.handle(c));

  app.notFound((c) => errorResponse(c, 404, "not_found", `no route for ${c.req.method} ${c.req.path}`));
  app.onError((err, c) => {
    log.error("request failed", { method: c.req.method, path: c.req.path, err });
    return errorResponse(c, 500, "internal_error", err.message || "internal error");
  });

  function serve(listen: string): RunningServer {
    const { hostname, port } = parseListen(listen);
    const tls = deps.web?.tls;
    const options = {
      port,
      // A client certificate is verified during the handshake: requestCert with rejectUnauthorized.
      ...(tls && {
        tls: { cert: tls.cert, key: tls.key, ca: tls.ca, requestCert: tls.requestCert, rejectUnauthorized: true, secureOptions: tls.secureOptions },
      }),
      idleTimeout: deps.idleTimeoutSec ?? IDLE_TIMEOUT_SEC,
      maxRequestBodySize: MAX_BODY,
      fetch: (req: Request, server: unknown) => app.fetch(req, server),
    };
    let server: ReturnType<typeof Bun.serve>;
    if (hostname !== "") server = Bun.serve({ ...options, hostname });
    else {
      // Like Go's ":port": all interfaces, IPv6 dual-stack when the host has IPv6.
      try {
        server = Bun.serve({ ...options, hostname: "::" });
      } catch {
        server = Bun.serve({ ...options, hostname: "0.0.0.0" });
      }
    }
    log.info("http server listening", { address: `${server.hostname}:${server.port}`, scheme: tls ? "https" : "http" });
    return {
      port: server.port ?? port,
      hostname: server.hostname ?? hostname,
      scheme: tls ? "https" : "http",
      async stop() {
        watch.closeAll();
        await server.stop(true);
      },
    };
  }

  return { app, serve, httpMetrics, watchStats: () => watch.stats() };
}
