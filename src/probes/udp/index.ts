// udp: KubeSkoop's `udp` probe, the Udp row of /proc/<pid>/net/snmp (the host's network
// namespace): `<ns>_udp_<field>` for the fields KubeSkoop exports (inspector_pod_udp<field>).
// Rows are read with the tcp probe's helper (src/probes/tcp/series.ts).
import type { Sample } from "../../metrics/sample.ts";
import { rowSamples, snmpSeries } from "../tcp/series.ts";
import { defineHostNetFileProbe } from "../kit/host-net-file.ts";

export const UDP_SERIES = snmpSeries("Udp", "snmp", [
  ["InDatagrams", "counter", "UDP datagrams delivered to sockets"],
  ["NoPorts", "counter", "UDP datagrams received for a port no socket listens on"],
  ["InErrors", "counter", "UDP datagrams received that could not be delivered, other than for lack of a socket"],
  ["OutDatagrams", "counter", "UDP datagrams sent"],
  ["RcvbufErrors", "counter", "UDP datagrams dropped because the socket receive buffer was full"],
  ["SndbufErrors", "counter", "UDP datagrams not sent because the socket send buffer was full"],
  ["InCsumErrors", "counter", "UDP datagrams received with a bad checksum"],
  ["IgnoredMulti", "counter", "UDP broadcast or multicast datagrams no socket wanted"],
]);

/** Samples from the text of a net/snmp file. */
export function udpSamples(text: string, path: string): Sample[] {
  return rowSamples(text, path, "Udp", UDP_SERIES);
}

export const udpProbe = defineHostNetFileProbe({
  name: "udp",
  file: "snmp",
  defaultEnabled: false, // KubeSkoop's probes are opt-in, as in KubeSkoop: [Kpulse] EnableProbes
  samples: udpSamples,
});
