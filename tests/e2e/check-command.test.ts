// `kpulse check` through the built binary: the config errors a user meets first, each naming
// the file and line, and probe names that would silently disable nothing.
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { probeTable } from "../../src/probes/registry.ts";
import { KPULSE } from "./agent.ts";

const dir = mkdtempSync(join(tmpdir(), "kpulse-check-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function check(config: string, ...flags: string[]): { code: number; out: string } {
  const path = join(dir, `c${Math.random().toString(36).slice(2)}.toml`);
  writeFileSync(path, config);
  const r = Bun.spawnSync([KPULSE, "check", "--config", path, ...flags], { stdout: "pipe", stderr: "pipe", timeout: 10_000 });
  return { code: r.exitCode ?? -1, out: (r.stdout.toString() + r.stderr.toString()).replaceAll(path, "<file>") };
}

describe("kpulse check", () => {
  test("a misspelled BlackList name is refused with its line and the known names", () => {
    const r = check('# x\nBlackList = ["netdev_hw", "dropwach"]\n');
    expect(r.code).toBe(1);
    expect(r.out).toContain("kpulse: <file>:2: BlackList names unknown probes: dropwach (kpulse probes: ");
    for (const p of probeTable) expect(r.out).toContain(p.name);
  });

  test("HUATUO's names of probes kpulse lacks are accepted (a HUATUO file loads)", () => {
    expect(check('BlackList = ["netdev_hw", "metax_gpu", "ascend_npu"]\n')).toMatchObject({ code: 0 });
  });

  test("a misspelled --disable-tracing name is refused", () => {
    const r = check("", "--disable-tracing", "netdev,sockstats");
    expect(r.code).toBe(1);
    expect(r.out).toContain("--disable-tracing names unknown probes: sockstats");
  });

  test("/dev/zero is refused at once, not read forever", () => {
    const r = Bun.spawnSync([KPULSE, "check", "--config", "/dev/zero"], { stderr: "pipe", timeout: 10_000 });
    expect(r.exitCode).toBe(1);
    expect(r.stderr.toString()).toContain("/dev/zero: not a regular file");
  });

  test("a probe's own section is checked: a wrong type names file, key and line", () => {
    const r = check("[EventTracing.Dropwatch]\nMaxEventsPerSecond = 1e3\n");
    expect(r.code).toBe(1);
    expect(r.out).toContain("<file>:2: EventTracing.Dropwatch.MaxEventsPerSecond must be a non-negative integer, got 1000 (a float)");
  });
});
