// Every BPF event probe in the table against the BTF of its built object: each field its decoder
// reads exists in the event struct with the size it reads, and the object carries the outcome
// enum the kit names its counters from. C and TypeScript cannot drift apart unnoticed.
import { describe, expect, test } from "bun:test";
import { enumNamesOf, structLayoutOf, withObjectFileBtf } from "../../src/bpf/btf.ts";
import { resolveLayout } from "../../src/probes/kit/decoders.ts";
import type { BpfEventProbeDefinition } from "../../src/probes/kit/bpf-events.ts";
import { probeTable } from "../../src/probes/registry.ts";

const bpfProbes = probeTable.filter((p): p is BpfEventProbeDefinition<unknown> => "bpf" in p);

test("the table has BPF event probes", () => {
  expect(bpfProbes.map((p) => p.name)).toContain("dropwatch");
});

describe.each(bpfProbes.map((p) => [p.name, p] as const))("%s", (_name, probe) => {
  const { object, struct, fields } = probe.bpf;

  test(`struct ${struct} has every field the decoder reads, at the size it reads`, () => {
    const layout = withObjectFileBtf(object, (btf) => structLayoutOf(btf, struct));
    for (const [name, size] of Object.entries(fields)) expect({ name, size: layout.get(name)?.size }).toEqual({ name, size });
    expect(() => resolveLayout(struct, layout, fields)).not.toThrow();
  });

  test("the object names its outcome counters (enum kpulse_outcome in its BTF)", () => {
    const names = withObjectFileBtf(object, (btf) => enumNamesOf(btf, "kpulse_outcome"));
    expect([...names.values()]).toEqual(expect.arrayContaining(["KPULSE_EMITTED", "KPULSE_RATELIMITED", "KPULSE_RINGBUF_FULL", "KPULSE_FILTERED"]));
  });

  test("a layout mismatch is refused naming the field", () => {
    const layout = new Map(withObjectFileBtf(object, (btf) => structLayoutOf(btf, struct)));
    const first = Object.keys(fields)[0]!;
    layout.delete(first);
    expect(() => resolveLayout(struct, layout, fields)).toThrow(`struct ${struct} does not match the decoder: ${first} missing`);
  });
});
