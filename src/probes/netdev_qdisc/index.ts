// netdev_qdisc: statistics of each device's root qdisc from an rtnetlink RTM_GETQDISC dump in
// the host's network namespace, HUATUO's `netdev_qdisc_*{device,kind}`. Child qdiscs are left
// out (a root qdisc's counters already cover what passed through it), and so is `noqueue`,
// which queues nothing.
import { NETLINK_ROUTE } from "../../../ffi/netlink.ts";
import { key, section } from "../../config/spec.ts";
import { makeFilter, type NameFilter } from "../../metrics/filter.ts";
import type { Sample } from "../../metrics/sample.ts";
import { hostNetlink, withSocket, type NetlinkOpener } from "../../netlink/host.ts";
import { linkNames } from "../../netlink/links.ts";
import { request } from "../../netlink/request.ts";
import { NLM_F_DUMP } from "../../netlink/wire.ts";
import { defineProbe, type ProbeInstance } from "../types.ts";
import { parseQdiscMessage, RTM_GETQDISC, RTM_NEWQDISC, TC_H_ROOT, TCMSG_SIZE, type QdiscStats } from "./parse.ts";

export const QDISC_CONFIG = section("MetricCollector.Qdisc", {
  DeviceIncluded: key.regex(""),
  DeviceExcluded: key.regex(""),
});

// HUATUO's names, types and HELP (its sample output).
const SERIES: readonly { name: string; help: string; type: "counter" | "gauge"; value: (q: QdiscStats) => number }[] = [
  { name: "bytes_total", help: "Number of bytes sent.", type: "counter", value: (q) => q.bytes },
  { name: "packets_total", help: "Number of packets sent.", type: "counter", value: (q) => q.packets },
  { name: "drops_total", help: "Number of packet drops.", type: "counter", value: (q) => q.drops },
  { name: "requeues_total", help: "Number of packets dequeued, not transmitted, and requeued.", type: "counter", value: (q) => q.requeues },
  { name: "overlimits_total", help: "Number of packet overlimits.", type: "counter", value: (q) => q.overlimits },
  { name: "current_queue_length", help: "Number of packets currently in queue to be sent.", type: "gauge", value: (q) => q.qlen },
  { name: "backlog", help: "Number of bytes currently in queue to be sent.", type: "gauge", value: (q) => q.backlog },
];

export const netdevQdiscProbe = defineProbe({
  name: "netdev_qdisc",
  kind: "metric",
  source: "netlink RTM_GETQDISC dump (root qdiscs)",
  defaultEnabled: true,
  config: QDISC_CONFIG,

  create(ctx) {
    const keep = makeFilter(ctx.config.DeviceIncluded, ctx.config.DeviceExcluded, "MetricCollector.Qdisc.Device");
    return qdiscCollector(hostNetlink(ctx.procfs, ctx.log), keep);
  },
});

/** The collector for one namespace (the host's; a container's later). */
export function qdiscCollector(opener: NetlinkOpener, keep: NameFilter): ProbeInstance {
  return {
    collect() {
      return withSocket(opener, NETLINK_ROUTE, (sock) => {
        const ns = opener.describe();
        // qdisc messages carry the ifindex only: names come from a link dump just before.
        const names = linkNames(sock, `netlink RTM_GETLINK dump (${ns})`);
        const where = `netlink RTM_GETQDISC dump (${ns})`;
        const samples: Sample[] = [];
        request(sock, { type: RTM_GETQDISC, flags: NLM_F_DUMP, payload: new Uint8Array(TCMSG_SIZE), where }, (view, msg) => {
          if (msg.type !== RTM_NEWQDISC) return;
          const q = parseQdiscMessage(view, msg, where);
          if (q.parent !== TC_H_ROOT || q.kind === "noqueue") return;
          const device = names.get(q.ifindex);
          // A device created between the two dumps: it shows up on the next scrape.
          if (device === undefined || !keep(device)) return;
          samples.push(...samplesFor(q, device));
        });
        return samples;
      });
    },
    stop() {},
  };
}

export function samplesFor(q: QdiscStats, device: string): Sample[] {
  const labels = { device, kind: q.kind };
  return SERIES.map((s) => ({ name: s.name, help: s.help, type: s.type, value: s.value(q), labels }));
}
