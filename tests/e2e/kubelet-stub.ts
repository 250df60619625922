// A STUB kubelet (no kubelet can run on this machine): it serves GET /pods in the kubelet's
// PodList JSON shape for pods that point at real containers, on a plain "read-only" port or a
// TLS port that requires a client certificate, and can be told to answer garbage or to hang.
import { spawnSync, type Server } from "bun";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export interface StubPod {
  uid: string;
  name: string;
  namespace: string;
  hostname?: string;
  qosClass: "Guaranteed" | "Burstable" | "BestEffort";
  ownerKind?: string;
  containers: { name: string; id: string }[];
}

export type StubMode = "pods" | "garbage" | "hang";

export function podList(pods: StubPod[]): unknown {
  return {
    kind: "PodList",
    apiVersion: "v1",
    items: pods.map((p) => ({
      metadata: { name: p.name, namespace: p.namespace, uid: p.uid, ownerReferences: p.ownerKind ? [{ kind: p.ownerKind, name: "owner" }] : [] },
      spec: { hostname: p.hostname, containers: p.containers.map((c) => ({ name: c.name })) },
      status: {
        phase: "Running",
        qosClass: p.qosClass,
        containerStatuses: p.containers.map((c) => ({ name: c.name, containerID: `containerd://${c.id}`, state: { running: { startedAt: new Date().toISOString() } } })),
      },
    })),
  };
}

export interface KubeletStub {
  port: number;
  pods: StubPod[];
  mode: StubMode;
  requests: number;
  stop(): void;
}

/** Certificates for the TLS port: a CA, the stub's serving cert and a client cert it accepts. */
export interface StubCerts {
  dir: string;
  ca: string;
  serverCert: string;
  serverKey: string;
  clientCert: string;
  clientKey: string;
  cleanup(): void;
}

export function makeCerts(): StubCerts {
  const dir = mkdtempSync(join(tmpdir(), "kpulse-kubelet-pki-"));
  const f = (n: string) => join(dir, n);
  const run = (args: string[]) => {
    const r = spawnSync(["openssl", ...args], { stderr: "pipe" });
    if (r.exitCode !== 0) throw new Error(`openssl ${args.join(" ")}: ${r.stderr.toString()}`);
  };
  run(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", f("ca.key"), "-out", f("ca.crt"), "-subj", "/CN=stub-kubelet-ca", "-days", "2"]);
  // The kubelet's serving certificate names its address (verified by kpulse with the CA bundle).
  writeFileSync(f("server.ext"), "subjectAltName=IP:127.0.0.1\n");
  writeFileSync(f("client.ext"), "extendedKeyUsage=clientAuth\n");
  for (const [n, cn] of [["server", "127.0.0.1"], ["client", "kpulse"]]) {
    run(["req", "-newkey", "rsa:2048", "-nodes", "-keyout", f(`${n}.key`), "-out", f(`${n}.csr`), "-subj", `/CN=${cn}`]);
    run(["x509", "-req", "-in", f(`${n}.csr`), "-CA", f("ca.crt"), "-CAkey", f("ca.key"), "-CAcreateserial", "-out", f(`${n}.crt`), "-days", "2", "-extfile", f(`${n}.ext`)]);
  }
  return {
    dir, ca: f("ca.crt"), serverCert: f("server.crt"), serverKey: f("server.key"), clientCert: f("client.crt"), clientKey: f("client.key"),
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/** Starts the stub on `port` (0 = any); with `tls`, only clients with a certificate the CA signed get through. */
export function startKubeletStub(port: number, pods: StubPod[], tls?: StubCerts): KubeletStub {
  const stub: KubeletStub = { port: 0, pods, mode: "pods", requests: 0, stop: () => server.stop(true) };
  const server: Server<unknown> = Bun.serve({
    port,
    hostname: "127.0.0.1",
    tls: tls ? { cert: Bun.file(tls.serverCert), key: Bun.file(tls.serverKey), ca: Bun.file(tls.ca), requestCert: true, rejectUnauthorized: true } : undefined,
    async fetch(req) {
      stub.requests++;
      const path = new URL(req.url).pathname;
      if (stub.mode === "hang") await Bun.sleep(60_000);
      if (stub.mode === "garbage") return new Response("{\"items\": [\u0000 this is not json", { headers: { "content-type": "application/json" } });
      if (path === "/pods") return Response.json(podList(stub.pods));
      if (path === "/configz") return Response.json({ kubeletconfig: { cgroupDriver: "cgroupfs" } });
      return new Response("not found", { status: 404 });
    },
  });
  stub.port = server.port!;
  return stub;
}

/** A free TCP port on 127.0.0.1 (bound and released), for a stub that starts later. */
export function freePort(): number {
  const s = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: () => new Response("") });
  const p = s.port!;
  s.stop(true);
  return p;
}
