// The kernel-side identity of a container from one of its processes: its cgroup in every
// hierarchy (path and cgroup id = the directory's inode, which is what BPF reads as
// cgrp->kn->id), its network namespace inode and cookie.
import { statSync } from "node:fs";
import { netnsCookie, NetlinkSyscallError } from "../../ffi/netlink.ts";
import type { ProcfsRoot } from "../procfs/root.ts";
import { cgroupDirIn, type CgroupLayout } from "./layout.ts";
import { readBoundedTextOrUndefined } from "../util/bounded-read.ts";

/** /proc/<pid>/cgroup → hierarchy ("memory", "cpu"…, "unified" for the 0:: line) → path. */
export function parseProcCgroup(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of text.split("\n")) {
    const m = /^(\d+):([^:]*):(\/.*)$/.exec(line);
    if (!m) continue;
    if (m[1] === "0" && m[2] === "") out.set("unified", m[3]!);
    else for (const c of m[2]!.split(",")) if (c) out.set(c.replace(/^name=/, ""), m[3]!);
  }
  return out;
}

/** The path used to name a container's cgroup: memory's on v1 (what OOM and memcg events see), else cpu's, else the unified one. */
export function mainCgroupPath(paths: Map<string, string>): string | undefined {
  return paths.get("memory") ?? paths.get("cpu") ?? paths.get("unified");
}

function inode(path: string): number {
  try {
    return statSync(path).ino;
  } catch {
    return 0;
  }
}

export interface CgroupIdentity {
  cgroupPath: string;
  cgroupIds: Record<string, number>;
}

/**
 * Cgroup paths and ids of a process, or of a known cgroup path when the pid is unknown (then
 * the same path is looked up in every hierarchy). Hierarchies where it has no directory are left out.
 */
export function cgroupIdentity(procfs: ProcfsRoot, layout: CgroupLayout, pid: number, fallbackPath = ""): CgroupIdentity | undefined {
  const text = pid > 0 ? readBoundedTextOrUndefined(procfs.proc(String(pid), "cgroup"), 64 << 10) : undefined;
  // A pid that is gone (an exited task whose state the runtime keeps) identifies nothing.
  if (pid > 0 && text === undefined) return undefined;
  let paths = text !== undefined ? parseProcCgroup(text) : undefined;
  // Read from inside a private cgroup namespace (a pod), other processes' paths are relative to
  // it ("/../../kubepods/…") and name nothing under the host's hierarchy: use the known path.
  if (paths && [...paths.values()].some((p) => p.startsWith("/.."))) paths = undefined;
  paths ??= fallbackPath ? new Map(layout.hierarchies().map((h) => [h, fallbackPath] as const)) : new Map<string, string>();
  const main = mainCgroupPath(paths);
  // A process in a hierarchy's root cgroup is not in a container of its own.
  if (main === undefined || main === "" || main === "/") return undefined;
  const cgroupIds: Record<string, number> = {};
  for (const h of layout.hierarchies()) {
    const p = paths.get(h);
    const dir = p === undefined ? undefined : cgroupDirIn(layout, h, p);
    const id = dir === undefined ? 0 : inode(dir);
    if (id) cgroupIds[h] = id;
  }
  return { cgroupPath: main, cgroupIds };
}

/** Inode of a process's network namespace; 0 when the process is gone or not readable. */
export function netnsInode(procfs: ProcfsRoot, pid: number): number {
  return pid > 0 ? inode(procfs.proc(String(pid), "ns", "net")) : 0;
}

/** The namespace cookie as a decimal string, "" when it cannot be read (no CAP_SYS_ADMIN, old kernel, pid gone). */
export function netnsCookieOf(procfs: ProcfsRoot, pid: number): string {
  try {
    return String(netnsCookie(procfs.proc(String(pid), "ns", "net")));
  } catch (err) {
    // Stuck in the container's namespace would be wrong for everything after: never hide that.
    if (err instanceof NetlinkSyscallError && err.call.startsWith("setns back")) throw err;
    return "";
  }
}

/** The first pid listed in a cgroup (when the runtime's init pid is unknown); 0 if empty or unreadable. */
export function firstPidOf(layout: CgroupLayout, cgroupPath: string): number {
  for (const h of ["memory", "cpu", "pids", "unified"]) {
    const dir = cgroupDirIn(layout, h, cgroupPath);
    const text = dir && readBoundedTextOrUndefined(`${dir}/cgroup.procs`, 1 << 20);
    const pid = text ? Number.parseInt(text, 10) : 0;
    if (pid > 0) return pid;
  }
  return 0;
}
