// A real Prometheus server (Debian's "prometheus" package) for tests: scrapes the given kpulse
// agents every second under job "kpulse", optionally evaluates rule files, and answers queries.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { waitFor } from "./agent.ts";

/** The path of a tool the Debian "prometheus" package installs, or a clear error. */
export function requireTool(name: string): string {
  const path = Bun.which(name);
  if (!path) throw new Error(`${name} not found: install the Debian package "prometheus" (make deps does)`);
  return path;
}

/** A TCP port nobody listens on right now (the kernel's choice). */
function freePort(): number {
  const s = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const port = s.port;
  s.stop(true);
  return port;
}

export interface PromResult {
  metric: Record<string, string>;
  value: [number, string];
}

export interface PrometheusServer {
  url: string;
  /** GET an API path; throws with Prometheus's error unless the status is "success". */
  api(path: string): Promise<any>;
  query(q: string): Promise<PromResult[]>;
  output(): string;
  stop(): Promise<void>;
}

export interface PrometheusOptions {
  /** host:port of each agent, scraped under job "kpulse". */
  targets: string[];
  /** Absolute paths of rule files to load and evaluate every second. */
  ruleFiles?: string[];
  /** A fixed listen port; without it a free one is picked (and retried if taken meanwhile). */
  port?: number;
}

/** Starts Prometheus and waits until it is ready and every target has been scraped once. */
export async function startPrometheus(opts: PrometheusOptions): Promise<PrometheusServer> {
  const dir = mkdtempSync(join(tmpdir(), "kpulse-prometheus-"));
  const config = join(dir, "prometheus.yml");
  writeFileSync(
    config,
    [
      "global:",
      "  scrape_interval: 1s",
      "  scrape_timeout: 1s",
      "  evaluation_interval: 1s",
      ...(opts.ruleFiles?.length ? ["rule_files:", ...opts.ruleFiles.map((f) => `  - ${JSON.stringify(f)}`)] : []),
      "scrape_configs:",
      "  - job_name: kpulse",
      "    static_configs:",
      `      - targets: ${JSON.stringify(opts.targets)}`,
      "",
    ].join("\n"),
  );
  const bin = requireTool("prometheus");
  let proc: ReturnType<typeof Bun.spawn> | undefined;
  let url = "";
  let out = "";
  const stop = async () => {
    if (proc && proc.exitCode === null) {
      proc.kill("SIGTERM");
      const code = await Promise.race([proc.exited, Bun.sleep(10_000).then(() => "timeout")]);
      if (code === "timeout") proc.kill("SIGKILL");
    }
    rmSync(dir, { recursive: true, force: true });
  };
  const api = async (path: string) => {
    const r = await fetch(`${url}${path}`);
    const body = (await r.json()) as { status: string; data: any; error?: string };
    if (body.status !== "success") throw new Error(`${path}: ${body.error ?? r.status}`);
    return body.data;
  };
  try {
    // A port free when chosen may be taken before Prometheus binds it: then it exits; try again.
    for (let attempt = 1; ; attempt++) {
      const port = opts.port ?? freePort();
      url = `http://127.0.0.1:${port}`;
      out = "";
      const p = Bun.spawn(
        [bin, `--config.file=${config}`, `--storage.tsdb.path=${join(dir, "data")}`, `--web.listen-address=127.0.0.1:${port}`, "--log.level=warn"],
        { cwd: dir, stdout: "pipe", stderr: "pipe" },
      );
      proc = p;
      void (async () => {
        for await (const chunk of p.stderr as ReadableStream<Uint8Array>) out += new TextDecoder().decode(chunk);
      })();
      try {
        await waitFor("Prometheus to be ready", async () => {
          if (p.exitCode !== null) throw new Error(`prometheus exited ${p.exitCode}:\n${out}`);
          return (await fetch(`${url}/-/ready`).catch(() => undefined))?.status === 200 || undefined;
        }, 30_000);
        break;
      } catch (err) {
        if (opts.port !== undefined || attempt >= 3 || p.exitCode === null) throw err;
      }
    }
    // The first scrape lands a few seconds after start even at 1 s.
    await waitFor("every kpulse target to be up", async () => {
      const t = (await api("/api/v1/targets")).activeTargets as { health: string }[];
      return t.length === opts.targets.length && t.every((x) => x.health === "up") ? true : undefined;
    }, 30_000, 200);
  } catch (err) {
    await stop();
    throw err;
  }
  return {
    url,
    api,
    query: async (q) => (await api(`/api/v1/query?query=${encodeURIComponent(q)}`)).result,
    output: () => out,
    stop,
  };
}
