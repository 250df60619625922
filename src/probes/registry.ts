// The probe table: every probe kpulse knows, by name. Adding a probe = its folder under
// src/probes/<name>/ (definition with its own config section, decoder or parser), its .bpf.c and
// header when it needs BPF, its tests, and one entry here. Nothing else in the tree names it.
import { dropwatchProbe } from "./dropwatch/index.ts";
import { loadavgProbe } from "./loadavg/index.ts";
import { netdevProbe } from "./netdev/index.ts";
import { sockstatProbe } from "./sockstat/index.ts";
import { tcpRetransmitProbe } from "./tcp_retransmit/index.ts";
import type { ProbeDefinition } from "./types.ts";

export const probeTable: readonly ProbeDefinition[] = [netdevProbe, loadavgProbe, sockstatProbe, dropwatchProbe, tcpRetransmitProbe];
