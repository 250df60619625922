// The web config: TLS and authentication of the HTTP endpoint, in the Prometheus
// exporter-toolkit format (`--web.config.file`, YAML), so an operator's existing file works.
// Read once at start (exporter-toolkit re-reads it per request; kpulse needs a restart).
//
// The file is hostile input: bounded size, strict keys (an unknown or misspelt key is an error,
// as in exporter-toolkit), and every error names the file, the key and its line. What Bun's
// TLS cannot do is refused with the reason, never accepted and ignored.
//
// kpulse additions (not exporter-toolkit keys):
//   bearer_tokens:            [{token: <secret>} | {token_file: <filename>}]   Authorization: Bearer
//   unauthenticated_paths:    [/healthz, /readyz]   probes without credentials (those two only)
import { constants } from "node:crypto";
import { readBoundedText } from "../util/bounded-read.ts";
import { dirname, resolve } from "node:path";
import { isMap, isScalar, isSeq, LineCounter, parseDocument, type Node as YamlNode } from "yaml";

/** Larger than any sane web config; a bigger file is a mistake or an attack. */
export const MAX_WEB_CONFIG_BYTES = 64 * 1024;
/** PEM files (certificate chains, CA bundles). */
const MAX_PEM_BYTES = 1024 * 1024;
const MAX_TOKEN_FILE_BYTES = 4096;
/** A shorter bearer token is guessable. */
export const MIN_TOKEN_LENGTH = 16;
/** Cost 18 takes seconds per verification; above, a scrape would time out before it is checked. */
const MAX_BCRYPT_COST = 18;
const BCRYPT_HASH = /^\$2[aby]\$(\d\d)\$[./A-Za-z0-9]{53}$/;

/** The paths that may be opened to unauthenticated callers: they reveal nothing but liveness. */
export const PUBLIC_PATH_CHOICES = ["/healthz", "/readyz"] as const;

const TLS_VERSIONS = { TLS12: 0, TLS13: 1 } as const;
type TlsVersion = keyof typeof TLS_VERSIONS;

/** exporter-toolkit's header names and their accepted values (undefined: any string). */
const HEADER_RULES: Record<string, readonly string[] | undefined> = {
  "Content-Security-Policy": undefined,
  "X-Frame-Options": ["deny", "sameorigin"],
  "X-Content-Type-Options": ["nosniff"],
  "X-XSS-Protection": undefined,
  "Strict-Transport-Security": undefined,
};

export interface TlsSettings {
  cert: string;
  key: string;
  /** Client CA bundle, with requestCert: clients must present a certificate it signed. */
  ca?: string;
  requestCert: boolean;
  /** SSL_OP_NO_* bits for min_version/max_version. */
  secureOptions: number;
  minVersion: TlsVersion;
  maxVersion: TlsVersion;
}

export interface WebConfig {
  file: string;
  tls?: TlsSettings;
  /** user → bcrypt hash. */
  basicAuthUsers: Map<string, string>;
  /** The accepted bearer tokens (as given; the checker keeps only their digests). */
  bearerTokens: string[];
  unauthenticatedPaths: string[];
  /** Extra response headers (http_server_config.headers). */
  headers: Record<string, string>;
}

export class WebConfigError extends Error {
  constructor(
    message: string,
    readonly file: string,
    readonly key?: string,
    readonly line?: number,
  ) {
    super(message);
    this.name = "WebConfigError";
  }
}

export function loadWebConfig(path: string): WebConfig {
  let text: string;
  try {
    text = readBoundedText(path, MAX_WEB_CONFIG_BYTES, { regularFile: true });
  } catch (e) {
    throw new WebConfigError(`${path}: cannot read the web config file: ${(e as Error).message}`, path);
  }
  return parseWebConfig(text, path);
}

/** Validates a web config's text; the files it names are read (relative paths: from the web config's directory, as exporter-toolkit). */
export function parseWebConfig(text: string, file: string): WebConfig {
  return new Parser(text, file).parse();
}

type Entry = { key: string; path: string; node: YamlNode | null; line?: number };

class Parser {
  private readonly lines = new LineCounter();
  constructor(
    private readonly text: string,
    private readonly file: string,
  ) {}

  /** A path named in the file, resolved against the file's directory. */
  private pathOf(p: string): string {
    return resolve(dirname(this.file), p);
  }

  parse(): WebConfig {
    // No aliases: a billion-laughs document cannot expand; unique keys as exporter-toolkit.
    const doc = parseDocument(this.text, { lineCounter: this.lines, uniqueKeys: true, prettyErrors: true, strict: true, version: "1.2" });
    const err = doc.errors[0];
    if (err) {
      const line = err.linePos?.[0]?.line;
      throw new WebConfigError(`${this.file}${line ? `:${line}` : ""}: invalid YAML: ${err.message.split("\n")[0]}`, this.file, undefined, line);
    }
    const out: WebConfig = { file: this.file, basicAuthUsers: new Map(), bearerTokens: [], unauthenticatedPaths: [], headers: {} };
    const root = doc.contents as YamlNode | null;
    if (root === null || (isScalar(root) && root.value === null)) return out; // an empty file: no TLS, no auth
    for (const e of this.entries(root, "")) {
      switch (e.key) {
        case "tls_server_config":
          out.tls = this.tls(e);
          break;
        case "http_server_config":
          this.httpServer(e, out);
          break;
        case "basic_auth_users":
          for (const u of this.entries(e.node, e.path)) out.basicAuthUsers.set(this.user(u), this.bcryptHash(u));
          break;
        case "bearer_tokens":
          out.bearerTokens = this.items(e).map((item) => this.bearerToken(item));
          break;
        case "unauthenticated_paths":
          out.unauthenticatedPaths = this.items(e).map((item) => {
            const p = this.string(item);
            if (!(PUBLIC_PATH_CHOICES as readonly string[]).includes(p))
              throw this.fail(item, `must be one of ${PUBLIC_PATH_CHOICES.join(", ")} (the routes that reveal nothing), got ${JSON.stringify(p)}`);
            return p;
          });
          break;
        case "rate_limit":
          throw this.fail(e, "is not supported by kpulse (use a reverse proxy to rate-limit)");
        default:
          throw this.unknown(e, ["tls_server_config", "http_server_config", "basic_auth_users", "bearer_tokens", "unauthenticated_paths"]);
      }
    }
    return out;
  }

  private tls(e: Entry): TlsSettings | undefined {
    const given = new Map(this.entries(e.node, e.path).map((x) => [x.key, x]));
    const known = ["cert", "key", "client_ca", "cert_file", "key_file", "client_ca_file", "client_auth_type", "min_version", "max_version"];
    for (const x of given.values()) {
      if (["client_allowed_sans", "cipher_suites", "curve_preferences", "prefer_server_cipher_suites"].includes(x.key))
        throw this.fail(x, "is not supported by kpulse: Bun's TLS server gives no control of it (its defaults: TLS 1.2+ with forward-secret AEAD ciphers)");
      if (!known.includes(x.key)) throw this.unknown(x, known);
    }
    if (given.size === 0) return undefined; // `tls_server_config:` with nothing under it: plain HTTP, as exporter-toolkit
    const cert = this.pem(given, "cert", "certificate", e);
    const key = this.pem(given, "key", "private key", e);
    const ca = this.pem(given, "client_ca", "client CA bundle", e, true);
    const authEntry = given.get("client_auth_type");
    const auth = authEntry ? this.string(authEntry) : "NoClientCert";
    let requestCert = false;
    switch (auth) {
      case "NoClientCert":
        if (ca !== undefined) throw this.fail(given.get("client_ca_file") ?? given.get("client_ca")!, 'is set but client_auth_type is NoClientCert: clients would not be checked (set client_auth_type: "RequireAndVerifyClientCert")');
        break;
      case "RequireAndVerifyClientCert":
        if (ca === undefined) throw this.fail(authEntry!, "RequireAndVerifyClientCert needs client_ca_file (or client_ca): the CA that signs client certificates");
        requestCert = true;
        break;
      case "RequestClientCert":
      case "RequireAnyClientCert":
      case "VerifyClientCertIfGiven":
        throw this.fail(authEntry!, `${auth} is not supported by kpulse (Bun's TLS server either verifies every client certificate or asks for none): use RequireAndVerifyClientCert or NoClientCert`);
      default:
        throw this.fail(authEntry!, `must be NoClientCert or RequireAndVerifyClientCert, got ${JSON.stringify(auth)}`);
    }
    const minVersion = this.tlsVersion(given.get("min_version"), "TLS12");
    const maxVersion = this.tlsVersion(given.get("max_version"), "TLS13");
    if (TLS_VERSIONS[minVersion] > TLS_VERSIONS[maxVersion]) throw this.fail(given.get("min_version")!, `${minVersion} is above max_version ${maxVersion}`);
    let secureOptions = constants.SSL_OP_NO_TLSv1 | constants.SSL_OP_NO_TLSv1_1;
    if (minVersion === "TLS13") secureOptions |= constants.SSL_OP_NO_TLSv1_2;
    if (maxVersion === "TLS12") secureOptions |= constants.SSL_OP_NO_TLSv1_3;
    return { cert: cert!, key: key!, ca, requestCert, secureOptions, minVersion, maxVersion };
  }

  /** `<name>` inline or `<name>_file`: exactly one (at most one when optional). */
  private pem(given: Map<string, Entry>, name: string, what: string, parent: Entry, optional = false): string | undefined {
    const inline = given.get(name);
    const file = given.get(`${name}_file`);
    if (inline && file) throw this.fail(file, `and ${name} are both set: give the ${what} one way`);
    if (!inline && !file) {
      if (optional) return undefined;
      throw this.fail(parent, `needs ${name}_file (or ${name}): the server's ${what}`);
    }
    if (inline) {
      const v = this.string(inline);
      if (!v.includes("-----BEGIN ")) throw this.fail(inline, `must be a PEM ${what} ("-----BEGIN …")`);
      return v;
    }
    const path = this.pathOf(this.string(file!));
    let v: string;
    try {
      v = readBoundedText(path, MAX_PEM_BYTES, { regularFile: true });
    } catch (e) {
      throw this.fail(file!, `cannot read ${JSON.stringify(path)}: ${(e as Error).message}`);
    }
    if (!v.includes("-----BEGIN ")) throw this.fail(file!, `${JSON.stringify(path)} is not a PEM ${what} (no "-----BEGIN" line)`);
    return v;
  }

  private tlsVersion(e: Entry | undefined, def: TlsVersion): TlsVersion {
    if (!e) return def;
    const v = this.string(e);
    if (v in TLS_VERSIONS) return v as TlsVersion;
    if (v === "TLS10" || v === "TLS11") throw this.fail(e, `${v} is refused: kpulse serves TLS 1.2 and 1.3 only`);
    throw this.fail(e, `must be TLS12 or TLS13, got ${JSON.stringify(v)}`);
  }

  private httpServer(e: Entry, out: WebConfig): void {
    for (const x of this.entries(e.node, e.path)) {
      if (x.key === "http2") {
        if (this.bool(x)) throw this.fail(x, "true is not supported: kpulse serves HTTP/1.1 (set false or leave it out)");
      } else if (x.key === "headers") {
        for (const h of this.entries(x.node, x.path)) {
          if (!(h.key in HEADER_RULES)) throw this.unknown(h, Object.keys(HEADER_RULES));
          const v = this.string(h);
          const allowed = HEADER_RULES[h.key];
          if (allowed && v !== "" && !allowed.includes(v.toLowerCase())) throw this.fail(h, `must be ${allowed.join(" or ")}, got ${JSON.stringify(v)}`);
          if (/[\r\n\0]/.test(v)) throw this.fail(h, "must not contain line breaks");
          if (v !== "") out.headers[h.key] = v; // blank: unset, as exporter-toolkit
        }
      } else throw this.unknown(x, ["http2", "headers"]);
    }
  }

  private user(e: Entry): string {
    if (e.key === "" || e.key.includes(":")) throw this.fail(e, "a user name must be non-empty and without ':' (basic auth cannot carry it)");
    return e.key;
  }

  private bcryptHash(e: Entry): string {
    const v = this.string(e);
    const m = BCRYPT_HASH.exec(v);
    if (!m) throw this.fail(e, 'must be a bcrypt hash ("$2y$10$…", 60 characters, e.g. from `htpasswd -nBC 10 "" | tr -d \':\\n\'`)');
    const cost = Number(m[1]);
    if (cost < 4 || cost > MAX_BCRYPT_COST) throw this.fail(e, `has bcrypt cost ${cost}: must be 4 to ${MAX_BCRYPT_COST} (10 takes ~70 ms per check)`);
    return v;
  }

  private bearerToken(item: Entry): string {
    const fields = this.entries(item.node, item.path);
    const [f] = fields;
    if (fields.length !== 1 || (f!.key !== "token" && f!.key !== "token_file"))
      throw this.fail(item, "must be {token: <secret>} or {token_file: <filename>}");
    let token = this.string(f!);
    if (f!.key === "token_file") {
      try {
        token = readBoundedText(this.pathOf(token), MAX_TOKEN_FILE_BYTES, { regularFile: true }).replace(/\r?\n$/, "");
      } catch (e) {
        throw this.fail(f!, `cannot read ${JSON.stringify(token)}: ${(e as Error).message}`);
      }
    }
    if (token.length < MIN_TOKEN_LENGTH) throw this.fail(f!, `a bearer token must be at least ${MIN_TOKEN_LENGTH} characters (e.g. \`openssl rand -hex 32\`)`);
    if (!/^[\x21-\x7e]+$/.test(token)) throw this.fail(f!, "a bearer token must be printable ASCII without spaces");
    return token;
  }

  // ── YAML nodes ──────────────────────────────────────────────────────────────────────────

  private lineOf(node: YamlNode | null | undefined): number | undefined {
    const off = node?.range?.[0];
    return off === undefined ? undefined : this.lines.linePos(off).line;
  }

  /** A mapping's entries (null = empty); keys must be strings. */
  private entries(node: YamlNode | null, path: string): Entry[] {
    if (node === null || (isScalar(node) && node.value === null)) return [];
    if (!isMap(node)) throw this.fail({ key: path, path, node }, "must be a mapping (key: value)");
    return node.items.map((pair) => {
      const k = pair.key as YamlNode | null;
      const key = isScalar(k) ? String(k.value) : "";
      return { key, path: path ? `${path}.${key}` : key, node: pair.value as YamlNode | null, line: this.lineOf(k) };
    });
  }

  private items(e: Entry): Entry[] {
    if (e.node === null || (isScalar(e.node) && e.node.value === null)) return [];
    if (!isSeq(e.node)) throw this.fail(e, "must be a list");
    return e.node.items.map((n, i) => ({ key: e.key, path: `${e.path}[${i}]`, node: n as YamlNode, line: this.lineOf(n as YamlNode) }));
  }

  private string(e: Entry): string {
    if (!isScalar(e.node) || typeof e.node.value !== "string") throw this.fail(e, `must be a string, got ${this.describe(e.node)}`);
    return e.node.value;
  }

  private bool(e: Entry): boolean {
    if (!isScalar(e.node) || typeof e.node.value !== "boolean") throw this.fail(e, `must be true or false, got ${this.describe(e.node)}`);
    return e.node.value;
  }

  private describe(n: YamlNode | null): string {
    if (n === null) return "nothing";
    if (isMap(n)) return "a mapping";
    if (isSeq(n)) return "a list";
    if (isScalar(n)) return n.value === null ? "null" : typeof n.value === "string" ? "a string" : `${JSON.stringify(n.value)}`;
    return "an unexpected value";
  }

  private unknown(e: Entry, known: readonly string[]): WebConfigError {
    return this.fail(e, `unknown key (known here: ${known.join(", ")})`);
  }

  fail(e: Entry, message: string): WebConfigError {
    const line = e.line ?? this.lineOf(e.node);
    return new WebConfigError(`${this.file}${line ? `:${line}` : ""}: ${e.path}: ${message}`, this.file, e.path, line);
  }
}
