// netdev: per-device counters, HUATUO's `netdev_<stat>_total{device}`. Default: the host's
// /proc/<pid>/net/dev; EnableNetlink = true: an rtnetlink RTM_GETLINK dump in the host's
// network namespace, which adds the detailed error counters (netlink.ts).
import { NETLINK_ROUTE } from "../../../ffi/netlink.ts";
import { key, section } from "../../config/spec.ts";
import { makeFilter, type NameFilter } from "../../metrics/filter.ts";
import type { Sample } from "../../metrics/sample.ts";
import { hostNetlink, withSocket, type NetlinkOpener } from "../../netlink/host.ts";
import { IFINFOMSG_SIZE, RTM_GETLINK, RTM_NEWLINK } from "../../netlink/links.ts";
import { request } from "../../netlink/request.ts";
import { NLM_F_DUMP } from "../../netlink/wire.ts";
import { hostNetFile } from "../../procfs/host-net.ts";
import { defineProbe, type ProbeInstance } from "../types.ts";
import { parseLinkMessage } from "./netlink.ts";
import { NETDEV_STATS, parseNetDev } from "./parse.ts";

export const NETDEV_CONFIG = section("MetricCollector.NetdevStats", {
  /** rtnetlink (RTM_GETLINK, IFLA_STATS64) instead of procfs. */
  EnableNetlink: key.bool(false),
  DeviceIncluded: key.regex(""),
  DeviceExcluded: key.regex(""),
});

// Names and HELP strings never change between scrapes: built once per stat.
const help = (stat: string) => `Network device statistic ${stat}.`;
const series = new Map<string, { name: string; help: string }>();
function seriesFor(stat: string) {
  let s = series.get(stat);
  if (!s) series.set(stat, (s = { name: `${stat}_total`, help: help(stat) }));
  return s;
}

export const netdevProbe = defineProbe({
  name: "netdev",
  kind: "metric",
  source: "procfs /proc/<pid>/net/dev",
  defaultEnabled: true,
  config: NETDEV_CONFIG,

  create(ctx) {
    const cfg = ctx.config;
    const keep = makeFilter(cfg.DeviceIncluded, cfg.DeviceExcluded, "MetricCollector.NetdevStats.Device");
    if (cfg.EnableNetlink) return netlinkMode(hostNetlink(ctx.procfs, ctx.log), keep);

    const source = hostNetFile(ctx.procfs, "dev", ctx.log);
    return {
      async collect() {
        const { path, text } = await source.read();
        const samples: Sample[] = [];
        for (const dev of parseNetDev(text, path)) {
          if (!keep(dev.device)) continue;
          const labels = { device: dev.device };
          for (const stat of NETDEV_STATS) {
            const s = seriesFor(stat);
            samples.push({ name: s.name, help: s.help, type: "counter", value: dev[stat], labels });
          }
        }
        return samples;
      },
      stop() {},
    };
  },
});

/** The rtnetlink collector for one namespace (the host's; a container's later). */
export function netlinkMode(opener: NetlinkOpener, keep: NameFilter): ProbeInstance {
  return {
    collect() {
      const samples: Sample[] = [];
      withSocket(opener, NETLINK_ROUTE, (sock) => {
        const where = `netlink RTM_GETLINK dump (${opener.describe()})`;
        request(sock, { type: RTM_GETLINK, flags: NLM_F_DUMP, payload: new Uint8Array(IFINFOMSG_SIZE), where }, (view, msg) => {
          if (msg.type !== RTM_NEWLINK) return;
          const link = parseLinkMessage(view, msg, where);
          if (!keep(link.device)) return;
          const labels = { device: link.device };
          for (const [stat, value] of link.stats) {
            const s = seriesFor(stat);
            samples.push({ name: s.name, help: s.help, type: "counter", value, labels });
          }
        });
      });
      return samples;
    },
    stop() {},
  };
}
