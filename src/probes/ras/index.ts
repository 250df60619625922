// ras (event probe): hardware errors the kernel reports through its RAS tracepoints — machine
// checks (mce:mce_record), EDAC memory errors (ras:mc_event), ACPI GHES sections
// (ras:non_standard_event), PCIe AER (ras:aer_event), ARM processor errors (ras:arm_event) and
// the x86 MCE threshold interrupt (irq_vectors:threshold_apic_entry) — with HUATUO's
// dev/event/type/info fields and ras_hw_err_total{type}. Each tracepoint the running kernel has
// (per its BTF) is an optional program; with none the probe is unsupported. MCE threshold events
// are saved at most once per MceThrBackoff seconds; the counter counts every one.
import objectPath from "../../../build/bpf/ras.bpf.o" with { type: "file" };
import { vmlinuxHasTracepoint } from "../../bpf/btf.ts";
import { monotonicToEpochMs } from "../../bpf/clock.ts";
import { lookupPerCpuArraySums } from "../../bpf/maps.ts";
import type { BpfObject, ProgramGroup } from "../../bpf/object.ts";
import { key, section } from "../../config/spec.ts";
import type { Sample } from "../../metrics/sample.ts";
import { defineBpfEventProbe, EVENTS_HELP, type BpfEventProbeDefinition, type BpfEventProbeSpec } from "../kit/bpf-events.ts";
import { ProbeUnsupportedError, type ProbeContext, type ProbeEmission, type ProbeInstance } from "../types.ts";
import { decodeRas, RAS_FIELDS, RAS_KINDS, rasTimestampNs } from "./decode.ts";

export const RAS_CONFIG = section("EventTracing.Ras", {
  /** Minimum seconds between two saved MCE threshold (THR) events; 0 = HUATUO's default (1800). */
  MceThrBackoff: key.int(1800, 0),
});

type RasConfig = NonNullable<typeof RAS_CONFIG.__values>;

/** Each source: its tracepoint (as btf_trace_<name> in the kernel's BTF) and its program. */
export const RAS_SOURCES = [
  { tracepoint: "mce_record", program: "ras_mce_record" },
  { tracepoint: "mc_event", program: "ras_mc_event" },
  { tracepoint: "non_standard_event", program: "ras_non_standard_event" },
  { tracepoint: "aer_event", program: "ras_aer_event" },
  { tracepoint: "arm_event", program: "ras_arm_event" },
  { tracepoint: "threshold_apic_entry", program: "ras_thr" },
] as const;

/** Hardware errors are rare; a storm beyond this is counted (ras_hw_err_total stays exact), not saved. */
export const RAS_MAX_EVENTS_PER_SEC = 1000;

const HW_ERR_HELP = "total RAS hardware error events by source type";
const DEFAULT_THR_BACKOFF_S = 1800;

/** True when the running kernel's BTF has the tracepoint (typedef btf_trace_<name>). */
export function kernelHasTracepoint(name: string): boolean {
  try {
    return vmlinuxHasTracepoint(name);
  } catch {
    return false; // no kernel BTF: no tp_btf either
  }
}

/** MCE threshold saves at most once per `backoffMs` (HUATUO's flat backoff). */
export class ThrGate {
  private nextAllowedMs = -Infinity;
  constructor(private readonly backoffMs: number) {}
  allow(nowMs: number): boolean {
    if (nowMs < this.nextAllowedMs) return false;
    this.nextAllowedMs = nowMs + this.backoffMs;
    return true;
  }
}

function rasSpec(programs: ProgramGroup[], onLoad?: (obj: BpfObject) => void): BpfEventProbeSpec<RasConfig, typeof RAS_FIELDS> {
  return {
    name: "ras",
    source: "bpf tp_btf/mce_record, mc_event, non_standard_event, aer_event, arm_event, threshold_apic_entry (those the kernel has)",
    defaultEnabled: true,
    config: RAS_CONFIG,
    object: objectPath,
    ring: "ras_events",
    struct: "ras_event",
    fields: RAS_FIELDS,
    programs,
    rodata: () => ({ kpulse_max_events_per_sec: RAS_MAX_EVENTS_PER_SEC }),
    decoder({ offsets, object, log }) {
      if (object.attached.length === 0) {
        throw new ProbeUnsupportedError(`no RAS tracepoint could be attached: ${object.skipped.map((s) => s.reason).join("; ")}`);
      }
      onLoad?.(object);
      log.info("ras sources", { programs: object.attached.map((a) => a.program).join(",") });
      return (u8, dv, at) => decodeRas(offsets, u8, dv, at, monotonicToEpochMs(rasTimestampNs(offsets, dv, at))).data;
    },
  };
}

const ALL_GROUPS: ProgramGroup[] = RAS_SOURCES.map((s) => ({ alternatives: [s.program], optional: true }));

/** ras_hw_err_total{type} from the object's per-source counters. */
export function hwErrSamples(obj: BpfObject | undefined): Sample[] {
  const sums = obj ? lookupPerCpuArraySums(obj.map("ras_counts")) : [];
  return RAS_KINDS.map((k, i) => ({ name: "hw_err_total", help: HW_ERR_HELP, type: "counter" as const, value: sums[i] ?? 0, labels: { type: k.type } }));
}

/** Starts the probe with the sources `has` says the kernel has (injectable for tests). */
export async function startRas(ctx: ProbeContext<RasConfig>, has: (tracepoint: string) => boolean = kernelHasTracepoint): Promise<ProbeInstance> {
  const present = RAS_SOURCES.filter((s) => has(s.tracepoint));
  if (!present.length) {
    throw new ProbeUnsupportedError(`the kernel has none of the RAS tracepoints (${RAS_SOURCES.map((s) => s.tracepoint).join(", ")})`);
  }
  let obj: BpfObject | undefined;
  let heldBack = 0;
  const gate = new ThrGate((ctx.config.MceThrBackoff || DEFAULT_THR_BACKOFF_S) * 1000);
  const groups = present.map((s) => ({ alternatives: [s.program], optional: true }));
  const inst = await defineBpfEventProbe(rasSpec(groups, (o) => (obj = o))).create({
    ...ctx,
    emit(ev: ProbeEmission) {
      // MCE threshold interrupts can storm: saved at most once per MceThrBackoff, all counted
      if (ev.data.event === "MCE_THRESHOLD" && !gate.allow(ev.timeMs ?? Date.now())) {
        heldBack++;
        return;
      }
      ctx.emit(ev);
    },
  });
  return {
    ...inst, // whatever else the kit's instance offers
    async collect() {
      return [
        ...((await inst.collect?.()) ?? []),
        { name: "events_total", help: EVENTS_HELP, type: "counter" as const, value: heldBack, labels: { outcome: "backoff" } },
        ...hwErrSamples(obj),
      ];
    },
    stop: () => inst.stop(),
  };
}

const base = defineBpfEventProbe(rasSpec(ALL_GROUPS));

export const rasProbe: BpfEventProbeDefinition<RasConfig> = { ...base, create: (ctx) => startRas(ctx) };
