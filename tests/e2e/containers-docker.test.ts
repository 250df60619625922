// A plain docker host (no Kubernetes): a real dockerd runs a container; kpulse finds it from
// docker's own state files, attributes a real drop in its network namespace to it, gives it
// container series, and forgets it when it is removed.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, statSync } from "node:fs";
import { kernelTestSkipReason, metricValue, startAgent, waitFor, type Agent } from "./agent.ts";
import { containerConfig } from "./containerd.ts";
import { dockerSkipReason, IMAGE, startDocker, type Docker } from "./docker.ts";
import { watch } from "./sse.ts";
import { closedUdpPort, UDP_FLOOD } from "./udp.ts";

// docker's cgroupfs parent must be ours to create and remove.
const skip = kernelTestSkipReason() ?? dockerSkipReason() ?? (existsSync("/sys/fs/cgroup/memory/docker") ? "a docker cgroup already exists on this host" : undefined);

describe.skipIf(!!skip)("containers on a plain docker host (real dockerd)", () => {
  let docker: Docker;
  let agent: Agent;
  let id = "";
  beforeAll(async () => {
    docker = await startDocker();
    id = await docker.run(["--name", "shop-web", "--hostname", "web-host", IMAGE, "/bin/sleep", "3600"]);
    agent = await startAgent({
      config: `[Storage.LocalFile]\nPath = ""\n${containerConfig({ docker: docker.dataRoot })}`,
    });
  }, 60_000);
  afterAll(async () => {
    await agent?.stop();
    await docker?.stop();
  });

  test("found from docker's state: name, hostname, pid, cgroup and network namespace", async () => {
    const c = await waitFor("the docker container", async () => ((await (await fetch(`${agent.url}/v1/containers`)).json()).data as any[]).find((x) => x.id === id), 10_000, 100);
    const pid = docker.pid(id);
    expect(c).toMatchObject({ name: "shop-web", hostname: "web-host", runtime: "docker", source: "docker", type: "normal", init_pid: pid, cgroup_path: `/docker/${id}` });
    expect(c.net_namespace_inum).toBe(statSync(`/proc/${pid}/ns/net`).ino);
    expect(c.cgroup_ids.memory).toBe(statSync(`/sys/fs/cgroup/memory/docker/${id}`).ino);
  });

  test("a drop in its network namespace carries its identity; its series carry its labels", async () => {
    const stream = await watch(agent.url, { filters: { tracer_name: "^dropwatch$", container_hostname: "^web-host$" } });
    try {
      const port = await closedUdpPort();
      const p = Bun.spawn(["nsenter", `--net=/proc/${docker.pid(id)}/ns/net`, UDP_FLOOD, String(port), "2"], { stdout: "ignore", stderr: "pipe" });
      expect(await p.exited).toBe(0);
      const ce = await stream.waitFor((e) => e.data?.tracer_data?.dport === port, 5000);
      expect(ce.data).toMatchObject({ container_id: id, container_hostname: "web-host", container_type: "normal" });
    } finally {
      stream.close();
    }
    const text = await agent.metrics();
    expect(metricValue(text, "kpulse_netdev_container_receive_packets_total", { container_host: "web-host", container_name: "shop-web", device: "lo" })).toBeGreaterThan(0);
  });

  test("removed: gone from /v1/containers and /metrics", async () => {
    await docker.remove(id);
    await waitFor("the container to be forgotten", async () => !((await (await fetch(`${agent.url}/v1/containers`)).json()).data as any[]).some((x) => x.id === id) || undefined, 15_000, 100);
    expect(await agent.metrics()).not.toContain('container_host="web-host"');
  });
});
