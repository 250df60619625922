// Memory cgroup helpers shared by the oom and memory_reclaim probes: the cgroup path the BPF
// side read as kernfs names (leaf first, fixed slots), HUATUO's kernel address format, the
// memory controller's files in cgroupfs (v1 or v2) and the host's /proc/meminfo.
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { ProcfsRoot } from "../../procfs/root.ts";
import { cString } from "../kit/decoders.ts";

/** Bytes of one kernfs name slot (OOM_CGROUP_NAME_LEN, RECLAIM_CGROUP_NAME_LEN in bpf/include). */
export const CGROUP_NAME_LEN = 128;

/**
 * "/a/b/c" from `depth` names stored leaf first in `slots` slots of CGROUP_NAME_LEN bytes;
 * "/" for the root. A depth of slots + 1 means the cgroup is deeper than the slots: the
 * ancestors not kept are shown as "/...".
 */
export function cgroupPath(u8: Uint8Array, at: number, fieldBytes: number, depth: number): string {
  const slots = Math.floor(fieldBytes / CGROUP_NAME_LEN);
  const n = Math.min(depth, slots);
  const parts: string[] = [];
  for (let i = n - 1; i >= 0; i--) parts.push(cString(u8, at + i * CGROUP_NAME_LEN, CGROUP_NAME_LEN));
  return (depth > slots ? "/..." : "") + "/" + parts.join("/");
}

/** HUATUO's kernel address text: "0x" and 16 hex digits, "" for a null pointer. */
export function kernelAddress(dv: DataView, at: number): string {
  const lo = dv.getUint32(at, true), hi = dv.getUint32(at + 4, true);
  if (lo === 0 && hi === 0) return "";
  return "0x" + hi.toString(16).padStart(8, "0") + lo.toString(16).padStart(8, "0");
}

/** "key value" lines → {key: value}; lines that are not two fields with an integer are skipped. */
export function parseKeyValues(text: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of text.split("\n")) {
    const sp = line.indexOf(" ");
    if (sp <= 0) continue;
    const v = line.slice(sp + 1).trim();
    if (!/^\d+$/.test(v)) continue;
    out[line.slice(0, sp)] = Number(v);
  }
  return out;
}

/** The /proc/meminfo keys of HUATUO's OOM snapshot, in bytes. */
export const MEMINFO_KEYS: readonly string[] = [
  "MemTotal", "MemFree", "MemAvailable", "Buffers", "Cached", "SwapCached", "Active(anon)", "Inactive(anon)",
  "Active(file)", "Inactive(file)", "Unevictable", "Slab", "SReclaimable", "SUnreclaim", "SwapTotal", "SwapFree",
  "CommitLimit", "Committed_AS",
];
const MEMINFO_WANTED: ReadonlySet<string> = new Set(MEMINFO_KEYS);

/** HUATUO's host_meminfo: the wanted /proc/meminfo lines ("Key:   123 kB"), in bytes. */
export function parseMeminfo(text: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of text.split("\n")) {
    const colon = line.indexOf(":");
    if (colon <= 0) continue;
    const k = line.slice(0, colon);
    if (!MEMINFO_WANTED.has(k)) continue;
    const m = /^\s*(\d+)/.exec(line.slice(colon + 1));
    if (m) out[k] = Number(m[1]) * 1024;
  }
  return out;
}

/** What cgroupfs says about one memory cgroup; each part absent when its file is. */
export interface MemcgFiles {
  current?: number;
  max?: number;
  stat?: Record<string, number>;
  events?: Record<string, number>;
}

/** The memory controller's hierarchy as this host mounts it: v1 `memory` or the v2 unified one. */
export interface MemcgHierarchy {
  version: 1 | 2;
  /** Directory of the hierarchy root as seen under the procfs prefix. */
  mountDir: string;
  /** The mount's root inside the hierarchy ("/" unless a cgroup namespace or bind mount). */
  root: string;
}

/** The memory hierarchy from a mountinfo text: a v1 mount with the memory option wins over cgroup2. */
export function findMemcgHierarchy(mountinfo: string, prefix = ""): MemcgHierarchy | undefined {
  let v2: MemcgHierarchy | undefined;
  for (const line of mountinfo.split("\n")) {
    const f = line.split(" ");
    const sep = f.indexOf("-", 6);
    if (sep < 0 || f.length < sep + 3) continue;
    const fsType = f[sep + 1];
    const dir = join(prefix || "/", unescape(f[4]!));
    const root = unescape(f[3]!);
    if (fsType === "cgroup" && (f[sep + 3] ?? "").split(",").includes("memory")) return { version: 1, mountDir: dir, root };
    if (fsType === "cgroup2" && !v2) v2 = { version: 2, mountDir: dir, root };
  }
  return v2;
}

function unescape(s: string): string {
  return s.includes("\\") ? s.replace(/\\([0-7]{3})/g, (_, oct: string) => String.fromCharCode(parseInt(oct, 8))) : s;
}

function readOptional(path: string): string | undefined {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return undefined;
  }
}

/** Reads a memory cgroup's files by its path in the hierarchy (synchronous: a few small files). */
export class MemcgFs {
  constructor(private readonly h: MemcgHierarchy | undefined) {}

  static forHost(procfs: ProcfsRoot): MemcgFs {
    const text = readOptional(procfs.proc("self", "mountinfo"));
    return new MemcgFs(text === undefined ? undefined : findMemcgHierarchy(text, procfs.prefix));
  }

  get version(): 1 | 2 | undefined {
    return this.h?.version;
  }

  /** The cgroup's directory, or undefined when it lies outside what this host mounts. */
  dir(path: string): string | undefined {
    const h = this.h;
    if (!h || path.startsWith("/...")) return undefined;
    if (h.root === "/") return join(h.mountDir, path);
    if (path !== h.root && !path.startsWith(h.root + "/")) return undefined;
    return join(h.mountDir, path.slice(h.root.length));
  }

  /** memory.stat and memory.events (v1: only kernels that have it), plus usage and limit when asked. */
  read(path: string, withUsage = false): MemcgFiles | undefined {
    const dir = this.dir(path);
    if (dir === undefined || !existsSync(dir)) return undefined;
    const out: MemcgFiles = {};
    const stat = readOptional(join(dir, "memory.stat"));
    if (stat !== undefined) out.stat = parseKeyValues(stat);
    const events = readOptional(join(dir, "memory.events"));
    if (events !== undefined) out.events = parseKeyValues(events);
    if (withUsage) {
      const v1 = this.h!.version === 1;
      const cur = readOptional(join(dir, v1 ? "memory.usage_in_bytes" : "memory.current"))?.trim();
      const max = readOptional(join(dir, v1 ? "memory.limit_in_bytes" : "memory.max"))?.trim();
      if (cur && /^\d+$/.test(cur)) out.current = Number(cur);
      // "max" (v2) and v1's PAGE_COUNTER_MAX in bytes mean no limit: omitted
      if (max && /^\d+$/.test(max) && Number(max) < 2 ** 62) out.max = Number(max);
    }
    return out;
  }
}
