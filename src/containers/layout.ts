// Which cgroup hierarchies this host has and where a container's cgroup lives in each.
// v1 ("legacy"): one hierarchy per controller under /sys/fs/cgroup/<controller> (cpu and cpuacct
// may be one "cpu,cpuacct" mount with symlinks); hybrid: v1 plus the unified hierarchy at
// /sys/fs/cgroup/unified; v2: one unified hierarchy at /sys/fs/cgroup. All under --procfs-prefix.
import { existsSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import type { ProcfsRoot } from "../procfs/root.ts";

export type CgroupMode = "v1" | "hybrid" | "v2";

export interface CgroupLayout {
  mode: CgroupMode;
  /** The cgroup mount root, e.g. /sys/fs/cgroup. */
  root: string;
  /** Mount point of a controller's hierarchy; on v2 the root for every controller. */
  mount(controller: string): string | undefined;
  /** The v1 controllers found (empty on v2), and "unified" when a unified hierarchy exists. */
  hierarchies(): string[];
}

function isDir(p: string): boolean {
  try {
    return statSync(p).isDirectory();
  } catch {
    return false;
  }
}

export function detectCgroupLayout(procfs: ProcfsRoot): CgroupLayout {
  const root = procfs.sys("fs", "cgroup");
  if (existsSync(join(root, "cgroup.controllers"))) {
    return { mode: "v2", root, mount: () => root, hierarchies: () => ["unified"] };
  }
  const mounts = new Map<string, string>();
  let names: string[] = [];
  try {
    names = readdirSync(root);
  } catch {
    // No cgroup file system under this root: no hierarchy at all.
  }
  for (const name of names) {
    const dir = join(root, name);
    if (name === "unified" || !isDir(dir)) continue;
    // "cpu,cpuacct" serves both controllers; a plain name (or its symlink) wins over the combination.
    for (const ctrl of name.split(",")) if (!mounts.has(ctrl) || !name.includes(",")) mounts.set(ctrl, dir);
  }
  const unified = join(root, "unified");
  const hybrid = existsSync(join(unified, "cgroup.controllers"));
  if (hybrid) mounts.set("unified", unified);
  return {
    mode: hybrid ? "hybrid" : "v1",
    root,
    mount: (c) => mounts.get(c),
    hierarchies: () => [...mounts.keys()].filter((c) => !c.startsWith("name=")),
  };
}

/** Absolute directory of cgroupPath in a controller's hierarchy (v2: the unified one). */
export function cgroupDirIn(layout: CgroupLayout, controller: string, cgroupPath: string): string | undefined {
  const m = layout.mount(controller);
  return m === undefined ? undefined : join(m, cgroupPath);
}
