// A metric sample as probes produce it. The registry adds `<namespace>_<probe>_` in front of
// `name` (and `container_` for container series) plus the host/region/container labels.

/** The scalar types, one value per series. */
export type SampleType = "counter" | "gauge";
/** Every type the exposition writes: the scalar ones and histograms. */
export type MetricType = SampleType | "histogram";

export interface ContainerLabels {
  container_host: string;
  container_hostnamespace: string;
  container_level: string;
  container_name: string;
  container_type: string;
}

export interface Sample {
  /** Name after the probe prefix, e.g. "receive_bytes_total" for netdev. */
  name: string;
  help: string;
  type: SampleType;
  value: number;
  labels?: Record<string, string>;
  /** Set for container series: name becomes `<probe>_container_<name>`, labels added. */
  container?: ContainerLabels;
}

/** What a histogram series holds, in the Prometheus client model (cumulative buckets). */
export interface HistogramValue {
  /** Finite upper bounds, ascending; the `+Inf` bucket is implied and equals `count`. */
  bounds: readonly number[];
  /** Observations <= bounds[i], cumulative (same length as `bounds`). */
  cumulativeCounts: readonly number[];
  count: number;
  sum: number;
}

/**
 * A histogram series: rendered as `<name>_bucket{…,le="…"}` (one per bound plus `+Inf`),
 * `<name>_sum` and `<name>_count` under one `# TYPE <name> histogram`. Labels as for Sample;
 * a label named `le` is not allowed (the renderer adds it).
 */
export interface HistogramSample {
  name: string;
  help: string;
  type: "histogram";
  histogram: HistogramValue;
  labels?: Record<string, string>;
  container?: ContainerLabels;
}

/** Anything the exposition renders. Probes return `Sample`; histograms come from self metrics today. */
export type MetricSample = Sample | HistogramSample;

/** client_golang's DefBuckets (seconds), HUATUO's buckets for HTTP request durations. */
export const DEFAULT_BUCKETS: readonly number[] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** Accumulates observations into fixed buckets; `value()` gives the cumulative view to render. */
export class Histogram {
  private readonly counts: number[];
  private count = 0;
  private sum = 0;

  constructor(readonly bounds: readonly number[] = DEFAULT_BUCKETS) {
    for (let i = 0; i < bounds.length; i++) {
      if (!Number.isFinite(bounds[i]!) || (i > 0 && bounds[i]! <= bounds[i - 1]!)) {
        throw new Error(`histogram bounds must be finite and strictly ascending: ${bounds.join(", ")}`);
      }
    }
    this.counts = new Array<number>(bounds.length).fill(0);
  }

  observe(v: number): void {
    this.count++;
    this.sum += v;
    // Buckets are few (about ten): a linear scan beats a binary search here.
    const b = this.bounds;
    for (let i = 0; i < b.length; i++) {
      if (v <= b[i]!) {
        this.counts[i]!++;
        return;
      }
    }
    // Above the last bound (or NaN): only the implied +Inf bucket, i.e. `count`.
  }

  value(): HistogramValue {
    const cumulativeCounts = new Array<number>(this.counts.length);
    let acc = 0;
    for (let i = 0; i < this.counts.length; i++) cumulativeCounts[i] = acc += this.counts[i]!;
    return { bounds: this.bounds, cumulativeCounts, count: this.count, sum: this.sum };
  }
}
