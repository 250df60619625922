// tcpsummary (KubeSkoop's probe): TCP connection counts and queue sums of the host's network
// namespace from NETLINK_SOCK_DIAG inet_diag dumps (IPv4 and IPv6), not /proc/net/tcp: the
// kernel sends only the fixed inet_diag_msg per socket and nothing is formatted or parsed as text.
import { NETLINK_SOCK_DIAG } from "../../../ffi/netlink.ts";
import type { Sample } from "../../metrics/sample.ts";
import { hostNetlink, withSocket, type NetlinkOpener } from "../../netlink/host.ts";
import { request, type ReplyLimits } from "../../netlink/request.ts";
import { NLM_F_DUMP } from "../../netlink/wire.ts";
import { defineProbe, type ProbeInstance } from "../types.ts";
import { addInetDiagMessage, emptySummary, inetDiagRequest, SOCK_DIAG_BY_FAMILY, type TcpSummary } from "./parse.ts";

const AF_INET = 2;
const AF_INET6 = 10;

/** A socket costs ~100–150 bytes of reply: room for millions, still a bound. */
const LIMITS: ReplyLimits = { maxBytes: 2 ** 31, maxMessages: 10_000_000, maxMs: 30_000 };

// KubeSkoop's names (lower case, no separator after the probe name) and descriptions.
const SERIES: readonly { name: string; help: string; value: (s: TcpSummary) => number }[] = [
  { name: "tcpestablishedconn", help: "ESTABLISHED connection count", value: (s) => s.established },
  { name: "tcptimewaitconn", help: "TIME_WAIT connection count", value: (s) => s.timeWait },
  { name: "tcptxqueue", help: "tx queue length of all TCP connections", value: (s) => s.txQueue },
  { name: "tcprxqueue", help: "rx queue length of all TCP connections", value: (s) => s.rxQueue },
];

export const tcpsummaryProbe = defineProbe({
  name: "tcpsummary",
  kind: "metric",
  source: "netlink sock_diag inet_diag TCP dump (IPv4 and IPv6)",
  defaultEnabled: false, // KubeSkoop's probes are opt-in, as in KubeSkoop: [Kpulse] EnableProbes

  create(ctx) {
    return tcpSummaryCollector(hostNetlink(ctx.procfs, ctx.log));
  },
});

/** One namespace's summary: both address families, summed. */
export function readTcpSummary(opener: NetlinkOpener): TcpSummary {
  return withSocket(opener, NETLINK_SOCK_DIAG, (sock) => {
    const sum = emptySummary();
    for (const [family, label] of [[AF_INET, "IPv4"], [AF_INET6, "IPv6"]] as const) {
      const where = `netlink inet_diag ${label} TCP dump (${opener.describe()})`;
      request(sock, { type: SOCK_DIAG_BY_FAMILY, flags: NLM_F_DUMP, payload: inetDiagRequest(family), where }, (view, msg) => {
        if (msg.type === SOCK_DIAG_BY_FAMILY) addInetDiagMessage(sum, view, msg, where);
      }, LIMITS);
    }
    return sum;
  });
}

export function tcpSummaryCollector(opener: NetlinkOpener): ProbeInstance {
  return {
    collect(): Sample[] {
      const sum = readTcpSummary(opener);
      return SERIES.map((s) => ({ name: s.name, help: s.help, type: "gauge" as const, value: s.value(sum) }));
    },
    stop() {},
  };
}
