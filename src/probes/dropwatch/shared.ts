// The kfree_skb object, shared by two probes of the table: dropwatch (HUATUO's events and
// per-reason counter) and packetloss (KubeSkoop's per-location counters and PACKETLOSS events).
// The tracepoint is attached once, by one program (bpf/dropwatch.bpf.c) that updates both
// probes' counters and writes one ring record per anomaly; both probes read those records.
//
// How the two stay independent entries:
//   - Whichever probe is created first loads the object (reference-counted; the last release
//     closes it), so either can run without the other.
//   - Nothing the object needs is fixed at load: the rate limit, the policy (which drops are
//     ordinary) and the location ranges live in maps written from user space. The object starts
//     with [EventTracing.Dropwatch]'s defaults; dropwatch applies its section when it is created,
//     whatever the order. packetloss has no section: it follows dropwatch's.
//   - One ring consumer dispatches each record to every subscribed probe; each decodes and emits
//     it as its own event (fresh objects: the framework stamps its tracer_name on them), and
//     counts its own decode errors and user-space filtering.
import dropwatchObjectPath from "../../../build/bpf/dropwatch.bpf.o" with { type: "file" };
import { vmlinuxEnum } from "../../bpf/btf.ts";
import { monotonicToEpochMs } from "../../bpf/clock.ts";
import { updateElem } from "../../bpf/maps.ts";
import type { BpfObject, ProgramGroup } from "../../bpf/object.ts";
import { sharedRingScheduler, type RingConsumer } from "../../bpf/ring-scheduler.ts";
import { sharedKallsyms } from "../../bpf/symbols.ts";
import type { Logger } from "../../log.ts";
import type { ProcfsRoot } from "../../procfs/root.ts";
import { loadEmbeddedObject, type RecordDecoder } from "../kit/bpf-events.ts";
import { resolveLayout, u64, type FieldSizes, type Offsets } from "../kit/decoders.ts";
import type { ProbeContext } from "../types.ts";
import { defaultPolicy, MAX_COUNT_ONLY_LOCATIONS, type DropPolicy } from "./config.ts";
import { dropReasonGroup } from "./decode.ts";

export const DROPWATCH_OBJECT: string = dropwatchObjectPath;
export const DROPWATCH_STRUCT = "dropwatch_event";
export const DROPWATCH_PROGRAMS: ProgramGroup[] = [
  { alternatives: ["dropwatch_tp_btf_rx_sk", "dropwatch_tp_btf", "dropwatch_tracepoint"] },
];

/** bpf/include/dropwatch.h */
const POLICY_ALWAYS = 0x8000_0000;
const MAX_RANGES = MAX_COUNT_ONLY_LOCATIONS;
const MAX_REASONS = 1024;

/** KubeSkoop's named locations: the kernel functions behind each packetloss counter. */
const PACKETLOSS_FUNCTIONS: readonly (readonly [string, string])[] = [
  ["tcp_v4_do_rcv", "PACKETLOSS_TCPHANDLE"], ["tcp_v6_do_rcv", "PACKETLOSS_TCPHANDLE"],
  ["tcp_v4_rcv", "PACKETLOSS_TCPRCV"], ["tcp_v6_rcv", "PACKETLOSS_TCPRCV"],
  ["nf_hook_slow", "PACKETLOSS_NETFILTER"], ["nf_hook_slow_list", "PACKETLOSS_NETFILTER"],
  ["tcp_rcv_state_process", "PACKETLOSS_TCPSTATM"],
];

export interface DropSubscription {
  /** Records this subscriber could not decode (short records included). */
  readonly decodeErrors: number;
  /** Records its decoder chose not to emit. */
  readonly userFiltered: number;
  stop(): void;
}

export interface DropObjectLease {
  readonly object: BpfObject;
  /** Offsets of `fields` in struct dropwatch_event; throws naming any mismatch. */
  offsets<F extends FieldSizes>(fields: F): Offsets<F>;
  /** Kernel drop reason number → "SKB_DROP_REASON_…" (the number when unknown). */
  reasonName(reason: number): string;
  /** Kernel drop reason number → its group (decode.ts dropReasonGroup). */
  reasonGroup(reason: number): string;
  /** Tell the object the rate limit and which drops are ordinary. Returns the problems (unknown names). */
  applyPolicy(policy: DropPolicy): string[];
  /** Receive every ring record; `decode` returning null counts as user-filtered. */
  subscribe(name: string, decode: RecordDecoder, emit: ProbeContext<unknown>["emit"], log: Logger): DropSubscription;
  /** Give the object back; the last release closes it. Idempotent. */
  release(): void;
}

interface Subscriber {
  name: string;
  decode: RecordDecoder;
  emit: ProbeContext<unknown>["emit"];
  log: Logger;
  decodeErrors: number;
  userFiltered: number;
}

class SharedDropObject {
  refs = 0;
  closed = false;
  private readonly subs = new Set<Subscriber>();
  private consumer: RingConsumer | undefined;
  private readonly recordSize: number;
  private readonly tsAt: number;
  private readonly reasons: Map<number, string>;
  private readonly reasonNumbers: Map<string, number>;
  private readonly subsystems: Map<number, string>;
  private readonly groups = new Map<number, string>();
  private readonly policyShadow = new Uint32Array(MAX_REASONS);

  private constructor(readonly object: BpfObject, private readonly procfs: ProcfsRoot) {
    this.recordSize = object.structSize(DROPWATCH_STRUCT);
    this.tsAt = resolveLayout(DROPWATCH_STRUCT, object.structLayout(DROPWATCH_STRUCT), { ts_ns: 8 }).ts_ns;
    this.reasons = kernelEnum("skb_drop_reason"); // kernels before 5.17 have none: numbers then
    this.reasonNumbers = new Map([...this.reasons].map(([n, name]) => [name, n]));
    this.subsystems = kernelEnum("skb_drop_reason_subsys");
  }

  static async load(procfs: ProcfsRoot, log: Logger): Promise<SharedDropObject> {
    // Symbolizing and the location ranges need the kallsyms index; build it without blocking.
    await sharedKallsyms(procfs.proc("kallsyms")).preload();
    const obj = await loadEmbeddedObject("dropwatch", DROPWATCH_OBJECT, { programs: DROPWATCH_PROGRAMS }, {}, log);
    try {
      const s = new SharedDropObject(obj, procfs);
      for (const p of s.applyPolicy(defaultPolicy())) log.debug("dropwatch default policy", { problem: p });
      s.consumer = sharedRingScheduler().add(obj.map("dropwatch_events"), (u8, dv, at, len) => s.dispatch(u8, dv, at, len), { name: "dropwatch" });
      log.info("bpf probe loaded", { programs: obj.attached.map((a) => a.program).join(",") });
      return s;
    } catch (err) {
      obj.close();
      throw err;
    }
  }

  reasonName = (reason: number): string => this.reasons.get(reason) ?? String(reason);

  reasonGroup = (reason: number): string => {
    let g = this.groups.get(reason);
    if (g === undefined) {
      const subsys = reason >>> 16;
      g = subsys
        ? (this.subsystems.get(subsys)?.replace(/^SKB_DROP_REASON_SUBSYS_/, "").toLowerCase() ?? `subsys${subsys}`)
        : dropReasonGroup(this.reasonName(reason));
      this.groups.set(reason, g);
    }
    return g;
  };

  private dispatch(u8: Uint8Array, dv: DataView, at: number, len: number): void {
    if (len < this.recordSize) {
      for (const s of this.subs) this.failed(s, new Error(`ring record of ${len} bytes, struct ${DROPWATCH_STRUCT} is ${this.recordSize}`));
      return;
    }
    const timeMs = monotonicToEpochMs(u64(dv, at + this.tsAt));
    for (const s of this.subs) {
      try {
        const data = s.decode(u8, dv, at, len);
        if (data === null) s.userFiltered++;
        else s.emit({ timeMs, data });
      } catch (err) {
        this.failed(s, err);
      }
    }
  }

  private failed(s: Subscriber, err: unknown): void {
    // One bad record must not stop the consumer: counted; the first few are logged.
    if (++s.decodeErrors <= 5) s.log.warn("cannot decode ring record", { err: String(err) });
  }

  subscribe(name: string, decode: RecordDecoder, emit: ProbeContext<unknown>["emit"], log: Logger): DropSubscription {
    const s: Subscriber = { name, decode, emit, log, decodeErrors: 0, userFiltered: 0 };
    this.subs.add(s);
    return {
      get decodeErrors() {
        return s.decodeErrors;
      },
      get userFiltered() {
        return s.userFiltered;
      },
      stop: () => void this.subs.delete(s),
    };
  }

  private reasonNumber(name: string): number | undefined {
    return this.reasonNumbers.get(name.startsWith("SKB_DROP_REASON_") ? name : `SKB_DROP_REASON_${name}`);
  }

  applyPolicy(policy: DropPolicy): string[] {
    const problems: string[] = [];
    const kallsyms = sharedKallsyms(this.procfs.proc("kallsyms"));
    const layout = this.object.structLayout("dropwatch_config");
    const field = (name: string) => {
      const f = layout.get(name);
      if (!f) throw new Error(`struct dropwatch_config has no field ${name}`);
      return f.offset;
    };
    const value = new Uint8Array(this.object.structSize("dropwatch_config"));
    const dv = new DataView(value.buffer);
    dv.setBigUint64(field("max_events_per_sec"), BigInt(policy.maxEventsPerSecond), true);
    dv.setUint32(field("netfilter_reason"), this.reasonNumber("NETFILTER_DROP") ?? 0, true);

    // Ordinary locations: one range per function kallsyms knows (none while its addresses are hidden).
    let n = 0;
    const noSymbols = policy.countOnlyLocations.length ? kallsyms.unavailable() : undefined;
    if (noSymbols) problems.push(`CountOnlyLocations not applied, kernel symbols unavailable: ${noSymbols}`);
    else for (const fn of policy.countOnlyLocations) {
      const r = kallsyms.range(fn);
      if (!r) problems.push(`CountOnlyLocations: no kernel function ${fn} in kallsyms`);
      else if (n >= MAX_RANGES) problems.push(`CountOnlyLocations: more than ${MAX_RANGES} functions, ${fn} ignored`);
      else {
        dv.setBigUint64(field("count_only") + 16 * n, r.start, true);
        dv.setBigUint64(field("count_only") + 16 * n + 8, r.end, true);
        n++;
      }
    }
    dv.setUint32(field("nr_count_only"), n, true);

    // KubeSkoop's locations (not configurable; absent functions, e.g. in modules, are skipped).
    const classes = new Map([...this.object.enumNames("packetloss_location")].map(([v, name]) => [name, v]));
    let p = 0;
    for (const [fn, cls] of PACKETLOSS_FUNCTIONS) {
      const r = kallsyms.range(fn);
      const c = classes.get(cls);
      if (!r || c === undefined || p >= MAX_RANGES) continue;
      dv.setBigUint64(field("packetloss") + 16 * p, r.start, true);
      dv.setBigUint64(field("packetloss") + 16 * p + 8, r.end, true);
      dv.setUint32(field("packetloss_class") + 4 * p, c, true);
      p++;
    }
    dv.setUint32(field("nr_packetloss"), p, true);

    // Per reason: the ALWAYS bit or the TCP states where it is ordinary.
    const policyBits = new Uint32Array(MAX_REASONS);
    const reasonOf = (name: string, key: string): number | undefined => {
      const r = this.reasonNumber(name);
      if (r === undefined) problems.push(`${key}: this kernel has no drop reason ${name}`);
      else if (r >= MAX_REASONS) problems.push(`${key}: drop reason ${name} (${r}) is beyond the policy table`);
      else return r;
      return undefined;
    };
    for (const name of policy.countOnlyReasons) {
      const r = reasonOf(name, "CountOnlyReasons");
      if (r !== undefined) policyBits[r] = (policyBits[r] ?? 0) | POLICY_ALWAYS;
    }
    for (const [name, state] of policy.countOnlyReasonStates) {
      const r = reasonOf(name, "CountOnlyReasonStates");
      if (r !== undefined) policyBits[r] = (policyBits[r] ?? 0) | (1 << state);
    }
    // Policy before the config: a stricter policy never meets a looser limit in between.
    const policyMap = this.object.map("dropwatch_reason_policy");
    const k = new Uint8Array(4), v = new Uint8Array(4);
    const kdv = new DataView(k.buffer), vdv = new DataView(v.buffer);
    for (let r = 0; r < MAX_REASONS; r++) {
      if (policyBits[r] === this.policyShadow[r]) continue;
      kdv.setUint32(0, r, true);
      vdv.setUint32(0, policyBits[r]!, true);
      updateElem(policyMap, k, v);
      this.policyShadow[r] = policyBits[r]!;
    }
    updateElem(this.object.map("dropwatch_cfg"), new Uint8Array(4), value);
    return problems;
  }

  close(): void {
    this.closed = true;
    this.consumer?.stop();
    this.consumer = undefined;
    this.subs.clear();
    this.object.close();
  }
}

function kernelEnum(name: string): Map<number, string> {
  try {
    return vmlinuxEnum(name);
  } catch {
    return new Map();
  }
}

let loading: Promise<SharedDropObject> | undefined;
let loads = 0;
let holders = 0;

/** Objects loaded so far in this process and leases held now (tests prove the sharing with it). */
export function dropObjectStats(): { loads: number; holders: number } {
  return { loads, holders };
}

/**
 * The shared kfree_skb object, loaded on first use. Throws ProbeUnsupportedError when the kernel
 * lacks every hook (as the event kit does).
 */
export async function acquireDropObject(env: { procfs: ProcfsRoot; log: Logger }): Promise<DropObjectLease> {
  for (;;) {
    if (!loading) {
      const p = SharedDropObject.load(env.procfs, env.log);
      loads++;
      loading = p;
      p.catch(() => {
        if (loading === p) loading = undefined;
      });
    }
    const current = loading;
    const s = await current;
    if (s.closed) {
      if (loading === current) loading = undefined;
      continue; // released to zero while we waited: load again
    }
    s.refs++;
    holders++;
    let released = false;
    return {
      object: s.object,
      offsets: (fields) => resolveLayout(DROPWATCH_STRUCT, s.object.structLayout(DROPWATCH_STRUCT), fields),
      reasonName: s.reasonName,
      reasonGroup: s.reasonGroup,
      applyPolicy: (policy) => s.applyPolicy(policy),
      subscribe: (name, decode, emit, log) => s.subscribe(name, decode, emit, log),
      release() {
        if (released) return;
        released = true;
        holders--;
        if (--s.refs > 0) return;
        s.close();
        if (loading === current) loading = undefined;
      },
    };
  }
}
