// Capability helpers, the start report's cost of each missing capability, the keep-set taken from
// the probes' declarations, and per-thread capset on the real kernel (a Worker drops its own).
import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { Kallsyms } from "../../src/bpf/kallsyms.ts";
import { capNames, capNumber, currentCapabilities, hexMask, maskOf, threadCapabilities } from "../../src/privileges/capabilities.ts";
import { CAPABILITY_USES, missingCapabilities, runtimeNeeds } from "../../src/privileges/least-privilege.ts";
import { StackSymbolizer, UNSYMBOLIZED } from "../../src/probes/kit/decoders.ts";
import { probeTable } from "../../src/probes/registry.ts";

/** Runs a worker file of this folder and resolves with its one message (capabilities are per thread). */
async function workerReply<T>(file: string): Promise<T> {
  const worker = new Worker(new URL(file, import.meta.url).href);
  try {
    return await new Promise<T>((resolve, reject) => {
      worker.onmessage = (e) => resolve(e.data);
      worker.onerror = (e) => reject(e);
    });
  } finally {
    worker.terminate();
  }
}

describe("capability names and masks", () => {
  test("numbers follow include/uapi/linux/capability.h", () => {
    expect(capNumber("CAP_DAC_READ_SEARCH")).toBe(2);
    expect(capNumber("CAP_NET_ADMIN")).toBe(12);
    expect(capNumber("CAP_SYS_PTRACE")).toBe(19);
    expect(capNumber("CAP_SYS_ADMIN")).toBe(21);
    expect(capNumber("CAP_SYSLOG")).toBe(34);
    expect(capNumber("CAP_PERFMON")).toBe(38);
    expect(capNumber("CAP_BPF")).toBe(39);
    expect(capNumber("CAP_CHECKPOINT_RESTORE")).toBe(40);
  });

  test("a /proc status mask reads back as names, and names as the same mask", () => {
    // setpriv ... --ambient-caps=+bpf,+perfmon: CapEff 000000c000000000
    expect(capNames(0xc000000000n)).toEqual(["CAP_PERFMON", "CAP_BPF"]);
    expect(maskOf(["CAP_BPF", "CAP_PERFMON", "CAP_SYSLOG", "CAP_NET_ADMIN"])).toBe(0xc400001000n);
    expect(hexMask(0xc400001000n)).toBe("0x000000c400001000");
    expect(capNames(1n << 45n)).toEqual(["cap_45"]);
  });
});

describe("what a missing capability costs", () => {
  test("nothing is missing with every capability", () => {
    expect(missingCapabilities((1n << 41n) - 1n)).toEqual([]);
  });

  test("CAP_SYS_ADMIN covers CAP_BPF and CAP_PERFMON, not CAP_SYSLOG", () => {
    const missing = missingCapabilities(maskOf(["CAP_SYS_ADMIN"])).map((m) => m.cap);
    expect(missing).not.toContain("CAP_BPF");
    expect(missing).not.toContain("CAP_PERFMON");
    expect(missing).toContain("CAP_SYSLOG");
  });

  test("the unit's set lacks only the optional ones, each with its impact", () => {
    const missing = missingCapabilities(maskOf(["CAP_BPF", "CAP_PERFMON", "CAP_SYSLOG", "CAP_NET_ADMIN"]));
    expect(missing.map((m) => m.cap)).toEqual(["CAP_SYS_PTRACE", "CAP_DAC_READ_SEARCH", "CAP_SYS_ADMIN"]);
  });

  test("no CAP_BPF means BPF probes cannot load; no CAP_SYSLOG means unsymbolized stacks", () => {
    const missing = new Map(missingCapabilities(0n).map((m) => [m.cap, m.impact]));
    expect(missing.get("CAP_BPF")).toContain("cannot load");
    expect(missing.get("CAP_PERFMON")).toContain("attach");
    expect(missing.get("CAP_SYSLOG")).toContain("unsymbolized");
    expect(missing.size).toBe(CAPABILITY_USES.length);
  });
});

describe("the keep-set comes from the loaded probes' declarations", () => {
  test("grouped by reason, naming the probes", () => {
    const needs = runtimeNeeds([
      { name: "a", runtimeCapabilities: { CAP_SYSLOG: "kallsyms" } },
      { name: "b", runtimeCapabilities: { CAP_SYSLOG: "kallsyms", CAP_NET_ADMIN: "bonding" } },
      { name: "c" },
      { name: "d", runtimeCapabilities: { CAP_SYSLOG: "kmsg" } },
    ]);
    expect([...needs.keys()].sort()).toEqual(["CAP_NET_ADMIN", "CAP_SYSLOG"]);
    expect(needs.get("CAP_SYSLOG")).toEqual(["a, b: kallsyms", "d: kmsg"]);
    expect(needs.get("CAP_NET_ADMIN")).toEqual(["b: bonding"]);
  });

  test("no probe keeps CAP_SYSLOG: kallsyms and /dev/kmsg are read through descriptors opened at start", () => {
    const byName = new Map(probeTable.map((p) => [p.name, p]));
    for (const n of ["dropwatch", "packetloss", "hungtask", "softirq_tracing", "sched_tick", "softlockup"]) {
      expect(byName.has(n)).toBe(true);
      expect(Object.keys(byName.get(n)?.runtimeCapabilities ?? {})).not.toContain("CAP_SYSLOG");
    }
    expect(Object.keys(byName.get("fd")?.runtimeCapabilities ?? {}).sort()).toEqual(["CAP_DAC_READ_SEARCH", "CAP_SYS_PTRACE"]);
    for (const n of ["cpu_util", "netstat", "netdev", "tcp_retransmit"]) expect(byName.get(n)?.runtimeCapabilities).toBeUndefined();
    // Loading BPF is a start-up need, never a run-time one.
    for (const p of probeTable) {
      expect(Object.keys(p.runtimeCapabilities ?? {})).not.toContain("CAP_BPF");
      expect(Object.keys(p.runtimeCapabilities ?? {})).not.toContain("CAP_PERFMON");
    }
  });
});

describe("capabilities are per thread (real kernel)", () => {
  test("capget agrees with /proc/thread-self/status", () => {
    const s = currentCapabilities();
    const status = readFileSync("/proc/thread-self/status", "utf8");
    const mask = (k: string) => BigInt("0x" + new RegExp(`^${k}:\\s*([0-9a-f]+)$`, "m").exec(status)![1]);
    expect(s.effective).toBe(mask("CapEff"));
    expect(s.permitted).toBe(mask("CapPrm"));
    expect(s.inheritable).toBe(mask("CapInh"));
    expect(s.ambient).toBe(mask("CapAmb"));
    expect(s.bounding).toBe(mask("CapBnd"));
  });

  test("a Worker that drops its capabilities leaves the main thread's untouched", async () => {
    const before = currentCapabilities().effective;
    const reply = await workerReply<{ tid: number; before: string; after: string; err: number }>("./privileges-worker.ts");
    expect(reply.err).toBe(0);
    expect(BigInt(reply.after)).toBe(0n);
    expect(BigInt(reply.before)).toBe(before);
    expect(currentCapabilities().effective).toBe(before);
    // threadCapabilities() lists every thread with its own set; the main thread's is unchanged.
    const main = threadCapabilities().find((t) => t.tid === process.pid);
    expect(main?.effective).toBe(before);
  });
});

const hasSyslog = (currentCapabilities().effective >> 34n) & 1n;
const sysctl = (name: string) => Number(readFileSync(`/proc/sys/kernel/${name}`, "utf8"));

describe.skipIf(!hasSyslog)("kallsyms read after CAP_SYSLOG is gone (real kernel)", () => {
  test("the index rebuilds with real addresses from the descriptor opened before the drop", async () => {
    const r = await workerReply<{ before: string; err: number; rebuilt: string; fresh: string; size: number }>("./privileges-kallsyms-worker.ts");
    expect(r.err).toBe(0);
    expect(r.before).toBe("available");
    expect(r.rebuilt).toBe("available");
    expect(r.size).toBeGreaterThan(1000);
    // A reader that opens the file without CAP_SYSLOG sees zeros, unless the kernel shows them to all.
    const shownToAll = sysctl("kptr_restrict") === 0 && sysctl("perf_event_paranoid") <= 1;
    if (shownToAll) expect(r.fresh).toBe("available");
    else expect(r.fresh).toMatch(/^no CAP_SYSLOG/);
  });
});

describe.skipIf(!hasSyslog)("/dev/kmsg watched again after CAP_SYSLOG is gone (real kernel)", () => {
  test("a rewatch duplicates the descriptor opened at start instead of opening the device", async () => {
    const r = await workerReply<{ err: number; reopen: string; watchError: string; seen: boolean }>("./privileges-kmsg-worker.ts");
    expect(r.err).toBe(0);
    // With kernel.dmesg_restrict=1 the device itself is closed to this thread now.
    if (sysctl("dmesg_restrict") === 1) expect(r.reopen).toBe("EPERM");
    expect(r.watchError).toBe("");
    expect(r.seen).toBe(true);
  });
});

describe("kernel symbols hidden by the kernel", () => {
  const enc = (s: string) => new TextEncoder().encode(s);
  const HIDDEN = ["0000000000000000 T _stext", "0000000000000000 t udp_rcv", "0000000000000000 T kfree_skb_reason", ""].join("\n");
  const SHOWN = ["ffffffff81000000 T _stext", "ffffffff81000100 t udp_rcv", ""].join("\n");

  test("every address 0: unavailable with the reason, and stacks say so above their raw frames", () => {
    const k = new Kallsyms("/fake/kallsyms", { read: () => enc(HIDDEN) });
    expect(k.unavailable()).toMatch(/CAP_SYSLOG/);
    expect(k.symbolizer.unavailable?.()).toBe(k.unavailable());
    const stacks = new StackSymbolizer(k.symbolizer);
    const words = new Uint32Array([0x81000104, 0xffffffff, 0x81000050, 0xffffffff, 0, 0]);
    const text = stacks.text(new DataView(words.buffer), 0, words.byteLength);
    expect(text.split("\n")).toEqual([`${UNSYMBOLIZED}${k.unavailable()})`, "0xffffffff81000104", "0xffffffff81000050"]);
  });

  test("real addresses: available, and stacks carry names only", () => {
    const k = new Kallsyms("/fake/kallsyms", { read: () => enc(SHOWN) });
    expect(k.unavailable()).toBeUndefined();
    const words = new Uint32Array([0x81000104, 0xffffffff, 0, 0]);
    expect(new StackSymbolizer(k.symbolizer).text(new DataView(words.buffer), 0, words.byteLength)).toBe("udp_rcv+0x4");
  });

  test("an unreadable file is unavailable too, naming the file", () => {
    const k = new Kallsyms("/fake/kallsyms", { read: () => { throw new Error("EACCES: permission denied"); } });
    expect(k.unavailable()).toBe("cannot read /fake/kallsyms: EACCES: permission denied");
  });
});
