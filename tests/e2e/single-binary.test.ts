// The executable alone, copied into an empty directory, runs, loads its embedded BPF object
// and serves: nothing beside it is needed. Not even libbpf, libelf or zlib on the host: in a
// mount namespace where the host's copies are masked (an empty file bound over each), it loads
// its embedded libbpf bundle from a memfd, loads dropwatch and serves a real drop event.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { copyFileSync, mkdtempSync, readdirSync, readFileSync, realpathSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { KPULSE, ROOT, kernelTestSkipReason, metricValue, startAgent, type Agent } from "./agent.ts";
import { watch } from "./sse.ts";
import { closedUdpPort, sendUdp } from "./udp.ts";

const skip = kernelTestSkipReason();
const LIBDIR = "/usr/lib/x86_64-linux-gnu";
const BUN = join(ROOT, "node_modules/.bin/bun");

describe.skipIf(!!skip)("single binary", () => {
  let dir: string;
  let agent: Agent;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "kpulse-alone-"));
    copyFileSync(KPULSE, join(dir, "kpulse"));
    const conf = mkdtempSync(join(tmpdir(), "kpulse-conf-"));
    agent = await startAgent({ binary: join(dir, "kpulse"), config: "", dir: conf, cwd: dir, args: ["--disable-storage", "--listen", "127.0.0.1:19830"] });
  });
  afterAll(async () => {
    await agent?.stop();
    rmSync(agent?.dir ?? "", { recursive: true, force: true });
    rmSync(dir, { recursive: true, force: true });
  });

  test("runs from an empty directory with its BPF probe loaded", async () => {
    expect(readdirSync(dir)).toEqual(["kpulse"]);
    const body = await (await fetch(`${agent.url}/v1/probes`)).json();
    const dw = body.data.find((p: any) => p.name === "dropwatch");
    expect(dw.status).toBe("loaded");
    const text = await agent.metrics();
    expect(metricValue(text, "kpulse_probe_up", { probe: "dropwatch" })).toBe(1);
    // What each program costs the kernel, from the embedded object's attached programs.
    expect(metricValue(text, "kpulse_bpf_program_info", { probe: "dropwatch" })).toBe(1);
    expect(metricValue(text, "kpulse_bpf_program_run_count_total", { probe: "dropwatch" })).toBeGreaterThanOrEqual(0);
    const version = await (await fetch(`${agent.url}/version`)).json();
    expect(version.data.name).toBe("kpulse");
  });
});

/** The host's libbpf, libelf and zlib files (symlinks resolved), the ones a dynamic loader would find. */
function hostLibraryFiles(): string[] {
  const names = readdirSync(LIBDIR).filter((n) => /^(libbpf\.so|libelf[.-].*so|libz\.so)/.test(n));
  return [...new Set(names.map((n) => realpathSync(join(LIBDIR, n))))].sort();
}

/**
 * A wrapper that runs its arguments in a new mount namespace where every file of `files` is
 * replaced by an empty file; it refuses to run the command if any is still non-empty there.
 */
function maskWrapper(work: string, files: string[]): string[] {
  const empty = join(work, "empty");
  writeFileSync(empty, "");
  const script = join(work, "mask.sh");
  writeFileSync(script, [
    "set -e",
    ...files.map((f) => `mount --bind ${empty} ${f}`),
    ...files.map((f) => `[ ! -s ${f} ] || { echo "mask.sh: ${f} still visible" >&2; exit 97; }`),
    'exec "$@"',
  ].join("\n") + "\n");
  return ["unshare", "--mount", "--propagation", "private", "sh", script];
}

async function run(cmd: string[], cwd: string): Promise<{ code: number; out: string; err: string }> {
  const p = Bun.spawn(cmd, { cwd, stdout: "pipe", stderr: "pipe" });
  const [out, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  return { code, out, err };
}

/** Debian's version of a package on this (the build) machine, e.g. "1:1.1.2-0+deb12u1". */
async function debVersion(pkg: string): Promise<string> {
  const r = await run(["dpkg-query", "-W", "-f=${Version}", pkg], "/");
  if (r.code !== 0) throw new Error(`dpkg-query ${pkg}: ${r.err}`);
  return r.out;
}

/** The file-backed and memfd mappings of a process, one entry per path. */
function mappedPaths(pid: number): string[] {
  const paths = readFileSync(`/proc/${pid}/maps`, "utf8").split("\n").map((l) => l.split(/\s+/).slice(5).join(" ")).filter(Boolean);
  return [...new Set(paths)];
}

describe.skipIf(!!skip)("single binary on a host without libbpf, libelf and zlib", () => {
  let dir: string;
  let work: string;
  let wrap: string[];
  let masked: string[];
  let agent: Agent;
  beforeAll(async () => {
    masked = hostLibraryFiles();
    dir = mkdtempSync(join(tmpdir(), "kpulse-bare-"));
    work = mkdtempSync(join(tmpdir(), "kpulse-mask-"));
    copyFileSync(KPULSE, join(dir, "kpulse"));
    wrap = maskWrapper(work, masked);
    agent = await startAgent({
      binary: join(dir, "kpulse"), wrap, cwd: dir, config: "",
      args: ["--disable-storage", "--listen", "127.0.0.1:19831"],
    });
  });
  afterAll(async () => {
    await agent?.stop();
    rmSync(dir, { recursive: true, force: true });
    rmSync(work, { recursive: true, force: true });
  });

  test("the mask hides the host's libraries: a plain dlopen of libbpf.so.1 fails inside, works outside", async () => {
    expect(masked.some((f) => f.includes("libbpf.so"))).toBe(true);
    expect(masked.some((f) => f.includes("libelf"))).toBe(true);
    expect(masked.some((f) => f.includes("libz.so"))).toBe(true);
    const probe = `require("bun:ffi").dlopen("libbpf.so.1", { libbpf_major_version: { args: [], returns: "u32" } }); console.log("opened")`;
    const outside = await run([BUN, "-e", probe], work);
    expect(outside.out).toContain("opened");
    const inside = await run([...wrap, BUN, "-e", probe], work);
    expect(inside.code).not.toBe(0);
    expect(inside.out).not.toContain("opened");
  });

  test("the agent loads libbpf from its memfd, not from a host file", async () => {
    expect(readdirSync(dir)).toEqual(["kpulse"]);
    const maps = mappedPaths(agent.proc.pid);
    expect(maps).toContain("/memfd:kpulse-libbpf-bundle.so (deleted)");
    expect(maps.filter((p) => p.startsWith("/") && !p.startsWith("/memfd:") && /\/lib(bpf|elf|z)[.-]/.test(p))).toEqual([]);
    expect(agent.output()).toMatch(/msg="libbpf loaded" source=embedded version=\d+\.\d+/);
    const v = (await (await fetch(`${agent.url}/version`)).json()).data;
    expect(v.libbpf_source).toBe("embedded");
    expect(v.libbpf_contents).toContain(`libbpf-dev ${await debVersion("libbpf-dev")}`);
    expect(v.libbpf_error).toBe("");
  });

  test("dropwatch loads and a real drop reaches the watch stream", async () => {
    const probes = (await (await fetch(`${agent.url}/v1/probes`)).json()).data;
    expect(probes.find((p: any) => p.name === "dropwatch")?.status).toBe("loaded");
    // Every BPF probe would fail if libbpf were missing; here none fails at all.
    expect(probes.filter((p: any) => p.status === "failed")).toEqual([]);
    const stream = await watch(agent.url, { filters: { tracer_name: "^dropwatch$" } });
    try {
      expect(stream.status).toBe(200);
      const port = await closedUdpPort();
      const { sport } = await sendUdp(port, 3);
      const ce = await stream.waitFor((e) => e.data?.tracer_data?.dport === port, 5000);
      expect(ce.data.tracer_data.drop_reason).toBe("SKB_DROP_REASON_NO_SOCKET");
      expect(ce.data.tracer_data.sport).toBe(sport);
      expect(ce.data.tracer_data.protocol).toBe("udp");
    } finally {
      stream.close();
    }
  });

  test("`kpulse version` names the embedded libbpf and what it was built from", async () => {
    const libbpfDev = await debVersion("libbpf-dev");
    const majorMinor = /^(?:\d+:)?(\d+\.\d+)/.exec(libbpfDev)![1];
    const text = await run([...wrap, join(dir, "kpulse"), "version"], dir);
    expect(text.code).toBe(0);
    const lines = text.out.trim().split("\n");
    expect(lines[0]).toMatch(/^kpulse \S+ \(commit /);
    expect(lines[1]).toBe(
      `libbpf ${majorMinor} (embedded, built from Debian libbpf-dev ${libbpfDev}, libelf-dev ${await debVersion("libelf-dev")}, zlib1g-dev ${await debVersion("zlib1g-dev")})`,
    );
    const json = await run([...wrap, join(dir, "kpulse"), "version", "--version-format", "json"], dir);
    expect(JSON.parse(json.out).libbpf).toMatchObject({ version: majorMinor, source: "embedded", error: "" });
  });
});
