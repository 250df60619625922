// ip: KubeSkoop's `ip` probe. KubeSkoop exports InNoRoutes and InTruncatedPkts, which the kernel
// prints in the IpExt row of /proc/<pid>/net/netstat (KubeSkoop looks for them in net/snmp, where
// they never are, so it always reports 0); kpulse reads them from netstat and adds the
// cumulative counters of the Ip row of net/snmp. Host network namespace; `<ns>_ip_<field>`.
// Rows are read with the tcp probe's helper (src/probes/tcp/series.ts).
import type { Sample } from "../../metrics/sample.ts";
import { hostNetFile } from "../../procfs/host-net.ts";
import { rowSamples, snmpSeries } from "../tcp/series.ts";
import { defineProbe } from "../types.ts";

/** The Ip row without Forwarding and DefaultTTL (settings, not statistics). */
export const IP_SERIES = snmpSeries("Ip", "snmp", [
  ["InReceives", "counter", "IP datagrams received from interfaces, including those received in error"],
  ["InHdrErrors", "counter", "IP datagrams discarded for header errors"],
  ["InAddrErrors", "counter", "IP datagrams discarded because the destination address is not valid here"],
  ["ForwDatagrams", "counter", "IP datagrams forwarded"],
  ["InUnknownProtos", "counter", "IP datagrams discarded for an unknown or unsupported protocol"],
  ["InDiscards", "counter", "received IP datagrams discarded without error, e.g. for lack of buffer space"],
  ["InDelivers", "counter", "IP datagrams delivered to upper-layer protocols"],
  ["OutRequests", "counter", "IP datagrams local protocols handed to IP for sending"],
  ["OutDiscards", "counter", "outgoing IP datagrams discarded without error, e.g. for lack of buffer space"],
  ["OutNoRoutes", "counter", "outgoing IP datagrams discarded because no route was found"],
  ["ReasmTimeout", "counter", "IP reassemblies that timed out"],
  ["ReasmReqds", "counter", "IP fragments received that needed reassembly"],
  ["ReasmOKs", "counter", "IP datagrams reassembled"],
  ["ReasmFails", "counter", "IP reassembly failures"],
  ["FragOKs", "counter", "IP datagrams fragmented"],
  ["FragFails", "counter", "IP datagrams discarded because they needed fragmenting but could not be"],
  ["FragCreates", "counter", "IP fragments created"],
  ["OutTransmits", "counter", "IP datagrams handed to interfaces, forwarded ones included, Linux 6.3+"],
]);

export const IPEXT_SERIES = snmpSeries("IpExt", "netstat", [
  ["InNoRoutes", "counter", "received IP datagrams discarded because no route was found"],
  ["InTruncatedPkts", "counter", "received IP datagrams discarded because they were shorter than their header says"],
]);

/** Samples from the texts of a net/snmp and a net/netstat file of the same namespace. */
export function ipSamples(snmp: { path: string; text: string }, netstat: { path: string; text: string }): Sample[] {
  return [
    ...rowSamples(snmp.text, snmp.path, "Ip", IP_SERIES),
    ...rowSamples(netstat.text, netstat.path, "IpExt", IPEXT_SERIES),
  ];
}

export const ipProbe = defineProbe({
  name: "ip",
  kind: "metric",
  source: "procfs /proc/<pid>/net/snmp, /proc/<pid>/net/netstat",
  defaultEnabled: false, // KubeSkoop's probes are opt-in, as in KubeSkoop: [Kpulse] EnableProbes

  create(ctx) {
    const snmp = hostNetFile(ctx.procfs, "snmp", ctx.log);
    const netstat = hostNetFile(ctx.procfs, "netstat", ctx.log);
    return {
      async collect() {
        const [s, n] = await Promise.all([snmp.read(), netstat.read()]);
        return ipSamples(s, n);
      },
      stop() {},
    };
  },
});
