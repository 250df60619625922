// netdev_events (link messages, link statuses, device list, driver info, the tracker),
// netdev_txqueue_timeout (its decoder on records laid out from the object's BTF) and
// netdev_bonding_lacp (the /proc/net/bonding parser and the change detection on fixtures).
import { afterEach, describe, expect, test } from "bun:test";
import { cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { structLayoutOf, structSizeOf, withObjectFileBtf } from "../../src/bpf/btf.ts";
import { silentLogger } from "../../src/log.ts";
import { buildRequest, NLMSG_HDRLEN, walkMessages } from "../../src/netlink/wire.ts";
import { resolveLayout } from "../../src/probes/kit/decoders.ts";
import { bondingDir, isBondLink, LacpWatcher, netdevBondingLacpProbe } from "../../src/probes/netdev_bonding_lacp/index.ts";
import { bondingContent, is8023ad, lacpState, parseBonding } from "../../src/probes/netdev_bonding_lacp/parse.ts";
import { DRVINFO_SIZE, driverInfo, ETHTOOL_GDRVINFO, parseDrvinfo, SIOCETHTOOL } from "../../src/probes/netdev_events/ethtool.ts";
import { NETDEV_EVENTS_CONFIG } from "../../src/probes/netdev_events/index.ts";
import {
  changedStatuses, currentStatuses, deviceListProblem, deviceMatcher, IFF_LOWER_UP, IFF_UP, parseLinkMessage, RTM_DELLINK, RTM_NEWLINK, type LinkMessage,
} from "../../src/probes/netdev_events/link.ts";
import { NetdevTracker } from "../../src/probes/netdev_events/tracker.ts";
import { decodeNetdevTxqueueTimeout, NETDEV_TXQUEUE_TIMEOUT_FIELDS } from "../../src/probes/netdev_txqueue_timeout/decode.ts";
import { netdevTxqueueTimeoutProbe } from "../../src/probes/netdev_txqueue_timeout/index.ts";
import { ProbeUnsupportedError, type ProbeEmission } from "../../src/probes/types.ts";
import { procfsRoot } from "../../src/procfs/root.ts";

const FIXTURES = join(import.meta.dir, "../fixtures/bonding");
const enc = new TextEncoder();

/** Nested attributes as bytes (a request's attribute area without its header). */
const nested = (attrs: { type: number; value: Uint8Array | string }[]) => buildRequest(0, 0, 0, new Uint8Array(0), attrs).subarray(NLMSG_HDRLEN);

/** An RTM_NEWLINK/RTM_DELLINK message as the kernel sends it. */
function linkMessage(o: { type?: number; index: number; name: string; flags: number; mac?: number[]; kind?: string; slaveKind?: string; master?: number }): { view: DataView; length: number } {
  const ifi = new Uint8Array(16);
  const dv = new DataView(ifi.buffer);
  dv.setUint16(2, 1, true); // ARPHRD_ETHER
  dv.setInt32(4, o.index, true);
  dv.setUint32(8, o.flags, true);
  dv.setUint32(12, 0xffffffff, true);
  const attrs: { type: number; value: Uint8Array | string }[] = [{ type: 3, value: o.name }];
  if (o.mac) attrs.push({ type: 1, value: new Uint8Array(o.mac) });
  if (o.master) attrs.push({ type: 10, value: new Uint8Array(new Uint32Array([o.master]).buffer) });
  const info: { type: number; value: Uint8Array | string }[] = [];
  if (o.kind) info.push({ type: 1, value: o.kind });
  if (o.slaveKind) info.push({ type: 4, value: o.slaveKind });
  if (info.length) attrs.push({ type: 18 | 0x8000, value: nested(info) });
  const msg = buildRequest(o.type ?? RTM_NEWLINK, 0, 0, ifi, attrs);
  return { view: new DataView(msg.buffer), length: msg.byteLength };
}

function parsed(o: Parameters<typeof linkMessage>[0]): LinkMessage {
  const { view, length } = linkMessage(o);
  const [msg] = walkMessages(view, length, "test");
  return parseLinkMessage(view, msg!, "test");
}

const UP = IFF_UP | IFF_LOWER_UP | 0x1000 /* IFF_MULTICAST */ | 0x40 /* IFF_RUNNING */;
const DOWN = 0x1000;

describe("netdev_events: link messages and statuses", () => {
  test("an RTM_NEWLINK with name, flags, address, link kinds and master", () => {
    expect(parsed({ index: 7, name: "eth1", flags: UP, mac: [0x5c, 0x6f, 0x69, 0x34, 0xdc, 0x72], kind: "veth", slaveKind: "bond", master: 9 })).toEqual({
      type: RTM_NEWLINK, index: 7, name: "eth1", flags: UP, mac: "5c:6f:69:34:dc:72", kind: "veth", slaveKind: "bond", master: 9,
    });
    expect(parsed({ type: RTM_DELLINK, index: 1, name: "lo", flags: 0 })).toEqual({ type: RTM_DELLINK, index: 1, name: "lo", flags: 0, mac: "", kind: "", slaveKind: "", master: 0 });
  });

  test("a message without a name is refused, naming where", () => {
    const msg = buildRequest(RTM_NEWLINK, 0, 0, new Uint8Array(16), []);
    const view = new DataView(msg.buffer);
    expect(() => parseLinkMessage(view, walkMessages(view, msg.byteLength, "here")[0]!, "here")).toThrow("here: ifindex 0: no IFLA_IFNAME");
  });

  test("statuses follow IFF_UP then IFF_LOWER_UP, HUATUO's names", () => {
    expect(changedStatuses(DOWN, IFF_UP | IFF_LOWER_UP)).toEqual(["linkstatus_admindown", "linkstatus_carrierdown"]);
    expect(changedStatuses(UP, IFF_UP | IFF_LOWER_UP)).toEqual(["linkstatus_adminup", "linkstatus_carrierup"]);
    expect(changedStatuses(IFF_UP, IFF_LOWER_UP)).toEqual(["linkstatus_carrierdown"]);
    expect(changedStatuses(UP, 0x40)).toEqual([]); // IFF_RUNNING alone is neither
    expect(currentStatuses(IFF_UP)).toEqual(["linkstatus_adminup", "linkstatus_carrierdown"]);
  });

  test("device list: exact names (a dot is literal), full-match regexes, empty matches nothing", () => {
    const m = deviceMatcher(["eth0.100", "bond[0-9]+", "lo"]);
    expect(["eth0.100", "bond4", "lo"].every(m)).toBe(true);
    expect(["eth0x100", "bond", "xbond4", "bond4x", "lo0", "eth0"].some(m)).toBe(false);
    expect(deviceMatcher([])("eth0")).toBe(false);
    expect(deviceMatcher(["eth.*"])("veth0")).toBe(false); // anchored at both ends
    expect(deviceListProblem(["eth0", "eth[0-9]"])).toBeUndefined();
    expect(deviceListProblem(["eth0", "eth(0"])).toContain('entry "eth(0" is not a valid regular expression');
    expect(NETDEV_EVENTS_CONFIG.keys.DeviceList!.check!(["(?<!x)eth"])).toContain("not a valid regular expression");
  });
});

describe("netdev_events: driver information", () => {
  test("ETHTOOL_GDRVINFO request and reply", () => {
    const calls: { request: number; ifname: string; cmd: number; size: number }[] = [];
    const fake = {
      ifreqIoctl(request: number, ifname: string, data: Uint8Array) {
        calls.push({ request, ifname, cmd: new DataView(data.buffer).getUint32(0, true), size: data.byteLength });
        data.set(enc.encode("ixgbe\0"), 4);
        data.set(enc.encode("5.1.0-k\0"), 36);
        data.set(enc.encode("3.25 0x80000421 1.2163.0"), 68);
        data.set(enc.encode("0000:3b:00.0"), 100);
      },
    };
    expect(driverInfo(fake, "eth1")).toEqual({ driver: "ixgbe", driverVersion: "5.1.0-k", firmwareVersion: "3.25 0x80000421 1.2163.0" });
    expect(calls).toEqual([{ request: SIOCETHTOOL, ifname: "eth1", cmd: ETHTOOL_GDRVINFO, size: DRVINFO_SIZE }]);
    expect(() => parseDrvinfo(new Uint8Array(100))).toThrow("ethtool_drvinfo of 100 bytes");
  });
});

describe("netdev_events: the tracker", () => {
  const info = (name: string) => {
    if (name === "lo") throw new Error("EOPNOTSUPP");
    return { driver: "ixgbe", driverVersion: "5.1.0-k", firmwareVersion: "3.25" };
  };
  const link = (index: number, name: string, flags: number, type = RTM_NEWLINK): LinkMessage => ({ type, index, name, flags, mac: "5c:6f:69:34:dc:72", kind: "", slaveKind: "", master: 0 });
  const values = (t: NetdevTracker, device: string) =>
    Object.fromEntries(t.samples().filter((s) => s.labels!.device === device).map((s) => [s.name, s.value]));

  test("baseline counted once, changes become events, other devices ignored", () => {
    const noInfo: string[] = [];
    const t = new NetdevTracker(deviceMatcher(["eth[01]", "lo"]), info, (name) => noInfo.push(name));
    t.baseline([link(1, "lo", IFF_UP | IFF_LOWER_UP), link(2, "eth0", UP), link(3, "eth1", DOWN), link(4, "eth2", UP)]);
    expect(t.devices).toEqual(["eth0", "eth1", "lo"]);
    expect(noInfo).toEqual(["lo"]);
    expect(values(t, "eth0")).toEqual({
      linkstatus_unknown_total: 0, linkstatus_adminup_total: 1, linkstatus_admindown_total: 0, linkstatus_carrierup_total: 1, linkstatus_carrierdown_total: 0,
    });
    expect(values(t, "eth1")).toMatchObject({ linkstatus_admindown_total: 1, linkstatus_carrierdown_total: 1, linkstatus_adminup_total: 0 });
    expect(t.samples().find((s) => s.labels!.device === "eth0")!.labels).toEqual({ device: "eth0", driver: "ixgbe", driver_version: "5.1.0-k", firmware_version: "3.25" });
    expect(t.samples().find((s) => s.labels!.device === "lo")!.labels).toEqual({ device: "lo", driver: "", driver_version: "", firmware_version: "" });

    expect(t.apply(link(2, "eth0", UP))).toBeNull(); // same flags
    expect(t.apply(link(4, "eth2", DOWN))).toBeNull(); // not listed
    expect(t.apply(link(2, "eth0", IFF_UP | 0x1000))).toEqual({
      ifname: "eth0", index: 2, linkstatus: "linkstatus_carrierdown", mac: "5c:6f:69:34:dc:72", start: false,
      driver: "ixgbe", driver_version: "5.1.0-k", firmware_version: "3.25",
    });
    expect(t.apply(link(2, "eth0", DOWN))!.linkstatus).toBe("linkstatus_admindown");
    expect(t.apply(link(2, "eth0", UP))!.linkstatus).toBe("linkstatus_adminup, linkstatus_carrierup");
    expect(values(t, "eth0")).toMatchObject({ linkstatus_adminup_total: 2, linkstatus_admindown_total: 1, linkstatus_carrierup_total: 2, linkstatus_carrierdown_total: 1 });
    expect(t.emitted).toBe(3);
  });

  test("devices appearing later, renamed, deleted; a resync reports the net change", () => {
    const t = new NetdevTracker(deviceMatcher(["eth[0-9]"]), info);
    t.baseline([link(2, "eth0", UP)]);
    expect(t.apply(link(5, "eth5", DOWN))).toBeNull(); // new: baseline-counted
    expect(values(t, "eth5")).toMatchObject({ linkstatus_admindown_total: 1, linkstatus_carrierdown_total: 1 });
    expect(t.apply(link(5, "eth5", UP))!.linkstatus).toBe("linkstatus_adminup, linkstatus_carrierup");
    expect(t.apply(link(5, "xeth5", UP))).toBeNull(); // renamed out of the list
    expect(t.devices).toEqual(["eth0"]);
    expect(t.apply(link(2, "eth0", 0, RTM_DELLINK))).toBeNull();
    expect(t.devices).toEqual([]);
    expect(t.samples()).toEqual([]);

    t.baseline([link(2, "eth0", UP), link(3, "eth1", UP)]);
    const events = t.resync([link(2, "eth0", DOWN), link(6, "eth6", UP)]);
    expect(events.map((e) => [e.ifname, e.linkstatus])).toEqual([["eth0", "linkstatus_admindown, linkstatus_carrierdown"]]);
    expect(t.devices).toEqual(["eth0", "eth6"]);
  });
});

describe("netdev_txqueue_timeout decoding", () => {
  const OBJ = netdevTxqueueTimeoutProbe.bpf.object;
  const layout = withObjectFileBtf(OBJ, (btf) => structLayoutOf(btf, "netdev_txqueue_timeout_event"));
  const size = withObjectFileBtf(OBJ, (btf) => structSizeOf(btf, "netdev_txqueue_timeout_event"));
  const offsets = resolveLayout("netdev_txqueue_timeout_event", layout, NETDEV_TXQUEUE_TIMEOUT_FIELDS);

  test("a record laid out by the object's BTF", () => {
    const buf = new Uint8Array(size + 8);
    const dv = new DataView(buf.buffer);
    const at = 8; // records do not start at 0 in a ring
    buf.fill(0xee);
    buf.fill(0, at, at + size);
    dv.setUint32(at + offsets.queue_index, 3, true);
    buf.set(enc.encode("eth0"), at + offsets.name);
    buf.set(enc.encode("ixgbe"), at + offsets.driver);
    expect(decodeNetdevTxqueueTimeout(offsets, buf, dv, at)).toEqual({ queue_index: 3, device_name: "eth0", driver_name: "ixgbe" });
  });

  test("full-length names are not read past their fields", () => {
    const buf = new Uint8Array(size);
    const dv = new DataView(buf.buffer);
    buf.fill(0x61, offsets.name, offsets.name + 16); // no terminating NUL: IFNAMSIZ bytes
    buf.fill(0x62, offsets.driver, offsets.driver + 32);
    const d = decodeNetdevTxqueueTimeout(offsets, buf, dv, 0);
    expect(d.device_name).toBe("a".repeat(16));
    expect(d.driver_name).toBe("b".repeat(32));
  });
});

describe("netdev_bonding_lacp: /proc/net/bonding", () => {
  const read = (scenario: string, bond: string) => Bun.file(join(FIXTURES, scenario, bond)).text();
  const dirs: string[] = [];
  afterEach(() => {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  test("an 802.3ad bond: mode, aggregator, slaves with their LACPDU details", async () => {
    const b = parseBonding(await read("lacp-up", "bond0"), "bond0");
    expect(is8023ad(b)).toBe(true);
    expect(b.fields["MII Status"]).toBe("up");
    expect(b.fields["LACP rate"]).toBe("fast");
    expect(b.aggregator).toEqual({ "Aggregator ID": "1", "Number of ports": "2", "Actor Key": "15", "Partner Key": "32769", "Partner Mac Address": "00:1c:73:4a:8b:01" });
    expect(b.slaves.map((s) => s.name)).toEqual(["eth0", "eth1"]);
    expect(b.slaves[1]!.fields).toMatchObject({ "MII Status": "up", "Aggregator ID": "1", "Actor Churn State": "none", "Permanent HW addr": "5c:6f:69:34:dc:73" });
    expect(b.slaves[1]!.actor).toMatchObject({ "port number": "2", "port state": "63", "system mac address": "5c:6f:69:34:dc:72" });
    expect(b.slaves[1]!.partner).toMatchObject({ "port number": "14", "port state": "63", "oper key": "32769" });
  });

  test("another mode has no 802.3ad state; a file that is not a status file is refused", async () => {
    const b = parseBonding(await read("lacp-up", "bond1"), "bond1");
    expect(b.mode).toBe("fault-tolerance (active-backup)");
    expect(b.slaves.map((s) => s.name)).toEqual(["eth2", "eth3"]);
    expect(lacpState(b)).toBeNull();
    expect(() => parseBonding("MII Status: up\n", "/x/bond9")).toThrow('/x/bond9: no "Bonding Mode" line');
  });

  test("the state ignores counters and changes when a port leaves the aggregator", async () => {
    const up = lacpState(parseBonding(await read("lacp-up", "bond0"), "a"));
    const counters = lacpState(parseBonding(await read("lacp-counters", "bond0"), "b"));
    const down = lacpState(parseBonding(await read("lacp-port-down", "bond0"), "c"));
    expect(up).not.toBeNull();
    expect(counters).toBe(up);
    expect(down).not.toBe(up);
  });

  test("HUATUO's content: path, newline, file, for each file", () => {
    expect(bondingContent([{ path: "/proc/net/bonding/bond0", text: "A\n" }, { path: "/proc/net/bonding/bond1", text: "B\n" }])).toBe(
      "/proc/net/bonding/bond0\nA\n/proc/net/bonding/bond1\nB\n",
    );
  });

  test("the watcher reports an 802.3ad change once, with every file", async () => {
    const root = mkdtempSync(join(tmpdir(), "kpulse-bonding-"));
    dirs.push(root);
    const dir = join(root, "proc", "1", "net", "bonding");
    mkdirSync(dir, { recursive: true });
    const use = (scenario: string) => cpSync(join(FIXTURES, scenario), dir, { recursive: true });
    use("lacp-up");
    expect(bondingDir(procfsRoot(root).proc)).toBe(dir);

    const got: { content: string }[] = [];
    const w = new LacpWatcher({ dir, log: silentLogger, onChange: (d) => got.push(d) });
    await w.start();
    expect([...w.names].sort()).toEqual(["bond0", "bond1", "eth0", "eth1", "eth2", "eth3"]);
    await w.check();
    expect(got).toEqual([]);

    use("lacp-counters"); // counters only
    await w.check();
    expect(got).toEqual([]);

    // active-backup bond1 changes: not 802.3ad
    writeFileSync(join(dir, "bond1"), (await read("lacp-up", "bond1")).replace("Currently Active Slave: eth2", "Currently Active Slave: eth3"));
    await w.check();
    expect(got).toEqual([]);

    use("lacp-port-down");
    await Promise.all([w.check(), w.check()]); // the second joins the first: one event
    expect(got).toHaveLength(1);
    expect(w.total).toBe(1);
    const down0 = await read("lacp-port-down", "bond0");
    const down1 = await read("lacp-port-down", "bond1");
    expect(got[0]!.content).toBe(`/proc/net/bonding/bond0\n${down0}/proc/net/bonding/bond1\n${down1}`);
    await w.check();
    expect(got).toHaveLength(1);

    use("lacp-up"); // the port came back
    await w.check();
    expect(got).toHaveLength(2);
    await w.stop();
  });

  test("notifications that concern bonds: a bond, a bond's slave, or a name the files list", () => {
    const l = (name: string, kind = "", slaveKind = ""): LinkMessage => ({ type: RTM_NEWLINK, index: 3, name, flags: 0, mac: "", kind, slaveKind, master: 0 });
    const known = new Set(["bond0", "eth0"]);
    expect(isBondLink(l("bond7", "bond"), known)).toBe(true);
    expect(isBondLink(l("eth9", "", "bond"), known)).toBe(true);
    expect(isBondLink(l("eth0"), known)).toBe(true);
    expect(isBondLink(l("veth1", "veth"), known)).toBe(false);
  });

  test("no /proc/net/bonding: unsupported, saying why", async () => {
    const root = mkdtempSync(join(tmpdir(), "kpulse-bonding-"));
    dirs.push(root);
    const emitted: ProbeEmission[] = [];
    const create = netdevBondingLacpProbe.create({ config: undefined as never, procfs: procfsRoot(root), log: silentLogger, emit: (e) => emitted.push(e) });
    await expect(create).rejects.toBeInstanceOf(ProbeUnsupportedError);
    await expect(create).rejects.toThrow("the bonding driver is not loaded");
    expect(netdevBondingLacpProbe.tracerName).toBe("lacp");
  });
});
