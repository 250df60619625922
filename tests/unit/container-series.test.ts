// Container series of the metric probes over fixture trees (tests/fixtures/containers/<tree>):
// cgroup v1 and v2, cgroupfs and systemd drivers, each with a burstable pod of two containers
// (app + istio-proxy sidecar sharing one network namespace), a guaranteed pod (db) and a
// host-network container (agent). The container list is the tree's containers.json given to
// the real ContainerRegistry over the tree's real layout detection; only discovery is skipped
// (the binary-level fixture run covers it). expected/<probe>.txt lists every container series a
// single scrape must give, no more and no fewer.
import { afterAll, describe, expect, test } from "bun:test";
import { cpSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync, existsSync, mkdirSync, renameSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { sectionDefaults } from "../../src/config/spec.ts";
import { isGone, readBounded } from "../../src/containers/files.ts";
import { detectCgroupLayout } from "../../src/containers/layout.ts";
import { ContainerRegistry } from "../../src/containers/registry.ts";
import { netnsGroups, PerContainer } from "../../src/containers/series.ts";
import type { Container } from "../../src/containers/types.ts";
import { createLogger, silentLogger, type Logger } from "../../src/log.ts";
import { renderExposition } from "../../src/metrics/exposition.ts";
import type { Sample } from "../../src/metrics/sample.ts";
import { arpProbe } from "../../src/probes/arp/index.ts";
import { cpuStatInstance, cpuStatProbe, waitPercent } from "../../src/probes/cpu_stat/index.ts";
import { parseCpuStat } from "../../src/probes/cpu_stat/parse.ts";
import { quotaCoresV1, quotaCoresV2 } from "../../src/probes/cpu_util/cgroup.ts";
import { ContainerCpuTracker } from "../../src/probes/cpu_util/containers.ts";
import { cpuUtilInstance, cpuUtilProbe } from "../../src/probes/cpu_util/index.ts";
import { TASKS_PER_CONTAINER } from "../../src/probes/loadavg/containers.ts";
import { loadavgProbe } from "../../src/probes/loadavg/index.ts";
import { parseTaskIds, parseTaskState } from "../../src/probes/loadavg/parse.ts";
import { memoryEventsProbe } from "../../src/probes/memory_events/index.ts";
import { memoryVmstatProbe } from "../../src/probes/memory_vmstat/index.ts";
import { netdevProbe } from "../../src/probes/netdev/index.ts";
import { netstatProbe } from "../../src/probes/netstat/index.ts";
import { sockstatProbe } from "../../src/probes/sockstat/index.ts";
import type { ProbeContext, ProbeDefinition, ProbeInstance } from "../../src/probes/types.ts";
import { countCpuList } from "../../src/procfs/cpus.ts";
import { procfsRoot } from "../../src/procfs/root.ts";

const FIXTURES = join(import.meta.dir, "../fixtures/containers");
const TREES = ["v1-cgroupfs", "v1-systemd", "v2-cgroupfs", "v2-systemd"] as const;
const CONST = { host: "kpulse-fixture-host", region: "fixture" };
const PROBES: ProbeDefinition<any>[] = [
  cpuUtilProbe, cpuStatProbe, loadavgProbe, memoryVmstatProbe, memoryEventsProbe, netdevProbe, netstatProbe, sockstatProbe, arpProbe,
];

const tmp = mkdtempSync(join(tmpdir(), "kpulse-ctseries-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** A private copy of a tree, for tests that change or remove files. */
function copyTree(tree: string): string {
  const dst = mkdtempSync(join(tmp, `${tree}-`));
  cpSync(join(FIXTURES, tree), dst, { recursive: true, verbatimSymlinks: true });
  return dst;
}

/** The tree's containers as discovery would record them; the netns inode is read as discovery does. */
function containersOf(root: string): Container[] {
  const list = JSON.parse(readFileSync(join(root, "containers.json"), "utf8")) as Partial<Container>[];
  return list.map((c) => ({
    runtime: "containerd", source: "kubelet", podName: c.hostname!, cgroupIds: {}, netnsCookie: "", syncedAtMs: 0,
    netnsInum: statSync(join(root, "proc", String(c.initPid), "ns", "net")).ino,
    ...c,
  }) as Container);
}

function registryFor(root: string, containers = containersOf(root)): ContainerRegistry {
  const procfs = procfsRoot(root);
  const reg = new ContainerRegistry(detectCgroupLayout(procfs), procfs, { minAgeMs: 0, maxTracked: 1000 });
  reg.replace(containers);
  return reg;
}

function contextFor<C>(def: ProbeDefinition<C>, root: string, reg: ContainerRegistry, overrides: Partial<C> = {}, log: Logger = silentLogger): ProbeContext<C> {
  const config = { ...(def.config ? sectionDefaults(def.config, "") : ({} as C)), ...overrides };
  return { config, procfs: procfsRoot(root), log, containers: reg, emit() {} };
}

const render = (prefix: string, samples: Sample[], namespace = "kpulse") => renderExposition({ namespace, constLabels: CONST }, [{ prefix, samples }]);
const containerLines = (text: string) => text.split("\n").filter((l) => l.includes("container_host="));

async function scrapeOnce<C>(def: ProbeDefinition<C>, ctx: ProbeContext<C>): Promise<Sample[]> {
  const inst = await def.create(ctx);
  try {
    return await inst.collect!();
  } finally {
    await inst.stop();
  }
}

describe.each(TREES)("fixture tree %s", (tree) => {
  const root = join(FIXTURES, tree);
  const v2 = tree.startsWith("v2");

  test("layout detected as the tree's cgroup version", () => {
    expect(registryFor(root).unified).toBe(v2);
  });

  for (const def of PROBES) {
    test(`${def.name}: exactly the container series of expected/${def.name}.txt`, async () => {
      const file = join(root, "expected", `${def.name}.txt`);
      const reg = registryFor(root);
      const out = render(def.name, await scrapeOnce(def, contextFor(def, root, reg)));
      if (def.name === "memory_events" && !v2) {
        // v1 has no memory.events (only Didi's kernel): nothing, and no error.
        expect(existsSync(file)).toBe(false);
        expect(containerLines(out)).toEqual([]);
        return;
      }
      const want = readFileSync(file, "utf8").split("\n").filter((l) => l !== "");
      expect(want.length).toBeGreaterThan(0);
      const lines = out.split("\n");
      for (const line of want) expect(lines).toContain(line);
      expect(containerLines(out).sort()).toEqual(want.filter((l) => !l.startsWith("#")).sort());
    });
  }
});

describe("labels and names", () => {
  test("HUATUO names under Compat = huatuo: <ns>_<probe>_container_<name> with the five labels", async () => {
    const root = join(FIXTURES, "v1-cgroupfs");
    const out = render("netdev", await scrapeOnce(netdevProbe, contextFor(netdevProbe, root, registryFor(root))), "huatuo_bamai");
    expect(out).toContain("# TYPE huatuo_bamai_netdev_container_receive_bytes_total counter\n");
    expect(out).toContain(
      'huatuo_bamai_netdev_container_receive_bytes_total{container_host="web-7d4b9c-x2x8k",container_hostnamespace="default",container_level="burstable",container_name="app",container_type="normal",device="eth0",host="kpulse-fixture-host",region="fixture"} 9.87654321e+08\n',
    );
  });

  test("host series are unchanged beside the container ones", async () => {
    const root = join(FIXTURES, "v2-cgroupfs");
    const out = render("sockstat", await scrapeOnce(sockstatProbe, contextFor(sockstatProbe, root, registryFor(root))));
    const basic = readFileSync(join(FIXTURES, "../basic/expected/sockstat.txt"), "utf8").split("\n").filter((l) => l !== "");
    for (const line of basic) expect(out.split("\n")).toContain(line);
    // mem and mem_bytes are host-only, as in HUATUO.
    expect(out).not.toContain("sockstat_container_TCP_mem");
    expect(out).not.toContain("sockstat_container_UDP_mem");
  });

  test("containers of one network namespace each get its series (read once), host-network ones none", async () => {
    const root = join(FIXTURES, "v1-cgroupfs");
    const list = containersOf(root).map((c) => (c.name === "istio-proxy" ? { ...c, type: "normal" as const } : c));
    const groups = netnsGroups(list);
    expect(groups.map((g) => g.containers.map((c) => c.name))).toEqual([["app", "istio-proxy"], ["db"]]);
    const out = render("arp", await scrapeOnce(arpProbe, contextFor(arpProbe, root, registryFor(root, list))));
    const entries = containerLines(out).map((l) => [/container_name="([^"]+)"/.exec(l)![1], l.split(" ").pop()]);
    expect(entries.sort()).toEqual([["app", "2"], ["db", "1"], ["istio-proxy", "2"]]);
  });

  test("Vmstat IncludedOnContainer / ExcludedOnContainer filter the container keys only", async () => {
    const root = join(FIXTURES, "v1-cgroupfs");
    const keys = async (o: Record<string, string>) => {
      const s = await scrapeOnce(memoryVmstatProbe, contextFor(memoryVmstatProbe, root, registryFor(root), o));
      return { host: s.filter((x) => !x.container).length, container: [...new Set(s.filter((x) => x.container).map((x) => x.name))].sort() };
    };
    const all = await keys({});
    expect(all.container).toContain("total_rss");
    const ex = await keys({ ExcludedOnContainer: "total" });
    expect(ex.container).not.toContain("total_rss");
    expect(ex.container).toContain("rss");
    expect(ex.host).toBe(all.host);
    expect((await keys({ IncludedOnContainer: "^(rss|cache)$" })).container).toEqual(["cache", "rss"]);
  });

  test("MemoryEvents Included filters the container keys", async () => {
    const root = join(FIXTURES, "v2-systemd");
    const s = await scrapeOnce(memoryEventsProbe, contextFor(memoryEventsProbe, root, registryFor(root), { Included: "^(high|max)$" }));
    expect([...new Set(s.map((x) => x.name))].sort()).toEqual(["high", "max"]);
    expect(s.every((x) => x.container !== undefined)).toBe(true);
  });
});

// ── cpu_util / cpu_stat across scrapes ────────────────────────────────────────────────────────

/** A clock the test steps by hand (monotonic ms). */
function clock() {
  let t = 10_000;
  return { now: () => t, step: (ms: number) => (t += ms) };
}

const valueOf = (samples: Sample[], name: string, container: string) =>
  samples.find((s) => s.name === name && s.container?.container_name === container)?.value;

function appDir(root: string, controller: string): string {
  const reg = registryFor(root);
  return reg.cgroupDir(reg.all().find((c) => c.name === "app")!, controller)!;
}

describe("cpu_util container series", () => {
  test.each(["v1-systemd", "v2-cgroupfs"])("%s: percent of the container's cores between two readings, at most once per second", async (tree) => {
    const root = copyTree(tree);
    const reg = registryFor(root);
    const ck = clock();
    const inst = cpuUtilInstance(contextFor(cpuUtilProbe, root, reg), ck.now);
    const first = await inst.collect!();
    // First reading: the baseline, cores only.
    expect(valueOf(first, "cores", "app")).toBe(0.5);
    expect(valueOf(first, "total", "app")).toBeUndefined();

    // 1 s later the app used 0.25 s of CPU (0.15 user, 0.05 system by the tick counts): of its
    // 0.5 cores that is 50 % total, 30 % usr, 10 % sys.
    const dir = appDir(root, "cpu");
    if (tree.startsWith("v1")) {
      writeFileSync(join(dir, "cpuacct.usage"), `${5_250_000_000}\n`);
      writeFileSync(join(dir, "cpuacct.stat"), "user 315\nsystem 155\n");
    } else {
      writeFileSync(join(dir, "cpu.stat"), readFileSync(join(dir, "cpu.stat"), "utf8")
        .replace("usage_usec 5000000", "usage_usec 5250000").replace("user_usec 3000000", "user_usec 3150000").replace("system_usec 1500000", "system_usec 1550000"));
    }
    ck.step(1000);
    const second = await inst.collect!();
    expect(valueOf(second, "total", "app")).toBeCloseTo(50, 9);
    expect(valueOf(second, "usr", "app")).toBeCloseTo(30, 9);
    expect(valueOf(second, "sys", "app")).toBeCloseTo(10, 9);
    // The sidecar did not run: 0 of its 4 cores (no quota = all online CPUs).
    expect(valueOf(second, "total", "istio-proxy")).toBe(0);
    expect(valueOf(second, "cores", "istio-proxy")).toBe(4);

    // Within the second the files are not read again: the same values come back.
    if (tree.startsWith("v1")) writeFileSync(join(dir, "cpuacct.usage"), `${9_000_000_000}\n`);
    ck.step(400);
    expect(valueOf(await inst.collect!(), "total", "app")).toBeCloseTo(50, 9);
  });

  test("a container that leaves takes its state with it; one that comes back starts from a new baseline", async () => {
    const root = join(FIXTURES, "v1-cgroupfs");
    const all = containersOf(root);
    const reg = registryFor(root, all);
    const ck = clock();
    const inst = cpuUtilInstance(contextFor(cpuUtilProbe, root, reg), ck.now);
    await inst.collect!();
    reg.replace(all.filter((c) => c.name !== "app"));
    ck.step(1000);
    const without = await inst.collect!();
    expect(without.some((s) => s.container?.container_name === "app")).toBe(false);
    reg.replace(all);
    ck.step(1000);
    const back = await inst.collect!();
    expect(valueOf(back, "cores", "app")).toBe(0.5);
    expect(valueOf(back, "total", "app")).toBeUndefined(); // no leftover baseline from before
  });

  test("tracker: state only for listed containers, backwards counters rebase", () => {
    const [a, b] = containersOf(join(FIXTURES, "v1-cgroupfs"));
    const t = new ContainerCpuTracker();
    t.update(a!, 0, { usageUs: 1000, userUs: 500, systemUs: 500 }, 1);
    t.update(b!, 0, { usageUs: 1000, userUs: 500, systemUs: 500 }, 1);
    expect(t.size).toBe(2);
    t.retain([b!]);
    expect(t.size).toBe(1);
    expect(t.update(b!, 1000, { usageUs: 501_000, userUs: 300_500, systemUs: 200_500 }, 1)).toEqual({ cores: 1, usr: 30, sys: 20, total: 50 });
    // A counter reset: the previous value stands, the new reading is the next baseline.
    expect(t.update(b!, 2000, { usageUs: 10, userUs: 5, systemUs: 5 }, 1)).toEqual({ cores: 1, usr: 30, sys: 20, total: 50 });
    expect(t.update(b!, 3000, { usageUs: 100_010, userUs: 100_005, systemUs: 5 }, 1)).toEqual({ cores: 1, usr: 10, sys: 0, total: 10 });
  });

  test("quota parsing: v1 -1 and v2 max mean no limit; garbage names the file", () => {
    expect(quotaCoresV1("-1\n", "q", "100000\n", "p")).toBeUndefined();
    expect(quotaCoresV1("150000\n", "q", "100000\n", "p")).toBe(1.5);
    expect(quotaCoresV2("max 100000\n", "cpu.max")).toBeUndefined();
    expect(quotaCoresV2("25000 100000\n", "cpu.max")).toBe(0.25);
    expect(() => quotaCoresV2("lots\n", "/x/cpu.max")).toThrow('/x/cpu.max: expected "<quota|max> <period>"');
    expect(() => quotaCoresV1("1\n", "q", "0\n", "/x/cpu.cfs_period_us")).toThrow("/x/cpu.cfs_period_us: period is 0");
    expect(countCpuList("0-3,6,8-11\n")).toBe(9);
    expect(() => countCpuList("0-x\n", "/sys/online")).toThrow("/sys/online: bad CPU range");
  });
});

describe("cpu_stat container series", () => {
  test("wait_sum_percent from the second reading: wait / (wait + cpu)", async () => {
    const root = copyTree("v1-cgroupfs");
    const reg = registryFor(root);
    const ck = clock();
    const inst = cpuStatInstance(contextFor(cpuStatProbe, root, reg), ck.now);
    const first = await inst.collect!();
    expect(valueOf(first, "wait_sum_percent", "app")).toBeUndefined();
    expect(valueOf(first, "throttled_time", "app")).toBe(345_000_000);
    const dir = appDir(root, "cpu");
    // +1 s waiting, +3 s running: 25 %.
    writeFileSync(join(dir, "cpu.stat"), readFileSync(join(dir, "cpu.stat"), "utf8").replace("wait_sum 2000000000", "wait_sum 3000000000"));
    writeFileSync(join(dir, "cpuacct.usage"), `${8_000_000_000}\n`);
    ck.step(1000);
    const second = await inst.collect!();
    expect(valueOf(second, "wait_sum_percent", "app")).toBeCloseTo(25, 9);
    // Containers without wait_sum (schedstats off) never get the series.
    expect(valueOf(second, "wait_sum_percent", "db")).toBeUndefined();
    expect(valueOf(second, "nr_throttled", "db")).toBe(0);
  });

  test("parser: v2 microseconds become nanoseconds; absent keys stay absent", () => {
    expect(parseCpuStat("usage_usec 1\nnr_throttled 2\nthrottled_usec 3\n")).toEqual({
      nrThrottled: 2, throttledTimeNs: 3000, nrBursts: undefined, burstTimeNs: undefined, waitSumNs: undefined,
    });
    expect(waitPercent({ waitNs: 0, cpuNs: 0 }, { waitNs: 0, cpuNs: 0 })).toBe(0);
    expect(waitPercent({ waitNs: 5, cpuNs: 0 }, { waitNs: 4, cpuNs: 1 })).toBeUndefined();
  });
});

describe("loadavg container series", () => {
  test("task parsing: the state after the last ')', ids one per line", () => {
    expect(parseTaskState("4111 (worker (1) D) D 1 4101")).toBe("D");
    expect(() => parseTaskState("4111 worker", "/proc/4111/stat")).toThrow("/proc/4111/stat: no task state");
    expect(parseTaskIds("1\n22\n333\n")).toEqual([1, 22, 333]);
    expect(() => parseTaskIds("1\nx\n", "/c/tasks")).toThrow("/c/tasks:2: not a thread id");
  });

  test(`at most ${TASKS_PER_CONTAINER} threads of a container are read; the rest are counted as skipped`, async () => {
    const root = copyTree("v2-cgroupfs");
    const reg = registryFor(root);
    const dir = appDir(root, "cpu");
    const extra = Array.from({ length: TASKS_PER_CONTAINER + 6 }, (_, i) => 50_000 + i);
    // The real threads first, then ids whose /proc entries do not exist (exited: not counted).
    writeFileSync(join(dir, "cgroup.threads"), [4110, 4111, ...extra].join("\n") + "\n");
    const s = await scrapeOnce(loadavgProbe, contextFor(loadavgProbe, root, reg));
    expect(valueOf(s, "nr_running", "app")).toBe(1);
    expect(valueOf(s, "nr_uninterruptible", "app")).toBe(1);
    expect(s.find((x) => x.name === "tasks_skipped")?.value).toBe(8);
  });

  test("no containers: the host series alone, no tasks_skipped", async () => {
    const root = join(FIXTURES, "v1-cgroupfs");
    const s = await scrapeOnce(loadavgProbe, contextFor(loadavgProbe, root, registryFor(root, [])));
    expect(s.map((x) => x.name)).toEqual(["load1", "load5", "load15"]);
  });
});

// ── containers that vanish or are broken ─────────────────────────────────────────────────────

function capture(): { log: Logger; lines: string[] } {
  const lines: string[] = [];
  return { log: createLogger("debug", (l) => lines.push(l)), lines };
}

describe("a container removed mid-scrape", () => {
  test.each(TREES)("%s: its cgroup and process gone after listing: skipped silently, the others reported", async (tree) => {
    const root = copyTree(tree);
    const reg = registryFor(root);
    const db = reg.all().find((c) => c.name === "db")!;
    for (const ctrl of ["cpu", "memory"]) {
      const d = reg.cgroupDir(db, ctrl)!;
      if (existsSync(d)) rmSync(d, { recursive: true });
    }
    rmSync(join(root, "proc", String(db.initPid)), { recursive: true });
    for (const def of PROBES) {
      const { log, lines } = capture();
      const s = await scrapeOnce(def, contextFor(def, root, reg, {}, log));
      expect(s.some((x) => x.container?.container_name === "db")).toBe(false);
      if (def.name !== "memory_events" || tree.startsWith("v2")) expect(s.some((x) => x.container?.container_name === "app")).toBe(true);
      expect(lines.filter((l) => l.includes("level=warn") || l.includes("level=error"))).toEqual([]);
    }
  });

  test("a reused pid in another namespace is not read as the container's", async () => {
    const root = copyTree("v1-cgroupfs");
    const reg = registryFor(root);
    // pid 4201 now belongs to some other process: its ns/net is another namespace.
    // (Written beside it and renamed over it, so the file system cannot hand out the old inode.)
    const ns = join(root, "proc", "4201", "ns", "net");
    writeFileSync(`${ns}.new`, "another namespace\n");
    renameSync(`${ns}.new`, ns);
    const s = await scrapeOnce(sockstatProbe, contextFor(sockstatProbe, root, reg));
    expect(s.some((x) => x.container?.container_name === "db")).toBe(false);
    expect(s.some((x) => x.container?.container_name === "app")).toBe(true);
  });

  test("a malformed file skips that container only, with one warning per container", async () => {
    const root = copyTree("v1-cgroupfs");
    const reg = registryFor(root);
    const db = reg.all().find((c) => c.name === "db")!;
    writeFileSync(join(reg.cgroupDir(db, "memory")!, "memory.stat"), "cache 1\nrss lots\n");
    const { log, lines } = capture();
    const inst: ProbeInstance = await memoryVmstatProbe.create(contextFor(memoryVmstatProbe, root, reg, {}, log));
    for (let i = 0; i < 3; i++) {
      const s = await inst.collect!();
      expect(s.some((x) => x.container?.container_name === "db")).toBe(false);
      expect(s.some((x) => x.container?.container_name === "app")).toBe(true);
    }
    const warns = lines.filter((l) => l.includes("level=warn"));
    expect(warns).toHaveLength(1);
    expect(warns[0]).toContain("memory.stat:2: rss is not an integer");
    expect(warns[0]).toContain(`container_id=${db.id}`);
  });

  test("files: gone errors and the size bound", async () => {
    const big = join(tmp, "big");
    writeFileSync(big, "x".repeat(2048));
    expect(() => readBounded(big, 1024)).toThrow(`${big}: larger than 1024 bytes`);
    expect(readBounded(big, 4096)).toHaveLength(2048);
    writeFileSync(big, "y".repeat(200_000)); // several reads of the 64 KiB buffer
    expect(readBounded(big)).toBe("y".repeat(200_000));
    let err: unknown;
    try {
      readBounded(join(tmp, "nope"));
    } catch (e) {
      err = e;
    }
    expect(isGone(err)).toBe(true);
    expect(isGone(new Error("plain"))).toBe(false);
    const state = new PerContainer<number>();
    const [a, b] = containersOf(join(FIXTURES, "v1-cgroupfs"));
    state.set(a!, 1);
    state.set(b!, 2);
    state.retain([a!]);
    expect([state.get(a!), state.get(b!), state.size]).toEqual([1, undefined, 1]);
  });
});

// ── cost with many containers ─────────────────────────────────────────────────────────────────

describe("100 containers", () => {
  test("every probe gives series for each of them; scrape time reported", async () => {
    const N = 100;
    const root = copyTree("v1-cgroupfs");
    const base = containersOf(root).find((c) => c.name === "db")!;
    const reg0 = registryFor(root);
    const list: Container[] = [];
    for (let i = 0; i < N; i++) {
      const id = i.toString(16).padStart(64, "0");
      const cgroupPath = `/kubepods/burstable/podfeed${i}/${id}`;
      for (const ctrl of ["cpu,cpuacct", "memory"]) {
        const from = join(root, "sys/fs/cgroup", ctrl, base.cgroupPath);
        const to = join(root, "sys/fs/cgroup", ctrl, cgroupPath);
        mkdirSync(to, { recursive: true });
        for (const f of readdirSync(from)) cpSync(join(from, f), join(to, f));
      }
      // Each container its own network namespace (a copy of db's files) and init process.
      const pid = 20_000 + i;
      cpSync(join(root, "proc", "4201"), join(root, "proc", String(pid)), { recursive: true });
      writeFileSync(join(root, "sys/fs/cgroup/cpu,cpuacct", cgroupPath, "tasks"), `${pid}\n`);
      list.push({
        ...base, id, cgroupPath, name: `c${i}`, hostname: `pod-${i}`, initPid: pid, startedAtMs: i,
        netnsInum: statSync(join(root, "proc", String(pid), "ns", "net")).ino,
      });
    }
    expect(reg0.unified).toBe(false);
    const reg = registryFor(root, list);
    const times: Record<string, number> = {};
    let total = 0;
    for (const def of PROBES) {
      // Warm-up on one instance (JIT, page cache); the timed scrape is a fresh instance's, so
      // cpu_util / cpu_stat read every file instead of answering from their once-a-second cache.
      await (await def.create(contextFor(def, root, reg))).collect!();
      const inst = await def.create(contextFor(def, root, reg));
      const t0 = performance.now();
      const s = await inst.collect!();
      const ms = performance.now() - t0;
      times[def.name] = Math.round(ms * 10) / 10;
      total += ms;
      if (def.name !== "memory_events") expect(new Set(s.filter((x) => x.container).map((x) => x.container!.container_name)).size).toBe(N);
    }
    console.log(`container series, ${N} containers (cgroup v1 fixture tree): ${Math.round(total)} ms per scrape of all nine probes`, times);
  });
});
