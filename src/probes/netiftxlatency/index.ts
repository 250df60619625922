// netiftxlatency (event probe with metrics, KubeSkoop's): how long transmitted packets wait in
// the device's qdisc (net_dev_queue → qdisc_dequeue / net_dev_start_xmit) and in the driver
// (net_dev_start_xmit → net_dev_xmit). Every latency goes into a histogram per stage
// (kpulse_netiftxlatency_latency_seconds{stage}); one at or above the stage's threshold is
// counted (kpulse_netiftxlatency_{qdisc,netdev}slow100ms) and, within MaxEventsPerSecond,
// reported as TXLAT_QDISC_100MS / TXLAT_NETDEV_100MS with the flow (bpf/netiftxlatency.bpf.c).
import objectPath from "../../../build/bpf/netiftxlatency.bpf.o" with { type: "file" };
import type { BpfObject } from "../../bpf/object.ts";
import { lookupBatch } from "../../bpf/maps.ts";
import { key, section } from "../../config/spec.ts";
import type { HistogramSample, MetricSample, Sample } from "../../metrics/sample.ts";
import { entryValue } from "../kit/bpf-maps.ts";
import { defineBpfEventProbe } from "../kit/bpf-events.ts";
import { NETIFTXLAT_FIELDS, NetifTxlatDecoder, slotHistogram, TXLAT_STAGES } from "./decode.ts";

export const NETIFTXLATENCY_CONFIG = section("EventTracing.NetifTxLatency", {
  /** Time in the qdisc (ns) from which a packet is counted and reported (KubeSkoop: 100 ms). */
  QdiscThreshold: key.int(100_000_000, 0),
  /** Time in the driver's transmit (ns) from which a packet is counted and reported. */
  NetdevThreshold: key.int(100_000_000, 0),
  /** BPF rate limit; 0 = unlimited. Counters and histograms see every packet regardless. */
  MaxEventsPerSecond: key.int(100, 0),
});

const SLOW_HELP: Record<string, string> = {
  qdiscslow100ms: "Transmitted packets that waited in the qdisc at least QdiscThreshold (default 100 ms).",
  netdevslow100ms: "Transmitted packets whose driver transmit took at least NetdevThreshold (default 100 ms).",
};
const HIST_HELP = "Time transmitted packets spent in the qdisc (stage=qdisc) and in the driver's transmit (stage=netdev).";

/**
 * The probe's samples: netiftxlat_metrics (key = stage, value = struct netiftxlat_stage_metrics
 * per CPU) read in one batch through the map-metric kit, the value's layout from the object's BTF.
 */
export function txlatSamples(obj: BpfObject): () => MetricSample[] {
  const map = obj.map("netiftxlat_metrics");
  const layout = obj.structLayout("netiftxlat_stage_metrics");
  const field = (name: string) => {
    const f = layout.get(name);
    if (!f || f.offset % 8) throw new Error(`struct netiftxlat_stage_metrics: no u64 field ${name}`);
    return f;
  };
  const slotsAt = field("slots").offset / 8, slots = field("slots").size / 8;
  const slowAt = field("slow").offset / 8, sumAt = field("sum_ns").offset / 8;
  return () => {
    const { keys, values, count } = lookupBatch(map);
    const kdv = new DataView(keys.buffer, keys.byteOffset, keys.byteLength);
    const out: MetricSample[] = [];
    const hists: HistogramSample[] = [];
    for (let i = 0; i < count; i++) {
      const st = TXLAT_STAGES[kdv.getUint32(i * map.keySize, true)];
      if (!st) continue;
      const v = (slot: number) => entryValue(map, values, i, slot);
      const counts = Array.from({ length: slots }, (_, j) => v(slotsAt + j));
      out.push({ name: st.counter, help: SLOW_HELP[st.counter]!, type: "counter", value: v(slowAt) } satisfies Sample);
      hists.push({ name: "latency_seconds", help: HIST_HELP, type: "histogram", labels: { stage: st.stage }, histogram: slotHistogram(counts, v(sumAt)) });
    }
    return [...out, ...hists];
  };
}

export const netiftxlatencyProbe = defineBpfEventProbe({
  name: "netiftxlatency",
  source: "bpf tp_btf/net_dev_queue, tp_btf/qdisc_dequeue, tp_btf/net_dev_start_xmit, tp_btf/net_dev_xmit (fallback: tracepoint net/*, qdisc/*)",
  defaultEnabled: false, // KubeSkoop's probes are opt-in, as in KubeSkoop: [Kpulse] EnableProbes
  config: NETIFTXLATENCY_CONFIG,
  object: objectPath,
  ring: "netiftxlat_events",
  struct: "netiftxlat_event",
  fields: NETIFTXLAT_FIELDS,
  // ends before starts, so no stage starts whose end could be missed
  programs: [
    { alternatives: ["net_dev_xmit_btf", "net_dev_xmit_tp"] },
    { alternatives: ["net_dev_start_xmit_btf", "net_dev_start_xmit_tp"] },
    { alternatives: ["qdisc_dequeue_btf", "qdisc_dequeue_tp"], optional: true },
    { alternatives: ["net_dev_queue_btf", "net_dev_queue_tp"] },
  ],
  rateLimitKey: "MaxEventsPerSecond",
  rodata: ({ config }) => ({ qdisc_thresh_ns: BigInt(config.QdiscThreshold), netdev_thresh_ns: BigInt(config.NetdevThreshold) }),
  decoder({ offsets, config }) {
    const decoder = new NetifTxlatDecoder(offsets, [config.QdiscThreshold, config.NetdevThreshold]);
    return (u8, dv, at) => decoder.decode(u8, dv, at);
  },
  samples: ({ object }) => txlatSamples(object),
});
