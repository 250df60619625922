// The netlink metric probes on the real kernel. netdev (EnableNetlink) and netdev_qdisc run in a
// network namespace of our own: a veth pair between two namespaces, a tbf root qdisc on the veth
// end in namespace a, and a procfs root whose proc/1 is a process in that namespace (so "the
// host" is namespace a; the machine's own devices and qdiscs are never touched). netdev_dcb asks
// this machine's devices, none of which has DCB. tcpsummary counts loopback connections we open.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { spawn, type Subprocess } from "bun";
import { mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { connect, createServer, type Server, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { sectionDefaults } from "../../src/config/spec.ts";
import { silentLogger } from "../../src/log.ts";
import type { Sample } from "../../src/metrics/sample.ts";
import { netdevProbe } from "../../src/probes/netdev/index.ts";
import { NETDEV_STATS } from "../../src/probes/netdev/parse.ts";
import { netdevDcbProbe } from "../../src/probes/netdev_dcb/index.ts";
import { netdevQdiscProbe } from "../../src/probes/netdev_qdisc/index.ts";
import { tcpsummaryProbe } from "../../src/probes/tcpsummary/index.ts";
import { ProbeUnsupportedError, type ProbeDefinition, type ProbeInstance } from "../../src/probes/types.ts";
import { procfsRoot } from "../../src/procfs/root.ts";
import { kernelTestSkipReason, waitFor } from "./agent.ts";
import { vethPair, type VethPair } from "./netns.ts";

const skip = kernelTestSkipReason();
/** TEST-NET-1 address on the veth link that no namespace owns. */
const SILENT_PEER = "192.0.2.99";

async function create<C>(def: ProbeDefinition<C>, prefix: string, overrides: Partial<C> = {}): Promise<ProbeInstance> {
  const config = { ...(def.config ? sectionDefaults(def.config, "") : ({} as C)), ...overrides };
  return def.create({ config, procfs: procfsRoot(prefix), log: silentLogger, emit() {} });
}

/** name{device} → value for one device (or every series when device is undefined). */
function valuesOf(samples: Sample[], device?: string): Map<string, number> {
  return new Map(samples.filter((s) => device === undefined || s.labels?.device === device).map((s) => [s.name, s.value]));
}
const devicesOf = (samples: Sample[]) => [...new Set(samples.map((s) => s.labels?.device))].sort();

/** A procfs root whose proc/1 is /proc/<pid>: the probes take that process's namespace as the host's. */
function rootFor(pid: number): string {
  const root = mkdtempSync(join(tmpdir(), "kpulse-netlink-"));
  mkdirSync(join(root, "proc"));
  symlinkSync(`/proc/${pid}`, join(root, "proc", "1"));
  return root;
}

describe.skipIf(!!skip)("netdev (EnableNetlink) and netdev_qdisc in a namespace of our own", () => {
  let pair: VethPair;
  let holder: Subprocess;
  let root: string;

  /**
   * `count` UDP datagrams of 1000 bytes from namespace a out through va's qdisc, to an address
   * with a static neighbour entry nobody owns: b drops them (not its MAC) without an ICMP error,
   * which a runtime UDP socket would report as a failed send.
   */
  async function sendFromA(count: number): Promise<void> {
    const script = `const s=require("node:dgram").createSocket("udp4");const b=Buffer.alloc(1000,7);` +
      `for(let i=0;i<${count};i++)await new Promise((r,j)=>s.send(b,9,"${SILENT_PEER}",(e)=>e?j(e):r()));s.close();`;
    const p = spawn(["ip", "netns", "exec", pair.a, process.execPath, "-e", script], { stdout: "pipe", stderr: "pipe" });
    const code = await p.exited;
    if (code !== 0) throw new Error(`sender exited ${code}: ${await new Response(p.stderr).text()}`);
  }

  beforeAll(async () => {
    pair = vethPair(`kpnl${process.pid}`, "192.0.2.1/24", "192.0.2.2/24");
    pair.exec("a", ["tc", "qdisc", "add", "dev", "va", "root", "tbf", "rate", "100mbit", "burst", "64kb", "latency", "100ms"]);
    pair.exec("a", ["ip", "neigh", "add", SILENT_PEER, "lladdr", "02:00:00:00:00:99", "dev", "va", "nud", "permanent"]);
    // A process living in namespace a stands in for the host's pid 1.
    holder = spawn(["ip", "netns", "exec", pair.a, "sleep", "300"], { stdout: "ignore", stderr: "ignore" });
    const target = statSync(`/run/netns/${pair.a}`).ino;
    await waitFor("the holder process to enter namespace a", () => {
      try {
        return statSync(`/proc/${holder.pid}/ns/net`).ino === target || undefined;
      } catch {
        return undefined;
      }
    }, 5000);
    root = rootFor(holder.pid);
  });

  afterAll(() => {
    holder?.kill();
    pair?.remove();
    if (root) rmSync(root, { recursive: true, force: true });
  });

  test("netdev_qdisc: va's tbf root qdisc counts what we send; noqueue devices skipped", async () => {
    const probe = await create(netdevQdiscProbe, root);
    const scrape = async () => (await probe.collect!()) as Sample[];
    const first = await scrape();
    // Namespace a has lo (noqueue: skipped) and va (tbf); nothing of the machine's own devices.
    expect(devicesOf(first)).toEqual(["va"]);
    expect(first.every((s) => s.labels?.kind === "tbf")).toBe(true);
    expect(first).toHaveLength(7);
    const before = valuesOf(first, "va");

    await sendFromA(200);
    const after = await waitFor("va's qdisc to count 200 more packets", async () => {
      const v = valuesOf(await scrape(), "va");
      return v.get("packets_total")! >= before.get("packets_total")! + 200 ? v : undefined;
    }, 10_000);
    expect(after.get("bytes_total")! - before.get("bytes_total")!).toBeGreaterThanOrEqual(200 * 1000);
    expect(after.get("drops_total")).toBeGreaterThanOrEqual(0);
    expect(after.get("current_queue_length")).toBeGreaterThanOrEqual(0);

    const none = await create(netdevQdiscProbe, root, { DeviceExcluded: "^va$" });
    expect(await none.collect!()).toEqual([]);
  });

  test("netdev EnableNetlink=true: the procfs series with the same values, plus the netlink-only ones", async () => {
    await sendFromA(50);
    const procfs = await create(netdevProbe, root);
    const netlink = await create(netdevProbe, root, { EnableNetlink: true });
    // Counters only grow: procfs read before ≤ netlink ≤ procfs read after, series by series.
    const p1 = (await procfs.collect!()) as Sample[];
    const n = (await netlink.collect!()) as Sample[];
    const p2 = (await procfs.collect!()) as Sample[];
    expect(devicesOf(n)).toEqual(["lo", "va"]);
    expect(devicesOf(p1)).toEqual(["lo", "va"]);
    for (const device of ["lo", "va"]) {
      const [lo, mid, hi] = [valuesOf(p1, device), valuesOf(n, device), valuesOf(p2, device)];
      expect(mid.size).toBe(30);
      for (const stat of NETDEV_STATS) {
        const name = `${stat}_total`;
        // procfs adds rx_missed_errors to receive_dropped; netlink (like HUATUO's) keeps it apart
        const got = stat === "receive_dropped" ? mid.get(name)! + mid.get("receive_missed_errors_total")! : mid.get(name)!;
        expect(got, `${device} ${name}`).toBeGreaterThanOrEqual(lo.get(name)!);
        expect(got, `${device} ${name}`).toBeLessThanOrEqual(hi.get(name)!);
      }
      for (const extra of ["multicast_total", "collisions_total", "receive_crc_errors_total", "receive_length_errors_total", "transmit_heartbeat_errors_total", "receive_nohandler_total"]) {
        expect(mid.get(extra), `${device} ${extra}`).toBeNumber();
      }
    }
    expect(valuesOf(n, "va").get("transmit_packets_total")).toBeGreaterThanOrEqual(50);

    const filtered = await create(netdevProbe, root, { EnableNetlink: true, DeviceExcluded: "^lo$" });
    expect(devicesOf((await filtered.collect!()) as Sample[])).toEqual(["va"]);
  });
});

describe.skipIf(!!skip)("netdev_dcb on this machine", () => {
  test("no device has DCB: unsupported, with each device's reason", async () => {
    const others = readdirSync("/sys/class/net").filter((d) => d !== "lo").sort();
    const list = ["lo", ...others.slice(0, 1)];
    let err: unknown;
    try {
      await create(netdevDcbProbe, "", { DeviceList: list });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ProbeUnsupportedError);
    expect((err as Error).message).toBe(
      `no device in [MetricCollector.NetdevDCB] DeviceList has IEEE DCB PFC counters: ${list.map((d) => `${d}: no DCB support (EOPNOTSUPP)`).join("; ")}`,
    );
  });

  test("a device that does not exist is named as such", async () => {
    await expect(create(netdevDcbProbe, "", { DeviceList: ["kpnodev0"] })).rejects.toThrow("kpnodev0: no such device (ENODEV)");
  });
});

describe.skipIf(!!skip)("tcpsummary (inet_diag) on loopback connections we open", () => {
  let root: string;
  let probe: ProbeInstance;
  const servers: Server[] = [];
  const sockets: Socket[] = [];
  beforeAll(async () => {
    root = rootFor(process.pid); // this test's own namespace, whatever pid 1's is
    probe = await create(tcpsummaryProbe, root);
  });
  afterAll(() => {
    for (const s of sockets) s.destroy();
    for (const s of servers) s.close();
    rmSync(root, { recursive: true, force: true });
  });
  const summary = async () => valuesOf((await probe.collect!()) as Sample[]);

  async function dialMany(n: number, host: string): Promise<boolean> {
    const server = createServer({ pauseOnConnect: true }, (s) => void sockets.push(s));
    servers.push(server);
    const listening = await new Promise<boolean>((r) => {
      server.once("error", () => r(false));
      server.listen(0, host, () => r(true));
    });
    if (!listening) return false;
    const port = (server.address() as { port: number }).port;
    await Promise.all(Array.from({ length: n }, () => new Promise<void>((resolve, reject) => {
      const s = connect({ port, host }, () => resolve());
      s.once("error", reject);
      sockets.push(s);
    })));
    return true;
  }

  test("N IPv4 connections raise the established count by ≥ N", async () => {
    const N = 20;
    const base = (await summary()).get("tcpestablishedconn")!;
    await dialMany(N, "127.0.0.1"); // 2N established sockets: both ends
    await waitFor(`${N} more established`, async () => ((await summary()).get("tcpestablishedconn")! >= base + N) || undefined, 10_000);
  });

  test("IPv6 sockets are counted too", async () => {
    const base = (await summary()).get("tcpestablishedconn")!;
    if (!(await dialMany(5, "::1"))) return; // no IPv6 loopback on this host
    await waitFor("5 more established (IPv6)", async () => ((await summary()).get("tcpestablishedconn")! >= base + 5) || undefined, 10_000);
  });
});

// A fresh namespace has no other TCP sockets: every field can be checked exactly.
describe.skipIf(!!skip)("tcpsummary in a namespace of our own: exact counts and queues", () => {
  const M = 6; // connections kept open, to a server that never reads
  const N = 4; // connections closed by the client first: TIME_WAIT
  const BYTES = 1000;
  let ns: string;
  let root: string;
  let worker: Subprocess;

  beforeAll(async () => {
    ns = `kpnlt${process.pid}`;
    spawnSyncOk(["ip", "netns", "add", ns]);
    spawnSyncOk(["ip", "netns", "exec", ns, "ip", "link", "set", "lo", "up"]);
    root = mkdtempSync(join(tmpdir(), "kpulse-tcpsummary-"));
    const script = join(root, "conns.ts");
    writeFileSync(script, `import { connect, createServer } from "node:net";
const listen = (opts) => new Promise((r) => { const s = createServer(opts, (c) => opts.pauseOnConnect || c.resume()); s.listen(0, "127.0.0.1", () => r(s.address().port)); });
const dial = (port) => new Promise((r) => { const c = connect(port, "127.0.0.1", () => r(c)); });
const paused = await listen({ pauseOnConnect: true });
for (let i = 0; i < ${M}; i++) (await dial(paused)).write(Buffer.alloc(${BYTES}, 1));
const normal = await listen({ pauseOnConnect: false });
for (let i = 0; i < ${N}; i++) { const c = await dial(normal); await new Promise((r) => c.end(r)); }
console.log("ready");
for await (const _ of process.stdin) {}
process.exit(0);
`);
    worker = spawn(["ip", "netns", "exec", ns, process.execPath, script], { stdin: "pipe", stdout: "pipe", stderr: "pipe" });
    const reader = (worker.stdout as ReadableStream<Uint8Array>).getReader();
    const first = await Promise.race([reader.read(), Bun.sleep(10_000).then(() => undefined)]);
    if (!first || !new TextDecoder().decode(first.value).includes("ready")) {
      throw new Error(`connection worker not ready: ${await new Response(worker.stderr as ReadableStream).text()}`);
    }
    mkdirSync(join(root, "proc"));
    symlinkSync(`/proc/${worker.pid}`, join(root, "proc", "1"));
  });

  afterAll(() => {
    worker?.kill();
    if (ns) Bun.spawnSync(["ip", "netns", "del", ns]);
    if (root) rmSync(root, { recursive: true, force: true });
  });

  test("established, TIME_WAIT and both queues are exactly what the worker did", async () => {
    const probe = await create(tcpsummaryProbe, root);
    // Both ends of M connections; the clients' ends of N actively closed ones; M × BYTES unread;
    // nothing unacknowledged once the kernel has settled (loopback acks at once).
    const want = { tcpestablishedconn: 2 * M, tcptimewaitconn: N, tcprxqueue: M * BYTES, tcptxqueue: 0 };
    let last: Record<string, number> = {};
    await waitFor("the exact summary", async () => {
      last = Object.fromEntries(valuesOf((await probe.collect!()) as Sample[]));
      return Object.entries(want).every(([k, v]) => last[k] === v) || undefined;
    }, 5000).catch((err) => {
      throw new Error(`${(err as Error).message}: last ${JSON.stringify(last)}, want ${JSON.stringify(want)}`);
    });
  });
});

function spawnSyncOk(cmd: string[]): void {
  const r = Bun.spawnSync(cmd, { stderr: "pipe" });
  if (r.exitCode !== 0) throw new Error(`${cmd.join(" ")} failed: ${r.stderr.toString()}`);
}
