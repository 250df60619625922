// socketlatency (KubeSkoop's probe, events and counters): how long data waits inside TCP
// sockets. Read: from arrival (sock:sk_data_ready) to the process's read (sock:sock_recv_length);
// send: from the end of a write TCP could not send at once to its last byte reaching a device
// (net:net_dev_queue). Over the threshold: SOCKETLAT_READSLOW / SOCKETLAT_SENDSLOW events
// (rate-limited in BPF). Every wait over 1 ms is counted per network namespace in KubeSkoop's
// buckets: kpulse_socketlatency_{read,write}1ms (1–100 ms) and {read,write}100ms (over 100 ms).
import objectPath from "../../../build/bpf/socketlatency.bpf.o" with { type: "file" };
import { key, section } from "../../config/spec.ts";
import { defineBpfEventProbe } from "../kit/bpf-events.ts";
import { netnsLabel, type MapSeries } from "../kit/bpf-maps.ts";
import { decodeSocketLatency, SOCKETLATENCY_FIELDS } from "./decode.ts";

export const SOCKET_LATENCY_CONFIG = section("EventTracing.SocketLatency", {
  /** ms data may wait unread before a SOCKETLAT_READSLOW event (KubeSkoop: 100). */
  ReadThreshold: key.int(100, 1),
  /** ms written data may wait in the socket before a SOCKETLAT_SENDSLOW event (KubeSkoop: 100). */
  SendThreshold: key.int(100, 1),
  /** BPF rate limit; 0 = unlimited. */
  MaxEventsPerSecond: key.int(100, 0),
});

const COUNTERS = "socketlatency_counters";
const counter = (name: string, slot: number, help: string): MapSeries => ({ map: COUNTERS, name, help, type: "counter", slot, labels: netnsLabel });

/** struct socketlatency_counters, slot by slot (bpf/include/socketlatency.h). */
export const SOCKET_LATENCY_SERIES: readonly MapSeries[] = [
  counter("read1ms", 0, "Socket reads whose data had waited more than 1 ms and at most 100 ms, by network namespace inode."),
  counter("read100ms", 1, "Socket reads whose data had waited more than 100 ms, by network namespace inode."),
  counter("write1ms", 2, "Socket writes whose data waited in the socket more than 1 ms and at most 100 ms before reaching a device, by network namespace inode."),
  counter("write100ms", 3, "Socket writes whose data waited in the socket more than 100 ms before reaching a device, by network namespace inode."),
];

const ms = (v: number) => BigInt(v) * 1_000_000n;

export const socketLatencyProbe = defineBpfEventProbe({
  name: "socketlatency",
  source: "bpf tp_btf/sk_data_ready, tp_btf/sock_recv_length, tp_btf/sock_send_length, tp_btf/net_dev_queue, tp_btf/inet_sock_set_state (fallback: raw_tp/*)",
  defaultEnabled: false, // KubeSkoop's probes are opt-in, as in KubeSkoop: [Kpulse] EnableProbes
  config: SOCKET_LATENCY_CONFIG,
  object: objectPath,
  ring: "socketlatency_events",
  struct: "socketlatency_event",
  fields: SOCKETLATENCY_FIELDS,
  programs: [
    { alternatives: ["socklat_data_ready_btf", "socklat_data_ready_raw"] },
    { alternatives: ["socklat_recv_btf", "socklat_recv_raw"] },
    { alternatives: ["socklat_send_btf", "socklat_send_raw"] },
    { alternatives: ["socklat_dev_queue_btf", "socklat_dev_queue_raw"] },
    { alternatives: ["socklat_state_btf", "socklat_state_raw"] },
  ],
  rateLimitKey: "MaxEventsPerSecond",
  rodata: ({ config }) => ({ read_thresh_ns: ms(config.ReadThreshold), send_thresh_ns: ms(config.SendThreshold) }),
  decoder({ offsets }) {
    return (u8, dv, at) => decodeSocketLatency(offsets, u8, dv, at);
  },
  series: SOCKET_LATENCY_SERIES,
});
