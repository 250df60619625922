// Container discovery pieces that need no kernel: the kubelet's pod list, kubelet cgroup
// paths, cgroup layouts of fixture trees, /proc/<pid>/cgroup, runtime state files, the
// registry's lookups and cardinality guard, and the kubelet client's limits against a hostile
// (local, in-process) HTTP server.
import { afterAll, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { cgroupIdentity, parseProcCgroup } from "../../src/containers/identity.ts";
import { driverFromConfigText, KubeletClient, KubeletError } from "../../src/containers/kubelet.ts";
import { detectCgroupLayout } from "../../src/containers/layout.ts";
import { kubeletCgroupPath, parsePodList, splitContainerId } from "../../src/containers/pods.ts";
import { ContainerRegistry } from "../../src/containers/registry.ts";
import { ociCgroupPath, scanRuntimes } from "../../src/containers/runtime.ts";
import { identityFromEventData, type Container } from "../../src/containers/types.ts";
import { procfsRoot } from "../../src/procfs/root.ts";

const tmp = mkdtempSync(join(tmpdir(), "kpulse-containers-unit-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function tree(name: string, files: Record<string, string>): string {
  const root = join(tmp, name);
  for (const [p, text] of Object.entries(files)) {
    mkdirSync(join(root, p, ".."), { recursive: true });
    if (p.endsWith("/")) mkdirSync(join(root, p), { recursive: true });
    else writeFileSync(join(root, p), text);
  }
  return root;
}

const pod = (over: Record<string, unknown> = {}, status: Record<string, unknown> = {}) => ({
  metadata: { name: "web-1", namespace: "shop", uid: "11111111-2222-3333-4444-555555555555", ownerReferences: [{ kind: "ReplicaSet" }], ...over },
  spec: { hostname: "", containers: [{ name: "app" }] },
  status: { phase: "Running", qosClass: "Burstable", containerStatuses: [{ name: "app", containerID: `containerd://${"a".repeat(64)}`, state: { running: { startedAt: "2026-01-02T03:04:05Z" } } }], ...status },
});

describe("kubelet pod list", () => {
  test("HUATUO's fields: type, qos, hostname, name, namespace and the kubelet's cgroup path", () => {
    const { containers, malformed } = parsePodList({ items: [pod()] }, "cgroupfs", "node-1");
    expect(malformed).toBe(0);
    expect(containers).toEqual([{
      id: "a".repeat(64), runtime: "containerd", name: "app", hostname: "web-1", type: "normal", qos: "burstable", hostNamespace: "shop",
      podName: "web-1", podUid: "11111111-2222-3333-4444-555555555555", hostNetwork: false, startedAtMs: Date.parse("2026-01-02T03:04:05Z"),
      cgroupPath: `/kubepods/burstable/pod11111111-2222-3333-4444-555555555555/${"a".repeat(64)}`,
    }]);
  });

  test("types: daemonSet (node hostname), node (mirror pod), static (manifest file), sidecar (istio-proxy)", () => {
    const ds = parsePodList({ items: [pod({ ownerReferences: [{ kind: "DaemonSet" }] })] }, "cgroupfs", "node-1").containers[0]!;
    expect([ds.type, ds.hostname]).toEqual(["daemonSet", "node-1"]);
    expect(parsePodList({ items: [pod({ ownerReferences: [{ kind: "Node" }] })] }, "cgroupfs", "n").containers[0]!.type).toBe("node");
    expect(parsePodList({ items: [pod({ ownerReferences: [], annotations: { "kubernetes.io/config.source": "file" } })] }, "cgroupfs", "n").containers[0]!.type).toBe("static");
    const side = pod({}, { containerStatuses: [{ name: "istio-proxy", containerID: `docker://${"b".repeat(64)}`, state: { running: {} } }] });
    const s = parsePodList({ items: [side] }, "systemd", "n").containers[0]!;
    expect([s.type, s.runtime]).toEqual(["sidecar", "docker"]);
  });

  test("only pods Running with every container running are kept", () => {
    const pending = pod({}, { phase: "Pending" });
    const oneWaiting = pod({}, { containerStatuses: [pod().status.containerStatuses[0], { name: "b", containerID: `containerd://${"c".repeat(64)}`, state: { waiting: {} } }] });
    expect(parsePodList({ items: [pending, oneWaiting] }, "cgroupfs", "n").containers).toEqual([]);
  });

  test("hostile documents: malformed pods and path-like ids are skipped and counted; a non-PodList is an error", () => {
    const evil = pod({}, { containerStatuses: [{ name: "x", containerID: "containerd://../../etc", state: { running: {} } }] });
    const r = parsePodList({ items: [null, 7, { metadata: {} }, pod({ uid: "../x" }), evil, pod()] }, "cgroupfs", "n");
    expect(r.containers.length).toBe(1);
    expect(r.malformed).toBe(5);
    expect(() => parsePodList({ kind: "Status" }, "cgroupfs", "n")).toThrow("not a kubelet pod list");
    expect(() => parsePodList("[]", "cgroupfs", "n")).toThrow();
    expect(splitContainerId("containerd://a/b")).toBeUndefined();
    // A list longer than any node runs is cut at the limit and the rest counted.
    const many = parsePodList({ items: Array.from({ length: 30 }, () => pod()) }, "cgroupfs", "n", 25);
    expect([many.containers.length, many.malformed]).toEqual([25, 5]);
  });

  test("cgroup paths of both drivers and every QoS class", () => {
    const id = "f".repeat(64);
    expect(kubeletCgroupPath("cgroupfs", "guaranteed", "u-1", id, "containerd")).toBe(`/kubepods/podu-1/${id}`);
    expect(kubeletCgroupPath("cgroupfs", "besteffort", "u-1", id, "containerd")).toBe(`/kubepods/besteffort/podu-1/${id}`);
    expect(kubeletCgroupPath("systemd", "burstable", "u-1", id, "containerd")).toBe(`/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-podu_1.slice/cri-containerd-${id}.scope`);
    expect(kubeletCgroupPath("systemd", "guaranteed", "u-1", id, "docker")).toBe(`/kubepods.slice/kubepods-podu_1.slice/docker-${id}.scope`);
  });

  test("cgroupDriver from the kubelet's config file (YAML or JSON)", () => {
    expect(driverFromConfigText("apiVersion: kubelet.config.k8s.io/v1beta1\ncgroupDriver: systemd\n")).toBe("systemd");
    expect(driverFromConfigText('{"cgroupDriver": "cgroupfs"}')).toBe("cgroupfs");
    expect(driverFromConfigText("cgroupDriver: nonsense")).toBeUndefined();
  });
});

describe("cgroup layout and identity", () => {
  test("v1, hybrid and v2 trees", () => {
    const v1 = tree("v1", { "sys/fs/cgroup/memory/": "", "sys/fs/cgroup/cpu,cpuacct/": "", "sys/fs/cgroup/pids/": "" });
    const l1 = detectCgroupLayout(procfsRoot(v1));
    expect(l1.mode).toBe("v1");
    expect(l1.mount("cpuacct")).toBe(join(v1, "sys/fs/cgroup/cpu,cpuacct"));
    expect(l1.mount("unified")).toBeUndefined();
    const hy = tree("hy", { "sys/fs/cgroup/memory/": "", "sys/fs/cgroup/unified/cgroup.controllers": "" });
    expect(detectCgroupLayout(procfsRoot(hy)).mode).toBe("hybrid");
    const v2 = tree("v2", { "sys/fs/cgroup/cgroup.controllers": "cpu memory" });
    const l2 = detectCgroupLayout(procfsRoot(v2));
    expect([l2.mode, l2.mount("memory"), l2.hierarchies()]).toEqual(["v2", join(v2, "sys/fs/cgroup"), ["unified"]]);
  });

  test("/proc/<pid>/cgroup: v1 controllers, named hierarchies and the unified line", () => {
    const m = parseProcCgroup("12:memory:/kubepods/x\n4:cpu,cpuacct:/kubepods/x\n1:name=systemd:/s\n0::/unified/x\ngarbage\n");
    expect(Object.fromEntries(m)).toEqual({ memory: "/kubepods/x", cpu: "/kubepods/x", cpuacct: "/kubepods/x", systemd: "/s", unified: "/unified/x" });
  });

  test("ids are the cgroup directories' inodes; a process in the root cgroup or gone identifies nothing", () => {
    const path = "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-podu_1.slice/cri-containerd-abc.scope";
    const root = tree("v2id", { "sys/fs/cgroup/cgroup.controllers": "", [`sys/fs/cgroup${path}/`]: "", "proc/42/cgroup": `0::${path}\n`, "proc/43/cgroup": "0::/\n" });
    const layout = detectCgroupLayout(procfsRoot(root));
    const id = cgroupIdentity(procfsRoot(root), layout, 42);
    expect(id).toEqual({ cgroupPath: path, cgroupIds: { unified: statSync(join(root, "sys/fs/cgroup", path)).ino } });
    expect(cgroupIdentity(procfsRoot(root), layout, 43)).toBeUndefined();
    expect(cgroupIdentity(procfsRoot(root), layout, 44)).toBeUndefined();
    // Pid unknown: the kubelet's path is looked up directly.
    expect(cgroupIdentity(procfsRoot(root), layout, 0, path)?.cgroupIds.unified).toBe(id!.cgroupIds.unified);
  });
});

describe("runtime state files", () => {
  test("containerd tasks and docker containers; sandboxes flagged; exited and hostile entries skipped", () => {
    const id = "d".repeat(64);
    const root = tree("rt", {
      [`ctd/io.containerd.runtime.v2.task/k8s.io/${id}/init.pid`]: "4242",
      [`ctd/io.containerd.runtime.v2.task/k8s.io/${id}/config.json`]: JSON.stringify({
        hostname: "web-0", linux: { namespaces: [{ type: "network", path: "/proc/1/ns/net" }] },
        annotations: { "io.kubernetes.cri.container-type": "container", "io.kubernetes.cri.container-name": "app", "io.kubernetes.cri.sandbox-name": "web", "io.kubernetes.cri.sandbox-namespace": "shop", "io.kubernetes.cri.sandbox-uid": "u1" },
      }),
      "ctd/io.containerd.runtime.v2.task/k8s.io/pause1/init.pid": "4243",
      "ctd/io.containerd.runtime.v2.task/k8s.io/pause1/config.json": JSON.stringify({ annotations: { "io.kubernetes.cri.container-type": "sandbox" } }),
      "ctd/io.containerd.runtime.v2.task/default/created-only/config.json": "{}",
      "ctd/io.containerd.runtime.v2.task/default/bigspec/init.pid": "4244",
      "ctd/io.containerd.runtime.v2.task/default/bigspec/config.json": "x".repeat(5 << 20),
      [`docker/containers/${"e".repeat(64)}/config.v2.json`]: JSON.stringify({ Name: "/redis", State: { Running: true, Pid: 777, StartedAt: "2026-01-01T00:00:00Z" }, Config: { Hostname: "r1" } }),
      [`docker/containers/${"e".repeat(64)}/hostconfig.json`]: JSON.stringify({ NetworkMode: "host" }),
      [`docker/containers/${"f".repeat(64)}/config.v2.json`]: JSON.stringify({ State: { Running: false, Pid: 0 } }),
    });
    const found = scanRuntimes({ containerdStateDir: join(root, "ctd"), dockerRootDir: join(root, "docker"), maxContainers: 100 });
    const byId = Object.fromEntries(found.map((c) => [c.id, c]));
    expect(Object.keys(byId).sort()).toEqual(["bigspec", id, "e".repeat(64), "pause1"].sort());
    expect(byId[id]).toMatchObject({ runtime: "containerd", namespace: "k8s.io", name: "app", hostname: "web-0", pid: 4242, sandbox: false, hostNetwork: false, pod: { name: "web", namespace: "shop", uid: "u1", container: "app" } });
    expect(byId.pause1!.sandbox).toBe(true);
    expect(byId.bigspec!.hostname).toBe(""); // a spec over the size limit is not parsed
    expect(byId["e".repeat(64)]).toMatchObject({ runtime: "docker", name: "redis", hostname: "r1", pid: 777, hostNetwork: true });
    expect(scanRuntimes({ containerdStateDir: join(root, "ctd"), dockerRootDir: "", maxContainers: 1 }).length).toBe(1);
  });

  test("OCI cgroupsPath: a path as it is, systemd's slice:prefix:name expanded; anything else unknown", () => {
    expect(ociCgroupPath("/kubepods/burstable/podu/abc")).toBe("/kubepods/burstable/podu/abc");
    expect(ociCgroupPath("kubepods-burstable-podu_1.slice:cri-containerd:abc")).toBe("/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-podu_1.slice/cri-containerd-abc.scope");
    expect(ociCgroupPath("system.slice:docker:abc")).toBe("/system.slice/docker-abc.scope");
    expect(ociCgroupPath("../../etc:x:y")).toBe("");
  });

  test("a process seen from inside a private cgroup namespace (paths with /..): the known path is used", () => {
    const path = "/kubepods/besteffort/podu/abc";
    const root = tree("cgns", { "sys/fs/cgroup/memory/kubepods/besteffort/podu/abc/": "", "proc/50/cgroup": "4:memory:/../../kubepods/besteffort/podu/abc\n" });
    const layout = detectCgroupLayout(procfsRoot(root));
    expect(cgroupIdentity(procfsRoot(root), layout, 50, path)?.cgroupIds.memory).toBe(statSync(join(root, "sys/fs/cgroup/memory", path)).ino);
    expect(cgroupIdentity(procfsRoot(root), layout, 50, "")).toBeUndefined();
  });
});

function container(over: Partial<Container>): Container {
  return {
    id: "x", name: "x", hostname: "x", type: "normal", qos: "burstable", hostNamespace: "ns", runtime: "containerd", source: "kubelet", podName: "", podUid: "",
    initPid: 0, cgroupPath: "/x", cgroupIds: {}, netnsInum: 0, netnsCookie: "", hostNetwork: false, startedAtMs: 0, syncedAtMs: 0, ...over,
  };
}

describe("registry", () => {
  const layout = detectCgroupLayout(procfsRoot(join(tmp, "nothing")));
  test("resolves by cgroup id, cgroup path, then netns (a pod's app container before its sidecar)", () => {
    const r = new ContainerRegistry(layout, procfsRoot(""), { minAgeMs: 0, maxTracked: 10 });
    const app = container({ id: "app", cgroupPath: "/p/app", cgroupIds: { memory: 11, cpu: 12 }, netnsInum: 900, netnsCookie: "4096" });
    const side = container({ id: "side", type: "sidecar", cgroupPath: "/p/side", cgroupIds: { memory: 21 }, netnsInum: 900 });
    const hostnet = container({ id: "hn", cgroupIds: { memory: 31 }, netnsInum: 1, hostNetwork: true });
    r.replace([side, app, hostnet]);
    expect(r.resolve({ cgroupId: 12 })?.id).toBe("app");
    expect(r.resolve({ cgroupId: 21 })?.id).toBe("side");
    expect(r.resolve({ cgroupPath: "/p/side" })?.id).toBe("side");
    expect(r.resolve({ netnsInum: 900 })?.id).toBe("app");
    expect(r.resolve({ netnsCookie: "4096" })?.id).toBe("app");
    expect(r.resolve({ netnsInum: 1 })).toBeUndefined(); // the host's namespace names no container
    // An inode number reused by a later namespace (another cookie) is not the old container's.
    expect(r.resolve({ netnsInum: 900, netnsCookie: "77" })).toBeUndefined();
    expect(r.removeCgroup(11)?.id).toBe("app");
    expect(r.resolve({ cgroupId: 12 })).toBeUndefined();
    expect(r.resolve({ netnsInum: 900 })?.id).toBe("side");
  });

  test("the guard: too young and over the cap are left out and each container is counted once", () => {
    let now = 100_000;
    const r = new ContainerRegistry(layout, procfsRoot(""), { minAgeMs: 10_000, maxTracked: 2 }, () => now);
    r.replace([container({ id: "a", startedAtMs: 1 }), container({ id: "b", startedAtMs: 2 }), container({ id: "c", startedAtMs: 3 }), container({ id: "young", startedAtMs: 95_000 }), container({ id: "s", type: "sidecar", startedAtMs: 1 })]);
    expect(r.forMetrics().map((c) => c.id)).toEqual(["a", "b"]);
    expect(r.forMetrics(["normal", "sidecar"]).map((c) => c.id)).toEqual(["a", "s"]);
    expect(r.leftOutCounts()).toEqual({ too_young: 1, over_cap: 2 });
    now = 200_000;
    expect(r.forMetrics().map((c) => c.id)).toEqual(["a", "b"]);
    expect(r.leftOutCounts()).toEqual({ too_young: 1, over_cap: 3 });
  });

  test("network events name their namespace by HUATUO's field names", () => {
    expect(identityFromEventData({ net_namespace_inum: 4026531840 })).toEqual({ netnsInum: 4026531840 });
    expect(identityFromEventData({ netns: 5 })).toEqual({ netnsInum: 5 });
    expect(identityFromEventData({ net_namespace_inum: 5, net_namespace_cookie: 4097 })).toEqual({ netnsInum: 5, netnsCookie: "4097" });
    expect(identityFromEventData({ net_namespace_inum: "5" })).toBeUndefined();
  });
});

describe("kubelet client against a hostile server", () => {
  const opts = { host: "127.0.0.1", authorizedPort: 0, clientCertPath: "", caBundle: "", insecure: false };
  test("an answer over the size limit is refused, not truncated", async () => {
    const s = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: () => new Response("x".repeat(1 << 20)) });
    try {
      const c = new KubeletClient({ ...opts, readOnlyPort: s.port!, timeoutMs: 2000, maxBodyBytes: 64 << 10 });
      expect(c.pods()).rejects.toThrow("answer larger than 65536 bytes");
    } finally {
      s.stop(true);
    }
  });

  test("a server that trickles its body is cut at the time limit", async () => {
    const s = Bun.serve({
      port: 0, hostname: "127.0.0.1",
      fetch: () => new Response(new ReadableStream({ async pull(ctl) { await Bun.sleep(100); ctl.enqueue(new TextEncoder().encode(" ")); } })),
    });
    try {
      const c = new KubeletClient({ ...opts, readOnlyPort: s.port!, timeoutMs: 500, maxBodyBytes: 1 << 20 });
      const began = performance.now();
      const err = await c.pods().catch((e) => e);
      expect(err).toBeInstanceOf(KubeletError);
      expect(performance.now() - began).toBeLessThan(3000);
    } finally {
      s.stop(true);
    }
  });

  test("JSON nested a million deep is an error, not a crash", async () => {
    const s = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: () => new Response("[".repeat(1_000_000)) });
    try {
      const c = new KubeletClient({ ...opts, readOnlyPort: s.port!, timeoutMs: 5000, maxBodyBytes: 4 << 20 });
      const err: any = await c.pods().catch((e) => e);
      expect(err).toBeInstanceOf(KubeletError);
      expect(err.message).toContain("not JSON");
    } finally {
      s.stop(true);
    }
  });

  test("nothing listening is a refused error (the kubelet is not up yet)", async () => {
    const s = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: () => new Response("") });
    const port = s.port!;
    s.stop(true);
    const err: any = await new KubeletClient({ ...opts, readOnlyPort: port, timeoutMs: 1000, maxBodyBytes: 1024 }).pods().catch((e) => e);
    expect(err).toBeInstanceOf(KubeletError);
    expect(err.refused).toBe(true);
  });
});

describe("--enable-cgroup on a cgroup v2 tree (fixture files stand in for cgroupfs)", () => {
  test("cpu.max and memory.max are written, the pid moved in, and moved back on release", async () => {
    const { enterSelfCgroup } = await import("../../src/self-cgroup.ts");
    const { createLogger } = await import("../../src/log.ts");
    const root = tree("selfv2", { "sys/fs/cgroup/cgroup.controllers": "cpu memory", "sys/fs/cgroup/user.slice/cgroup.procs": "", "proc/77/cgroup": "0::/user.slice\n" });
    const lines: string[] = [];
    const g = enterSelfCgroup(procfsRoot(root), { initCpuCores: 0.5, memMiB: 64 }, createLogger("info", (l) => lines.push(l)), 77);
    const dir = join(root, "sys/fs/cgroup/kpulse");
    const read = (f: string) => Bun.file(join(dir, f)).text();
    expect(g.dirs).toEqual([dir]);
    expect(await read("cpu.max")).toBe("50000 100000");
    expect(await read("memory.max")).toBe(String(64 << 20));
    expect(await read("cgroup.procs")).toBe("77");
    g.setCpu(2);
    expect(await read("cpu.max")).toBe("200000 100000");
    g.release();
    expect(await Bun.file(join(root, "sys/fs/cgroup/user.slice/cgroup.procs")).text()).toBe("77");
  });
});

describe("ExcludedContainerQos (net_rx_latency)", () => {
  test("events of excluded QoS classes are counted, not emitted; the host's and other classes pass", async () => {
    const { excludeContainerQos } = await import("../../src/probes/kit/container-qos.ts");
    const r = new ContainerRegistry(detectCgroupLayout(procfsRoot(join(tmp, "none"))), procfsRoot(""), { minAgeMs: 0, maxTracked: 10 });
    r.replace([container({ id: "be", qos: "besteffort", netnsInum: 501 }), container({ id: "bu", qos: "burstable", netnsInum: 502 })]);
    const out: unknown[] = [];
    const q = excludeContainerQos(["BestEffort"], r, (ev) => out.push(ev.data));
    q.emit({ data: { netns_inum: 501 } });
    q.emit({ data: { netns_inum: 502 } });
    q.emit({ data: { netns_inum: 4026531840 } }); // the host's namespace: no container
    q.emit({ data: {}, identity: { netnsInum: 501 } });
    expect(out).toEqual([{ netns_inum: 502 }, { netns_inum: 4026531840 }]);
    expect(q.sample()).toMatchObject({ name: "events_total", value: 2, labels: { outcome: "container_qos_excluded" } });
    const none = excludeContainerQos([], r, (ev) => out.push(ev.data));
    none.emit({ data: { netns_inum: 501 } });
    expect(out.length).toBe(3);
  });
});
