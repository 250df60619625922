// tcpext: KubeSkoop's `tcpext` probe, the TcpExt row of /proc/<pid>/net/netstat (the host's
// network namespace): `<ns>_tcpext_<field>` for the fields KubeSkoop exports
// (inspector_pod_tcpext<field>). Rows are read with the tcp probe's helper (src/probes/tcp/series.ts).
import type { Sample } from "../../metrics/sample.ts";
import { rowSamples, snmpSeries } from "../tcp/series.ts";
import { defineHostNetFileProbe } from "../kit/host-net-file.ts";

export const TCPEXT_SERIES = snmpSeries("TcpExt", "netstat", [
  ["ListenDrops", "counter", "SYNs to listening sockets dropped for any reason, a full accept queue included"],
  ["ListenOverflows", "counter", "times the accept queue of a listening socket was full"],
  ["TCPSynRetrans", "counter", "SYN and SYN-ACK retransmissions"],
  ["TCPFastRetrans", "counter", "fast retransmissions"],
  ["TCPRetransFail", "counter", "retransmissions that failed below TCP, in the IP layer or the device"],
  ["TCPTimeouts", "counter", "retransmission timer expiries"],
  ["TCPAbortOnClose", "counter", "connections reset because the application closed them with unread data"],
  ["TCPAbortOnMemory", "counter", "connections reset for lack of memory or too many orphans"],
  ["TCPAbortOnTimeout", "counter", "connections reset after their retransmissions or probes timed out"],
  ["TCPAbortOnLinger", "counter", "connections reset when their linger or FIN-WAIT-2 time ran out"],
  ["TCPAbortOnData", "counter", "connections reset because data arrived after the application closed"],
  ["TCPAbortFailed", "counter", "resets that could not be sent"],
  ["TCPACKSkippedSynRecv", "counter", "ACKs not sent in SYN-RECV, rate limited"],
  ["TCPACKSkippedPAWS", "counter", "ACKs for PAWS-rejected segments not sent, rate limited"],
  ["TCPACKSkippedSeq", "counter", "ACKs for out-of-window segments not sent, rate limited"],
  ["TCPACKSkippedFinWait2", "counter", "ACKs for out-of-window segments in FIN-WAIT-2 not sent, rate limited"],
  ["TCPACKSkippedTimeWait", "counter", "ACKs for out-of-window segments in TIME-WAIT not sent, rate limited"],
  ["TCPACKSkippedChallenge", "counter", "challenge ACKs not sent, rate limited"],
  ["TCPRcvQDrop", "counter", "segments dropped because the receive queue was full and no memory was left"],
  ["TCPMemoryPressures", "counter", "times TCP entered memory pressure"],
  ["TCPMemoryPressuresChrono", "counter", "milliseconds TCP spent under memory pressure"],
  ["PAWSActive", "counter", "SYN-ACKs of active opens rejected by the PAWS check"],
  ["PAWSEstab", "counter", "segments of established connections rejected by the PAWS check"],
  ["EmbryonicRsts", "counter", "resets received for connections in SYN-RECV"],
  ["TCPWinProbe", "counter", "zero-window probes sent"],
  ["TCPKeepAlive", "counter", "keepalive probes sent"],
  ["TCPMTUPFail", "counter", "path MTU probes that failed"],
  ["TCPMTUPSuccess", "counter", "path MTU probes that succeeded"],
  ["TCPZeroWindowDrop", "counter", "segments dropped because the receive window was zero"],
  ["TCPBacklogDrop", "counter", "segments dropped because the socket backlog was full"],
  ["PFMemallocDrop", "counter", "segments from emergency memory reserves dropped by sockets not allowed to use them"],
  ["TCPWqueueTooBig", "counter", "sends or fragmentations refused because the write queue was too big"],
]);

/** Samples from the text of a net/netstat file. */
export function tcpextSamples(text: string, path: string): Sample[] {
  return rowSamples(text, path, "TcpExt", TCPEXT_SERIES);
}

export const tcpextProbe = defineHostNetFileProbe({
  name: "tcpext",
  file: "netstat",
  defaultEnabled: false, // KubeSkoop's probes are opt-in, as in KubeSkoop: [Kpulse] EnableProbes
  samples: tcpextSamples,
});
