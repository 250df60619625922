// ras on the real kernel. Hardware errors cannot be raised here, so this checks what can be:
// the probe loads with exactly the RAS tracepoints this kernel has (per its BTF) and publishes
// ras_hw_err_total for every source at 0, or — on a kernel with none — is unsupported saying so.
import { afterAll, describe, expect, test } from "bun:test";
import { sharedRingScheduler } from "../../src/bpf/ring-scheduler.ts";
import { silentLogger } from "../../src/log.ts";
import { kernelHasTracepoint, RAS_SOURCES, rasProbe, startRas } from "../../src/probes/ras/index.ts";
import { ProbeUnsupportedError, type ProbeInstance } from "../../src/probes/types.ts";
import { procfsRoot } from "../../src/procfs/root.ts";
import { kernelTestSkipReason } from "./agent.ts";

const skip = kernelTestSkipReason();
const ctx = { config: { MceThrBackoff: 1800 }, procfs: procfsRoot(""), log: silentLogger, emit() {} };

describe.skipIf(!!skip)("ras (real kernel)", () => {
  afterAll(async () => {
    await sharedRingScheduler().close();
  });

  test("loads with the tracepoints the kernel has, or is unsupported naming what is missing", async () => {
    const present = RAS_SOURCES.filter((s) => kernelHasTracepoint(s.tracepoint));
    const logs: string[] = [];
    const log = { ...silentLogger, info: (m: string, f?: Record<string, unknown>) => void logs.push(`${m} ${JSON.stringify(f ?? {})}`), child: () => log };
    let inst: ProbeInstance | undefined;
    try {
      inst = await rasProbe.create({ ...ctx, log });
    } catch (err) {
      expect(present).toHaveLength(0);
      expect(err).toBeInstanceOf(ProbeUnsupportedError);
      expect(String(err)).toContain("none of the RAS tracepoints (mce_record, mc_event");
      return;
    }
    try {
      expect(present.length).toBeGreaterThan(0);
      // the programs that attached are exactly the present sources
      const line = logs.find((l) => l.startsWith("ras sources"));
      expect(line).toBeDefined();
      const attached = JSON.parse(line!.slice("ras sources ".length)).programs.split(",");
      expect(attached.sort()).toEqual(present.map((s) => s.program).sort());
      const samples = await inst.collect!();
      const hw = samples.filter((s) => s.name === "hw_err_total");
      expect(hw.map((s) => s.labels!.type)).toEqual(["mce", "edac", "acpi", "aer", "thr", "arm_ghes"]);
      expect(hw.every((s) => s.value === 0 && s.type === "counter" && s.help === "total RAS hardware error events by source type")).toBe(true);
      expect(samples.find((s) => s.name === "events_total" && s.labels?.outcome === "emitted")?.value).toBe(0);
      expect(samples.find((s) => s.name === "events_total" && s.labels?.outcome === "backoff")?.value).toBe(0);
    } finally {
      await inst.stop();
    }
  });

  test("a kernel with none of the tracepoints: unsupported, with the reason", async () => {
    const err = await startRas(ctx, () => false).then(() => undefined, (e) => e);
    expect(err).toBeInstanceOf(ProbeUnsupportedError);
    expect(String(err)).toContain("the kernel has none of the RAS tracepoints");
  });

  test("a tracepoint the BTF check wrongly reports present: unsupported when nothing attaches", async () => {
    const missing = RAS_SOURCES.find((s) => !kernelHasTracepoint(s.tracepoint));
    if (!missing) return; // every source exists here
    const err = await startRas(ctx, (t) => t === missing.tracepoint).then(() => undefined, (e) => e);
    expect(err).toBeInstanceOf(ProbeUnsupportedError);
    expect(String(err)).toContain(`no RAS tracepoint could be attached: ${missing.program}`);
  });
});
