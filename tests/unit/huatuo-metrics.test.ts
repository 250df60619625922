// HUATUO's procfs host metric probes: cpu_util, memory_vmstat, memory_buddyinfo, memory_events,
// diskio, mountpoint_perm, arp, netstat, tcp_memory. Parsers (real files of the build host and
// hand-made edge cases), the Included/Excluded filters, and the basic fixture tree rendered
// exactly as tests/fixtures/basic/expected{,-huatuo}/<probe>.txt.
import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { sectionDefaults } from "../../src/config/spec.ts";
import { silentLogger } from "../../src/log.ts";
import { renderExposition } from "../../src/metrics/exposition.ts";
import type { ContainerLabels, Sample } from "../../src/metrics/sample.ts";
import { arpProbe } from "../../src/probes/arp/index.ts";
import { countArpEntries, parseArpCacheEntries } from "../../src/probes/arp/parse.ts";
import { cpuUtilBetween, cpuUtilProbe, CpuUtilTracker } from "../../src/probes/cpu_util/index.ts";
import { BOOT, parseProcStatCpu, type CpuTimes } from "../../src/probes/cpu_util/parse.ts";
import { diskioProbe, IowaitTracker } from "../../src/probes/diskio/index.ts";
import { parseDiskstats } from "../../src/probes/diskio/parse.ts";
import { memoryBuddyinfoProbe } from "../../src/probes/memory_buddyinfo/index.ts";
import { parseBuddyInfo } from "../../src/probes/memory_buddyinfo/parse.ts";
import { memoryEventSamples, memoryEventsProbe } from "../../src/probes/memory_events/index.ts";
import { parseMemoryEvents } from "../../src/probes/memory_events/parse.ts";
import { memoryVmstatProbe, vmstatSamples } from "../../src/probes/memory_vmstat/index.ts";
import { parseKeyValues } from "../../src/probes/memory_vmstat/parse.ts";
import { mountpointPermProbe } from "../../src/probes/mountpoint_perm/index.ts";
import { parseMountInfo, unescapeMountPath, visibleMounts } from "../../src/probes/mountpoint_perm/parse.ts";
import { netstatProbe, netstatSamples } from "../../src/probes/netstat/index.ts";
import { parseNetstat } from "../../src/probes/netstat/parse.ts";
import { tcpMemoryProbe, tcpMemorySamples } from "../../src/probes/tcp_memory/index.ts";
import { parseTcpMem } from "../../src/probes/tcp_memory/parse.ts";
import { makeFilter } from "../../src/metrics/filter.ts";
import { ProbeUnsupportedError, type ProbeContext, type ProbeDefinition } from "../../src/probes/types.ts";
import { procfsRoot } from "../../src/procfs/root.ts";

const BASIC = join(import.meta.dir, "../fixtures/basic");
const CONST = { host: "kpulse-fixture-host", region: "fixture" };
const NEAR_2_64 = "18446744073709551615";

function contextFor<C>(def: ProbeDefinition<C>, prefix: string, overrides: Partial<C> = {}): ProbeContext<C> {
  const config = { ...(def.config ? sectionDefaults(def.config, "") : ({} as C)), ...overrides };
  return { config, procfs: procfsRoot(prefix), log: silentLogger, emit() {} };
}

async function collect<C>(def: ProbeDefinition<C>, prefix: string, overrides: Partial<C> = {}): Promise<Sample[]> {
  const inst = await def.create(contextFor(def, prefix, overrides));
  try {
    return await inst.collect!();
  } finally {
    await inst.stop();
  }
}

const render = (probe: string, samples: Sample[], namespace = "kpulse") =>
  renderExposition({ namespace, constLabels: CONST }, [{ prefix: probe, samples }]);

const names = (samples: Sample[]) => samples.map((s) => s.name).sort();
const byName = (samples: Sample[], name: string) => samples.find((s) => s.name === name)?.value;

const root = mkdtempSync(join(tmpdir(), "kpulse-huatuo-metrics-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let trees = 0;
/** A throw-away procfs tree with the given files. */
function tree(files: Record<string, string>): string {
  const dir = join(root, `t${trees++}`);
  mkdirSync(dir, { recursive: true });
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(join(dir, path, ".."), { recursive: true });
    writeFileSync(join(dir, path), text);
  }
  return dir;
}

// ── the fixture tree, rendered exactly ─────────────────────────────────────────────────────

const FIXTURE_PROBES: ProbeDefinition<any>[] = [
  cpuUtilProbe,
  memoryVmstatProbe,
  memoryBuddyinfoProbe,
  diskioProbe,
  mountpointPermProbe,
  arpProbe,
  netstatProbe,
  tcpMemoryProbe,
];

describe.each(FIXTURE_PROBES.map((d) => [d.name, d] as const))("fixture %s", (name, def) => {
  test("is a procfs metric probe (the fixture loop selects it)", () => {
    expect(def.kind).toBe("metric");
    expect(def.source.startsWith("procfs ")).toBe(true);
  });
  for (const [dir, ns] of [["expected", "kpulse"], ["expected-huatuo", "huatuo_bamai"]] as const) {
    test(`renders exactly ${dir}/${name}.txt`, async () => {
      const file = join(BASIC, dir, `${name}.txt`);
      expect(existsSync(file)).toBe(true);
      expect(render(name, await collect(def, BASIC), ns)).toBe(readFileSync(file, "utf8"));
    });
  }
});

test("memory_events is not a procfs probe (no host file, so no fixture output)", () => {
  expect(memoryEventsProbe.kind).toBe("metric");
  expect(memoryEventsProbe.source.startsWith("procfs")).toBe(false);
  expect(memoryEventsProbe.source).toBe("cgroup <container>/memory.events (containers only)");
});

// ── cpu_util ────────────────────────────────────────────────────────────────────────────────

const times = (user: number, system: number, idle: number, extra: Partial<CpuTimes> = {}): CpuTimes => ({
  ...BOOT, user, system, idle, ...extra,
});

describe("parseProcStatCpu", () => {
  test("this host's /proc/stat", () => {
    const t = parseProcStatCpu(readFileSync("/proc/stat", "utf8"));
    expect(t.user + t.idle).toBeGreaterThan(0);
  });

  test("columns in kernel order; guest columns read but optional", () => {
    expect(parseProcStatCpu("cpu  1 2 3 4 5 6 7 8 9 10\ncpu0 1 2 3 4 5 6 7 8 9 10\n")).toEqual({
      user: 1, nice: 2, system: 3, idle: 4, iowait: 5, irq: 6, softirq: 7, steal: 8, guest: 9, guestNice: 10,
    });
    expect(parseProcStatCpu("cpu  1 2 3 4 5 6 7 8\n").guestNice).toBe(0);
  });

  test("extra columns from a newer kernel are ignored", () => {
    expect(parseProcStatCpu("cpu  1 2 3 4 5 6 7 8 9 10 11 12\n").steal).toBe(8);
  });

  test("counters near 2^64 parse (as float64, like HUATUO)", () => {
    expect(parseProcStatCpu(`cpu  ${NEAR_2_64} 0 0 0 0 0 0 0\n`).user).toBe(2 ** 64);
  });

  test("missing columns, a truncated line, no cpu line, garbage: errors name the file", () => {
    expect(() => parseProcStatCpu("cpu  1 2 3 4\n", "/x/stat")).toThrow("/x/stat:1: expected at least 8 columns on the cpu line, got 4");
    expect(() => parseProcStatCpu("intr 1\ncpu  1 2 3 4 5 6 7", "/x/stat")).toThrow("/x/stat:2: expected at least 8 columns");
    expect(() => parseProcStatCpu("", "/x/stat")).toThrow('/x/stat: no aggregate "cpu" line');
    expect(() => parseProcStatCpu("cpu0 1 2 3 4 5 6 7 8\n", "/x/stat")).toThrow("no aggregate");
    expect(() => parseProcStatCpu("cpu  1 2 x 4 5 6 7 8\n", "/x/stat")).toThrow('/x/stat:1: system is not a tick count: "x"');
  });
});

describe("cpu utilisation", () => {
  test("usr = user+nice, sys = system+irq+softirq, total adds steal; shares of all ticks", () => {
    const u = cpuUtilBetween(BOOT, { ...BOOT, user: 10, nice: 10, system: 5, irq: 3, softirq: 2, steal: 10, idle: 50, iowait: 10 });
    expect(u).toEqual({ usr: 20, sys: 10, total: 40 });
  });

  test("guest time is not counted twice (it is inside user already)", () => {
    const u = cpuUtilBetween(BOOT, { ...BOOT, user: 50, idle: 50, guest: 40 });
    expect(u).toEqual({ usr: 50, sys: 0, total: 50 });
  });

  test("no elapsed ticks / a counter going back are reported, not divided", () => {
    expect(cpuUtilBetween(times(1, 1, 1), times(1, 1, 1))).toBe("elapsed");
    expect(cpuUtilBetween(times(5, 1, 1), times(4, 1, 9))).toBe("backwards");
  });

  test("tracker: since boot first, then deltas; at most one new value per second", () => {
    const tr = new CpuUtilTracker(1000);
    expect(tr.fresh(0)).toBeUndefined();
    expect(tr.update(0, times(10, 10, 80), "stat")).toEqual({ usr: 10, sys: 10, total: 20 }); // since boot
    expect(tr.fresh(999)).toEqual({ usr: 10, sys: 10, total: 20 }); // reused, nothing read
    expect(tr.fresh(1000)).toBeUndefined();
    expect(tr.update(1000, times(60, 10, 130), "stat")).toEqual({ usr: 50, sys: 0, total: 50 }); // delta
  });

  test("tracker: no tick elapsed keeps the last value; a reset restarts from the new reading", () => {
    const tr = new CpuUtilTracker(0);
    const first = tr.update(0, times(10, 10, 80), "stat");
    expect(tr.update(1, times(10, 10, 80), "stat")).toBe(first);
    expect(tr.update(2, times(1, 1, 1), "stat")).toBe(first); // went back: baseline reset
    expect(tr.update(3, times(2, 1, 2), "stat")).toEqual({ usr: 50, sys: 0, total: 50 });
  });

  test("tracker: a /proc/stat of zeros on the first scrape is an error", () => {
    expect(() => new CpuUtilTracker().update(0, BOOT, "/x/stat")).toThrow("/x/stat: no CPU time has elapsed");
  });

  test("probe: second scrape within a second reuses the value without reading", async () => {
    const dir = tree({ "proc/stat": "cpu  10 0 10 80 0 0 0 0 0 0\n" });
    const inst = await cpuUtilProbe.create(contextFor(cpuUtilProbe, dir));
    const first = await inst.collect!();
    writeFileSync(join(dir, "proc/stat"), "garbage\n"); // would throw if read
    expect(await inst.collect!()).toEqual(first);
    expect(byName(first, "total")).toBe(20);
  });
});

// ── diskio ──────────────────────────────────────────────────────────────────────────────────

describe("parseDiskstats", () => {
  test("this host's /proc/diskstats", () => {
    const disks = parseDiskstats(readFileSync("/proc/diskstats", "utf8"));
    for (const d of disks) expect(d.device).not.toBe("");
  });

  test("14-field (old), 18 and 20-field (discard, flush) lines; extra columns ignored", () => {
    const base = "8 0 sda 1 2 3 4 5 6 7 8 9 10 11";
    for (const extra of ["", " 12 13 14 15", " 12 13 14 15 16 17", " 12 13 14 15 16 17 18 19"]) {
      expect(parseDiskstats(base + extra + "\n")).toEqual([{
        major: 8, minor: 0, device: "sda", readsCompleted: 1, readsMerged: 2, sectorsRead: 3, readTimeMs: 4,
        writesCompleted: 5, writesMerged: 6, sectorsWritten: 7, writeTimeMs: 8, ioInProgress: 9, ioTimeMs: 10, weightedIoTimeMs: 11,
      }]);
    }
  });

  test("partitions, dm, loop and ram devices are all kept (as HUATUO)", () => {
    const text = ["8 0 sda", "8 1 sda1", "253 0 dm-0", "7 0 loop0", "1 0 ram0"].map((d) => `${d} 0 0 0 0 0 0 0 0 0 0 0`).join("\n");
    expect(parseDiskstats(text).map((d) => d.device)).toEqual(["sda", "sda1", "dm-0", "loop0", "ram0"]);
  });

  test("empty file: no devices (a host may have none)", () => {
    expect(parseDiskstats("")).toEqual([]);
  });

  test("counters near 2^64", () => {
    expect(parseDiskstats(`8 0 sda ${NEAR_2_64} 0 0 0 0 0 0 0 0 0 0\n`)[0]!.readsCompleted).toBe(2 ** 64);
  });

  test("missing columns, truncated last line, garbage: errors name file and line", () => {
    expect(() => parseDiskstats("8 0 sda 1 2 3 4 5 6 7 8 9 10 11\n8 1 sda1 1 2 3", "/x/diskstats")).toThrow(
      '/x/diskstats:2: expected major, minor, name and 11 counters, got 6 fields in "8 1 sda1 1 2 3"',
    );
    expect(() => parseDiskstats("8 0 sda 1 2 3 x 5 6 7 8 9 10 11\n", "/x/diskstats")).toThrow('/x/diskstats:1: device sda: readTimeMs is not a counter: "x"');
    expect(() => parseDiskstats("8 a sda 1 2 3 4 5 6 7 8 9 10 11\n", "/x/diskstats")).toThrow("/x/diskstats:1: bad device number 8:a");
  });
});

describe("diskio series", () => {
  test("bytes are sectors × 512, times are seconds, io_in_progress is a gauge", async () => {
    const dir = tree({
      "proc/diskstats": "259 0 nvme0n1 10 0 8 1500 20 0 16 2500 3 0 0\n",
      "proc/stat": "cpu  0 0 0 90 10 0 0 0 0 0\n",
    });
    const s = await collect(diskioProbe, dir);
    const get = (n: string) => s.find((x) => x.name === n)!;
    expect(get("read_requests_total")).toMatchObject({ type: "counter", value: 10, labels: { device: "nvme0n1" } });
    expect(get("write_requests_total").value).toBe(20);
    expect(get("read_bytes_total").value).toBe(8 * 512);
    expect(get("written_bytes_total").value).toBe(16 * 512);
    expect(get("read_time_seconds_total").value).toBe(1.5);
    expect(get("write_time_seconds_total").value).toBe(2.5);
    expect(get("io_in_progress")).toMatchObject({ type: "gauge", value: 3 });
    expect(get("disk_iowait_percent")).toMatchObject({ type: "gauge", value: 10 }); // since boot
    expect(get("disk_iowait_percent").labels).toBeUndefined();
    for (const x of s) expect(x.name.endsWith("_total")).toBe(x.type === "counter");
  });

  test("iowait: since boot, then the delta between scrapes; no tick elapsed keeps the last value", () => {
    const tr = new IowaitTracker();
    expect(tr.update({ ...BOOT, idle: 90, iowait: 10 }, "stat")).toBe(10);
    expect(tr.update({ ...BOOT, idle: 120, iowait: 80 }, "stat")).toBe(70); // 70 of 100 ticks
    expect(tr.update({ ...BOOT, idle: 120, iowait: 80 }, "stat")).toBe(70);
    expect(() => new IowaitTracker().update(BOOT, "/x/stat")).toThrow("/x/stat: no CPU time has elapsed");
  });

  test("the iowait delta is really computed across scrapes of the probe", async () => {
    const dir = tree({ "proc/diskstats": "", "proc/stat": "cpu  0 0 0 90 10 0 0 0\n" });
    const inst = await diskioProbe.create(contextFor(diskioProbe, dir));
    expect(byName(await inst.collect!(), "disk_iowait_percent")).toBe(10);
    writeFileSync(join(dir, "proc/stat"), "cpu  0 0 0 100 100 0 0 0\n");
    expect(byName(await inst.collect!(), "disk_iowait_percent")).toBe(90);
  });
});

// ── memory_vmstat / memory_events ───────────────────────────────────────────────────────────

describe("parseKeyValues (vmstat, memory.stat, memory.events)", () => {
  test("this host's /proc/vmstat", () => {
    const kv = parseKeyValues(readFileSync("/proc/vmstat", "utf8"), "/proc/vmstat");
    expect(kv.map(([k]) => k)).toContain("nr_free_pages");
  });

  test("values: exact integers, near 2^64, negative", () => {
    expect(parseKeyValues(`a 1\nb ${NEAR_2_64}\nc -3\n`, "f")).toEqual([["a", 1], ["b", 2 ** 64], ["c", -3]]);
  });

  test("malformed, truncated, duplicate, empty: errors name file and line", () => {
    expect(() => parseKeyValues("nr_free_pages 1\nnr_dirty\n", "/x/vmstat")).toThrow('/x/vmstat:2: expected "key value", got "nr_dirty"');
    expect(() => parseKeyValues("a 1 2\n", "/x/vmstat")).toThrow("/x/vmstat:1: expected");
    expect(() => parseKeyValues("a 1.5\n", "/x/vmstat")).toThrow('/x/vmstat:1: a is not an integer: "1.5"');
    expect(() => parseKeyValues("a 1\na 2\n", "/x/vmstat")).toThrow("/x/vmstat:2: duplicate key a");
    expect(() => parseKeyValues("", "/x/vmstat")).toThrow("/x/vmstat: empty file");
  });
});

describe("memory_vmstat filter (IncludedOnHost / ExcludedOnHost)", () => {
  const VM = "nr_free_pages 5\nnr_dirty 1\npgscan_kswapd 7\nnr_dirty_threshold 9\npgscan_direct_total 3\n";
  const dir = tree({ "proc/vmstat": VM });
  const run = (o: Parameters<typeof contextFor<any>>[2]) => collect(memoryVmstatProbe, dir, o).then(names);

  test("none: every key, HELP '/proc/vmstat <key>', gauges", async () => {
    const s = await collect(memoryVmstatProbe, dir);
    expect(names(s)).toEqual(["nr_dirty", "nr_dirty_threshold", "nr_free_pages", "pgscan_direct_total", "pgscan_kswapd"]);
    expect(s.find((x) => x.name === "nr_dirty")).toEqual({ name: "nr_dirty", help: "/proc/vmstat nr_dirty", type: "gauge", value: 1 });
  });
  test("Excluded only", async () => {
    expect(await run({ ExcludedOnHost: "total" })).toEqual(["nr_dirty", "nr_dirty_threshold", "nr_free_pages", "pgscan_kswapd"]);
  });
  test("Included only (unanchored)", async () => {
    expect(await run({ IncludedOnHost: "nr_dirty|pgscan" })).toEqual(["nr_dirty", "nr_dirty_threshold", "pgscan_direct_total", "pgscan_kswapd"]);
  });
  test("both: included and not excluded (HUATUO's shipped shape)", async () => {
    expect(await run({ IncludedOnHost: "nr_dirty|pgscan", ExcludedOnHost: "total|threshold" })).toEqual(["nr_dirty", "pgscan_kswapd"]);
  });
  test("container keys do not filter the host", async () => {
    expect(await run({ IncludedOnContainer: "nothing", ExcludedOnContainer: "." })).toHaveLength(5);
  });
  test("an invalid pattern fails create(), container ones too", () => {
    expect(() => memoryVmstatProbe.create(contextFor(memoryVmstatProbe, dir, { ExcludedOnHost: "(" }))).toThrow("invalid regular expression");
    expect(() => memoryVmstatProbe.create(contextFor(memoryVmstatProbe, dir, { IncludedOnContainer: "[" }))).toThrow("OnContainer");
  });
  test("vmstatSamples gives HUATUO's container HELP when asked", () => {
    const s = vmstatSamples("active_anon 4096\n", "memory.stat", () => true, "cgroup memory.stat");
    expect(s[0]!.help).toBe("cgroup memory.stat active_anon");
  });
});

describe("memory_events", () => {
  const EVENTS = "low 0\nhigh 12\nmax 3\noom 1\noom_kill 1\noom_group_kill 0\nsock_throttled 0\n";
  const CONTAINER: ContainerLabels = {
    container_host: "pod-a", container_hostnamespace: "default", container_level: "burstable", container_name: "app", container_type: "normal",
  };
  const keys = (inc: string, exc: string) =>
    memoryEventSamples(EVENTS, "/sys/fs/cgroup/x/memory.events", makeFilter(inc, exc), CONTAINER).map((s) => s.name);

  test("parser: every key, exact values", () => {
    expect(parseMemoryEvents(EVENTS)).toEqual([["low", 0], ["high", 12], ["max", 3], ["oom", 1], ["oom_kill", 1], ["oom_group_kill", 0], ["sock_throttled", 0]]);
    expect(() => parseMemoryEvents("low 0\nhigh\n", "/c/memory.events")).toThrow('/c/memory.events:2: expected "key value"');
  });

  test("samples: container series, HUATUO's HELP", () => {
    const s = memoryEventSamples(EVENTS, "m", () => true, CONTAINER);
    expect(s.find((x) => x.name === "oom_kill")).toEqual({ name: "oom_kill", help: "memory events oom_kill", type: "gauge", value: 1, container: CONTAINER });
    const out = render("memory_events", s, "huatuo_bamai");
    expect(out).toContain("# HELP huatuo_bamai_memory_events_container_high memory events high\n");
    expect(out).toContain('huatuo_bamai_memory_events_container_high{container_host="pod-a",container_hostnamespace="default",container_level="burstable",container_name="app",container_type="normal",host="kpulse-fixture-host",region="fixture"} 12\n');
  });

  test("filter: none / Excluded only / Included only / both", () => {
    expect(keys("", "")).toHaveLength(7);
    expect(keys("", "oom")).toEqual(["low", "high", "max", "sock_throttled"]);
    expect(keys("^oom", "")).toEqual(["oom", "oom_kill", "oom_group_kill"]);
    expect(keys("^oom", "group")).toEqual(["oom", "oom_kill"]);
  });

  test("the probe emits nothing on the host (no container source yet)", async () => {
    expect(await collect(memoryEventsProbe, BASIC)).toEqual([]);
    expect(memoryEventsProbe.config?.path).toBe("MetricCollector.MemoryEvents");
  });

  test("an invalid pattern still fails create()", () => {
    expect(() => memoryEventsProbe.create(contextFor(memoryEventsProbe, BASIC, { Included: "(" }))).toThrow(
      'MetricCollector.MemoryEvents included: invalid regular expression "("',
    );
  });
});

// ── memory_buddyinfo ────────────────────────────────────────────────────────────────────────

describe("parseBuddyInfo", () => {
  test("this host's /proc/buddyinfo", () => {
    const zones = parseBuddyInfo(readFileSync("/proc/buddyinfo", "utf8"));
    expect(zones.length).toBeGreaterThan(0);
    expect(zones[0]!.blocks.length).toBeGreaterThan(0);
  });

  test("two nodes, any number of orders", () => {
    const text = "Node 0, zone   Normal      1    2    3\nNode 1, zone   Normal      4    5    6\n";
    expect(parseBuddyInfo(text)).toEqual([
      { node: "0", zone: "Normal", blocks: [1, 2, 3] },
      { node: "1", zone: "Normal", blocks: [4, 5, 6] },
    ]);
  });

  test("series per node, zone and order", async () => {
    const dir = tree({ "proc/buddyinfo": "Node 1, zone Movable 7 8\n" });
    expect(await collect(memoryBuddyinfoProbe, dir)).toEqual([
      { name: "blocks", help: "buddy info", type: "gauge", value: 7, labels: { node: "1", zone: "Movable", order: "0" } },
      { name: "blocks", help: "buddy info", type: "gauge", value: 8, labels: { node: "1", zone: "Movable", order: "1" } },
    ]);
  });

  test("truncated last line, garbage, empty", () => {
    expect(() => parseBuddyInfo("Node 0, zone DMA 1 2 3\nNode 0, zone Normal 1 2\n", "/x/buddyinfo")).toThrow(
      "/x/buddyinfo:2: zone Normal: 2 orders, the first zone has 3",
    );
    expect(() => parseBuddyInfo("Node 0, zone DMA 1 x 3\n", "/x/buddyinfo")).toThrow('/x/buddyinfo:1: zone DMA: order 1 is not a count: "x"');
    expect(() => parseBuddyInfo("Node 0 zone DMA 1\n", "/x/buddyinfo")).toThrow('/x/buddyinfo:1: expected "Node N, zone NAME count..."');
    expect(() => parseBuddyInfo("", "/x/buddyinfo")).toThrow("/x/buddyinfo: empty file");
  });
});

// ── mountpoint_perm ─────────────────────────────────────────────────────────────────────────

describe("parseMountInfo", () => {
  test("this host's /proc/self/mountinfo", () => {
    const mounts = parseMountInfo(readFileSync("/proc/self/mountinfo", "utf8"));
    expect(visibleMounts(mounts).some((m) => m.mountPoint === "/")).toBe(true);
  });

  test("fields, optional fields, escapes", () => {
    const [m] = parseMountInfo("36 35 98:0 /mnt1 /mnt/my\\040disk rw,noatime master:1 shared:2 - ext3 /dev/root rw,errors=continue\n");
    expect(m).toEqual({
      mountId: 36, parentId: 35, device: "98:0", root: "/mnt1", mountPoint: "/mnt/my disk", options: ["rw", "noatime"],
      fsType: "ext3", source: "/dev/root", superOptions: ["rw", "errors=continue"],
    });
    expect(unescapeMountPath("a\\011b\\012c\\134d")).toBe("a\tb\nc\\d");
  });

  test("malformed, truncated last line, empty", () => {
    expect(() => parseMountInfo("22 27 0:21 / /proc rw,relatime - proc proc rw\n23 27 0:22 / /sys rw,rel", "/x/mountinfo")).toThrow("/x/mountinfo:2: expected");
    expect(() => parseMountInfo("a 27 0:21 / /proc rw - proc proc rw\n", "/x/mountinfo")).toThrow("/x/mountinfo:1: bad mount id");
    expect(() => parseMountInfo("", "/x/mountinfo")).toThrow("/x/mountinfo: empty file");
  });
});

describe("visible mounts (one series per mount point)", () => {
  // The cases of HUATUO's stacked-mount test, in file order and reversed.
  const cases: [string, string, string, Record<string, number>][] = [
    ["stacked on the same path", "^/stacked$", "398 363 0:46 / /stacked rw - tmpfs none rw\n399 398 0:47 / /stacked ro - tmpfs none ro\n", { "/stacked": 1 }],
    [
      "child of a covered parent is hidden", "^/foo/bar$",
      "363 362 0:1 / / rw - tmpfs none rw\n398 363 0:46 / /foo rw - tmpfs none rw\n399 398 0:47 / /foo/bar rw - tmpfs none rw\n200 398 0:48 / /foo ro - tmpfs none ro\n201 200 0:49 / /foo/bar ro - tmpfs none ro\n",
      { "/foo/bar": 1 },
    ],
    [
      "a later sibling on an ancestor directory hides; /foobar is not under /foo", "^/(foo|foobar)",
      "363 362 0:1 / / rw - tmpfs none rw\n398 363 0:46 / /foo/bar rw - tmpfs none rw\n399 363 0:47 / /foo ro - tmpfs none ro\n400 399 0:48 / /foo/bar ro - tmpfs none ro\n401 363 0:49 / /foobar rw - tmpfs none rw\n",
      { "/foo": 1, "/foo/bar": 1, "/foobar": 0 },
    ],
    ["ordinary nesting", "^/foo", "10 9 0:1 / / rw - tmpfs none rw\n11 10 0:2 / /foo rw - tmpfs none rw\n12 11 0:3 / /foo/bar ro - tmpfs none ro\n", { "/foo": 0, "/foo/bar": 1 }],
  ];
  for (const [name, filter, info, want] of cases) {
    for (const reverse of [false, true]) {
      test(`${name}${reverse ? " (reversed)" : ""}`, async () => {
        const rows = info.trim().split("\n");
        if (reverse) rows.reverse();
        const dir = tree({ "proc/self/mountinfo": rows.join("\n") + "\n" });
        const got: Record<string, number> = {};
        for (const s of await collect(mountpointPermProbe, dir, { MountPointsIncluded: filter })) {
          const p = s.labels!.mountpoint!;
          expect(got[p]).toBeUndefined();
          got[p] = s.value;
        }
        expect(got).toEqual(want);
      });
    }
  }

  test("a parent cycle in a malformed file does not loop", () => {
    const m = parseMountInfo("1 2 0:1 / /a rw - t s rw\n2 1 0:2 / /b rw - t s rw\n");
    expect(visibleMounts(m).map((x) => x.mountPoint).sort()).toEqual(["/a", "/b"]);
  });
});

describe("mountpoint_perm filter (MountPointsIncluded, whitelist only)", () => {
  const run = (inc: string) => collect(mountpointPermProbe, BASIC, { MountPointsIncluded: inc }).then((s) => s.map((x) => x.labels!.mountpoint).sort());
  test("none: every visible mount point", async () => {
    expect(await run("")).toHaveLength(21);
  });
  test("HUATUO's shipped whitelist", async () => {
    expect(await run("(^/home$)|(^/$)|(^/boot$)")).toEqual(["/", "/home"]);
  });
  test("matched against the decoded path", async () => {
    const s = await collect(mountpointPermProbe, BASIC, { MountPointsIncluded: "^/mnt/data disk$" });
    expect(s).toEqual([{ name: "ro", help: "whether mountpoint is readonly or not", type: "gauge", value: 1, labels: { mountpoint: "/mnt/data disk" } }]);
  });
  test("the section has no Excluded key", () => {
    expect(Object.keys(mountpointPermProbe.config!.keys)).toEqual(["MountPointsIncluded"]);
  });
});

// ── arp ─────────────────────────────────────────────────────────────────────────────────────

describe("arp parsers", () => {
  const HEADER = "IP address       HW type     Flags       HW address            Mask     Device\n";
  test("entries: lines after the header, incomplete ones included", () => {
    expect(countArpEntries(HEADER)).toBe(0);
    expect(countArpEntries(HEADER + "10.0.0.1 0x1 0x2 aa:bb:cc:dd:ee:ff * eth0\n10.0.0.2 0x1 0x0 00:00:00:00:00:00 * eth0\n")).toBe(2);
    expect(countArpEntries(readFileSync("/proc/1/net/arp", "utf8"))).toBeGreaterThanOrEqual(0);
  });
  test("entries: no header, truncated entry, empty", () => {
    expect(() => countArpEntries("", "/x/arp")).toThrow('/x/arp:1: expected the "IP address  HW type ..." header, got ""');
    expect(() => countArpEntries(HEADER + "10.0.0.1 0x1 0x2", "/x/arp")).toThrow('/x/arp:2: truncated entry "10.0.0.1 0x1 0x2"');
  });

  const CACHE = "entries  allocs   destroys\n0000000a 00000014 0000000d\n0000000a 00000019 0000001e\n";
  test("arp_cache: the first row's hex entries column (not the sum over CPUs)", () => {
    expect(parseArpCacheEntries(CACHE)).toBe(10);
    expect(parseArpCacheEntries("allocs entries\n1 ffffffff\n")).toBe(0xffffffff);
    if (existsSync("/proc/net/stat/arp_cache")) expect(parseArpCacheEntries(readFileSync("/proc/net/stat/arp_cache", "utf8"))).toBeGreaterThanOrEqual(0);
  });
  test("arp_cache: empty, header only, no entries column, short row, not hex", () => {
    expect(() => parseArpCacheEntries("", "/x/c")).toThrow("/x/c: empty file");
    expect(() => parseArpCacheEntries("entries allocs\n", "/x/c")).toThrow("/x/c: no row after the header");
    expect(() => parseArpCacheEntries("allocs\n1\n", "/x/c")).toThrow('/x/c:1: no "entries" column');
    expect(() => parseArpCacheEntries("entries allocs\n0000000a\n", "/x/c")).toThrow("/x/c:2: 1 values for 2 columns");
    expect(() => parseArpCacheEntries("entries allocs\nzz 1\n", "/x/c")).toThrow('/x/c:2: entries is not a hex number: "zz"');
  });

  test("probe: unsupported without arp_cache (as HUATUO)", async () => {
    const dir = tree({ "proc/1/net/arp": HEADER });
    const err = await Promise.resolve(arpProbe.create(contextFor(arpProbe, dir))).catch((e) => e);
    expect(err).toBeInstanceOf(ProbeUnsupportedError);
    expect(err.message).toContain("net/stat/arp_cache");
  });
  test("probe: pid 1's arp_cache is preferred to the own view", async () => {
    const dir = tree({
      "proc/1/net/arp": HEADER,
      "proc/1/net/stat/arp_cache": "entries\n00000007\n",
      "proc/net/stat/arp_cache": "entries\n00000001\n",
    });
    const s = await collect(arpProbe, dir);
    expect(byName(s, "total")).toBe(7);
    expect(byName(s, "entries")).toBe(0);
  });
  test("probe: a malformed arp_cache fails the scrape naming the file", async () => {
    const dir = tree({ "proc/1/net/arp": HEADER, "proc/net/stat/arp_cache": "entries\n" });
    const inst = await arpProbe.create(contextFor(arpProbe, dir));
    await expect(inst.collect!()).rejects.toThrow(`${join(dir, "proc/net/stat/arp_cache")}: no row after the header`);
  });
});

// ── netstat ─────────────────────────────────────────────────────────────────────────────────

describe("parseNetstat", () => {
  test("this host's snmp and netstat", () => {
    expect(parseNetstat(readFileSync("/proc/net/snmp", "utf8"), "/proc/net/snmp").map((r) => r.proto)).toContain("Tcp");
    expect(parseNetstat(readFileSync("/proc/net/netstat", "utf8")).map((r) => r.proto)).toContain("TcpExt");
  });

  test("header/value pairs; negative values (Tcp MaxConn); near 2^64", () => {
    expect(parseNetstat(`Tcp: RtoAlgorithm MaxConn InSegs\nTcp: 1 -1 ${NEAR_2_64}\n`)).toEqual([
      { proto: "Tcp", fields: [["RtoAlgorithm", 1], ["MaxConn", -1], ["InSegs", 2 ** 64]] },
    ]);
  });

  test("a newer kernel's extra fields come with their names", () => {
    const rows = parseNetstat("TcpExt: A B NewField\nTcpExt: 1 2 3\n");
    expect(rows[0]!.fields.map(([n]) => n)).toEqual(["A", "B", "NewField"]);
  });

  test("truncated last line, header without values, mismatched pair, garbage", () => {
    expect(() => parseNetstat("TcpExt: A B C\nTcpExt: 1 2", "/x/netstat")).toThrow("/x/netstat:2: TcpExt: 2 values for 3 fields");
    expect(() => parseNetstat("Tcp: A B\n", "/x/snmp")).toThrow("/x/snmp:2: Tcp: header without a value line");
    expect(() => parseNetstat("Tcp: A\nUdp: 1\n", "/x/snmp")).toThrow('/x/snmp:2: Tcp header followed by a "Udp" line');
    expect(() => parseNetstat("Tcp: A\nTcp: x\n", "/x/snmp")).toThrow('/x/snmp:2: Tcp A is not an integer: "x"');
    expect(() => parseNetstat("garbage\n", "/x/snmp")).toThrow('/x/snmp:1: expected "Proto: Field ..."');
  });
});

describe("netstat series and filter (Included / Excluded on Proto_Field)", () => {
  const snmp = { path: "/p/snmp", text: "Ip: Forwarding\nIp: 1\nTcp: ActiveOpens MaxConn\nTcp: 5 -1\nUdp: InDatagrams\nUdp: 9\n" };
  const netstat = { path: "/p/netstat", text: "TcpExt: TCPTimeouts ListenDrops\nTcpExt: 2 3\nIpExt: InOctets\nIpExt: 7\n" };
  const run = (inc: string, exc: string) => names(netstatSamples(snmp, netstat, makeFilter(inc, exc)));

  test("only the Tcp and TcpExt rows; HUATUO's names and HELP", () => {
    const s = netstatSamples(snmp, netstat, () => true);
    expect(names(s)).toEqual(["TcpExt_ListenDrops", "TcpExt_TCPTimeouts", "Tcp_ActiveOpens", "Tcp_MaxConn"]);
    expect(s.find((x) => x.name === "TcpExt_TCPTimeouts")).toEqual({ name: "TcpExt_TCPTimeouts", help: "statistic TcpExtTCPTimeouts.", type: "gauge", value: 2 });
    expect(byName(s, "Tcp_MaxConn")).toBe(-1);
  });
  test("none / Excluded only / Included only / both", () => {
    expect(run("", "")).toHaveLength(4);
    expect(run("", "^TcpExt_")).toEqual(["Tcp_ActiveOpens", "Tcp_MaxConn"]);
    expect(run("TCPTimeouts|Tcp_", "")).toEqual(["TcpExt_TCPTimeouts", "Tcp_ActiveOpens", "Tcp_MaxConn"]);
    expect(run("Tcp", "MaxConn|Listen")).toEqual(["TcpExt_TCPTimeouts", "Tcp_ActiveOpens"]);
  });
  test("a file without its row is an error naming it", () => {
    expect(() => netstatSamples({ path: "/p/snmp", text: "" }, netstat, () => true)).toThrow("/p/snmp: no Tcp row");
    expect(() => netstatSamples(snmp, { path: "/p/netstat", text: "IpExt: A\nIpExt: 1\n" }, () => true)).toThrow("/p/netstat: no TcpExt row");
  });
  test("probe: reads pid 1's files, the config filter applies", async () => {
    const s = await collect(netstatProbe, BASIC, { Included: "^TcpExt_TCPTimeouts$" });
    expect(s).toHaveLength(1);
    expect(s[0]!.name).toBe("TcpExt_TCPTimeouts");
  });
});

// ── tcp_memory ──────────────────────────────────────────────────────────────────────────────

describe("tcp_memory", () => {
  const sockstat = (mem: string) => ({ path: "/p/sockstat", text: `sockets: used 5\nTCP: inuse 1 orphan 0 tw 0 alloc 2 ${mem}\n` });
  const tcpMem = (t: string) => ({ path: "/p/tcp_mem", text: t });

  test("parseTcpMem: min pressure max; malformed", () => {
    expect(parseTcpMem("287898\t383867\t575796\n")).toEqual({ minPages: 287898, pressurePages: 383867, maxPages: 575796 });
    expect(parseTcpMem(readFileSync("/proc/sys/net/ipv4/tcp_mem", "utf8")).maxPages).toBeGreaterThan(0);
    expect(() => parseTcpMem("1 2\n", "/x/tcp_mem")).toThrow('/x/tcp_mem: expected three page counts "min pressure max", got "1 2"');
    expect(() => parseTcpMem("", "/x/tcp_mem")).toThrow("/x/tcp_mem: expected three page counts");
  });

  test("pages, bytes at the given page size, limit = tcp_mem[2], percent a 0-1 ratio", () => {
    const s = tcpMemorySamples(sockstat("mem 100"), tcpMem("1 2 400\n"), 65536);
    expect(s).toEqual([
      { name: "usage_pages", help: "tcp memory pages usage", type: "gauge", value: 100 },
      { name: "usage_bytes", help: "tcp memory bytes usage", type: "gauge", value: 100 * 65536 },
      { name: "limit_pages", help: "tcp memory pages limit", type: "gauge", value: 400 },
      { name: "usage_percent", help: "tcp memory usage percent", type: "gauge", value: 0.25 },
    ]);
  });

  test("a limit of 0 gives percent 0, not Infinity", () => {
    expect(byName(tcpMemorySamples(sockstat("mem 3"), tcpMem("0 0 0"), 4096), "usage_percent")).toBe(0);
  });

  test("no mem on the TCP line is an error naming sockstat", () => {
    expect(() => tcpMemorySamples(sockstat("x 1"), tcpMem("1 2 3"), 4096)).toThrow('/p/sockstat: no "mem" on the TCP line');
  });

  test("probe: unsupported without tcp_mem (as HUATUO)", async () => {
    const dir = tree({ "proc/1/net/sockstat": "TCP: inuse 1 mem 1\n" });
    const err = await Promise.resolve(tcpMemoryProbe.create(contextFor(tcpMemoryProbe, dir))).catch((e) => e);
    expect(err).toBeInstanceOf(ProbeUnsupportedError);
    expect(err.message).toContain("tcp_mem");
  });
});

// ── every probe: a broken or missing file fails the scrape naming the file ────────────────

describe("broken inputs fail collect() with the file's name", () => {
  const cases: [ProbeDefinition<any>, Record<string, string>, string][] = [
    [cpuUtilProbe, { "proc/stat": "cpu  1 2 3\n" }, "proc/stat:1"],
    [diskioProbe, { "proc/diskstats": "8 0 sda 1 2\n", "proc/stat": "cpu  1 0 0 1 0 0 0 0\n" }, "proc/diskstats:1"],
    [diskioProbe, { "proc/diskstats": "", "proc/stat": "" }, "proc/stat"],
    [memoryVmstatProbe, { "proc/vmstat": "nr_free_pages\n" }, "proc/vmstat:1"],
    [memoryBuddyinfoProbe, { "proc/buddyinfo": "" }, "proc/buddyinfo"],
    [mountpointPermProbe, { "proc/self/mountinfo": "1 0 0:1 / / rw\n" }, "proc/self/mountinfo:1"],
    [arpProbe, { "proc/1/net/arp": "garbage\n", "proc/net/stat/arp_cache": "entries\n00000001\n" }, "proc/1/net/arp:1"],
    [netstatProbe, { "proc/1/net/snmp": "Tcp: A B\nTcp: 1\n", "proc/1/net/netstat": "TcpExt: A\nTcpExt: 1\n" }, "proc/1/net/snmp:2"],
    [tcpMemoryProbe, { "proc/1/net/sockstat": "TCP: inuse 1 mem 1\n", "proc/sys/net/ipv4/tcp_mem": "1 2\n" }, "proc/sys/net/ipv4/tcp_mem"],
  ];
  for (const [def, files, where] of cases) {
    test(`${def.name}: ${where}`, async () => {
      const dir = tree(files);
      const inst = await def.create(contextFor(def, dir));
      await expect(Promise.resolve().then(() => inst.collect!())).rejects.toThrow(join(dir, where));
    });
  }
  for (const def of [cpuUtilProbe, diskioProbe, memoryVmstatProbe, memoryBuddyinfoProbe, mountpointPermProbe]) {
    test(`${def.name}: a missing file is an error`, async () => {
      const dir = tree({ "proc/.keep": "" });
      const inst = await def.create(contextFor(def, dir));
      await expect(Promise.resolve().then(() => inst.collect!())).rejects.toThrow(/ENOENT/);
    });
  }
});
