// Helpers for the storage tests: real OpenSearch / Elasticsearch nodes through
// tests/opensearch/run.sh, a network namespace of our own that produces real dropwatch events,
// and reading documents back from an index.
import { spawn, spawnSync } from "bun";
import { existsSync, readFileSync, statSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";
import { ROOT } from "../e2e/agent.ts";

const RUN = join(ROOT, "tests/opensearch/run.sh");
export const UDP_FLOOD = join(ROOT, "build/tools/udp-flood");

/** A TCP port free a moment ago on 127.0.0.1. */
export async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, "127.0.0.1", r));
  const port = (srv.address() as { port: number }).port;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

async function run(args: string[], env: Record<string, string>): Promise<string> {
  const p = spawn(["bash", RUN, ...args], {
    env: { ...process.env, KPULSE_OS_OWNER_PID: String(process.pid), ...env },
    stdout: "pipe",
    stderr: "pipe",
  });
  const [out, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  if (code !== 0) throw new Error(`run.sh ${args.join(" ")} exited ${code}: ${err}${out}`);
  return out.trim();
}

/**
 * One node (OpenSearch 2.19.1 "os" or Elasticsearch 7.10.2 OSS "es7") with a state directory
 * of its own and a port chosen before it starts, so an agent can be pointed at it while it is
 * still down. The node exits with this test process at the latest.
 */
export class Node {
  readonly url: string;
  constructor(
    readonly flavor: "os" | "es7",
    readonly dir: string,
    readonly port: number,
  ) {
    this.url = `http://127.0.0.1:${port}`;
  }
  private env() {
    return { KPULSE_OS_DIR: this.dir, KPULSE_OS_HTTP_PORT: String(this.port) };
  }
  /** Resolve the jars (cached under build/opensearch/classpath). */
  classpath(): Promise<string> {
    return run(["classpath", this.flavor], this.env());
  }
  /** Start (or find running) and wait until the cluster is yellow. */
  async start(): Promise<void> {
    await run(["start", this.flavor], this.env());
  }
  stop(): Promise<string> {
    return run(["stop", this.flavor], this.env());
  }
  /** SIGKILL, as a crash. `start()` again recovers the indices. */
  kill(): Promise<string> {
    return run(["kill", this.flavor], this.env());
  }
}

export async function es(url: string, method: string, path: string, body?: unknown): Promise<any> {
  const res = await fetch(url + path, {
    method,
    headers: body === undefined ? {} : { "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  if (!res.ok && res.status !== 404) throw new Error(`${method} ${path}: ${res.status} ${text.slice(0, 500)}`);
  return text ? JSON.parse(text) : {};
}

export interface StoredDoc {
  _id: string;
  _seq_no: number;
  _version: number;
  tracer_id: string;
  tracer_time: string;
  inum?: number;
  dport?: number;
}

/** Every document of an index (scroll), with the fields the tests compare. */
export async function allDocs(url: string, index: string): Promise<StoredDoc[]> {
  // After a node restart the index's shards recover first: wait for them, not for luck.
  await es(url, "GET", `/_cluster/health/${index}?wait_for_status=yellow&timeout=60s`);
  await es(url, "POST", `/${index}/_refresh`);
  const out: StoredDoc[] = [];
  let page = await es(url, "POST", `/${index}/_search?scroll=1m`, {
    size: 5000,
    seq_no_primary_term: true,
    version: true,
    _source: ["tracer_id", "tracer_time", "tracer_data.net_namespace_inum", "tracer_data.dport"],
    sort: ["_doc"],
  });
  for (;;) {
    const hits = page.hits?.hits ?? [];
    for (const h of hits) {
      out.push({
        _id: h._id, _seq_no: h._seq_no, _version: h._version,
        tracer_id: h._source.tracer_id, tracer_time: h._source.tracer_time,
        inum: h._source.tracer_data?.net_namespace_inum, dport: h._source.tracer_data?.dport,
      });
    }
    if (hits.length === 0 || !page._scroll_id) break;
    page = await es(url, "POST", "/_search/scroll", { scroll: "1m", scroll_id: page._scroll_id });
  }
  return out;
}

function sh(cmd: string[]): string {
  const r = spawnSync(cmd, { stdout: "pipe", stderr: "pipe" });
  if (r.exitCode !== 0) throw new Error(`${cmd.join(" ")} failed (${r.exitCode}): ${r.stderr.toString().trim()}`);
  return r.stdout.toString();
}

/**
 * A network namespace of our own with loopback up: UDP sent inside it to a port nobody
 * listens on is dropped by the kernel (NO_SOCKET), and the dropwatch event carries the
 * namespace's inode, so events of other tests running on the machine are told apart.
 */
export class DropSource {
  readonly inum: number;
  constructor(readonly name: string) {
    spawnSync(["ip", "netns", "del", name], { stderr: "pipe" });
    sh(["ip", "netns", "add", name]);
    try {
      sh(["ip", "netns", "exec", name, "ip", "link", "set", "lo", "up"]);
      this.inum = statSync(`/run/netns/${name}`).ino;
    } catch (e) {
      this.remove();
      throw e;
    }
  }
  /** `count` datagrams to 127.0.0.1:port inside the namespace. */
  async send(port: number, count: number): Promise<void> {
    const p = spawn(["ip", "netns", "exec", this.name, UDP_FLOOD, String(port), String(count)], { stdout: "pipe", stderr: "pipe" });
    const [err, code] = await Promise.all([new Response(p.stderr).text(), p.exited]);
    if (code !== 0) throw new Error(`udp-flood in ${this.name} exited ${code}: ${err}`);
  }
  /** `total` datagrams in chunks, spread over about `ms` milliseconds. */
  async paced(port: number, total: number, chunk: number, ms: number): Promise<void> {
    const chunks = Math.ceil(total / chunk);
    const t0 = Date.now();
    for (let i = 0; i < chunks; i++) {
      await this.send(port, Math.min(chunk, total - i * chunk));
      const due = t0 + ((i + 1) * ms) / chunks;
      if (due > Date.now()) await Bun.sleep(due - Date.now());
    }
  }
  remove(): void {
    spawnSync(["ip", "netns", "del", this.name], { stderr: "pipe" });
  }
}

/** tracer_ids of our drops in an agent's local dropwatch file, in file order. */
export function localIds(agentDir: string, inum: number, dport: number): string[] {
  const file = join(agentDir, "local", "dropwatch");
  if (!existsSync(file)) return [];
  const ids: string[] = [];
  for (const line of readFileSync(file, "utf8").split("\n")) {
    if (!line) continue;
    const d = JSON.parse(line);
    if (d.tracer_data?.net_namespace_inum === inum && d.tracer_data?.dport === dport) ids.push(d.tracer_id);
  }
  return ids;
}

/** The TOML of an agent storing to `address`/`index`, with fast retries and every drop an event. */
export function agentConfig(address: string, index: string, extra = ""): string {
  return `
[Storage.LocalFile]
Path = "local"
[Storage.ES]
Address = "${address}"
Username = "kpulse"
Password = "secret"
Index = "${index}"
[Storage.ES.Bulk]
FlushIntervalMs = 200
RetryMaxMs = 1000
RequestTimeoutMs = 5000
[EventTracing.Dropwatch]
MaxEventsPerSecond = 0
${extra}`;
}
