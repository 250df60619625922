import { afterAll, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { existsSync } from "node:fs";
import { sectionDefaults } from "../../src/config/spec.ts";
import { silentLogger } from "../../src/log.ts";
import { renderExposition } from "../../src/metrics/exposition.ts";
import { loadavgProbe } from "../../src/probes/loadavg/index.ts";
import { netdevProbe } from "../../src/probes/netdev/index.ts";
import { probeTable } from "../../src/probes/registry.ts";
import type { ProbeContext, ProbeDefinition } from "../../src/probes/types.ts";
import { procfsRoot } from "../../src/procfs/root.ts";

const BASIC = join(import.meta.dir, "../fixtures/basic");
const CONST = { host: "kpulse-fixture-host", region: "fixture" };

/** A probe's context: its own section at the defaults, with `overrides` applied. */
function contextFor<C>(def: ProbeDefinition<C>, prefix: string, overrides: Partial<C> = {}): ProbeContext<C> {
  const config = { ...(def.config ? sectionDefaults(def.config, "") : ({} as C)), ...overrides };
  return { config, procfs: procfsRoot(prefix), log: silentLogger, emit() {} };
}
const context = (prefix: string, netdev: Partial<typeof netdevProbe extends ProbeDefinition<infer C> ? C : never> = {}) =>
  contextFor(netdevProbe, prefix, netdev);

async function scrape<C>(def: ProbeDefinition<C>, ctx: ProbeContext<C>, namespace = "kpulse"): Promise<string> {
  const inst = await def.create(ctx);
  const samples = await inst.collect!();
  await inst.stop();
  return renderExposition({ namespace, constLabels: CONST }, [{ prefix: def.name, samples }]);
}

const expectedLines = (dir: string, file: string) =>
  readFileSync(join(BASIC, dir, file), "utf8").split("\n").filter((l) => l.trim() !== "");

const devices = (out: string) => [...new Set([...out.matchAll(/device="([^"]*)"/g)].map((m) => m[1]))].sort();

// Every procfs metric probe in the table has expected output for the basic fixture tree.
const metricProbes = probeTable.filter((p) => p.kind === "metric" && p.source.startsWith("procfs"));

test("the table has procfs metric probes to check", () => {
  expect(metricProbes.length).toBeGreaterThanOrEqual(2);
});

describe.each(metricProbes.map((def) => [`${def.name}.txt`, def] as const))("%s", (file, def) => {
  for (const [dir, ns] of [["expected", "kpulse"], ["expected-huatuo", "huatuo_bamai"]] as const) {
    test(`every line of ${dir}/${file} appears`, async () => {
      expect(existsSync(join(BASIC, dir, file)), `${dir}/${file} is missing for probe ${def.name}`).toBe(true);
      const out = (await scrape(def, contextFor(def, BASIC), ns)).split("\n");
      const want = expectedLines(dir, file);
      expect(want.length).toBeGreaterThan(0);
      for (const line of want) expect(out).toContain(line);
    });
  }
});

describe("netdev probe", () => {
  test("definition", () => {
    expect(netdevProbe).toMatchObject({
      name: "netdev",
      kind: "metric",
      source: "procfs /proc/<pid>/net/dev",
      defaultEnabled: true,
    });
    expect(netdevProbe.config?.path).toBe("MetricCollector.NetdevStats");
  });

  test("16 counters per device", async () => {
    const inst = await netdevProbe.create(context(BASIC));
    const samples = await inst.collect!();
    expect(samples).toHaveLength(4 * 16);
    expect(samples.every((s) => s.type === "counter" && s.name.endsWith("_total"))).toBe(true);
  });

  test("DeviceExcluded drops lo, docker and veth", async () => {
    const out = await scrape(netdevProbe, context(BASIC, { DeviceExcluded: "^(lo|docker\\d+|veth.*)$" }));
    expect(devices(out)).toEqual(["eth0"]);
  });

  test("DeviceIncluded whitelist, unanchored: 'eth' also matches veth", async () => {
    const out = await scrape(netdevProbe, context(BASIC, { DeviceIncluded: "eth" }));
    expect(devices(out)).toEqual(["eth0", "veth3f2a1b9"]);
  });

  test("both: included and not excluded", async () => {
    const out = await scrape(netdevProbe, context(BASIC, { DeviceIncluded: "e", DeviceExcluded: "veth" }));
    expect(devices(out)).toEqual(["docker0", "eth0"]);
  });

  test("RE2 (?i) flag is honoured", async () => {
    const out = await scrape(netdevProbe, context(BASIC, { DeviceIncluded: "(?i)^ETH" }));
    expect(devices(out)).toEqual(["eth0"]);
  });

  test("invalid regex fails create() naming the setting", () => {
    expect(() => netdevProbe.create(context(BASIC, { DeviceExcluded: "(" }))).toThrow(
      /MetricCollector\.NetdevStats\.Device excluded: invalid regular expression "\("/,
    );
  });

  test("EnableNetlink=true reads rtnetlink (live kernel): procfs mode's 16 series plus the detailed ones", async () => {
    // The fixture tree has no proc/1/ns/net: the probe falls back to its own network namespace,
    // where lo always exists. tests/e2e/netlink-metrics.test.ts checks the values against procfs.
    const inst = await netdevProbe.create(context(BASIC, { EnableNetlink: true, DeviceIncluded: "^lo$" }));
    const samples = await inst.collect!();
    const names = samples.map((s) => s.name);
    for (const stat of ["receive_bytes", "receive_frame", "transmit_colls", "transmit_carrier", "receive_multicast"]) expect(names).toContain(`${stat}_total`);
    for (const extra of ["multicast", "collisions", "receive_crc_errors", "receive_length_errors", "receive_nohandler"]) expect(names).toContain(`${extra}_total`);
    expect(samples.length).toBeGreaterThanOrEqual(29);
    expect(samples.every((s) => s.type === "counter" && s.labels?.device === "lo" && Number.isInteger(s.value))).toBe(true);
  });
});

describe("bad fixture trees", () => {
  const root = mkdtempSync(join(tmpdir(), "kpulse-probes-"));
  afterAll(() => rmSync(root, { recursive: true, force: true }));
  const tree = (name: string, files: Record<string, string>) => {
    const dir = join(root, name);
    for (const [path, text] of Object.entries(files)) {
      mkdirSync(join(dir, path, ".."), { recursive: true });
      writeFileSync(join(dir, path), text);
    }
    return dir;
  };

  test("malformed net/dev: collect throws naming the file", async () => {
    const dir = tree("bad-netdev", { "proc/1/net/dev": "Inter-|\n face |\n  eth0: 1 2 3\n" });
    const inst = await netdevProbe.create(context(dir));
    await expect(inst.collect!()).rejects.toThrow(`${join(dir, "proc/1/net/dev")}:3: device eth0: expected 16 counters, got 3`);
  });

  test("falls back to /proc/net/dev when /proc/1/net/dev is unreadable", async () => {
    const text = readFileSync(join(BASIC, "proc/1/net/dev"), "utf8");
    const dir = tree("self-only", { "proc/net/dev": text });
    const out = await scrape(netdevProbe, context(dir));
    expect(devices(out)).toEqual(["docker0", "eth0", "lo", "veth3f2a1b9"]);
  });

  test("neither file readable: error names both", async () => {
    const dir = tree("empty", { "proc/.keep": "" });
    const inst = await netdevProbe.create(context(dir));
    await expect(inst.collect!()).rejects.toThrow(
      new RegExp(`cannot read ${join(dir, "proc/1/net/dev")} .* nor ${join(dir, "proc/net/dev")}`),
    );
  });

  test("malformed loadavg: collect throws naming the file", async () => {
    const dir = tree("bad-loadavg", { "proc/loadavg": "0.30 0.20\n" });
    const inst = await loadavgProbe.create(contextFor(loadavgProbe, dir));
    await expect(inst.collect!()).rejects.toThrow(`${join(dir, "proc/loadavg")}: expected 5 fields, got 2`);
  });

  test("missing loadavg: collect throws naming the file", async () => {
    const dir = tree("no-loadavg", { "proc/.keep": "" });
    const inst = await loadavgProbe.create(contextFor(loadavgProbe, dir));
    await expect(inst.collect!()).rejects.toThrow(join(dir, "proc/loadavg"));
  });
});
