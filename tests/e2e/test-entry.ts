// Entry point of build/kpulse-test: the real agent plus a probe whose BPF program targets a
// tracepoint that does not exist, to prove one broken probe cannot take the agent down.
import missingObjectPath from "../../build/test-bpf/missing_tracepoint.bpf.o" with { type: "file" };
import { startEventObject } from "../../src/bpf/event-probe.ts";
import { runMain } from "../../src/main.ts";
import type { ProbeDefinition } from "../../src/probes/types.ts";

const brokenTracepointProbe: ProbeDefinition = {
  name: "test_missing_tracepoint",
  kind: "event",
  source: "bpf tp_btf/kpulse_no_such_tracepoint (test build only)",
  defaultEnabled: true,
  create: (ctx) =>
    startEventObject(ctx, {
      probe: "test_missing_tracepoint",
      objectPath: missingObjectPath,
      ringMap: "missing_events",
      groups: [{ alternatives: ["missing_tp_btf", "missing_tracepoint"] }],
      makeDecoder: () => () => {},
    }),
};

process.exitCode = await runMain(process.argv.slice(2), [brokenTracepointProbe]);
