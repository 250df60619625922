// tcp_retransmit on the real kernel: two network namespaces this test creates, joined by a veth
// pair; iptables in the client's namespace drops the server's SYN-ACKs. The server retransmits
// its SYN-ACK and the client its SYN: both must reach the watch stream and the local file as
// phase "connect" events. (The SYN-ACK is dropped on arrival, not on the server's way out: the
// kernel only reports a retransmission that actually left.)
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { spawn, type Subprocess } from "bun";
import { kernelTestSkipReason, metricValue, ROOT, startAgent, waitFor, type Agent } from "./agent.ts";
import { vethPair, type VethPair } from "./netns.ts";
import { watch } from "./sse.ts";

const skip = kernelTestSkipReason();
const TAG = `kp-rt-${process.pid}`;
const SERVER = "192.0.2.1"; // TEST-NET-1, only inside our namespaces
const CLIENT = "192.0.2.2";
const PORT = 40000 + (process.pid % 20000);
const BUN = join(ROOT, "node_modules/.bin/bun");

function localRecords(agent: Agent): any[] {
  const file = join(agent.dir, "local", "tcp_retransmit");
  if (!existsSync(file)) return [];
  return readFileSync(file, "utf8").split("\n").filter(Boolean).map((l) => JSON.parse(l));
}

function netnsInum(pair: VethPair, ns: "a" | "b"): number {
  return Number(/\[(\d+)\]/.exec(pair.exec(ns, ["readlink", "/proc/self/ns/net"]))![1]);
}

describe.skipIf(!!skip)("tcp_retransmit (real kernel)", () => {
  let agent: Agent;
  let pair: VethPair;
  const procs: Subprocess[] = [];

  beforeAll(async () => {
    pair = vethPair(TAG, `${SERVER}/24`, `${CLIENT}/24`);
    pair.exec("b", ["iptables", "-A", "INPUT", "-p", "tcp", "--sport", String(PORT), "--tcp-flags", "SYN,ACK", "SYN,ACK", "-j", "DROP"]);
    agent = await startAgent({ config: `[Storage.LocalFile]\nPath = "local"\n` });
  });
  afterAll(async () => {
    for (const p of procs) p.kill();
    await agent?.stop();
    pair?.remove(); // the iptables rule lives in the client's namespace and goes with it
  });

  test("dropped SYN-ACKs give phase=connect events for the SYN-ACK and the SYN, on the stream and in the file", async () => {
    const serverNs = netnsInum(pair, "a");
    const clientNs = netnsInum(pair, "b");
    const stream = await watch(agent.url, { filters: { tracer_name: "^tcp_retransmit$" } });
    expect(stream.status).toBe(200);

    const run = (ns: string, script: string) =>
      procs.push(spawn(["ip", "netns", "exec", ns, BUN, "-e", script], { stdout: "ignore", stderr: "ignore" }));
    run(pair.a, `require("node:net").createServer().listen(${PORT}, "${SERVER}"); setTimeout(() => process.exit(0), 15000);`);
    await Bun.sleep(300); // the listener is up well before the first SYN
    run(pair.b, `require("node:net").connect({ port: ${PORT}, host: "${SERVER}" }).on("error", () => {}); setTimeout(() => process.exit(0), 15000);`);

    const synack = await stream.waitFor((e) => e.data?.tracer_data?.net_namespace_inum === serverNs && e.data.tracer_data.event_type === "retransmit_synack", 10_000);
    const syn = await stream.waitFor((e) => e.data?.tracer_data?.net_namespace_inum === clientNs && e.data.tracer_data.event_type === "retransmit_skb", 10_000);
    stream.close();

    expect(synack.data.tracer_name).toBe("tcp_retransmit");
    expect(synack.data.tracer_data).toMatchObject({
      phase: "connect", tcp_state: "SYN_RECV", tcp_flags: "SYN|ACK", tcp_reason: "RTO",
      tcp_saddr: SERVER, tcp_daddr: CLIENT, tcp_sport: PORT,
    });
    expect(synack.data.tracer_data.icsk_retransmits).toBeGreaterThanOrEqual(0);
    expect(syn.data.tracer_data).toMatchObject({
      phase: "connect", tcp_state: "SYN_SENT", tcp_flags: "SYN", tcp_reason: "RTO",
      tcp_saddr: CLIENT, tcp_daddr: SERVER, tcp_dport: PORT,
    });
    expect(syn.data.tracer_data.icsk_retransmits).toBeGreaterThanOrEqual(1);
    expect(syn.data.tracer_data.tcp_end_seq).toBe((syn.data.tracer_data.tcp_seq + 1) >>> 0); // a SYN takes one sequence number

    const ids = [synack.id, syn.id];
    const records = await waitFor("both events in the local file", () => {
      const r = localRecords(agent).filter((x) => ids.includes(x.tracer_id));
      return r.length === 2 ? r : undefined;
    });
    for (const r of records) {
      expect(r.tracer_name).toBe("tcp_retransmit");
      expect(r.tracer_data.phase).toBe("connect");
    }
    const emitted = metricValue(await agent.metrics(), "kpulse_tcp_retransmit_events_total", { outcome: "emitted" });
    expect(emitted).toBeGreaterThanOrEqual(2);
  });
});
