// Runs the probe table: creates every enabled probe, isolates each one's failures, collects
// metric probes on scrape and reports status for /v1/probes and <ns>_probe_up.
import type { Logger } from "../log.ts";
import type { Sample } from "../metrics/sample.ts";
import { ProbeUnsupportedError, type ProbeContext, type ProbeDefinition, type ProbeInstance, type ProbeKind } from "./types.ts";

export type ProbeState = "loaded" | "unsupported" | "failed" | "disabled";

export interface ProbeStatus {
  name: string;
  kind: ProbeKind;
  source: string;
  status: ProbeState;
  reason?: string;
}

export interface SampleGroup {
  prefix: string;
  samples: Sample[];
}

interface Entry {
  def: ProbeDefinition;
  status: ProbeStatus;
  instance?: ProbeInstance;
}

function errorText(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).split("\n")[0]!.slice(0, 500);
}

export class ProbeManager {
  private readonly entries: Entry[] = [];

  constructor(
    private readonly table: readonly ProbeDefinition[],
    private readonly ctx: ProbeContext,
    private readonly log: Logger,
  ) {}

  /** Creates and starts every probe not on the blacklist. Never throws: a probe that cannot load is reported. */
  async startAll(blacklist: ReadonlySet<string>): Promise<void> {
    for (const def of this.table) {
      const status: ProbeStatus = { name: def.name, kind: def.kind, source: def.source, status: "disabled" };
      const entry: Entry = { def, status };
      this.entries.push(entry);
      if (blacklist.has(def.name)) {
        status.reason = "in BlackList or --disable-tracing";
        continue;
      }
      if (!def.defaultEnabled) {
        status.reason = "off by default";
        continue;
      }
      try {
        entry.instance = await def.create({ ...this.ctx, log: this.ctx.log.child({ probe: def.name }) });
        await entry.instance.start?.();
        status.status = "loaded";
        delete status.reason;
      } catch (err) {
        const unsupported = err instanceof ProbeUnsupportedError;
        status.status = unsupported ? "unsupported" : "failed";
        status.reason = errorText(err);
        this.log.warn(`probe ${status.status}, the others keep running`, { probe: def.name, reason: status.reason });
        if (entry.instance) await this.stopOne(entry);
      }
    }
  }

  statuses(): ProbeStatus[] {
    return this.entries.map((e) => ({ ...e.status }));
  }

  /** Runs every loaded probe's collect() concurrently; one failure affects only its own samples. */
  async scrape(): Promise<SampleGroup[]> {
    const self: Sample[] = [];
    const groups: SampleGroup[] = [{ prefix: "", samples: self }];
    for (const e of this.entries) {
      if (e.status.status === "disabled") continue;
      self.push({
        name: "probe_up",
        help: "1 when the probe is loaded and running, 0 when it is unsupported or failed (see GET /v1/probes).",
        type: "gauge",
        value: e.status.status === "loaded" ? 1 : 0,
        labels: { probe: e.def.name, kind: e.def.kind },
      });
    }
    await Promise.all(
      this.entries.map(async (e) => {
        if (!e.instance?.collect || e.status.status !== "loaded") return;
        const began = performance.now();
        let ok = 1;
        try {
          groups.push({ prefix: e.def.name, samples: await e.instance.collect() });
        } catch (err) {
          ok = 0;
          this.log.warn("collect failed", { probe: e.def.name, err: errorText(err) });
        }
        self.push(
          {
            name: "scrape_collector_duration_seconds",
            help: "Time the probe took to collect on this scrape.",
            type: "gauge",
            value: (performance.now() - began) / 1000,
            labels: { collector: e.def.name },
          },
          {
            name: "scrape_collector_success",
            help: "1 when the probe collected without error on this scrape.",
            type: "gauge",
            value: ok,
            labels: { collector: e.def.name },
          },
        );
      }),
    );
    return groups;
  }

  async stopAll(): Promise<void> {
    for (const e of [...this.entries].reverse()) if (e.instance) await this.stopOne(e);
  }

  private async stopOne(e: Entry): Promise<void> {
    try {
      await e.instance?.stop();
    } catch (err) {
      this.log.warn("probe stop failed", { probe: e.def.name, err: errorText(err) });
    }
    e.instance = undefined;
  }
}
