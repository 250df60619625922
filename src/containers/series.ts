// What every probe with container series does on a scrape: walk the containers the registry
// offers for metrics (in order, yielding now and then), skip those that vanished, keep per-
// container state only for containers still listed, and read network files once per network
// namespace (containers of one pod share it) for the per-netns series.
import { statSync } from "node:fs";
import { join } from "node:path";
import type { Logger } from "../log.ts";
import type { Sample } from "../metrics/sample.ts";
import type { ProcfsRoot } from "../procfs/root.ts";
import { isGone, readIfPresent } from "./files.ts";
import { containerLabels, type Container, type ContainerView } from "./types.ts";

/** Containers read between two yields to the event loop (reads are synchronous, see files.ts). */
export const CONTAINERS_PER_SLICE = 32;

const yieldToLoop = () => new Promise<void>((resolve) => setImmediate(resolve));

/**
 * State kept per container between scrapes (cpu_util's previous reading, …), dropped once the
 * container is no longer listed, so removed containers leave nothing behind.
 */
export class PerContainer<T> {
  private readonly byId = new Map<string, T>();

  get(c: Container): T | undefined {
    return this.byId.get(c.id);
  }

  set(c: Container, v: T): void {
    this.byId.set(c.id, v);
  }

  /** Forget every container not in `live` (call with the scrape's list). */
  retain(live: readonly Container[]): void {
    if (this.byId.size === 0) return;
    const ids = new Set(live.map((c) => c.id));
    for (const id of this.byId.keys()) if (!ids.has(id)) this.byId.delete(id);
  }

  get size(): number {
    return this.byId.size;
  }
}

/**
 * Runs `read` for each container in order, yielding to the event loop every
 * CONTAINERS_PER_SLICE containers, and returns the samples in container order. `read` returns
 * undefined when the container's files are gone; thrown gone-errors mean the same. Any other
 * error (a malformed file) skips that container only and is logged once per container, so one
 * bad cgroup neither fails the scrape nor floods the log.
 */
export class ContainerWalk {
  private readonly warned = new PerContainer<true>();

  constructor(private readonly log: Logger, private readonly what: string) {}

  async samples(containers: readonly Container[], read: (c: Container) => Promise<Sample[] | undefined> | Sample[] | undefined): Promise<Sample[]> {
    this.warned.retain(containers);
    const out: Sample[] = [];
    for (let i = 0; i < containers.length; i++) {
      if (i > 0 && i % CONTAINERS_PER_SLICE === 0) await yieldToLoop();
      const c = containers[i]!;
      try {
        const s = await read(c);
        if (s) for (const x of s) out.push(x);
      } catch (err) {
        if (!isGone(err)) this.problem(c, err);
      }
    }
    return out;
  }

  private problem(c: Container, err: unknown): void {
    if (this.warned.get(c)) return;
    this.warned.set(c, true);
    this.log.warn(`${this.what}: container skipped`, { container_id: c.id, container_name: c.name, err: (err as Error).message });
  }
}

/** Samples of one container: the same series with the container's labels. */
export function asContainer(samples: readonly Sample[], c: Container): Sample[] {
  const container = containerLabels(c);
  return samples.map((s) => ({ ...s, container }));
}

/** Containers sharing one network namespace, read through one of their processes. */
export interface NetnsGroup {
  /** The namespace inode (0 = unknown: then the group is one init pid). */
  inum: number;
  pid: number;
  containers: Container[];
}

/**
 * Containers grouped by network namespace, in first-seen order. Host-network containers are left
 * out (their numbers would repeat the host's series), as are containers without a known process.
 */
export function netnsGroups(containers: readonly Container[]): NetnsGroup[] {
  const groups = new Map<string, NetnsGroup>();
  for (const c of containers) {
    if (c.hostNetwork || !(c.initPid > 0)) continue;
    const key = c.netnsInum > 0 ? `ns:${c.netnsInum}` : `pid:${c.initPid}`;
    let g = groups.get(key);
    if (!g) groups.set(key, (g = { inum: c.netnsInum, pid: c.initPid, containers: [] }));
    g.containers.push(c);
  }
  return [...groups.values()];
}

/** A network file of a namespace group, as the probes' text → samples functions take it. */
export interface NetnsText {
  path: string;
  text: string;
}

/**
 * Reads /proc/<pid>/net/<file> for each file of a group, or undefined when the process is gone
 * or (inode known) is no longer in that namespace: its pid was reused by another process.
 */
export function readNetnsFiles(procfs: ProcfsRoot, g: NetnsGroup, files: readonly string[]): NetnsText[] | undefined {
  const pid = String(g.pid);
  if (g.inum > 0) {
    let ino: number;
    try {
      ino = statSync(procfs.proc(pid, "ns", "net")).ino;
    } catch (err) {
      if (isGone(err)) return undefined;
      throw err;
    }
    if (ino !== g.inum) return undefined;
  }
  const out: NetnsText[] = [];
  for (const f of files) {
    const path = procfs.proc(pid, "net", f);
    const text = readIfPresent(path);
    if (text === undefined) return undefined;
    out.push({ path, text });
  }
  return out;
}

/**
 * The per-netns series of a probe: each namespace read once, its samples repeated with the labels
 * of every container in it (HUATUO reports them per container). `toSamples` is the probe's own
 * text → samples function, the one its host series use; undefined from it means "gone".
 */
export async function netnsSeries(
  walk: ContainerWalk,
  procfs: ProcfsRoot,
  containers: readonly Container[],
  files: readonly string[],
  toSamples: (texts: NetnsText[], g: NetnsGroup) => Promise<Sample[] | undefined> | Sample[] | undefined,
): Promise<Sample[]> {
  const groups = netnsGroups(containers);
  const byLead = new Map(groups.map((g) => [g.containers[0]!, g]));
  // Walk one container per namespace (its first), then fan the samples out to the others.
  return walk.samples(groups.map((g) => g.containers[0]!), async (lead) => {
    const g = byLead.get(lead)!;
    const texts = readNetnsFiles(procfs, g, files);
    if (!texts) return undefined;
    const samples = await toSamples(texts, g);
    if (!samples) return undefined;
    return g.containers.flatMap((c) => asContainer(samples, c));
  });
}

/** Path of a file in a container's cgroup for a controller, or undefined when that hierarchy is absent. */
export function cgroupFile(view: ContainerView, c: Container, controller: string, file: string): string | undefined {
  const dir = view.cgroupDir(c, controller);
  return dir === undefined ? undefined : join(dir, file);
}

/** A cgroup file's text, or undefined when the hierarchy is absent or the container is gone. */
export function readCgroupFile(view: ContainerView, c: Container, controller: string, file: string): string | undefined {
  const path = cgroupFile(view, c, controller, file);
  return path === undefined ? undefined : readIfPresent(path);
}
