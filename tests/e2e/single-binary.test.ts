// The executable alone, copied into an empty directory, runs, loads its embedded BPF object
// and serves: nothing beside it is needed. Not even libbpf, libelf or zlib on the host. Two bare
// hosts, each in its own mount namespace: this host with its libbpf, libelf and zlib files
// masked (an empty file bound over each), and a root file system holding only the glibc files
// `ldd` names and the binary (chroot, with /proc, /sys and /dev). In both it loads its embedded
// libbpf bundle from a memfd, loads dropwatch and serves a real drop event.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, realpathSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
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

  test("loads the embedded libbpf where executable memfds are forbidden (vm.memfd_noexec=2)", async () => {
    // The sysctl is per PID namespace: set it in a new one only.
    const noexec = (cmd: string[]) =>
      run(["unshare", "--pid", "--fork", "--mount-proc", "sh", "-c", 'echo 2 > /proc/sys/vm/memfd_noexec && exec "$@"', "sh", ...cmd], dir);
    const MFD_EXEC = 0x10;
    const probe = `const fd = require("bun:ffi").dlopen("libc.so.6", { memfd_create: { args: ["cstring", "u32"], returns: "i32" } }).symbols.memfd_create("x", ${MFD_EXEC}); console.log(fd)`;
    expect(Number((await run([BUN, "-e", probe], dir)).out)).toBeGreaterThanOrEqual(0);
    expect(Number((await noexec([BUN, "-e", probe])).out)).toBe(-1); // the policy holds there
    const v = await noexec([join(dir, "kpulse"), "version"]);
    expect(v.code).toBe(0);
    expect(v.out.split("\n")[1]).toMatch(/^libbpf \d+\.\d+ \(embedded, built from /);
  });
});

/** The host's libbpf, libelf and zlib files (symlinks resolved), the ones a dynamic loader would find. */
function hostLibraryFiles(): string[] {
  const names = readdirSync(LIBDIR).filter((n) => /^(libbpf\.so|libelf[.-].*so|libz\.so)/.test(n));
  return [...new Set(names.map((n) => realpathSync(join(LIBDIR, n))))].sort();
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

/** A bare host: how to run the binary there (`wrap` + `binary`), and where its config lives. */
interface BareHost {
  wrap: string[];
  binary: string;
  cwd: string;
  /** The agent's config directory, visible at the same path inside. */
  confDir: string;
  /** A check that the host really is bare, run before the agent starts. */
  control(): Promise<void>;
  /** Every file the agent maps must pass this (beside the memfd). */
  mapsAllowed(path: string): boolean;
}

/** This host, with its libbpf, libelf and zlib files masked in a private mount namespace. */
async function maskedHost(work: string): Promise<BareHost> {
  const files = hostLibraryFiles();
  const dir = join(work, "alone");
  const confDir = join(work, "conf");
  mkdirSync(dir);
  mkdirSync(confDir);
  copyFileSync(KPULSE, join(dir, "kpulse"));
  const empty = join(work, "empty");
  writeFileSync(empty, "");
  const script = join(work, "mask.sh");
  writeFileSync(script, [
    "set -e",
    ...files.map((f) => `mount --bind ${empty} ${f}`),
    ...files.map((f) => `[ ! -s ${f} ] || { echo "mask.sh: ${f} still visible" >&2; exit 97; }`),
    'exec "$@"',
  ].join("\n") + "\n");
  const wrap = ["unshare", "--mount", "--propagation", "private", "sh", script];
  return {
    wrap, binary: join(dir, "kpulse"), cwd: dir, confDir,
    async control() {
      expect(readdirSync(dir)).toEqual(["kpulse"]);
      for (const lib of ["libbpf.so", "libelf", "libz.so"]) expect(files.some((f) => f.includes(lib))).toBe(true);
      // A plain dlopen of libbpf.so.1 works here and fails inside.
      const probe = `require("bun:ffi").dlopen("libbpf.so.1", { libbpf_major_version: { args: [], returns: "u32" } }); console.log("opened")`;
      expect((await run([BUN, "-e", probe], work)).out).toContain("opened");
      const inside = await run([...wrap, BUN, "-e", probe], work);
      expect(inside.code).not.toBe(0);
      expect(inside.out).not.toContain("opened");
    },
    mapsAllowed: (p) => !/\/lib(bpf|elf|z)[.-]/.test(p),
  };
}

/** A root file system with only the glibc files `ldd` names for the binary, and the binary. */
async function glibcOnlyRoot(work: string): Promise<BareHost> {
  const root = join(work, "root");
  const confDir = join(work, "conf");
  mkdirSync(confDir);
  const ldd = await run(["ldd", KPULSE], work);
  if (ldd.code !== 0) throw new Error(`ldd: ${ldd.err}`);
  const libs = [...ldd.out.matchAll(/(?:=> )?(\/\S+) \(0x/g)].map((m) => m[1]!);
  for (const lib of libs) {
    mkdirSync(join(root, dirname(lib)), { recursive: true });
    copyFileSync(realpathSync(lib), join(root, lib));
  }
  copyFileSync(KPULSE, join(root, "kpulse"));
  for (const d of ["proc", "sys", "dev", "tmp"]) mkdirSync(join(root, d), { recursive: true });
  mkdirSync(join(root, confDir), { recursive: true });
  const script = join(work, "chroot.sh");
  writeFileSync(script, [
    "set -e",
    `mount -t proc proc ${root}/proc`,
    `mount --rbind /sys ${root}/sys`,
    `mount --rbind /dev ${root}/dev`,
    `mount --bind ${confDir} ${root}${confDir}`,
    `exec chroot ${root} "$@"`,
  ].join("\n") + "\n");
  return {
    wrap: ["unshare", "--mount", "--propagation", "private", "sh", script], binary: "/kpulse", cwd: work, confDir,
    async control() {
      const files = (readdirSync(root, { recursive: true }) as string[]).filter((f) => !f.startsWith("proc") && !/\/$/.test(f));
      const regular = files.filter((f) => !["proc", "sys", "dev", "tmp"].includes(f) && !f.startsWith("tmp/"));
      const sos = regular.filter((f) => /\.so/.test(f)).map((f) => f.split("/").at(-1)!).sort();
      expect(sos.every((n) => /^(libc|libm|libdl|libpthread|ld-linux-x86-64)\.so/.test(n))).toBe(true);
      expect(sos).toContain("libc.so.6");
      expect(sos.some((n) => /lib(bpf|elf|z)\./.test(n))).toBe(false);
    },
    // Inside the chroot every mapped file is under its root (/proc/<pid>/maps shows host paths).
    mapsAllowed: (p) => p.startsWith(root + "/"),
  };
}

for (const [name, make] of [
  ["this host with libbpf, libelf and zlib masked", maskedHost],
  ["a root file system holding only glibc", glibcOnlyRoot],
] as const) {
  describe.skipIf(!!skip)(`single binary on a bare host: ${name}`, () => {
    let work: string;
    let host: BareHost;
    let agent: Agent;
    beforeAll(async () => {
      work = mkdtempSync(join(tmpdir(), "kpulse-bare-"));
      host = await make(work);
      agent = await startAgent({
        binary: host.binary, wrap: host.wrap, cwd: host.cwd, dir: host.confDir, config: "",
        args: ["--disable-storage", "--listen", "127.0.0.1:19831"],
      });
    });
    afterAll(async () => {
      await agent?.stop();
      rmSync(work, { recursive: true, force: true });
    });

    test("the host really lacks the libraries", async () => {
      await host.control();
    });

    test("the agent loads libbpf from its memfd, not from a file", async () => {
      const maps = mappedPaths(agent.proc.pid);
      expect(maps).toContain("/memfd:kpulse-libbpf-bundle.so (deleted)");
      // Files only: not memfds, nor shared anonymous memory (shown as "/dev/zero (deleted)").
      const files = maps.filter((p) => p.startsWith("/") && !p.startsWith("/memfd:") && p !== "/dev/zero (deleted)");
      expect(files.filter((p) => /\/lib(bpf|elf|z)[.-]/.test(p))).toEqual([]);
      expect(files.filter((p) => !host.mapsAllowed(p))).toEqual([]);
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
      const text = await run([...host.wrap, host.binary, "version"], host.cwd);
      expect(text.code).toBe(0);
      const lines = text.out.trim().split("\n");
      expect(lines[0]).toMatch(/^kpulse \S+ \(commit /);
      expect(lines[1]).toBe(
        `libbpf ${majorMinor} (embedded, built from Debian libbpf-dev ${libbpfDev}, libelf-dev ${await debVersion("libelf-dev")}, zlib1g-dev ${await debVersion("zlib1g-dev")})`,
      );
      const json = await run([...host.wrap, host.binary, "version", "--version-format", "json"], host.cwd);
      expect(JSON.parse(json.out).libbpf).toMatchObject({ version: majorMinor, source: "embedded", error: "" });
    });
  });
}
