// Container attribution on the real kernel with a real container runtime: containers run by a
// private containerd (runc, busybox rootfs) in kubelet-style cgroup paths, and a STUB kubelet
// (no kubelet can run here) whose pod list points at them. Checks discovery from the runtime
// alone, the kubelet coming up late, garbage and hanging kubelet answers, attribution of real
// dropwatch and oom events, the TLS port with a client certificate, and removal.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { statSync } from "node:fs";
import { join } from "node:path";
import { kernelTestSkipReason, metricValue, startAgent, waitFor, type Agent } from "./agent.ts";
import { CGROUP_V1, containerConfig, containerdSkipReason, containerId, startContainerd, type Containerd } from "./containerd.ts";
import { freePort, makeCerts, startKubeletStub, type KubeletStub, type StubCerts, type StubPod } from "./kubelet-stub.ts";
import { watch } from "./sse.ts";
import { closedUdpPort, UDP_FLOOD } from "./udp.ts";

const skip = kernelTestSkipReason() ?? containerdSkipReason();

async function containers(agent: Agent): Promise<any[]> {
  return (await (await fetch(`${agent.url}/v1/containers`)).json()).data;
}

async function known(agent: Agent, id: string, pred: (c: any) => boolean = () => true, timeoutMs = 10_000): Promise<any> {
  return waitFor(`container ${id.slice(0, 12)} in /v1/containers`, async () => (await containers(agent)).find((c) => c.id === id && pred(c)), timeoutMs, 100);
}

/** Sends UDP datagrams from inside a process's network namespace (nsenter + the test tool). */
async function udpFromNetns(pid: number, port: number): Promise<void> {
  const p = Bun.spawn(["nsenter", `--net=/proc/${pid}/ns/net`, UDP_FLOOD, String(port), "3"], { stdout: "pipe", stderr: "pipe" });
  const [err, code] = await Promise.all([new Response(p.stderr).text(), p.exited]);
  if (code !== 0) throw new Error(`udp-flood in netns of ${pid}: ${err}`);
}

describe.skipIf(!!skip)("containers (real containerd, stub kubelet)", () => {
  let ctd: Containerd;
  let agent: Agent;
  let stub: KubeletStub | undefined;
  let kubeletPort: number;
  const web = { id: containerId("web"), uid: "6f1c2a9e-0000-4000-8000-00000000aa01" };
  const hog = { id: containerId("hog"), uid: "6f1c2a9e-0000-4000-8000-00000000aa02" };
  const webPod: StubPod = { uid: web.uid, name: "web-7d9f", namespace: "shop", hostname: "web-0", qosClass: "Burstable", ownerKind: "ReplicaSet", containers: [{ name: "app", id: web.id }] };
  const hogPod: StubPod = { uid: hog.uid, name: "hog-1", namespace: "batch", qosClass: "Guaranteed", ownerKind: "Job", containers: [{ name: "hog", id: hog.id }] };
  let webPid = 0;

  beforeAll(async () => {
    ctd = await startContainerd();
    webPid = await ctd.run({ id: web.id, cgroup: `/kubepods/burstable/pod${web.uid}/${web.id}`, args: ["/bin/sleep", "3600"] });
    kubeletPort = freePort(); // nothing listens there yet: the kubelet is "down" at start
    agent = await startAgent({
      config: `[Storage.LocalFile]\nPath = "local"\n${containerConfig({ containerd: ctd.stateDir, kubeletReadOnlyPort: kubeletPort })}`,
    });
  });
  afterAll(async () => {
    stub?.stop();
    await agent?.stop();
    await ctd?.stop();
  });

  test("without the kubelet, a containerd container is found with its real cgroup ids, netns and pid", async () => {
    const c = await known(agent, web.id);
    expect(c.source).toBe("containerd");
    expect(c.init_pid).toBe(webPid);
    expect(c.cgroup_path).toBe(`/kubepods/burstable/pod${web.uid}/${web.id}`);
    expect(c.cgroup_ids.memory).toBe(statSync(join(CGROUP_V1, "memory", c.cgroup_path)).ino);
    expect(c.cgroup_ids.cpu).toBe(statSync(join(CGROUP_V1, "cpu", c.cgroup_path)).ino);
    expect(c.net_namespace_inum).toBe(statSync(`/proc/${webPid}/ns/net`).ino);
    expect(c.net_namespace_inum).not.toBe(statSync("/proc/self/ns/net").ino);
    expect(c.net_namespace_cookie).toBeGreaterThan(0);
    expect(c.host_network).toBe(false);
    expect(c.labels.HostNamespace).toBe("default"); // the containerd namespace, without Kubernetes
    // The kubelet being down is a warning, not a failure.
    expect(agent.output()).toContain("kubelet unavailable");
    const text = await agent.metrics();
    expect(metricValue(text, "kpulse_kubelet_up")).toBe(0);
    expect(metricValue(text, "kpulse_containers", { source: "containerd" })).toBeGreaterThanOrEqual(1);
    expect((await fetch(`${agent.url}/healthz`)).status).toBe(204);
  });

  test("kubelet down at start and up later: attribution from its pod list begins without a restart", async () => {
    stub = startKubeletStub(kubeletPort, [webPod]);
    const c = await known(agent, web.id, (x) => x.source === "kubelet");
    expect(c).toMatchObject({ name: "app", hostname: "web-0", type: "normal", qos: "burstable", pod_name: "web-7d9f", pod_uid: web.uid, labels: { HostNamespace: "shop" } });
    expect(c.init_pid).toBe(webPid);
    expect(metricValue(await agent.metrics(), "kpulse_kubelet_up")).toBe(1);
  });

  test("a UDP drop inside the container's network namespace is a dropwatch event with the container's identity", async () => {
    const stream = await watch(agent.url, { filters: { tracer_name: "^dropwatch$" } });
    try {
      const port = await closedUdpPort();
      await udpFromNetns(webPid, port);
      const ce = await stream.waitFor((e) => e.data?.tracer_data?.dport === port, 5000);
      expect(ce.data.tracer_data.net_namespace_inum).toBe(statSync(`/proc/${webPid}/ns/net`).ino);
      // The kernel's cookie in the event is the one kpulse read for the container (SO_NETNS_COOKIE).
      const listed = (await containers(agent)).find((c) => c.id === web.id);
      expect(ce.data.tracer_data.net_namespace_cookie).toBe(listed.net_namespace_cookie);
      expect(ce.data).toMatchObject({ container_id: web.id, container_hostname: "web-0", container_host_namespace: "shop", container_type: "normal", container_qos: "burstable" });
      // The same drop on the host belongs to no container.
      const hostPort = await closedUdpPort();
      const p = Bun.spawn([UDP_FLOOD, String(hostPort), "1"], { stdout: "ignore", stderr: "ignore" });
      await p.exited;
      const host = await stream.waitFor((e) => e.data?.tracer_data?.dport === hostPort, 5000);
      expect(host.data.container_id).toBeUndefined();
    } finally {
      stream.close();
    }
  });

  test("container series: netdev, sockstat and cpu_util for the container with HUATUO's five labels", async () => {
    const labels = { container_host: "web-0", container_hostnamespace: "shop", container_level: "burstable", container_name: "app", container_type: "normal" };
    const text = await agent.metrics();
    // Its own network namespace: only lo, so the series come from the container, not the host.
    expect(metricValue(text, "kpulse_netdev_container_receive_packets_total", { ...labels, device: "lo" })).toBeGreaterThanOrEqual(0);
    expect(text).not.toMatch(/kpulse_netdev_container_receive_bytes_total\{[^}]*container_host="web-0"[^}]*device="eth/);
    expect(metricValue(text, "kpulse_sockstat_container_sockets_used", labels)).toBeGreaterThanOrEqual(0);
    expect(metricValue(text, "kpulse_memory_vmstat_container_rss", labels) ?? metricValue(text, "kpulse_memory_vmstat_container_anon", labels)).toBeGreaterThanOrEqual(0);
    // CPU burned inside the container: its cpu_util_container_total rises, and so does the host's.
    const util = async () => {
      const t = await agent.metrics();
      return { c: metricValue(t, "kpulse_cpu_util_container_total", labels) ?? 0, host: metricValue(t, "kpulse_cpu_util_total") ?? 0 };
    };
    await util(); // the first reading is only a baseline
    await Bun.sleep(1100);
    const idle2 = await util();
    const burner = ctd.exec(web.id, ["/bin/sh", "-c", "timeout 6 yes > /dev/null"]);
    const busy = await waitFor("the container's CPU use to show", async () => {
      await Bun.sleep(1100);
      const u = await util();
      return u.c > 25 ? u : undefined;
    }, 12_000, 0);
    await burner;
    console.log(`cpu_util_container_total idle ${idle2.c.toFixed(1)} -> busy ${busy.c.toFixed(1)}; host cpu_util_total ${idle2.host.toFixed(1)} -> ${busy.host.toFixed(1)}`);
    expect(idle2.c).toBeLessThan(10);
    expect(busy.c).toBeGreaterThan(idle2.c + 20);
    // No CPU quota: the container's cores are all online CPUs, the host's denominator too, so the
    // host's total must cover what the container used.
    expect(busy.host).toBeGreaterThanOrEqual(busy.c * 0.8);
  });

  test("a container OOM-killed in its memory cgroup: the oom event carries its id, hostname, namespace, type and qos", async () => {
    stub!.pods = [webPod, hogPod];
    await ctd.run({ id: hog.id, cgroup: `/kubepods/pod${hog.uid}/${hog.id}`, args: ["/bin/sleep", "3600"], memoryLimitBytes: 32 << 20 });
    await known(agent, hog.id, (x) => x.source === "kubelet" && x.qos === "guaranteed");
    const stream = await watch(agent.url, { filters: { tracer_name: "^oom$" } });
    try {
      // dd's 64 MiB buffer cannot fit in 32 MiB: the kernel's OOM killer kills dd inside the container.
      await ctd.exec(hog.id, ["/bin/dd", "if=/dev/zero", "of=/dev/null", "bs=64M", "count=1"]);
      const ce = await stream.waitFor((e) => e.data?.tracer_data?.victim?.comm === "dd", 10_000);
      expect(ce.data).toMatchObject({ container_id: hog.id, container_hostname: "hog-1", container_host_namespace: "batch", container_type: "normal", container_qos: "guaranteed" });
      expect(ce.data.tracer_data.victim).toMatchObject({ container_id: hog.id, container_hostname: "hog-1" });
      expect(ce.data.tracer_data.victim.cgroup.path).toBe(`/kubepods/pod${hog.uid}/${hog.id}`);
      const text = await agent.metrics();
      expect(metricValue(text, "kpulse_oom_container_total", { container_host: "hog-1", container_hostnamespace: "batch", container_level: "guaranteed", container_name: "hog", container_type: "normal", latest_victim_comm: "dd" })).toBe(1);
    } finally {
      stream.close();
    }
  });

  test("a kubelet answering garbage, then hanging: warnings, the agent keeps serving and keeps the last pod list", async () => {
    const errors = async () => metricValue(await agent.metrics(), "kpulse_kubelet_errors_total") ?? 0;
    const before = await errors();
    stub!.mode = "garbage";
    await waitFor("a garbage answer to be counted", async () => ((await errors()) > before) || undefined, 10_000, 200);
    expect(agent.output()).toContain("not JSON");
    stub!.mode = "hang";
    const hung = await errors();
    // While a pod-list request hangs (up to its 5 s limit) every endpoint still answers at once.
    for (let i = 0; i < 5; i++) {
      const began = performance.now();
      expect((await fetch(`${agent.url}/metrics`)).status).toBe(200);
      expect(performance.now() - began).toBeLessThan(1000);
      await Bun.sleep(300);
    }
    await waitFor("the hanging request to time out", async () => ((await errors()) > hung) || undefined, 15_000, 250);
    expect(agent.output()).toMatch(/kubelet unavailable.*(timed out|timeout|abort)/i);
    // The last good pod list still attributes the container.
    expect((await containers(agent)).find((c) => c.id === web.id)).toMatchObject({ source: "kubelet", qos: "burstable" });
    stub!.mode = "pods";
    await waitFor("the kubelet to be up again", async () => metricValue(await agent.metrics(), "kpulse_kubelet_up") === 1 || undefined, 15_000, 250);
  });

  test("the authenticated kubelet port: only with the client certificate does the pod list arrive", async () => {
    let certs: StubCerts | undefined;
    let tlsStub: KubeletStub | undefined;
    let withCert: Agent | undefined;
    let without: Agent | undefined;
    try {
      certs = makeCerts();
      tlsStub = startKubeletStub(0, [webPod], certs);
      const conf = (cert: string) =>
        `[Storage.LocalFile]\nPath = ""\n${containerConfig({ containerd: ctd.stateDir, kubeletAuthorizedPort: tlsStub!.port, kubeletClientCertPath: cert, kubeletCABundle: certs!.ca })}`;
      withCert = await startAgent({ config: conf(`${certs.clientCert},${certs.clientKey}`), args: ["--disable-tracing", "dropwatch,oom"] });
      expect(await known(withCert, web.id, (x) => x.source === "kubelet")).toMatchObject({ hostname: "web-0", qos: "burstable" });
      without = await startAgent({ config: conf(""), args: ["--disable-tracing", "dropwatch,oom"] });
      await waitFor("the refused handshake to be reported", () => /kubelet unavailable/.test(without!.output()) || undefined, 10_000);
      expect(metricValue(await without.metrics(), "kpulse_kubelet_up")).toBe(0);
      expect((await containers(without)).find((c) => c.id === web.id)?.source).toBe("containerd");
    } finally {
      await withCert?.stop();
      await without?.stop();
      tlsStub?.stop();
      certs?.cleanup();
    }
  });

  test("a removed container leaves /v1/containers as its cgroup goes", async () => {
    stub!.pods = [webPod];
    await ctd.remove(hog.id);
    await waitFor("hog to be gone", async () => !(await containers(agent)).some((c) => c.id === hog.id) || undefined, 5000, 100);
    // Its series go with it (the oom counter of a removed container too).
    const text = await agent.metrics();
    expect(text).not.toContain('container_host="hog-1"');
    expect(text).toContain('container_host="web-0"');
    const events = metricValue(await agent.metrics(), "kpulse_cgroup_changes_seen_total") ?? 0;
    expect(events).toBeGreaterThan(0); // learned from the kernel's cgroup tracepoints
  });
});
