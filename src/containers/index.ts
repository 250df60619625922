// Container tracking as the agent starts it: layout, registry, discovery and the cgroup
// watcher, and what the HTTP API shows of each container.
import type { Logger } from "../log.ts";
import type { Sample } from "../metrics/sample.ts";
import type { ProcfsRoot } from "../procfs/root.ts";
import { startCgroupWatch, type CgroupWatch } from "./cgroup-watch.ts";
import { ContainerDiscovery } from "./discovery.ts";
import { KUBELET_DEFAULTS, type KubeletOptions } from "./kubelet.ts";
import { detectCgroupLayout } from "./layout.ts";
import type { CgroupDriver } from "./pods.ts";
import { ContainerRegistry } from "./registry.ts";
import type { Container } from "./types.ts";

/**
 * What container tracking still needs once the agent drops its capabilities. Not CAP_SYS_ADMIN:
 * containers found after the drop get no netns cookie (setns needs it) and are matched by the
 * namespace inode instead.
 */
export const CONTAINER_TRACKING_NEEDS = {
  name: "containers",
  runtimeCapabilities: {
    CAP_SYS_PTRACE: "the network namespace (/proc/<pid>/ns/net) of container processes owned by other users",
    CAP_DAC_READ_SEARCH: "the runtimes' state directories (containerd's task directories, docker's containers/), readable by root only",
  },
};

export interface ContainerSettings {
  kubelet: Omit<KubeletOptions, "timeoutMs" | "maxBodyBytes"> | undefined;
  containerdStateDir: string;
  dockerRootDir: string;
  cgroupDriver: "" | CgroupDriver;
  syncIntervalSec: number;
  minAgeSec: number;
  maxTracked: number;
  nodeHostname: string;
}

export interface ContainerTracking {
  registry: ContainerRegistry;
  discovery: ContainerDiscovery;
  /** Resolves after the first sync (or its time limit): attribution is ready for the probes. */
  firstSync: Promise<void>;
  samples(): Sample[];
  stop(): void;
}

export function startContainerTracking(s: ContainerSettings, procfs: ProcfsRoot, log: Logger): ContainerTracking {
  const clog = log.child({ part: "containers" });
  const layout = detectCgroupLayout(procfs);
  clog.info("cgroup layout", { mode: layout.mode, hierarchies: layout.hierarchies().join(",") });
  const registry = new ContainerRegistry(layout, procfs, { minAgeMs: s.minAgeSec * 1000, maxTracked: s.maxTracked });
  const discovery = new ContainerDiscovery({
    procfs,
    layout,
    registry,
    log: clog,
    kubelet: s.kubelet ? { ...KUBELET_DEFAULTS, ...s.kubelet } : undefined,
    containerdStateDir: s.containerdStateDir,
    dockerRootDir: s.dockerRootDir,
    cgroupDriver: s.cgroupDriver,
    syncIntervalMs: s.syncIntervalSec * 1000,
    nodeHostname: s.nodeHostname,
  });
  let watch: CgroupWatch | undefined;
  let watchError = "";
  const firstSync = discovery.start();
  // Without the tracepoints the periodic sync still works, only later.
  startCgroupWatch(
    {
      created: (_id, level) => level >= 2 && discovery.syncSoon(),
      removed: (id) => {
        if (registry.removeCgroup(id)) discovery.syncSoon();
      },
    },
    clog,
  ).then(
    (w) => (watch = w),
    (err) => {
      watchError = String(err instanceof Error ? err.message : err).split("\n")[0]!;
      clog.warn("cgroup tracepoints unavailable: containers are found by the periodic sync only", { err: watchError });
    },
  );
  return {
    registry,
    discovery,
    firstSync,
    samples: () => [
      ...discovery.samples(),
      { name: "cgroup_watch_up", help: "1 when cgroup creation and removal are followed from the kernel's tracepoints.", type: "gauge", value: watch ? 1 : 0 },
      { name: "cgroup_changes_seen_total", help: "Cgroup creations and removals seen from the kernel.", type: "counter", value: watch?.seen ?? 0 },
    ],
    stop() {
      discovery.stop();
      watch?.stop();
    },
  };
}

/** A container as GET /v1/containers (and HUATUO's /containers/json) shows it. */
export function containerJson(c: Container): Record<string, unknown> {
  return {
    id: c.id,
    name: c.name,
    hostname: c.hostname,
    type: c.type,
    qos: c.qos,
    init_pid: c.initPid,
    net_namespace_inum: c.netnsInum,
    // A number, as HUATUO's; cookies count namespaces created since boot, far below 2^53.
    net_namespace_cookie: c.netnsCookie ? Number(c.netnsCookie) : 0,
    host_network: c.hostNetwork,
    cgroup_path: c.cgroupPath,
    cgroup_ids: c.cgroupIds,
    runtime: c.runtime,
    source: c.source,
    pod_name: c.podName,
    pod_uid: c.podUid,
    started_at: new Date(c.startedAtMs).toISOString(),
    synced_at: new Date(c.syncedAtMs).toISOString(),
    labels: { HostNamespace: c.hostNamespace },
  };
}
