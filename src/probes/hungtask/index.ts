// hungtask (event probe): the kernel's hung task detector reporting a task blocked in
// uninterruptible sleep longer than kernel.hung_task_timeout_secs (sched:sched_process_hang),
// with the task's kernel stack taken in BPF and the stacks of the other tasks blocked in D state.
// hungtask_total counts every report; saved events are throttled by HUATUO's backoff (10 min
// doubling to 3 h, reset after a quiet hour), and the reports held back are counted in
// <ns>_hungtask_events_total{outcome="backoff"}. Like huatuo-bamai, it is unsupported when the
// kernel has no hung task detector (no /proc/sys/kernel/hung_task_timeout_secs).
import { readFileSync } from "node:fs";
import objectPath from "../../../build/bpf/hungtask.bpf.o" with { type: "file" };
import { sharedKallsyms } from "../../bpf/symbols.ts";
import type { Sample } from "../../metrics/sample.ts";
import type { ProcfsRoot } from "../../procfs/root.ts";
import { defineBpfEventProbe, type BpfEventProbeDefinition, EVENTS_HELP } from "../kit/bpf-events.ts";
import { ProbeUnsupportedError, type ProbeEmission } from "../types.ts";
import { SaveBackoff } from "../kit/backoff.ts";
import { blockedText, procStackFrames, scanBlocked } from "./blocked.ts";
import { HUNGTASK_FIELDS, HungtaskDecoder, type HungTask } from "./decode.ts";


/** kernel.hung_task_timeout_secs: -1 without a hung task detector, 0 when disabled by the admin. */
export function hungTaskTimeout(procfs: ProcfsRoot): number {
  try {
    const v = readFileSync(procfs.proc("sys", "kernel", "hung_task_timeout_secs"), "utf8").trim();
    return /^-?\d+$/.test(v) ? Number(v) : -1;
  } catch {
    return -1;
  }
}

const base = defineBpfEventProbe({
  name: "hungtask",
  source: "bpf tp_btf/sched_process_hang (fallback: tracepoint sched/sched_process_hang); /proc/<pid>/task/<tid>/stack of D-state tasks",
  defaultEnabled: true,
  runtimeCapabilities: {
    CAP_SYS_ADMIN: "reads /proc/<pid>/task/<tid>/stack of the other blocked tasks (the kernel shows kernel stacks only to CAP_SYS_ADMIN)",
    CAP_SYS_PTRACE: "reads /proc/<pid>/task/<tid>/stack of other users' tasks (ptrace access)",
  },
  object: objectPath,
  ring: "hungtask_events",
  struct: "hungtask_event",
  fields: HUNGTASK_FIELDS,
  programs: [{ alternatives: ["hungtask_btf", "hungtask_tp"] }],
  prepare: ({ procfs }) => sharedKallsyms(procfs.proc("kallsyms")).preload(),
  decoder({ offsets, procfs }) {
    const symbols = sharedKallsyms(procfs.proc("kallsyms"));
    const decoder = new HungtaskDecoder(offsets, symbols.symbolizer);
    return (u8, dv, at) => decoder.decode(u8, dv, at) as unknown as Record<string, unknown>;
  },
});

/** HUATUO's tracer_data for a report the backoff let through. */
async function tracerData(task: HungTask, procfs: ProcfsRoot): Promise<Record<string, unknown>> {
  let stack = task.stack;
  if (!stack) {
    // no task from the hook: what /proc shows of it now
    try {
      stack = procStackFrames(readFileSync(procfs.proc(String(task.tid), "stack"), "utf8"));
    } catch {
      stack = "";
    }
  }
  const others = await scanBlocked(procfs, task.tid);
  return {
    tid: task.tid,
    comm: task.comm,
    // HUATUO fills this from sysrq "l" (all CPUs' backtraces via /dev/kmsg); kpulse never
    // triggers sysrq, so it stays empty.
    cpus_stack: "",
    blocked_processes_stack: blockedText({ tid: task.tid, pid: task.pid || task.tid, comm: task.comm, stack }, others),
    hung_task_timeout_secs: hungTaskTimeout(procfs),
  };
}

export interface HungtaskOptions {
  /** The save throttle (tests inject a clock); HUATUO's by default. */
  backoff?: SaveBackoff;
}

/** The probe with an injectable backoff (tests); the table uses hungtaskProbe. */
export function hungtaskProbeWith(opts: HungtaskOptions = {}): BpfEventProbeDefinition<unknown> {
  return {
    ...base,
    async create(ctx) {
      if (hungTaskTimeout(ctx.procfs) < 0) {
        throw new ProbeUnsupportedError("the kernel has no hung task detector (no /proc/sys/kernel/hung_task_timeout_secs)");
      }
      const backoff = opts.backoff ?? new SaveBackoff();
      let reports = 0;
      let heldBack = 0;
      let stopped = false;
      const inst = await base.create({
        ...ctx,
        emit(ev: ProbeEmission) {
          reports++;
          if (!backoff.allow()) {
            heldBack++;
            return;
          }
          tracerData(ev.data as unknown as HungTask, ctx.procfs).then(
            (data) => {
              if (!stopped) ctx.emit({ ...ev, data });
            },
            (err) => ctx.log.warn("hungtask event lost", { err: String(err) }),
          );
        },
      });
      return {
        async collect(): Promise<Sample[]> {
          const samples = [...((await inst.collect?.()) ?? [])];
          samples.push(
            { name: "events_total", help: EVENTS_HELP, type: "counter", value: heldBack, labels: { outcome: "backoff" } },
            { name: "total", help: "hungtask counter", type: "counter", value: reports },
          );
          return samples;
        },
        async stop() {
          stopped = true;
          await inst.stop();
        },
      };
    },
  };
}

export const hungtaskProbe = hungtaskProbeWith();
