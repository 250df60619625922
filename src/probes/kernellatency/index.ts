// kernellatency (KubeSkoop's probe, events and counters): time packets spend in the kernel's
// network stack. Receive: netif_receive_skb → TCP (tcp:tcp_probe); transmit: TCP's send stamp →
// device queue (net:net_dev_queue) → driver (net:net_dev_start_xmit). A packet slower than its
// direction's threshold is an RXKERNEL_SLOW / TXKERNEL_SLOW event with the latency of each
// location (rate-limited in BPF) and is counted per network namespace:
// kpulse_kernellatency_{rx,tx}slow (over the threshold) and {rx,tx}slow100ms (over 100 ms).
import objectPath from "../../../build/bpf/kernellatency.bpf.o" with { type: "file" };
import { key, section } from "../../config/spec.ts";
import { defineBpfEventProbe } from "../kit/bpf-events.ts";
import { netnsLabel, type MapSeries } from "../kit/bpf-maps.ts";
import { decodeKernelLatency, KERNELLATENCY_FIELDS } from "./decode.ts";

export const KERNEL_LATENCY_CONFIG = section("EventTracing.KernelLatency", {
  /** ms from netif_receive_skb to TCP above which a received packet is slow (KubeSkoop: 10). */
  RxThreshold: key.int(10, 1),
  /** ms from TCP's send to the driver above which a sent packet is slow (KubeSkoop: 10). */
  TxThreshold: key.int(10, 1),
  /** BPF rate limit; 0 = unlimited. Counters count every slow packet regardless. */
  MaxEventsPerSecond: key.int(100, 0),
});

const COUNTERS = "kernellatency_counters";
const counter = (name: string, slot: number, help: string): MapSeries => ({ map: COUNTERS, name, help, type: "counter", slot, labels: netnsLabel });

/** struct kernellatency_counters, slot by slot (bpf/include/kernellatency.h). */
export const KERNEL_LATENCY_SERIES: readonly MapSeries[] = [
  counter("rxslow", 0, "Received packets slower than RxThreshold from netif_receive_skb to TCP, by network namespace inode."),
  counter("rxslow100ms", 1, "Received packets slower than 100 ms from netif_receive_skb to TCP, by network namespace inode."),
  counter("txslow", 2, "Sent packets slower than TxThreshold from TCP's send to the driver, by network namespace inode."),
  counter("txslow100ms", 3, "Sent packets slower than 100 ms from TCP's send to the driver, by network namespace inode."),
];

const ms = (v: number) => BigInt(v) * 1_000_000n;

export const kernelLatencyProbe = defineBpfEventProbe({
  name: "kernellatency",
  source: "bpf tp_btf/netif_receive_skb, tp_btf/tcp_probe, tp_btf/net_dev_queue, tp_btf/net_dev_start_xmit (fallback: raw_tp/*)",
  defaultEnabled: false, // KubeSkoop's probes are opt-in, as in KubeSkoop: [Kpulse] EnableProbes
  config: KERNEL_LATENCY_CONFIG,
  object: objectPath,
  ring: "kernellatency_events",
  struct: "kernellatency_event",
  fields: KERNELLATENCY_FIELDS,
  programs: [
    { alternatives: ["klat_netif_receive_skb_btf", "klat_netif_receive_skb_raw"] },
    { alternatives: ["klat_tcp_probe_btf", "klat_tcp_probe_raw"] },
    { alternatives: ["klat_net_dev_queue_btf", "klat_net_dev_queue_raw"] },
    { alternatives: ["klat_net_dev_start_xmit_btf", "klat_net_dev_start_xmit_raw"] },
  ],
  rateLimitKey: "MaxEventsPerSecond",
  rodata: ({ config }) => ({ rx_thresh_ns: ms(config.RxThreshold), tx_thresh_ns: ms(config.TxThreshold) }),
  decoder({ offsets }) {
    return (u8, dv, at) => decodeKernelLatency(offsets, u8, dv, at);
  },
  series: KERNEL_LATENCY_SERIES,
});
