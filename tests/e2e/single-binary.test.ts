// The executable alone, copied into an empty directory, runs, loads its embedded BPF object
// and serves: nothing beside it is needed.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { copyFileSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { KPULSE, kernelTestSkipReason, metricValue, startAgent, type Agent } from "./agent.ts";

const skip = kernelTestSkipReason();

describe.skipIf(!!skip)("single binary", () => {
  let dir: string;
  let agent: Agent;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "kpulse-alone-"));
    copyFileSync(KPULSE, join(dir, "kpulse"));
    const conf = mkdtempSync(join(tmpdir(), "kpulse-conf-"));
    agent = await startAgent({ binary: join(dir, "kpulse"), config: "", dir: conf, cwd: dir, args: ["--disable-storage"] });
  });
  afterAll(async () => {
    await agent?.stop();
    rmSync(agent?.dir ?? "", { recursive: true, force: true });
    rmSync(dir, { recursive: true, force: true });
  });

  test("runs from an empty directory with its BPF probe loaded", async () => {
    expect(readdirSync(dir)).toEqual(["kpulse"]);
    const body = await (await fetch(`${agent.url}/v1/probes`)).json();
    const dw = body.data.find((p: any) => p.name === "dropwatch");
    expect(dw.status).toBe("loaded");
    const text = await agent.metrics();
    expect(metricValue(text, "kpulse_probe_up", { probe: "dropwatch" })).toBe(1);
    // What each program costs the kernel, from the embedded object's attached programs.
    expect(metricValue(text, "kpulse_bpf_program_info", { probe: "dropwatch" })).toBe(1);
    expect(metricValue(text, "kpulse_bpf_program_run_count_total", { probe: "dropwatch" })).toBeGreaterThanOrEqual(0);
    const version = await (await fetch(`${agent.url}/version`)).json();
    expect(version.data.name).toBe("kpulse");
  });
});
