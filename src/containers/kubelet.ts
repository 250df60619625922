// The kubelet client: GET /pods on the read-only port, else on the authenticated port with the
// client certificate, and the cgroup driver from /configz or the kubelet's config file. The
// kubelet is outside input: every request has a time limit and a body size limit.
import { readFileSync } from "node:fs";
import type { CgroupDriver } from "./pods.ts";

export interface KubeletOptions {
  host: string;
  /** 0 = not used. */
  readOnlyPort: number;
  authorizedPort: number;
  /** "cert,key" or one PEM holding both; "" = no client certificate. */
  clientCertPath: string;
  /** PEM bundle to verify the kubelet's serving certificate; "" = not verified (HUATUO's behaviour). */
  caBundle: string;
  insecure: boolean;
  timeoutMs: number;
  maxBodyBytes: number;
}

// A node runs at most a few hundred pods: their list is a few MiB; 16 MiB leaves room and bounds memory.
export const KUBELET_DEFAULTS = { host: "127.0.0.1", timeoutMs: 5000, maxBodyBytes: 16 << 20 };

/** A failed request, with the URL; `refused` when nothing listens (the kubelet is not up yet). */
export class KubeletError extends Error {
  override name = "KubeletError";
  constructor(message: string, readonly refused: boolean) {
    super(message);
  }
}

/** Reads a response body up to a limit; a larger body is an error, not a truncation. */
async function boundedText(res: Response, limit: number, url: string): Promise<string> {
  const reader = res.body?.getReader();
  if (!reader) return "";
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > limit) {
      await reader.cancel();
      throw new KubeletError(`${url}: answer larger than ${limit} bytes`, false);
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks).toString("utf8");
}

function clientTls(o: KubeletOptions): Record<string, unknown> {
  const tls: Record<string, unknown> = { rejectUnauthorized: !o.insecure && o.caBundle !== "" };
  if (o.caBundle) tls.ca = readFileSync(o.caBundle, "utf8");
  if (o.clientCertPath) {
    const [cert, key] = o.clientCertPath.split(",").map((s) => s.trim());
    const certPem = readFileSync(cert!, "utf8");
    tls.cert = certPem;
    tls.key = key ? readFileSync(key, "utf8") : certPem;
  }
  return tls;
}

export class KubeletClient {
  private tls: Record<string, unknown> | undefined;

  constructor(private readonly o: KubeletOptions) {}

  /** True when at least one port is configured. */
  get enabled(): boolean {
    return this.o.readOnlyPort > 0 || this.o.authorizedPort > 0;
  }

  /** True when the authenticated port's serving certificate is not checked (warn about it once). */
  get unverified(): boolean {
    return this.o.authorizedPort > 0 && (this.o.insecure || this.o.caBundle === "");
  }

  private async get(url: string, secure: boolean): Promise<unknown> {
    const init: RequestInit & { tls?: Record<string, unknown> } = { signal: AbortSignal.timeout(this.o.timeoutMs) };
    if (secure) init.tls = this.tls ??= clientTls(this.o);
    let res: Response;
    let text: string;
    try {
      res = await fetch(url, init);
      text = await boundedText(res, this.o.maxBodyBytes, url);
    } catch (err) {
      if (err instanceof KubeletError) throw err;
      const code = (err as { code?: string }).code ?? "";
      const msg = err instanceof Error ? err.message : String(err);
      throw new KubeletError(`${url}: ${msg}`, code === "ConnectionRefused" || code === "ECONNREFUSED" || /refused/i.test(msg));
    }
    if (!res.ok) throw new KubeletError(`${url}: HTTP ${res.status}`, false);
    try {
      return JSON.parse(text);
    } catch (err) {
      throw new KubeletError(`${url}: not JSON (${(err as Error).message})`, false);
    }
  }

  /** The pod list, from the read-only port, else the authenticated one. Throws what each port said. */
  async pods(): Promise<unknown> {
    const errors: KubeletError[] = [];
    const tries: [number, string, boolean][] = [
      [this.o.readOnlyPort, `http://${this.o.host}:${this.o.readOnlyPort}/pods`, false],
      [this.o.authorizedPort, `https://${this.o.host}:${this.o.authorizedPort}/pods`, true],
    ];
    for (const [port, url, secure] of tries) {
      if (port <= 0) continue;
      try {
        return await this.get(url, secure);
      } catch (err) {
        errors.push(err instanceof KubeletError ? err : new KubeletError(`${url}: ${String(err)}`, false));
      }
    }
    if (errors.length === 0) throw new KubeletError("no kubelet port configured", false);
    throw errors.length === 1 ? errors[0] : new KubeletError(errors.map((e) => e.message).join("; "), errors.every((e) => e.refused));
  }

  /** The cgroup driver from /configz on the authenticated port; undefined when it cannot say. */
  async configzDriver(): Promise<CgroupDriver | undefined> {
    if (this.o.authorizedPort <= 0) return undefined;
    try {
      const doc = (await this.get(`https://${this.o.host}:${this.o.authorizedPort}/configz`, true)) as { kubeletconfig?: { cgroupDriver?: unknown } };
      return driverName(doc?.kubeletconfig?.cgroupDriver);
    } catch {
      return undefined;
    }
  }
}

export function driverName(v: unknown): CgroupDriver | undefined {
  return v === "systemd" || v === "cgroupfs" ? v : undefined;
}

/** The kubelet config files HUATUO reads for `cgroupDriver`, in order. */
export const KUBELET_CONFIG_FILES = [
  "/var/lib/kubelet/config.yaml",
  "/var/lib/kubelet/ack-managed-config.yaml",
  "/etc/kubernetes/kubelet/config.json",
  "/host/etc/kubernetes/kubelet/config.json",
];

/** `cgroupDriver` of a kubelet config file (YAML or JSON; a line match is enough for this one key). */
export function driverFromConfigText(text: string): CgroupDriver | undefined {
  const m = /(?:^|[{,\s])"?cgroupDriver"?\s*:\s*"?([a-z]+)"?/m.exec(text.slice(0, 1 << 20));
  return driverName(m?.[1]);
}
