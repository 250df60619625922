// netdev: per-device counters, HUATUO's `netdev_<stat>_total{device}`. Default: the host's
// /proc/<pid>/net/dev; EnableNetlink = true: an rtnetlink RTM_GETLINK dump in the host's
// network namespace, which adds the detailed error counters (netlink.ts). Per normal container
// (not host-network ones), `netdev_container_<stat>_total{device}` the same way in its network
// namespace: /proc/<initpid>/net/dev, or the dump through /proc/<initpid>/ns/net; each namespace
// read once for all its containers.
import { NETLINK_ROUTE, NetlinkSocket, NetlinkSyscallError } from "../../../ffi/netlink.ts";
import { key, section } from "../../config/spec.ts";
import { ContainerWalk, netnsSeries, type NetnsGroup } from "../../containers/series.ts";
import { makeFilter, type NameFilter } from "../../metrics/filter.ts";
import type { Sample } from "../../metrics/sample.ts";
import { hostNetlink, RECV_TIMEOUT_MS, withSocket, type NetlinkOpener } from "../../netlink/host.ts";
import { IFINFOMSG_SIZE, RTM_GETLINK, RTM_NEWLINK } from "../../netlink/links.ts";
import { request } from "../../netlink/request.ts";
import { NLM_F_DUMP } from "../../netlink/wire.ts";
import { hostNetFile } from "../../procfs/host-net.ts";
import type { ProcfsRoot } from "../../procfs/root.ts";
import { containersOf, defineProbe, type ProbeContext, type ProbeInstance } from "../types.ts";
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

/** The series of one /proc/<pid>/net/dev text. */
export function procfsDevSamples(text: string, path: string, keep: NameFilter): Sample[] {
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
}

/** The series of one namespace's RTM_GETLINK dump. */
export function netlinkDevSamples(opener: NetlinkOpener, keep: NameFilter): Sample[] {
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
}

/** Netlink sockets in a container's namespace, entered through its process. */
function containerNetlink(procfs: ProcfsRoot, g: NetnsGroup): NetlinkOpener {
  const netnsPath = procfs.proc(String(g.pid), "ns", "net");
  return { describe: () => netnsPath, open: (protocol) => NetlinkSocket.open(protocol, { recvTimeoutMs: RECV_TIMEOUT_MS, netnsPath }) };
}

const ENOENT = 2;
const ESRCH = 3;

/** The container half: every normal container's namespace, read the way the host's is. */
function containerSeries(ctx: ProbeContext<unknown>, keep: NameFilter, netlink: boolean): () => Promise<Sample[]> {
  const view = containersOf(ctx);
  const walk = new ContainerWalk(ctx.log, "netdev");
  if (!netlink) {
    return () => netnsSeries(walk, ctx.procfs, view.forMetrics(["normal"]), ["dev"], ([dev]) => procfsDevSamples(dev!.text, dev!.path, keep));
  }
  return () =>
    netnsSeries(walk, ctx.procfs, view.forMetrics(["normal"]), [], (_texts, g) => {
      try {
        return netlinkDevSamples(containerNetlink(ctx.procfs, g), keep);
      } catch (err) {
        // The process left between the namespace check and the open: the container is gone.
        if (err instanceof NetlinkSyscallError && !err.call.startsWith("setns back") && (err.errno === ENOENT || err.errno === ESRCH)) return undefined;
        throw err;
      }
    });
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
    const containers = containerSeries(ctx, keep, cfg.EnableNetlink);
    if (cfg.EnableNetlink) return withContainers(netlinkMode(hostNetlink(ctx.procfs, ctx.log), keep), containers);

    const source = hostNetFile(ctx.procfs, "dev", ctx.log);
    return {
      async collect() {
        const { path, text } = await source.read();
        return [...procfsDevSamples(text, path, keep), ...(await containers())];
      },
      stop() {},
    };
  },
});

/** The host instance with the container series appended to each scrape. */
function withContainers(host: ProbeInstance, containers: () => Promise<Sample[]>): ProbeInstance {
  return {
    async collect() {
      return [...(await host.collect!()), ...(await containers())];
    },
    stop: () => host.stop(),
  };
}

/** The rtnetlink collector for one namespace (the host's). */
export function netlinkMode(opener: NetlinkOpener, keep: NameFilter): ProbeInstance {
  return {
    collect: () => netlinkDevSamples(opener, keep),
    stop() {},
  };
}
