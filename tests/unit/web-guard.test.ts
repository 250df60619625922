// The web guard in front of the routes (Hono, no socket): 401 with challenges, the configured
// headers on every answer, the opt-in unauthenticated paths, 429 when bcrypt slots are full;
// and the flag that names the web config.
import { describe, expect, test } from "bun:test";
import { Hono } from "hono";
import { parseArgs } from "../../src/cli.ts";
import { Authenticator } from "../../src/server/web-auth.ts";
import { webGuard } from "../../src/server/web-guard.ts";

const TOKEN = "0123456789abcdef0123456789";

function app(auth: Authenticator, unauthenticatedPaths: string[] = [], headers: Record<string, string> = {}) {
  const a = new Hono();
  a.use("*", webGuard({ auth, unauthenticatedPaths, headers }));
  a.get("/healthz", (c) => c.body(null, 204));
  a.get("/readyz", (c) => c.body(null, 204));
  a.get("/metrics", (c) => c.text("m 1\n"));
  return a;
}

describe("web guard", () => {
  test("401 with the challenges and the headers; the token passes", async () => {
    const a = app(new Authenticator(new Map(), [TOKEN]), [], { "X-Frame-Options": "deny" });
    const denied = await a.request("/metrics");
    expect(denied.status).toBe(401);
    expect(denied.headers.get("WWW-Authenticate")).toBe('Bearer realm="kpulse"');
    expect(denied.headers.get("X-Frame-Options")).toBe("deny");
    const ok = await a.request("/metrics", { headers: { Authorization: `Bearer ${TOKEN}` } });
    expect(ok.status).toBe(200);
    expect(await ok.text()).toBe("m 1\n");
    expect(ok.headers.get("X-Frame-Options")).toBe("deny");
  });

  test("unauthenticated_paths open exactly those paths", async () => {
    const a = app(new Authenticator(new Map(), [TOKEN]), ["/healthz"]);
    expect((await a.request("/healthz")).status).toBe(204);
    expect((await a.request("/readyz")).status).toBe(401);
    expect((await a.request("/healthz/")).status).toBe(401); // no prefix or trailing-slash match
    expect((await a.request("/metrics")).status).toBe(401);
  });

  test("without users or tokens (TLS or headers only) nothing is asked", async () => {
    const a = app(new Authenticator(new Map(), []), [], { "X-Content-Type-Options": "nosniff" });
    const r = await a.request("/metrics");
    expect(r.status).toBe(200);
    expect(r.headers.get("X-Content-Type-Options")).toBe("nosniff");
  });

  test("bcrypt slots and queue full: 429 with Retry-After", async () => {
    const hash = await Bun.password.hash("pw", { algorithm: "bcrypt", cost: 10 });
    const a = app(new Authenticator(new Map([["u", hash]]), [], { maxConcurrent: 1, maxQueued: 0 }));
    const auth = { Authorization: `Basic ${Buffer.from("u:wrong").toString("base64")}` };
    const [first, second] = await Promise.all([a.request("/metrics", { headers: auth }), a.request("/metrics", { headers: auth })]);
    expect(first.status).toBe(401);
    expect(second.status).toBe(429);
    expect(second.headers.get("Retry-After")).toBe("1");
  });
});

test("--web.config.file names the web config (exporter-toolkit's flag)", () => {
  const o = parseArgs(["--region", "r", "--web.config.file", "/etc/kpulse/web.yml"]);
  expect("webConfigFile" in o && o.webConfigFile).toBe("/etc/kpulse/web.yml");
  const eq = parseArgs(["--region", "r", "--web.config.file=w.yml"]);
  expect("webConfigFile" in eq && eq.webConfigFile).toBe("w.yml");
  expect(parseArgs(["--region", "r", "--web.config.file"])).toEqual({ error: "flag --web.config.file needs a value" });
});
