// 500 short-lived real containers (private containerd, busybox rootfs) created and removed
// while the agent runs: every one is picked up and dropped again, the container series and
// /v1/containers return to their baseline, and the agent's memory stays bounded.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { kernelTestSkipReason, startAgent, waitFor, type Agent } from "./agent.ts";
import { containerConfig, containerdSkipReason, containerId, removeCgroupParents, startContainerd, type Containerd } from "./containerd.ts";

const skip = kernelTestSkipReason() ?? containerdSkipReason();
const TOTAL = 500;
const BATCH = 25;
const POD = "/kubepods/besteffort/pod7e57c0de-0000-4000-8000-00000000c500";

function rssKiB(pid: number): number {
  return Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1] ?? NaN);
}

/** Container series in a scrape: every sample line carrying the container labels. */
function containerSeries(text: string): number {
  return text.split("\n").filter((l) => !l.startsWith("#") && l.includes('container_host="')).length;
}

describe.skipIf(!!skip)("container churn (real containerd)", () => {
  let ctd: Containerd;
  let agent: Agent;
  beforeAll(async () => {
    ctd = await startContainerd();
    agent = await startAgent({
      config: `[Storage.LocalFile]\nPath = ""\n${containerConfig({ containerd: ctd.stateDir })}`,
      args: ["--disable-tracing", "dropwatch,oom"],
    });
  });
  afterAll(async () => {
    await agent?.stop();
    await ctd?.stop();
    removeCgroupParents(`${POD}/x`);
  });

  test(`${TOTAL} containers come and go: all seen, series and memory back to baseline`, async () => {
    const list = async () => (await (await fetch(`${agent.url}/v1/containers`)).json()).data as { id: string }[];
    const baseContainers = (await list()).length;
    const baseSeries = containerSeries(await agent.metrics());
    let seen = 0;
    let peakSeries = 0;
    let rssAfterFirst = 0;
    const began = performance.now();
    for (let done = 0; done < TOTAL; done += BATCH) {
      const ids = Array.from({ length: BATCH }, (_, i) => containerId(`churn-${done + i}`));
      await Promise.all(ids.map((id) => ctd.run({ id, cgroup: `${POD}/${id}`, args: ["/bin/sleep", "3600"] })));
      const want = new Set(ids);
      await waitFor("the batch to be known", async () => (await list()).filter((c) => want.has(c.id)).length === BATCH || undefined, 15_000, 100);
      seen += BATCH;
      peakSeries = Math.max(peakSeries, containerSeries(await agent.metrics()));
      await Promise.all(ids.map((id) => ctd.remove(id)));
      if (done === 0) rssAfterFirst = rssKiB(agent.proc.pid);
    }
    await waitFor("every churned container to be gone", async () => (await list()).length === baseContainers || undefined, 15_000, 100);
    const endSeries = containerSeries(await agent.metrics());
    const rssEnd = rssKiB(agent.proc.pid);
    console.log(`churn: ${TOTAL} containers in ${((performance.now() - began) / 1000).toFixed(1)} s; container series base ${baseSeries}, peak ${peakSeries}, end ${endSeries}; agent RSS after first batch ${(rssAfterFirst / 1024).toFixed(1)} MiB, at end ${(rssEnd / 1024).toFixed(1)} MiB`);
    expect(seen).toBe(TOTAL);
    expect(peakSeries).toBeGreaterThan(baseSeries); // the churned containers did get series
    expect(endSeries).toBe(baseSeries);
    // Every container's state is dropped with it: 500 containers leave no per-container memory behind.
    expect(rssEnd - rssAfterFirst).toBeLessThan(48 * 1024);
  }, 600_000);
});
