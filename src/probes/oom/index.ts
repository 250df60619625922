// oom (event probe): every task the OOM killer kills, from oom:mark_victim, with the task that
// ran into the OOM (the trigger) and the victim, their memory cgroups (path, usage and limit at
// the kill, memory.stat and memory.events) and the host's /proc/meminfo. Counts OOM kills in
// HUATUO's oom_host_total. HUATUO has no configuration for it; neither has kpulse.
import { readFileSync } from "node:fs";
import objectPath from "../../../build/bpf/oom.bpf.o" with { type: "file" };
import type { Sample } from "../../metrics/sample.ts";
import { pageSize } from "../../procfs/pagesize.ts";
import type { ProcfsRoot } from "../../procfs/root.ts";
import { parseProcCgroup } from "../../containers/identity.ts";
import { containerLabels, type Container, type ContainerView } from "../../containers/types.ts";
import { defineBpfEventProbe, type BpfEventProbeDefinition } from "../kit/bpf-events.ts";
import { u64 } from "../kit/decoders.ts";
import { containersOf } from "../types.ts";
import { decodeOom, OOM_FIELDS, type OomActor, type OomData, type OomDeps } from "./decode.ts";
import { MemcgFs, parseMeminfo } from "./memcg.ts";

function readText(path: string): string | undefined {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return undefined;
  }
}

/** The memory cgroup of a process from /proc/<pid>/cgroup: the v1 `memory` line, else the v2 line. */
export function memcgOfProcCgroup(text: string): string | undefined {
  const paths = parseProcCgroup(text);
  return paths.get("memory") ?? paths.get("unified");
}

function hostDeps(procfs: ProcfsRoot): OomDeps {
  const fs = MemcgFs.forHost(procfs);
  return {
    pageSize: pageSize(),
    memcg: (path, withUsage) => fs.read(path, withUsage),
    meminfo() {
      const text = readText(procfs.proc("meminfo"));
      return text === undefined ? undefined : parseMeminfo(text);
    },
    task(pid) {
      const comm = readText(procfs.proc(String(pid), "comm"));
      if (comm === undefined) return undefined;
      const cg = readText(procfs.proc(String(pid), "cgroup"));
      return { comm: comm.trimEnd(), cgroup: cg === undefined ? undefined : memcgOfProcCgroup(cg) };
    },
  };
}

const base = defineBpfEventProbe({
  name: "oom",
  source: "bpf tp_btf/mark_victim (fallback: tracepoint oom/mark_victim)",
  defaultEnabled: true,
  object: objectPath,
  ring: "oom_events",
  struct: "oom_event",
  fields: OOM_FIELDS,
  programs: [{ alternatives: ["oom_mark_victim_btf", "oom_mark_victim_tp"] }],
  // The event belongs to the victim's container (HUATUO's rule); the trigger's is in tracer_data.
  identity: (dv, at, o) => ({ cgroupId: u64(dv, at + o.victim_memcg_id) || undefined, pid: dv.getUint32(at + o.victim_pid, true) }),
  decoder({ offsets, procfs }) {
    const deps = hostDeps(procfs);
    return (u8, dv, at) => decodeOom(offsets, u8, dv, at, deps) as unknown as Record<string, unknown>;
  },
});

/** Fills HUATUO's container_id / container_hostname of an actor from its memory cgroup path. */
function attribute(actor: OomActor, view: ContainerView): Container | undefined {
  const c = actor.cgroup?.path ? view.resolve({ cgroupPath: actor.cgroup.path }) : undefined;
  if (c) {
    actor.container_id = c.id;
    actor.container_hostname = c.hostname;
  }
  return c;
}

/**
 * The kit's probe plus HUATUO's counters, read on scrape: `oom_host_total` (every kill) and
 * `oom_container_total{latest_victim_comm}` (kills whose victim was in a known container).
 */
export const oomProbe: BpfEventProbeDefinition<unknown> = {
  ...base,
  async create(ctx) {
    const view = containersOf(ctx);
    let hostKills = 0;
    const byContainer = new Map<string, { count: number; comm: string }>();
    const inst = await base.create({
      ...ctx,
      emit(ev) {
        hostKills++;
        const data = ev.data as unknown as OomData;
        attribute(data.trigger, view);
        const victim = attribute(data.victim, view);
        if (victim) {
          const k = byContainer.get(victim.id) ?? { count: 0, comm: "" };
          k.count++;
          k.comm = data.victim.comm;
          byContainer.set(victim.id, k);
        }
        ctx.emit(ev);
      },
    });
    return {
      async collect(): Promise<Sample[]> {
        const samples = [...((await inst.collect?.()) ?? [])];
        samples.push({ name: "host_total", help: "host oom counter", type: "counter", value: hostKills });
        const live = new Map(view.all().map((c) => [c.id, c]));
        for (const [id, k] of byContainer) {
          const c = live.get(id);
          if (!c) {
            byContainer.delete(id); // the container is gone: so are its series
            continue;
          }
          samples.push({ name: "total", help: "containers oom counter", type: "counter", value: k.count, labels: { latest_victim_comm: k.comm }, container: containerLabels(c) });
        }
        return samples;
      },
      stop: () => inst.stop(),
    };
  },
};
