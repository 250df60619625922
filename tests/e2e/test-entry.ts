// Entry point of build/kpulse-test: the real agent plus a probe whose BPF program targets a
// tracepoint that does not exist, to prove one broken probe cannot take the agent down.
import missingObjectPath from "../../build/test-bpf/missing_tracepoint.bpf.o" with { type: "file" };
import { runMain } from "../../src/main.ts";
import { defineBpfEventProbe } from "../../src/probes/kit/bpf-events.ts";

const brokenTracepointProbe = defineBpfEventProbe({
  name: "test_missing_tracepoint",
  source: "bpf tp_btf/kpulse_no_such_tracepoint (test build only)",
  defaultEnabled: true,
  object: missingObjectPath,
  ring: "missing_events",
  struct: "missing_event",
  fields: {},
  programs: [{ alternatives: ["missing_tp_btf", "missing_tracepoint"] }],
  decoder: () => () => null,
});

process.exitCode = await runMain(process.argv.slice(2), [brokenTracepointProbe]);
