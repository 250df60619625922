// netdev_events, netdev_txqueue_timeout and netdev_bonding_lacp on the real kernel.
//
// netdev_events listens in a network namespace of our own: a veth pair between two namespaces
// and a procfs root whose proc/1 is a process in namespace a, so "the host" is namespace a and
// the machine's own devices are never touched. `ip link set va down/up` in a are admin changes of
// va (its carrier follows), `ip link set vb down/up` in b are carrier changes of va only.
// netdev_txqueue_timeout cannot be provoked (veth has no transmit watchdog): its program must
// load and attach. netdev_bonding_lacp is unsupported where the bonding driver is absent.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { spawn, type Subprocess } from "bun";
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { sharedRingScheduler } from "../../src/bpf/ring-scheduler.ts";
import { sectionDefaults } from "../../src/config/spec.ts";
import { silentLogger, type Logger } from "../../src/log.ts";
import type { Sample } from "../../src/metrics/sample.ts";
import { netdevBondingLacpProbe } from "../../src/probes/netdev_bonding_lacp/index.ts";
import { NETDEV_EVENTS_CONFIG, netdevEventsProbe } from "../../src/probes/netdev_events/index.ts";
import { netdevTxqueueTimeoutProbe } from "../../src/probes/netdev_txqueue_timeout/index.ts";
import { ProbeUnsupportedError, type ProbeEmission, type ProbeInstance } from "../../src/probes/types.ts";
import { procfsRoot } from "../../src/procfs/root.ts";
import { kernelTestSkipReason, waitFor } from "./agent.ts";
import { vethPair, type VethPair } from "./netns.ts";

const skip = kernelTestSkipReason();
const FIXTURES = join(import.meta.dir, "../fixtures/bonding");

/** A logger keeping info lines as "msg {fields}". */
function recordingLogger(lines: string[]): Logger {
  const log: Logger = { ...silentLogger, info: (m, f) => void lines.push(`${m} ${JSON.stringify(f ?? {})}`), child: () => log };
  return log;
}

/** Wait until `pid` is in the network namespace /run/netns/<name>. */
async function inNetns(pid: number, name: string): Promise<void> {
  const target = statSync(`/run/netns/${name}`).ino;
  await waitFor(`process ${pid} to enter namespace ${name}`, () => {
    try {
      return statSync(`/proc/${pid}/ns/net`).ino === target || undefined;
    } catch {
      return undefined;
    }
  }, 5000);
}

/** A procfs root whose proc/1 is /proc/<pid>: the probe takes that process's namespace as the host's. */
function rootFor(pid: number): string {
  const root = mkdtempSync(join(tmpdir(), "kpulse-netdev-events-"));
  mkdirSync(join(root, "proc"));
  symlinkSync(`/proc/${pid}`, join(root, "proc", "1"));
  return root;
}

/** status → value of va's linkstatus counters, and va's labels. */
function counters(samples: Sample[], device: string): { values: Record<string, number>; labels: Record<string, string> | undefined } {
  const mine = samples.filter((s) => s.labels?.device === device && s.name.startsWith("linkstatus_"));
  return {
    values: Object.fromEntries(mine.map((s) => [s.name.replace(/^linkstatus_|_total$/g, ""), s.value])),
    labels: mine[0]?.labels,
  };
}

describe.skipIf(!!skip)("netdev_events in a namespace of our own", () => {
  let pair: VethPair;
  let holder: Subprocess;
  let root: string;
  let inst: ProbeInstance | undefined;
  const got: ProbeEmission[] = [];

  beforeAll(async () => {
    pair = vethPair(`kpnd${process.pid}`, "192.0.2.1/24", "192.0.2.2/24");
    holder = spawn(["ip", "netns", "exec", pair.a, "sleep", "300"], { stdout: "ignore", stderr: "ignore" });
    await inNetns(holder.pid, pair.a);
    root = rootFor(holder.pid);
  });

  afterAll(async () => {
    await inst?.stop();
    holder?.kill();
    pair?.remove();
    if (root) rmSync(root, { recursive: true, force: true });
  });

  /** The next event of va after `from` events, waited for. */
  const nextEvent = (from: number, what: string) =>
    waitFor(what, () => got.slice(from).find((e) => e.data.ifname === "va"), 10_000, 20);

  test("baseline counted without an event, then admin and carrier changes of va as events", async () => {
    const link = JSON.parse(pair.exec("a", ["ip", "-j", "link", "show", "va"]))[0] as { ifindex: number; address: string };
    inst = await netdevEventsProbe.create({
      config: { ...sectionDefaults(NETDEV_EVENTS_CONFIG, ""), DeviceList: ["va", "nomatch[0-9]+"] },
      procfs: procfsRoot(root),
      log: silentLogger,
      emit: (ev) => got.push(ev),
    });

    // Baseline: va is up with its carrier (vb is up); counted, nothing saved. lo is not listed.
    const start = counters((await inst.collect!()) as Sample[], "va");
    expect(start.values).toEqual({ unknown: 0, adminup: 1, admindown: 0, carrierup: 1, carrierdown: 0 });
    expect(start.labels).toMatchObject({ device: "va", driver: "veth", firmware_version: "" });
    expect(start.labels!.driver_version).toMatch(/\S/);
    expect(((await inst.collect!()) as Sample[]).some((s) => s.labels?.device === "lo")).toBe(false);
    expect(got).toEqual([]);

    let n = got.length;
    pair.exec("a", ["ip", "link", "set", "va", "down"]);
    const down = await nextEvent(n, "va's admin-down event");
    expect(down.data).toEqual({
      ifname: "va", index: link.ifindex, linkstatus: "linkstatus_admindown, linkstatus_carrierdown", mac: link.address,
      start: false, driver: "veth", driver_version: start.labels!.driver_version, firmware_version: "",
    });
    expect(Math.abs(down.timeMs! - Date.now())).toBeLessThan(10_000);

    n = got.length;
    pair.exec("a", ["ip", "link", "set", "va", "up"]);
    expect((await nextEvent(n, "va's admin-up event")).data.linkstatus).toBe("linkstatus_adminup, linkstatus_carrierup");

    // The peer going down takes va's carrier only.
    n = got.length;
    pair.exec("b", ["ip", "link", "set", "vb", "down"]);
    expect((await nextEvent(n, "va's carrier-down event")).data.linkstatus).toBe("linkstatus_carrierdown");
    n = got.length;
    pair.exec("b", ["ip", "link", "set", "vb", "up"]);
    expect((await nextEvent(n, "va's carrier-up event")).data.linkstatus).toBe("linkstatus_carrierup");

    // Counters: the baseline plus each change; one event per change, only for va.
    const end = counters((await inst.collect!()) as Sample[], "va");
    expect(end.values).toEqual({ unknown: 0, adminup: 2, admindown: 1, carrierup: 3, carrierdown: 2 });
    expect(got.map((e) => e.data.ifname)).toEqual(["va", "va", "va", "va"]);
    const emitted = ((await inst.collect!()) as Sample[]).find((s) => s.name === "events_total");
    expect(emitted?.value).toBe(4);
    await inst.stop();
    inst = undefined;
  });
});

describe.skipIf(!!skip)("netdev_txqueue_timeout (real kernel)", () => {
  // No device here has a transmit watchdog that can be made to fire (veth has none, no module
  // can be loaded): the program must load and attach to the tracepoint, tp_btf first.
  test("loads and attaches tp_btf/net_dev_xmit_timeout; no event, counters at 0", async () => {
    const lines: string[] = [];
    const inst = await netdevTxqueueTimeoutProbe.create({ config: undefined, procfs: procfsRoot(""), log: recordingLogger(lines), emit: () => {} });
    try {
      const loaded = lines.find((l) => l.startsWith("bpf probe loaded "));
      expect(loaded).toBeDefined();
      expect(JSON.parse(loaded!.slice("bpf probe loaded ".length)).programs).toBe("netdev_txqueue_timeout_btf");
      const samples = (await inst.collect!()) as Sample[];
      const outcomes = Object.fromEntries(samples.filter((s) => s.name === "events_total").map((s) => [s.labels!.outcome, s.value]));
      expect(outcomes).toEqual({ emitted: 0, ratelimited: 0, ringbuf_full: 0, filtered: 0, decode_error: 0, user_filtered: 0 });
    } finally {
      await inst.stop();
    }
  });
});

describe.skipIf(!!skip)("netdev_bonding_lacp (real kernel)", () => {
  test("this machine's /proc/net/bonding: unsupported without the bonding driver, else loads", async () => {
    const create = async () => netdevBondingLacpProbe.create({ config: undefined, procfs: procfsRoot(""), log: silentLogger, emit: () => {} });
    if (!existsSync("/proc/1/net/bonding") && !existsSync("/proc/net/bonding")) {
      const err = await create().then(() => undefined, (e: unknown) => e);
      expect(err).toBeInstanceOf(ProbeUnsupportedError);
      expect(String(err)).toContain("/proc/1/net/bonding nor /proc/net/bonding: the bonding driver is not loaded");
      return;
    }
    const inst = await create();
    try {
      expect(((await inst.collect!()) as Sample[]).map((s) => [s.name, s.value])).toEqual([["total", 0]]);
    } finally {
      await inst.stop();
    }
  });

  // The kernel's notifications drive the re-reads. Without a bonding driver the status files are
  // fixtures, and the notification is a real one for a device named like a slave they list: the
  // probe's "host" is a namespace of ours (proc/1/ns), its bonding directory a copy of the files.
  describe("re-reads the status on a notification for a slave, reports the 802.3ad change", () => {
    let ns = "";
    let holder: Subprocess | undefined;
    let root = "";
    let inst: ProbeInstance | undefined;

    afterAll(async () => {
      await inst?.stop();
      holder?.kill();
      if (ns) Bun.spawnSync(["ip", "netns", "del", ns], { stderr: "pipe" });
      if (root) rmSync(root, { recursive: true, force: true });
    });

    test("eth1 (a slave in the files) changes state after its port left the aggregator: one lacp event", async () => {
      ns = `kplacp${process.pid}`;
      const exec = (cmd: string[]) => {
        const r = Bun.spawnSync(["ip", "netns", "exec", ns, ...cmd], { stderr: "pipe" });
        if (r.exitCode !== 0) throw new Error(`${cmd.join(" ")}: ${r.stderr.toString()}`);
      };
      const add = Bun.spawnSync(["ip", "netns", "add", ns], { stderr: "pipe" });
      if (add.exitCode !== 0) throw new Error(`ip netns add: ${add.stderr.toString()}`);
      exec(["ip", "link", "add", "eth1", "type", "veth", "peer", "name", "eth1p"]);
      holder = spawn(["ip", "netns", "exec", ns, "sleep", "300"], { stdout: "ignore", stderr: "ignore" });
      await inNetns(holder.pid, ns);

      root = mkdtempSync(join(tmpdir(), "kpulse-lacp-"));
      const dir = join(root, "proc", "1", "net", "bonding");
      mkdirSync(dir, { recursive: true });
      symlinkSync(`/proc/${holder.pid}/ns`, join(root, "proc", "1", "ns"));
      cpSync(join(FIXTURES, "lacp-up"), dir, { recursive: true });

      const got: ProbeEmission[] = [];
      inst = await netdevBondingLacpProbe.create({ config: undefined, procfs: procfsRoot(root), log: silentLogger, emit: (e) => got.push(e) });
      expect(got).toEqual([]);

      // The files change; nothing reads them until the kernel says something about a bond device.
      cpSync(join(FIXTURES, "lacp-port-down"), dir, { recursive: true });
      exec(["ip", "link", "set", "eth1", "up"]);
      const ev = await waitFor("the lacp event", () => got[0], 10_000, 20);
      const files = ["bond0", "bond1"].map((b) => `/proc/net/bonding/${b}\n${readFileSync(join(FIXTURES, "lacp-port-down", b), "utf8")}`);
      expect(ev.data).toEqual({ content: files.join("") });
      expect(((await inst.collect!()) as Sample[]).find((s) => s.name === "total")?.value).toBe(1);
    });
  });
});

afterAll(async () => {
  await sharedRingScheduler().close();
});
