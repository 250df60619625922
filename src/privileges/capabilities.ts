// Linux capabilities of the agent: names, the calling thread's sets (capget), every thread's
// effective set (/proc/self/task/<tid>/status) and the drop (capset + ambient clear).
// Capabilities belong to a thread, not to the process: capset changes the calling thread only,
// so a drop made on the main thread leaves every other thread (Bun's pool and JIT threads,
// Workers started before it) with what it had. threadCapabilities() shows who holds what.
import { readdirSync, readFileSync } from "node:fs";
import { capGet, capSet, prctl, PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, PR_CAP_AMBIENT_IS_SET, PR_CAPBSET_READ, type CapabilitySets } from "../../ffi/libc.ts";

/** Capability numbers (include/uapi/linux/capability.h), index = number. */
const NAMES = [
  "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL",
  "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE", "CAP_NET_BIND_SERVICE",
  "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_SYS_MODULE",
  "CAP_SYS_RAWIO", "CAP_SYS_CHROOT", "CAP_SYS_PTRACE", "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT",
  "CAP_SYS_NICE", "CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE",
  "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG",
  "CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE",
] as const;

export type CapabilityName = (typeof NAMES)[number];

/** Capability number of a name; throws on a name this table does not know (a typo in a probe). */
export function capNumber(name: CapabilityName): number {
  const n = NAMES.indexOf(name);
  if (n < 0) throw new Error(`unknown capability ${name}`);
  return n;
}

export const capBit = (name: CapabilityName): bigint => 1n << BigInt(capNumber(name));

/** Names of the bits set in `mask` (unknown high bits as "cap_<n>"), lowest first. */
export function capNames(mask: bigint): string[] {
  const out: string[] = [];
  for (let n = 0; n < 64; n++) if ((mask >> BigInt(n)) & 1n) out.push(NAMES[n] ?? `cap_${n}`);
  return out;
}

export function maskOf(names: Iterable<CapabilityName>): bigint {
  let m = 0n;
  for (const n of names) m |= capBit(n);
  return m;
}

/** "0x000000c000000000", as /proc/<pid>/status prints masks. */
export const hexMask = (m: bigint): string => "0x" + m.toString(16).padStart(16, "0");

export interface ThreadSets extends CapabilitySets {
  ambient: bigint;
  bounding: bigint;
}

/** The calling thread's five sets. Ambient and bounding come from prctl, one query per capability. */
export function currentCapabilities(): ThreadSets {
  const s = capGet();
  let ambient = 0n, bounding = 0n;
  for (let n = 0; n < NAMES.length; n++) {
    if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_IS_SET, n) === 1) ambient |= 1n << BigInt(n);
    if (prctl(PR_CAPBSET_READ, n) === 1) bounding |= 1n << BigInt(n);
  }
  return { ...s, ambient, bounding };
}

/**
 * Keep only `keep` in the calling thread's effective, permitted and inheritable sets, and clear
 * its ambient set (which would hand capabilities to any program it runs). Dropping needs no
 * privilege; what is dropped from the permitted set cannot come back. Returns 0 or -errno.
 */
export function dropToThisThread(keep: bigint): number {
  const s = capGet();
  const err = capSet({ effective: s.effective & keep, permitted: s.permitted & keep, inheritable: s.inheritable & keep });
  if (err < 0) return err;
  const amb = prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL);
  return amb < 0 ? amb : 0;
}

/**
 * Lower `caps` (a mask) from the effective set only (they stay permitted), run `fn`, raise them
 * again: tells whether `fn` needs them on this kernel before they are given up for good.
 */
export function withoutEffective<T>(caps: bigint, fn: () => T): T {
  const s = capGet();
  if (!(s.effective & caps) || capSet({ ...s, effective: s.effective & ~caps }) < 0) return fn();
  try {
    return fn();
  } finally {
    capSet(s);
  }
}

/** The calling thread's effective set. */
export const effectiveNow = (): bigint => capGet().effective;

export interface ThreadCapabilities {
  tid: number;
  comm: string;
  effective: bigint;
  permitted: bigint;
}

function statusMask(text: string, key: string): bigint {
  const m = new RegExp(`^${key}:\\s*([0-9a-f]{1,16})$`, "m").exec(text);
  return m ? BigInt("0x" + m[1]) : 0n;
}

/** Every thread of this process with its effective and permitted sets (threads that exit meanwhile are left out). */
export function threadCapabilities(procDir = "/proc/self"): ThreadCapabilities[] {
  const out: ThreadCapabilities[] = [];
  let tids: string[];
  try {
    tids = readdirSync(`${procDir}/task`).filter((t) => /^\d+$/.test(t));
  } catch {
    return out;
  }
  for (const t of tids) {
    try {
      const status = readFileSync(`${procDir}/task/${t}/status`, "utf8");
      const comm = readFileSync(`${procDir}/task/${t}/comm`, "utf8").trim();
      out.push({ tid: Number(t), comm, effective: statusMask(status, "CapEff"), permitted: statusMask(status, "CapPrm") });
    } catch {
      // the thread exited between readdir and read
    }
  }
  return out.sort((a, b) => a.tid - b.tid);
}
