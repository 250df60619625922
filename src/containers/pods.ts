// The kubelet's pod list (GET /pods, a v1 PodList) → the containers it describes. Pure: the
// document is hostile input, so every field is checked for its type and anything malformed is
// skipped (with a count), never thrown on, except a body that is not a PodList at all.
import type { ContainerQos, ContainerType } from "./types.ts";

export type CgroupDriver = "cgroupfs" | "systemd";

/** What the pod list says about one running container; the runtime and cgroups fill the rest. */
export interface PodContainer {
  id: string;
  runtime: "containerd" | "docker" | "unknown";
  name: string;
  hostname: string;
  type: ContainerType;
  qos: ContainerQos;
  hostNamespace: string;
  podName: string;
  podUid: string;
  hostNetwork: boolean;
  startedAtMs: number;
  /** Path of the container's cgroup below each hierarchy's root, as the kubelet lays it out. */
  cgroupPath: string;
}

export interface PodListResult {
  containers: PodContainer[];
  /** Pods or containers left out: a field of the wrong type, or past the container limit. */
  malformed: number;
}

const obj = (v: unknown): Record<string, unknown> | undefined =>
  v !== null && typeof v === "object" && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
const str = (v: unknown): string => (typeof v === "string" ? v : "");
const arr = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);

const QOS: Record<string, ContainerQos> = { Guaranteed: "guaranteed", Burstable: "burstable", BestEffort: "besteffort" };
/** Container ids as runtimes write them: a 64-hex id is the norm; anything path-like is refused. */
const ID = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;

/** "containerd://<id>" → runtime and id. */
export function splitContainerId(v: string): { runtime: PodContainer["runtime"]; id: string } | undefined {
  const m = /^([a-z0-9-]+):\/\/(.+)$/.exec(v);
  if (!m || !ID.test(m[2]!)) return undefined;
  const runtime = m[1] === "containerd" || m[1] === "docker" ? m[1] : "unknown";
  return { runtime, id: m[2]! };
}

/**
 * The kubelet's cgroup path of a container (HUATUO's layout): cgroupfs
 * /kubepods[/<qos>]/pod<uid>/<id> (no QoS level for guaranteed pods); systemd
 * /kubepods.slice/kubepods-<qos>.slice/kubepods-<qos>-pod<uid_>.slice/<prefix>-<id>.scope.
 */
export function kubeletCgroupPath(driver: CgroupDriver, qos: ContainerQos, podUid: string, id: string, runtime: PodContainer["runtime"]): string {
  const level = qos === "guaranteed" || qos === "unknown" ? "" : qos;
  if (driver === "cgroupfs") return `/kubepods${level ? `/${level}` : ""}/pod${podUid}/${id}`;
  const uid = podUid.replaceAll("-", "_");
  const scope = `${runtime === "docker" ? "docker" : "cri-containerd"}-${id}.scope`;
  if (!level) return `/kubepods.slice/kubepods-pod${uid}.slice/${scope}`;
  return `/kubepods.slice/kubepods-${level}.slice/kubepods-${level}-pod${uid}.slice/${scope}`;
}

/** daemonSet / node (mirror pod, owned by the Node) / static (from a manifest file or URL) / normal. */
function podType(meta: Record<string, unknown>): ContainerType {
  const owners = arr(meta.ownerReferences).map((o) => str(obj(o)?.kind));
  if (owners.includes("DaemonSet")) return "daemonSet";
  if (owners.includes("Node")) return "node";
  const source = str(obj(meta.annotations)?.["kubernetes.io/config.source"]);
  if (source === "file" || source === "http") return "static";
  return "normal";
}

/**
 * Containers of the pods that are Running with every container running (HUATUO keeps only
 * those). `nodeHostname` is the hostname DaemonSet containers report (they run as the node).
 */
export function parsePodList(doc: unknown, driver: CgroupDriver, nodeHostname: string, maxContainers = 10_000): PodListResult {
  const root = obj(doc);
  if (!root || !Array.isArray(root.items)) throw new Error('not a kubelet pod list (no "items" array)');
  const out: PodContainer[] = [];
  let malformed = 0;
  for (const item of root.items) {
    const pod = obj(item);
    const meta = obj(pod?.metadata);
    const spec = obj(pod?.spec);
    const status = obj(pod?.status);
    if (!meta || !spec || !status || !str(meta.uid) || !/^[A-Za-z0-9-]{1,64}$/.test(str(meta.uid))) {
      malformed++;
      continue;
    }
    const statuses = arr(status.containerStatuses).map(obj);
    const allRunning = statuses.length > 0 && statuses.every((s) => obj(obj(s?.state)?.running) !== undefined);
    if (str(status.phase) !== "Running" || !allRunning) continue;
    const qos = QOS[str(status.qosClass)] ?? "unknown";
    const type = podType(meta);
    const podName = str(meta.name);
    for (const s of statuses) {
      // A node runs hundreds of containers, not more: a longer list is cut and counted.
      if (out.length >= maxContainers) {
        malformed++;
        continue;
      }
      const parsed = splitContainerId(str(s?.containerID));
      if (!parsed || !str(s?.name)) {
        malformed++;
        continue;
      }
      const name = str(s!.name);
      const started = Date.parse(str(obj(obj(s!.state)?.running)?.startedAt));
      out.push({
        ...parsed,
        name,
        hostname: type === "daemonSet" ? nodeHostname : str(spec.hostname) || podName,
        type: name === "istio-proxy" ? "sidecar" : type,
        qos,
        hostNamespace: str(meta.namespace),
        podName,
        podUid: str(meta.uid),
        hostNetwork: spec.hostNetwork === true,
        startedAtMs: Number.isFinite(started) ? started : 0,
        cgroupPath: kubeletCgroupPath(driver, qos, str(meta.uid), parsed.id, parsed.runtime),
      });
    }
  }
  return { containers: out, malformed };
}
