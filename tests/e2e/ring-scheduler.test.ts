// The process-wide ring scheduler on the real kernel: records are delivered because the kernel
// wakes the waiter thread (no polling timer), one busy ring cannot starve a quiet one, stop() from
// a handler is safe, close() really ends the waiter thread, and an idle scheduler never wakes.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { lookupPerCpuArraySums } from "../../src/bpf/maps.ts";
import { BpfObject } from "../../src/bpf/object.ts";
import { describeBpf, syscall, testObjectBytes } from "./test-objects.ts";
import { RingScheduler, type RingConsumer } from "../../src/bpf/ring-scheduler.ts";

const root = join(import.meta.dir, "../..");
const obj = join(root, "build/test-bpf/runtime_test.bpf.o");
const run = describeBpf("tests/e2e/ring-scheduler.test.ts");

// Syscall numbers no kernel implements: sys_enter still fires, and only this test issues them.
// Each ring below is loaded with its own number, so the test decides which ring gets records.
const NR_A = 0x4b60;
const NR_B = 0x4b61;
let bytes: Uint8Array;
const opened: BpfObject[] = [];
const schedulers: RingScheduler[] = [];

function ringObject(nr: number, ringBytes = 64 * 1024): BpfObject {
  const o = BpfObject.load({
    name: "runtime_test",
    bytes,
    rodata: { target_tgid: process.pid, target_nr: nr, magic: 1, tag_raw: false },
    groups: [{ alternatives: ["on_enter_btf", "on_enter_raw"] }],
    maxEntries: { events: ringBytes },
  });
  opened.push(o);
  return o;
}

function scheduler(opts?: ConstructorParameters<typeof RingScheduler>[0]): RingScheduler {
  const s = new RingScheduler(opts);
  schedulers.push(s);
  return s;
}

/** Resolves when `cond()` holds; checks on every event-loop turn (not a fixed sleep). */
async function until(what: string, cond: () => boolean, timeoutMs = 3000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!cond()) {
    if (performance.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 1));
  }
}

/** Threads of this process: tid → [comm, voluntary + nonvoluntary context switches]. */
function threads(): Map<string, { comm: string; switches: number; wchan: string }> {
  const out = new Map<string, { comm: string; switches: number; wchan: string }>();
  for (const tid of readdirSync("/proc/self/task")) {
    try {
      const status = readFileSync(`/proc/self/task/${tid}/status`, "utf8");
      const num = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+)`, "m").exec(status)?.[1] ?? 0);
      out.set(tid, {
        comm: readFileSync(`/proc/self/task/${tid}/comm`, "utf8").trim(),
        switches: num("voluntary_ctxt_switches") + num("nonvoluntary_ctxt_switches"),
        wchan: readFileSync(`/proc/self/task/${tid}/wchan`, "utf8"),
      });
    } catch {
      // the thread ended while we listed it
    }
  }
  return out;
}

run("ring scheduler (real kernel)", () => {
  beforeAll(async () => {
    bytes = await testObjectBytes("runtime_test");
  });

  afterAll(async () => {
    for (const s of schedulers) await s.close();
    for (const o of opened) o.close();
  });

  test("idle: no wake-ups and the waiter thread sleeps in epoll_wait", async () => {
    const before = new Set(threads().keys());
    const s = scheduler();
    const o = ringObject(NR_A);
    const c = s.add(o.map("events"), () => {});
    // The waiter thread is the one this scheduler started; wait until it blocks in epoll_wait.
    let tid = "";
    await until("the waiter thread to block in epoll_wait", () => {
      for (const [t, th] of threads()) if (!before.has(t) && th.wchan.includes("epoll_wait")) tid = t;
      return tid !== "";
    });
    const sw0 = threads().get(tid)!.switches;
    await Bun.sleep(2000);
    const th = threads().get(tid);
    expect(s.stats()).toEqual({ rings: 1, wakeups: 0, drains: 0, budgetExhausted: 0 });
    expect(th?.wchan).toContain("epoll_wait");
    expect(th!.switches - sw0).toBeLessThanOrEqual(1); // a polling thread would have switched >100 times
    // …and it is not asleep for good: the next record wakes it.
    syscall(NR_A, 1);
    await until("the record", () => c.consumed === 1);
    expect(s.stats().wakeups).toBe(1);
    await s.close();
    await until("the waiter thread to exit", () => !threads().has(tid));
  });

  test("records arrive because the kernel wakes the waiter, within milliseconds of the syscall", async () => {
    const s = scheduler();
    const o = ringObject(NR_A);
    const got: number[] = [];
    const argAt = o.structLayout("rt_event").get("arg0")!.offset;
    const c = s.add(o.map("events"), (_u8, dv, off) => got.push(Number(dv.getBigUint64(off + argAt, true))), { name: "rt-a" });
    expect(c.name).toBe("rt-a");
    const latency: number[] = [];
    const N = 15;
    for (let i = 0; i < N; i++) {
      await Bun.sleep(15); // let the consumer go idle: each record must be announced by a wake-up
      const t0 = performance.now();
      syscall(NR_A, 100 + i);
      await until(`record ${i}`, () => got.length === i + 1, 1000);
      latency.push(performance.now() - t0);
    }
    expect(got).toEqual(Array.from({ length: N }, (_, i) => 100 + i));
    expect(c.consumed).toBe(N);
    expect(c.pending).toBe(0);
    const st = s.stats();
    // Every drain cycle was started by a kernel wake-up; no timer drained anything.
    expect(st.drains).toBe(st.wakeups);
    expect(st.wakeups).toBeGreaterThanOrEqual(N);
    expect(st.wakeups).toBeLessThanOrEqual(N + 2);
    latency.sort((a, b) => a - b);
    const median = latency[N >> 1];
    console.log(`ring scheduler: syscall→handler latency median ${median.toFixed(2)} ms, max ${latency[N - 1].toFixed(2)} ms`);
    expect(median).toBeLessThan(20);
  });

  test("a throwing handler is counted per ring and does not stop the consumer", async () => {
    const s = scheduler();
    const o = ringObject(NR_A);
    const errors: unknown[] = [];
    let calls = 0;
    const c = s.add(o.map("events"), () => {
      if (calls++ % 2 === 0) throw new Error("bad record");
    }, { onError: (e) => errors.push(e) });
    for (let i = 0; i < 10; i++) syscall(NR_A, i);
    await until("10 records", () => c.consumed === 10);
    expect(c.handlerErrors).toBe(5);
    expect(errors).toHaveLength(5);
    expect(String(errors[0])).toContain("bad record");
    syscall(NR_A, 99);
    await until("the record after the errors", () => c.consumed === 11);
  });

  test("fairness: a quiet ring is served in the same cycle as a flooded one", async () => {
    const s = scheduler({ budgetMs: 5, chunk: 64 });
    const busy = ringObject(NR_A, 4 << 20);
    const quiet = ringObject(NR_B);
    const FLOOD = 20_000;
    let busySeen = 0;
    const a = s.add(busy.map("events"), () => {
      busySeen++;
      const t = performance.now() + 0.005; // ~5 us per record: ~100 ms of work for the flood
      while (performance.now() < t) {}
    }, { name: "busy" });
    let quietAt: { busySeen: number; drains: number; wakeups: number } | undefined;
    let quietSeen = 0;
    const b = s.add(quiet.map("events"), () => {
      quietSeen++;
      if (quietSeen === 5) quietAt = { busySeen, drains: s.stats().drains, wakeups: s.stats().wakeups };
    }, { name: "quiet" });
    // Both rings fill before the main thread handles the waiter's message.
    for (let i = 0; i < FLOOD; i++) syscall(NR_A, i);
    for (let i = 0; i < 5; i++) syscall(NR_B, i);
    expect(a.pending).toBe(FLOOD * 72); // 60-byte rt_event + 8-byte header, 8-aligned
    let turns = 0; // event-loop turns while the flood was still being drained
    await until("the flood", () => {
      if (busySeen > 0 && busySeen < FLOOD) turns++;
      return busySeen === FLOOD;
    }, 20_000);
    expect(quietSeen).toBe(5);
    expect(quietAt).toBeDefined();
    expect(quietAt!.drains).toBe(1); // the first cycle…
    expect(quietAt!.busySeen).toBeLessThanOrEqual(2 * 64); // …after at most two chunks of the flood
    expect(b.consumed).toBe(5);
    expect(a.consumed).toBe(FLOOD);
    expect(a.pending).toBe(0);
    expect(lookupPerCpuArraySums(busy.map("counters"))[0]).toBe(FLOOD); // emitted
    expect(lookupPerCpuArraySums(busy.map("counters"))[1]).toBe(0); // ring full
    await Bun.sleep(20);
    const st = s.stats();
    // One kernel wake-up, one cycle: the waiter stayed parked while the main thread drained
    // (a level-triggered fd that is still readable must not make it wake again and again).
    expect(st.wakeups).toBe(1);
    expect(st.drains).toBe(1);
    expect(st.budgetExhausted).toBeGreaterThanOrEqual(5); // ~100 ms of work in 5 ms slices
    expect(turns).toBeGreaterThanOrEqual(5); // the event loop ran between slices
  });

  test("stop() from inside a handler: its own ring (the rest of its walk dropped), and another ring (drained first) in the same cycle", async () => {
    const s = scheduler();
    const oa = ringObject(NR_A);
    const ob = ringObject(NR_B);
    let seenA = 0;
    let seenB = 0;
    let b: RingConsumer | undefined;
    const a: RingConsumer = s.add(oa.map("events"), () => {
      seenA++;
      if (seenA === 1) b!.stop(); // the other ring, before the scheduler reaches it
      if (seenA === 3) {
        a.stop();
        a.stop(); // idempotent
      }
    });
    b = s.add(ob.map("events"), () => seenB++);
    for (let i = 0; i < 10; i++) syscall(NR_B, i);
    for (let i = 0; i < 10; i++) syscall(NR_A, i);
    await until("ring a to stop itself", () => seenA === 3 && s.stats().rings === 0);
    await Bun.sleep(50);
    expect(seenA).toBe(3); // the rest of that walk was dropped
    expect(a.consumed).toBe(3);
    // b was stopped from outside its own walk: what the kernel had committed was delivered
    // first (a probe stopped at shutdown loses nothing already in its ring), then nothing more.
    expect(seenB).toBe(10);
    for (let i = 0; i < 5; i++) syscall(NR_B, i);
    await Bun.sleep(50);
    expect(seenB).toBe(10);
    expect(a.pending).toBe(0);
    expect(b.drain()).toBe(0); // unmapped: no crash
    oa.close();
    ob.close();
    // The scheduler keeps working for rings added afterwards.
    const oc = ringObject(NR_A);
    let seenC = 0;
    const c = s.add(oc.map("events"), () => seenC++);
    syscall(NR_A, 1);
    await until("a record on a ring added after the stops", () => seenC === 1);
    expect(c.consumed).toBe(1);
  });

  test("stop() delivers what the kernel committed before it, even before any wake-up was handled", () => {
    const s = scheduler();
    const o = ringObject(NR_A);
    let seen = 0;
    const c = s.add(o.map("events"), () => seen++);
    for (let i = 0; i < 10; i++) syscall(NR_A, i);
    // Same tick: the waiter's wake-up cannot have been handled yet.
    expect(seen).toBe(0);
    c.stop();
    expect(seen).toBe(10);
    expect(c.consumed).toBe(10);
    o.close();
  });

  test("drain() is synchronous, and scheduled delivery does not repeat what it consumed", async () => {
    const s = scheduler();
    const o = ringObject(NR_A);
    let seen = 0;
    const c = s.add(o.map("events"), () => seen++);
    for (let i = 0; i < 20; i++) syscall(NR_A, i);
    expect(c.pending).toBe(20 * 72);
    expect(c.drain()).toBe(20);
    expect(c.pending).toBe(0);
    syscall(NR_A, 20);
    await until("the next record", () => seen === 21);
    await Bun.sleep(30);
    expect(c.consumed).toBe(21);
  });

  test("close() ends the waiter thread and the process exits on its own", async () => {
    const dir = mkdtempSync(join(tmpdir(), "kpulse-ring-"));
    try {
      const script = join(dir, "close.ts");
      writeFileSync(script, `
        import { readdirSync, readFileSync } from "node:fs";
        import { dlopen, FFIType as T } from "bun:ffi";
        import { BpfObject } from ${JSON.stringify(join(root, "src/bpf/object.ts"))};
        import { RingScheduler } from ${JSON.stringify(join(root, "src/bpf/ring-scheduler.ts"))};
        const inEpoll = () => readdirSync("/proc/self/task").filter((t) => {
          try { return readFileSync("/proc/self/task/" + t + "/wchan", "utf8").includes("epoll_wait"); } catch { return false; }
        });
        const exists = (t) => { try { readFileSync("/proc/self/task/" + t + "/comm"); return true; } catch { return false; } };
        const base = new Set(inEpoll());
        const libc = dlopen("libc.so.6", { syscall: { args: [T.i64, T.i64], returns: T.i64 } });
        const bytes = await Bun.file(${JSON.stringify(obj)}).bytes();
        const load = () => BpfObject.load({
          name: "runtime_test", bytes,
          rodata: { target_tgid: process.pid, target_nr: ${NR_A}, magic: 1, tag_raw: false },
          groups: [{ alternatives: ["on_enter_btf", "on_enter_raw"] }],
        });
        const o = load();
        const s = new RingScheduler();
        let n = 0;
        s.add(o.map("events"), () => n++);
        libc.symbols.syscall(${NR_A}, 1);
        const t0 = Date.now();
        while (n < 1 && Date.now() - t0 < 3000) await Bun.sleep(5);
        let waiter = [];
        while (!(waiter = inEpoll().filter((t) => !base.has(t))).length && Date.now() - t0 < 3000) await Bun.sleep(5);
        const c0 = performance.now();
        await s.close();
        const closeMs = performance.now() - c0;
        const aliveAfterClose = waiter.filter(exists).length;
        o.close();
        if (process.argv[2] === "keep") {
          // A second scheduler left open with a ring registered must not keep the process alive.
          new RingScheduler().add(load().map("events"), () => {});
        }
        console.log(JSON.stringify({ delivered: n, waiter: waiter.length, aliveAfterClose, closeMs, rings: s.stats().rings }));
      `);
      for (const mode of ["close", "keep"]) {
        const t0 = performance.now();
        const p = Bun.spawn([process.execPath, script, mode], { stdout: "pipe", stderr: "pipe" });
        const code = await Promise.race([p.exited, Bun.sleep(8000).then(() => "timeout" as const)]);
        if (code === "timeout") p.kill("SIGKILL");
        const out = await new Response(p.stdout).text();
        const err = await new Response(p.stderr).text();
        expect({ mode, code, err: err.trim() }).toEqual({ mode, code: 0, err: "" });
        expect(performance.now() - t0).toBeLessThan(8000);
        const r = JSON.parse(out.trim().split("\n").pop()!);
        expect(r.delivered).toBe(1);
        expect(r.waiter).toBe(1);
        expect(r.aliveAfterClose).toBe(0); // the thread is gone, not just detached
        expect(r.closeMs).toBeLessThan(1000);
        expect(r.rings).toBe(0);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
