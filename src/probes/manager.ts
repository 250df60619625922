// Runs the probe table: creates every enabled probe with its own config section, isolates each
// one's failures, collects metric probes on scrape and reports status for /v1/probes and
// <ns>_probe_up. Probes load one after another, yielding to the event loop between them, so the
// HTTP server answers while they load; `settled` resolves once every probe has an outcome.
import type { LoadedConfig } from "../config/load.ts";
import { containerRef, identityFromEventData, NO_CONTAINERS, type ContainerView } from "../containers/types.ts";
import { AUTOTRACING, EVENTTRACING } from "../config/sections.ts";
import type { ProbeEvent } from "../events/record.ts";
import type { Logger } from "../log.ts";
import type { SampleGroup } from "../metrics/exposition.ts";
import type { Sample } from "../metrics/sample.ts";
import type { ProcfsRoot } from "../procfs/root.ts";
import { ProbeUnsupportedError, type ProbeDefinition, type ProbeInstance, type ProbeStatus } from "./types.ts";

interface Entry {
  def: ProbeDefinition;
  status: ProbeStatus;
  instance?: ProbeInstance;
}

export interface ManagerDeps {
  config: LoadedConfig;
  procfs: ProcfsRoot;
  log: Logger;
  /** The container set; events with a kernel identity and no container get theirs from it. */
  containers?: ContainerView;
  /** Hand a shaped-to-be event to the bus; must not block. */
  publish(event: ProbeEvent): void;
}

function errorText(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).split("\n")[0]!.slice(0, 500);
}

const PROBE_STATES = ["loading", "loaded", "unsupported", "failed"] as const;
const PROBE_STATUS_HELP = "1 for the probe's current state (loading, loaded, unsupported: the kernel lacks what it needs, failed: see GET /v1/probes), 0 for the others.";
const PROBE_UP_HELP = "1 when the probe is loaded and running, 0 when it is loading, unsupported or failed (see GET /v1/probes).";

export class ProbeManager {
  private readonly entries: Entry[];
  private stopping = false;
  private settledResolve!: () => void;
  /** Resolves when every enabled probe is loaded, unsupported or failed. */
  readonly settled = new Promise<void>((r) => (this.settledResolve = r));

  constructor(
    table: readonly ProbeDefinition[],
    private readonly deps: ManagerDeps,
    blacklist: ReadonlySet<string>,
    /** Probes that are off by default and turned on ([Kpulse] EnableProbes). */
    enabled: ReadonlySet<string> = new Set(),
  ) {
    this.entries = table.map((def) => {
      const status: ProbeStatus = { name: def.name, kind: def.kind, source: def.source, status: "loading" };
      if (blacklist.has(def.name)) Object.assign(status, { status: "disabled", reason: "in BlackList or --disable-tracing" });
      else if (!def.defaultEnabled && !enabled.has(def.name)) Object.assign(status, { status: "disabled", reason: "off by default (turn on with [Kpulse] EnableProbes)" });
      return { def, status };
    });
  }

  /** Creates every enabled probe in table order. Never throws: a probe that cannot load is reported. */
  async startAll(): Promise<void> {
    for (const entry of this.entries) {
      if (entry.status.status !== "loading") continue;
      // Let HTTP requests and ring drains in between: loading a BPF object blocks for tens of ms.
      await new Promise<void>((r) => setImmediate(r));
      if (this.stopping) break;
      await this.startOne(entry);
    }
    this.settledResolve();
  }

  private async startOne(entry: Entry): Promise<void> {
    const { def, status } = entry;
    const log = this.deps.log.child({ probe: def.name });
    const tracerName = def.tracerName ?? def.name;
    const containers = this.deps.containers ?? NO_CONTAINERS;
    try {
      entry.instance = await def.create({
        config: def.config ? this.deps.config.get(def.config) : {},
        procfs: this.deps.procfs,
        log,
        containers,
        issuesList: def.kind === "event" ? this.deps.config.get(EVENTTRACING).IssuesList
          : def.kind === "autotracing" ? this.deps.config.get(AUTOTRACING).IssuesList : undefined,
        // Stamp the name on the probe's own (fresh) object: no copy per event.
        emit: (ev) => {
          (ev as ProbeEvent).tracerName = tracerName;
          if (!ev.container && containers.all().length > 0) {
            const id = ev.identity ?? identityFromEventData(ev.data);
            const c = id && containers.resolve(id);
            if (c) ev.container = containerRef(c);
          }
          this.deps.publish(ev as ProbeEvent);
        },
      });
      status.status = "loaded";
      delete status.reason;
      if (this.stopping) await this.stopOne(entry);
    } catch (err) {
      status.status = err instanceof ProbeUnsupportedError ? "unsupported" : "failed";
      status.reason = errorText(err);
      log.warn(`probe ${status.status}, the others keep running`, { reason: status.reason });
    }
  }

  /** Definitions of the probes that are loaded and running now. */
  loadedDefinitions(): ProbeDefinition[] {
    return this.entries.filter((e) => e.status.status === "loaded" && e.instance).map((e) => e.def);
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
      self.push({ name: "probe_up", help: PROBE_UP_HELP, type: "gauge", value: e.status.status === "loaded" ? 1 : 0, labels: { probe: e.def.name } });
      // Every state as its own series (kube-state-metrics style): alerts can tell a probe that
      // failed from one this kernel cannot support, which probe_up cannot.
      for (const state of PROBE_STATES) {
        self.push({ name: "probe_status", help: PROBE_STATUS_HELP, type: "gauge", value: e.status.status === state ? 1 : 0, labels: { probe: e.def.name, status: state } });
      }
    }
    await Promise.all(
      this.entries.map(async (e) => {
        const inst = e.instance;
        if (!inst?.collect || e.status.status !== "loaded") return;
        const began = performance.now();
        let ok = 1;
        try {
          groups.push({ prefix: e.def.name, samples: [...(await inst.collect()), ...(inst.histograms?.() ?? [])] });
        } catch (err) {
          ok = 0;
          this.deps.log.warn("collect failed", { probe: e.def.name, err: errorText(err) });
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
    this.stopping = true;
    for (const e of [...this.entries].reverse()) if (e.instance) await this.stopOne(e);
  }

  private async stopOne(e: Entry): Promise<void> {
    const inst = e.instance;
    e.instance = undefined;
    try {
      await inst?.stop();
    } catch (err) {
      this.deps.log.warn("probe stop failed", { probe: e.def.name, err: errorText(err) });
    }
  }
}

/**
 * Names in BlackList / --disable-tracing that are neither a kpulse probe nor a HUATUO tracer:
 * almost certainly typos, which would otherwise silently disable nothing.
 */
export function unknownProbeNames(names: Iterable<string>, table: readonly ProbeDefinition[], huatuoNames: ReadonlySet<string>): string[] {
  const known = new Set(table.map((p) => p.name));
  return [...new Set(names)].filter((n) => !known.has(n) && !huatuoNames.has(n));
}
