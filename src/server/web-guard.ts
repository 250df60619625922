// The web config applied to every request (registered before the routes): the configured
// response headers, then authentication. A request without valid credentials gets 401 with
// the challenges (`WWW-Authenticate: Basic …`); only `unauthenticated_paths` (at most /healthz
// and /readyz) pass without. When bcrypt slots and their queue are full, 429 with Retry-After.
import type { MiddlewareHandler } from "hono";
import type { Authenticator } from "./web-auth.ts";
import { errorResponse } from "./errors.ts";

export interface GuardOptions {
  auth: Authenticator;
  unauthenticatedPaths: readonly string[];
  headers: Readonly<Record<string, string>>;
}

export function webGuard(o: GuardOptions): MiddlewareHandler {
  const open = new Set(o.unauthenticatedPaths);
  const headers = Object.entries(o.headers);
  const withHeaders = (res: Response) => {
    for (const [k, v] of headers) res.headers.set(k, v);
    return res;
  };
  return async (c, next) => {
    if (o.auth.enabled && !open.has(c.req.path)) {
      const r = await o.auth.check(c.req.header("Authorization"));
      if (r === "busy") {
        c.header("Retry-After", "1");
        return withHeaders(errorResponse(c, 429, "rate_limited", "too many authentication attempts in progress; retry later"));
      }
      if (r === "denied") {
        for (const ch of o.auth.challenges()) c.header("WWW-Authenticate", ch, { append: true });
        return withHeaders(errorResponse(c, 401, "unauthorized", "valid credentials are required"));
      }
    }
    await next();
    if (headers.length) withHeaders(c.res);
  };
}
