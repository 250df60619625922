// sched_tick on the real kernel. With a 1 µs threshold every running tick is "late" (HZ gives
// 1–10 ms between ticks): under a loopback UDP flood, which keeps ticks running, events must
// carry HUATUO's fields with a "stack:\n" stack, and the per-CPU limit must hold (10 reports per
// CPU per second, the rest counted as ratelimited). At the default 10 ms an idle moment gives none.
import { afterAll, describe, expect, test } from "bun:test";
import { possibleCpus } from "../../src/bpf/maps.ts";
import { sharedRingScheduler } from "../../src/bpf/ring-scheduler.ts";
import { sectionDefaults } from "../../src/config/spec.ts";
import { silentLogger } from "../../src/log.ts";
import type { Sample } from "../../src/metrics/sample.ts";
import { REPORTS_PER_CPU_PER_SEC, SCHED_TICK_CONFIG, schedTickProbe } from "../../src/probes/sched_tick/index.ts";
import type { ProbeEmission, ProbeInstance } from "../../src/probes/types.ts";
import { procfsRoot } from "../../src/procfs/root.ts";
import { kernelTestSkipReason, waitFor } from "./agent.ts";
import { closedUdpPort, UDP_FLOOD } from "./udp.ts";

const skip = kernelTestSkipReason();

function outcome(samples: Sample[], o: string): number {
  return samples.find((s) => s.name === "events_total" && s.labels?.outcome === o)?.value ?? NaN;
}

describe.skipIf(!!skip)("sched_tick (real kernel)", () => {
  const instances: ProbeInstance[] = [];
  const floods: ReturnType<typeof Bun.spawn>[] = [];
  afterAll(async () => {
    for (const f of floods) f.kill();
    for (const i of instances) await i.stop();
    await sharedRingScheduler().close();
  });

  test("1 µs threshold under load: late-tick events with HUATUO's fields, at most 10 per CPU per second", async () => {
    const got: ProbeEmission[] = [];
    const inst = await schedTickProbe.create({ config: { IntervalThreshold: 1000 }, procfs: procfsRoot(""), log: silentLogger, emit: (e) => got.push(e) });
    instances.push(inst);
    const started = performance.now();
    const port = await closedUdpPort();
    floods.push(Bun.spawn([UDP_FLOOD, String(port), "100000000"], { stdout: "ignore", stderr: "ignore" }));
    await waitFor("ticks suppressed by the per-CPU limit", async () => outcome(await inst.collect!(), "ratelimited") > 0 && got.length >= 5, 15_000);
    floods.pop()!.kill();
    const samples = await inst.collect!();
    const elapsedS = (performance.now() - started) / 1000;

    const e = got[0]!.data;
    expect(Object.keys(e)).toEqual(["tick_interval_ns", "tick_interval_threshold_ns", "comm", "pid", "cpu", "stack"]);
    expect(e.tick_interval_ns as number).toBeGreaterThanOrEqual(1000);
    expect(e.tick_interval_ns as number).toBeLessThan(10e9);
    expect(e.tick_interval_threshold_ns).toBe(1000);
    expect(typeof e.comm).toBe("string");
    expect(e.cpu as number).toBeLessThan(possibleCpus());
    expect(e.stack as string).toStartWith("stack:\n");
    expect(e.stack as string).toMatch(/hrtimer/); // the tick arrives through the hrtimer interrupt
    // HUATUO's limit, per CPU per (whole or started) second
    const perCpu = new Map<number, number>();
    for (const g of got) perCpu.set(g.data.cpu as number, (perCpu.get(g.data.cpu as number) ?? 0) + 1);
    for (const n of perCpu.values()) expect(n).toBeLessThanOrEqual(REPORTS_PER_CPU_PER_SEC * (Math.ceil(elapsedS) + 1));
    expect(outcome(samples, "emitted")).toBeGreaterThanOrEqual(got.length);
    expect(outcome(samples, "ratelimited")).toBeGreaterThan(0);
    await inst.stop();
    instances.splice(instances.indexOf(inst), 1);
  });

  test("default threshold (10 ms): an idle moment gives no event", async () => {
    const got: ProbeEmission[] = [];
    const inst = await schedTickProbe.create({ config: sectionDefaults(SCHED_TICK_CONFIG, ""), procfs: procfsRoot(""), log: silentLogger, emit: (e) => got.push(e) });
    instances.push(inst);
    await Bun.sleep(1500); // the observation window itself
    expect(outcome(await inst.collect!(), "emitted")).toBe(0);
    expect(got).toHaveLength(0);
  });
});
