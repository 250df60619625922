// Decoding of the system anomaly events (oom, memory_reclaim_events, hungtask) from records laid
// out by the built objects' BTF, and the user-space parts around them: memory cgroup paths and
// files, /proc/meminfo, the hungtask save backoff and the blocked-task text.
import { describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { structLayoutOf, structSizeOf, withObjectFileBtf } from "../../src/bpf/btf.ts";
import { silentLogger } from "../../src/log.ts";
import { resolveLayout, type FieldSizes } from "../../src/probes/kit/decoders.ts";
import { SaveBackoff } from "../../src/probes/kit/backoff.ts";
import { blockedText, MAX_BLOCKED_TASKS, parseStatState, procStackFrames } from "../../src/probes/hungtask/blocked.ts";
import { HUNGTASK_FIELDS, HungtaskDecoder } from "../../src/probes/hungtask/decode.ts";
import { hungtaskProbe } from "../../src/probes/hungtask/index.ts";
import { decodeMemoryReclaim, MEMORY_RECLAIM_FIELDS } from "../../src/probes/memory_reclaim/decode.ts";
import { MEMORY_RECLAIM_CONFIG, memoryReclaimProbe } from "../../src/probes/memory_reclaim/index.ts";
import { decodeOom, OOM_FIELDS, type OomDeps } from "../../src/probes/oom/decode.ts";
import { oomProbe, memcgOfProcCgroup } from "../../src/probes/oom/index.ts";
import { cgroupPath, CGROUP_NAME_LEN, findMemcgHierarchy, kernelAddress, MemcgFs, MEMINFO_KEYS, parseKeyValues, parseMeminfo } from "../../src/probes/oom/memcg.ts";
import { ProbeUnsupportedError } from "../../src/probes/types.ts";
import { procfsRoot } from "../../src/procfs/root.ts";

function record<F extends FieldSizes>(object: string, struct: string, fields: F) {
  const layout = withObjectFileBtf(object, (btf) => structLayoutOf(btf, struct));
  const size = withObjectFileBtf(object, (btf) => structSizeOf(btf, struct));
  const offsets = resolveLayout(struct, layout, fields);
  const u8 = new Uint8Array(size);
  const dv = new DataView(u8.buffer);
  const enc = new TextEncoder();
  return {
    offsets, u8, dv,
    u32: (f: keyof F, v: number) => dv.setUint32(offsets[f], v, true),
    u64: (f: keyof F, v: bigint) => dv.setBigUint64(offsets[f], v, true),
    str: (f: keyof F, s: string, slot = 0) => u8.set(enc.encode(s), offsets[f] + slot * CGROUP_NAME_LEN),
  };
}

const PAGE_COUNTER_MAX = (2n ** 63n - 1n) / 4096n;

describe("oom", () => {
  const deps = (over: Partial<OomDeps> = {}): OomDeps & { reads: string[] } => {
    const reads: string[] = [];
    return {
      reads,
      pageSize: 4096,
      memcg: (path) => (reads.push(path), { stat: { rss: 1 }, events: { oom: 1, oom_kill: 1 } }),
      meminfo: () => ({ MemTotal: 1024 }),
      task: () => undefined,
      ...over,
    };
  };

  test("trigger and victim in one memory cgroup: HUATUO's actors, bytes from pages, one read of the cgroup's files", () => {
    const r = record(oomProbe.bpf.object, "oom_event", OOM_FIELDS);
    for (const who of ["trigger", "victim"] as const) {
      r.u64(`${who}_memcg_css`, 0xffff888104db8000n);
      r.u64(`${who}_memcg_usage`, 8192n);
      r.u64(`${who}_memcg_max`, 8192n);
      r.u32(`${who}_cgroup_depth`, 2);
      r.str(`${who}_cgroup`, "pod1", 0); // leaf first
      r.str(`${who}_cgroup`, "kubepods", 1);
    }
    r.u32("trigger_pid", 100);
    r.u32("victim_pid", 200);
    r.str("trigger_comm", "java");
    r.str("victim_comm", "victim-proc");
    const d = deps();
    const out = decodeOom(r.offsets, r.u8, r.dv, 0, d);
    const cgroup = { path: "/kubepods/pod1", current: 32 << 20, max: 32 << 20, stat: { rss: 1 }, events: { oom: 1, oom_kill: 1 } };
    expect(out).toEqual({
      trigger: { memory_cgroup_css_addr: "0xffff888104db8000", pid: 100, comm: "java", cgroup },
      victim: { memory_cgroup_css_addr: "0xffff888104db8000", pid: 200, comm: "victim-proc", cgroup },
      memory_snapshot: { host_meminfo: { MemTotal: 1024 } },
    });
    expect(Object.keys(out.trigger)).toEqual(["memory_cgroup_css_addr", "pid", "comm", "cgroup"]);
    expect(d.reads).toEqual(["/kubepods/pod1"]);
  });

  test("an unlimited root cgroup and a missing meminfo: no max, no snapshot; a vanished cgroup keeps what BPF read", () => {
    const r = record(oomProbe.bpf.object, "oom_event", OOM_FIELDS);
    r.u64("trigger_memcg_css", 0x1234n);
    r.u64("trigger_memcg_usage", 1n);
    r.u64("trigger_memcg_max", PAGE_COUNTER_MAX);
    r.u64("victim_memcg_css", 0xffff888100000000n);
    r.u64("victim_memcg_max", 256n);
    r.u32("victim_cgroup_depth", 1);
    r.str("victim_cgroup", "gone");
    const out = decodeOom(r.offsets, r.u8, r.dv, 0, deps({ memcg: () => undefined, meminfo: () => undefined }));
    expect(out.trigger).toEqual({ memory_cgroup_css_addr: "0x0000000000001234", pid: 0, comm: "", cgroup: { path: "/", current: 4096 } });
    expect(out.victim.cgroup).toEqual({ path: "/gone", max: 1 << 20 });
    expect(out).not.toHaveProperty("memory_snapshot");
  });

  test("an old kernel's pid-only victim is completed from /proc; a task without a memory cgroup has none", () => {
    const r = record(oomProbe.bpf.object, "oom_event", OOM_FIELDS);
    r.u32("flags", 1);
    r.u32("victim_pid", 4242);
    const out = decodeOom(r.offsets, r.u8, r.dv, 0, deps({
      task: (pid) => (pid === 4242 ? { comm: "leaky", cgroup: "/app" } : undefined),
      memcg: (path, withUsage) => (withUsage ? { current: 5, max: 9, stat: { cache: 2 } } : undefined),
    }));
    expect(out.victim).toEqual({ memory_cgroup_css_addr: "", pid: 4242, comm: "leaky", cgroup: { path: "/app", current: 5, max: 9, stat: { cache: 2 } } });
    expect(out.trigger).not.toHaveProperty("cgroup");
  });

  test("the memory cgroup line of /proc/<pid>/cgroup, v1 then v2", () => {
    expect(memcgOfProcCgroup("5:devices:/\n4:memory:/process_api/x\n0::/\n")).toBe("/process_api/x");
    expect(memcgOfProcCgroup("3:cpu,memory:/a\n")).toBe("/a");
    expect(memcgOfProcCgroup("0::/system.slice/app.service\n")).toBe("/system.slice/app.service");
    expect(memcgOfProcCgroup("1:name=systemd:/\n")).toBeUndefined();
  });
});

describe("memory cgroup helpers", () => {
  test("paths from leaf-first slots, truncation, kernel addresses", () => {
    const u8 = new Uint8Array(8 * CGROUP_NAME_LEN);
    const names = ["c", "b", "a", "4", "3", "2", "1", "0"];
    names.forEach((n, i) => u8.set(new TextEncoder().encode(n), i * CGROUP_NAME_LEN));
    expect(cgroupPath(u8, 0, u8.length, 0)).toBe("/");
    expect(cgroupPath(u8, 0, u8.length, 3)).toBe("/a/b/c");
    expect(cgroupPath(u8, 0, u8.length, 9)).toBe("/.../0/1/2/3/4/a/b/c");
    const dv = new DataView(new ArrayBuffer(8));
    expect(kernelAddress(dv, 0)).toBe("");
    dv.setBigUint64(0, 0xff4b8d8be3818000n, true);
    expect(kernelAddress(dv, 0)).toBe("0xff4b8d8be3818000");
  });

  test("meminfo keys in bytes, key-value files", () => {
    const text = "MemTotal:       24683000 kB\nMemFree:         100 kB\nHugePages_Total:       0\nCommitted_AS:   5 kB\nActive(anon):  7 kB\n";
    expect(parseMeminfo(text)).toEqual({ MemTotal: 24683000 * 1024, MemFree: 102400, Committed_AS: 5120, "Active(anon)": 7168 });
    expect(MEMINFO_KEYS).toHaveLength(18);
    expect(parseKeyValues("cache 0\nrss 8151040\nbad line x\n\nlow 1\n")).toEqual({ cache: 0, rss: 8151040, low: 1 });
  });

  test("the memory hierarchy from mountinfo: v1 memory wins, v2 otherwise, namespace roots", () => {
    const v1 = "35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n";
    const v2 = "30 23 0:27 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate\n";
    expect(findMemcgHierarchy(v1)).toEqual({ version: 1, mountDir: "/sys/fs/cgroup/memory", root: "/" });
    expect(findMemcgHierarchy(v2, "/host")).toEqual({ version: 2, mountDir: "/host/sys/fs/cgroup", root: "/" });
    expect(findMemcgHierarchy("1 0 8:1 / / rw - ext4 /dev/sda rw\n")).toBeUndefined();
    const ns = new MemcgFs({ version: 2, mountDir: "/sys/fs/cgroup", root: "/kubepods/pod1" });
    expect(ns.dir("/kubepods/pod1/ctr")).toBe("/sys/fs/cgroup/ctr");
    expect(ns.dir("/other")).toBeUndefined();
    expect(ns.dir("/.../x")).toBeUndefined();
  });

  test("reads v2 files: usage, a limit of max omitted, stat and events", () => {
    const dir = mkdtempSync(join(tmpdir(), "kpulse-memcg-"));
    try {
      mkdirSync(join(dir, "app"));
      writeFileSync(join(dir, "app", "memory.current"), "4096\n");
      writeFileSync(join(dir, "app", "memory.max"), "max\n");
      writeFileSync(join(dir, "app", "memory.stat"), "anon 4096\nfile 0\n");
      writeFileSync(join(dir, "app", "memory.events"), "low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n");
      const fs = new MemcgFs({ version: 2, mountDir: dir, root: "/" });
      expect(fs.read("/app", true)).toEqual({ current: 4096, stat: { anon: 4096, file: 0 }, events: { low: 0, high: 0, max: 3, oom: 1, oom_kill: 1 } });
      expect(fs.read("/app")).not.toHaveProperty("current");
      expect(fs.read("/missing")).toBeUndefined();
    } finally {
      rmSync(dir, { recursive: true });
    }
  });
});

describe("memory_reclaim_events", () => {
  test("HUATUO's fields first, then the memory cgroup, the scope and what was freed", () => {
    const r = record(memoryReclaimProbe.bpf.object, "memory_reclaim_event", MEMORY_RECLAIM_FIELDS);
    r.u32("pid", 1896137);
    r.u32("tid", 1896138);
    r.str("comm", "java");
    r.u64("reclaim_duration_ns", 1412702917n);
    r.u64("memcg_css", 0xffff888104db8000n);
    r.u32("cgroup_depth", 1);
    r.str("cgroup", "app");
    r.u32("scope", 2);
    r.u64("nr_reclaimed", 32n);
    const out = decodeMemoryReclaim(r.offsets, r.u8, r.dv, 0);
    expect(out).toEqual({
      pid: 1896137, tid: 1896138, comm: "java", reclaim_duration_ns: 1412702917,
      memory_cgroup_css_addr: "0xffff888104db8000", memory_cgroup_path: "/app", reclaim_scope: "memcg", nr_reclaimed: 32,
    });
    r.u32("scope", 1);
    r.u64("memcg_css", 0n);
    expect(decodeMemoryReclaim(r.offsets, r.u8, r.dv, 0)).toMatchObject({ reclaim_scope: "global", memory_cgroup_css_addr: "", memory_cgroup_path: "" });
  });

  test("HUATUO's section and registered name; events saved as memory_reclaim", () => {
    expect(MEMORY_RECLAIM_CONFIG.path).toBe("EventTracing.MemoryReclaim");
    expect(MEMORY_RECLAIM_CONFIG.keys.BlockedThreshold!.default).toBe(900_000_000);
    expect(memoryReclaimProbe.name).toBe("memory_reclaim_events");
    expect(memoryReclaimProbe.tracerName).toBe("memory_reclaim");
  });
});

describe("hungtask", () => {
  test("the hung task and its symbolized stack; no stack from the fallback hook", () => {
    const r = record(hungtaskProbe.bpf.object, "hungtask_event", HUNGTASK_FIELDS);
    r.u32("tid", 7);
    r.u32("pid", 5);
    r.str("comm", "kworker/u48:2");
    r.u64("stack", 0xffffffff81000010n);
    r.dv.setBigUint64(r.offsets.stack + 8, 0xffffffff81000020n, true);
    r.u32("stack_bytes", 16);
    const dec = new HungtaskDecoder(r.offsets, (hi, lo) => `f${lo.toString(16)}`);
    expect(dec.decode(r.u8, r.dv, 0)).toEqual({ tid: 7, pid: 5, comm: "kworker/u48:2", stack: "f81000010\nf81000020" });
    r.u32("stack_bytes", 0);
    expect(dec.decode(r.u8, r.dv, 0).stack).toBe("");
  });

  test("HUATUO's backoff: 10 min doubling to 3 h, back to 10 min after a quiet last wait + 1 h", () => {
    let t = 0;
    const min = 60_000;
    const b = new SaveBackoff({ now: () => t });
    const at = (m: number) => ((t = m * min), b.allow());
    expect(at(0)).toBe(true);
    expect(at(9.99)).toBe(false);
    expect(at(10)).toBe(true); // next wait 20 min
    expect(at(29)).toBe(false);
    expect(at(30)).toBe(true); // 40
    expect(at(70)).toBe(true); // 80
    expect(at(150)).toBe(true); // 160
    expect(at(310)).toBe(true); // 320 → capped at 180
    expect(at(490)).toBe(true); // 180
    expect(at(669)).toBe(false);
    expect(at(670)).toBe(true);
    // quiet for more than the last wait (180) + 60 min: starts over at 10 min
    expect(at(670 + 241)).toBe(true);
    expect(at(670 + 241 + 10)).toBe(true);
  });

  test("blocked task text: stat states, /proc stack frames, bounds", () => {
    expect(parseStatState("123 (a) b) c) D 1 2 3")).toEqual({ comm: "a) b) c", state: "D" });
    expect(parseStatState("garbage")).toBeUndefined();
    expect(procStackFrames("[<0>] request_wait_answer+0x151/0x210\n[<0>] fuse_lookup+0x75/0x1b0\n")).toBe("request_wait_answer+0x151/0x210\nfuse_lookup+0x75/0x1b0");
    const t = (tid: number) => ({ tid, pid: tid, comm: "stat", stack: "a+0x1\nb+0x2" });
    expect(blockedText(t(1), [t(2)])).toBe("task:stat state:D pid:1 tgid:1\n  a+0x1\n  b+0x2\n\ntask:stat state:D pid:2 tgid:2\n  a+0x1\n  b+0x2\n");
    const many = blockedText(t(0), Array.from({ length: 100 }, (_, i) => t(i + 1)));
    expect(many.split("task:").length - 1).toBe(MAX_BLOCKED_TASKS);
    expect(many).toEndWith(`... ${101 - MAX_BLOCKED_TASKS} more blocked tasks\n`);
  });

  test("unsupported without a hung task detector (no hung_task_timeout_secs)", async () => {
    const dir = mkdtempSync(join(tmpdir(), "kpulse-nohung-"));
    try {
      const p = hungtaskProbe.create({ config: undefined, procfs: procfsRoot(dir), log: silentLogger, emit() {} });
      await expect(p).rejects.toBeInstanceOf(ProbeUnsupportedError);
    } finally {
      rmSync(dir, { recursive: true });
    }
  });
});
