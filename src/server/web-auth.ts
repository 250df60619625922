// Who may call the HTTP API: basic auth against bcrypt hashes, or a bearer token (the web config,
// web-config.ts). bcrypt is slow by design (~70 ms at cost 10), so, as exporter-toolkit does,
// a successful check is cached (bounded, keyed by a digest of user and password: the password
// itself is not kept) and a scrape every few seconds costs one hash, not one bcrypt. Failed
// attempts are never cached; they wait for one of few bcrypt slots, and beyond a short queue
// are refused at once, so wrong passwords cannot take more than those slots' CPU.
import { createHash, timingSafeEqual } from "node:crypto";

/** bcrypt only reads 72 bytes; Bun pre-hashes longer passwords where Go refuses them: refuse too. */
const BCRYPT_MAX_PASSWORD_BYTES = 72;
/** Far above any real credentials; a longer header is refused without decoding it. */
const MAX_AUTHORIZATION_LENGTH = 4096;
/** Checked for unknown users, so timing does not tell which user names exist (cost 10, of a random password). */
const DUMMY_HASH = "$2b$10$I6KhXs7DX4WKJTlOiPa1xO8Dpy2k6s4HwkhnJsHZ4XS/FEXex7Ade";

export type AuthResult = "ok" | "denied" | "busy";

export interface AuthenticatorOptions {
  /** Successful basic-auth checks remembered (least recently used dropped first). */
  cacheSize?: number;
  /** bcrypt verifications running at once. */
  maxConcurrent?: number;
  /** Verifications allowed to wait for a slot; more get "busy". */
  maxQueued?: number;
}

export interface AuthStats {
  bcryptRuns: number;
  cacheHits: number;
  busy: number;
}

const sha256 = (s: string | Buffer) => createHash("sha256").update(s).digest();

/** Counting semaphore with a bounded wait queue. */
class Slots {
  private running = 0;
  private readonly waiting: (() => void)[] = [];
  constructor(
    private readonly max: number,
    private readonly maxQueued: number,
  ) {}

  /** Runs fn in a slot; undefined (without running it) when the queue is full. */
  async run<T>(fn: () => Promise<T>): Promise<T | undefined> {
    if (this.running >= this.max) {
      if (this.waiting.length >= this.maxQueued) return undefined;
      await new Promise<void>((resolve) => this.waiting.push(resolve));
    } else this.running++;
    try {
      return await fn();
    } finally {
      const next = this.waiting.shift();
      if (next) next(); // the slot passes on
      else this.running--;
    }
  }
}

export class Authenticator {
  private readonly tokenDigests: Buffer[];
  private readonly cache = new Map<string, true>();
  private readonly cacheSize: number;
  private readonly slots: Slots;
  readonly stats: AuthStats = { bcryptRuns: 0, cacheHits: 0, busy: 0 };

  constructor(
    private readonly users: ReadonlyMap<string, string>,
    tokens: readonly string[],
    opts: AuthenticatorOptions = {},
  ) {
    this.tokenDigests = tokens.map((t) => sha256(t));
    this.cacheSize = opts.cacheSize ?? 256;
    this.slots = new Slots(opts.maxConcurrent ?? 1, opts.maxQueued ?? 16);
  }

  /** Whether any credential is required. */
  get enabled(): boolean {
    return this.users.size > 0 || this.tokenDigests.length > 0;
  }

  /** The WWW-Authenticate challenges to send with a 401. */
  challenges(): string[] {
    const out: string[] = [];
    if (this.users.size > 0) out.push('Basic realm="kpulse", charset="UTF-8"');
    if (this.tokenDigests.length > 0) out.push('Bearer realm="kpulse"');
    return out;
  }

  async check(authorization: string | null | undefined): Promise<AuthResult> {
    if (!this.enabled) return "ok";
    if (!authorization || authorization.length > MAX_AUTHORIZATION_LENGTH) return "denied";
    const space = authorization.indexOf(" ");
    if (space < 0) return "denied";
    const scheme = authorization.slice(0, space).toLowerCase();
    const value = authorization.slice(space + 1).trim();
    if (scheme === "bearer") return this.checkToken(value) ? "ok" : "denied";
    if (scheme === "basic" && this.users.size > 0) return this.checkBasic(value);
    return "denied";
  }

  /** Constant time in the token: digests of equal length compared with timingSafeEqual, all of them. */
  private checkToken(token: string): boolean {
    const d = sha256(token);
    let ok = false;
    for (const t of this.tokenDigests) ok = timingSafeEqual(d, t) || ok;
    return ok;
  }

  private async checkBasic(b64: string): Promise<AuthResult> {
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(b64)) return "denied";
    const decoded = Buffer.from(b64, "base64").toString("utf8");
    const colon = decoded.indexOf(":");
    if (colon < 0) return "denied";
    const user = decoded.slice(0, colon);
    const password = decoded.slice(colon + 1);
    if (Buffer.byteLength(password) > BCRYPT_MAX_PASSWORD_BYTES) return "denied";
    const hash = this.users.get(user);
    const cacheKey = sha256(`${user}\0${password}\0${hash ?? ""}`).toString("hex");
    if (hash !== undefined && this.cache.has(cacheKey)) {
      this.cache.delete(cacheKey); // re-insert: most recently used last
      this.cache.set(cacheKey, true);
      this.stats.cacheHits++;
      return "ok";
    }
    const ok = await this.slots.run(async () => {
      this.stats.bcryptRuns++;
      const matched = await Bun.password.verify(password, hash ?? DUMMY_HASH).catch(() => false);
      return matched && hash !== undefined;
    });
    if (ok === undefined) {
      this.stats.busy++;
      return "busy";
    }
    if (!ok) return "denied";
    this.cache.set(cacheKey, true);
    if (this.cache.size > this.cacheSize) this.cache.delete(this.cache.keys().next().value!);
    return "ok";
  }
}
