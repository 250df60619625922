// Least privilege, as ebpf_exporter does it: at start, one report of the capabilities the agent
// has and what each missing one costs; once every probe has settled, the capabilities no loaded
// probe still uses (ProbeDefinition.runtimeCapabilities) are dropped for good. The state is
// served in GET /v1/probes (`capabilities`) and as <ns>_capability_effective{cap}.
//
// Threads: capset changes the calling thread only. The main thread, which runs every probe's
// code, drops its own; the ring waiter Worker gives up all of its own when it starts
// (ring-waiter.worker.ts); every other thread (Bun's pool, JIT and GC threads) is made to run the
// same capset through a signal handler (all-threads.ts, as Go's psx). What each thread holds
// afterwards is read back from /proc/self/task and listed when it is more than the main thread's.
import { libbpf } from "../../ffi/libbpf.ts";
import { BpfObject } from "../bpf/object.ts";
import { dropOnOtherThreads, type OtherThreadsDrop } from "./all-threads.ts";
import { kernelSymbolsState } from "../bpf/symbols.ts";
import type { Logger } from "../log.ts";
import type { Sample } from "../metrics/sample.ts";
import type { RuntimeCapabilities } from "../probes/types.ts";
import {
  capBit, capNames, currentCapabilities, dropToThisThread, effectiveNow, hexMask, maskOf, threadCapabilities, withoutEffective,
  type CapabilityName, type ThreadSets,
} from "./capabilities.ts";

interface Use {
  cap: CapabilityName;
  /** What the agent cannot do without it. */
  impact: string;
  /** Another capability that grants the same (CAP_SYS_ADMIN covers CAP_BPF and CAP_PERFMON). */
  coveredBy?: CapabilityName;
}

/** Every capability kpulse uses, in the order the start report lists them. */
export const CAPABILITY_USES: readonly Use[] = [
  { cap: "CAP_BPF", coveredBy: "CAP_SYS_ADMIN", impact: "BPF probes cannot load (programs and maps need CAP_BPF or CAP_SYS_ADMIN): every bpf probe is failed" },
  { cap: "CAP_PERFMON", coveredBy: "CAP_SYS_ADMIN", impact: "tracing programs (tracepoint, tp_btf, raw_tp, perf_event) cannot load or attach: BPF event and latency probes are failed" },
  {
    cap: "CAP_SYSLOG",
    impact: "/proc/kallsyms shows every address as 0 (unless kernel.kptr_restrict=0 and kernel.perf_event_paranoid<=1): kernel stacks are reported unsymbolized (raw addresses, marked so), sched_tick cannot find the tick callback, dropwatch's CountOnlyLocations and packetloss locations are not applied; /dev/kmsg cannot be opened when kernel.dmesg_restrict=1 (softlockup falls back to BPF)",
  },
  { cap: "CAP_NET_ADMIN", impact: "/proc/net/bonding/<bond> omits the LACP actor/partner details (netdev_bonding_lacp reports less)" },
  {
    cap: "CAP_SYS_PTRACE",
    impact: "other users' /proc/<pid>/io, /proc/<pid>/fd links, /proc/<pid>/task/<tid>/stack and /proc/1/ns/net are unreadable: the io and fd probes skip those processes, hungtask lists fewer blocked stacks, netlink probes query the agent's own network namespace (the host's only with host networking)",
  },
  { cap: "CAP_DAC_READ_SEARCH", impact: "other users' /proc/<pid>/fd and /proc/<pid>/io are unreadable (fd and io probes skip those processes)" },
  {
    cap: "CAP_SYS_ADMIN",
    impact: "no BPF program run-time statistics ([Kpulse] BpfProgramStats), hungtask cannot read the other blocked tasks' kernel stacks, netlink probes cannot enter the host network namespace from a container (not needed with host networking; not granted by the packaged unit)",
  },
];

export interface MissingCapability {
  cap: CapabilityName;
  impact: string;
}

/** GET /v1/probes `capabilities`. */
export interface CapabilityState {
  /** Effective capabilities of the main thread at start. */
  present: string[];
  /** Capabilities kpulse uses that it lacks, with what that costs. */
  missing: MissingCapability[];
  /** After the drop: what is kept and which loaded probe needs it. Absent before the drop. */
  kept?: { cap: string; why: string[] }[];
  dropped?: string[];
  /** Threads (tid, name) that still hold more than `kept`: capset is per thread (see the docs). */
  threads_holding_more?: { tid: number; comm: string; effective: string[]; why?: string }[];
  /** "available", "unavailable: <why>", or absent while no probe has needed kernel symbols. */
  kernel_symbols?: string;
}

/** The capabilities kpulse uses that `effective` lacks, each with its cost. */
export function missingCapabilities(effective: bigint): MissingCapability[] {
  return CAPABILITY_USES.filter((u) => !(effective & capBit(u.cap)) && !(u.coveredBy && effective & capBit(u.coveredBy)))
    .map(({ cap, impact }) => ({ cap, impact }));
}

/** What loaded probes still use: capability → "probe, probe: why" lines (probes with the same reason grouped). */
export function runtimeNeeds(probes: readonly { name: string; runtimeCapabilities?: RuntimeCapabilities }[]): Map<CapabilityName, string[]> {
  const byCap = new Map<CapabilityName, Map<string, string[]>>();
  for (const p of probes) {
    for (const [cap, why] of Object.entries(p.runtimeCapabilities ?? {}) as [CapabilityName, string][]) {
      const reasons = byCap.get(cap) ?? new Map<string, string[]>();
      reasons.set(why, [...(reasons.get(why) ?? []), p.name]);
      byCap.set(cap, reasons);
    }
  }
  const out = new Map<CapabilityName, string[]>();
  for (const [cap, reasons] of byCap) out.set(cap, [...reasons].map(([why, names]) => `${names.join(", ")}: ${why}`));
  return out;
}

/** EPERM from the kernel, as libbpf's low-level calls return it. */
const EPERM = 1;

/**
 * Whether bpf() commands on map fds the agent already holds still need CAP_BPF on this kernel:
 * Linux 6.5+ checks capabilities only when creating maps and loading programs, older kernels with
 * kernel.unprivileged_bpf_disabled != 0 on every bpf() call. Tried for real on one live map,
 * with CAP_BPF and CAP_SYS_ADMIN lowered from the effective set for the call.
 */
export function mapReadsNeedCapBpf(): boolean {
  for (const obj of BpfObject.live) {
    for (const name of obj.mapNames()) {
      const map = obj.map(name);
      if (map.fd < 0) continue;
      const key = new Uint8Array(Math.max(map.keySize, 1));
      const r = withoutEffective(maskOf(["CAP_BPF", "CAP_SYS_ADMIN"]), () => libbpf().bpf_map_get_next_key(map.fd, null, key));
      return r === -EPERM;
    }
  }
  return false; // no BPF object live: nothing reads maps
}

export class LeastPrivilege {
  private readonly start: ThreadSets;
  private state: CapabilityState;

  constructor(private readonly log: Logger) {
    this.start = currentCapabilities();
    this.state = { present: capNames(this.start.effective), missing: missingCapabilities(this.start.effective) };
  }

  /** One log line for what the agent has, and one warning per missing capability with its cost. */
  reportStart(): void {
    const s = this.start;
    this.log.info("capabilities", {
      effective: capNames(s.effective).join(",") || "none",
      permitted: hexMask(s.permitted), ambient: hexMask(s.ambient), bounding: hexMask(s.bounding),
    });
    for (const m of this.state.missing) this.log.warn(`no ${m.cap}`, { impact: m.impact });
  }

  /**
   * Drop from the main thread every capability no loaded probe uses at run time (plus CAP_BPF when
   * this kernel still gates map reads). Logs what was kept and why, and the threads that hold more.
   */
  dropUnused(loaded: readonly { name: string; runtimeCapabilities?: RuntimeCapabilities }[]): void {
    const needs = runtimeNeeds(loaded);
    if (mapReadsNeedCapBpf()) needs.set("CAP_BPF", ["bpf(): this kernel checks CAP_BPF on every map read (before Linux 6.5, kernel.unprivileged_bpf_disabled != 0)"]);
    const had = currentCapabilities();
    const keep = maskOf(needs.keys()) & had.permitted;
    const err = dropToThisThread(keep);
    if (err < 0) {
      this.log.warn("cannot drop capabilities", { errno: -err });
      return;
    }
    const now = currentCapabilities();
    let others: OtherThreadsDrop | undefined;
    try {
      others = dropOnOtherThreads(now);
    } catch (err) {
      this.log.warn("capabilities dropped on the main thread only: the other threads keep theirs", { err: String(err) });
    }
    const why = new Map((others?.unreachable ?? []).map((u) => [u.tid, u.why]));
    const kept = capNames(now.effective).map((cap) => ({ cap, why: needs.get(cap as CapabilityName) ?? [] }));
    const dropped = capNames(had.permitted & ~now.permitted);
    const extra = threadCapabilities().filter((t) => t.effective & ~now.effective);
    this.state = {
      ...this.state,
      kept,
      dropped,
      threads_holding_more: extra.map((t) => ({ tid: t.tid, comm: t.comm, effective: capNames(t.effective), ...(why.has(t.tid) ? { why: why.get(t.tid) } : {}) })),
    };
    this.log.info("capabilities dropped after start-up", {
      kept: kept.map((k) => k.cap).join(",") || "none",
      dropped: dropped.join(",") || "none",
      effective: hexMask(now.effective),
      permitted: hexMask(now.permitted),
      other_threads: others ? `${others.dropped} dropped, ${others.unreachable.length} unreachable` : "not dropped",
    });
    for (const k of kept) this.log.info(`keeping ${k.cap}`, { for: k.why.join("; ") });
    if (extra.length) {
      this.log.info("threads that still hold more than the main thread (capabilities are per thread)", {
        threads: extra.map((t) => `${t.tid}/${t.comm}${why.has(t.tid) ? ` (${why.get(t.tid)})` : ""}`).join(","),
      });
    }
  }

  /** For GET /v1/probes. */
  capabilityState(): CapabilityState {
    const symbols = kernelSymbolsState();
    return symbols ? { ...this.state, kernel_symbols: symbols } : { ...this.state };
  }

  /** <ns>_capability_effective{cap}: 1 while the main thread holds a capability kpulse uses. */
  samples(): Sample[] {
    let effective = 0n;
    try {
      effective = effectiveNow();
    } catch {
      // capget cannot fail for the calling thread; a 0 series is the safe answer if it does
    }
    return CAPABILITY_USES.map((u) => ({
      name: "capability_effective",
      help: "1 when the agent's main thread holds this capability (kpulse uses it; see GET /v1/probes `capabilities` for what a missing one costs).",
      type: "gauge",
      value: effective & capBit(u.cap) ? 1 : 0,
      labels: { cap: u.cap },
    }));
  }
}
