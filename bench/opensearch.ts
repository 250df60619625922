// The OpenSearch sink: how fast events go into a real OpenSearch 2.19 node, how fast the spool
// takes them while the backend is away, and how fast it replays them when it is back. Prints
// figures; never passes or fails on time.
//
//  1. spool alone (no network): append (one fdatasync per 1 000-event batch) and read+commit rates
//  2. sustained: events published as fast as the sink drains them into a healthy node: events/s
//     sent, MB/s of documents, main-thread CPU per event, how many took the spool on the way
//  3. spool write: the same events with the backend unreachable: events/s onto disk
//  4. replay: a new sink on that spool with the node reachable: events/s out of the spool
//
// The node is started with tests/opensearch/run.sh (state under build/opensearch/bench) unless
// KPULSE_OS_URL names one. Run: ./node_modules/.bin/bun bench/opensearch.ts [events]
import { spawnSync } from "bun";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createEventBus, type EventBus } from "../src/events/bus.ts";
import { documentJson } from "../src/events/format.ts";
import type { EventRecord } from "../src/events/record.ts";
import { shapeRecord } from "../src/events/shape.ts";
import { silentLogger } from "../src/log.ts";
import { startOpenSearchSink, type OpenSearchSink } from "../src/storage/opensearch.ts";
import { Spool } from "../src/storage/spool.ts";

const N = Number(process.argv[2] ?? 200_000);
const HOST = { hostname: "bench-node-01", region: "bench-region" };
const STACK = ["kfree_skb_reason", "udp_queue_rcv_one_skb", "__udp4_lib_rcv", "ip_protocol_deliver_rcu", "ip_local_deliver_finish",
  "__netif_receive_skb_one_core", "process_backlog", "__napi_poll", "net_rx_action", "handle_softirqs"].map((f, i) => `${f}+0x${(26 + 7 * i).toString(16)}`).join("\n");

/** A dropwatch-shaped event (26 tracer_data fields, a stack), ~1.3 KB as a document. */
function event(i: number): EventRecord {
  return shapeRecord({
    tracerName: "dropwatch",
    data: {
      type: "common_drop", comm: "udp-flood", pid: 4000 + (i & 63), tid: 4000 + (i & 63), saddr: "127.0.0.1", daddr: "127.0.0.1",
      sport: 40000 + (i & 1023), dport: 9, protocol: "udp", src_hostname: "<nil>", dest_hostname: "<nil>", max_ack_backlog: 0,
      seq: 0, ack_seq: 0, pkt_len: 64 + (i & 255), sk_state: "", drop_reason: "SKB_DROP_REASON_NO_SOCKET",
      drop_location: "__udp4_lib_rcv+0x7f3", stack: STACK, netdev_queue_mapping: 0, netdev_linkstatus: ["linkStatusAdminUp", "linkStatusCarrierUp"],
      netdev_name: "lo", netdev_ifindex: 1, net_cookie: 4096, net_namespace_inum: 4026531840, seq_no: i,
    },
  }, HOST);
}

async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, "127.0.0.1", r));
  const port = (srv.address() as { port: number }).port;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

function node(cmd: "start" | "stop"): string {
  const r = spawnSync(["bash", "tests/opensearch/run.sh", cmd, "os"], {
    env: { ...process.env, KPULSE_OS_DIR: join(process.cwd(), "build/opensearch/bench"), KPULSE_OS_OWNER_PID: String(process.pid) },
    stdout: "pipe", stderr: "pipe",
  });
  if (r.exitCode !== 0) throw new Error(`run.sh ${cmd}: ${r.stderr.toString()}`);
  return r.stdout.toString().trim();
}

function sinkAt(bus: EventBus, url: string, spoolDir: string, index: string): OpenSearchSink {
  return startOpenSearchSink({
    bus, log: silentLogger, addresses: [url], username: "bench", password: "bench", index, tls: {},
    maxEvents: 1000, maxBytes: 5 * 1024 * 1024, flushIntervalMs: 1000, requestTimeoutMs: 30_000, retryMaxMs: 1000,
    queueSize: 8192, spoolDir, spoolMaxBytes: 4096 * 1024 * 1024, deadLetterMaxBytes: 100 * 1024 * 1024,
  });
}

async function until(cond: () => boolean, what: string, ms = 600_000) {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out: ${what}`);
    await Bun.sleep(5);
  }
}

/** Publish `recs` in bursts of 1000, never more than `inFlight` ahead of the sink (the bus would drop). */
async function publishAll(bus: EventBus, sink: OpenSearchSink, recs: EventRecord[], inFlight = 6000) {
  for (let i = 0; i < recs.length; i += 1000) {
    while (sink.stats().queued > inFlight) await Bun.sleep(1);
    for (let j = i; j < Math.min(i + 1000, recs.length); j++) bus.publish(recs[j]!);
    await Bun.sleep(0);
  }
}

const fmt = (n: number) => Math.round(n).toLocaleString("en-US");
const work = mkdtempSync(join(tmpdir(), "kpulse-bench-os-"));

try {
  const recs = Array.from({ length: N }, (_, i) => event(i));
  const docs = recs.map(documentJson);
  const mb = docs.reduce((a, d) => a + d.length + 1, 0) / 1e6;
  console.log(`${fmt(N)} dropwatch-shaped events, ${(mb / N * 1e6).toFixed(0)} bytes per document, ${mb.toFixed(1)} MB`);

  // 1. The spool alone.
  {
    const s = new Spool({ dir: join(work, "raw"), maxBytes: 4096 * 1024 * 1024 });
    let t0 = performance.now();
    for (let i = 0; i < docs.length; i += 1000) await s.append(docs.slice(i, i + 1000));
    const w = (performance.now() - t0) / 1000;
    t0 = performance.now();
    let n = 0;
    for (let b; (b = await s.read(1000, 5 * 1024 * 1024)); ) {
      n += b.lines.length;
      s.commit(b);
    }
    const r = (performance.now() - t0) / 1000;
    await s.close();
    console.log(`spool append (fdatasync per 1 000): ${fmt(N / w)} events/s, ${(mb / w).toFixed(0)} MB/s`);
    console.log(`spool read+commit:                  ${fmt(n / r)} events/s, ${(mb / r).toFixed(0)} MB/s`);
  }

  const url = process.env.KPULSE_OS_URL ?? node("start");
  console.log(`OpenSearch at ${url}`);

  // 2. Sustained into a healthy node.
  {
    const bus = createEventBus();
    const sink = sinkAt(bus, url, join(work, "sustained"), "bench-sustained");
    await until(() => sink.stats().up === 1, "the node answering");
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    await publishAll(bus, sink, recs);
    await until(() => sink.stats().sent >= N, "all sent");
    const sec = (performance.now() - t0) / 1000;
    const cpu = process.cpuUsage(cpu0);
    const s = sink.stats();
    await sink.close();
    console.log(`sustained into OpenSearch: ${fmt(N / sec)} events/s, ${(mb / sec).toFixed(1)} MB/s of documents, ` +
      `${((cpu.user + cpu.system) / N).toFixed(1)} µs main-thread CPU per event (${((cpu.user + cpu.system) / 1e6 / sec * 100).toFixed(0)} % of a core); ` +
      `retried ${s.retried}, dead-lettered ${s.dead_lettered}`);
  }

  // 3. Spool write with the backend away, 4. replay when it is back.
  {
    const dir = join(work, "outage");
    const bus = createEventBus();
    const down = sinkAt(bus, `http://127.0.0.1:${await freePort()}`, dir, "bench-replay");
    let t0 = performance.now();
    await publishAll(bus, down, recs);
    await until(() => down.stats().spool_events >= N, "all spooled");
    let sec = (performance.now() - t0) / 1000;
    console.log(`spool write, backend down: ${fmt(N / sec)} events/s, ${(mb / sec).toFixed(0)} MB/s`);
    await down.close();

    t0 = performance.now();
    const back = sinkAt(createEventBus(), url, dir, "bench-replay");
    await until(() => back.stats().spool_events === 0 && back.stats().sent >= N, "replayed");
    sec = (performance.now() - t0) / 1000;
    console.log(`replay from the spool:     ${fmt(N / sec)} events/s, ${(mb / sec).toFixed(1)} MB/s`);
    await back.close();
  }
} finally {
  if (!process.env.KPULSE_OS_URL) node("stop");
  rmSync(work, { recursive: true, force: true });
}
