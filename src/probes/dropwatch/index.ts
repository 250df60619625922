// dropwatch (event probe): every skb the kernel drops, from skb:kfree_skb, with the kernel's
// own drop reason. Rate-limited in BPF (MaxEventsPerSecond); every suppressed or lost event is
// counted in <ns>_dropwatch_bpf_events_total{outcome}.
import dropwatchObjectPath from "../../../build/bpf/dropwatch.bpf.o" with { type: "file" };
import { monotonicToEpochMs } from "../../../ffi/clock.ts";
import { vmlinuxEnum } from "../../bpf/btf.ts";
import { sharedKallsyms } from "../../bpf/symbols.ts";
import { startEventObject } from "../../bpf/event-probe.ts";
import type { ProbeDefinition } from "../types.ts";
import { DropwatchDecoder, resolveLayout } from "./decode.ts";

/** Drop reasons by number for the running kernel; numbering changes between kernels. */
function reasonNamer(): (n: number) => string {
  let names: Map<number, string>;
  try {
    names = vmlinuxEnum("skb_drop_reason");
  } catch {
    names = new Map(); // kernels before 5.17 have no reasons: report the number
  }
  return (n) => names.get(n) ?? String(n);
}

export const dropwatchProbe: ProbeDefinition = {
  name: "dropwatch",
  kind: "event",
  source: "bpf tp_btf/kfree_skb (fallback: tracepoint skb/kfree_skb)",
  defaultEnabled: true,
  configSection: "EventTracing.Dropwatch",
  async create(ctx) {
    const cfg = ctx.config.EventTracing.Dropwatch;
    const symbols = sharedKallsyms(ctx.procfs.proc("kallsyms"));
    void symbols.size; // build the index now, not on the first drop
    const neigh = cfg.ExcludedNeighInvalidate ? symbols.range("neigh_invalidate") : undefined;
    const reasonName = reasonNamer();

    return startEventObject(ctx, {
      probe: "dropwatch",
      objectPath: dropwatchObjectPath,
      ringMap: "dropwatch_events",
      rodata: {
        kpulse_max_events_per_sec: cfg.MaxEventsPerSecond,
        exclude_loc_start: neigh?.start ?? 0n,
        exclude_loc_end: neigh?.end ?? 0n,
      },
      groups: [{ alternatives: ["dropwatch_tp_btf_rx_sk", "dropwatch_tp_btf", "dropwatch_tracepoint"] }],
      makeDecoder(obj) {
        const decoder = new DropwatchDecoder(resolveLayout(obj.structLayout("dropwatch_event")), {
          reasonName,
          symbolize: (hi, lo) => symbols.symbolize(hi, lo),
          toEpochMs: monotonicToEpochMs,
        });
        return (u8, dv, at) => {
          const drop = decoder.decode(u8, dv, at);
          ctx.emit({ tracerName: "dropwatch", timeMs: drop.timeMs, data: drop.data });
        };
      },
    });
  },
};
