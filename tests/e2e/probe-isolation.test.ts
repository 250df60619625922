// A probe that cannot load must be reported (up=0 plus a reason) while the agent keeps
// serving and the other probes keep working. build/kpulse-test adds a probe whose BPF
// programs target a tracepoint no kernel has.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { probeTable } from "../../src/probes/registry.ts";
import { KPULSE_TEST, kernelTestSkipReason, metricValue, startAgent, type Agent } from "./agent.ts";

const skip = kernelTestSkipReason();

describe.skipIf(!!skip)("probe isolation (real kernel)", () => {
  let agent: Agent;
  beforeAll(async () => {
    // Every probe of the table, opt-in ones included.
    const all = probeTable.filter((p) => !p.defaultEnabled).map((p) => JSON.stringify(p.name)).join(", ");
    agent = await startAgent({ binary: KPULSE_TEST, config: `[Kpulse]\nEnableProbes = [${all}]\n`, args: ["--disable-storage"] });
  });
  afterAll(async () => {
    await agent?.stop();
  });

  test("the broken probe is unsupported with a reason, the rest are loaded", async () => {
    const body = await (await fetch(`${agent.url}/v1/probes`)).json();
    const byName = Object.fromEntries(body.data.map((p: any) => [p.name, p]));
    expect(byName.test_missing_tracepoint.status).toBe("unsupported");
    expect(byName.test_missing_tracepoint.reason).toMatch(/kpulse_no_such_tracepoint|no_such_tracepoint/);
    // Every probe loads, or says why this kernel cannot have it (e.g. ipvs without IPVS): none failed.
    for (const p of probeTable) {
      const { status, reason } = byName[p.name];
      expect({ probe: p.name, status: status === "unsupported" && reason ? "unsupported with a reason" : status })
        .toEqual({ probe: p.name, status: expect.stringMatching(/^(loaded|unsupported with a reason)$/) });
    }
    expect(byName.dropwatch.status).toBe("loaded");
  });

  test("/metrics still serves: broken probe up=0, others up=1 with their data", async () => {
    const text = await agent.metrics();
    expect(metricValue(text, "kpulse_probe_up", { probe: "test_missing_tracepoint" })).toBe(0);
    // probe_status tells why it is not up: unsupported, not failed.
    expect(metricValue(text, "kpulse_probe_status", { probe: "test_missing_tracepoint", status: "unsupported" })).toBe(1);
    expect(metricValue(text, "kpulse_probe_status", { probe: "test_missing_tracepoint", status: "failed" })).toBe(0);
    const probes = (await (await fetch(`${agent.url}/v1/probes`)).json()).data as { name: string; status: string }[];
    for (const p of probes) {
      if (p.status === "disabled") continue;
      expect({ probe: p.name, up: metricValue(text, "kpulse_probe_up", { probe: p.name }) }).toEqual({ probe: p.name, up: p.status === "loaded" ? 1 : 0 });
    }
    expect(metricValue(text, "kpulse_netdev_receive_bytes_total", { device: "lo" })).toBeGreaterThanOrEqual(0);
    expect(metricValue(text, "kpulse_loadavg_load1")).toBeGreaterThanOrEqual(0);
  });
});
