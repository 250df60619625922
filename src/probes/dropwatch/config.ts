// [EventTracing.Dropwatch] and what it means for the shared kfree_skb object: which drops are
// anomalies (events) and which are ordinary (counted in <ns>_dropwatch_drops_total{reason} and
// the packetloss counters, never events). Kept apart from index.ts so the shared object
// (shared.ts) can apply the defaults when packetloss loads it without dropwatch.
import { key, section, sectionDefaults } from "../../config/spec.ts";
import { tcpStateName } from "../kit/decoders.ts";

/**
 * Reasons the kernel gives for drops that are part of normal operation: queues purged when a
 * socket goes away, duplicates TCP already has, segments for connections being torn down,
 * unix sockets, packet-socket filters and frames meant for other hosts. Names as in the
 * kernel's enum skb_drop_reason, with or without the SKB_DROP_REASON_ prefix.
 */
export const DEFAULT_COUNT_ONLY_REASONS: readonly string[] = [
  "QUEUE_PURGE", "SOCKET_CLOSE", "TCP_CLOSE", "TCP_RESET", "TCP_OLD_DATA", "TCP_ABORT_ON_DATA",
  "TCP_OLD_ACK", "TCP_TOO_OLD_ACK", "TCP_OLD_SEQUENCE", "TCP_OFOMERGE", "UNIX_DISCONNECT",
  "UNIX_SKIP_OOB", "SOCKET_FILTER", "OTHERHOST", "IPV6_NDISC_NS_OTHERHOST", "IPV6DISABLED",
];

/**
 * Reason:state pairs that are ordinary only on a TCP socket in that state. NOT_SPECIFIED on a
 * listener is the bare handshake ACK a TCP_DEFER_ACCEPT listener (every Bun/uSockets HTTP
 * server, kpulse's own included) frees while it waits for data; on TIME_WAIT, a late segment of
 * a closed connection. The pseudo-state STRAY means "no socket, and the skb is a TCP segment
 * other than a SYN": NO_SOCKET:STRAY is a late segment of a connection this host already
 * forgot (after a reset), while a SYN to a closed port stays an event. A listener whose queue
 * is full is never ordinary (listen overflow).
 */
export const DEFAULT_COUNT_ONLY_REASON_STATES: readonly string[] = ["NOT_SPECIFIED:LISTEN", "NOT_SPECIFIED:TIME_WAIT", "NO_SOCKET:STRAY"];

/** CountOnlyReasonStates' pseudo-state (bit 0 of the policy, see bpf/include/dropwatch.h). */
export const STRAY_STATE = "STRAY";

/**
 * Kernel functions whose frees are ordinary whatever the reason: KubeSkoop's ignore list
 * (socket teardown, netlink batches, unix connect, fragment lists), which is what makes them
 * ordinary on kernels without drop reasons (before 5.17), and multicast nobody joined
 * (ip6_mc_input). neigh_invalidate is added by ExcludedNeighInvalidate.
 */
export const DEFAULT_COUNT_ONLY_LOCATIONS: readonly string[] = [
  "sk_stream_kill_queues", "skb_queue_purge", "nfnetlink_rcv_batch", "unix_stream_connect",
  "skb_release_data", "ip6_mc_input",
];

/** Location ranges the BPF object holds (bpf/include/dropwatch.h DROPWATCH_MAX_RANGES). */
export const MAX_COUNT_ONLY_LOCATIONS = 16;

const TCP_STATE_NUMBERS: ReadonlyMap<string, number> = new Map([
  ...Array.from({ length: 12 }, (_, i) => [tcpStateName(i + 1), i + 1] as const),
  ["STRAY", 0],
]);

/** TCP state name (as sk_state prints it, or STRAY) → policy bit number, or undefined. */
export function tcpStateNumber(name: string): number | undefined {
  return TCP_STATE_NUMBERS.get(name);
}

const REASON_NAME = /^[A-Z0-9_]+$/;
const SYMBOL_NAME = /^[A-Za-z_][A-Za-z0-9_.]*$/;

function eachEntry(list: string[], ok: (v: string) => string | undefined): string | undefined {
  for (const v of list) {
    const p = ok(v);
    if (p) return `entry ${JSON.stringify(v)} ${p}`;
  }
  return undefined;
}

export const DROPWATCH_CONFIG = section("EventTracing.Dropwatch", {
  /** Drops freed in neigh_invalidate (a neighbour that never resolved) are ordinary: count only. */
  ExcludedNeighInvalidate: key.bool(true),
  /** BPF rate limit of events; 0 = unlimited. Ordinary drops never use it. */
  MaxEventsPerSecond: key.int(100, 0),
  /** HUATUO's pcap filter; accepted, not applied yet. */
  Filter: key.string(""),
  /** HUATUO accepts and never reads it; so does kpulse until containers are known. */
  ExcludeContainers: key.strings([]),
  /** kpulse: reasons that are counted, never events. */
  CountOnlyReasons: key.strings([...DEFAULT_COUNT_ONLY_REASONS], {
    check: (v) => eachEntry(v, (r) => (REASON_NAME.test(r) ? undefined : "is not a drop reason name (A-Z, 0-9, _)")),
  }),
  /** kpulse: "REASON:STATE" pairs counted, never events, on a TCP socket in that state. */
  CountOnlyReasonStates: key.strings([...DEFAULT_COUNT_ONLY_REASON_STATES], {
    check: (v) => eachEntry(v, (p) => {
      const [reason, state, extra] = p.split(":");
      if (extra !== undefined || !reason || !state || !REASON_NAME.test(reason)) return 'is not "REASON:STATE"';
      return tcpStateNumber(state) === undefined ? `names no TCP state (${[...TCP_STATE_NUMBERS.keys()].join(", ")})` : undefined;
    }),
  }),
  /** kpulse: kernel functions whose drops are counted, never events. */
  CountOnlyLocations: key.strings([...DEFAULT_COUNT_ONLY_LOCATIONS], {
    check: (v) => v.length > MAX_COUNT_ONLY_LOCATIONS - 1
      ? `has ${v.length} entries; at most ${MAX_COUNT_ONLY_LOCATIONS - 1} (one is kept for ExcludedNeighInvalidate)`
      : eachEntry(v, (s) => (SYMBOL_NAME.test(s) ? undefined : "is not a kernel function name")),
  }),
});

export type DropwatchConfig = NonNullable<(typeof DROPWATCH_CONFIG)["__values"]>;

/** What the BPF object is told: the event rate limit and which drops are ordinary. */
export interface DropPolicy {
  maxEventsPerSecond: number;
  /** Reason names (prefix optional): ordinary whatever the socket. */
  countOnlyReasons: readonly string[];
  /** [reason name, TCP state number]: ordinary on a TCP socket in that state. */
  countOnlyReasonStates: readonly (readonly [string, number])[];
  /** Kernel function names: drops freed inside them are ordinary. */
  countOnlyLocations: readonly string[];
}

export function policyFromConfig(cfg: DropwatchConfig): DropPolicy {
  return {
    maxEventsPerSecond: cfg.MaxEventsPerSecond,
    countOnlyReasons: cfg.CountOnlyReasons,
    countOnlyReasonStates: cfg.CountOnlyReasonStates.map((p) => {
      const [reason, state] = p.split(":");
      return [reason!, tcpStateNumber(state!)!] as const;
    }),
    countOnlyLocations: [...(cfg.ExcludedNeighInvalidate ? ["neigh_invalidate"] : []), ...cfg.CountOnlyLocations],
  };
}

/** The policy of the section's defaults (packetloss without dropwatch). */
export function defaultPolicy(): DropPolicy {
  return policyFromConfig(sectionDefaults(DROPWATCH_CONFIG, ""));
}
