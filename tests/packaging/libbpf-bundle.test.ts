// build/libbpf-bundle.so, the libbpf the executable embeds (native/libbpf-bundle/build.sh):
// it needs nothing but glibc, offers every function the host's libbpf.so.1 offers, keeps
// libelf and zlib to itself, states its glibc floor in the README, and behaves like the host's
// libbpf in the calls its build had to rewire.
import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { KPULSE, ROOT, kernelTestSkipReason } from "../e2e/agent.ts";

const BUNDLE = join(ROOT, "build/libbpf-bundle.so");
const LIBDIR = "/usr/lib/x86_64-linux-gnu";

async function run(cmd: string[]): Promise<{ code: number; out: string; err: string }> {
  const p = Bun.spawn(cmd, { cwd: ROOT, stdout: "pipe", stderr: "pipe" });
  const [out, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  return { code, out, err };
}

/** stdout of a binutils command that must succeed. */
async function tool(cmd: string[]): Promise<string> {
  const r = await run(cmd);
  if (r.code !== 0) throw new Error(`${cmd.join(" ")} exited ${r.code}: ${r.err}`);
  return r.out;
}

/** Names of the functions and objects a shared object exports (version suffixes dropped; not the version nodes, type A). */
async function exported(file: string): Promise<Set<string>> {
  const out = await tool(["nm", "-D", "--defined-only", file]);
  const rows = out.split("\n").map((l) => l.split(/\s+/)).filter((f) => f.length >= 3 && f[1] !== "A");
  return new Set(rows.map((f) => f[2]!.replace(/@.*$/, "")));
}

/** Symbol versions by their numeric parts (GLIBC_2.2.5 < GLIBC_2.17). */
function cmpVersion(a: string, b: string): number {
  const pa = a.replace("GLIBC_", "").split(".").map(Number);
  const pb = b.replace("GLIBC_", "").split(".").map(Number);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) if ((pa[i] ?? 0) !== (pb[i] ?? 0)) return (pa[i] ?? 0) - (pb[i] ?? 0);
  return 0;
}

/** The highest GLIBC_x.y symbol version a file requires. */
async function glibcFloor(file: string): Promise<string> {
  const versions = [...new Set((await tool(["objdump", "-T", file])).match(/GLIBC_\d+(\.\d+)+/g) ?? [])];
  return versions.sort(cmpVersion).at(-1)!;
}

describe("libbpf bundle", () => {
  test("depends on glibc only and is named libbpf.so.1", async () => {
    const out = await tool(["readelf", "-d", BUNDLE]);
    const needed = [...out.matchAll(/\(NEEDED\)\s+Shared library: \[([^\]]+)\]/g)].map((m) => m[1]);
    expect(needed.length).toBeGreaterThan(0);
    for (const n of needed) expect(["libc.so.6", "ld-linux-x86-64.so.2"]).toContain(n);
    expect(out).toMatch(/\(SONAME\)\s+Library soname: \[libbpf\.so\.1\]/);
    expect(out).not.toContain("TEXTREL");
  });

  test("exports every symbol of the host's libbpf.so.1 and none of libelf's or zlib's", async () => {
    const bundle = await exported(BUNDLE);
    const system = await exported(`${LIBDIR}/libbpf.so.1`);
    expect(system.size).toBeGreaterThan(200);
    expect([...system].filter((n) => !bundle.has(n))).toEqual([]);
    const leaked = [...(await exported(`${LIBDIR}/libelf.so.1`)), ...(await exported(`${LIBDIR}/libz.so.1`))].filter((n) => bundle.has(n));
    expect(leaked).toEqual([]);
  });

  test("its glibc floor is below the build host's and the README states the shipped binary's", async () => {
    const bundleFloor = await glibcFloor(BUNDLE);
    const runtimeFloor = await glibcFloor(KPULSE);
    // RHEL/OpenCloudOS 8 ship glibc 2.28: the fstat/fcntl64 forwarders keep the bundle below it.
    expect(cmpVersion(bundleFloor, "GLIBC_2.28")).toBeLessThan(0);
    const floor = cmpVersion(bundleFloor, runtimeFloor) >= 0 ? bundleFloor : runtimeFloor;
    const readme = readFileSync(join(ROOT, "README.md"), "utf8");
    expect(/glibc floor: (\d+(?:\.\d+)+)/.exec(readme)?.[1]).toBe(floor.replace("GLIBC_", ""));
  });

  test.skipIf(!!kernelTestSkipReason())("behaves like the host's libbpf where its build rewired calls (fstat, fcntl64, stderr, elf_errmsg)", async () => {
    const child = join(ROOT, "tests/packaging/libbpf-bundle-child.ts");
    const bundle = await run([process.execPath, child, "bundle"]);
    const system = await run([process.execPath, child, "libbpf.so.1"]);
    expect(bundle.code).toBe(0);
    expect(system.code).toBe(0);
    const b = JSON.parse(bundle.out);
    const s = JSON.parse(system.out);
    expect(b.btfTypes).toBeGreaterThan(100); // an ELF file read through libelf (fstat)
    expect(b.btfTypes).toBe(s.btfTypes);
    expect(b.openTruncated).toBe("null");
    expect(b.mapFd).toBeGreaterThanOrEqual(3); // moved off fd 0 with fcntl(F_DUPFD_CLOEXEC, 3)
    expect(b.mapFdLink).toBe("anon_inode:bpf-map");
    expect(b.fd0Link).toBeNull();
    // libbpf's log of libelf's error, on stderr, word for word as the host's libbpf writes it.
    const message = (err: string) => err.split("\n").filter((l) => l.startsWith("libbpf:")).map((l) => l.replace(/[0-9a-f]+-[0-9a-f]+/g, "<mem>"));
    expect(message(bundle.err)).toEqual(["libbpf: elf: failed to open <mem> as ELF file: invalid ELF file data"]);
    expect(message(bundle.err)).toEqual(message(system.err));
  });
});
