// net_rx_latency and socketlatency on the real kernel. Two network namespaces this test creates,
// joined by a veth pair: a TCP server in one accepts with reading paused and only reads after
// SLOW_READ_MS, a client in the other sends at once. With 1 ms thresholds the data's age when it
// is copied to the server must be reported as a TO_USER_COPY net_rx_latency event (receive
// timestamps on; the same slow read in the host's namespace is filtered out in BPF) and as a
// SOCKETLAT_READSLOW socketlatency event with the read counters moving, all for this test's
// namespace (other tests run concurrently: everything is matched on our namespace's inode).
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createServer, connect } from "node:net";
import { join } from "node:path";
import { spawn, type Subprocess } from "bun";
import { sharedRingScheduler } from "../../src/bpf/ring-scheduler.ts";
import { sectionDefaults } from "../../src/config/spec.ts";
import { silentLogger } from "../../src/log.ts";
import { hostNetnsInum, NET_RX_LATENCY_CONFIG, netRxLatencyProbe } from "../../src/probes/net_rx_latency/index.ts";
import { SOCKET_LATENCY_CONFIG, socketLatencyProbe } from "../../src/probes/socketlatency/index.ts";
import type { ProbeEmission, ProbeInstance } from "../../src/probes/types.ts";
import { procfsRoot } from "../../src/procfs/root.ts";
import { kernelTestSkipReason, ROOT, waitFor } from "./agent.ts";
import { vethPair, type VethPair } from "./netns.ts";

const skip = kernelTestSkipReason();
const TAG = `kp-rx-${process.pid}`;
const SERVER = "198.51.100.1"; // TEST-NET-2, only inside our namespaces
const CLIENT = "198.51.100.2";
const PORT = 30000 + (process.pid % 20000);
const SLOW_READ_MS = 600;
const BUN = join(ROOT, "node_modules/.bin/bun");

function nsInum(pair: VethPair, ns: "a" | "b"): number {
  return Number(/\[(\d+)\]/.exec(pair.exec(ns, ["readlink", "/proc/self/ns/net"]))![1]);
}

// Server: reading paused on accept, resumed SLOW_READ_MS later; answers and closes.
const serverScript = `
const net = require("node:net");
const srv = net.createServer({ pauseOnConnect: true }, (s) => {
  s.on("error", () => {});
  setTimeout(() => s.resume(), ${SLOW_READ_MS});
  s.on("data", () => s.end("ok"));
});
srv.listen(${PORT}, "${SERVER}", () => console.log("listening"));
setTimeout(() => process.exit(0), 60000);
`;
// Client: one request, waits for the answer.
const clientScript = `
const s = require("node:net").connect({ port: ${PORT}, host: "${SERVER}" }, () => s.write("x".repeat(1000)));
s.on("data", () => { s.destroy(); process.exit(0); });
s.on("error", (e) => { console.error(String(e)); process.exit(1); });
setTimeout(() => process.exit(2), 20000);
`;

/** A loopback connection in this (the host's) namespace whose server reads `delayMs` late. */
async function slowLoopbackRead(delayMs: number): Promise<void> {
  const srv = createServer({ pauseOnConnect: true }, (s) => {
    setTimeout(() => s.resume(), delayMs);
    s.on("data", () => s.end("ok"));
    s.on("error", () => {});
  });
  await new Promise<void>((r) => srv.listen(0, "127.0.0.1", r));
  try {
    const port = (srv.address() as { port: number }).port;
    await new Promise<void>((resolve, reject) => {
      const c = connect({ port, host: "127.0.0.1" }, () => c.write("y".repeat(100)));
      c.on("data", () => (c.destroy(), resolve()));
      c.on("error", reject);
    });
  } finally {
    srv.close();
  }
}

function value(samples: { name: string; value: number; labels?: Record<string, string> }[], name: string, labels: Record<string, string>): number {
  return samples.find((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels?.[k] === v))?.value ?? 0;
}

describe.skipIf(!!skip)("receive-path latency (real kernel)", () => {
  let pair: VethPair;
  let server: Subprocess<"ignore", "pipe", "pipe">;
  const instances: ProbeInstance[] = [];
  const rx: ProbeEmission[] = [];
  const sock: ProbeEmission[] = [];

  beforeAll(async () => {
    pair = vethPair(TAG, `${SERVER}/24`, `${CLIENT}/24`);
    server = spawn(["ip", "netns", "exec", pair.a, BUN, "-e", serverScript], { stdout: "pipe", stderr: "pipe" });
    const reader = server.stdout.getReader();
    const { value: first } = await reader.read();
    reader.releaseLock();
    if (!new TextDecoder().decode(first).includes("listening")) throw new Error("server did not start");
  });
  afterAll(async () => {
    for (const i of instances) await i.stop();
    server?.kill();
    await server?.exited;
    pair?.remove();
    await sharedRingScheduler().close();
  });

  test("a paused reader gives TO_USER_COPY and SOCKETLAT_READSLOW events for our namespace, none for the host", async () => {
    const serverNs = nsInum(pair, "a");
    const hostNs = hostNetnsInum(procfsRoot(""));
    expect(serverNs).not.toBe(hostNs);

    const rxInst = await netRxLatencyProbe.create({
      config: { ...sectionDefaults(NET_RX_LATENCY_CONFIG, ""), Driver2NetRx: 1, Driver2TCP: 1, Driver2Userspace: 1, MaxEventsPerSecond: 0 },
      procfs: procfsRoot(""), log: silentLogger, emit: (e) => rx.push(e),
    });
    instances.push(rxInst);
    const sockInst = await socketLatencyProbe.create({
      config: { ...sectionDefaults(SOCKET_LATENCY_CONFIG, ""), ReadThreshold: 1, SendThreshold: 1, MaxEventsPerSecond: 0 },
      procfs: procfsRoot(""), log: silentLogger, emit: (e) => sock.push(e),
    });
    instances.push(sockInst);
    const readsBefore = value(await sockInst.collect!(), "read100ms", { netns: String(serverNs) });

    const began = Date.now();
    const client = spawn(["ip", "netns", "exec", pair.b, BUN, "-e", clientScript], { stdout: "ignore", stderr: "pipe" });
    expect(await client.exited).toBe(0);
    expect(Date.now() - began).toBeGreaterThanOrEqual(SLOW_READ_MS); // the server did wait

    const copy = await waitFor("a TO_USER_COPY event of our server", () =>
      rx.find((e) => e.data.where === "TO_USER_COPY" && e.data.netns_inum === serverNs && e.data.dport === PORT));
    const d = copy.data;
    expect(Object.keys(d).slice(0, 12)).toEqual(["comm", "pid", "where", "latency_ms", "state", "saddr", "daddr", "sport", "dport", "seq", "ack_seq", "pkt_len"]);
    expect(d).toMatchObject({ comm: "bun", pid: server.pid, state: "ESTABLISHED", saddr: CLIENT, daddr: SERVER, lat_thresholds: 1 });
    expect(d.latency_ms as number).toBeGreaterThanOrEqual(SLOW_READ_MS - 50); // data arrived right after the accept
    expect(d.latency_ms as number).toBeLessThan(10_000);
    expect(d.sport as number).toBeGreaterThan(0);
    expect(d.pkt_len as number).toBeGreaterThan(0);
    expect(d.pkt_len as number).toBeLessThanOrEqual(1000);
    expect(typeof d.seq).toBe("number");
    expect(d.netns_cookie as number).toBeGreaterThan(0);
    expect(copy.timeMs! / 1000).toBeCloseTo(Date.now() / 1000, -1);
    // the host namespace is excluded in BPF: the same slow read on loopback here is counted as
    // filtered and never arrives
    const filteredBefore = value(await rxInst.collect!(), "events_total", { outcome: "filtered" });
    await slowLoopbackRead(SLOW_READ_MS / 3);
    await waitFor("the host's slow read counted as filtered", async () =>
      value(await rxInst.collect!(), "events_total", { outcome: "filtered" }) > filteredBefore || undefined);
    expect(rx.filter((e) => e.data.netns_inum === hostNs)).toHaveLength(0);

    const slow = await waitFor("a SOCKETLAT_READSLOW event of our server", () =>
      sock.find((e) => e.data.type === "SOCKETLAT_READSLOW" && e.data.netns === serverNs && e.data.sport === PORT));
    expect(slow.data).toMatchObject({ protocol: "tcp", saddr: SERVER, daddr: CLIENT, pid: server.pid, comm: "bun" });
    expect(slow.data.latency_ns as number).toBeGreaterThanOrEqual((SLOW_READ_MS - 50) * 1e6);
    expect(slow.data.latency_ns as number).toBeLessThan(10e9);
    const samples = await sockInst.collect!();
    expect(value(samples, "read100ms", { netns: String(serverNs) })).toBeGreaterThan(readsBefore);
    expect(value(samples, "events_total", { outcome: "emitted" })).toBeGreaterThanOrEqual(1);
    expect(value(await rxInst.collect!(), "events_total", { outcome: "emitted" })).toBeGreaterThanOrEqual(1);
  });
});
