// packetloss (KubeSkoop's probe): kernel packet drops counted by where the skb was freed, as
// KubeSkoop names them (<ns>_packetloss_{tcphandle,tcprcv,tcpstatm,netfilter,abnormal,total}),
// and a PACKETLOSS event (5-tuple, reason, stack) per anomalous drop.
//
// No BPF of its own: it reads dropwatch's object (src/probes/dropwatch/shared.ts), whose one
// kfree_skb program classifies every drop into bpf/include/dropwatch.h's enum
// packetloss_location and counts it. Mapping of KubeSkoop's locations:
//   tcphandle  freed in tcp_v4_do_rcv / tcp_v6_do_rcv      tcprcv    in tcp_v4_rcv / tcp_v6_rcv
//   tcpstatm   in tcp_rcv_state_process                    netfilter in nf_hook_slow(_list), or
//              reason NETFILTER_DROP wherever it was freed
//   abnormal   anywhere else, except ordinary drops (dropwatch's count-only policy: KubeSkoop's
//              ignore list generalised)                    total     every drop
// Events follow dropwatch's policy and rate limit ([EventTracing.Dropwatch], its defaults when
// dropwatch is disabled): the records are the same. Counters cover all network namespaces.
import { sharedKallsyms } from "../../bpf/symbols.ts";
import type { Sample } from "../../metrics/sample.ts";
import { EVENTS_HELP, type BpfEventProbeDefinition } from "../kit/bpf-events.ts";
import { indexLabel, readSeries } from "../kit/bpf-maps.ts";
import { acquireDropObject, DROPWATCH_OBJECT, DROPWATCH_STRUCT } from "../dropwatch/shared.ts";
import { PACKETLOSS_FIELDS, PacketlossDecoder } from "./decode.ts";

/** KubeSkoop's descriptions of its packetloss metrics. */
export const PACKETLOSS_HELP: Readonly<Record<string, string>> = {
  tcphandle: "Packet dropped count in tcp_v4_do_rcv() (and tcp_v6_do_rcv()).",
  tcprcv: "Packet dropped count in tcp_v4_rcv() (and tcp_v6_rcv()).",
  abnormal: "Packet dropped count in other functions, ordinary drops excluded.",
  total: "Packet dropped total count.",
  netfilter: "Packet dropped in nf_hook_slow() (or with reason NETFILTER_DROP).",
  tcpstatm: "Packet dropped in tcp_rcv_state_process().",
};

export const packetlossProbe: BpfEventProbeDefinition<unknown> = {
  bpf: { object: DROPWATCH_OBJECT, struct: DROPWATCH_STRUCT, fields: PACKETLOSS_FIELDS },
  name: "packetloss",
  kind: "event",
  source: "bpf tp_btf/kfree_skb: dropwatch's object and program (one attach for both probes)",
  defaultEnabled: false, // KubeSkoop's probes are opt-in, as in KubeSkoop: [Kpulse] EnableProbes

  async create(ctx) {
    const lease = await acquireDropObject({ procfs: ctx.procfs, log: ctx.log });
    try {
      // Counter names from the object's own enum: PACKETLOSS_TCPRCV → "tcprcv".
      const names: string[] = [];
      for (const [v, n] of lease.object.enumNames("packetloss_location")) {
        if (!n.endsWith("_MAX")) names[v] = n.replace(/^PACKETLOSS_/, "").toLowerCase();
      }
      const symbols = sharedKallsyms(ctx.procfs.proc("kallsyms"));
      const decoder = new PacketlossDecoder(lease.offsets(PACKETLOSS_FIELDS), {
        locationName: (v) => names[v] ?? String(v),
        reasonName: lease.reasonName,
        symbolize: symbols.symbolizer,
      });
      const sub = lease.subscribe("packetloss", (u8, dv, at) => decoder.decode(u8, dv, at), ctx.emit, ctx.log);
      const series = { map: "packetloss_counts", name: "", help: "", type: "counter" as const, labels: indexLabel("location", names) };
      return {
        collect(): Sample[] {
          const samples: Sample[] = readSeries(lease.object, series).map((s) => {
            const location = s.labels!.location!;
            return { name: location, help: PACKETLOSS_HELP[location] ?? "Packets dropped.", type: "counter", value: s.value };
          });
          samples.push(
            { name: "events_total", help: EVENTS_HELP, type: "counter", value: sub.decodeErrors, labels: { outcome: "decode_error" } },
            { name: "events_total", help: EVENTS_HELP, type: "counter", value: sub.userFiltered, labels: { outcome: "user_filtered" } },
          );
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
