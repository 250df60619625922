// Keeps the container registry current: every SyncInterval (and soon after a cgroup appears)
// it reads the kubelet's pod list and the runtimes' state, then works out each container's
// kernel identity. The kubelet being down, slow or answering garbage is a warning and a retry
// on the next sync, never a failure of the agent; the previous pod list is kept meanwhile.
import { existsSync } from "node:fs";
import type { Logger } from "../log.ts";
import { CoalescingRunner } from "../util/coalescing-runner.ts";
import type { Sample } from "../metrics/sample.ts";
import type { ProcfsRoot } from "../procfs/root.ts";
import { cgroupIdentity, firstPidOf, netnsCookieOf, netnsInode } from "./identity.ts";
import { driverFromConfigText, KUBELET_CONFIG_FILES, KubeletClient, type KubeletOptions } from "./kubelet.ts";
import type { CgroupLayout } from "./layout.ts";
import { parsePodList, type CgroupDriver, type PodContainer } from "./pods.ts";
import type { ContainerRegistry } from "./registry.ts";
import { readBoundedTextOrUndefined } from "../util/bounded-read.ts";
import { scanRuntimes, type RuntimeContainer } from "./runtime.ts";
import type { Container } from "./types.ts";

export interface DiscoveryOptions {
  procfs: ProcfsRoot;
  layout: CgroupLayout;
  registry: ContainerRegistry;
  log: Logger;
  /** undefined = no kubelet (--disable-kubelet, or both ports 0). */
  kubelet?: KubeletOptions;
  containerdStateDir: string;
  dockerRootDir: string;
  /** "" = learn it. */
  cgroupDriver: "" | CgroupDriver;
  syncIntervalMs: number;
  /** The node's hostname (DaemonSet containers report it). */
  nodeHostname: string;
  /** Upper bound on containers read per sync (hostile or runaway hosts). */
  maxContainers?: number;
}

export class ContainerDiscovery {
  private readonly kubelet?: KubeletClient;
  private pods: PodContainer[] = [];
  /** Pod uids the kubelet listed on its last good answer (their other containers are not running). */
  private podUids = new Set<string>();
  private kubeletUp = false;
  private lastKubeletError = "";
  private driver: CgroupDriver | undefined;
  private timer?: ReturnType<typeof setInterval>;
  private soon?: ReturnType<typeof setTimeout>;
  private readonly syncs = new CoalescingRunner(async () => {
    try {
      await this.syncOnce();
    } catch (err) {
      this.o.log.warn("container sync failed; keeping the previous set", { err: String(err) });
    }
  });
  private stopped = false;
  private readonly hostNetns: number;
  private readonly stats = { syncs: 0, kubelet_errors: 0, malformed_pods: 0 };

  constructor(private readonly o: DiscoveryOptions) {
    if (o.kubelet) this.kubelet = new KubeletClient(o.kubelet);
    this.hostNetns = netnsInode(o.procfs, 1);
    if (o.cgroupDriver) this.driver = o.cgroupDriver;
  }

  /** First sync (bounded by the kubelet timeout), then the periodic ones. */
  async start(): Promise<void> {
    if (this.kubelet?.unverified) this.o.log.warn("the kubelet's serving certificate is not verified (set [Pod] KubeletCABundle)");
    await this.sync();
    this.timer = setInterval(() => void this.sync(), this.o.syncIntervalMs);
    this.timer.unref?.();
  }

  /** Ask for a sync after `delayMs` (cgroup created: its runtime state appears a moment later). */
  syncSoon(delayMs = 300): void {
    if (this.stopped || this.soon) return;
    this.soon = setTimeout(() => {
      this.soon = undefined;
      void this.sync();
    }, delayMs);
  }

  stop(): void {
    this.stopped = true;
    clearInterval(this.timer);
    clearTimeout(this.soon);
    void this.syncs.stop();
  }

  /** One sync at a time; a request during one runs once more after it. Never rejects. */
  sync(): Promise<void> {
    return this.syncs.run();
  }

  private async learnDriver(): Promise<CgroupDriver> {
    if (this.driver) return this.driver;
    let d = await this.kubelet?.configzDriver();
    for (const f of KUBELET_CONFIG_FILES) {
      if (d) break;
      const text = readBoundedTextOrUndefined(f, 1 << 20);
      if (text !== undefined) d = driverFromConfigText(text);
    }
    // No kubelet config to read: the cgroup tree tells (systemd's driver makes kubepods.slice).
    d ??= this.o.layout.hierarchies().some((h) => existsSync(`${this.o.layout.mount(h)}/kubepods.slice`)) ? "systemd" : "cgroupfs";
    this.driver = d;
    this.o.log.info("kubelet cgroup driver", { driver: d });
    return d;
  }

  private async fetchPods(): Promise<void> {
    if (!this.kubelet) return;
    try {
      const doc = await this.kubelet.pods();
      const driver = await this.learnDriver();
      const { containers, malformed } = parsePodList(doc, driver, this.o.nodeHostname);
      this.pods = containers;
      this.podUids = new Set(containers.map((c) => c.podUid));
      this.stats.malformed_pods += malformed;
      if (!this.kubeletUp) this.o.log.info("kubelet pod list received", { containers: containers.length });
      this.kubeletUp = true;
      this.lastKubeletError = "";
    } catch (err) {
      this.stats.kubelet_errors++;
      const msg = String(err instanceof Error ? err.message : err);
      // Said once per distinct problem; the retry is the next sync.
      if (msg !== this.lastKubeletError) this.o.log.warn("kubelet unavailable; retrying on the next sync", { err: msg });
      this.lastKubeletError = msg;
      this.kubeletUp = false;
    }
  }

  private async syncOnce(): Promise<void> {
    await this.fetchPods();
    const max = this.o.maxContainers ?? 10_000;
    const runtime = scanRuntimes({ containerdStateDir: this.o.containerdStateDir, dockerRootDir: this.o.dockerRootDir, maxContainers: max });
    const byId = new Map(runtime.map((r) => [r.id, r]));
    const previous = new Map(this.o.registry.all().map((c) => [c.id, c]));
    const now = Date.now();
    const out: Container[] = [];
    const seen = new Set<string>();
    for (const p of this.pods) {
      const rt = byId.get(p.id);
      const pid = rt?.pid ?? firstPidOf(this.o.layout, p.cgroupPath);
      const c = this.identify({ ...p, source: "kubelet", runtime: p.runtime }, pid, p.cgroupPath, previous.get(p.id), now);
      if (c) out.push(c), seen.add(p.id);
    }
    for (const r of runtime) {
      if (seen.has(r.id) || r.sandbox) continue;
      // The kubelet knows this pod and does not list this container as running: trust it.
      if (r.pod && this.kubeletUp && this.podUids.has(r.pod.uid)) continue;
      const c = this.identify(fromRuntime(r), r.pid, r.cgroupPath, previous.get(r.id), now);
      if (c) out.push(c);
    }
    if (this.stopped) return;
    this.o.registry.replace(out.slice(0, max));
    this.stats.syncs++;
  }

  /** Adds the kernel identity; undefined when the container has no cgroup to be found (gone meanwhile). */
  private identify(base: Omit<Container, "initPid" | "cgroupPath" | "cgroupIds" | "netnsInum" | "netnsCookie" | "syncedAtMs">, pid: number, cgroupPath: string, prev: Container | undefined, now: number): Container | undefined {
    const cg = cgroupIdentity(this.o.procfs, this.o.layout, pid, cgroupPath);
    if (!cg) return undefined;
    const netnsInum = netnsInode(this.o.procfs, pid);
    const hostNetwork = base.hostNetwork || (netnsInum !== 0 && netnsInum === this.hostNetns);
    // The cookie needs a setns round trip: computed once per namespace.
    const netnsCookie = prev && prev.netnsInum === netnsInum ? prev.netnsCookie : netnsInum && !hostNetwork ? netnsCookieOf(this.o.procfs, pid) : "";
    return {
      ...base,
      hostNetwork,
      initPid: pid,
      ...cg,
      netnsInum,
      netnsCookie,
      startedAtMs: base.startedAtMs || prev?.startedAtMs || now,
      syncedAtMs: now,
    };
  }

  samples(): Sample[] {
    const left = this.o.registry.leftOutCounts();
    const bySource = new Map<string, number>();
    for (const c of this.o.registry.all()) bySource.set(c.source, (bySource.get(c.source) ?? 0) + 1);
    const out: Sample[] = [];
    for (const source of ["kubelet", "containerd", "docker"]) {
      out.push({ name: "containers", help: "Containers known, by where they were learned.", type: "gauge", value: bySource.get(source) ?? 0, labels: { source } });
    }
    out.push(
      { name: "containers_left_out_total", help: "Distinct containers given no metric series by the guard ([Kpulse.Containers] MinAge, MaxTracked), by reason.", type: "counter", value: left.too_young, labels: { reason: "too_young" } },
      { name: "containers_left_out_total", help: "Distinct containers given no metric series by the guard ([Kpulse.Containers] MinAge, MaxTracked), by reason.", type: "counter", value: left.over_cap, labels: { reason: "over_cap" } },
      { name: "container_syncs_total", help: "Container discovery syncs completed.", type: "counter", value: this.stats.syncs },
    );
    if (this.kubelet) {
      out.push(
        { name: "kubelet_up", help: "1 when the last kubelet pod-list request succeeded.", type: "gauge", value: this.kubeletUp ? 1 : 0 },
        { name: "kubelet_errors_total", help: "Failed kubelet pod-list requests (refused, timed out, bad answer).", type: "counter", value: this.stats.kubelet_errors },
        { name: "kubelet_malformed_pods_total", help: "Pods or containers of the kubelet's answers skipped for malformed fields.", type: "counter", value: this.stats.malformed_pods },
      );
    }
    return out;
  }
}

function fromRuntime(r: RuntimeContainer): Omit<Container, "initPid" | "cgroupPath" | "cgroupIds" | "netnsInum" | "netnsCookie" | "syncedAtMs"> {
  return {
    id: r.id,
    name: r.pod?.container || r.name,
    hostname: r.hostname || r.pod?.name || r.name,
    type: "normal",
    qos: "unknown",
    hostNamespace: r.pod?.namespace || r.namespace,
    runtime: r.runtime,
    source: r.runtime,
    podName: r.pod?.name ?? "",
    podUid: r.pod?.uid ?? "",
    hostNetwork: r.hostNetwork,
    startedAtMs: r.startedAtMs,
  };
}
