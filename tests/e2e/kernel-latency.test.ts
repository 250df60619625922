// kernellatency and socketlatency's send side on the real kernel, in two network namespaces
// this test creates, joined by a veth pair.
// - Transmit: a tbf qdisc with a tiny rate on the client's veth end holds its packets. A 256 KiB
//   upload must give TXKERNEL_SLOW events whose time sits in the qdisc (device queue → driver),
//   move txslow / txslow100ms for the client's namespace, and, since the data waits in the
//   socket behind the queue, give a SOCKETLAT_SENDSLOW event for the client's write.
// - Receive: a reader that copies megabytes per recv() holds the socket while segments keep
//   arriving; those wait in the socket backlog before TCP processes them, so with a 1 ms
//   threshold RXKERNEL_SLOW events and rxslow must appear for the server's namespace.
// Everything is matched on our namespaces' inode numbers (other tests run concurrently).
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { spawn, type Subprocess } from "bun";
import { sharedRingScheduler } from "../../src/bpf/ring-scheduler.ts";
import { sectionDefaults } from "../../src/config/spec.ts";
import { silentLogger } from "../../src/log.ts";
import type { Sample } from "../../src/metrics/sample.ts";
import { KERNEL_LATENCY_CONFIG, kernelLatencyProbe } from "../../src/probes/kernellatency/index.ts";
import { SOCKET_LATENCY_CONFIG, socketLatencyProbe } from "../../src/probes/socketlatency/index.ts";
import type { ProbeEmission, ProbeInstance } from "../../src/probes/types.ts";
import { procfsRoot } from "../../src/procfs/root.ts";
import { kernelTestSkipReason, ROOT, waitFor } from "./agent.ts";
import { vethPair, type VethPair } from "./netns.ts";

const skip = kernelTestSkipReason();
const TAG = `kp-kl-${process.pid}`;
const SERVER = "203.0.113.1"; // TEST-NET-3, only inside our namespaces
const CLIENT = "203.0.113.2";
const TX_PORT = 30000 + (process.pid % 20000);
const RX_PORT = TX_PORT + 1;
const BUN = join(ROOT, "node_modules/.bin/bun");

function nsInum(pair: VethPair, ns: "a" | "b"): number {
  return Number(/\[(\d+)\]/.exec(pair.exec(ns, ["readlink", "/proc/self/ns/net"]))![1]);
}

function value(samples: Sample[], name: string, netns: number): number {
  return samples.find((s) => s.name === name && s.labels?.netns === String(netns))?.value ?? 0;
}

// Reads and discards; exits when the peer closes.
const sinkScript = `
require("node:net").createServer((s) => { s.on("data", () => {}); s.on("end", () => process.exit(0)); s.on("error", () => process.exit(0)); })
  .listen(${TX_PORT}, "${SERVER}", () => console.log("listening"));
setTimeout(() => process.exit(0), 60000);
`;
// Uploads 256 KiB and closes.
const uploadScript = `
const s = require("node:net").connect({ port: ${TX_PORT}, host: "${SERVER}" }, () => s.end(Buffer.alloc(256 * 1024, 1)));
s.on("close", () => process.exit(0));
s.on("error", (e) => { console.error(String(e)); process.exit(1); });
setTimeout(() => process.exit(2), 30000);
`;
// A blocking reader copying up to 8 MiB per recv() (libc through bun:ffi: node's sockets read
// 64 KiB at a time, too little to keep the socket owned while segments arrive).
const bigReaderScript = `
const { dlopen, FFIType: T, ptr } = require("bun:ffi");
const c = dlopen("libc.so.6", {
  socket: { args: [T.i32, T.i32, T.i32], returns: T.i32 },
  setsockopt: { args: [T.i32, T.i32, T.i32, T.ptr, T.u32], returns: T.i32 },
  bind: { args: [T.i32, T.ptr, T.u32], returns: T.i32 },
  listen: { args: [T.i32, T.i32], returns: T.i32 },
  accept: { args: [T.i32, T.ptr, T.ptr], returns: T.i32 },
  recv: { args: [T.i32, T.ptr, T.u64, T.i32], returns: T.i64_fast },
}).symbols;
const fd = c.socket(2, 1, 0);
c.setsockopt(fd, 1, 2, ptr(new Int32Array([1])), 4);
const sa = new Uint8Array(16), dv = new DataView(sa.buffer);
dv.setUint16(0, 2, true); dv.setUint16(2, ${RX_PORT}, false); sa.set([${SERVER.split(".").join(",")}], 4);
if (c.bind(fd, ptr(sa), 16) < 0 || c.listen(fd, 8) < 0) { console.log("bind failed"); process.exit(1); }
console.log("listening");
const conn = c.accept(fd, null, null);
// A deep receive queue (SO_RCVBUFFORCE, root) and big reads: each read copies many MiB while
// holding the socket, and segments arriving meanwhile wait in its backlog for milliseconds.
c.setsockopt(conn, 1, 33, ptr(new Int32Array([64 << 20])), 4);
const buf = new Uint8Array(32 << 20);
while (c.recv(conn, ptr(buf), buf.length, 0) > 0) {}
`;
// Streams until killed.
const streamScript = `
const s = require("node:net").connect({ port: ${RX_PORT}, host: "${SERVER}" }, () => {
  const b = Buffer.alloc(1 << 20, 2);
  const more = () => { while (s.write(b)) {} };
  s.on("drain", more);
  more();
});
s.on("error", () => process.exit(0));
setTimeout(() => process.exit(0), 60000);
`;

describe.skipIf(!!skip)("kernel and socket latency (real kernel)", () => {
  let pair: VethPair;
  const procs: Subprocess[] = [];
  const instances: ProbeInstance[] = [];
  let klatInst: ProbeInstance;
  let sockInst: ProbeInstance;
  const klat: ProbeEmission[] = [];
  const sock: ProbeEmission[] = [];

  async function startListening(ns: string, script: string): Promise<Subprocess<"ignore", "pipe", "pipe">> {
    const p = spawn(["ip", "netns", "exec", ns, BUN, "-e", script], { stdout: "pipe", stderr: "pipe" });
    procs.push(p);
    const reader = p.stdout.getReader();
    const { value: first } = await reader.read();
    reader.releaseLock();
    if (!new TextDecoder().decode(first).includes("listening")) throw new Error(`server did not start: ${await new Response(p.stderr).text()}`);
    return p;
  }

  beforeAll(async () => {
    pair = vethPair(TAG, `${SERVER}/24`, `${CLIENT}/24`);
    klatInst = await kernelLatencyProbe.create({
      config: { ...sectionDefaults(KERNEL_LATENCY_CONFIG, ""), RxThreshold: 1, TxThreshold: 1, MaxEventsPerSecond: 0 },
      procfs: procfsRoot(""), log: silentLogger, emit: (e) => klat.push(e),
    });
    instances.push(klatInst);
    sockInst = await socketLatencyProbe.create({
      config: { ...sectionDefaults(SOCKET_LATENCY_CONFIG, ""), ReadThreshold: 1, SendThreshold: 1, MaxEventsPerSecond: 0 },
      procfs: procfsRoot(""), log: silentLogger, emit: (e) => sock.push(e),
    });
    instances.push(sockInst);
  });
  afterAll(async () => {
    for (const p of procs) p.kill();
    await Promise.all(procs.map((p) => p.exited));
    for (const i of instances) await i.stop();
    pair?.remove(); // the qdisc goes with the namespace
    await sharedRingScheduler().close();
  });

  test("tbf on the sender's device: TXKERNEL_SLOW in the qdisc, txslow counters, SOCKETLAT_SENDSLOW", async () => {
    const clientNs = nsInum(pair, "b");
    // 1 Mbit/s; a 100 KiB bucket keeps TSO packets whole (no re-segmentation in tbf); up to 400 ms queued
    pair.exec("b", ["tc", "qdisc", "add", "dev", "vb", "root", "tbf", "rate", "1mbit", "burst", "100kb", "latency", "400ms"]);
    try {
      await startListening(pair.a, sinkScript);
      const client = spawn(["ip", "netns", "exec", pair.b, BUN, "-e", uploadScript], { stdout: "ignore", stderr: "pipe" });
      procs.push(client);

      const isOurs = (e: ProbeEmission) => e.data.type === "TXKERNEL_SLOW" && e.data.netns === clientNs && e.data.dport === TX_PORT;
      const tx = await waitFor("a TXKERNEL_SLOW event queued in the qdisc", () =>
        klat.find((e) => isOurs(e) && (e.data.queue_to_xmit_ns as number | null) !== null && (e.data.queue_to_xmit_ns as number) > 50e6), 20_000);
      expect(tx.data).toMatchObject({ protocol: "tcp", saddr: CLIENT, daddr: SERVER, netdev: "vb" });
      const d = tx.data as Record<string, number>;
      expect(d.latency_ns).toBeLessThan(10e9);
      expect(d.send_to_queue_ns).toBeGreaterThan(0);
      expect(d.send_to_queue_ns + d.queue_to_xmit_ns).toBe(d.latency_ns); // TCP's stamp → queue → driver
      expect(d.queue_to_xmit_ns).toBeGreaterThan(d.send_to_queue_ns); // the time is in the qdisc
      expect(Object.keys(tx.data).slice(0, 7)).toEqual(["type", "protocol", "saddr", "sport", "daddr", "dport", "latency_ns"]);

      await waitFor("txslow100ms for the client's namespace", async () => value(await klatInst.collect!(), "txslow100ms", clientNs) > 0 || undefined, 20_000);
      const reported = klat.filter(isOurs).length; // counted in BPF before each is sent: never behind
      const samples = await klatInst.collect!();
      expect(value(samples, "txslow", clientNs)).toBeGreaterThanOrEqual(value(samples, "txslow100ms", clientNs));
      expect(value(samples, "txslow", clientNs)).toBeGreaterThanOrEqual(reported);
      expect(samples.find((s) => s.name === "events_total" && s.labels?.outcome === "emitted")!.value).toBeGreaterThanOrEqual(1);

      const slow = await waitFor("a SOCKETLAT_SENDSLOW event of the upload", () =>
        sock.find((e) => e.data.type === "SOCKETLAT_SENDSLOW" && e.data.netns === clientNs && e.data.dport === TX_PORT), 20_000);
      expect(slow.data).toMatchObject({ protocol: "tcp", saddr: CLIENT, daddr: SERVER, comm: "bun", pid: client.pid });
      expect(slow.data.latency_ns as number).toBeGreaterThan(1e6);
      expect(slow.data.latency_ns as number).toBeLessThan(30e9);
      const socks = await sockInst.collect!();
      expect(value(socks, "write1ms", clientNs) + value(socks, "write100ms", clientNs)).toBeGreaterThanOrEqual(1);
      expect(await client.exited).toBe(0);
    } finally {
      pair.exec("b", ["tc", "qdisc", "del", "dev", "vb", "root"]);
    }
  });

  test("segments waiting in the socket backlog: RXKERNEL_SLOW and rxslow for the reader's namespace", async () => {
    const serverNs = nsInum(pair, "a");
    const before = value(await klatInst.collect!(), "rxslow", serverNs);
    await startListening(pair.a, bigReaderScript);
    procs.push(spawn(["ip", "netns", "exec", pair.b, BUN, "-e", streamScript], { stdout: "ignore", stderr: "ignore" }));

    const rx = await waitFor("an RXKERNEL_SLOW event of the stream", () =>
      klat.find((e) => e.data.type === "RXKERNEL_SLOW" && e.data.netns === serverNs && e.data.dport === RX_PORT), 30_000);
    expect(rx.data).toMatchObject({ protocol: "tcp", saddr: CLIENT, daddr: SERVER });
    expect(rx.data.latency_ns as number).toBeGreaterThan(1e6);
    expect(rx.data.latency_ns as number).toBeLessThan(10e9);
    expect(rx.data.netif_to_tcp_ns).toBe(rx.data.latency_ns);
    expect("netdev" in rx.data).toBe(false);
    expect(value(await klatInst.collect!(), "rxslow", serverNs)).toBeGreaterThan(before);
  });
});
