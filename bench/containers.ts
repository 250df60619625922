// What containers cost the agent: with N real containers (a private containerd, busybox rootfs,
// each in its own network namespace) the scrape time, the agent's CPU per scrape, the container
// series and bytes, RSS; and how long after `ctr run` returns a batch of containers is listed.
// Prints figures; never passes or fails on time.
//
//   CONTAINERS   containers to run (default 50)
//   SCRAPES      measured scrapes per step (default 30)
import { readFileSync } from "node:fs";
import { startAgent } from "../tests/e2e/agent.ts";
import { containerConfig, containerId, removeCgroupParents, startContainerd } from "../tests/e2e/containerd.ts";

const N = Number(process.env.CONTAINERS ?? 50);
const SCRAPES = Number(process.env.SCRAPES ?? 30);
const POD = "/kubepods/besteffort/podbe4c0000-0000-4000-8000-0000000000be";

const cpuTicks = (pid: number) => {
  const f = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
  return Number(f[11]) + Number(f[12]);
};
const rssMiB = (pid: number) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))![1]) / 1024;
const tck = Number(Bun.spawnSync(["getconf", "CLK_TCK"]).stdout.toString()) || 100;

async function measure(url: string, pid: number, label: string): Promise<void> {
  for (let i = 0; i < 3; i++) await (await fetch(`${url}/metrics`)).text();
  const times: number[] = [];
  let text = "";
  const cpu0 = cpuTicks(pid);
  for (let i = 0; i < SCRAPES; i++) {
    const t0 = performance.now();
    text = await (await fetch(`${url}/metrics`)).text();
    times.push(performance.now() - t0);
    await Bun.sleep(50);
  }
  const cpuMs = ((cpuTicks(pid) - cpu0) * 1000) / tck / SCRAPES;
  times.sort((a, b) => a - b);
  const series = text.split("\n").filter((l) => l && !l.startsWith("#"));
  const containerSeries = series.filter((l) => l.includes('container_host="')).length;
  console.log(
    `${label.padEnd(16)} scrape median ${times[Math.floor(times.length / 2)]!.toFixed(1)} ms, p90 ${times[Math.floor(times.length * 0.9)]!.toFixed(1)} ms; ` +
      `agent CPU ${cpuMs.toFixed(1)} ms/scrape; series ${series.length} (container ${containerSeries}); ${(text.length / 1024).toFixed(0)} KiB; RSS ${rssMiB(pid).toFixed(1)} MiB`,
  );
}

const ctd = await startContainerd();
const agent = await startAgent({
  config: `[Storage.LocalFile]\nPath = ""\n${containerConfig({ containerd: ctd.stateDir, syncInterval: 10 })}`,
});
try {
  const pid = agent.proc.pid;
  await measure(agent.url, pid, "0 containers");
  const ids = Array.from({ length: N }, (_, i) => containerId(`bench-${i}`));
  const began = performance.now();
  for (let i = 0; i < N; i += 10) await Promise.all(ids.slice(i, i + 10).map((id) => ctd.run({ id, cgroup: `${POD}/${id}`, args: ["/bin/sleep", "3600"] })));
  const ran = performance.now();
  const want = new Set(ids);
  for (;;) {
    const listed = ((await (await fetch(`${agent.url}/v1/containers`)).json()).data as { id: string }[]).filter((c) => want.has(c.id)).length;
    if (listed === N) break;
    await Bun.sleep(20);
  }
  console.log(`${N} containers: ctr run took ${((ran - began) / 1000).toFixed(1)} s; all listed ${(performance.now() - ran).toFixed(0)} ms after the last ctr run returned (periodic sync every 10 s; cgroup_mkdir triggers one sooner)`);
  await Bun.sleep(1200); // cpu_util's container series need a second reading
  await measure(agent.url, pid, `${N} containers`);
  for (const id of ids) await ctd.remove(id);
  await Bun.sleep(500);
  await measure(agent.url, pid, "removed again");
} finally {
  await agent.stop();
  await ctd.stop();
  removeCgroupParents(`${POD}/x`);
}
