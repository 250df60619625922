// The HTTP endpoint secured by a web config (exporter-toolkit format), with the real built agent:
//   - TLS + basic auth (a bcrypt hash made by Apache's htpasswd -B) + a bearer token: every
//     route answers 401 with `WWW-Authenticate: Basic` without credentials or with a wrong
//     password, and its normal status with them; plain HTTP to the TLS port gets no answer;
//   - client certificates (RequireAndVerifyClientCert) and min_version TLS13: refused without a
//     certificate, with one the CA did not sign, and over TLS 1.2;
//   - a real Prometheus (Debian package) scrapes both agents through TLS with basic auth, a
//     bearer token and a client certificate: `up` is 1; with a wrong password `up` is 0 (401);
//   - the local event files are 0640 in a 0750 directory, the agent started under umask 000.
// The certificates are throwaway ones made here with openssl. Agents listen on 19840-19841,
// Prometheus on 19850.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { spawn, spawnSync, type Subprocess } from "bun";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { probeTable } from "../../src/probes/registry.ts";
import { KPULSE, kernelTestSkipReason, metricValue, waitFor } from "./agent.ts";
import { closedUdpPort, sendUdp } from "./udp.ts";

const skip = kernelTestSkipReason();
const BIN = process.env.KPULSE_BIN ?? KPULSE;
const AUTH_PORT = 19840;
const MTLS_PORT = 19841;
const PROM_PORT = 19850;
const USER = "prometheus";
const PASSWORD = "s3cret pass:word"; // a space and a colon: only the first ':' separates the user
const TOKEN = "kpulse-test-token-0123456789abcdef";
const OTHERS = probeTable.map((p) => p.name).filter((n) => n !== "dropwatch");

/** Every route of the API, with the status it gives an authenticated caller. */
const ROUTES: { method: string; path: string; body?: string; status: number }[] = [
  { method: "GET", path: "/healthz", status: 204 },
  { method: "GET", path: "/readyz", status: 204 },
  { method: "GET", path: "/metrics", status: 200 },
  { method: "GET", path: "/version", status: 200 },
  { method: "GET", path: "/v1/probes", status: 200 },
  { method: "GET", path: "/v1/events/watch", status: 200 },
  { method: "POST", path: "/v1/events/watch", body: "{}", status: 200 },
  { method: "GET", path: "/no/such/route", status: 404 },
];

function sh(...cmd: string[]): string {
  const r = spawnSync(cmd, { stdout: "pipe", stderr: "pipe" });
  if (r.exitCode !== 0) throw new Error(`${cmd.join(" ")} failed (${r.exitCode}): ${r.stderr.toString().trim()}`);
  return r.stdout.toString();
}

/** A CA, a server certificate for localhost/127.0.0.1, a client certificate it signs, and a rogue self-signed one. */
function makePki(dir: string) {
  const p = (n: string) => join(dir, n);
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
  sh("openssl", "req", "-x509", ...ec, "-keyout", p("ca.key"), "-out", p("ca.crt"), "-days", "1", "-subj", "/CN=kpulse-test-ca");
  writeFileSync(p("server.ext"), "subjectAltName=DNS:localhost,IP:127.0.0.1\n");
  for (const [name, ext] of [["server", ["-extfile", p("server.ext")]], ["client", []]] as const) {
    sh("openssl", "req", ...ec, "-keyout", p(`${name}.key`), "-out", p(`${name}.csr`), "-subj", `/CN=kpulse-test-${name}`);
    sh("openssl", "x509", "-req", "-in", p(`${name}.csr`), "-CA", p("ca.crt"), "-CAkey", p("ca.key"), "-CAcreateserial", "-out", p(`${name}.crt`), "-days", "1", ...ext);
  }
  sh("openssl", "req", "-x509", ...ec, "-keyout", p("rogue.key"), "-out", p("rogue.crt"), "-days", "1", "-subj", "/CN=rogue");
  return { ca: p("ca.crt"), cert: p("server.crt"), key: p("server.key"), clientCert: p("client.crt"), clientKey: p("client.key"), rogueCert: p("rogue.crt"), rogueKey: p("rogue.key") };
}

interface Running {
  proc: Subprocess;
  out(): string;
}

function drain(proc: Subprocess): () => string {
  let out = "";
  for (const s of [proc.stdout, proc.stderr] as ReadableStream<Uint8Array>[])
    void (async () => {
      for await (const chunk of s) out += new TextDecoder().decode(chunk);
    })();
  return () => out;
}

/** The built agent on `port` with a web config, started under umask 000 (file modes must not depend on it). */
async function startSecured(dir: string, port: number, webConfig: string, config: string, ready: (url: string) => Promise<boolean>): Promise<Running> {
  writeFileSync(join(dir, "web.yml"), webConfig);
  writeFileSync(join(dir, "kpulse.toml"), config);
  const proc = spawn(
    ["sh", "-c", 'umask 000 && exec "$@"', "sh", BIN, "--config", join(dir, "kpulse.toml"), "--region", "test", "--listen", `127.0.0.1:${port}`, "--web.config.file", join(dir, "web.yml")],
    { cwd: dir, stdout: "pipe", stderr: "pipe" },
  );
  const out = drain(proc);
  await waitFor("the agent to listen over TLS", () => {
    if (proc.exitCode !== null) throw new Error(`agent exited ${proc.exitCode}:\n${out()}`);
    return /msg="serving".*scheme=https/.test(out()) || undefined;
  }, 30_000);
  await waitFor("/readyz", () => ready(`https://127.0.0.1:${port}`).catch(() => false).then((ok) => ok || undefined), 30_000, 100);
  return { proc, out };
}

async function stop(r: Running | undefined): Promise<void> {
  if (!r || r.proc.exitCode !== null) return;
  r.proc.kill("SIGTERM");
  const code = await Promise.race([r.proc.exited, Bun.sleep(10_000).then(() => -1)]);
  if (code === -1) r.proc.kill("SIGKILL");
}

describe.skipIf(!!skip)("web security: TLS, basic auth, bearer token, client certificates", () => {
  let dir: string;
  let pki: ReturnType<typeof makePki>;
  let ca: string;
  let authAgent: Running | undefined;
  let mtlsAgent: Running | undefined;
  let prom: Subprocess | undefined;
  let promOut: () => string = () => "";
  const AUTH_URL = `https://127.0.0.1:${AUTH_PORT}`;
  const MTLS_URL = `https://127.0.0.1:${MTLS_PORT}`;
  const basic = (user: string, pw: string) => `Basic ${Buffer.from(`${user}:${pw}`).toString("base64")}`;
  /** fetch over TLS trusting the test CA only (no system roots). */
  const tfetch = (url: string, init: RequestInit & { tls?: object } = {}) => fetch(url, { ...init, tls: { ca, ...init.tls } } as RequestInit);

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "kpulse-websec-"));
    pki = makePki(dir);
    ca = readFileSync(pki.ca, "utf8");
    // The hash as operators make it: Apache's htpasswd, bcrypt ($2y$), cost 10.
    const hash = sh("htpasswd", "-nbBC", "10", USER, PASSWORD).trim().slice(USER.length + 1);
    expect(hash).toStartWith("$2y$10$");
    writeFileSync(join(dir, "token"), TOKEN + "\n");

    const authDir = join(dir, "auth");
    mkdirSync(authDir);
    authAgent = await startSecured(
      authDir,
      AUTH_PORT,
      [
        "tls_server_config:",
        `  cert_file: ${pki.cert}`,
        `  key_file: ${pki.key}`,
        "http_server_config:",
        "  headers:",
        "    X-Content-Type-Options: nosniff",
        "basic_auth_users:",
        `  ${USER}: ${hash}`,
        "bearer_tokens:",
        `  - token_file: ${join(dir, "token")}`,
        "",
      ].join("\n"),
      `BlackList = ${JSON.stringify(OTHERS)}\n[Storage.LocalFile]\nPath = "events/local"\n[EventTracing.Dropwatch]\nMaxEventsPerSecond = 0\n`,
      async (url) => (await tfetch(`${url}/readyz`, { headers: { Authorization: basic(USER, PASSWORD) } })).status === 204,
    );

    const mtlsDir = join(dir, "mtls");
    mkdirSync(mtlsDir);
    const clientTls = { cert: readFileSync(pki.clientCert, "utf8"), key: readFileSync(pki.clientKey, "utf8") };
    mtlsAgent = await startSecured(
      mtlsDir,
      MTLS_PORT,
      [
        "tls_server_config:",
        `  cert_file: ${pki.cert}`,
        `  key_file: ${pki.key}`,
        `  client_ca_file: ${pki.ca}`,
        "  client_auth_type: RequireAndVerifyClientCert",
        "  min_version: TLS13",
        "",
      ].join("\n"),
      `BlackList = ${JSON.stringify([...OTHERS, "dropwatch"])}\n[Storage.LocalFile]\nPath = ""\n`,
      async (url) => (await tfetch(`${url}/readyz`, { tls: clientTls })).status === 204,
    );
  }, 90_000);

  afterAll(async () => {
    prom?.kill("SIGTERM");
    await prom?.exited;
    await stop(authAgent);
    await stop(mtlsAgent);
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test("every route without credentials: 401 with a Basic challenge (and Bearer), the JSON error envelope", async () => {
    for (const r of ROUTES) {
      const res = await tfetch(AUTH_URL + r.path, { method: r.method, body: r.body });
      expect({ route: `${r.method} ${r.path}`, status: res.status }).toEqual({ route: `${r.method} ${r.path}`, status: 401 });
      const challenges = res.headers.get("WWW-Authenticate") ?? "";
      expect(challenges).toContain('Basic realm="kpulse"');
      expect(challenges).toContain('Bearer realm="kpulse"');
      expect(res.headers.get("X-Content-Type-Options")).toBe("nosniff");
      expect(await res.json()).toEqual({ error: { code: "unauthorized", message: "valid credentials are required" } });
    }
  });

  test("every route with basic auth, and with the bearer token: the route's own status", async () => {
    for (const auth of [basic(USER, PASSWORD), `Bearer ${TOKEN}`]) {
      for (const r of ROUTES) {
        const ctl = new AbortController();
        const res = await tfetch(AUTH_URL + r.path, { method: r.method, body: r.body, headers: { Authorization: auth }, signal: ctl.signal });
        expect({ route: `${r.method} ${r.path}`, status: res.status }).toEqual({ route: `${r.method} ${r.path}`, status: r.status });
        expect(res.headers.get("X-Content-Type-Options")).toBe("nosniff");
        if (r.path === "/metrics") expect(await res.text()).toContain("kpulse_probe_up");
        ctl.abort(); // watch streams never end by themselves
      }
    }
    // The refusals of the previous test are counted, under route "unmatched" (no route ran).
    const metrics = await (await tfetch(`${AUTH_URL}/metrics`, { headers: { Authorization: `Bearer ${TOKEN}` } })).text();
    const refused = metricValue(metrics, "kpulse_http_server_requests_total", { method: "GET", route: "unmatched", status: "401" });
    expect(refused).toBeGreaterThanOrEqual(ROUTES.filter((r) => r.method === "GET").length);
  });

  test("wrong password, unknown user, wrong or truncated token: 401", async () => {
    for (const auth of [basic(USER, "s3cret pass"), basic("nobody", PASSWORD), basic(USER, ""), `Bearer ${TOKEN.slice(0, -1)}`, `Bearer ${TOKEN}0`, "Basic", TOKEN]) {
      const res = await tfetch(`${AUTH_URL}/metrics`, { headers: { Authorization: auth } });
      expect({ auth, status: res.status }).toEqual({ auth, status: 401 });
    }
  });

  test("plain HTTP to the TLS port gets no HTTP answer; TLS 1.1 is refused by the server", async () => {
    const plain = await fetch(`http://127.0.0.1:${AUTH_PORT}/healthz`, { headers: { Authorization: basic(USER, PASSWORD) } }).then(
      (r) => `HTTP ${r.status}`,
      (e) => `error: ${e}`,
    );
    expect(plain).toStartWith("error:");
    const s = spawnSync(["openssl", "s_client", "-connect", `127.0.0.1:${AUTH_PORT}`, "-tls1_1", "-cipher", "DEFAULT@SECLEVEL=0"], { stdin: "ignore", stdout: "pipe", stderr: "pipe" });
    expect(s.exitCode).not.toBe(0);
    expect(s.stdout.toString() + s.stderr.toString()).toContain("alert protocol version");
  });

  test("client certificates: none, or one the CA did not sign, fail the handshake; the CA's passes", async () => {
    const curl = (...args: string[]) =>
      spawnSync(["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "--cacert", pki.ca, ...args, `${MTLS_URL}/metrics`], { stdout: "pipe", stderr: "pipe" });
    const none = curl();
    expect(none.stdout.toString()).toBe("000");
    expect(none.stderr.toString()).toContain("certificate required");
    const rogue = curl("--cert", pki.rogueCert, "--key", pki.rogueKey);
    expect(rogue.stdout.toString()).toBe("000");
    const good = curl("--cert", pki.clientCert, "--key", pki.clientKey);
    expect(good.stdout.toString()).toBe("200");
    // min_version TLS13: a TLS 1.2 client with a valid certificate is refused all the same.
    const tls12 = curl("--cert", pki.clientCert, "--key", pki.clientKey, "--tls-max", "1.2");
    expect(tls12.stdout.toString()).toBe("000");
    expect(tls12.stderr.toString()).toContain("protocol version");
  });

  test("a real Prometheus scrapes through TLS with basic auth, a bearer token and a client certificate: up = 1; a wrong password: up = 0", async () => {
    const promDir = join(dir, "prometheus");
    mkdirSync(promDir);
    const job = (name: string, target: string, auth: string[]) => [
      `  - job_name: ${name}`,
      "    scheme: https",
      "    tls_config:",
      `      ca_file: ${pki.ca}`,
      ...auth,
      "    static_configs:",
      `      - targets: ["${target}"]`,
    ];
    writeFileSync(
      join(promDir, "prometheus.yml"),
      [
        "global:",
        "  scrape_interval: 1s",
        "  scrape_timeout: 1s",
        "scrape_configs:",
        ...job("basic", `127.0.0.1:${AUTH_PORT}`, ["    basic_auth:", `      username: ${USER}`, `      password: "${PASSWORD}"`]),
        ...job("bearer", `127.0.0.1:${AUTH_PORT}`, ["    authorization:", `      credentials_file: ${join(dir, "token")}`]),
        ...job("wrong", `127.0.0.1:${AUTH_PORT}`, ["    basic_auth:", `      username: ${USER}`, "      password: not-it"]),
        ...job("mtls", `127.0.0.1:${MTLS_PORT}`, []).flatMap((l) => (l === `      ca_file: ${pki.ca}` ? [l, `      cert_file: ${pki.clientCert}`, `      key_file: ${pki.clientKey}`] : [l])),
        "",
      ].join("\n"),
    );
    sh("promtool", "check", "config", join(promDir, "prometheus.yml"));
    prom = spawn(
      ["prometheus", `--config.file=${join(promDir, "prometheus.yml")}`, `--storage.tsdb.path=${join(promDir, "data")}`, `--web.listen-address=127.0.0.1:${PROM_PORT}`, "--log.level=warn"],
      { cwd: promDir, stdout: "pipe", stderr: "pipe" },
    );
    promOut = drain(prom);
    const api = async (path: string) => {
      const body = (await (await fetch(`http://127.0.0.1:${PROM_PORT}${path}`)).json()) as { status: string; data: any };
      if (body.status !== "success") throw new Error(`${path}: ${JSON.stringify(body)}`);
      return body.data;
    };
    await waitFor("Prometheus to be ready", async () => {
      if (prom!.exitCode !== null) throw new Error(`prometheus exited ${prom!.exitCode}:\n${promOut()}`);
      return (await fetch(`http://127.0.0.1:${PROM_PORT}/-/ready`).catch(() => undefined))?.status === 200 || undefined;
    }, 30_000, 200);
    type Target = { labels: { job: string }; health: string; lastError: string };
    const targets = await waitFor("every target scraped once", async () => {
      const t = (await api("/api/v1/targets")).activeTargets as Target[];
      return t.length === 4 && t.every((x) => x.health !== "unknown") ? t : undefined;
    }, 30_000, 200);
    const byJob = Object.fromEntries(targets.map((t) => [t.labels.job, t]));
    expect(byJob.basic).toMatchObject({ health: "up", lastError: "" });
    expect(byJob.bearer).toMatchObject({ health: "up", lastError: "" });
    expect(byJob.mtls).toMatchObject({ health: "up", lastError: "" });
    expect(byJob.wrong!.health).toBe("down");
    expect(byJob.wrong!.lastError).toContain("401");
    // `up` as Prometheus stored it, and the agent's own series arrived through TLS.
    const up = await waitFor("up for every job", async () => {
      const r = (await api(`/api/v1/query?query=${encodeURIComponent("up")}`)).result as { metric: { job: string }; value: [number, string] }[];
      return r.length === 4 ? Object.fromEntries(r.map((s) => [s.metric.job, s.value[1]])) : undefined;
    }, 30_000, 200);
    expect(up).toEqual({ basic: "1", bearer: "1", mtls: "1", wrong: "0" });
    const probeUp = (await api(`/api/v1/query?query=${encodeURIComponent('kpulse_probe_up{job="basic"}')}`)).result as unknown[];
    expect(probeUp.length).toBeGreaterThan(0);
  }, 90_000);

  test("local event files are 0640 in a 0750 directory (the agent ran under umask 000)", async () => {
    const local = join(dir, "auth", "events", "local");
    const port = await closedUdpPort();
    await sendUdp(port, 3); // dropped by the kernel: dropwatch events
    const file = await waitFor("the dropwatch event file", () => readdirSync(local).find((f) => f === "dropwatch"), 10_000);
    expect(readFileSync(join(local, file), "utf8")).toContain('"tracer_name":"dropwatch"');
    expect((statSync(join(local, file)).mode & 0o7777).toString(8)).toBe("640");
    // Both directories the agent created (events/ and events/local/) are 0750.
    expect((statSync(local).mode & 0o7777).toString(8)).toBe("750");
    expect((statSync(join(dir, "auth", "events")).mode & 0o7777).toString(8)).toBe("750");
    // The pidfile beside them is not an event file: whatever its mode, nothing else in the directory is wider than 0640.
    for (const f of readdirSync(local)) {
      const st = statSync(join(local, f));
      if (st.isFile() && f !== "kpulse.pid") expect({ f, mode: (st.mode & 0o777).toString(8) }).toEqual({ f, mode: "640" });
    }
  });
  test("`kpulse watch` reaches the secured agent: basic auth from the URL or a bearer token file, the CA from --ca-file", async () => {
    const watchArgs = ["--ca-file", pki.ca, "--tracer-name", "^dropwatch$"];
    const noAuth = spawnSync([BIN, "watch", AUTH_URL, ...watchArgs], { stdout: "pipe", stderr: "pipe" });
    expect(noAuth.exitCode).toBe(1);
    expect(noAuth.stderr.toString().trim()).toBe(`kpulse watch: the agent at ${AUTH_URL}/v1/events/watch answered HTTP 401: valid credentials are required`);
    const userUrl = `https://${USER}:${encodeURIComponent(PASSWORD)}@127.0.0.1:${AUTH_PORT}`;
    for (const args of [[userUrl, ...watchArgs], [AUTH_URL, "--bearer-token-file", join(dir, "token"), ...watchArgs]]) {
      const p = spawn([BIN, "watch", ...args], { stdout: "pipe", stderr: "pipe" });
      const out = drain(p);
      try {
        const port = await closedUdpPort();
        const line = await waitFor("a dropwatch event from `kpulse watch`", async () => {
          if (p.exitCode !== null) throw new Error(`kpulse watch exited ${p.exitCode}: ${out()}`);
          await sendUdp(port, 1);
          return out().split("\n").find((l) => l.includes(`"dport":${port}`));
        }, 15_000, 300);
        expect(JSON.parse(line).data.tracer_name).toBe("dropwatch");
        expect(out()).not.toContain(encodeURIComponent(PASSWORD)); // the credentials are never printed
      } finally {
        p.kill("SIGTERM");
        await p.exited;
      }
    }
  }, 60_000);
});

describe("a bad web config stops `kpulse check` and the start, naming both files, the key and the lines", () => {
  test("[Kpulse] WebConfigFile with a plaintext password; --web.config.file with an unknown key", () => {
    const dir = mkdtempSync(join(tmpdir(), "kpulse-websec-check-"));
    try {
      writeFileSync(join(dir, "web.yml"), "basic_auth_users:\n  alice: $2y$10$zsVxNJIZ/Ge4vp0Xebgep.FTnsExPA1q5zDCDQCpEbKgx7d9GUh7G\n  bob: hunter2\n");
      writeFileSync(join(dir, "kpulse.toml"), `[Kpulse]\nWebConfigFile = ${JSON.stringify(join(dir, "web.yml"))}\n`);
      for (const cmd of [["check"], ["--region", "r", "--listen", "127.0.0.1:19843"]]) {
        const r = spawnSync([BIN, ...cmd, "--config", join(dir, "kpulse.toml")], { stdout: "pipe", stderr: "pipe" });
        expect(r.exitCode).toBe(1);
        expect(r.stderr.toString().trim()).toBe(
          `kpulse: ${join(dir, "kpulse.toml")}:2: Kpulse.WebConfigFile: ${join(dir, "web.yml")}:3: basic_auth_users.bob: must be a bcrypt hash ("$2y$10$…", 60 characters, e.g. from \`htpasswd -nBC 10 "" | tr -d ':\\n'\`)`,
        );
      }
      writeFileSync(join(dir, "other.yml"), "tls_server_config:\n  cert_fil: x\n");
      const r = spawnSync([BIN, "check", "--config", join(dir, "kpulse.toml"), "--web.config.file", join(dir, "other.yml")], { stdout: "pipe", stderr: "pipe" });
      expect(r.exitCode).toBe(1);
      expect(r.stderr.toString()).toContain(`kpulse: --web.config.file: ${join(dir, "other.yml")}:2: tls_server_config.cert_fil: unknown key`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
