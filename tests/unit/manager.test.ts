// The probe manager hands each probe its own section and, for event and autotracing probes, the
// matching known-issue list; a probe that fails to load is reported and the others still start.
import { describe, expect, test } from "bun:test";
import { ConfigSchema, parseConfig } from "../../src/config/load.ts";
import { GLOBAL_SECTIONS } from "../../src/config/sections.ts";
import { key, section } from "../../src/config/spec.ts";
import { silentLogger } from "../../src/log.ts";
import { ProbeManager } from "../../src/probes/manager.ts";
import { defineProbe, ProbeUnsupportedError, type ProbeContext } from "../../src/probes/types.ts";
import { procfsRoot } from "../../src/procfs/root.ts";

const MINE = section("EventTracing.Mine", { Threshold: key.int(7, 0) });

describe("ProbeManager", () => {
  test("own section, issue lists by kind, failures isolated", async () => {
    const seen: Record<string, ProbeContext<unknown>> = {};
    const event = defineProbe({ name: "ev", kind: "event", source: "test", defaultEnabled: true, config: MINE, create: (ctx) => ((seen.ev = ctx as ProbeContext<unknown>), { stop() {} }) });
    const auto = defineProbe({ name: "au", kind: "autotracing", source: "test", defaultEnabled: true, create: (ctx) => ((seen.au = ctx), { stop() {} }) });
    const metric = defineProbe({ name: "me", kind: "metric", source: "test", defaultEnabled: true, create: (ctx) => ((seen.me = ctx), { collect: () => [], stop() {} }) });
    const broken = defineProbe({ name: "br", kind: "metric", source: "test", defaultEnabled: true, create: () => { throw new ProbeUnsupportedError("no such thing here"); } });
    const cfg = parseConfig(
      '[EventTracing]\nIssuesList = [["known", "comm=ignored"]]\n[EventTracing.Mine]\nThreshold = 3\n[AutoTracing]\nIssuesList = [["slow", "stack"]]\n',
      "t.toml",
      new ConfigSchema([...GLOBAL_SECTIONS, MINE]),
    );
    const m = new ProbeManager([event, broken, auto, metric], { config: cfg, procfs: procfsRoot(""), log: silentLogger, publish() {} }, new Set());
    await m.startAll();
    expect(seen.ev!.config).toEqual({ Threshold: 3 });
    expect(seen.ev!.issuesList).toEqual([["known", "comm=ignored"]]);
    expect(seen.au!.issuesList).toEqual([["slow", "stack"]]);
    expect(seen.me!.issuesList).toBeUndefined();
    expect(m.statuses().map((s) => [s.name, s.status, s.reason])).toEqual([
      ["ev", "loaded", undefined], ["br", "unsupported", "no such thing here"], ["au", "loaded", undefined], ["me", "loaded", undefined],
    ]);
    await m.stopAll();
  });
});
