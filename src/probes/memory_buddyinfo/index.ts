// memory_buddyinfo: HUATUO's `memory_buddyinfo_blocks{node,zone,order}`, the free blocks of each
// order in each zone, from /proc/buddyinfo.
import { readFile } from "node:fs/promises";
import type { Sample } from "../../metrics/sample.ts";
import { defineProbe } from "../types.ts";
import { parseBuddyInfo } from "./parse.ts";

export const memoryBuddyinfoProbe = defineProbe({
  name: "memory_buddyinfo",
  kind: "metric",
  source: "procfs /proc/buddyinfo",
  defaultEnabled: true,

  create(ctx) {
    const path = ctx.procfs.proc("buddyinfo");
    return {
      async collect(): Promise<Sample[]> {
        const samples: Sample[] = [];
        for (const z of parseBuddyInfo(await readFile(path, "utf8"), path)) {
          z.blocks.forEach((value, order) => {
            samples.push({ name: "blocks", help: "buddy info", type: "gauge", value, labels: { node: z.node, zone: z.zone, order: String(order) } });
          });
        }
        return samples;
      },
      stop() {},
    };
  },
});
