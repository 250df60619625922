// tcpreset on the real kernel: two network namespaces this test creates, joined by a veth pair,
// and build/tools/tcpreset (tests/tools/tcpreset.c) making each kind of reset for real:
//  - a connect to a port nobody listens on → the server's stack resets without a socket
//    (TCPRESET_NOSOCK in the server's namespace) and the client receives it (TCPRESET_RECEIVE);
//  - a close with SO_LINGER {on, 0} → TCPRESET_ACTIVE from the client, TCPRESET_RECEIVE at the
//    server's accepted socket;
//  - data sent to a server socket that already closed → the closed socket answers with a reset
//    (TCPRESET_PROCESS in the server's namespace);
//  - the same closed-port case over IPv6 loopback (the IPv6 header path).
// Events are matched by namespace inode and port: other kernel tests may run at the same time.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { spawn, spawnSync, type Subprocess } from "bun";
import { sharedRingScheduler } from "../../src/bpf/ring-scheduler.ts";
import { sectionDefaults } from "../../src/config/spec.ts";
import { silentLogger } from "../../src/log.ts";
import type { Sample } from "../../src/metrics/sample.ts";
import { TCPRESET_CONFIG, tcpresetProbe } from "../../src/probes/tcpreset/index.ts";
import type { ProbeEmission, ProbeInstance } from "../../src/probes/types.ts";
import { procfsRoot } from "../../src/procfs/root.ts";
import { kernelTestSkipReason, ROOT, waitFor } from "./agent.ts";
import { vethPair, type VethPair } from "./netns.ts";

const skip = kernelTestSkipReason();
const TAG = `kp-rst-${process.pid}`;
const SERVER = "192.0.2.1"; // TEST-NET-1, only inside our namespaces
const CLIENT = "192.0.2.2";
const BASE_PORT = 30000 + (process.pid % 20000);
const TOOL = join(ROOT, "build/tools/tcpreset");

function netnsInum(pair: VethPair, ns: "a" | "b"): number {
  return Number(/\[(\d+)\]/.exec(pair.exec(ns, ["readlink", "/proc/self/ns/net"]))![1]);
}

function counter(samples: Sample[], name: string): number {
  const s = samples.find((x) => x.name === name);
  if (!s) throw new Error(`no sample ${name}`);
  return s.value;
}

describe.skipIf(!!skip)("tcpreset (real kernel)", () => {
  let pair: VethPair;
  let inst: ProbeInstance | undefined;
  let serverNs = 0, clientNs = 0;
  const got: ProbeEmission[] = [];
  const procs: Subprocess[] = [];
  let before: Sample[] = [];

  /** Runs the tool in the client's namespace (or `ns`); returns its ephemeral source port. */
  function client(mode: string, port: number, to = SERVER, ns = pair.b): number {
    const r = spawnSync(["ip", "netns", "exec", ns, TOOL, mode, to, String(port)], { stdout: "pipe", stderr: "pipe" });
    const out = r.stdout.toString();
    if (r.exitCode !== 0) throw new Error(`tcpreset ${mode} exited ${r.exitCode}: ${out}${r.stderr.toString()}`);
    return Number(/sport=(\d+)/.exec(out)![1]);
  }

  /** A listener in the server's namespace, up when this resolves. */
  async function listener(port: number, mode: "hold" | "close"): Promise<void> {
    const p = spawn(["ip", "netns", "exec", pair.a, TOOL, "listen", SERVER, String(port), mode, "60"], { stdout: "pipe", stderr: "ignore" });
    procs.push(p);
    const reader = (p.stdout as ReadableStream<Uint8Array>).getReader();
    let out = "";
    await waitFor(`listener on ${port}`, async () => {
      const { value, done } = await reader.read();
      if (done) throw new Error(`listener exited: ${out}`);
      out += new TextDecoder().decode(value);
      return out.includes("listening") || undefined;
    }, 10_000, 0);
    reader.releaseLock();
  }

  const find = (pred: (d: Record<string, any>) => boolean, what: string) =>
    waitFor(what, () => got.find((e) => pred(e.data as Record<string, any>))?.data as Record<string, any> | undefined);

  beforeAll(async () => {
    if (spawnSync(["make", "-C", ROOT, "build/tools/tcpreset"], { stdout: "ignore", stderr: "pipe" }).exitCode !== 0) throw new Error("cannot build build/tools/tcpreset");
    pair = vethPair(TAG, `${SERVER}/24`, `${CLIENT}/24`);
    serverNs = netnsInum(pair, "a");
    clientNs = netnsInum(pair, "b");
    inst = await tcpresetProbe.create({
      config: { ...sectionDefaults(TCPRESET_CONFIG, ""), MaxEventsPerSecond: 0 },
      procfs: procfsRoot(""), log: silentLogger, emit: (e) => got.push(e),
    });
    before = await inst.collect!();
  });
  afterAll(async () => {
    for (const p of procs) p.kill();
    await Promise.all(procs.map((p) => p.exited));
    await inst?.stop();
    pair?.remove();
    await sharedRingScheduler().close();
  });

  test("a SYN to a closed port: TCPRESET_NOSOCK from the server's stack, TCPRESET_RECEIVE at the client", async () => {
    const port = BASE_PORT;
    const sport = client("refused", port);
    const sent = await find((d) => d.type === "TCPRESET_NOSOCK" && d.net_namespace_inum === serverNs && d.dport === sport, "TCPRESET_NOSOCK");
    expect(sent).toMatchObject({ protocol: "TCP", saddr: SERVER, sport: port, daddr: CLIENT, dport: sport, state: "" });
    expect(["", "NO_SOCKET"]).toContain(sent.reason); // "" before 6.10 (no reasons)
    const recv = await find((d) => d.type === "TCPRESET_RECEIVE" && d.net_namespace_inum === clientNs && d.sport === sport, "TCPRESET_RECEIVE at the client");
    expect(recv).toMatchObject({ saddr: CLIENT, daddr: SERVER, dport: port, state: "TCP_SYN_SENT", reason: "" });
  });

  test("IPv6: a SYN to a closed port of ::1 gives TCPRESET_NOSOCK with the reversed IPv6 flow", async () => {
    const port = BASE_PORT + 3;
    const sport = client("refused", port, "::1", pair.a);
    const sent = await find((d) => d.type === "TCPRESET_NOSOCK" && d.net_namespace_inum === serverNs && d.dport === sport && d.saddr === "::1", "IPv6 TCPRESET_NOSOCK");
    expect(sent).toMatchObject({ protocol: "TCP", saddr: "::1", sport: port, daddr: "::1", state: "" });
    const recv = await find((d) => d.type === "TCPRESET_RECEIVE" && d.net_namespace_inum === serverNs && d.sport === sport && d.saddr === "::1", "IPv6 TCPRESET_RECEIVE");
    expect(recv).toMatchObject({ daddr: "::1", dport: port, state: "TCP_SYN_SENT" });
  });

  test("close with SO_LINGER {on, 0}: TCPRESET_ACTIVE from the client, TCPRESET_RECEIVE at the server", async () => {
    const port = BASE_PORT + 1;
    await listener(port, "hold");
    const sport = client("linger", port);
    const active = await find((d) => d.type === "TCPRESET_ACTIVE" && d.net_namespace_inum === clientNs && d.sport === sport, "TCPRESET_ACTIVE");
    expect(active).toMatchObject({ protocol: "TCP", saddr: CLIENT, daddr: SERVER, dport: port, state: "TCP_CLOSE" });
    // tcp_close() → tcp_disconnect() → tcp_send_active_reset(…, SK_RST_REASON_TCP_STATE) (6.10+)
    expect(["", "TCP_STATE", "TCP_ABORT_ON_LINGER"]).toContain(active.reason);
    expect(active.comm).toBe("tcpreset"); // the closing task itself
    const recv = await find((d) => d.type === "TCPRESET_RECEIVE" && d.net_namespace_inum === serverNs && d.dport === sport, "TCPRESET_RECEIVE at the server");
    expect(recv).toMatchObject({ saddr: SERVER, sport: port, daddr: CLIENT, state: "TCP_ESTABLISHED" });
  });

  test("data for a server socket that already closed: TCPRESET_PROCESS from the server", async () => {
    const port = BASE_PORT + 2;
    await listener(port, "close");
    const sport = client("late-write", port);
    const proc = await find((d) => d.type === "TCPRESET_PROCESS" && d.net_namespace_inum === serverNs && d.dport === sport, "TCPRESET_PROCESS");
    expect(proc).toMatchObject({ protocol: "TCP", saddr: SERVER, sport: port, daddr: CLIENT });
    // the orphaned socket is in FIN_WAIT2 or already a TIME_WAIT mini socket
    expect(["TCP_TIME_WAIT", "TCP_FIN_WAIT2", "TCP_FIN_WAIT1", "TCP_CLOSE"]).toContain(proc.state);
    expect(["", "TCP_TIMEWAIT_SOCKET", "TCP_ABORT_ON_DATA"]).toContain(proc.reason);
    // no event of another type claims these ports
    const mine = got.filter((e) => e.data.net_namespace_inum === serverNs && e.data.dport === sport && e.data.sport === port);
    expect(mine.every((e) => e.data.type === "TCPRESET_PROCESS" || e.data.type === "TCPRESET_RECEIVE")).toBe(true);
  });

  test("MaxEventsPerSecond = 1: events are thinned, every reset is still counted", async () => {
    const mine: ProbeEmission[] = [];
    const limited = await tcpresetProbe.create({
      config: { ...sectionDefaults(TCPRESET_CONFIG, ""), MaxEventsPerSecond: 1 },
      procfs: procfsRoot(""), log: silentLogger, emit: (e) => mine.push(e),
    });
    try {
      const t0 = Date.now();
      for (let i = 0; i < 5; i++) client("refused", BASE_PORT + 4); // 5 × (NOSOCK + RECEIVE)
      const windows = Math.ceil((Date.now() - t0) / 1000) + 1;
      const samples = await waitFor("the 5 refused connects counted", async () => {
        const s = await limited.collect!();
        return counter(s, "nosock") >= 5 && counter(s, "receive") >= 5 ? s : undefined;
      });
      const outcome = (o: string) => samples.find((x) => x.name === "events_total" && x.labels?.outcome === o)!.value;
      expect(outcome("ratelimited")).toBeGreaterThanOrEqual(10 - windows);
      expect(outcome("emitted")).toBeLessThanOrEqual(windows + 1);
    } finally {
      await limited.stop();
    }
  });

  test("counters: every type moved, and by at least the events seen", async () => {
    const after = await inst!.collect!();
    for (const name of ["nosock", "active", "process", "receive"]) {
      const type = `TCPRESET_${name.toUpperCase()}`;
      const seen = got.filter((e) => e.data.type === type && [serverNs, clientNs].includes(e.data.net_namespace_inum as number)).length;
      expect({ name, grew: counter(after, name) - counter(before, name) >= seen && seen > 0 }).toEqual({ name, grew: true });
      expect(after.find((s) => s.name === name)!.type).toBe("counter");
    }
    const emitted = after.find((s) => s.name === "events_total" && s.labels?.outcome === "emitted")!.value;
    expect(emitted).toBeGreaterThanOrEqual(4);
  });
});
