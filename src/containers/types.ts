// What kpulse knows about a container, and the read-only view probes get of the set.
// Field meanings follow HUATUO's pod cache (type, qos, hostname, name, host namespace), so
// event fields and metric labels read the same as huatuo-bamai's.
import type { ContainerRef, KernelIdentity } from "../events/record.ts";

export type { KernelIdentity };
import type { ContainerLabels } from "../metrics/sample.ts";

/** HUATUO's container types: `sidecar` is a container named istio-proxy; `node`/`static` are node-level pods. */
export type ContainerType = "normal" | "sidecar" | "daemonSet" | "node" | "static" | "unknown";
/** The pod's QoS class (label `container_level`). */
export type ContainerQos = "guaranteed" | "burstable" | "besteffort" | "unknown";

/** Where a container was learned: the kubelet's pod list, or the runtime's own state. */
export type ContainerSourceKind = "kubelet" | "containerd" | "docker";

export interface Container {
  /** Runtime id (64 hex for containerd and docker). */
  id: string;
  /** Kubernetes container name, or the runtime's name. */
  name: string;
  /** Pod spec hostname, else pod name (DaemonSet: the node's hostname); runtime: the OCI hostname. */
  hostname: string;
  type: ContainerType;
  qos: ContainerQos;
  /** Pod namespace (label `container_hostnamespace`); the runtime namespace without Kubernetes. */
  hostNamespace: string;
  runtime: "containerd" | "docker" | "unknown";
  source: ContainerSourceKind;
  podName: string;
  podUid: string;
  /** A process of the container (the runtime's init pid, else the first of cgroup.procs); 0 = unknown. */
  initPid: number;
  /** Path of its cgroup below each hierarchy's root, e.g. /kubepods/burstable/pod<uid>/<id>. */
  cgroupPath: string;
  /**
   * Cgroup id (kernfs inode) of its cgroup per hierarchy: v1 controller name → id, or
   * "unified" → id on v2 (and on the unified hierarchy of a hybrid host when it exists there).
   */
  cgroupIds: Record<string, number>;
  /** Inode of its network namespace (/proc/<pid>/ns/net); 0 = unknown. */
  netnsInum: number;
  /** The kernel's network namespace cookie (SO_NETNS_COOKIE), as a decimal string; "" = unknown. */
  netnsCookie: string;
  /** True when it shares the host's network namespace (hostNetwork pods, --net-host). */
  hostNetwork: boolean;
  /** When the container started (ms since epoch; the runtime's or kubelet's time, else first seen). */
  startedAtMs: number;
  /** When kpulse last confirmed it (ms since epoch). */
  syncedAtMs: number;
}

/**
 * The identity an event's tracer_data shows by HUATUO's field names (the network namespace inode
 * of network events), for probes that do not set one: every network probe is attributed without
 * code of its own.
 */
export function identityFromEventData(data: Record<string, unknown>): KernelIdentity | undefined {
  const n = data.net_namespace_inum ?? data.netns_inum ?? data.netns;
  const cookie = data.net_namespace_cookie ?? data.netns_cookie;
  const id: KernelIdentity = {};
  if (typeof n === "number" && n > 0) id.netnsInum = n;
  if ((typeof cookie === "number" || typeof cookie === "string") && String(cookie) !== "0") id.netnsCookie = String(cookie);
  return id.netnsInum || id.netnsCookie ? id : undefined;
}

/** The read-only view of the container set that probes and outputs get. */
export interface ContainerView {
  /** Every known container, in a stable order. */
  all(): readonly Container[];
  /**
   * Containers metric probes should report (old enough, within the tracked cap), HUATUO's
   * "normal" selection or normal + sidecar. Host-network containers are included; probes of
   * per-netns data skip them (they would repeat the host).
   */
  forMetrics(types?: readonly ContainerType[]): readonly Container[];
  /** The container a kernel identity belongs to, if known. */
  resolve(id: KernelIdentity): Container | undefined;
  /** Absolute directory of a container's cgroup for a controller ("memory", "cpu", "cpuacct"…); undefined when that hierarchy is absent. */
  cgroupDir(c: Container, controller: string): string | undefined;
  /** True when cgroups are v2 (unified): the controller files are cpu.stat, memory.events… */
  readonly unified: boolean;
}

/** Labels HUATUO puts on every container series. */
export function containerLabels(c: Container): ContainerLabels {
  return {
    container_host: c.hostname,
    container_hostnamespace: c.hostNamespace,
    container_level: c.qos,
    container_name: c.name,
    container_type: c.type,
  };
}

/** The event fields of a container (HUATUO's omitempty fields). */
export function containerRef(c: Container): ContainerRef {
  return {
    container_id: c.id,
    container_hostname: c.hostname,
    container_host_namespace: c.hostNamespace,
    container_type: c.type,
    container_qos: c.qos,
  };
}

/** A view with no containers (--disable-kubelet on a host without a runtime, and unit tests). */
export const NO_CONTAINERS: ContainerView = {
  all: () => [],
  forMetrics: () => [],
  resolve: () => undefined,
  cgroupDir: () => undefined,
  unified: false,
};
