// sockstat: socket counts and memory by protocol from /proc/<pid>/net/sockstat (the host's
// network namespace), HUATUO's `sockstat_sockets_used` and `sockstat_<PROTO>_<field>`, plus
// `sockstat_<PROTO>_mem_bytes` (the kernel counts socket memory in pages). Per normal container
// (not host-network ones) sockstat_container_* from /proc/<initpid>/net/sockstat, without `mem`
// and `mem_bytes` as in HUATUO (socket memory is accounted per host, not per namespace).
import { ContainerWalk, netnsSeries } from "../../containers/series.ts";
import type { Sample } from "../../metrics/sample.ts";
import { hostNetFile } from "../../procfs/host-net.ts";
import { pageSize } from "../../procfs/pagesize.ts";
import { containersOf, defineProbe } from "../types.ts";
import { parseSockstat } from "./parse.ts";

// HELP strings are HUATUO's (seed sample), built once per series name.
const help = new Map<string, string>();
function helpFor(proto: string, field: string): string {
  const k = `${proto}_${field}`;
  let h = help.get(k);
  if (h === undefined) help.set(k, (h = `Number of ${proto} sockets in state ${field}.`));
  return h;
}

/** The series of one sockstat text; a container's leave out the memory fields. */
export function sockstatSamples(text: string, path: string, page: number, container: boolean): Sample[] {
  const samples: Sample[] = [];
  for (const { proto, fields } of parseSockstat(text, path)) {
    for (const [field, value] of fields) {
      if (proto === "sockets") {
        if (field === "used") samples.push({ name: "sockets_used", help: "Number of IPv4 sockets in use.", type: "gauge", value });
        continue;
      }
      if (container && field === "mem") continue;
      samples.push({ name: `${proto}_${field}`, help: helpFor(proto, field), type: "gauge", value });
      if (field === "mem") samples.push({ name: `${proto}_mem_bytes`, help: helpFor(proto, "mem_bytes"), type: "gauge", value: value * page });
    }
  }
  return samples;
}

export const sockstatProbe = defineProbe({
  name: "sockstat",
  kind: "metric",
  source: "procfs /proc/<pid>/net/sockstat",
  defaultEnabled: true,

  create(ctx) {
    const source = hostNetFile(ctx.procfs, "sockstat", ctx.log);
    const page = pageSize();
    const view = containersOf(ctx);
    const walk = new ContainerWalk(ctx.log, "sockstat");
    return {
      async collect(): Promise<Sample[]> {
        const { path, text } = await source.read();
        const containers = await netnsSeries(walk, ctx.procfs, view.forMetrics(["normal"]), ["sockstat"], ([t]) =>
          sockstatSamples(t!.text, t!.path, page, true));
        return [...sockstatSamples(text, path, page, false), ...containers];
      },
      stop() {},
    };
  },
});
