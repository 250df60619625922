// Per-program BPF cost on the real kernel: every attached program of a loaded object gets its
// info, run count and run time; counts and time grow while statistics are enabled through the
// fd-scoped bpf_enable_stats (the global kernel.bpf_stats_enabled sysctl is never touched).
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import softirqObject from "../../build/bpf/softirq.bpf.o" with { type: "file" };
import type { BpfObject } from "../../src/bpf/object.ts";
import { enableRunTimeStats, programCostSamples, programInfo } from "../../src/bpf/prog-stats.ts";
import { silentLogger } from "../../src/log.ts";
import type { Sample } from "../../src/metrics/sample.ts";
import { loadEmbeddedObject } from "../../src/probes/kit/bpf-events.ts";
import { kernelTestSkipReason } from "./agent.ts";
import { closedUdpPort, sendUdp } from "./udp.ts";

const skip = kernelTestSkipReason();
const SYSCTL = "/proc/sys/kernel/bpf_stats_enabled";

function get(samples: Sample[], name: string, program: string): Sample | undefined {
  return samples.find((s) => s.name === name && s.labels?.program === program);
}

describe.skipIf(!!skip)("BPF program cost (real kernel)", () => {
  let obj: BpfObject;
  beforeAll(async () => {
    obj = await loadEmbeddedObject("softirq", softirqObject, {
      programs: [{ alternatives: ["softirq_entry_btf", "softirq_entry_tp"] }, { alternatives: ["softirq_raise_btf", "softirq_raise_tp"] }],
    }, { count_zones: true }, silentLogger);
  });
  afterAll(() => obj?.close());

  test("info, run count and run time per attached program; counting only while enabled", async () => {
    const sysctlBefore = readFileSync(SYSCTL, "utf8");
    const fds = obj.programFds();
    expect(fds.map((f) => f.program)).toEqual(obj.attached.map((a) => a.program));

    const first = programCostSamples(obj, "softirq");
    const entry = obj.attached[0]!.program;
    expect(get(first, "bpf_program_info", entry)).toMatchObject({ type: "gauge", value: 1, labels: { probe: "softirq", program: entry, type: "tracing" } });
    expect(get(first, "bpf_program_info", entry)!.labels!.tag).toMatch(/^[0-9a-f]{16}$/);
    expect(first).toHaveLength(3 * fds.length);

    const port = await closedUdpPort();
    const stats = enableRunTimeStats();
    let during: Sample[];
    try {
      expect(readFileSync(SYSCTL, "utf8")).toBe(sysctlBefore); // fd-scoped, not the sysctl
      const before = programInfo(fds[0]!.fd);
      await sendUdp(port, 20_000);
      const after = programInfo(fds[0]!.fd);
      expect(after.runCount).toBeGreaterThan(before.runCount);
      expect(after.runTimeNs).toBeGreaterThan(before.runTimeNs);
      during = programCostSamples(obj, "softirq");
      const runs = get(during, "bpf_program_run_count_total", entry)!;
      const secs = get(during, "bpf_program_run_time_seconds_total", entry)!;
      expect(runs.type).toBe("counter");
      expect(runs.value).toBeGreaterThan(0);
      expect(secs.value).toBeGreaterThan(0);
      expect(secs.value / runs.value).toBeLessThan(1e-4); // well under 100 µs per run
    } finally {
      stats.close();
    }
    // Whether counting stopped cannot be checked here: any other process may hold stats on.
    expect(readFileSync(SYSCTL, "utf8")).toBe(sysctlBefore);
  });

  test("a closed object has no programs to report", async () => {
    const o = await loadEmbeddedObject("softirq", softirqObject, { programs: [{ alternatives: ["softirq_raise_btf"] }] }, {}, silentLogger);
    o.close();
    expect(programCostSamples(o, "x")).toEqual([]);
  });
});
