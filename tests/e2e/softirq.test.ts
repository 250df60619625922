// softirq_tracing and softirq on the real kernel. A loopback UDP flood raises NET_RX for every
// batch it queues: with a 1 µs threshold the event probe must report NET_RX waits and runs with
// the task and a symbolized stack through the softirq code, and the metric probe must count NET_RX
// waits in its zones for every CPU. At the default 10 ms threshold an idle moment gives nothing.
import { afterAll, describe, expect, test } from "bun:test";
import { possibleCpus } from "../../src/bpf/maps.ts";
import { sharedRingScheduler } from "../../src/bpf/ring-scheduler.ts";
import { sectionDefaults } from "../../src/config/spec.ts";
import { silentLogger } from "../../src/log.ts";
import type { Sample } from "../../src/metrics/sample.ts";
import { softirqProbe } from "../../src/probes/softirq/index.ts";
import { SOFTIRQ_TRACING_CONFIG, softirqTracingProbe } from "../../src/probes/softirq_tracing/index.ts";
import type { ProbeEmission, ProbeInstance } from "../../src/probes/types.ts";
import { procfsRoot } from "../../src/procfs/root.ts";
import { kernelTestSkipReason, waitFor } from "./agent.ts";
import { closedUdpPort, sendUdp } from "./udp.ts";

const skip = kernelTestSkipReason();

function value(samples: Sample[], name: string, labels: Record<string, string>): number | undefined {
  return samples.find((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels?.[k] === v))?.value;
}

function netRxWaits(samples: Sample[]): number {
  return samples.filter((s) => s.labels?.type === "NET_RX").reduce((a, s) => a + s.value, 0);
}

describe.skipIf(!!skip)("softirq probes (real kernel)", () => {
  const instances: ProbeInstance[] = [];
  afterAll(async () => {
    for (const i of instances) await i.stop();
    await sharedRingScheduler().close();
  });

  test("1 µs threshold under a UDP flood: NET_RX waits and runs with task, cpu and stack", async () => {
    const got: ProbeEmission[] = [];
    const inst = await softirqTracingProbe.create({
      config: { ...sectionDefaults(SOFTIRQ_TRACING_CONFIG, ""), DisabledThreshold: 1000, MaxEventsPerSecond: 0 },
      procfs: procfsRoot(""), log: silentLogger, emit: (e) => got.push(e),
    });
    instances.push(inst);
    const port = await closedUdpPort();
    const run = await waitFor("NET_RX run events of the flood", async () => {
      await sendUdp(port, 20_000);
      return got.find((e) => e.data.softirq === "NET_RX" && e.data.interval === "entry_to_exit" && e.data.comm === "udp-flood");
    }, 20_000, 0);
    const d = run.data;
    expect(d.offtime as number).toBeGreaterThanOrEqual(1000);
    expect(d.threshold).toBe(1000);
    expect(d.pid as number).toBeGreaterThan(0);
    expect(d.cpu as number).toBeLessThan(possibleCpus());
    expect(d.now as number).toBeGreaterThan(0);
    expect(d.stack as string).toStartWith("stack:\n");
    expect(d.stack as string).toMatch(/softirq/); // handle_softirqs / __do_softirq / do_softirq
    expect(d.stack as string).not.toMatch(/^stack:\n(bpf_|__bpf_trace)/); // our own frames are cut
    expect(Object.keys(d).slice(0, 7)).toEqual(["offtime", "threshold", "comm", "pid", "cpu", "now", "stack"]);
    expect(run.timeMs! / 1000).toBeCloseTo(Date.now() / 1000, -1); // wall clock, within seconds

    const waits = got.filter((e) => e.data.interval === "raise_to_entry");
    expect(waits.length).toBeGreaterThan(0);
    expect(waits.every((e) => (e.data.offtime as number) >= 1000)).toBe(true);
    const samples = await inst.collect!();
    expect(value(samples, "events_total", { outcome: "emitted" })).toBeGreaterThanOrEqual(got.length);
    await inst.stop();
    instances.splice(instances.indexOf(inst), 1);
  });

  test("default threshold (10 ms): an idle moment gives no event", async () => {
    const got: ProbeEmission[] = [];
    const inst = await softirqTracingProbe.create({
      config: sectionDefaults(SOFTIRQ_TRACING_CONFIG, ""), procfs: procfsRoot(""), log: silentLogger, emit: (e) => got.push(e),
    });
    instances.push(inst);
    await Bun.sleep(1500); // the observation window itself
    const samples = await inst.collect!();
    expect(value(samples, "events_total", { outcome: "emitted" })).toBe(0);
    expect(got).toHaveLength(0);
  });

  test("softirq_latency: every CPU × NET_TX/NET_RX × zone, NET_RX waits counted under the flood", async () => {
    const inst = await softirqProbe.create({ config: {}, procfs: procfsRoot(""), log: silentLogger, emit() {} });
    instances.push(inst);
    const before = netRxWaits(await inst.collect!());
    const port = await closedUdpPort();
    await sendUdp(port, 20_000);
    const samples = await waitFor("NET_RX waits counted", async () => {
      const s = await inst.collect!();
      return netRxWaits(s) > before ? s : undefined;
    });
    expect(samples).toHaveLength(possibleCpus() * 8);
    for (const s of samples) {
      expect(s.name).toBe("latency");
      expect(s.help).toBe("softirq latency");
      expect(s.type).toBe("counter");
      expect(["NET_TX", "NET_RX"]).toContain(s.labels!.type);
      expect(["0", "1", "2", "3"]).toContain(s.labels!.zone);
      expect(Number(s.labels!.cpuid)).toBeLessThan(possibleCpus());
    }
    // waits on loopback are short: most land in zone 0 (< 10 µs) or 1 (< 100 µs)
    const fast = samples.filter((s) => s.labels!.type === "NET_RX" && Number(s.labels!.zone) <= 1).reduce((a, s) => a + s.value, 0);
    expect(fast).toBeGreaterThan(0);
  });
});
