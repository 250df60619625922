// The web config parser against good and hostile files: every error names the file, the key
// and its line; unsupported exporter-toolkit options are refused with the reason.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadWebConfig, MAX_WEB_CONFIG_BYTES, parseWebConfig, WebConfigError } from "../../src/server/web-config.ts";

const dir = mkdtempSync(join(tmpdir(), "kpulse-webcfg-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let hash: string;
let cert: string;
let key: string;
beforeAll(async () => {
  hash = (await Bun.password.hash("pw", { algorithm: "bcrypt", cost: 4 })).replace(/^\$2b\$/, "$2y$");
  // A throwaway self-signed certificate (real PEM, made by openssl).
  cert = join(dir, "server.crt");
  key = join(dir, "server.key");
  const r = Bun.spawnSync(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key, "-out", cert, "-days", "1", "-subj", "/CN=localhost"], { stderr: "pipe" });
  if (r.exitCode !== 0) throw new Error(`openssl failed: ${r.stderr}`);
});

function file(name: string, text: string): string {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
}

function errorOf(text: string, name = "web.yml"): WebConfigError {
  try {
    loadWebConfig(file(name, text));
  } catch (e) {
    expect(e).toBeInstanceOf(WebConfigError);
    return e as WebConfigError;
  }
  throw new Error("no error");
}

describe("valid web configs", () => {
  test("an empty file: no TLS, no authentication", () => {
    const c = parseWebConfig("", "empty.yml");
    expect(c.tls).toBeUndefined();
    expect(c.basicAuthUsers.size).toBe(0);
    expect(c.bearerTokens).toEqual([]);
  });

  test("exporter-toolkit's sample layout: TLS files and bcrypt users", () => {
    const c = parseWebConfig(
      ["tls_server_config:", `  cert_file: ${cert}`, `  key_file: ${key}`, "basic_auth_users:", `  alice: ${hash}`, `  bob: '${hash}'`].join("\n"),
      "web.yml",
    );
    expect(c.tls?.cert).toContain("-----BEGIN CERTIFICATE-----");
    expect(c.tls?.key).toContain("PRIVATE KEY-----");
    expect(c.tls?.requestCert).toBe(false);
    expect(c.tls?.minVersion).toBe("TLS12");
    expect([...c.basicAuthUsers.keys()]).toEqual(["alice", "bob"]);
  });

  test("relative file names are relative to the web config's directory (as exporter-toolkit)", () => {
    file("rel.token", "relative-token-0123456789\n");
    const c = loadWebConfig(file("rel.yml", "tls_server_config:\n  cert_file: server.crt\n  key_file: ./server.key\nbearer_tokens:\n  - token_file: rel.token\n"));
    expect(c.tls?.cert).toContain("BEGIN CERTIFICATE");
    expect(c.bearerTokens).toEqual(["relative-token-0123456789"]);
  });

  test("client certificates, TLS 1.3 only, headers, tokens from a file and inline", () => {
    const tokenFile = file("token", "0123456789abcdef0123\n");
    const c = parseWebConfig(
      [
        "tls_server_config:",
        `  cert_file: ${cert}`,
        `  key_file: ${key}`,
        `  client_ca_file: ${cert}`,
        "  client_auth_type: RequireAndVerifyClientCert",
        "  min_version: TLS13",
        "http_server_config:",
        "  http2: false",
        "  headers:",
        "    X-Frame-Options: deny",
        "    Strict-Transport-Security: max-age=31536000",
        "    X-XSS-Protection: ''",
        "bearer_tokens:",
        `  - token_file: ${tokenFile}`,
        "  - token: inline-token-of-20-chars",
        "unauthenticated_paths: [/healthz, /readyz]",
      ].join("\n"),
      "web.yml",
    );
    expect(c.tls?.requestCert).toBe(true);
    expect(c.tls?.ca).toContain("BEGIN CERTIFICATE");
    expect(c.tls?.minVersion).toBe("TLS13");
    expect(c.headers).toEqual({ "X-Frame-Options": "deny", "Strict-Transport-Security": "max-age=31536000" });
    expect(c.bearerTokens).toEqual(["0123456789abcdef0123", "inline-token-of-20-chars"]);
    expect(c.unauthenticatedPaths).toEqual(["/healthz", "/readyz"]);
  });
});

describe("errors name the file, the key and the line", () => {
  test("an unknown top-level key", () => {
    const e = errorOf("basic_auth_users: {}\ntls_config:\n  cert_file: x\n", "top.yml");
    expect(e.message).toStartWith(`${join(dir, "top.yml")}:2: tls_config: unknown key`);
    expect(e.key).toBe("tls_config");
    expect(e.line).toBe(2);
  });

  test("an unknown key inside tls_server_config", () => {
    const e = errorOf(`tls_server_config:\n  cert_file: ${cert}\n  key_file: ${key}\n  certfile: x\n`);
    expect(e.message).toContain(":4: tls_server_config.certfile: unknown key");
    expect(e.line).toBe(4);
  });

  test("a bad bcrypt hash names the user", () => {
    const e = errorOf(`basic_auth_users:\n  alice: ${hash}\n  bob: plaintext-password\n`);
    expect(e.message).toContain(":3: basic_auth_users.bob: must be a bcrypt hash");
    expect(e.message).not.toContain("plaintext-password"); // a secret is never echoed
  });

  test("a bcrypt cost that would stall every request", () => {
    const e = errorOf(`basic_auth_users:\n  alice: "${hash.replace("$04$", "$20$")}"\n`);
    expect(e.message).toContain("basic_auth_users.alice: has bcrypt cost 20");
  });

  test("an oversized file is refused before it is parsed", () => {
    const e = errorOf("# " + "x".repeat(MAX_WEB_CONFIG_BYTES) + "\n", "big.yml");
    expect(e.message).toBe(`${join(dir, "big.yml")}: cannot read the web config file: larger than ${MAX_WEB_CONFIG_BYTES} bytes`);
  });

  test("invalid YAML and duplicate keys carry the line", () => {
    expect(errorOf("basic_auth_users:\n  a: [\n").message).toMatch(/web\.yml:\d+: invalid YAML/);
    const dup = errorOf(`basic_auth_users:\n  a: ${hash}\n  a: ${hash}\n`);
    expect(dup.message).toMatch(/web\.yml:3: invalid YAML: .*[Uu]nique/);
  });

  test("YAML aliases are refused (no expansion bombs)", () => {
    const e = errorOf(`basic_auth_users:\n  a: &h ${hash}\n  b: *h\n`);
    expect(e.message).toContain(":3: basic_auth_users.b: must be a string");
  });

  test("a missing key file, a missing certificate, a non-PEM certificate", () => {
    expect(errorOf(`tls_server_config:\n  cert_file: ${cert}\n  key_file: ${dir}/nope.key\n`).message).toContain(":3: tls_server_config.key_file: cannot read");
    expect(errorOf(`tls_server_config:\n  key_file: ${key}\n`).message).toContain(":1: tls_server_config: needs cert_file (or cert)");
    const notPem = file("not.pem", "hello");
    expect(errorOf(`tls_server_config:\n  cert_file: ${notPem}\n  key_file: ${key}\n`).message).toContain("tls_server_config.cert_file: ");
  });

  test("client certificates need a CA; a CA without client_auth_type is a mistake", () => {
    expect(errorOf(`tls_server_config:\n  cert_file: ${cert}\n  key_file: ${key}\n  client_auth_type: RequireAndVerifyClientCert\n`).message).toContain(
      ":4: tls_server_config.client_auth_type: RequireAndVerifyClientCert needs client_ca_file",
    );
    expect(errorOf(`tls_server_config:\n  cert_file: ${cert}\n  key_file: ${key}\n  client_ca_file: ${cert}\n`).message).toContain(
      ":4: tls_server_config.client_ca_file: is set but client_auth_type is NoClientCert",
    );
  });

  test("what Bun's TLS cannot do is refused, not ignored", () => {
    const base = `tls_server_config:\n  cert_file: ${cert}\n  key_file: ${key}\n`;
    expect(errorOf(base + "  client_auth_type: VerifyClientCertIfGiven\n").message).toContain("VerifyClientCertIfGiven is not supported by kpulse");
    expect(errorOf(base + "  cipher_suites: [TLS_AES_128_GCM_SHA256]\n").message).toContain(":4: tls_server_config.cipher_suites: is not supported");
    expect(errorOf(base + "  client_allowed_sans: [a]\n").message).toContain("client_allowed_sans: is not supported");
    expect(errorOf(base + "  min_version: TLS10\n").message).toContain(":4: tls_server_config.min_version: TLS10 is refused");
    expect(errorOf(base + "  min_version: TLS13\n  max_version: TLS12\n").message).toContain("TLS13 is above max_version TLS12");
    expect(errorOf("http_server_config:\n  http2: true\n").message).toContain(":2: http_server_config.http2: true is not supported");
    expect(errorOf("rate_limit:\n  burst: 2\n").message).toContain(":1: rate_limit: is not supported");
  });

  test("bearer tokens: too short, unreadable, wrong shape", () => {
    expect(errorOf("bearer_tokens:\n  - token: short\n").message).toContain(":2: bearer_tokens[0].token: a bearer token must be at least 16 characters");
    expect(errorOf(`bearer_tokens:\n  - token_file: ${dir}/none\n`).message).toContain("bearer_tokens[0].token_file: cannot read");
    expect(errorOf("bearer_tokens:\n  token: abcdefabcdefabcdefabcdef\n").message).toContain(":1: bearer_tokens: must be a list");
    expect(errorOf("bearer_tokens:\n  - secret: abcdefabcdefabcdefabcdef\n").message).toContain("bearer_tokens[0]: must be {token: <secret>} or {token_file: <filename>}");
  });

  test("only /healthz and /readyz may be opened", () => {
    expect(errorOf("unauthenticated_paths: [/healthz, /metrics]\n").message).toContain("unauthenticated_paths[1]: must be one of /healthz, /readyz");
  });

  test("headers: unknown names and bad values", () => {
    expect(errorOf("http_server_config:\n  headers:\n    X-Powered-By: me\n").message).toContain(":3: http_server_config.headers.X-Powered-By: unknown key");
    expect(errorOf("http_server_config:\n  headers:\n    X-Frame-Options: allow\n").message).toContain("must be deny or sameorigin");
  });

  test("wrong types", () => {
    expect(errorOf("basic_auth_users: [a, b]\n").message).toContain(":1: basic_auth_users: must be a mapping");
    expect(errorOf("basic_auth_users:\n  alice: 12\n").message).toContain(":2: basic_auth_users.alice: must be a string, got 12");
    expect(errorOf("basic_auth_users:\n  'a:b': x\n").message).toContain("without ':'");
  });
});
