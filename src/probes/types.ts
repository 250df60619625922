// The contract between the probe table and the framework (docs/architecture.md).
// A probe is a definition in its own folder: what it is, its own config section, and how to
// create it. It receives only its own section, typed, and never sees sinks or HTTP.
import type { SectionSpec } from "../config/spec.ts";
import { NO_CONTAINERS, type ContainerView } from "../containers/types.ts";
import type { ProbeEvent } from "../events/record.ts";
import type { Logger } from "../log.ts";
import type { HistogramSample, Sample } from "../metrics/sample.ts";
import type { CapabilityName } from "../privileges/capabilities.ts";
import type { ProcfsRoot } from "../procfs/root.ts";

export type ProbeKind = "metric" | "event" | "autotracing";

/** What a probe reports; the framework stamps tracer_name (the probe's) and the host fields. */
export type ProbeEmission = Omit<ProbeEvent, "tracerName">;

export interface ProbeContext<C> {
  /** The probe's own config section, every key filled. */
  config: C;
  procfs: ProcfsRoot;
  log: Logger;
  /**
   * The containers kpulse knows: container series read it on scrape. The manager always sets
   * it; contexts built by hand in tests may leave it out (= no containers, see containersOf).
   */
  containers?: ContainerView;
  /** Hand a fresh event object to the bus (the framework adds tracer_name to it). Never blocks. */
  emit(event: ProbeEmission): void;
  /**
   * HUATUO's known-issue list for this kind of probe (`[EventTracing] IssuesList` for events,
   * `[AutoTracing] IssuesList` for autotracing): [name, regex] pairs matched against an event's
   * title. Absent when the caller has none (tests).
   */
  issuesList?: readonly (readonly [string, string])[];
}

export interface ProbeInstance {
  /** Metric probes: read on every scrape. Throwing marks this scrape failed for the probe only. */
  collect?(): Promise<Sample[]> | Sample[];
  /** Histograms of the probe, read on the same scrape as collect() (kept apart so collect stays scalar). */
  histograms?(): HistogramSample[];
  stop(): Promise<void> | void;
}

export interface ProbeDefinition<C = unknown> {
  name: string;
  kind: ProbeKind;
  /** What it reads, for `GET /v1/probes` and docs, e.g. "procfs /proc/<pid>/net/dev". */
  source: string;
  defaultEnabled: boolean;
  /** tracer_name of its events when it differs from the probe name (HUATUO's "lacp"). */
  tracerName?: string;
  /** Its TOML section; the loader accepts exactly these keys there. */
  config?: SectionSpec<C>;
  /**
   * Capabilities the probe still uses once running (on scrape, per event), each with why. After
   * start-up the agent drops every capability no loaded probe lists here (src/privileges/).
   * Start-up needs (loading BPF: CAP_BPF, CAP_PERFMON) are not listed.
   */
  runtimeCapabilities?: RuntimeCapabilities;
  /** Load and start. Throw ProbeUnsupportedError when the host lacks what it needs. */
  create(ctx: ProbeContext<C>): Promise<ProbeInstance> | ProbeInstance;
}

export type RuntimeCapabilities = Readonly<Partial<Record<CapabilityName, string>>>;


/** Identity helper that lets TypeScript infer C from the config section. */
export function defineProbe<C>(def: ProbeDefinition<C>): ProbeDefinition<C> {
  return def;
}

/** Thrown by create() when the kernel or host lacks what the probe needs: status `unsupported`. */
export class ProbeUnsupportedError extends Error {
  override name = "ProbeUnsupportedError";
}

export type ProbeState = "loading" | "loaded" | "unsupported" | "failed" | "disabled";

/** One row of `GET /v1/probes`. */
export interface ProbeStatus {
  name: string;
  kind: ProbeKind;
  source: string;
  status: ProbeState;
  reason?: string;
}

/** The context's container view, or the empty one. */
export function containersOf(ctx: ProbeContext<unknown>): ContainerView {
  return ctx.containers ?? NO_CONTAINERS;
}
