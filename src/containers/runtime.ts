// Containers straight from the runtimes' own state on disk, so a host without Kubernetes (a plain
// containerd or docker host) gets attribution too, and kubelet containers get their init pid:
//   containerd: <state>/io.containerd.runtime.v2.task/<namespace>/<id>/{init.pid,config.json}
//   docker:     <root>/containers/<id>/config.v2.json (+ hostconfig.json)
// No socket API: the files are what the runtimes themselves read back after a restart. Every
// file is bounded in size and the number of containers read per scan is capped.
import { readdirSync, statSync } from "node:fs";
import { readBoundedTextOrUndefined } from "../util/bounded-read.ts";
import { join } from "node:path";

export interface RuntimeContainer {
  id: string;
  runtime: "containerd" | "docker";
  /** containerd namespace ("k8s.io", "default"…) or "docker". */
  namespace: string;
  name: string;
  hostname: string;
  pid: number;
  startedAtMs: number;
  /** The OCI spec joins no network namespace of its own (or docker's NetworkMode is "host"). */
  hostNetwork: boolean;
  /** Pause/sandbox containers of CRI pods: never reported as containers. */
  sandbox: boolean;
  /** Its cgroup path from the OCI spec ("" when unknown): used when its process cannot tell (a private cgroup namespace). */
  cgroupPath: string;
  /** Kubernetes identity from CRI annotations or docker labels, when the container belongs to a pod. */
  pod?: { name: string; namespace: string; uid: string; container: string };
}

export interface RuntimeScanOptions {
  containerdStateDir: string;
  dockerRootDir: string;
  maxContainers: number;
}

const MAX_JSON_BYTES = 4 << 20;
const ID = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;

function readJson(path: string): Record<string, any> | undefined {
  const text = readBoundedTextOrUndefined(path, MAX_JSON_BYTES);
  if (text === undefined) return undefined;
  try {
    const v = JSON.parse(text);
    return v && typeof v === "object" ? v : undefined;
  } catch {
    return undefined;
  }
}

function dirs(path: string): string[] {
  try {
    return readdirSync(path, { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => d.name);
  } catch {
    return [];
  }
}

const s = (v: unknown) => (typeof v === "string" ? v : "");

/**
 * An OCI linux.cgroupsPath as a path: "/kubepods/burstable/pod<uid>/<id>" as it is, or systemd's
 * "slice:prefix:name" ("kubepods-burstable-pod<uid>.slice:cri-containerd:<id>") expanded to
 * "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod<uid>.slice/cri-containerd-<id>.scope".
 */
export function ociCgroupPath(v: string): string {
  if (v.startsWith("/")) return v;
  const m = /^([A-Za-z0-9_.@-]*\.slice):([A-Za-z0-9_-]+):([A-Za-z0-9_.-]+)$/.exec(v);
  if (!m) return "";
  const parts = m[1]!.slice(0, -".slice".length).split("-");
  let path = "";
  for (let i = 1; i <= parts.length; i++) path += `/${parts.slice(0, i).join("-")}.slice`;
  return `${path}/${m[2]}-${m[3]}.scope`;
}

function criPod(a: Record<string, unknown>): RuntimeContainer["pod"] {
  const name = s(a["io.kubernetes.cri.sandbox-name"]);
  if (!name) return undefined;
  return {
    name,
    namespace: s(a["io.kubernetes.cri.sandbox-namespace"]),
    uid: s(a["io.kubernetes.cri.sandbox-uid"]),
    container: s(a["io.kubernetes.cri.container-name"]),
  };
}

function scanContainerd(stateDir: string, out: RuntimeContainer[], max: number): void {
  const tasks = join(stateDir, "io.containerd.runtime.v2.task");
  for (const ns of dirs(tasks)) {
    for (const id of dirs(join(tasks, ns))) {
      if (out.length >= max) return;
      if (!ID.test(id)) continue;
      const dir = join(tasks, ns, id);
      const pid = Number.parseInt(readBoundedTextOrUndefined(join(dir, "init.pid"), 64) ?? "", 10);
      if (!(pid > 0)) continue; // created but not started, or already gone
      const spec = readJson(join(dir, "config.json"));
      const annotations = (spec?.annotations ?? {}) as Record<string, unknown>;
      const netns = ((spec?.linux?.namespaces ?? []) as { type?: string }[]).some((n) => n?.type === "network");
      let started = 0;
      try {
        started = statSync(join(dir, "init.pid")).mtimeMs;
      } catch {
        // raced with its removal: the scan simply keeps the time unknown
      }
      const pod = criPod(annotations);
      out.push({
        id,
        runtime: "containerd",
        namespace: ns,
        name: pod?.container || id,
        hostname: s(spec?.hostname),
        pid,
        startedAtMs: started,
        hostNetwork: spec !== undefined && !netns,
        sandbox: annotations["io.kubernetes.cri.container-type"] === "sandbox",
        cgroupPath: ociCgroupPath(s(spec?.linux?.cgroupsPath)),
        pod,
      });
    }
  }
}

function scanDocker(rootDir: string, out: RuntimeContainer[], max: number): void {
  const base = join(rootDir, "containers");
  for (const id of dirs(base)) {
    if (out.length >= max) return;
    if (!ID.test(id)) continue;
    const cfg = readJson(join(base, id, "config.v2.json"));
    const state = cfg?.State;
    if (!state?.Running || !(state.Pid > 0)) continue;
    const host = readJson(join(base, id, "hostconfig.json"));
    const labels = (cfg?.Config?.Labels ?? {}) as Record<string, unknown>;
    const podName = s(labels["io.kubernetes.pod.name"]);
    const started = Date.parse(s(state.StartedAt));
    out.push({
      id,
      runtime: "docker",
      namespace: "docker",
      name: s(cfg?.Name).replace(/^\//, "") || id,
      hostname: s(cfg?.Config?.Hostname),
      pid: state.Pid,
      startedAtMs: Number.isFinite(started) ? started : 0,
      hostNetwork: s(host?.NetworkMode) === "host",
      sandbox: labels["io.kubernetes.docker.type"] === "podsandbox",
      cgroupPath: "",
      pod: podName
        ? { name: podName, namespace: s(labels["io.kubernetes.pod.namespace"]), uid: s(labels["io.kubernetes.pod.uid"]), container: s(labels["io.kubernetes.container.name"]) }
        : undefined,
    });
  }
}

/** Running containers of containerd and docker, at most `maxContainers`. */
export function scanRuntimes(o: RuntimeScanOptions): RuntimeContainer[] {
  const out: RuntimeContainer[] = [];
  if (o.containerdStateDir) scanContainerd(o.containerdStateDir, out, o.maxContainers);
  if (o.dockerRootDir) scanDocker(o.dockerRootDir, out, o.maxContainers);
  return out;
}
