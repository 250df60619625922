// Turning rows of /proc/<pid>/net/snmp and /proc/<pid>/net/netstat into samples, for the tcp,
// udp, ip and tcpext probes. The file format (header line + value line per protocol) is parsed by
// the netstat probe's parser. KubeSkoop names a series `inspector_pod_<probe><field>` with the
// kernel's field name in lower case (`inspector_pod_tcpactiveopens`); kpulse keeps the field
// part: `<ns>_tcp_activeopens`.
import type { Sample, SampleType } from "../../metrics/sample.ts";
import { parseNetstat } from "../netstat/parse.ts";

export interface SnmpSeries {
  /** The kernel's field name, e.g. "ActiveOpens". */
  field: string;
  /** The sample name after the probe prefix: the field in lower case. */
  name: string;
  type: SampleType;
  help: string;
}

/**
 * The series of one protocol row, built once per probe. `fields` is [field, type, description];
 * the HELP text ends with where the value comes from, e.g. "(Tcp ActiveOpens, /proc/net/snmp)".
 */
export function snmpSeries(proto: string, file: string, fields: [string, SampleType, string][]): SnmpSeries[] {
  return fields.map(([field, type, what]) => ({
    field,
    name: field.toLowerCase(),
    type,
    help: `${what[0]!.toUpperCase()}${what.slice(1)} (${proto} ${field}, /proc/net/${file}).`,
  }));
}

/**
 * Samples of `series` from the `proto` row of an snmp/netstat text. A field the kernel does not
 * print (an older kernel) has no series; a missing row or a cut file throws, naming the file.
 */
export function rowSamples(text: string, path: string, proto: string, series: readonly SnmpSeries[]): Sample[] {
  // procfs files end with a newline: without one the last value may have been cut short.
  if (text !== "" && !text.endsWith("\n")) throw new Error(`${path}: truncated (no newline at end of file)`);
  const rows = parseNetstat(text, path).filter((r) => r.proto === proto);
  if (rows.length === 0) throw new Error(`${path}: no "${proto}:" lines`);
  const values = new Map(rows.flatMap((r) => r.fields));
  const samples: Sample[] = [];
  for (const s of series) {
    const value = values.get(s.field);
    if (value !== undefined) samples.push({ name: s.name, help: s.help, type: s.type, value });
  }
  return samples;
}
