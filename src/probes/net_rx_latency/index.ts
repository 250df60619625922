// net_rx_latency (event probe): TCP packets that reached a stage of the receive path later than
// that stage's threshold (HUATUO's Driver2NetRx / Driver2TCP / Driver2Userspace), measured from
// the packet's receive timestamp: driver → netif_receive_skb (TO_NETIF_RCV), → TCP
// (tcp:tcp_probe, TO_TCPV4_RCV), → copy to the reading process (TO_USER_COPY). Tracepoints only
// (bpf/net_rx_latency.bpf.c). While it runs the probe holds a socket with software receive
// timestamps on, so the kernel stamps every received packet. The host's network namespace is
// skipped in BPF when ExcludedHostNetnamespace is set; HUATUO's known-issue list
// ([EventTracing] IssuesList) is matched against each event's title in user space.
import { readlinkSync, statSync } from "node:fs";
import objectPath from "../../../build/bpf/net_rx_latency.bpf.o" with { type: "file" };
import { key, section } from "../../config/spec.ts";
import type { ProcfsRoot } from "../../procfs/root.ts";
import { defineBpfEventProbe, type BpfEventProbeDefinition } from "../kit/bpf-events.ts";
import { excludeContainerQos } from "../kit/container-qos.ts";
import { containersOf, type ProbeContext } from "../types.ts";
import { compileIssues, NET_RX_LATENCY_FIELDS, NetRxLatencyDecoder } from "./decode.ts";
import { holdRxTimestamps, monoToRealOffsetNs } from "./timestamping.ts";

const QOS_LEVELS = ["guaranteed", "burstable", "besteffort"];

export const NET_RX_LATENCY_CONFIG = section("EventTracing.NetRxLatency", {
  /** ms from the receive timestamp to netif_receive_skb above which a packet is an event. */
  Driver2NetRx: key.int(5, 1),
  /** ms to TCP receive processing. */
  Driver2TCP: key.int(10, 1),
  /** ms to the copy into the reading process. */
  Driver2Userspace: key.int(115, 1),
  /** Pod QoS levels whose containers' events are skipped (counted as container_qos_excluded). */
  ExcludedContainerQos: key.strings([], {
    check: (v) => {
      const bad = v.find((q) => !QOS_LEVELS.includes(q.toLowerCase()));
      return bad === undefined ? undefined : `has ${JSON.stringify(bad)}, which is not one of ${QOS_LEVELS.join(", ")} (any case)`;
    },
  }),
  /** Skip packets of the host's network namespace (pid 1's), in BPF. */
  ExcludedHostNetnamespace: key.bool(true),
  /** BPF rate limit (HUATUO's is a fixed 100/s); 0 = unlimited. kpulse's addition. */
  MaxEventsPerSecond: key.int(100, 0),
});

type NetRxLatencyConfig = NonNullable<(typeof NET_RX_LATENCY_CONFIG)["__values"]>;

/** Inode number of a network namespace file (/proc/<pid>/ns/net), or undefined. */
export function netnsInum(path: string): number | undefined {
  try {
    const m = /\[(\d+)\]/.exec(readlinkSync(path));
    if (m) return Number(m[1]);
  } catch {
    // not a symlink under a fixture root, or not readable: fall back to the inode
  }
  try {
    return statSync(path).ino;
  } catch {
    return undefined;
  }
}

/** The host's network namespace: pid 1's, else our own. */
export function hostNetnsInum(procfs: ProcfsRoot): number | undefined {
  return netnsInum(procfs.proc("1", "ns", "net")) ?? netnsInum(procfs.proc("self", "ns", "net"));
}

const ms = (v: number) => BigInt(v) * 1_000_000n;

function definition(issues: readonly (readonly [string, string])[]) {
  return defineBpfEventProbe({
    name: "net_rx_latency",
    source: "bpf tp_btf/netif_receive_skb, tp_btf/tcp_probe, tp_btf/skb_copy_datagram_iovec (fallback: raw_tp/*); SO_TIMESTAMPING socket",
    defaultEnabled: true,
    config: NET_RX_LATENCY_CONFIG,
    object: objectPath,
    ring: "net_rx_latency_events",
    struct: "net_rx_latency_event",
    fields: NET_RX_LATENCY_FIELDS,
    programs: [
      { alternatives: ["rx_netif_receive_skb_btf", "rx_netif_receive_skb_raw"] },
      { alternatives: ["rx_tcp_probe_btf", "rx_tcp_probe_raw"] },
      { alternatives: ["rx_skb_copy_datagram_iovec_btf", "rx_skb_copy_datagram_iovec_raw"] },
    ],
    rateLimitKey: "MaxEventsPerSecond",
    rodata({ config, procfs, log }) {
      let host = 0;
      if (config.ExcludedHostNetnamespace) {
        host = hostNetnsInum(procfs) ?? 0;
        if (!host) log.warn("cannot read the host network namespace; host packets are not excluded");
      }
      return {
        mono_wall_offset: monoToRealOffsetNs(),
        rxlat_thresh_netif: ms(config.Driver2NetRx),
        rxlat_thresh_tcpv4: ms(config.Driver2TCP),
        rxlat_thresh_usercopy: ms(config.Driver2Userspace),
        host_netns_inum: host,
      };
    },
    decoder({ offsets, config }) {
      const d = new NetRxLatencyDecoder(offsets, [config.Driver2NetRx, config.Driver2TCP, config.Driver2Userspace], compileIssues(issues));
      return (u8, dv, at) => d.decode(u8, dv, at);
    },
  });
}

const base = definition([]);

export const netRxLatencyProbe: BpfEventProbeDefinition<NetRxLatencyConfig> = {
  ...base,
  async create(ctx: ProbeContext<NetRxLatencyConfig>) {
    // Events of containers whose pod QoS class is excluded (HUATUO ships ["besteffort"]) are counted, not emitted.
    const qos = excludeContainerQos(ctx.config.ExcludedContainerQos, containersOf(ctx), ctx.emit);
    // Timestamps on before the programs attach, off after they are gone.
    const hold = holdRxTimestamps();
    try {
      const inst = await definition(ctx.issuesList ?? []).create({ ...ctx, emit: qos.emit });
      return {
        collect: async () => [...((await inst.collect?.()) ?? []), qos.sample()],
        async stop() {
          try {
            await inst.stop();
          } finally {
            hold.close();
          }
        },
      };
    } catch (err) {
      hold.close();
      throw err;
    }
  },
};
