// The authenticator: basic auth against real bcrypt hashes (Bun.password, as htpasswd -B makes
// them: $2y$), the success cache, the bounded bcrypt slots, and bearer tokens.
import { beforeAll, describe, expect, test } from "bun:test";
import { Authenticator } from "../../src/server/web-auth.ts";

const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString("base64")}`;
const TOKEN = "f3b2c1d0e9a8f7e6d5c4b3a2";
let users: Map<string, string>;

beforeAll(async () => {
  const h = await Bun.password.hash("correct horse", { algorithm: "bcrypt", cost: 10 });
  users = new Map([["alice", h.replace(/^\$2b\$/, "$2y$")], ["bob", h.replace(/^\$2b\$/, "$2a$")]]);
});

describe("basic auth", () => {
  test("right password: ok; wrong password, unknown user, no header, other scheme: denied", async () => {
    const a = new Authenticator(users, []);
    expect(await a.check(basic("alice", "correct horse"))).toBe("ok");
    expect(await a.check(basic("bob", "correct horse"))).toBe("ok");
    expect(await a.check(basic("alice", "wrong"))).toBe("denied");
    expect(await a.check(basic("mallory", "correct horse"))).toBe("denied");
    expect(await a.check(undefined)).toBe("denied");
    expect(await a.check("Digest abc")).toBe("denied");
    expect(await a.check("Basic !!notbase64!!")).toBe("denied");
    expect(await a.check(`Basic ${Buffer.from("no-colon").toString("base64")}`)).toBe("denied");
    expect(await a.check(`Bearer ${TOKEN}`)).toBe("denied"); // no tokens configured
    expect(a.challenges()).toEqual(['Basic realm="kpulse", charset="UTF-8"']);
  });

  test("a success is cached: the second check runs no bcrypt and is orders of magnitude faster", async () => {
    const a = new Authenticator(users, []);
    let t = performance.now();
    expect(await a.check(basic("alice", "correct horse"))).toBe("ok");
    const uncached = performance.now() - t;
    t = performance.now();
    expect(await a.check(basic("alice", "correct horse"))).toBe("ok");
    const cached = performance.now() - t;
    expect(a.stats).toEqual({ bcryptRuns: 1, cacheHits: 1, busy: 0 });
    console.log(`bcrypt cost 10: uncached check ${uncached.toFixed(1)} ms, cached ${(cached * 1000).toFixed(0)} µs`);
    expect(cached * 20).toBeLessThan(uncached);
    // A wrong password for the same user is not answered from the cache.
    expect(await a.check(basic("alice", "correct horsE"))).toBe("denied");
    expect(a.stats.bcryptRuns).toBe(2);
  });

  test("failures are never cached and unknown users cost a bcrypt too (no user-name oracle)", async () => {
    const a = new Authenticator(users, []);
    expect(await a.check(basic("alice", "x"))).toBe("denied");
    expect(await a.check(basic("alice", "x"))).toBe("denied");
    expect(await a.check(basic("nobody", "x"))).toBe("denied");
    expect(a.stats.bcryptRuns).toBe(3);
  });

  test("the cache is bounded: the least recently used success is forgotten", async () => {
    const h = await Bun.password.hash("p", { algorithm: "bcrypt", cost: 4 });
    const a = new Authenticator(new Map([["u1", h], ["u2", h], ["u3", h]]), [], { cacheSize: 2 });
    for (const u of ["u1", "u2", "u3"]) expect(await a.check(basic(u, "p"))).toBe("ok");
    expect(a.stats.bcryptRuns).toBe(3);
    expect(await a.check(basic("u3", "p"))).toBe("ok"); // kept
    expect(await a.check(basic("u1", "p"))).toBe("ok"); // dropped: verified again
    expect(a.stats).toEqual({ bcryptRuns: 4, cacheHits: 1, busy: 0 });
  });

  test("passwords bcrypt cannot hold (over 72 bytes) are refused without hashing", async () => {
    const a = new Authenticator(users, []);
    expect(await a.check(basic("alice", "correct horse" + "x".repeat(80)))).toBe("denied");
    expect(await a.check("Basic " + "A".repeat(5000))).toBe("denied");
    expect(a.stats.bcryptRuns).toBe(0);
  });

  test("a flood of wrong passwords: one bcrypt at a time, the queue is bounded, the rest are busy", async () => {
    const a = new Authenticator(users, [], { maxConcurrent: 1, maxQueued: 3 });
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => a.check(basic("alice", `guess${i}`))));
    expect(results.filter((r) => r === "denied").length).toBe(4); // 1 running + 3 queued
    expect(results.filter((r) => r === "busy").length).toBe(16);
    expect(a.stats.bcryptRuns).toBe(4);
    // A cached success does not wait behind the flood.
    expect(await a.check(basic("alice", "correct horse"))).toBe("ok");
    const flood = Array.from({ length: 5 }, (_, i) => a.check(basic("alice", `again${i}`)));
    const t = performance.now();
    expect(await a.check(basic("alice", "correct horse"))).toBe("ok");
    expect(performance.now() - t).toBeLessThan(20);
    await Promise.all(flood);
  });
});

describe("bearer tokens", () => {
  test("the configured token: ok; another, a prefix, a longer one: denied", async () => {
    const a = new Authenticator(new Map(), [TOKEN, "0000000000000000000000000"]);
    expect(await a.check(`Bearer ${TOKEN}`)).toBe("ok");
    expect(await a.check(`bearer ${TOKEN}`)).toBe("ok"); // the scheme is case-insensitive (RFC 7235)
    expect(await a.check(`Bearer 0000000000000000000000000`)).toBe("ok");
    expect(await a.check(`Bearer ${TOKEN.slice(0, -1)}`)).toBe("denied");
    expect(await a.check(`Bearer ${TOKEN}x`)).toBe("denied");
    expect(await a.check(basic("alice", TOKEN))).toBe("denied"); // no basic users
    expect(a.challenges()).toEqual(['Bearer realm="kpulse"']);
  });

  test("no users and no tokens: authentication is off", async () => {
    const a = new Authenticator(new Map(), []);
    expect(a.enabled).toBe(false);
    expect(await a.check(undefined)).toBe("ok");
  });
});
