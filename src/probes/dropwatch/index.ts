// dropwatch (event probe): skbs the kernel drops, from skb:kfree_skb, with the kernel's own drop
// reason. Only anomalies become events: drops that are part of normal operation (a reason,
// reason:state or kernel function of [EventTracing.Dropwatch]'s count-only lists; see
// config.ts) are counted in BPF as `filtered` and use neither the rate limit nor the ring.
// Every drop, event or not, is counted in <ns>_dropwatch_drops_total{reason}; events beyond
// MaxEventsPerSecond are counted in <ns>_dropwatch_events_total{outcome="ratelimited"}.
//
// The BPF object is shared with the packetloss probe (shared.ts explains how), so this probe
// does what the event kit would do itself: decode the records it is handed, export the
// object's outcome counters by the names in its BTF.
import { sharedKallsyms } from "../../bpf/symbols.ts";
import { lookupPerCpuArraySums } from "../../bpf/maps.ts";
import type { Sample } from "../../metrics/sample.ts";
import { EVENTS_HELP, outcomeLabels, type BpfEventProbeDefinition } from "../kit/bpf-events.ts";
import { readSeries } from "../kit/bpf-maps.ts";
import { DROPWATCH_CONFIG, policyFromConfig, type DropwatchConfig } from "./config.ts";
import { DROPWATCH_FIELDS, DropwatchDecoder } from "./decode.ts";
import { acquireDropObject, DROPWATCH_OBJECT, DROPWATCH_STRUCT } from "./shared.ts";

export { DROPWATCH_CONFIG };

const DROPS_HELP = "Packets dropped by the kernel, by drop reason: every drop, whether it became an event, was ordinary (count-only) or rate-limited.";

export const dropwatchProbe: BpfEventProbeDefinition<DropwatchConfig> = {
  bpf: { object: DROPWATCH_OBJECT, struct: DROPWATCH_STRUCT, fields: DROPWATCH_FIELDS },
  name: "dropwatch",
  kind: "event",
  source: "bpf tp_btf/kfree_skb (fallback: tracepoint skb/kfree_skb), one object shared with packetloss",
  defaultEnabled: true,
  config: DROPWATCH_CONFIG,

  async create(ctx) {
    const lease = await acquireDropObject({ procfs: ctx.procfs, log: ctx.log });
    try {
      for (const problem of lease.applyPolicy(policyFromConfig(ctx.config))) ctx.log.warn("dropwatch policy entry not applied", { problem });
      const symbols = sharedKallsyms(ctx.procfs.proc("kallsyms"));
      const decoder = new DropwatchDecoder(lease.offsets(DROPWATCH_FIELDS), {
        reasonName: lease.reasonName,
        reasonGroup: lease.reasonGroup,
        symbolize: symbols.symbolizer,
      });
      const labels = outcomeLabels(lease.object);
      const outcomes = lease.object.map("kpulse_outcomes");
      const sub = lease.subscribe("dropwatch", (u8, dv, at) => decoder.decode(u8, dv, at), ctx.emit, ctx.log);
      const drops = {
        map: "dropwatch_drops",
        name: "drops_total",
        help: DROPS_HELP,
        type: "counter" as const,
        labels: (key: DataView) => ({ reason: lease.reasonName(key.getUint32(0, true)) }),
      };
      return {
        collect(): Sample[] {
          const sums = lookupPerCpuArraySums(outcomes);
          const samples: Sample[] = labels.map((outcome, i) => ({ name: "events_total", help: EVENTS_HELP, type: "counter", value: sums[i] ?? 0, labels: { outcome } }));
          samples.push(
            { name: "events_total", help: EVENTS_HELP, type: "counter", value: sub.decodeErrors, labels: { outcome: "decode_error" } },
            { name: "events_total", help: EVENTS_HELP, type: "counter", value: sub.userFiltered, labels: { outcome: "user_filtered" } },
          );
          for (const s of readSeries(lease.object, drops)) samples.push(s);
          return samples;
        },
        stop() {
          sub.stop();
          lease.release();
        },
      };
    } catch (err) {
      lease.release();
      throw err;
    }
  },
};
