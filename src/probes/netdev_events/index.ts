// netdev_events (event probe): link state changes of the devices [EventTracing.Netdev]
// DeviceList matches, from rtnetlink link notifications (RTNLGRP_LINK, RTM_NEWLINK) in the host's
// network namespace, with each device's driver, driver version and firmware version (ethtool
// ETHTOOL_GDRVINFO). At start one RTM_GETLINK dump is the baseline: its state is counted in
// netdev_events_linkstatus_<status>_total{device,driver,driver_version,firmware_version}, nothing
// is saved (HUATUO's behaviour); afterwards every admin (IFF_UP) or carrier (IFF_LOWER_UP) change
// is an event and counted. The notifications wake a waiter thread: the main thread never waits
// in a receive (listener.ts).
import { NETLINK_ROUTE, NetlinkSocket } from "../../../ffi/netlink.ts";
import { key, section } from "../../config/spec.ts";
import type { Sample } from "../../metrics/sample.ts";
import { hostNetlink, withSocket, type NetlinkConn, type NetlinkOpener } from "../../netlink/host.ts";
import { EVENTS_HELP } from "../kit/bpf-events.ts";
import { defineProbe, type ProbeContext, type ProbeInstance } from "../types.ts";
import { driverInfo } from "./ethtool.ts";
import { deviceListProblem, deviceMatcher, dumpLinks } from "./link.ts";
import { LinkListener } from "../../netlink/listener.ts";
import { NetdevTracker } from "./tracker.ts";

export const NETDEV_EVENTS_CONFIG = section("EventTracing.Netdev", {
  /** Devices to watch: exact names, or Go regexes matched against the whole name. Empty: none. */
  DeviceList: key.strings([], { check: deviceListProblem }),
});

const OVERRUNS_HELP = "Times the kernel dropped link notifications (receive buffer full); the probe re-read every link after each.";

/** The socket behind a NetlinkConn (hostNetlink opens real sockets). */
export function asSocket(c: NetlinkConn): NetlinkSocket {
  if (c instanceof NetlinkSocket) return c;
  c.close();
  throw new Error("netdev_events needs a real netlink socket");
}

export const netdevEventsProbe = defineProbe({
  name: "netdev_events",
  kind: "event",
  source: "netlink RTNLGRP_LINK (RTM_NEWLINK) + ethtool ETHTOOL_GDRVINFO, devices in DeviceList",
  defaultEnabled: true,
  config: NETDEV_EVENTS_CONFIG,
  create(ctx) {
    const list = [...new Set(ctx.config.DeviceList)];
    if (list.length === 0) {
      ctx.log.info("[EventTracing.Netdev] DeviceList is empty: no device watched");
      return { collect: () => [], stop() {} };
    }
    return startNetdevEvents(ctx, hostNetlink(ctx.procfs, ctx.log), deviceMatcher(list));
  },
});

/** Subscribe, take the baseline, then report changes. Synchronous up to the baseline, on purpose. */
export function startNetdevEvents(ctx: ProbeContext<unknown>, opener: NetlinkOpener, match: (name: string) => boolean): ProbeInstance {
  const ns = () => opener.describe();
  const where = () => `netlink RTM_GETLINK dump (${ns()})`;
  const warned = new Set<string>();

  const emitAll = (list: (Record<string, unknown> | null)[]) => {
    const timeMs = Date.now();
    for (const data of list) if (data) ctx.emit({ timeMs, data });
  };
  // Driver information through the dump's socket during the baseline, afterwards (a device that
  // appeared later) through a socket of its own.
  let infoSock: NetlinkConn | undefined;
  const info = (name: string) => (infoSock ? driverInfo(asSocket(infoSock), name) : withSocket(opener, NETLINK_ROUTE, (s) => driverInfo(asSocket(s), name)));
  const tracker = new NetdevTracker(match, info, (name, err) => {
    if (warned.has(name)) return;
    warned.add(name);
    ctx.log.info("no driver information for a watched device, its driver labels stay empty", { device: name, err: String(err) });
  });

  // Subscribe before the dump: a change racing it is then either in the dump or queued after it
  // (and compared with the baseline, so it is reported once). Notifications are handled from the
  // event loop only, so none is applied before the baseline below is complete.
  const listener = LinkListener.start({
    socket: asSocket(opener.open(NETLINK_ROUTE)),
    log: ctx.log,
    name: "netdev_events",
    onLinks: (links) => emitAll(links.map((l) => tracker.apply(l))),
    onOverrun: () => {
      ctx.log.warn("link notifications lost, re-reading every link", { netns: ns() });
      emitAll(withSocket(opener, NETLINK_ROUTE, (s) => tracker.resync(dumpLinks(s, where()))));
    },
  });
  try {
    withSocket(opener, NETLINK_ROUTE, (s) => {
      infoSock = s;
      try {
        tracker.baseline(dumpLinks(s, where()));
      } finally {
        infoSock = undefined;
      }
    });
  } catch (err) {
    void listener.stop();
    throw err;
  }
  ctx.log.info("netdev_events watching", { netns: ns(), devices: tracker.devices.join(",") });

  return {
    collect(): Sample[] {
      return [
        ...tracker.samples(),
        { name: "events_total", help: EVENTS_HELP, type: "counter", value: tracker.emitted, labels: { outcome: "emitted" } },
        { name: "netlink_overruns_total", help: OVERRUNS_HELP, type: "counter", value: listener.stats.overruns },
      ];
    },
    stop: () => listener.stop(),
  };
}
