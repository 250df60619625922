// The procfs-metric kit's simplest shape: a metric probe that reads one file of the host's
// network namespace (/proc/1/net/<file>, falling back to the agent's own) on every scrape and
// turns its text into samples with a pure function (which a container source can call with a
// container's file later).
import type { Sample } from "../../metrics/sample.ts";
import { hostNetFile } from "../../procfs/host-net.ts";
import { defineProbe, type ProbeDefinition } from "../types.ts";

export interface HostNetFileProbeSpec {
  name: string;
  /** File under /proc/<pid>/net/, e.g. "snmp". */
  file: string;
  defaultEnabled: boolean;
  /** Text of the file (and its path, for errors) → samples. */
  samples(text: string, path: string): Sample[];
}

export function defineHostNetFileProbe(spec: HostNetFileProbeSpec): ProbeDefinition<unknown> {
  return defineProbe({
    name: spec.name,
    kind: "metric",
    source: `procfs /proc/<pid>/net/${spec.file}`,
    defaultEnabled: spec.defaultEnabled,
    create(ctx) {
      const file = hostNetFile(ctx.procfs, spec.file, ctx.log);
      return {
        async collect() {
          const { path, text } = await file.read();
          return spec.samples(text, path);
        },
        stop() {},
      };
    },
  });
}
