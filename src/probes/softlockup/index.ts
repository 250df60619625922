// softlockup (event probe): the kernel's soft lockup watchdog report — "BUG: soft lockup -
// CPU#N stuck for Ns! [comm:pid]" and the register dump and backtraces that follow it — read
// from /dev/kmsg as it is logged (there is no tracepoint). Fields cpu, pid, comm and cpus_stack
// (the report's following lines); softlockup_total counts every report, saves follow HUATUO's
// backoff (10 min doubling to 3 h, reset after 1 h beyond the wait). Where /dev/kmsg cannot be
// read, the fallback is a BPF hook on add_taint(TAINT_SOFTLOCKUP) (fentry, else kprobe), which
// gives cpu/pid/comm without the report.
import objectPath from "../../../build/bpf/softlockup.bpf.o" with { type: "file" };
import type { Sample } from "../../metrics/sample.ts";
import { SaveBackoff } from "../kit/backoff.ts";
import { cString, type Offsets } from "../kit/decoders.ts";
import { defineBpfEventProbe, EVENTS_HELP } from "../kit/bpf-events.ts";
import { defineProbe, ProbeUnsupportedError, type ProbeContext, type ProbeEmission, type ProbeInstance } from "../types.ts";
import { KmsgReader, type KmsgIo } from "./kmsg.ts";
import { SoftlockupAssembler, type SoftlockupReport } from "./parse.ts";

const TOTAL_HELP = "softlockup counter";
const RECORDS_HELP = "Kernel log records read from /dev/kmsg by the softlockup probe.";
const LOST_HELP = "Kernel log records overwritten in the kernel's ring before the softlockup probe read them.";

/** How long the log must stay quiet after a report's last line before the report is complete. */
export const REPORT_QUIET_MS = 1000;

export interface KmsgSourceOptions {
  path?: string;
  io?: KmsgIo;
  now?: () => number;
  quietMs?: number;
}

/** tracer_data of a report. */
export function reportData(r: SoftlockupReport): Record<string, unknown> {
  return { cpu: r.cpu, pid: r.pid, comm: r.comm, cpus_stack: r.lines.join("\n") };
}

/** The primary source: reports read from /dev/kmsg. Throws what opening it throws. */
export function startFromKmsg(ctx: ProbeContext<unknown>, opts: KmsgSourceOptions = {}): ProbeInstance & { readonly reader: KmsgReader } {
  const now = opts.now ?? Date.now;
  const backoff = new SaveBackoff({ now });
  const quietMs = opts.quietMs ?? REPORT_QUIET_MS;
  let total = 0;
  let emitted = 0;
  let heldBack = 0;
  let headerAtMs = 0;
  let quiet: ReturnType<typeof setTimeout> | undefined;

  const assembler = new SoftlockupAssembler({
    onHeader() {
      total++;
      headerAtMs = now();
      const allowed = backoff.allow();
      if (!allowed) heldBack++;
      return allowed;
    },
    onReport(r) {
      emitted++;
      ctx.emit({ timeMs: headerAtMs, data: reportData(r) });
    },
  });
  const reader = new KmsgReader({
    path: opts.path ?? ctx.procfs.dev("kmsg"),
    io: opts.io,
    onRecord(rec) {
      assembler.push(rec);
      if (quiet) clearTimeout(quiet);
      quiet = assembler.pending ? setTimeout(() => assembler.flush(), quietMs) : undefined;
    },
    onWatchError: (err) => ctx.log.warn("kmsg watch failed, watching again", { err: String(err) }),
  });
  ctx.log.info("softlockup reads the kernel log", { path: opts.path ?? ctx.procfs.dev("kmsg") });
  return {
    reader,
    collect(): Sample[] {
      return [
        { name: "total", help: TOTAL_HELP, type: "counter", value: total },
        { name: "events_total", help: EVENTS_HELP, type: "counter", value: emitted, labels: { outcome: "emitted" } },
        { name: "events_total", help: EVENTS_HELP, type: "counter", value: heldBack, labels: { outcome: "backoff" } },
        { name: "kmsg_records_total", help: RECORDS_HELP, type: "counter", value: reader.records },
        { name: "kmsg_records_lost_total", help: LOST_HELP, type: "counter", value: reader.lost },
      ];
    },
    stop() {
      reader.stop();
      if (quiet) clearTimeout(quiet);
      assembler.flush();
    },
  };
}

export const SOFTLOCKUP_TAINT_FIELDS = { ts_ns: 8, cpu: 4, pid: 4, comm: 16 } as const;

/** The fallback source: BPF on add_taint(TAINT_SOFTLOCKUP); no report lines. */
export async function startFromTaint(ctx: ProbeContext<unknown>, now: () => number = Date.now): Promise<ProbeInstance> {
  const backoff = new SaveBackoff({ now });
  let total = 0;
  let heldBack = 0;
  const inst = await defineBpfEventProbe({
    name: "softlockup",
    source: "bpf fentry/add_taint, kprobe/add_taint",
    defaultEnabled: true,
    object: objectPath,
    ring: "softlockup_events",
    struct: "softlockup_event",
    fields: SOFTLOCKUP_TAINT_FIELDS,
    programs: [{ alternatives: ["softlockup_add_taint_fentry", "softlockup_add_taint_kprobe"] }],
    decoder: ({ offsets }) => (u8, dv, at) => decodeTaint(offsets, u8, dv, at),
  }).create({
    ...ctx,
    emit(ev: ProbeEmission) {
      total++;
      if (!backoff.allow()) {
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
        { name: "events_total", help: EVENTS_HELP, type: "counter", value: heldBack, labels: { outcome: "backoff" } },
        { name: "total", help: TOTAL_HELP, type: "counter", value: total },
      ];
    },
    stop: () => inst.stop(),
  };
}

export function decodeTaint(o: Offsets<typeof SOFTLOCKUP_TAINT_FIELDS>, u8: Uint8Array, dv: DataView, at: number): Record<string, unknown> {
  return { cpu: dv.getUint32(at + o.cpu, true), pid: dv.getUint32(at + o.pid, true), comm: cString(u8, at + o.comm, 16), cpus_stack: "" };
}

/** /dev/kmsg missing or not readable: try the BPF fallback. */
function cannotOpen(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException)?.code;
  return code === "ENOENT" || code === "EACCES" || code === "EPERM" || code === "ENXIO" || code === "ENODEV";
}

export const softlockupProbe = defineProbe({
  name: "softlockup",
  kind: "event",
  source: "/dev/kmsg (the watchdog's soft lockup report); fallback bpf fentry/kprobe add_taint",
  defaultEnabled: true,
  async create(ctx) {
    let kmsgErr: unknown;
    try {
      return startFromKmsg(ctx);
    } catch (err) {
      if (!cannotOpen(err)) throw err;
      kmsgErr = err;
      ctx.log.warn("cannot read /dev/kmsg, trying the add_taint hook", { err: String(err) });
    }
    try {
      return await startFromTaint(ctx);
    } catch (err) {
      if (err instanceof ProbeUnsupportedError) throw new ProbeUnsupportedError(`${(kmsgErr as Error).message}; ${err.message}`);
      throw err;
    }
  },
});
