// softirq (metric probe): HUATUO's softirq_latency{type,cpuid,zone}, how long raised NET_TX and
// NET_RX softirqs waited before their handler ran (raise → entry), counted per CPU in four
// zones: 0 < 10 µs, 1 < 100 µs, 2 < 1 ms, 3 ≥ 1 ms. Same BPF object as softirq_tracing (one
// definition of the wait), loaded with only the zone counting switched on: no exit hook, no
// events, a one-page ring.
import objectPath from "../../../build/bpf/softirq.bpf.o" with { type: "file" };
import { possibleCpus } from "../../bpf/maps.ts";
import { defineBpfMapProbe } from "../kit/bpf-maps.ts";
import { SOFTIRQ_ENTRY, SOFTIRQ_RAISE } from "../softirq_tracing/index.ts";

/** Slots per CPU in softirq_zones: 2 vectors × 4 zones (bpf/include/softirq.h). */
export const ZONE_SLOTS_PER_CPU = 8;
const TYPES = ["NET_TX", "NET_RX"] as const;

/** softirq_zones index → labels: cpu * 8 + (vec - NET_TX) * 4 + zone. */
export function zoneLabels(index: number): Record<string, string> {
  return { type: TYPES[(index >>> 2) & 1]!, cpuid: String(Math.floor(index / ZONE_SLOTS_PER_CPU)), zone: String(index & 3) };
}

export const softirqProbe = defineBpfMapProbe({
  name: "softirq",
  source: "bpf tp_btf/softirq_raise, tp_btf/softirq_entry (fallback: tracepoint irq/*)",
  defaultEnabled: true,
  object: objectPath,
  programs: [SOFTIRQ_ENTRY, SOFTIRQ_RAISE],
  rodata: () => ({ count_zones: true }),
  // Read when the object loads: one row of zones per possible CPU; the event ring stays minimal.
  get maxEntries() {
    return { softirq_zones: possibleCpus() * ZONE_SLOTS_PER_CPU, softirq_tracing_events: 4096 };
  },
  series: [
    {
      map: "softirq_zones",
      name: "latency",
      help: "softirq latency",
      // a count of waits per zone; HUATUO's code publishes it as a counter (its guide's sample says gauge)
      type: "counter",
      labels: (k) => zoneLabels(k.getUint32(0, true)),
    },
  ],
});
