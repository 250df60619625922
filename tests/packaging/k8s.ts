// Helpers for the Kubernetes packaging tests: the validators `make k8s-tools` installs, the chart
// rendered by the real helm, the rendered documents parsed, and a DaemonSet's container turned
// into a pod-sandbox.sh command line (the same command, args, mounts and capabilities).
import { spawnSync } from "bun";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ROOT } from "../e2e/agent.ts";

export const CHART = join(ROOT, "packaging/helm/kpulse");
export const PLAIN = join(ROOT, "packaging/kubernetes");
const BIN = join(ROOT, ".cache/bin");
export const SCHEMA_VERSION = "1.37.0";
export const SCHEMA_LOCATION = join(ROOT, ".cache/k8s-schemas/{{ .NormalizedKubernetesVersion }}-standalone{{ .StrictSuffix }}/{{ .ResourceKind }}{{ .KindSuffix }}.json");

export const TOOLS = {
  helm: join(BIN, "helm"),
  kubeconform: join(BIN, "kubeconform"),
  servicemonitorCheck: join(BIN, "servicemonitor-check"),
  kubernetesValidate: join(ROOT, ".cache/k8s-venv/bin/kubernetes-validate"),
};

/** Fails (never skips) when a validator is missing: `make test` installs them. */
export function requireTools(): void {
  const missing = Object.values(TOOLS).filter((p) => !existsSync(p));
  if (missing.length) throw new Error(`missing ${missing.join(", ")}: run make k8s-tools`);
}

export interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

export function run(cmd: string[], stdin?: string): Run {
  const r = spawnSync(cmd, { cwd: ROOT, stdin: stdin === undefined ? "ignore" : new TextEncoder().encode(stdin), stdout: "pipe", stderr: "pipe" });
  return { code: r.exitCode ?? -1, stdout: r.stdout.toString(), stderr: r.stderr.toString() };
}

/** `helm template` of the chart; throws with helm's message when it fails. */
export function render(sets: string[] = [], kubeVersion = SCHEMA_VERSION, extra: string[] = []): string {
  const r = tryRender(sets, kubeVersion, extra);
  if (r.code !== 0) throw new Error(`helm template ${sets.join(" ")} failed: ${r.stderr}`);
  return r.stdout;
}

export function tryRender(sets: string[] = [], kubeVersion = SCHEMA_VERSION, extra: string[] = []): Run {
  return run([TOOLS.helm, "template", "kpulse", CHART, "--namespace", "kpulse", "--kube-version", kubeVersion, ...sets.flatMap((s) => ["--set", s]), ...extra]);
}

// --- parsed documents -----------------------------------------------------------------------------
// Loosely typed on purpose: the tests assert the shape they rely on.
export type Obj = Record<string, any>;

export function parseDocs(yaml: string): Obj[] {
  const parsed = Bun.YAML.parse(yaml) as unknown;
  const docs = (Array.isArray(parsed) ? parsed : [parsed]) as (Obj | null)[];
  return docs.filter((d): d is Obj => d !== null && typeof d === "object");
}

export function only(docs: Obj[], kind: string): Obj {
  const found = docs.filter((d) => d.kind === kind);
  if (found.length !== 1) throw new Error(`expected one ${kind}, found ${found.length} (kinds: ${docs.map((d) => d.kind).join(", ")})`);
  return found[0]!;
}

export const podSpec = (ds: Obj): Obj => ds.spec.template.spec;
export function agentContainer(ds: Obj): Obj {
  const cs = podSpec(ds).containers as Obj[];
  if (cs.length !== 1) throw new Error(`expected one container, found ${cs.length}`);
  return cs[0]!;
}

/** Every value under `key` anywhere in the document (to find any `privileged` field). */
export function valuesOf(doc: unknown, key: string, out: unknown[] = []): unknown[] {
  if (Array.isArray(doc)) for (const v of doc) valuesOf(v, key, out);
  else if (doc && typeof doc === "object") {
    for (const [k, v] of Object.entries(doc)) {
      if (k === key) out.push(v);
      valuesOf(v, key, out);
    }
  }
  return out;
}

/** Kubernetes' $(VAR) expansion of args from the container's literal env values. */
export function expandArgs(container: Obj): string[] {
  const env = new Map<string, string>();
  for (const e of (container.env ?? []) as Obj[]) {
    if (e.valueFrom) throw new Error(`env ${e.name} comes from ${JSON.stringify(e.valueFrom)}: no API server here to resolve it`);
    env.set(e.name, String(e.value));
  }
  return ((container.args ?? []) as string[]).map((a) =>
    a.replace(/\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g, (whole, name: string) => env.get(name) ?? whole),
  );
}

function tracefsMountedAt(path: string): boolean {
  return readFileSync("/proc/self/mountinfo", "utf8")
    .split("\n")
    .some((l) => l.split(" ")[4] === path && / - tracefs /.test(l));
}

export interface SandboxCommand {
  cmd: string[];
  /** The writable hostPath volume, redirected to a directory of the test. */
  stateDir: string;
}

/**
 * The container as pod-sandbox.sh runs it: the image's command is build/kpulse, ConfigMap volumes
 * are written out, the one writable hostPath goes to `workDir`/state (the test must not write into
 * the host's /var/lib/kpulse), read-only hostPaths are bound from the host, and tracefs is mounted
 * fresh when this host has none at /sys/kernel/tracing.
 */
export function sandboxCommand(ds: Obj, configMaps: Obj[], workDir: string, binary: string, caps?: string[]): SandboxCommand {
  const c = agentContainer(ds);
  const volumes = new Map<string, Obj>(((podSpec(ds).volumes ?? []) as Obj[]).map((v) => [v.name, v]));
  const stateDir = join(workDir, "state");
  mkdirSync(stateDir, { recursive: true });
  const mounts = [`${binary}:${c.command[0]}:image`];
  let writable = 0;
  for (const m of (c.volumeMounts ?? []) as Obj[]) {
    const v = volumes.get(m.name);
    if (!v) throw new Error(`volumeMount ${m.name} has no volume`);
    const mode = m.readOnly ? "ro" : "rw";
    if (v.configMap) {
      const cm = configMaps.find((x) => x.metadata.name === v.configMap.name);
      if (!cm) throw new Error(`ConfigMap ${v.configMap.name} is not in the render`);
      const dir = join(workDir, `configmap-${m.name}`);
      mkdirSync(dir, { recursive: true });
      for (const [file, text] of Object.entries(cm.data as Record<string, string>)) writeFileSync(join(dir, file), text);
      mounts.push(`${dir}:${m.mountPath}:${mode}`);
    } else if (v.hostPath) {
      if (mode === "rw") {
        writable++;
        mounts.push(`${stateDir}:${m.mountPath}:rw`);
      } else if (v.hostPath.path === "/sys/kernel/tracing" && !tracefsMountedAt("/sys/kernel/tracing")) {
        mounts.push(`tracefs:${m.mountPath}:ro`);
      } else if (v.hostPath.type === "DirectoryOrCreate" && !existsSync(v.hostPath.path)) {
        // The kubelet would create it empty on the node; here an empty directory of the test's own.
        const empty = join(workDir, `hostpath-${m.name}`);
        mkdirSync(empty, { recursive: true });
        mounts.push(`${empty}:${m.mountPath}:ro`);
      } else {
        mounts.push(`${v.hostPath.path}:${m.mountPath}:ro`);
      }
    } else throw new Error(`volume ${m.name}: only configMap and hostPath volumes are handled`);
  }
  if (writable !== 1) throw new Error(`expected one writable hostPath mount, found ${writable}`);
  const add = caps ?? (c.securityContext.capabilities.add as string[]);
  const root = join(workDir, "root");
  mkdirSync(root, { recursive: true });
  const cmd = [
    join(ROOT, "tests/packaging/pod-sandbox.sh"), root, add.join(","), mounts.join(";"), "--",
    "sh", "-c", 'cd "$0" && exec "$@"', c.workingDir, ...c.command, ...expandArgs(c),
  ];
  return { cmd, stateDir };
}
