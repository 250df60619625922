// The contract between the probe table and the framework (design.md §2).
import type { KpulseConfig } from "../config/schema.ts";
import type { ProbeEvent } from "../events/record.ts";
import type { Sample } from "../metrics/sample.ts";
import type { Logger } from "../log.ts";
import type { ProcfsRoot } from "../procfs/root.ts";

export type ProbeKind = "metric" | "event" | "autotracing";

export interface ProbeContext {
  config: KpulseConfig;
  procfs: ProcfsRoot;
  log: Logger;
  /** Hand an event to the bus. Never blocks; overflow is counted by the bus. */
  emit(event: ProbeEvent): void;
}

export interface ProbeInstance {
  /** Metric probes: read on every scrape. Throwing marks this scrape failed for the probe only. */
  collect?(): Promise<Sample[]> | Sample[];
  /** Event/autotracing probes: begin watching. Errors mark the probe failed. */
  start?(): Promise<void> | void;
  stop(): Promise<void> | void;
}

export interface ProbeDefinition {
  name: string;
  kind: ProbeKind;
  /** What it reads, for `GET /v1/probes` and docs, e.g. "procfs /proc/<pid>/net/dev". */
  source: string;
  defaultEnabled: boolean;
  /** TOML section holding its settings, if any, e.g. "EventTracing.Dropwatch". */
  configSection?: string;
  create(ctx: ProbeContext): Promise<ProbeInstance> | ProbeInstance;
}

/** Thrown by create() when the kernel or host lacks what the probe needs: status `unsupported`. */
export class ProbeUnsupportedError extends Error {
  override name = "ProbeUnsupportedError";
}
