// The probe table: every probe kpulse knows, by name. Adding a probe = one entry here plus
// its module (and its .bpf.c when it needs BPF).
import { dropwatchProbe } from "./dropwatch/index.ts";
import { loadavgProbe } from "./loadavg.ts";
import { netdevProbe } from "./netdev.ts";
import type { ProbeDefinition } from "./types.ts";

export const probeTable: readonly ProbeDefinition[] = [netdevProbe, loadavgProbe, dropwatchProbe];

export function findProbe(name: string, table: readonly ProbeDefinition[] = probeTable): ProbeDefinition | undefined {
  return table.find((p) => p.name === name);
}
