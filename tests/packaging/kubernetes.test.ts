// The DaemonSet and Helm chart (packaging/kubernetes, packaging/helm/kpulse): helm lint, the real
// helm's render checked by two schema validators working offline (kubeconform with the schemas
// kubernetes-validate ships, and kubernetes-validate itself), the ServiceMonitor against
// prometheus-operator's API types, the security-relevant fields of the plain manifests and the
// chart, and the container as the manifest describes it started for real (pod-sandbox.sh: its
// command, args, config, mounts and capabilities on a read-only root) answering /healthz and
// /readyz with every probe that full root can load.
// Not covered here (no cluster, container runtime or image on the test machines): scheduling,
// the runtime's seccomp profile and device cgroup, pulling an image.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { spawn } from "bun";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { captureOutput, KPULSE, kernelTestSkipReason, stopChild, waitFor } from "../e2e/agent.ts";
import {
  agentContainer, CHART, only, parseDocs, PLAIN, podSpec, render, requireTools, run, sandboxCommand,
  SCHEMA_LOCATION, SCHEMA_VERSION, TOOLS, tryRender, valuesOf, type Obj,
} from "./k8s.ts";

// The capabilities the agent needs, each justified in templates/daemonset.yaml.
const CAPS = ["BPF", "PERFMON", "SYSLOG", "NET_ADMIN", "SYS_PTRACE", "DAC_READ_SEARCH"];
// Capability names by number (linux/capability.h).
const CAP_NAMES = [
  "CHOWN", "DAC_OVERRIDE", "DAC_READ_SEARCH", "FOWNER", "FSETID", "KILL", "SETGID", "SETUID", "SETPCAP",
  "LINUX_IMMUTABLE", "NET_BIND_SERVICE", "NET_BROADCAST", "NET_ADMIN", "NET_RAW", "IPC_LOCK", "IPC_OWNER",
  "SYS_MODULE", "SYS_RAWIO", "SYS_CHROOT", "SYS_PTRACE", "SYS_PACCT", "SYS_ADMIN", "SYS_BOOT", "SYS_NICE",
  "SYS_RESOURCE", "SYS_TIME", "SYS_TTY_CONFIG", "MKNOD", "LEASE", "AUDIT_WRITE", "AUDIT_CONTROL", "SETFCAP",
  "MAC_OVERRIDE", "MAC_ADMIN", "SYSLOG", "WAKE_ALARM", "BLOCK_SUSPEND", "AUDIT_READ", "PERFMON", "BPF",
  "CHECKPOINT_RESTORE",
];
const capMask = (names: string[]) => names.reduce((m, n) => m | (1n << BigInt(CAP_NAMES.indexOf(n))), 0n);
const capField = (status: string, field: string) => BigInt(`0x${new RegExp(`${field}:\\t([0-9a-f]+)`).exec(status)![1]}`);
/** What this host's root may hold (its bounding set): the "full root" of the comparison run. */
const hostRootCaps = () => {
  const bnd = capField(readFileSync("/proc/self/status", "utf8"), "CapBnd");
  return CAP_NAMES.filter((_, i) => (bnd >> BigInt(i)) & 1n);
};
// KubeSkoop's opt-in probes ([Kpulse] EnableProbes), so the sandbox runs cover /proc/<pid> readers.
const OPT_IN = ["conntrack", "fd", "io", "ip", "ipvs", "sock", "softnet", "tcp", "tcpext", "tcpsummary", "udp",
  "packetloss", "tcpreset", "socketlatency", "kernellatency", "netiftxlatency", "net_softirq"];
// This helper's port range (19810-19819).
const PORT_PODCAPS = 19814;
const PORT_ALLCAPS = 19815;

let defaults: Obj[];
let plain: Obj[];
let plainMonitor: Obj[];

beforeAll(() => {
  requireTools();
  defaults = parseDocs(render());
  plain = parseDocs(readFileSync(join(PLAIN, "kpulse.yaml"), "utf8"));
  plainMonitor = parseDocs(readFileSync(join(PLAIN, "servicemonitor.yaml"), "utf8"));
});

function kubeconform(yaml: string, extra: string[] = []) {
  return run([TOOLS.kubeconform, "-strict", "-summary", "-output", "json", "-kubernetes-version", SCHEMA_VERSION,
    "-schema-location", SCHEMA_LOCATION, ...extra, "-"], yaml);
}

function withTemp(yaml: string, fn: (path: string) => void): void {
  const dir = mkdtempSync(join(tmpdir(), "kpulse-k8s-"));
  try {
    const path = join(dir, "render.yaml");
    writeFileSync(path, yaml);
    fn(path);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe("helm lint and schema validation (offline)", () => {
  test("helm lint --strict passes", () => {
    const r = run([TOOLS.helm, "lint", "--strict", "--kube-version", SCHEMA_VERSION, CHART]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("1 chart(s) linted, 0 chart(s) failed");
  });

  test("kubeconform -strict: every object of the chart (all options on) is valid, none skipped", () => {
    const yaml = render(["createNamespace=true", "kubeletClientCert.enabled=true", "region.fromNodeTopology=true", "extraCapabilities={SYS_RESOURCE}"]);
    // ServiceMonitor is a CRD kind: checked by servicemonitor-check below.
    const r = kubeconform(yaml);
    const summary = JSON.parse(r.stdout).summary;
    expect({ code: r.code, summary }).toEqual({ code: 0, summary: { valid: 5, invalid: 0, errors: 0, skipped: 0 } });
  });

  test("kubeconform rejects a render with a wrongly typed field (the schemas are really applied)", () => {
    const yaml = render([]).replace("readOnlyRootFilesystem: true", "readOnlyRootFilesystem: \"yes\"");
    const bad = kubeconform(yaml);
    expect(bad.code).toBe(1);
    expect(bad.stdout).toContain("readOnlyRootFilesystem");
    const unknown = kubeconform(render([]).replace("allowPrivilegeEscalation: false", "allowPrivilegeEscalation: false\n            privilegd: true"));
    expect(unknown.code).toBe(1);
    expect(unknown.stdout).toContain("privilegd");
  });

  test("kubernetes-validate --strict accepts the chart for Kubernetes 1.29 (no recursiveReadOnly) and 1.37", () => {
    for (const [version, recursive] of [["1.29.0", false], ["1.37.0", true]] as const) {
      const yaml = render(["createNamespace=true", "kubeletClientCert.enabled=true"], version);
      expect(yaml.includes("recursiveReadOnly: IfPossible")).toBe(recursive);
      withTemp(yaml, (path) => {
        const r = run([TOOLS.kubernetesValidate, "--strict", "-k", version, path]);
        expect(r.stdout).not.toContain("ERROR");
        expect(r.stdout).not.toContain("WARN");
        expect(r.stdout.match(/passed for resource/g)?.length).toBe(5);
        expect(r.code).toBe(0);
      });
    }
  });

  test("kubernetes-validate rejects a field unknown to Kubernetes 1.29 (recursiveReadOnly)", () => {
    withTemp(render([], "1.37.0"), (path) => {
      const r = run([TOOLS.kubernetesValidate, "--strict", "-k", "1.29.0", path]);
      expect(r.code).toBe(1);
      expect(r.stdout).toContain("recursiveReadOnly");
    });
  });

  test("the ServiceMonitor matches prometheus-operator's types; a misspelt field or bad duration fails", () => {
    const yaml = render(["serviceMonitor.enabled=true", "serviceMonitor.labels.release=prometheus"]);
    withTemp(yaml, (path) => {
      const r = run([TOOLS.servicemonitorCheck, path]);
      expect(r.stdout).toMatch(/ServiceMonitor valid/);
      expect(r.code).toBe(0);
    });
    withTemp(yaml.replace("scrapeTimeout:", "scrapeTimout:"), (path) => {
      const r = run([TOOLS.servicemonitorCheck, path]);
      expect(r.stdout).toContain('unknown field "scrapeTimout"');
      expect(r.code).toBe(1);
    });
    withTemp(yaml.replace("interval: 30s", "interval: 30x"), (path) => {
      const r = run([TOOLS.servicemonitorCheck, path]);
      expect(r.stdout).toContain("is not a duration");
      expect(r.code).toBe(1);
    });
  });
});

describe("plain manifests", () => {
  test("are the chart's default render (make k8s-manifests), byte for byte", () => {
    const header = "# Generated by make k8s-manifests from packaging/helm/kpulse (default values): edit the chart.\n";
    const base = ["plainManifests=true"];
    expect(readFileSync(join(PLAIN, "kpulse.yaml"), "utf8")).toBe(header + render([...base, "createNamespace=true"]));
    expect(readFileSync(join(PLAIN, "servicemonitor.yaml"), "utf8")).toBe(
      header + "# Needs the prometheus-operator CRDs: apply it after kpulse.yaml.\n" +
        render([...base, "serviceMonitor.enabled=true"], undefined, ["--show-only", "templates/servicemonitor.yaml"]),
    );
  });

  test("carry no Helm bookkeeping labels; the chart's render does", () => {
    expect(valuesOf(plain, "app.kubernetes.io/managed-by")).toEqual([]);
    expect(valuesOf(defaults, "app.kubernetes.io/managed-by").length).toBeGreaterThan(0);
  });

  test("agree with the chart's default render on every field but labels", () => {
    const strip = (docs: Obj[]) =>
      JSON.parse(JSON.stringify(docs.filter((d) => d.kind !== "Namespace")), (k, v) => (k === "labels" || k === "checksum/config" ? undefined : v));
    expect(strip(plain)).toEqual(strip(defaults));
  });
});

// The same assertions on the plain DaemonSet and on the chart's default render.
for (const [name, docsOf] of [["plain manifests", () => plain], ["chart default", () => defaults]] as const) {
  describe(`security of the DaemonSet (${name})`, () => {
    const ds = () => only(docsOf(), "DaemonSet");
    const sc = () => agentContainer(ds()).securityContext as Obj;

    test("nothing privileged; no privilege escalation; read-only root; root without a user namespace", () => {
      expect(valuesOf(docsOf(), "privileged")).toEqual([false]);
      expect(sc().allowPrivilegeEscalation).toBe(false);
      expect(sc().readOnlyRootFilesystem).toBe(true);
      expect(sc().runAsUser).toBe(0);
      expect(sc().seccompProfile).toEqual({ type: "RuntimeDefault" });
    });

    test("capabilities: drop ALL, add exactly the justified list (no SYS_ADMIN)", () => {
      expect(sc().capabilities).toEqual({ drop: ["ALL"], add: CAPS });
      const text = readFileSync(join(CHART, "templates/daemonset.yaml"), "utf8");
      // Each capability has its reason right above it in the template.
      for (const cap of CAPS) expect(text).toMatch(new RegExp(`#[^\\n]*\\n\\s+- ${cap}\\n`));
    });

    test("host namespaces: PID and network, not IPC; no service account token", () => {
      const pod = podSpec(ds());
      expect(pod.hostPID).toBe(true);
      expect(pod.hostNetwork).toBe(true);
      expect(pod.dnsPolicy).toBe("ClusterFirstWithHostNet");
      expect(pod.hostIPC).toBeUndefined();
      expect(pod.automountServiceAccountToken).toBe(false);
      expect(only(docsOf(), "ServiceAccount").automountServiceAccountToken).toBe(false);
    });

    test("host paths are mounted read-only, except the state directory", () => {
      const pod = podSpec(ds());
      const hostPaths = new Map<string, string>(pod.volumes.filter((v: Obj) => v.hostPath).map((v: Obj) => [v.name, v.hostPath.path]));
      const mounts = agentContainer(ds()).volumeMounts as Obj[];
      const writable = mounts.filter((m) => !m.readOnly).map((m) => [hostPaths.get(m.name), m.mountPath]);
      expect(writable).toEqual([["/var/lib/kpulse", "/var/lib/kpulse"]]);
      const readOnly = mounts.filter((m) => m.readOnly && hostPaths.has(m.name)).map((m) => hostPaths.get(m.name)).sort();
      expect(readOnly).toEqual(["/run/containerd/io.containerd.runtime.v2.task", "/sys/fs/cgroup", "/sys/kernel/btf", "/sys/kernel/tracing"]);
      expect(mounts.find((m) => m.mountPath === "/sys/fs/cgroup")?.recursiveReadOnly).toBe("IfPossible");
      // No host /proc, /, /dev, /etc or runtime socket.
      // Never the host's root, /proc, /dev, /etc or a runtime's socket; of /run only containerd's
      // task directory (its init.pid and OCI spec files).
      for (const p of hostPaths.values()) {
        if (p === "/run/containerd/io.containerd.runtime.v2.task") continue;
        expect(p).not.toMatch(/^\/(proc|dev|etc|run|var\/run)?(\/|$)|\.sock$/);
      }
    });

    test("probes: startup and liveness on /healthz, readiness on /readyz, on the port the Service targets", () => {
      const c = agentContainer(ds());
      expect(c.ports).toEqual([{ name: "http-metrics", containerPort: 19704, protocol: "TCP" }]);
      expect(c.startupProbe.httpGet).toEqual({ path: "/healthz", port: "http-metrics" });
      expect(c.livenessProbe.httpGet).toEqual({ path: "/healthz", port: "http-metrics" });
      expect(c.readinessProbe.httpGet).toEqual({ path: "/readyz", port: "http-metrics" });
      expect(c.args).toContain(":19704");
      const svc = only(docsOf(), "Service");
      expect(svc.spec.clusterIP).toBe("None");
      expect(svc.spec.ports).toEqual([{ name: "http-metrics", port: 19704, targetPort: "http-metrics", protocol: "TCP" }]);
      for (const [k, v] of Object.entries(svc.spec.selector)) expect(ds().spec.template.metadata.labels[k]).toBe(v);
    });

    test("resources: HUATUO's [RuntimeCgroup] limits (2 CPUs, 2048 MiB), start-up CPU as the request", () => {
      expect(agentContainer(ds()).resources).toEqual({ requests: { cpu: "500m", memory: "256Mi" }, limits: { cpu: "2", memory: "2Gi" } });
    });

    test("runs on every node: tolerates every taint, Linux nodes only", () => {
      expect(podSpec(ds()).tolerations).toEqual([{ operator: "Exists" }]);
      expect(podSpec(ds()).nodeSelector).toEqual({ "kubernetes.io/os": "linux" });
    });
  });
}

describe("ServiceMonitor", () => {
  test("selects the Service by its labels and scrapes its named port", () => {
    const sm = only(plainMonitor, "ServiceMonitor");
    const svc = only(plain, "Service");
    for (const [k, v] of Object.entries(sm.spec.selector.matchLabels)) expect(svc.metadata.labels[k]).toBe(v);
    expect(sm.spec.namespaceSelector.matchNames).toEqual([svc.metadata.namespace]);
    expect(sm.spec.endpoints.map((e: Obj) => [e.port, e.path])).toEqual([["http-metrics", "/metrics"]]);
  });

  test("is not rendered by default (the CRD may be absent); serviceMonitor.labels reach it", () => {
    expect(defaults.filter((d) => d.kind === "ServiceMonitor")).toEqual([]);
    const sm = only(parseDocs(render(["serviceMonitor.enabled=true", "serviceMonitor.labels.release=prom"])), "ServiceMonitor");
    expect(sm.metadata.labels.release).toBe("prom");
  });
});

describe("chart values", () => {
  const ds = (sets: string[]) => only(parseDocs(render(sets)), "DaemonSet");
  const config = (sets: string[]) => only(parseDocs(render(sets)), "ConfigMap").data["kpulse.toml"] as string;

  test("region: a fixed name, or the pod's topology label through the downward API; empty is refused", () => {
    expect(agentContainer(ds(["region.name=eu-west"])).env).toEqual([{ name: "KPULSE_REGION", value: "eu-west" }]);
    expect(agentContainer(ds(["region.fromNodeTopology=true"])).env).toEqual([
      { name: "KPULSE_REGION", valueFrom: { fieldRef: { fieldPath: "metadata.labels['topology.kubernetes.io/region']" } } },
    ]);
    const args = agentContainer(ds([])).args as string[];
    expect(args[args.indexOf("--region") + 1]).toBe("$(KPULSE_REGION)");
    const r = tryRender(["region.name="]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain("region.name is required");
  });

  test("config: Compat, BlackList, EnableProbes, BpfProgramStats and extra TOML reach kpulse.toml", () => {
    const text = config(["compat=huatuo", "blackList={netdev_dcb,diskio}", "enableProbes={tcp}", "bpfProgramStats=true", "extraConfig=[Storage.ES]\nIndex = \"k\""]);
    expect(text).toContain('Compat = "huatuo"');
    expect(text).toContain('BlackList = ["netdev_dcb", "diskio"]');
    expect(text).toContain('EnableProbes = ["tcp"]');
    expect(text).toContain("BpfProgramStats = true");
    expect(text).toMatch(/\n\[Storage\.ES\]\nIndex = "k"\n?$/);
  });

  test("values.schema.json refuses a misspelt key, a wrongly typed value, an unknown Compat", () => {
    for (const [set, word] of [["regoin.name=x", "regoin"], ["port=http", "port"], ["compat=huatu", "compat"], ["stateHostPath=var/lib/kpulse", "stateHostPath"]]) {
      const r = tryRender([set!]);
      expect({ set, code: r.code }).toEqual({ set, code: 1 });
      expect(r.stderr).toContain(word!);
    }
  });

  test("kpulse check accepts the config the chart renders, for every config value; and refuses a bad probe name", () => {
    const combos = [
      [],
      ["compat=huatuo", "blackList={netdev_dcb,diskio}", `enableProbes={${OPT_IN.join(",")}}`, "bpfProgramStats=true"],
      ["kubeletClientCert.enabled=true", "extraConfig=[Storage.ES]\nAddress = \"http://opensearch:9200\"\nUsername = \"u\"\nPassword = \"p\""],
    ];
    const dir = mkdtempSync(join(tmpdir(), "kpulse-k8s-"));
    try {
      const check = (sets: string[]) => {
        const path = join(dir, "kpulse.toml");
        writeFileSync(path, config(sets));
        return run([KPULSE, "check", "--config", path]);
      };
      for (const sets of combos) {
        const r = check(sets);
        expect({ sets, code: r.code, stderr: r.stderr }).toEqual({ sets, code: 0, stderr: "" });
        expect(r.stdout).toContain(": OK");
      }
      const bad = check(["enableProbes={no_such_probe}"]);
      expect(bad.code).toBe(1);
      expect(bad.stderr).toContain("no_such_probe");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("a config change changes the pod template (pods restart to read it)", () => {
    const sum = (sets: string[]) => ds(sets).spec.template.metadata.annotations["checksum/config"];
    expect(sum(["compat=huatuo"])).not.toBe(sum([]));
    expect(sum([])).toMatch(/^[0-9a-f]{64}$/);
  });

  test("hostNetwork off, extra capabilities, kubelet certificates read-only, scheduling values", () => {
    const off = podSpec(ds(["hostNetwork=false"]));
    expect(off.hostNetwork).toBeUndefined();
    expect(off.dnsPolicy).toBeUndefined();
    expect(agentContainer(ds(["extraCapabilities={SYS_RESOURCE}"])).securityContext.capabilities.add).toEqual([...CAPS, "SYS_RESOURCE"]);
    const pki = ds(["kubeletClientCert.enabled=true"]);
    expect(agentContainer(pki).volumeMounts.filter((m: Obj) => m.name.startsWith("kubelet-"))).toEqual([
      { name: "kubelet-client-cert", mountPath: "/etc/kubernetes/pki/apiserver-kubelet-client.crt", readOnly: true },
      { name: "kubelet-client-key", mountPath: "/etc/kubernetes/pki/apiserver-kubelet-client.key", readOnly: true },
    ]);
    expect(podSpec(pki).volumes.filter((v: Obj) => v.name.startsWith("kubelet-")).map((v: Obj) => v.hostPath)).toEqual([
      { path: "/etc/kubernetes/pki/apiserver-kubelet-client.crt", type: "File" },
      { path: "/etc/kubernetes/pki/apiserver-kubelet-client.key", type: "File" },
    ]);
    expect(config(["kubeletClientCert.enabled=true"])).toContain(
      '[Pod]\n# Mounted read-only from the node (kubeletClientCert in the chart\'s values).\nKubeletClientCertPath = "/etc/kubernetes/pki/apiserver-kubelet-client.crt,/etc/kubernetes/pki/apiserver-kubelet-client.key"',
    );
    const sched = podSpec(ds(["nodeSelector.pool=infra", "tolerations=null", "priorityClassName=system-node-critical"]));
    expect(sched.nodeSelector).toEqual({ "kubernetes.io/os": "linux", pool: "infra" });
    expect(sched.tolerations).toBeUndefined();
    expect(sched.priorityClassName).toBe("system-node-critical");
    const img = agentContainer(ds(["image.repository=registry.example/kpulse", "image.tag=9.9.9"]));
    expect(img.image).toBe("registry.example/kpulse:9.9.9");
    expect(agentContainer(ds([])).image).toBe("kpulse:0.1.0");
  });
});

// --- the container, run as the manifest describes it ---------------------------------------------
const skip = kernelTestSkipReason();
describe.skipIf(!!skip)("the DaemonSet's container starts (pod sandbox)", () => {
  const work: string[] = [];
  afterAll(() => {
    for (const d of work) rmSync(d, { recursive: true, force: true });
  });

  interface Started {
    pid: number;
    url: string;
    stateDir: string;
    output: () => string;
    stop: () => Promise<number>;
  }

  async function startPod(port: number, caps?: string[]): Promise<Started> {
    const docs = parseDocs(render([`port=${port}`, `enableProbes={${OPT_IN.join(",")}}`]));
    const dir = mkdtempSync(join(tmpdir(), "kpulse-pod-"));
    work.push(dir);
    const ds = only(docs, "DaemonSet");
    const { cmd, stateDir } = sandboxCommand(ds, docs.filter((d) => d.kind === "ConfigMap"), dir, KPULSE, caps);
    const proc = spawn(cmd, { stdout: "pipe", stderr: "pipe" });
    const output = captureOutput(proc);
    // The kubelet's view: the startup probe's path within its budget, then the readiness path.
    const c = agentContainer(ds);
    const url = `http://127.0.0.1:${port}`;
    const budgetMs = c.startupProbe.periodSeconds * c.startupProbe.failureThreshold * 1000;
    await waitFor(`${c.startupProbe.httpGet.path}`, async () => {
      if (proc.exitCode !== null) throw new Error(`the pod's command exited ${proc.exitCode}:\n${output()}`);
      return (await fetch(url + c.startupProbe.httpGet.path).catch(() => undefined))?.status === 204 || undefined;
    }, Math.min(budgetMs, 60_000), 200);
    await waitFor(`${c.readinessProbe.httpGet.path}`, async () => (await fetch(url + c.readinessProbe.httpGet.path)).status === 204 || undefined, 60_000, 200)
      .catch((err: Error) => Promise.reject(new Error(`${err.message}; agent output:\n${output()}`)));
    return {
      pid: proc.pid,
      url,
      stateDir,
      output,
      stop: () => stopChild(proc),
    };
  }

  async function probeStatus(url: string): Promise<Record<string, string>> {
    const body = (await (await fetch(`${url}/v1/probes`)).json()) as { data: { name: string; status: string }[] };
    return Object.fromEntries(body.data.map((p) => [p.name, p.status.split(":")[0]!]));
  }

  test("answers /healthz and /readyz with the manifest's command, args, config, mounts and capabilities; loads every probe full root loads", async () => {
    const pod = await startPod(PORT_PODCAPS);
    let full: Started | undefined;
    try {
      expect((await fetch(`${pod.url}/healthz`)).status).toBe(204);
      expect((await fetch(`${pod.url}/readyz`)).status).toBe(204);
      // Its bounding set is exactly the manifest's (every wrapper exec()s, so the pid is kpulse's);
      // once probes settled the agent dropped what no loaded probe still uses, so what it holds is
      // a part of that set and matches what it says it kept.
      const status = readFileSync(`/proc/${pod.pid}/status`, "utf8");
      expect(/^Name:\s+(\S+)/m.exec(status)![1]).toBe("kpulse");
      expect(capField(status, "CapBnd")).toBe(capMask(CAPS));
      const eff = capField(status, "CapEff");
      expect(eff & ~capMask(CAPS)).toBe(0n);
      const caps = (await (await fetch(`${pod.url}/v1/probes`)).json()).capabilities;
      const kept = (caps.kept as { cap: string }[]).map((k) => k.cap.replace(/^CAP_/, ""));
      expect(eff).toBe(capMask(kept));
      // Every thread that could be reached dropped too, on the read-only root: only threads that
      // block the signal hold more, each with its reason.
      expect((caps.threads_holding_more as { why?: string }[]).filter((t) => !t.why)).toEqual([]);
      expect(pod.output()).not.toContain("on the main thread only");
      expect(/^NoNewPrivs:\s+1$/m.test(status)).toBe(true);
      const mine = await probeStatus(pod.url);
      expect(Object.keys(mine).length).toBeGreaterThan(30);
      full = await startPod(PORT_ALLCAPS, hostRootCaps());
      const theirs = await probeStatus(full.url);
      expect(mine).toEqual(theirs);
      expect(Object.values(mine).filter((s) => s === "loaded").length).toBeGreaterThan(30);
      // Local files went to the state directory (the only writable mount): the instance lock.
      expect(readdirSync(join(pod.stateDir, "kpulse-local"))).toContain("kpulse.pid");
      expect(pod.output()).not.toMatch(/level=error/);
    } finally {
      expect(await pod.stop()).toBe(0);
      if (full) expect(await full.stop()).toBe(0);
    }
  }, 150_000);

  test("without one of BPF, PERFMON or SYSLOG, probes are lost (each is needed)", async () => {
    const base = await startPod(PORT_PODCAPS);
    const loaded = Object.entries(await probeStatus(base.url)).filter(([, s]) => s === "loaded").map(([n]) => n);
    expect(await base.stop()).toBe(0);
    for (const cap of ["BPF", "PERFMON", "SYSLOG"]) {
      const pod = await startPod(PORT_PODCAPS, CAPS.filter((c) => c !== cap));
      try {
        const status = await probeStatus(pod.url);
        const lost = loaded.filter((n) => status[n] !== "loaded");
        // SYSLOG: sched_tick finds its tick callback only in an unrestricted kallsyms.
        if (cap === "SYSLOG") expect(lost).toContain("sched_tick");
        else expect(lost.length).toBeGreaterThan(10);
      } finally {
        expect(await pod.stop()).toBe(0);
      }
    }
  }, 150_000);

  test("SYS_PTRACE and DAC_READ_SEARCH are what lets the pod read other processes' /proc/<pid>", () => {
    // A root daemon with every capability (like pid 1 on a node) and a process of another user.
    const rootd = spawn(["sleep", "60"]);
    const other = spawn(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "sleep", "60"]);
    const dir = mkdtempSync(join(tmpdir(), "kpulse-pod-"));
    work.push(dir);
    try {
      const probe = (caps: string[]) => {
        const script = `for p in /proc/${rootd.pid}/ns/net /proc/${rootd.pid}/io /proc/${other.pid}/fd /proc/${other.pid}/fd/1 /proc/${other.pid}/io; do ` +
          `case $p in */ns/*) stat -L $p ;; */fd) ls $p ;; */fd/*) readlink $p ;; *) cat $p ;; esac >/dev/null 2>&1 && echo "$p ok" || echo "$p denied"; done`;
        const r = run([join(import.meta.dir, "pod-sandbox.sh"), dir, caps.join(","), "", "--", "sh", "-c", script]);
        if (r.code !== 0) throw new Error(r.stderr);
        return r.stdout.trim().split("\n").map((l) => l.replace(/^\/proc\/\d+\//, l.includes(`/${rootd.pid}/`) ? "root:" : "other:"));
      };
      // ptrace read access: a root daemon holding more capabilities, or another user's process.
      expect(probe(CAPS)).toEqual(["root:ns/net ok", "root:io ok", "other:fd ok", "other:fd/1 ok", "other:io ok"]);
      expect(probe(CAPS.filter((c) => c !== "SYS_PTRACE"))).toEqual(["root:ns/net denied", "root:io denied", "other:fd ok", "other:fd/1 denied", "other:io denied"]);
      // File modes: owner-only directories and files of another user.
      expect(probe(CAPS.filter((c) => c !== "DAC_READ_SEARCH"))).toEqual(["root:ns/net ok", "root:io ok", "other:fd denied", "other:fd/1 denied", "other:io denied"]);
    } finally {
      rootd.kill();
      other.kill();
    }
  });
});
