// HUATUO's procfs host metric probes on the live kernel: each probe is created directly on the
// real /proc and checked for what must hold there (bounds, identities, counters that move after
// work this test does). Mount checks run in a private mount namespace of a child process, so the
// host's mount table is never touched.
import { afterAll, describe, expect, test } from "bun:test";
import { spawnSync } from "bun";
import { closeSync, fsyncSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, statSync, writeFileSync, writeSync } from "node:fs";
import { createServer, connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { sectionDefaults } from "../../src/config/spec.ts";
import { silentLogger } from "../../src/log.ts";
import type { Sample } from "../../src/metrics/sample.ts";
import { arpProbe } from "../../src/probes/arp/index.ts";
import { cpuUtilProbe } from "../../src/probes/cpu_util/index.ts";
import { diskioProbe } from "../../src/probes/diskio/index.ts";
import { parseDiskstats } from "../../src/probes/diskio/parse.ts";
import { memoryBuddyinfoProbe } from "../../src/probes/memory_buddyinfo/index.ts";
import { memoryEventsProbe } from "../../src/probes/memory_events/index.ts";
import { memoryVmstatProbe } from "../../src/probes/memory_vmstat/index.ts";
import { netstatProbe } from "../../src/probes/netstat/index.ts";
import { tcpMemoryProbe } from "../../src/probes/tcp_memory/index.ts";
import { ProbeUnsupportedError, type ProbeDefinition, type ProbeInstance } from "../../src/probes/types.ts";
import { pageSize } from "../../src/procfs/pagesize.ts";
import { procfsRoot } from "../../src/procfs/root.ts";
import { isRoot, ROOT, waitFor } from "./agent.ts";

const BUN = join(ROOT, "node_modules/.bin/bun");
const work = mkdtempSync(join(tmpdir(), "kpulse-huatuo-e2e-"));
const instances: ProbeInstance[] = [];
afterAll(async () => {
  for (const i of instances) await i.stop();
  rmSync(work, { recursive: true, force: true });
});

async function live<C>(def: ProbeDefinition<C>, overrides: Partial<C> = {}): Promise<ProbeInstance> {
  const config = { ...(def.config ? sectionDefaults(def.config, "") : ({} as C)), ...overrides };
  const inst = await def.create({ config, procfs: procfsRoot(""), log: silentLogger, emit() {} });
  instances.push(inst);
  return inst;
}
const value = (s: Sample[], name: string, labels: Record<string, string> = {}) =>
  s.find((x) => x.name === name && Object.entries(labels).every(([k, v]) => x.labels?.[k] === v))?.value;

describe("cpu_util (live /proc/stat)", () => {
  test("percentages in [0, 100], total ≥ usr + sys; a busy core shows up in the next value", async () => {
    const inst = await live(cpuUtilProbe);
    const check = (s: Sample[]) => {
      const [usr, sys, total] = ["usr", "sys", "total"].map((n) => value(s, n)!);
      for (const v of [usr, sys, total]) expect(v).toBeGreaterThanOrEqual(0);
      expect(total).toBeLessThanOrEqual(100 + 1e-9);
      expect(total).toBeGreaterThanOrEqual(usr + sys - 1e-9); // total = usr + sys + steal
      return { usr, sys, total };
    };
    const first = check(await inst.collect!()); // since boot
    expect(check(await inst.collect!())).toEqual(first); // within a second: the same value

    // Burn one core for 1.5 s; the next value covers (most of) that window.
    const cpus = readFileSync("/proc/stat", "utf8").split("\n").filter((l) => /^cpu\d+ /.test(l)).length;
    const busy = spawnSync([BUN, "-e", "const end = Date.now() + 1500; while (Date.now() < end) {}"]);
    expect(busy.exitCode).toBe(0);
    const after = check(await inst.collect!());
    // One busy core of `cpus` is 100/cpus percent; allow half of it for a slow or shared host.
    expect(after.total).toBeGreaterThan(50 / cpus);
    expect(after).not.toEqual(first);
  });
});

describe("diskio (live /proc/diskstats)", () => {
  test("counters never decrease between scrapes; iowait in [0, 100]", async () => {
    const inst = await live(diskioProbe);
    const a = await inst.collect!();
    await Bun.sleep(200);
    const b = await inst.collect!();
    for (const s of a.filter((x) => x.type === "counter")) {
      const later = value(b, s.name, s.labels);
      if (later !== undefined) expect(later).toBeGreaterThanOrEqual(s.value); // a device may go away
    }
    for (const s of [a, b]) {
      const iowait = value(s, "disk_iowait_percent")!;
      expect(iowait).toBeGreaterThanOrEqual(0);
      expect(iowait).toBeLessThanOrEqual(100);
    }
  });

  test("a synced write to a block-device filesystem grows its written_bytes_total", async () => {
    const st = statSync(work);
    // The kernel's new_encode_dev layout of st_dev.
    const major = (st.dev >> 8) & 0xfff;
    const minor = (st.dev & 0xff) | ((st.dev >> 12) & 0xfff00);
    const disk = parseDiskstats(readFileSync("/proc/diskstats", "utf8")).find((d) => d.major === major && d.minor === minor);
    if (!disk) {
      console.warn(`skipped: ${work} is not on a block device listed in /proc/diskstats (${major}:${minor})`);
      return;
    }
    const inst = await live(diskioProbe);
    const before = value(await inst.collect!(), "written_bytes_total", { device: disk.device })!;
    const fd = openSync(join(work, "written"), "w");
    try {
      writeSync(fd, Buffer.alloc(1 << 20, 7));
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    await waitFor("written bytes to grow", async () => value(await inst.collect!(), "written_bytes_total", { device: disk.device })! > before, 5000, 100);
  });
});

describe("netstat (live /proc/1/net/{snmp,netstat})", () => {
  test("Tcp and TcpExt fields exist; a loopback connection grows Tcp_ActiveOpens in our namespace", async () => {
    const inst = await live(netstatProbe);
    const s = await inst.collect!();
    for (const name of ["Tcp_ActiveOpens", "Tcp_PassiveOpens", "Tcp_CurrEstab", "TcpExt_TCPTimeouts", "TcpExt_ListenDrops"]) {
      expect(value(s, name)).toBeDefined();
    }
    expect(s.every((x) => x.name.startsWith("Tcp_") || x.name.startsWith("TcpExt_"))).toBe(true);
    expect(value(s, "TcpExt_TCPTimeouts")).toBeGreaterThanOrEqual(0);

    // Is pid 1's network namespace ours? (Its ns link may be unreadable even to root without
    // CAP_SYS_PTRACE, so look for our own listener in pid 1's TCP table instead.)
    const server = createServer((c) => c.end()).listen(0, "127.0.0.1");
    try {
      await new Promise((r) => server.once("listening", r));
      const port = (server.address() as { port: number }).port;
      const local = `0100007F:${port.toString(16).toUpperCase().padStart(4, "0")}`;
      if (!readFileSync("/proc/1/net/tcp", "utf8").includes(local)) {
        console.warn("skipped the ActiveOpens check: this test does not run in pid 1's network namespace");
        return;
      }
      const before = value(s, "Tcp_ActiveOpens")!;
      for (let i = 0; i < 3; i++) {
        await new Promise<void>((resolve, reject) => {
          const c = connect(port, "127.0.0.1", () => {
            c.end();
            resolve();
          });
          c.on("error", reject);
        });
      }
      await waitFor("Tcp_ActiveOpens to grow by 3", async () => value(await inst.collect!(), "Tcp_ActiveOpens")! >= before + 3, 5000, 50);
    } finally {
      server.close();
    }
  });

  test("the Included filter applies on the live files", async () => {
    const inst = await live(netstatProbe, { Included: "^TcpExt_TCPTimeouts$" });
    expect((await inst.collect!()).map((x) => x.name)).toEqual(["TcpExt_TCPTimeouts"]);
  });
});

describe("arp (live /proc/1/net/arp, arp_cache)", () => {
  test("entries ≥ 0 and total ≥ 0, or unsupported without arp_cache", async () => {
    let inst: ProbeInstance;
    try {
      inst = await live(arpProbe);
    } catch (err) {
      expect(err).toBeInstanceOf(ProbeUnsupportedError);
      return;
    }
    const s = await inst.collect!();
    expect(value(s, "entries")).toBeGreaterThanOrEqual(0);
    expect(value(s, "total")).toBeGreaterThanOrEqual(0);
    expect(Number.isInteger(value(s, "total"))).toBe(true);
  });
});

describe("tcp_memory (live)", () => {
  test("limit > 0, usage ratio in [0, 1], bytes = pages × page size", async () => {
    const s = await (await live(tcpMemoryProbe)).collect!();
    const pages = value(s, "usage_pages")!;
    const limit = value(s, "limit_pages")!;
    expect(limit).toBeGreaterThan(0);
    expect(value(s, "usage_bytes")).toBe(pages * pageSize());
    expect(value(s, "usage_percent")).toBeCloseTo(pages / limit, 12);
    expect(value(s, "usage_percent")).toBeLessThanOrEqual(1);
  });
});

describe("memory (live)", () => {
  test("vmstat: nr_free_pages > 0; the host filter applies", async () => {
    const all = await (await live(memoryVmstatProbe)).collect!();
    expect(value(all, "nr_free_pages")).toBeGreaterThan(0);
    expect(all.every((x) => x.help === `/proc/vmstat ${x.name}`)).toBe(true);
    const some = await (await live(memoryVmstatProbe, { IncludedOnHost: "^nr_free_pages$|^pgfault$", ExcludedOnHost: "fault" })).collect!();
    expect(some.map((x) => x.name)).toEqual(["nr_free_pages"]);
  });

  test("buddyinfo: free buddy memory is positive and below MemTotal", async () => {
    const s = await (await live(memoryBuddyinfoProbe)).collect!();
    const freePages = s.reduce((sum, x) => sum + x.value * 2 ** Number(x.labels!.order), 0);
    const memTotalKiB = Number(/^MemTotal:\s+(\d+) kB/m.exec(readFileSync("/proc/meminfo", "utf8"))![1]);
    expect(freePages).toBeGreaterThan(0);
    expect(freePages * pageSize()).toBeLessThanOrEqual(memTotalKiB * 1024);
  });

  test("memory_events: no host series", async () => {
    expect(await (await live(memoryEventsProbe)).collect!()).toEqual([]);
  });
});

describe.skipIf(!isRoot)("mountpoint_perm (live, private mount namespace)", () => {
  test("a read-only tmpfs is 1, a stacked ro mount hides the rw one and its children", () => {
    const top = join(work, "mnt");
    mkdirSync(top, { recursive: true });
    const script = `
      import { mountpointPermProbe } from ${JSON.stringify(join(ROOT, "src/probes/mountpoint_perm/index.ts"))};
      import { procfsRoot } from ${JSON.stringify(join(ROOT, "src/procfs/root.ts"))};
      const inst = await mountpointPermProbe.create({ config: { MountPointsIncluded: ${JSON.stringify(`^${top}`)} }, procfs: procfsRoot(""), log: console, emit() {} });
      console.log(JSON.stringify(await inst.collect()));`;
    const scriptFile = join(work, "collect.ts");
    writeFileSync(scriptFile, script);
    // rw tmpfs on top with a rw child on top/sub, then a ro tmpfs stacked on top: the view is
    // the ro one, and top/sub (under the covered rw tmpfs) is gone.
    const sh = [
      "set -e",
      `mount -t tmpfs kpulse-rw ${top}`,
      `mkdir ${top}/sub && mount -t tmpfs kpulse-sub ${top}/sub`,
      `mkdir -p ${top}/ro && mount -t tmpfs -o ro kpulse-ro ${top}/ro`,
      `${BUN} ${scriptFile} > ${work}/before.json`,
      `mount -t tmpfs -o ro kpulse-top ${top}`,
      `${BUN} ${scriptFile} > ${work}/after.json`,
    ].join("\n");
    const r = spawnSync(["unshare", "--mount", "--propagation", "private", "sh", "-c", sh], { stderr: "pipe" });
    if (r.exitCode !== 0 && /unshare|Operation not permitted/.test(r.stderr.toString())) {
      console.warn(`skipped: cannot make a mount namespace: ${r.stderr}`);
      return;
    }
    expect(r.exitCode, r.stderr.toString()).toBe(0);
    const read = (f: string) =>
      Object.fromEntries((JSON.parse(readFileSync(join(work, f), "utf8")) as Sample[]).map((s) => [s.labels!.mountpoint, s.value]));
    expect(read("before.json")).toEqual({ [top]: 0, [`${top}/sub`]: 0, [`${top}/ro`]: 1 });
    expect(read("after.json")).toEqual({ [top]: 1 });
    // The mounts lived in the child's namespace only.
    expect(readFileSync("/proc/self/mountinfo", "utf8")).not.toContain("kpulse-rw");
  });
});
