// arp: HUATUO's `arp_entries` (neighbours in the host's ARP table, /proc/1/net/arp) and
// `arp_total` (the kernel-wide ARP cache size, all network namespaces, the `entries` column of
// /proc/net/stat/arp_cache). Container series (`arp_container_entries`, from each container's
// /proc/<initpid>/net/arp) need a container source: arpEntrySamples() is what it will call.
//
// /proc/net/stat/arp_cache exists only in the initial network namespace's /proc/net, so it is
// looked for under pid 1 first (the host's, with hostPID) and then under kpulse's own view.
// Without it the probe is unsupported, as in HUATUO. HUATUO refreshes both numbers every 60 s;
// kpulse reads them on each scrape.
import { access, readFile } from "node:fs/promises";
import type { Sample } from "../../metrics/sample.ts";
import { hostNetFile } from "../../procfs/host-net.ts";
import { defineProbe, ProbeUnsupportedError } from "../types.ts";
import { countArpEntries, parseArpCacheEntries } from "./parse.ts";

/** The entries series of one net/arp text (host: HELP as HUATUO's host series). */
export function arpEntrySamples(text: string, path: string): Sample[] {
  return [{ name: "entries", help: "host init namespace", type: "gauge", value: countArpEntries(text, path) }];
}

export const arpProbe = defineProbe({
  name: "arp",
  kind: "metric",
  source: "procfs /proc/<pid>/net/arp, /proc/net/stat/arp_cache",
  defaultEnabled: true,

  async create(ctx) {
    const candidates = [ctx.procfs.proc("1", "net", "stat", "arp_cache"), ctx.procfs.proc("net", "stat", "arp_cache")];
    let cachePath: string | undefined;
    for (const p of candidates) {
      if (await access(p).then(() => true, () => false)) {
        cachePath = p;
        break;
      }
    }
    if (cachePath === undefined) throw new ProbeUnsupportedError(`no ARP cache statistics: neither ${candidates.join(" nor ")} exists`);
    const arpCache = cachePath;
    const arp = hostNetFile(ctx.procfs, "arp", ctx.log);
    return {
      async collect(): Promise<Sample[]> {
        const [table, cacheText] = await Promise.all([arp.read(), readFile(arpCache, "utf8")]);
        return [
          ...arpEntrySamples(table.text, table.path),
          { name: "total", help: "all entries in arp_cache for containers and host netns", type: "gauge", value: parseArpCacheEntries(cacheText, arpCache) },
        ];
      },
      stop() {},
    };
  },
});
