// Container series on the real kernel. The test makes its own "container" out of real parts: a
// cgroup v1 cpu + cpuacct + memory cgroup (/kpulse-ctseries-test-<pid>/<64 hex>, 0.5 CPU quota),
// a network namespace of its own, and python processes running inside both. Only discovery is
// done by hand: the Container record is built here (id, cgroup path, init pid, netns inode) and
// handed to the real ContainerRegistry over the host's real cgroup layout; every number then
// comes from the kernel's own files (cpuacct, cpu.stat, memory.stat, /proc/<pid>/net/*). It does
// not use containerd (the discovery tests do).
import { spawn, spawnSync, type Subprocess } from "bun";
import { afterAll, describe, expect, test } from "bun:test";
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, rmdirSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { sectionDefaults } from "../../src/config/spec.ts";
import { detectCgroupLayout } from "../../src/containers/layout.ts";
import { ContainerRegistry } from "../../src/containers/registry.ts";
import type { Container } from "../../src/containers/types.ts";
import { createLogger, type Logger } from "../../src/log.ts";
import { renderExposition } from "../../src/metrics/exposition.ts";
import type { Sample } from "../../src/metrics/sample.ts";
import { arpProbe } from "../../src/probes/arp/index.ts";
import { cpuStatProbe } from "../../src/probes/cpu_stat/index.ts";
import { cpuUtilProbe } from "../../src/probes/cpu_util/index.ts";
import { loadavgProbe } from "../../src/probes/loadavg/index.ts";
import { memoryVmstatProbe } from "../../src/probes/memory_vmstat/index.ts";
import { netdevProbe } from "../../src/probes/netdev/index.ts";
import { netstatProbe } from "../../src/probes/netstat/index.ts";
import { sockstatProbe } from "../../src/probes/sockstat/index.ts";
import type { ProbeDefinition, ProbeInstance } from "../../src/probes/types.ts";
import { procfsRoot } from "../../src/procfs/root.ts";
import { realPython } from "../tools/oom-memcg.ts";
import { kernelTestSkipReason, waitFor } from "./agent.ts";

const CGROUP = "/sys/fs/cgroup";
const CONTROLLERS = ["cpu", "cpuacct", "memory"] as const;
const python = realPython();

function skipReason(): string | undefined {
  const k = kernelTestSkipReason();
  if (k) return k;
  if (existsSync(join(CGROUP, "cgroup.controllers"))) return "cgroup v2 host: this test builds a v1 cgroup";
  for (const c of CONTROLLERS) if (!existsSync(join(CGROUP, c, "cgroup.procs"))) return `no cgroup v1 ${c} hierarchy`;
  if (!python) return "python3 not found";
  return undefined;
}
const skip = skipReason();

const TAG = `kpulse-ctseries-test-${process.pid}`;
const ID = randomBytes(32).toString("hex");
const PATH = `/${TAG}/${ID}`;
const NETNS = `kpulse-ctseries-${process.pid}`;

const sh = (cmd: string[]) => {
  const r = spawnSync(cmd, { stdout: "pipe", stderr: "pipe" });
  if (r.exitCode !== 0) throw new Error(`${cmd.join(" ")} failed (${r.exitCode}): ${r.stderr.toString().trim()}`);
};

/** argv run in the test cgroup (joined by the shell first) and in the test network namespace. */
function runInside(argv: string[]) {
  const join_ = CONTROLLERS.map((c) => `echo $$ > '${join(CGROUP, c, PATH, "cgroup.procs")}'`).join(" && ");
  return spawn(["/bin/sh", "-c", `${join_} && exec ip netns exec ${NETNS} "$@"`, "sh", ...argv], { stdin: "ignore", stdout: "pipe", stderr: "inherit" });
}

const procs: Subprocess[] = [];

async function cleanup(): Promise<void> {
  for (const p of procs) p.kill("SIGKILL");
  await Promise.all(procs.map((p) => p.exited));
  for (const c of CONTROLLERS) {
    for (const dir of [join(CGROUP, c, PATH), join(CGROUP, c, TAG)]) {
      if (!existsSync(dir)) continue;
      await waitFor(`rmdir ${dir}`, () => {
        try {
          rmdirSync(dir);
          return true;
        } catch {
          return undefined; // the killed tasks are still leaving
        }
      }, 10_000, 20);
    }
  }
  spawnSync(["ip", "netns", "del", NETNS], { stderr: "pipe" });
}

afterAll(cleanup);

// The init process: a UDP socket bound in its namespace (sockstat UDP inuse 1), five datagrams
// to itself over lo (netdev lo counters), then it waits.
const INIT = [
  "import socket, time",
  "s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)",
  "s.bind(('127.0.0.1', 0))",
  "for _ in range(5):",
  "    s.sendto(b'x' * 100, s.getsockname()); s.recv(200)",
  "print('ready', flush=True)",
  "time.sleep(3600)",
].join("\n");

const CONST = { host: "kpulse-e2e", region: "e2e" };
const LABELS = 'container_host="ctseries-e2e-pod",container_hostnamespace="kpulse-test",container_level="burstable",container_name="burner",container_type="normal"';

describe.skipIf(!!skip)("container series (real kernel, hand-made container)", () => {
  test("cpu, load, memory and per-netns network series for the container, gone once it is removed", async () => {
    for (const c of CONTROLLERS) mkdirSync(join(CGROUP, c, PATH), { recursive: true });
    writeFileSync(join(CGROUP, "cpu", PATH, "cpu.cfs_quota_us"), "50000"); // 0.5 CPU
    sh(["ip", "netns", "add", NETNS]);
    sh(["ip", "-n", NETNS, "link", "set", "lo", "up"]);

    const init = runInside([python!, "-c", INIT]);
    procs.push(init);
    const reader = init.stdout.getReader();
    const first = await reader.read();
    expect(new TextDecoder().decode(first.value)).toContain("ready");

    const container: Container = {
      id: ID, name: "burner", hostname: "ctseries-e2e-pod", type: "normal", qos: "burstable", hostNamespace: "kpulse-test",
      runtime: "unknown", source: "containerd", podName: "ctseries-e2e-pod", podUid: "", initPid: init.pid, cgroupPath: PATH,
      cgroupIds: {}, netnsInum: statSync(`/proc/${init.pid}/ns/net`).ino, netnsCookie: "", hostNetwork: false,
      startedAtMs: Date.now(), syncedAtMs: Date.now(),
    };
    // The init process really is in our namespace, not the host's.
    expect(container.netnsInum).not.toBe(statSync("/proc/self/ns/net").ino);
    const procfs = procfsRoot("");
    const reg = new ContainerRegistry(detectCgroupLayout(procfs), procfs, { minAgeMs: 0, maxTracked: 1000 });
    reg.replace([container]);
    expect(reg.unified).toBe(false);

    // Warnings about the container; the host half of netdev's netlink mode may warn that pid 1's
    // namespace is not enterable from this test's sandbox (it then uses its own), which is not ours.
    const warnings: string[] = [];
    const log: Logger = createLogger("warn", (l) => {
      if (!l.includes("host network namespace not accessible")) warnings.push(l);
    });
    const instances = new Map<string, ProbeInstance>();
    const defs: ProbeDefinition<any>[] = [cpuUtilProbe, cpuStatProbe, loadavgProbe, memoryVmstatProbe, netdevProbe, netstatProbe, sockstatProbe, arpProbe];
    for (const def of defs) {
      const config = def.config ? sectionDefaults(def.config, "") : undefined;
      instances.set(def.name, await def.create({ config, procfs, log, containers: reg, emit() {} }));
    }
    const scrape = async (name: string): Promise<Sample[]> => (await instances.get(name)!.collect!()).filter((s) => s.container);
    const value = (s: Sample[], name: string, device?: string) => s.find((x) => x.name === name && (!device || x.labels?.device === device))?.value;

    // cpu_util: the baseline, then an idle second, then a second of burning at the quota.
    expect(value(await scrape("cpu_util"), "cores")).toBe(0.5);
    await Bun.sleep(1100);
    const idle = await scrape("cpu_util");
    expect(value(idle, "total")).toBeLessThan(5);
    const burner = runInside([python!, "-c", "while True: pass"]);
    procs.push(burner);
    await Bun.sleep(500);
    await scrape("cpu_util");
    await Bun.sleep(1500);
    const busy = await scrape("cpu_util");
    const total = value(busy, "total")!;
    // Percent of its 0.5 CPU: a spinning process alone would use all of it; on a busy shared
    // 2-CPU test host it has been seen to get half of that.
    expect(total).toBeGreaterThan(25);
    expect(total).toBeGreaterThan(value(idle, "total")! + 20);
    expect(value(busy, "usr")!).toBeGreaterThan(value(busy, "sys")!);
    console.log(`cpu_util_container_total: idle ${value(idle, "total")!.toFixed(2)}, burning ${total.toFixed(1)} (of 0.5 CPU)`);

    // cpu_stat: spinning at a 0.5 quota gets throttled.
    const cpuStat = await scrape("cpu_stat");
    expect(value(cpuStat, "nr_throttled")!).toBeGreaterThan(0);
    expect(value(cpuStat, "throttled_time")!).toBeGreaterThan(0);

    // loadavg: the spinning thread is running; nothing is in D.
    const load = await scrape("loadavg");
    expect(value(load, "nr_running")!).toBeGreaterThanOrEqual(1);
    expect(value(load, "nr_uninterruptible")).toBe(0);

    // memory_vmstat: the python processes' memory is charged to the cgroup.
    const mem = await scrape("memory_vmstat");
    expect(value(mem, "rss")!).toBeGreaterThan(1 << 20);
    expect(value(mem, "hierarchical_memory_limit")).toBeGreaterThan(0);

    // Network series of its own namespace: lo carried the five datagrams, one UDP socket, no neighbours.
    const netdev = await scrape("netdev");
    expect(value(netdev, "receive_packets_total", "lo")).toBeGreaterThanOrEqual(5);
    expect(netdev.map((s) => s.labels?.device).filter((d, i, a) => a.indexOf(d) === i)).toEqual(["lo"]);
    const rendered = renderExposition({ namespace: "kpulse", constLabels: CONST }, [{ prefix: "netdev", samples: netdev }]);
    expect(rendered).toMatch(new RegExp(`^kpulse_netdev_container_receive_packets_total\\{${LABELS.replace(/[{}]/g, "\\$&")},device="lo",host="kpulse-e2e",region="e2e"\\} \\d+$`, "m"));
    // EnableNetlink: the RTM_GETLINK dump from a socket opened in the container's namespace.
    const viaNetlink = await netdevProbe.create({
      config: { ...sectionDefaults(netdevProbe.config!, ""), EnableNetlink: true }, procfs, log, containers: reg, emit() {},
    });
    const nl = (await viaNetlink.collect!()).filter((x) => x.container);
    expect(value(nl, "receive_packets_total", "lo")).toBe(value(await scrape("netdev"), "receive_packets_total", "lo"));
    expect(value(nl, "receive_nohandler_total", "lo")).toBe(0); // a netlink-only series
    expect([...new Set(nl.map((s) => s.labels?.device))]).toEqual(["lo"]);
    const sock = await scrape("sockstat");
    expect(value(sock, "UDP_inuse")).toBe(1);
    expect(value(sock, "TCP_inuse")).toBe(0);
    expect(sock.some((s) => s.name.endsWith("_mem") || s.name.endsWith("_mem_bytes"))).toBe(false);
    const netstat = await scrape("netstat");
    expect(value(netstat, "Tcp_CurrEstab")).toBe(0);
    expect(value(netstat, "TcpExt_ListenDrops")).toBe(0);
    expect(value(await scrape("arp"), "entries")).toBe(0);
    expect(warnings).toEqual([]);

    // Removed (processes killed, cgroups and namespace deleted) while the registry still lists
    // it: every probe skips it silently on the next scrape.
    await cleanup();
    await Bun.sleep(1100); // past cpu_util's and cpu_stat's once-a-second cache
    for (const def of defs) expect(await scrape(def.name)).toEqual([]);
    expect((await viaNetlink.collect!()).filter((x) => x.container)).toEqual([]);
    expect(warnings).toEqual([]);
    expect(readFileSync("/proc/self/cgroup", "utf8")).not.toContain(TAG);
  }, 60_000);
});
