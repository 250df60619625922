// dropwatch (event probe): every skb the kernel drops, from skb:kfree_skb, with the kernel's
// own drop reason. Rate-limited in BPF (MaxEventsPerSecond); every suppressed or lost event is
// counted in <ns>_dropwatch_events_total{outcome}.
import dropwatchObjectPath from "../../../build/bpf/dropwatch.bpf.o" with { type: "file" };
import { vmlinuxEnum } from "../../bpf/btf.ts";
import { sharedKallsyms } from "../../bpf/symbols.ts";
import { key, section } from "../../config/spec.ts";
import { defineBpfEventProbe } from "../kit/bpf-events.ts";
import { DROPWATCH_FIELDS, DropwatchDecoder } from "./decode.ts";

export const DROPWATCH_CONFIG = section("EventTracing.Dropwatch", {
  /** Drops freed in neigh_invalidate (a neighbour that never resolved) are ordinary: skip them. */
  ExcludedNeighInvalidate: key.bool(true),
  /** BPF rate limit; 0 = unlimited. */
  MaxEventsPerSecond: key.int(100, 0),
  /** HUATUO's pcap filter; accepted, not applied yet. */
  Filter: key.string(""),
  /** HUATUO accepts and never reads it; so does kpulse until containers are known. */
  ExcludeContainers: key.strings([]),
});

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

export const dropwatchProbe = defineBpfEventProbe({
  name: "dropwatch",
  source: "bpf tp_btf/kfree_skb (fallback: tracepoint skb/kfree_skb)",
  defaultEnabled: true,
  config: DROPWATCH_CONFIG,
  object: dropwatchObjectPath,
  ring: "dropwatch_events",
  struct: "dropwatch_event",
  fields: DROPWATCH_FIELDS,
  programs: [{ alternatives: ["dropwatch_tp_btf_rx_sk", "dropwatch_tp_btf", "dropwatch_tracepoint"] }],
  rateLimitKey: "MaxEventsPerSecond",
  // Symbolizing needs the kallsyms index; build it before load, without blocking on the read.
  prepare: ({ procfs }) => sharedKallsyms(procfs.proc("kallsyms")).preload(),
  rodata({ config, procfs }) {
    const neigh = config.ExcludedNeighInvalidate ? sharedKallsyms(procfs.proc("kallsyms")).range("neigh_invalidate") : undefined;
    return { exclude_loc_start: neigh?.start ?? 0n, exclude_loc_end: neigh?.end ?? 0n };
  },
  decoder({ offsets, procfs }) {
    const symbols = sharedKallsyms(procfs.proc("kallsyms"));
    const decoder = new DropwatchDecoder(offsets, { reasonName: reasonNamer(), symbolize: (hi, lo) => symbols.symbolize(hi, lo) });
    return (u8, dv, at) => decoder.decode(u8, dv, at);
  },
});
