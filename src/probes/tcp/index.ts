// tcp: KubeSkoop's `tcp` probe, the Tcp row of /proc/<pid>/net/snmp (the host's network
// namespace): `<ns>_tcp_<field>` for the fields KubeSkoop exports (inspector_pod_tcp<field>).
// The file is parsed by the netstat probe's parser (src/probes/netstat/parse.ts).
import type { Sample } from "../../metrics/sample.ts";
import { defineHostNetFileProbe } from "../kit/host-net-file.ts";
import { rowSamples, snmpSeries } from "./series.ts";

export const TCP_SERIES = snmpSeries("Tcp", "snmp", [
  ["ActiveOpens", "counter", "TCP connections opened actively, CLOSED to SYN-SENT"],
  ["PassiveOpens", "counter", "TCP connections opened passively, LISTEN to SYN-RECV"],
  ["RetransSegs", "counter", "TCP segments retransmitted"],
  ["AttemptFails", "counter", "TCP connection attempts that failed: SYN-SENT or SYN-RECV to CLOSED, or SYN-RECV to LISTEN"],
  ["EstabResets", "counter", "TCP connections reset from ESTABLISHED or CLOSE-WAIT"],
  ["CurrEstab", "gauge", "TCP connections currently in ESTABLISHED or CLOSE-WAIT"],
  ["InSegs", "counter", "TCP segments received, including those received in error"],
  ["OutSegs", "counter", "TCP segments sent, excluding retransmissions"],
  ["InErrs", "counter", "TCP segments received in error, e.g. bad checksum or malformed header"],
  ["OutRsts", "counter", "TCP segments sent with the RST flag"],
]);

/** Samples from the text of a net/snmp file (host or, later, a container's init pid). */
export function tcpSamples(text: string, path: string): Sample[] {
  return rowSamples(text, path, "Tcp", TCP_SERIES);
}

export const tcpProbe = defineHostNetFileProbe({
  name: "tcp",
  file: "snmp",
  defaultEnabled: false, // KubeSkoop's probes are opt-in, as in KubeSkoop: [Kpulse] EnableProbes
  samples: tcpSamples,
});
