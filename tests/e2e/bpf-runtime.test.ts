// The BPF runtime on the real kernel: load from bytes, .rodata constants, ordered fallbacks
// (load-time and attach-time), ring records through the mmap consumer (driven by the ring
// scheduler) decoded with offsets from the object's BTF, per-CPU map reads, verifier errors that do not crash the process.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { vmlinuxEnum } from "../../src/bpf/btf.ts";
import { Kallsyms } from "../../src/bpf/kallsyms.ts";
import { lookupBatch, lookupPerCpuArraySums, possibleCpus, valueStride } from "../../src/bpf/maps.ts";
import { BpfLoadError, BpfObject, type BpfObjectSpec } from "../../src/bpf/object.ts";
import { describeBpf, syscall, testObjectBytes } from "./test-objects.ts";
import { RingScheduler } from "../../src/bpf/ring-scheduler.ts";

const run = describeBpf("tests/e2e/bpf-runtime.test.ts");

// A syscall number no kernel implements: sys_enter still fires for it, and nothing else in the
// process issues it, so every record the test sees was caused by the test.
const NR = 0x4b50;
let bytes: Uint8Array;
const opened: BpfObject[] = [];
const schedulers: RingScheduler[] = [];

function scheduler(opts?: ConstructorParameters<typeof RingScheduler>[0]): RingScheduler {
  const s = new RingScheduler(opts);
  schedulers.push(s);
  return s;
}

function spec(groups: BpfObjectSpec["groups"], extra: Partial<BpfObjectSpec> = {}): BpfObjectSpec {
  return {
    name: "runtime_test",
    bytes,
    rodata: { target_tgid: process.pid, target_nr: NR, magic: 0x1234567890abcdefn, tag_raw: false },
    groups,
    ...extra,
  };
}

function load(s: BpfObjectSpec): BpfObject {
  const o = BpfObject.load(s);
  opened.push(o);
  return o;
}

run("bpf runtime (real kernel)", () => {
  beforeAll(async () => {
    bytes = await testObjectBytes("runtime_test");
  });

  afterAll(async () => {
    for (const s of schedulers) await s.close();
    for (const o of opened) o.close();
  });

  test("ordered fallback: missing tp_btf fails load, missing tracepoint fails attach, third wins", () => {
    const o = load(spec([{ alternatives: ["tp_missing", "tp_attach_missing", "on_enter_btf", "on_enter_raw"] }]));
    expect(o.attached).toEqual([{ group: 0, program: "on_enter_btf" }]);
    expect(o.fallbacks.map((f) => [f.program, f.phase])).toEqual([
      ["tp_missing", "load"],
      ["tp_attach_missing", "attach"],
    ]);
    expect(o.fallbacks[0].reason).toContain("kpulse_no_such_tp");
    o.close();
    o.close(); // idempotent
  });

  test("ring records arrive through the mmap consumer, decoded with offsets from the object's BTF", async () => {
    const o = load(spec([{ alternatives: ["tp_missing", "on_enter_btf"] }], { maxEntries: { events: 128 * 1024 } }));
    const events = o.map("events");
    expect(events.maxEntries).toBe(128 * 1024);
    const L = o.structLayout("rt_event");
    for (const f of ["ts", "tgid", "pid", "nr", "arg0", "magic", "flags", "comm"]) expect(L.has(f)).toBe(true);
    expect(L.get("comm")!.size).toBe(16);
    const at = (f: string) => L.get(f)!.offset;

    const got: { tgid: number; nr: number; arg0: number; magic: bigint; flags: number; comm: string; len: number }[] = [];
    const sched = scheduler();
    const reader = sched.add(events, (u8, dv, off, len) => {
      const c = u8.subarray(off + at("comm"), off + at("comm") + 16);
      got.push({
        len,
        tgid: dv.getUint32(off + at("tgid"), true),
        nr: Number(dv.getBigInt64(off + at("nr"), true)),
        arg0: Number(dv.getBigUint64(off + at("arg0"), true)),
        magic: dv.getBigUint64(off + at("magic"), true),
        flags: dv.getUint8(off + at("flags")),
        comm: new TextDecoder().decode(c.subarray(0, Math.max(0, c.indexOf(0)))),
      });
    });
    expect(reader.name).toBe("events");
    const N = 50;
    for (let i = 0; i < N; i++) syscall(NR, 1000 + i);
    const deadline = Date.now() + 3000;
    while (got.length < N && Date.now() < deadline) await Bun.sleep(10);
    reader.stop();
    reader.stop(); // idempotent
    expect(got.length).toBe(N);
    expect(reader.consumed).toBe(N);
    expect(got.map((r) => r.arg0)).toEqual(Array.from({ length: N }, (_, i) => 1000 + i));
    for (const r of got) {
      expect(r.len).toBe(o.structSize("rt_event"));
      expect(r.tgid).toBe(process.pid);
      expect(r.nr).toBe(NR);
      expect(r.magic).toBe(0x1234567890abcdefn); // u64 .rodata write
      expect(r.flags).toBe(1); // tp_btf path, tag_raw=false
      expect(r.comm.length).toBeGreaterThan(0);
    }

    // per-CPU counters: [0] emitted, [1] ring full, [2] syscalls seen from this process
    const sums = lookupPerCpuArraySums(o.map("counters"));
    expect(sums).toHaveLength(4);
    expect(sums[0]).toBe(N);
    expect(sums[1]).toBe(0);
    expect(sums[2]).toBeGreaterThanOrEqual(N);
    const b = lookupBatch(o.map("counters"));
    expect(b.count).toBe(4);
    expect(b.values.byteLength).toBeGreaterThanOrEqual(4 * valueStride(o.map("counters")));
    expect(possibleCpus()).toBeGreaterThan(0);
    o.close();
  });

  test("drain() consumes synchronously; raw_tp alternative and bool .rodata", () => {
    const o = load(spec([{ alternatives: ["on_enter_raw"] }], {
      rodata: { target_tgid: process.pid, target_nr: NR, magic: 7, tag_raw: true },
    }));
    expect(o.attached).toEqual([{ group: 0, program: "on_enter_raw" }]);
    const flagsAt = o.structLayout("rt_event").get("flags")!.offset;
    const flags: number[] = [];
    const sched = scheduler();
    const reader = sched.add(o.map("events"), (_u8, dv, off) => flags.push(dv.getUint8(off + flagsAt)));
    for (let i = 0; i < 10; i++) syscall(NR, i);
    expect(reader.drain()).toBe(10);
    expect(reader.drain()).toBe(0);
    expect(flags).toEqual(Array(10).fill(2 | 4));
    reader.stop();
    expect(reader.drain()).toBe(0); // stopped: nothing mapped, no crash
    expect(sched.stats().rings).toBe(0);
    o.close();
  });

  test("drain cycles respect the time budget: a slow handler does not hold the event loop", async () => {
    const o = load(spec([{ alternatives: ["on_enter_btf"] }], { maxEntries: { events: 1 << 20 } }));
    const N = 2000;
    for (let i = 0; i < N; i++) syscall(NR, i);
    let seen = 0;
    let interleaved = 0; // event-loop turns that ran while records were still pending
    const sched = scheduler({ budgetMs: 5 });
    const reader = sched.add(o.map("events"), () => {
      seen++;
      const until = performance.now() + 0.02; // ~20 us per record: ~40 ms of work in all
      while (performance.now() < until) {}
    });
    const deadline = Date.now() + 10_000;
    while (seen < N && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 0));
      if (seen > 0 && seen < N) interleaved++;
    }
    reader.stop();
    expect(seen).toBe(N);
    expect(reader.consumed).toBe(N);
    expect(interleaved).toBeGreaterThanOrEqual(3);
    expect(sched.stats().budgetExhausted).toBeGreaterThanOrEqual(3);
    o.close();
  });

  test("a verifier-rejected program fails with a readable error and the process keeps going", () => {
    let err: unknown;
    try {
      load(spec([{ alternatives: ["bad_prog"] }]));
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(BpfLoadError);
    const e = err as BpfLoadError;
    expect(e.message).toContain("bad_prog");
    expect(e.message).toMatch(/invalid mem access/);
    expect(e.message.includes("\n")).toBe(false);
    expect(e.log).toContain("BEGIN PROG LOAD LOG");
    expect(e.unsupported).toBe(false);
    // and the runtime still works afterwards
    const o = load(spec([{ alternatives: ["on_enter_btf"] }]));
    expect(o.attached).toHaveLength(1);
    o.close();
  });

  test("an optional group whose alternatives all fail is skipped; required groups still attach", () => {
    const o = load(spec([
      { alternatives: ["on_enter_btf"] },
      { alternatives: ["tp_missing", "bad_prog"], optional: true },
    ]));
    expect(o.attached).toEqual([{ group: 0, program: "on_enter_btf" }]);
    expect(o.skipped).toHaveLength(1);
    expect(o.skipped[0].group).toBe(1);
    expect(o.skipped[0].reason).toContain("invalid mem access");
    o.close();
  });

  test("a required group with only missing hooks reports unsupported", () => {
    let err: unknown;
    try {
      load(spec([{ alternatives: ["tp_missing", "tp_attach_missing", "no_such_program"] }]));
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(BpfLoadError);
    expect((err as BpfLoadError).unsupported).toBe(true);
    expect((err as BpfLoadError).message).toContain("no_such_program");
  });

  test("bad spec values are errors, not crashes", () => {
    expect(() => load(spec([{ alternatives: ["on_enter_btf"] }], { rodata: { nope: 1 } }))).toThrow(/nope/);
    expect(() => load(spec([{ alternatives: ["on_enter_btf"] }], { rodata: { target_tgid: 2 ** 40 } }))).toThrow(/does not fit/);
    expect(() => load(spec([], { bytes: new Uint8Array(64) }))).toThrow(BpfLoadError);
  });

  test("vmlinux enum and kallsyms from the running kernel", () => {
    const reasons = vmlinuxEnum("skb_drop_reason");
    expect([...reasons.values()]).toContain("SKB_DROP_REASON_NOT_SPECIFIED");
    const line = readFileSync("/proc/kallsyms", "latin1").split("\n").find((l) => / [tT] kfree_skb_reason$/.test(l));
    if (!line) return; // symbol not present in this build: nothing to compare with
    const addr = BigInt("0x" + line.split(" ")[0]) + 4n;
    const k = new Kallsyms("/proc/kallsyms");
    expect(k.symbolize(Number(addr >> 32n), Number(addr & 0xffffffffn))).toBe("kfree_skb_reason+0x4");
  });
});
