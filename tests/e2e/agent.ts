// Test harness: runs a built kpulse binary as a child process and talks to it over HTTP.
import { spawn, type Subprocess } from "bun";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

export const ROOT = resolve(import.meta.dir, "../..");
export const KPULSE = join(ROOT, "build/kpulse");
export const KPULSE_TEST = join(ROOT, "build/kpulse-test");

export const isRoot = process.getuid?.() === 0;
export const inCI = process.env.CI === "true";

/** Kernel tests skip with a reason off-root, but never under CI=true (design.md §6). */
export function kernelTestSkipReason(): string | undefined {
  if (isRoot) return undefined;
  if (inCI) throw new Error("kernel tests must run as root under CI=true");
  return "needs root for BPF";
}

export async function waitFor<T>(what: string, fn: () => T | undefined | Promise<T | undefined>, timeoutMs = 10_000, everyMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined && v !== null && (v as unknown) !== false) return v as T;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await Bun.sleep(everyMs);
  }
}

export interface Agent {
  url: string;
  proc: Subprocess;
  dir: string;
  output(): string;
  metrics(): Promise<string>;
  stop(): Promise<number>;
}

export interface AgentOptions {
  binary?: string;
  /** TOML written to <dir>/kpulse.toml. */
  config: string;
  args?: string[];
  /** Prefix the command (e.g. unshare to set a hostname). */
  wrap?: string[];
  cwd?: string;
  dir?: string;
  region?: string;
}

/** Starts the agent on an ephemeral port and waits until /readyz answers 204. */
export async function startAgent(opts: AgentOptions): Promise<Agent> {
  const dir = opts.dir ?? mkdtempSync(join(tmpdir(), "kpulse-test-"));
  const ownDir = !opts.dir;
  const confPath = join(dir, "kpulse.toml");
  writeFileSync(confPath, opts.config);
  const cmd = [
    ...(opts.wrap ?? []),
    opts.binary ?? KPULSE,
    "--config", confPath, "--region", opts.region ?? "test", "--listen", "127.0.0.1:0",
    ...(opts.args ?? []),
  ];
  const proc = spawn(cmd, { cwd: opts.cwd ?? dir, stdout: "pipe", stderr: "pipe" });
  const output = captureOutput(proc);
  const port = await waitFor("the agent to listen", () => {
    if (proc.exitCode !== null) throw new Error(`agent exited ${proc.exitCode}:\n${output()}`);
    const m = /msg="serving".* port=(\d+)/.exec(output());
    return m ? Number(m[1]) : undefined;
  }, 30_000);
  const url = `http://127.0.0.1:${port}`;
  await waitFor("/readyz", async () => (await fetch(`${url}/readyz`).catch(() => undefined))?.status === 204 || undefined);
  return {
    url,
    proc,
    dir,
    output,
    metrics: async () => (await fetch(`${url}/metrics`)).text(),
    async stop() {
      const code = await stopChild(proc);
      if (ownDir) rmSync(dir, { recursive: true, force: true });
      return code;
    },
  };
}

/** Collects a child's stdout and stderr as they arrive; the function returns them so far. */
export function captureOutput(proc: { stdout: unknown; stderr: unknown }): () => string {
  let out = "";
  const drain = async (s: ReadableStream<Uint8Array>) => {
    const dec = new TextDecoder();
    for await (const chunk of s) out += dec.decode(chunk);
  };
  void drain(proc.stdout as ReadableStream<Uint8Array>);
  void drain(proc.stderr as ReadableStream<Uint8Array>);
  return () => out;
}

/** SIGTERM, then SIGKILL after 10 s; resolves with the exit code (-1 when it had to be killed). */
export async function stopChild(proc: Subprocess): Promise<number> {
  if (proc.exitCode === null) proc.kill("SIGTERM");
  const code = await Promise.race([proc.exited, Bun.sleep(10_000).then(() => -1)]);
  if (code === -1) proc.kill("SIGKILL");
  return code;
}

/** Value of the first series whose line starts with `prefix` (name plus the start of its labels). */
export function metricValue(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split("\n")) {
    if (!line.startsWith(name + "{") && !line.startsWith(name + " ")) continue;
    if (!Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`))) continue;
    return Number(line.slice(line.lastIndexOf(" ") + 1));
  }
  return undefined;
}
