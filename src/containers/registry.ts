// The set of known containers with the indexes the event path needs (cgroup id, netns inode,
// cgroup path → container) and the cardinality guard metric probes read through forMetrics().
// Discovery replaces the whole set on each sync; the cgroup watcher removes a container as soon
// as its cgroup is removed, so its series disappear on the next scrape.
import type { ProcfsRoot } from "../procfs/root.ts";
import { mainCgroupPath, parseProcCgroup } from "./identity.ts";
import { cgroupDirIn, type CgroupLayout } from "./layout.ts";
import { readBoundedTextOrUndefined } from "../util/bounded-read.ts";
import type { Container, ContainerType, ContainerView, KernelIdentity } from "./types.ts";

export interface GuardOptions {
  /** Containers younger than this are not given series yet (short-lived jobs churn series). */
  minAgeMs: number;
  /** At most this many containers get series; the oldest win. */
  maxTracked: number;
}

const DEFAULT_TYPES: readonly ContainerType[] = ["normal"];
/** Which container of a shared network namespace names it: a pod's app containers before sidecars. */
const NETNS_RANK: Record<ContainerType, number> = { normal: 0, daemonSet: 1, static: 2, node: 3, sidecar: 4, unknown: 5 };

export class ContainerRegistry implements ContainerView {
  private list: Container[] = [];
  private byCgroupId = new Map<number, Container>();
  private byNetns = new Map<number, Container>();
  private byCookie = new Map<string, Container>();
  private byPath = new Map<string, Container>();
  /** Distinct containers the guard has left out, by reason (ids pruned when they go away). */
  private readonly leftOut = { too_young: new Set<string>(), over_cap: new Set<string>() };
  private readonly leftOutTotal = { too_young: 0, over_cap: 0 };

  constructor(
    private readonly layout: CgroupLayout,
    private readonly procfs: ProcfsRoot,
    private readonly guard: GuardOptions,
    private readonly now: () => number = Date.now,
  ) {}

  get unified(): boolean {
    return this.layout.mode === "v2";
  }

  /** Replace the whole set (one discovery sync). */
  replace(containers: readonly Container[]): void {
    this.list = [...containers].sort((a, b) => a.startedAtMs - b.startedAtMs || a.id.localeCompare(b.id));
    this.reindex();
    const ids = new Set(this.list.map((c) => c.id));
    for (const set of Object.values(this.leftOut)) for (const id of set) if (!ids.has(id)) set.delete(id);
  }

  /** A cgroup was removed: drop the container it belonged to now, not at the next sync. */
  removeCgroup(cgroupId: number): Container | undefined {
    const c = this.byCgroupId.get(cgroupId);
    if (!c) return undefined;
    this.list = this.list.filter((x) => x !== c);
    this.reindex();
    return c;
  }

  private reindex(): void {
    this.byCgroupId = new Map();
    this.byNetns = new Map();
    this.byCookie = new Map();
    this.byPath = new Map();
    for (const c of this.list) {
      for (const id of Object.values(c.cgroupIds)) this.byCgroupId.set(id, c);
      this.byPath.set(c.cgroupPath, c);
      if (c.netnsInum && !c.hostNetwork) {
        const had = this.byNetns.get(c.netnsInum);
        if (!had || NETNS_RANK[c.type] < NETNS_RANK[had.type]) {
          this.byNetns.set(c.netnsInum, c);
          if (c.netnsCookie) this.byCookie.set(c.netnsCookie, c);
        }
      }
    }
  }

  all(): readonly Container[] {
    return this.list;
  }

  forMetrics(types: readonly ContainerType[] = DEFAULT_TYPES): readonly Container[] {
    const minStart = this.now() - this.guard.minAgeMs;
    const out: Container[] = [];
    for (const c of this.list) {
      if (!types.includes(c.type)) continue;
      if (this.guard.minAgeMs > 0 && c.startedAtMs > minStart) {
        this.note("too_young", c.id);
        continue;
      }
      if (out.length >= this.guard.maxTracked) {
        this.note("over_cap", c.id);
        continue;
      }
      out.push(c);
    }
    return out;
  }

  private note(reason: keyof typeof this.leftOut, id: string): void {
    const set = this.leftOut[reason];
    if (set.has(id)) return;
    set.add(id);
    this.leftOutTotal[reason]++;
  }

  /** Distinct containers left without series so far, by reason (for the self metric). */
  leftOutCounts(): Readonly<Record<"too_young" | "over_cap", number>> {
    return this.leftOutTotal;
  }

  resolve(id: KernelIdentity): Container | undefined {
    if (id.cgroupId) {
      const c = this.byCgroupId.get(id.cgroupId);
      if (c) return c;
    }
    if (id.cgroupPath) {
      const c = this.byPath.get(id.cgroupPath);
      if (c) return c;
    }
    // The cookie first: an inode number can be reused by a namespace created after this one died.
    if (id.netnsCookie) {
      const c = this.byCookie.get(id.netnsCookie);
      if (c) return c;
    }
    if (id.netnsInum) {
      const c = this.byNetns.get(id.netnsInum);
      if (c && !(id.netnsCookie && c.netnsCookie && c.netnsCookie !== id.netnsCookie)) return c;
    }
    if (id.pid && id.pid > 0 && this.list.length > 0) {
      const text = readBoundedTextOrUndefined(this.procfs.proc(String(id.pid), "cgroup"), 64 << 10);
      const path = text === undefined ? undefined : mainCgroupPath(parseProcCgroup(text));
      if (path !== undefined) return this.byPath.get(path);
    }
    return undefined;
  }

  cgroupDir(c: Container, controller: string): string | undefined {
    return cgroupDirIn(this.layout, controller, c.cgroupPath);
  }
}
