// `kpulse watch` against a secured agent: credentials from the URL or a token file, TLS files,
// and one-line errors for what does not fit together.
import { afterAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseWatchArgs, type WatchCliOptions } from "../../src/cli.ts";
import { watchAccess } from "../../src/watch-access.ts";

const dir = mkdtempSync(join(tmpdir(), "kpulse-watch-access-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const opts = (...argv: string[]): WatchCliOptions => {
  const r = parseWatchArgs(argv);
  if (!("watch" in r)) throw new Error(JSON.stringify(r));
  return r.watch;
};

test("user:password in the URL becomes basic auth and leaves the URL", () => {
  const a = watchAccess(opts(), "https://prom:p%40ss%3Aw@127.0.0.1:19704/v1/events/watch");
  expect(a.url).toBe("https://127.0.0.1:19704/v1/events/watch");
  expect(a.headers.Authorization).toBe(`Basic ${Buffer.from("prom:p@ss:w").toString("base64")}`);
  expect(a.tls).toBeUndefined();
});

test("a bearer token file, a CA file, a client certificate", () => {
  writeFileSync(join(dir, "token"), "tok-0123456789abcdef\n");
  writeFileSync(join(dir, "ca.pem"), "-----BEGIN CERTIFICATE-----\n");
  const o = opts("--bearer-token-file", join(dir, "token"), "--ca-file", join(dir, "ca.pem"), "--cert-file", join(dir, "ca.pem"), "--key-file", join(dir, "ca.pem"));
  const a = watchAccess(o, "https://h:19704/v1/events/watch");
  expect(a.headers.Authorization).toBe("Bearer tok-0123456789abcdef");
  expect(Object.keys(a.tls ?? {}).sort()).toEqual(["ca", "cert", "key"]);
});

test("what does not fit together is one line naming the flag", () => {
  writeFileSync(join(dir, "t"), "tok-0123456789abcdef");
  expect(() => watchAccess(opts("--cert-file", "x"), "https://h/")).toThrow("--cert-file and --key-file go together");
  expect(() => watchAccess(opts("--ca-file", join(dir, "t")), "http://h/")).toThrow("need an https:// URL");
  expect(() => watchAccess(opts("--ca-file", join(dir, "none")), "https://h/")).toThrow(`--ca-file: cannot read ${join(dir, "none")}`);
  expect(() => watchAccess(opts("--bearer-token-file", join(dir, "t")), "https://u:p@h/")).toThrow("use one");
  writeFileSync(join(dir, "two"), "a b\n");
  expect(() => watchAccess(opts("--bearer-token-file", join(dir, "two")), "https://h/")).toThrow("must hold one token");
});
