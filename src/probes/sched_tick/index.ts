// sched_tick (event probe): a scheduler tick that came more than IntervalThreshold ns after the
// previous one on its CPU — the CPU ran that long without its tick (interrupts off, a long hard
// interrupt, a vCPU the host did not run) — with the task and the kernel stack at the late tick.
// Tracepoints only (HUATUO uses kprobes): timer:hrtimer_expire_entry filtered on the tick's
// hrtimer callback, timer:tick_stop to forget intervals that span a stopped (NO_HZ) tick. At
// most 10 reports per CPU per second, the rest counted as ratelimited (bpf/sched_tick.bpf.c).
import { readFileSync } from "node:fs";
import objectPath from "../../../build/bpf/sched_tick.bpf.o" with { type: "file" };
import { sharedKallsyms } from "../../bpf/symbols.ts";
import { key, section } from "../../config/spec.ts";
import { defineBpfEventProbe } from "../kit/bpf-events.ts";
import { ProbeUnsupportedError } from "../types.ts";
import { SCHED_TICK_FIELDS, SchedTickDecoder } from "./decode.ts";

export const SCHED_TICK_CONFIG = section("EventTracing.SchedTick", {
  /** A tick later than this (ns) after the previous one on the same CPU is reported. */
  IntervalThreshold: key.int(10_000_000, 1),
});

/** The tick's hrtimer callback: tick_nohz_handler since 6.9, tick_sched_timer before. */
export const TICK_CALLBACKS = ["tick_nohz_handler", "tick_sched_timer"] as const;

/** HUATUO's limit: reports per CPU per second. */
export const REPORTS_PER_CPU_PER_SEC = 10;

/**
 * True when /proc/timer_list shows every CPU in low-resolution mode (`.hres_active : 0`): the
 * tick then never expires as an hrtimer and the probe would see nothing. Unknown (unreadable
 * file, no such lines) is false.
 */
export function tickNotOnHrtimers(timerList: string): boolean {
  const modes = [...timerList.matchAll(/^\s*\.hres_active\s*:\s*(\d+)/gm)].map((m) => m[1]);
  return modes.length > 0 && modes.every((m) => m === "0");
}

export const schedTickProbe = defineBpfEventProbe({
  name: "sched_tick",
  source: "bpf tp_btf/hrtimer_expire_entry (the tick's callback), tp_btf/tick_stop (fallback: tracepoint timer/*)",
  defaultEnabled: true,
  config: SCHED_TICK_CONFIG,
  object: objectPath,
  ring: "sched_tick_events",
  struct: "sched_tick_event",
  fields: SCHED_TICK_FIELDS,
  // tick_stop first, so no interval can span a stop the probe missed.
  programs: [
    { alternatives: ["sched_tick_stop_btf", "sched_tick_stop_tp"] },
    { alternatives: ["sched_tick_expire_btf", "sched_tick_expire_tp"] },
  ],
  async prepare({ procfs }) {
    await sharedKallsyms(procfs.proc("kallsyms")).preload();
    let timerList = "";
    try {
      timerList = readFileSync(procfs.proc("timer_list"), "utf8");
    } catch {
      // unreadable: assume high-resolution mode
    }
    if (tickNotOnHrtimers(timerList)) {
      throw new ProbeUnsupportedError("the tick is not driven by a high-resolution timer on any CPU (/proc/timer_list: hres_active 0)");
    }
  },
  rodata({ config, procfs }) {
    const symbols = sharedKallsyms(procfs.proc("kallsyms"));
    const fn = TICK_CALLBACKS.map((n) => symbols.range(n)).find((r) => r !== undefined);
    if (!fn) throw new ProbeUnsupportedError(`no tick callback in kallsyms (${TICK_CALLBACKS.join(", ")}), or addresses hidden by kptr_restrict`);
    return { tick_fn: fn.start, sched_tick_interval_threshold_ns: config.IntervalThreshold, max_reports_per_cpu_sec: REPORTS_PER_CPU_PER_SEC };
  },
  decoder({ offsets, procfs, config }) {
    const symbols = sharedKallsyms(procfs.proc("kallsyms"));
    const decoder = new SchedTickDecoder(offsets, config.IntervalThreshold, symbols.symbolizer);
    return (u8, dv, at) => decoder.decode(u8, dv, at);
  },
});
