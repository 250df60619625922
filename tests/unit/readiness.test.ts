// /readyz from the readiness registry: 204 when every check passes, else 503 with HUATUO's
// error envelope naming each failing part; /healthz stays liveness only.
import { describe, expect, test } from "bun:test";
import { createEventBus } from "../../src/events/bus.ts";
import { silentLogger } from "../../src/log.ts";
import { createApp } from "../../src/server/app.ts";
import { Readiness } from "../../src/server/readiness.ts";

function app(readiness: Readiness) {
  return createApp({
    renderMetrics: () => "",
    probes: () => [],
    bus: createEventBus(),
    watch: { maxClients: 1, keepAliveSec: 30, ceMode: "kpulse" },
    version: { name: "kpulse", version: "0", bun: Bun.version },
    log: silentLogger,
    ready: () => readiness.failing(),
  }).app;
}

const get = (a: ReturnType<typeof app>, path: string) => a.fetch(new Request(`http://x${path}`));

describe("readiness", () => {
  test("every failing check is named, in registration order; removing a check forgets it", () => {
    const r = new Readiness();
    let disk: string | undefined;
    r.add("probes", () => undefined);
    const off = r.add("localfile", () => disk);
    r.add("opensearch", () => "unreachable: ECONNREFUSED");
    expect(r.failing()).toEqual(["opensearch: unreachable: ECONNREFUSED"]);
    disk = "ENOSPC: no space left on device, write";
    expect(r.failing()).toEqual(["localfile: ENOSPC: no space left on device, write", "opensearch: unreachable: ECONNREFUSED"]);
    off();
    expect(r.failing()).toEqual(["opensearch: unreachable: ECONNREFUSED"]);
    r.add("broken", () => {
      throw new Error("boom");
    });
    expect(r.failing()).toContain("broken: check failed: boom");
  });

  test("/readyz: 204 when ready, 503 not_ready naming the sink; /healthz stays 204", async () => {
    const r = new Readiness();
    let reason: string | undefined;
    r.add("localfile", () => reason);
    const a = app(r);
    expect((await get(a, "/readyz")).status).toBe(204);
    reason = "ENOSPC: no space left on device, write (/data/kpulse/dropwatch); 812 events waiting";
    const res = await get(a, "/readyz");
    expect(res.status).toBe(503);
    expect(res.headers.get("content-type")).toContain("application/json");
    expect(await res.json()).toEqual({ error: { code: "not_ready", message: `localfile: ${reason}` } });
    expect((await get(a, "/healthz")).status).toBe(204);
    reason = undefined;
    expect((await get(a, "/readyz")).status).toBe(204);
  });
});
