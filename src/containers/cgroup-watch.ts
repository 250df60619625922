// Cgroups created and removed, from the kernel's cgroup_mkdir / cgroup_rmdir tracepoints
// (bpf/cgroup_events.bpf.c): a new cgroup asks discovery for a sync a moment later (the runtime
// writes its state after creating the cgroup); a removed one drops its container at once, so its
// series and attribution end with it rather than at the next periodic sync.
import objectPath from "../../build/bpf/cgroup_events.bpf.o" with { type: "file" };
import { BpfObject } from "../bpf/object.ts";
import { sharedRingScheduler, type RingConsumer } from "../bpf/ring-scheduler.ts";
import type { Logger } from "../log.ts";

export const CGROUP_EVENTS = { object: objectPath, struct: "cgroup_event", fields: { id: 8, op: 4, level: 4 } } as const;

const MKDIR = 1;
const RMDIR = 2;

export interface CgroupWatchHandlers {
  created(id: number, level: number): void;
  removed(id: number): void;
}

export interface CgroupWatch {
  /** Records received, for the self metric. */
  readonly seen: number;
  stop(): void;
}

/** Loads the watcher; throws (with the loader's reason) when the kernel lacks the tracepoints. */
export async function startCgroupWatch(h: CgroupWatchHandlers, log: Logger): Promise<CgroupWatch> {
  const bytes = await Bun.file(CGROUP_EVENTS.object).bytes();
  const obj = BpfObject.load(
    { name: "cgroup_events", bytes, rodata: {}, groups: [{ alternatives: ["cgroup_mkdir_btf", "cgroup_mkdir_raw"] }, { alternatives: ["cgroup_rmdir_btf", "cgroup_rmdir_raw"] }] },
    log,
  );
  let consumer: RingConsumer;
  let seen = 0;
  try {
    const layout = obj.structLayout(CGROUP_EVENTS.struct);
    const at = (f: keyof typeof CGROUP_EVENTS.fields) => {
      const l = layout.get(f);
      if (!l || l.size !== CGROUP_EVENTS.fields[f]) throw new Error(`struct ${CGROUP_EVENTS.struct}: field ${f} missing or resized`);
      return l.offset;
    };
    const idAt = at("id");
    const opAt = at("op");
    const levelAt = at("level");
    consumer = sharedRingScheduler().add(
      obj.map("cgroup_events"),
      (_u8, dv, base) => {
        seen++;
        const id = dv.getUint32(base + idAt + 4, true) * 4294967296 + dv.getUint32(base + idAt, true);
        const op = dv.getUint32(base + opAt, true);
        if (op === MKDIR) h.created(id, dv.getUint32(base + levelAt, true));
        else if (op === RMDIR) h.removed(id);
      },
      { name: "cgroup_events", onError: (err) => log.warn("cgroup event handler failed", { err: String(err) }) },
    );
  } catch (err) {
    obj.close();
    throw err;
  }
  return {
    get seen() {
      return seen;
    },
    stop() {
      consumer.stop();
      obj.close();
    },
  };
}
