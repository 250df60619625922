// The map-metric kit on the real kernel: a test object counts this process's calls of an
// unimplemented syscall into a per-CPU zone array and a hash with a two-u64 value; the probe the
// kit builds must publish exactly those counts, labelled from the keys, summed over CPUs.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import objectPath from "../../build/test-bpf/map_metric_test.bpf.o" with { type: "file" };
import { silentLogger } from "../../src/log.ts";
import { defineBpfMapProbe, indexLabel } from "../../src/probes/kit/bpf-maps.ts";
import type { ProbeInstance } from "../../src/probes/types.ts";
import { procfsRoot } from "../../src/procfs/root.ts";
import { kernelTestSkipReason } from "./agent.ts";
import { syscall } from "./test-objects.ts";

const skip = kernelTestSkipReason();
const NR = 1999; // no kernel implements it; sys_enter still fires

const probe = defineBpfMapProbe({
  name: "test_map_metrics",
  source: "bpf tp_btf/sys_enter (test object)",
  defaultEnabled: true,
  object: objectPath,
  programs: [{ alternatives: ["count_enter"] }],
  rodata: () => ({ target_tgid: process.pid, target_nr: NR }),
  series: [
    { map: "zones", name: "calls_total", help: "Calls by zone.", type: "counter", labels: indexLabel("zone", ["z0", "z1", "z2", "z3"]) },
    { map: "by_arg", name: "arg_calls_total", help: "Calls by argument.", type: "counter", labels: (k) => ({ arg: String(k.getUint32(0, true)) }) },
    { map: "by_arg", name: "arg_sum", help: "Sum of the argument.", type: "gauge", slot: 1, skipZero: true, labels: (k) => ({ arg: String(k.getUint32(0, true)) }) },
  ],
});

describe.skipIf(!!skip)("map-metric kit (real kernel)", () => {
  let inst: ProbeInstance;
  beforeAll(async () => {
    inst = await probe.create({ config: {}, procfs: procfsRoot(""), log: silentLogger, emit() {} });
  });
  afterAll(async () => {
    await inst?.stop();
  });

  test("zone counters and per-key counters equal the calls made, summed over CPUs", async () => {
    // arg 0..9 once each, arg 5 twice more; yielding between calls lets them land on either CPU
    const args = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 5, 5];
    for (const a of args) {
      syscall(NR, a);
      await Bun.sleep(1);
    }
    const samples = await inst.collect!();
    const value = (name: string, labels: Record<string, string>) =>
      samples.find((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels?.[k] === v))?.value;
    const zone = (z: number) => args.filter((a) => a % 4 === z).length;
    expect([0, 1, 2, 3].map((z) => value("calls_total", { zone: `z${z}` }))).toEqual([0, 1, 2, 3].map(zone));
    expect(value("arg_calls_total", { arg: "5" })).toBe(3);
    expect(value("arg_calls_total", { arg: "9" })).toBe(1);
    expect(value("arg_sum", { arg: "5" })).toBe(15);
    expect(value("arg_sum", { arg: "0" })).toBeUndefined(); // skipZero: 0 + 0
    expect(samples.filter((s) => s.name === "arg_calls_total")).toHaveLength(10);
  });
});
