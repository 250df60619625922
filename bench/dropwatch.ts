// dropwatch throughput: kernel drop events through the BPF ring buffer, the decoder and the
// event bus, with the rate limit off. Prints figures; never passes or fails on time.
//
//  0. format path (no BPF): synthetic dropwatch-like events (~25 tracer_data fields, a
//     multi-line stack) through shape + bus publish, then a local-file-like subscriber (one
//     document line per record) and a watch-like subscriber (filter on read, one SSE frame per
//     record): ns per event for the publish path and for the outputs, on one core.
//  1. drain capacity: the ring is filled while nothing consumes, then drained in one go on
//     one core: ns per event and events/s, for the ring walk alone and for the whole path
//     (walk + decode + record shaping + bus publish).
//  2. sustained: a C producer floods a closed UDP port on one core while the agent-side
//     consumer (the ring scheduler on the main thread) runs; delivered/s, kernel-side
//     losses (ring full) and consumer CPU.
//
// Parts 1 and 2 need root and `make bench` outputs. Run: ./node_modules/.bin/bun bench/dropwatch.ts [events]
import { spawnSync } from "bun";
import { createSocket } from "node:dgram";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import dropwatchObjectPath from "../build/bpf/dropwatch.bpf.o" with { type: "file" };
import { vmlinuxEnum } from "../src/bpf/btf.ts";
import { monotonicToEpochMs } from "../src/bpf/clock.ts";
import { lookupPerCpuArraySums } from "../src/bpf/maps.ts";
import { BpfObject } from "../src/bpf/object.ts";
import { RingScheduler } from "../src/bpf/ring-scheduler.ts";
import { RingBufferReader } from "../src/bpf/ringbuf.ts";
import { sharedKallsyms } from "../src/bpf/symbols.ts";
import { createEventBus } from "../src/events/bus.ts";
import { compileFilters } from "../src/events/filter.ts";
import { cloudEventJson } from "../src/events/format.ts";
import type { EventRecord, ProbeEvent } from "../src/events/record.ts";
import { shapeRecord } from "../src/events/shape.ts";
import { DROPWATCH_FIELDS, DropwatchDecoder } from "../src/probes/dropwatch/decode.ts";
import { LocalFileWriter } from "../src/storage/localfile.ts";
import { resolveLayout, u64 } from "../src/probes/kit/decoders.ts";

const TOTAL = Number(process.argv[2] ?? 2_000_000);
const RING_BYTES = 256 * 1024 * 1024;

const UDP_FLOOD = "build/tools/udp-flood"; // `make bench` builds it

async function closedPort(): Promise<number> {
  const s = createSocket("udp4");
  await new Promise<void>((r) => s.bind(0, "127.0.0.1", r));
  const p = s.address().port;
  await new Promise<void>((r) => s.close(() => r()));
  return p;
}

// ---- 0. format path ------------------------------------------------------------------

const HOST = { hostname: "bench-node-01", region: "bench-region" };
const MODE = "kpulse" as const;

/** A stack as the decoder caches it: one "symbol+0xoff" frame per line. */
const STACKS = Array.from({ length: 16 }, (_, k) =>
  ["kfree_skb_reason", "udp_queue_rcv_one_skb", "udp_unicast_rcv_skb", "__udp4_lib_rcv", "ip_protocol_deliver_rcu",
    "ip_local_deliver_finish", "__netif_receive_skb_one_core", "process_backlog", "__napi_poll", "net_rx_action",
    "handle_softirqs", "do_softirq", "__local_bh_enable_ip", "__dev_queue_xmit", "ip_finish_output2", "udp_send_skb"]
    .map((f, i) => `${f}+0x${(0x1a + 7 * i + k).toString(16)}`).join("\n"));

/** tracer_data shaped like the dropwatch decoder's (26 fields), a fresh object per event. */
function dropData(i: number): Record<string, unknown> {
  return {
    type: "common_drop", comm: "udp-flood", pid: 4000 + (i & 63), tid: 4000 + (i & 63),
    saddr: "127.0.0.1", daddr: "127.0.0.1", sport: 40000 + (i & 1023), dport: 9, protocol: "UDP",
    src_hostname: "<nil>", dest_hostname: "<nil>", max_ack_backlog: 0, seq: 0, ack_seq: 0, pkt_len: 64 + (i & 255),
    sk_state: "", drop_reason: "SKB_DROP_REASON_NO_SOCKET", drop_location: "__udp4_lib_rcv+0x7f3",
    stack: STACKS[i & 15], netdev_queue_mapping: 0, netdev_linkstatus: ["linkStatusAdminUp", "linkStatusCarrierUp"],
    netdev_name: "lo", netdev_ifindex: 1, net_cookie: 4096 + (i & 7), net_namespace_inum: 4026531840,
  };
}

/**
 * shape + publish for `n` events, the outputs draining every 1024 events on the same core as
 * the real ones do: a local-file subscriber (the real LocalFileWriter, on tmpfs) and a
 * watch-like one (filter on read, SSE frame cached per record, 64 frames per encoded chunk).
 */
function formatPath(n: number, outputs: boolean, dir: string) {
  const bus = createEventBus();
  const file = bus.subscribe({ name: "localfile", queueSize: 4096 });
  const writer = new LocalFileWriter({ dir, rotationSizeMiB: 64, maxRotation: 1 });
  const filter = compileFilters({ filters: { tracer_name: "^dropwatch$" } });
  if (!filter.ok) throw new Error(filter.error);
  const watch = outputs ? bus.subscribe({ name: "watch", queueSize: 4096, filter: filter.match }) : undefined;
  const frames = new WeakMap<EventRecord, string>();
  const enc = new TextEncoder();
  let bytes = 0;
  let publishNs = 0;
  let outputNs = 0;
  const drain = () => {
    const t = Bun.nanoseconds();
    const batch: EventRecord[] = [];
    for (let r; (r = file.tryNext()) !== undefined; ) batch.push(r);
    if (outputs) writer.append("dropwatch", batch);
    if (watch) {
      for (let more = true; more; ) {
        let out = "";
        let i = 0;
        for (let r; i < 64 && (r = watch.tryNext()) !== undefined; i++) {
          let f = frames.get(r);
          if (f === undefined) frames.set(r, (f = `id: ${r.tracer_id}\ndata: ${cloudEventJson(r, MODE)}\n\n`));
          out += f;
        }
        more = i === 64;
        if (out) bytes += enc.encode(out).length;
      }
    }
    outputNs += Bun.nanoseconds() - t;
  };
  const t0 = Date.now() - 5000;
  for (let done = 0; done < n; ) {
    const batch = Math.min(1024, n - done);
    const evs: ProbeEvent[] = [];
    for (let i = 0; i < batch; i++) evs.push({ tracerName: "dropwatch", timeMs: t0 + (done + i) / 100 + 0.25, data: dropData(done + i) });
    const t = Bun.nanoseconds();
    for (const ev of evs) bus.publish(shapeRecord(ev, HOST));
    publishNs += Bun.nanoseconds() - t;
    done += batch;
    drain();
  }
  writer.close();
  return { publishNs: publishNs / n, outputNs: outputNs / n, bytes };
}

function formatBench() {
  const n = Math.min(TOTAL, 400_000);
  const dir = mkdtempSync(join(existsSync("/dev/shm") ? "/dev/shm" : tmpdir(), "kpulse-bench-"));
  try {
    formatPath(50_000, true, dir); // warm up the JIT
    formatPath(50_000, false, dir);
    for (const outputs of [false, true]) {
      const runs = Array.from({ length: 3 }, () => formatPath(n, outputs, dir)).sort((a, b) => a.publishNs + a.outputNs - b.publishNs - b.outputNs);
      const m = runs[1]!; // median of three
      const total = m.publishNs + m.outputNs;
      console.log(`format path (${outputs ? "shape + publish + local file + watch frames" : "shape + publish, one plain subscriber"}), ${n} synthetic dropwatch events, median of 3: ` +
        `shape+publish ${m.publishNs.toFixed(0)} + ${outputs ? "outputs" : "queue drain"} ${m.outputNs.toFixed(0)} = ${total.toFixed(0)} ns/event` +
        ` = ${(1e3 / total).toFixed(3)} M events/s on one core`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

// ---- 1-2. through the BPF ring --------------------------------------------------------

function setup(walkOnly = false) {
  const obj = BpfObject.load({
    name: "dropwatch-bench",
    bytes: new Uint8Array(readFileSync(dropwatchObjectPath)),
    rodata: { kpulse_max_events_per_sec: 0 },
    groups: [{ alternatives: ["dropwatch_tp_btf_rx_sk", "dropwatch_tp_btf", "dropwatch_tracepoint"] }],
    maxEntries: { dropwatch_events: RING_BYTES },
  });
  const names = vmlinuxEnum("skb_drop_reason");
  const syms = sharedKallsyms("/proc/kallsyms");
  const offsets = resolveLayout("dropwatch_event", obj.structLayout("dropwatch_event"), DROPWATCH_FIELDS);
  const decoder = new DropwatchDecoder(offsets, {
    reasonName: (n) => names.get(n) ?? String(n),
    symbolize: (hi, lo) => syms.symbolize(hi, lo),
  });
  const bus = createEventBus();
  const sub = bus.subscribe({ name: "bench", queueSize: 1 << 20 });
  const host = { hostname: "bench", region: "bench" };
  let n = 0;
  const onRecord = (u8: Uint8Array, dv: DataView, at: number) => {
    if (walkOnly) {
      n += dv.getUint32(at, true) & 1; // touch the record, decode nothing
      return;
    }
    // What the event-probe kit does per record (src/probes/kit/bpf-events.ts), then main.ts's emit.
    const data = decoder.decode(u8, dv, at);
    bus.publish(shapeRecord({ tracerName: "dropwatch", timeMs: monotonicToEpochMs(u64(dv, at + offsets.ts_ns)), data }, host));
    n++;
    // Keep the subscriber's queue from growing without bound: drain as a sink would.
    if ((n & 1023) === 0) while (sub.tryNext());
  };
  const map = obj.map("dropwatch_events");
  const outcomes = () => lookupPerCpuArraySums(obj.map("kpulse_outcomes"));
  return { obj, map, onRecord, outcomes };
}

function cpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

async function sustained() {
  const s = setup();
  const port = await closedPort();
  const sched = new RingScheduler();
  const reader = sched.add(s.map, s.onRecord);
  const cpu0 = cpuMs();
  const t0 = performance.now();
  const prod = Bun.spawn(["taskset", "-c", "0", UDP_FLOOD, String(port), String(TOTAL)], { stdout: "pipe" });
  await prod.exited;
  // let the consumer catch up with what is in the ring
  const target = () => s.outcomes()[0]!;
  const deadline = Date.now() + 10_000;
  while (reader.consumed < target() && Date.now() < deadline) await Bun.sleep(10);
  const secs = (performance.now() - t0) / 1000;
  const cpu = cpuMs() - cpu0;
  const [emitted, , ringFull] = s.outcomes();
  console.log(`sustained: produced ${TOTAL} drops in ${secs.toFixed(2)} s; BPF emitted ${emitted}, ring full ${ringFull}; ` +
    `delivered ${reader.consumed} (${Math.round(reader.consumed / secs)}/s); consumer CPU ${(100 * cpu / 1000 / secs).toFixed(1)} % of one core`);
  reader.stop();
  await sched.close();
  s.obj.close();
}

async function drainCapacity(walkOnly: boolean) {
  const s = setup(walkOnly);
  const reader = new RingBufferReader(s.map, s.onRecord);
  const port = await closedPort();
  // Fill the ring while nothing consumes; its size bounds how many records fit.
  const fill = Math.min(TOTAL, 400_000);
  spawnSync([UDP_FLOOD, String(port), String(fill)]);
  const [emitted, , ringFull] = s.outcomes();
  const t0 = performance.now();
  const drained = reader.drain();
  const ms = performance.now() - t0;
  console.log(`drain (${walkOnly ? "ring walk only" : "walk + decode + shape + bus publish"}): ${drained} records queued (emitted ${emitted}, ring full ${ringFull}); ` +
    `${(ms * 1e6 / drained).toFixed(0)} ns/event = ${(drained / ms / 1000).toFixed(2)} M events/s on one core`);
  reader.stop();
  s.obj.close();
}

formatBench();
if (process.getuid?.() !== 0) {
  console.log("ring parts skipped: they need root (BPF)");
} else {
  await drainCapacity(true);
  await drainCapacity(false);
  await sustained();
}
