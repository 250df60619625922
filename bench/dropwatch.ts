// dropwatch throughput: kernel drop events through the BPF ring buffer, the decoder and the
// event bus, with the rate limit off. Prints figures; never passes or fails on time.
//
//  1. sustained: a C producer floods a closed UDP port on one core while the agent-side
//     consumer (10 ms ticks, 5 ms budget) runs on the main thread; delivered/s, kernel-side
//     losses (ring full) and consumer CPU.
//  2. drain capacity: the ring is filled while nothing consumes, then drained in one go on
//     one core: ns per event and events/s, for the ring walk alone and for the whole path
//     (walk + decode + record shaping + bus publish).
//
// Needs root. Run: ./node_modules/.bin/bun bench/dropwatch.ts [events]
import { spawnSync } from "bun";
import { createSocket } from "node:dgram";
import { readFileSync } from "node:fs";
import dropwatchObjectPath from "../build/bpf/dropwatch.bpf.o" with { type: "file" };
import { monotonicToEpochMs } from "../ffi/clock.ts";
import { vmlinuxEnum } from "../src/bpf/btf.ts";
import { lookupPerCpuArraySums } from "../src/bpf/maps.ts";
import { BpfObject } from "../src/bpf/object.ts";
import { RingBufferReader } from "../src/bpf/ringbuf.ts";
import { sharedKallsyms } from "../src/bpf/symbols.ts";
import { createEventBus } from "../src/events/bus.ts";
import { shapeRecord } from "../src/events/shape.ts";
import { DropwatchDecoder, resolveLayout } from "../src/probes/dropwatch/decode.ts";

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
  const decoder = new DropwatchDecoder(resolveLayout(obj.structLayout("dropwatch_event")), {
    reasonName: (n) => names.get(n) ?? String(n),
    symbolize: (hi, lo) => syms.symbolize(hi, lo),
    toEpochMs: monotonicToEpochMs,
  });
  const bus = createEventBus();
  const sub = bus.subscribe({ name: "bench", queueSize: 1 << 20 });
  const host = { hostname: "bench", region: "bench" };
  let n = 0;
  const reader = new RingBufferReader(obj.map("dropwatch_events"), (u8, dv, at) => {
    if (walkOnly) {
      n += dv.getUint32(at, true) & 1; // touch the record, decode nothing
      return;
    }
    const d = decoder.decode(u8, dv, at);
    bus.publish(shapeRecord({ tracerName: "dropwatch", timeMs: d.timeMs, data: d.data }, host));
    n++;
    // Keep the subscriber's queue from growing without bound: drain as a sink would.
    if ((n & 1023) === 0) while (sub.tryNext());
  });
  const outcomes = () => lookupPerCpuArraySums(obj.map("kpulse_outcomes"));
  return { obj, reader, outcomes, close: () => { reader.stop(); obj.close(); } };
}

function cpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

async function sustained() {
  const s = setup();
  const port = await closedPort();
  s.reader.start();
  const cpu0 = cpuMs();
  const t0 = performance.now();
  const prod = Bun.spawn(["taskset", "-c", "0", UDP_FLOOD, String(port), String(TOTAL)], { stdout: "pipe" });
  await prod.exited;
  // let the consumer catch up with what is in the ring
  const target = () => s.outcomes()[0]!;
  const deadline = Date.now() + 10_000;
  while (s.reader.consumed < target() && Date.now() < deadline) await Bun.sleep(10);
  const secs = (performance.now() - t0) / 1000;
  const cpu = cpuMs() - cpu0;
  const [emitted, , ringFull] = s.outcomes();
  console.log(`sustained: produced ${TOTAL} drops in ${secs.toFixed(2)} s; BPF emitted ${emitted}, ring full ${ringFull}; ` +
    `delivered ${s.reader.consumed} (${Math.round(s.reader.consumed / secs)}/s); consumer CPU ${(100 * cpu / 1000 / secs).toFixed(1)} % of one core`);
  s.close();
}

async function drainCapacity(walkOnly: boolean) {
  const s = setup(walkOnly);
  const port = await closedPort();
  // Fill the ring while nothing consumes; its size bounds how many records fit.
  const fill = Math.min(TOTAL, 400_000);
  spawnSync([UDP_FLOOD, String(port), String(fill)]);
  const [emitted, , ringFull] = s.outcomes();
  const t0 = performance.now();
  const drained = s.reader.drain();
  const ms = performance.now() - t0;
  console.log(`drain (${walkOnly ? "ring walk only" : "walk + decode + shape + bus publish"}): ${drained} records queued (emitted ${emitted}, ring full ${ringFull}); ` +
    `${(ms * 1e6 / drained).toFixed(0)} ns/event = ${(drained / ms / 1000).toFixed(2)} M events/s on one core`);
  s.close();
}

await drainCapacity(true);
await drainCapacity(false);
await sustained();
