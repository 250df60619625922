// Choosing libbpf at start-up (src/bpf/libbpf-origin.ts): the embedded bundle from a memfd, and
// the host's libbpf.so.1 only when the embedded copy cannot be loaded, with the reason kept.
// Each case runs in its own process: the choice and the loaded library are process-wide.
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

const ROOT = resolve(import.meta.dir, "../..");
const CHILD = join(ROOT, "tests/unit/libbpf-origin-child.ts");
const work = mkdtempSync(join(tmpdir(), "kpulse-origin-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));

async function choose(embedded: string): Promise<any> {
  const p = Bun.spawn([process.execPath, CHILD, embedded], { cwd: ROOT, stdout: "pipe", stderr: "pipe" });
  const [out, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  if (code !== 0) throw new Error(`child exited ${code}: ${err}`);
  return JSON.parse(out);
}

describe("libbpf origin", () => {
  test("the embedded bundle is loaded from a memfd that stays open", async () => {
    const r = await choose(join(ROOT, "build/libbpf-bundle.so"));
    expect(r.origin.source).toBe("embedded");
    expect(r.origin.path).toMatch(/^\/proc\/self\/fd\/\d+$/);
    expect(r.origin.version).toMatch(/^1\.\d+$/);
    expect(r.origin.contents).toMatch(/^Debian libbpf-dev \S+, libelf-dev \S+, zlib1g-dev \S+$/);
    expect(r.origin.embeddedError).toBeUndefined();
    expect(r.sameOnSecondCall).toBe(true);
    expect(r.line).toBe(`libbpf ${r.origin.version} (embedded, built from ${r.origin.contents})`);
    expect(r.bundleMapped).toEqual(["/memfd:kpulse-libbpf-bundle.so (deleted)"]);
    expect(r.systemMapped).toEqual([]);
    expect(r.openMemfds).toEqual(["/memfd:kpulse-libbpf-bundle.so (deleted)"]);
  });

  test("the memfd is sealed non-executable where the kernel can (6.3+), and dlopen still maps it", async () => {
    const [major, minor] = (await Bun.file("/proc/sys/kernel/osrelease").text()).split(".").map(Number) as [number, number];
    const r = await choose(join(ROOT, "build/libbpf-bundle.so"));
    expect(r.origin.source).toBe("embedded");
    if (major > 6 || (major === 6 && minor >= 3)) expect(r.memfdMode & 0o111).toBe(0);
    else expect(r.memfdMode & 0o111).not.toBe(0);
  });

  test("a missing embedded file falls back to the host's libbpf, saying why", async () => {
    const missing = join(work, "no-such-bundle.so");
    const r = await choose(missing);
    expect(r.origin.source).toBe("system");
    expect(r.origin.path).toBe("libbpf.so.1");
    expect(r.origin.version).toMatch(/^1\.\d+$/);
    expect(r.origin.embeddedError).toContain(`cannot read the embedded ${missing}`);
    expect(r.line).toBe(`libbpf ${r.origin.version} (system libbpf.so.1; embedded copy failed: ${r.origin.embeddedError})`);
    expect(r.systemMapped.length).toBeGreaterThan(0);
    expect(r.openMemfds).toEqual([]);
  });

  test("an embedded file dlopen rejects falls back too, and its memfd is closed", async () => {
    const corrupt = join(work, "corrupt.so");
    writeFileSync(corrupt, "this is not an ELF shared object\n".repeat(100));
    const r = await choose(corrupt);
    expect(r.origin.source).toBe("system");
    expect(r.origin.embeddedError).toMatch(/^cannot load \/proc\/self\/fd\/\d+: /);
    expect(r.bundleMapped).toEqual([]);
    expect(r.openMemfds).toEqual([]);
    expect(r.systemMapped.length).toBeGreaterThan(0);
  });
});
