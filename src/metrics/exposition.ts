// Prometheus text exposition format 0.0.4, byte-compatible with what client_golang writes, so
// HUATUO's expected-metric files and dashboards match kpulse output line for line.
import type { HistogramValue, MetricSample, MetricType } from "./sample.ts";
import { TextWriter } from "./text-writer.ts";

export interface ExpositionOptions {
  /** "kpulse", or "huatuo_bamai" under Compat = "huatuo". */
  namespace: string;
  /** Added to every series (host, region); a sample label of the same name wins, as in HUATUO. */
  constLabels: Record<string, string>;
}

export interface SampleGroup {
  /** Usually the probe name; "" puts the sample name right after the namespace. */
  prefix: string;
  samples: MetricSample[];
  /** Overrides ExpositionOptions.namespace for this group (HUATUO's `huatuo_http_server_*`). */
  namespace?: string;
  /** Overrides ExpositionOptions.constLabels for this group; `{}` renders it without any. */
  constLabels?: Record<string, string>;
}

/** Filled by renderExposition when passed, so the caller can log or count what was dropped. */
export interface RenderStats {
  families: number;
  series: number;
  /**
   * Series dropped because an earlier one had the same name and labels (or, rarer, because a
   * histogram and a scalar sample claimed one family name: the family's first sample wins).
   */
  duplicates: number;
  /** First dropped series, `name{labels}`, for the log line. */
  firstDuplicate?: string;
}

// ---- values ----

/** Go's strconv.FormatFloat(v, 'g', -1, 64): shortest round-trip digits, %e when the exponent is < -4 or >= 6. */
export function formatGoFloat(v: number): string {
  if (v !== v) return "NaN";
  if (v === Infinity) return "+Inf";
  if (v === -Infinity) return "-Inf";
  if (v === 0) return Object.is(v, -0) ? "-0" : "0";
  const a = v < 0 ? -v : v;
  // Decimal exponent in [-4, 5]: Go prints plain digits, and so does JS (it switches at 1e-7 / 1e21).
  if (a >= 1e-4 && a < 1e6) return String(v);
  // Otherwise %e. JS toExponential() also gives the shortest round-trip digits; Go pads the
  // exponent to two digits ("e+07").
  const s = v.toExponential();
  const e = s.indexOf("e");
  const digits = s.length - e - 2;
  return digits >= 2 ? s : s.slice(0, e + 2) + "0" + s.slice(e + 2);
}

/** What client_golang's text encoder writes: FormatFloat, except that -0 prints as "0". */
export function formatSampleValue(v: number): string {
  if (v === 0) return "0";
  // Integers below 1e6 are the common case (counters of small things): skip the checks.
  if (Number.isInteger(v) && v < 1e6 && v > -1e6) return String(v);
  return formatGoFloat(v);
}

// ---- names and escaping ----

const METRIC_NAME_OK = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
// Prometheus allows ':' in metric names only, not in label names.
const LABEL_NAME_OK = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/** Replace every character outside `[a-zA-Z0-9_:]` (and a leading digit) with `_`. */
export function sanitizeMetricName(name: string): string {
  if (METRIC_NAME_OK.test(name)) return name;
  if (name === "") return "_";
  return name.replace(/[^a-zA-Z0-9_:]/g, "_").replace(/^[0-9]/, "_");
}

/** Replace every character outside `[a-zA-Z0-9_]` (and a leading digit) with `_`. */
export function sanitizeLabelName(name: string): string {
  if (LABEL_NAME_OK.test(name)) return name;
  if (name === "") return "_";
  return name.replace(/[^a-zA-Z0-9_]/g, "_").replace(/^[0-9]/, "_");
}

export function escapeLabelValue(v: string): string {
  // A char loop beats a regex test on the short strings labels are; most need no escaping.
  for (let i = 0; i < v.length; i++) {
    const c = v.charCodeAt(i);
    if (c === 92 || c === 34 || c === 10) {
      return v.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
    }
  }
  return v;
}

// Names repeat on every scrape; sanitising each once keeps the hot loop to a Map lookup.
const metricNameCache = new Map<string, string>();
const labelNameCache = new Map<string, string>();
function cachedMetricName(raw: string): string {
  let n = metricNameCache.get(raw);
  if (n === undefined) {
    n = sanitizeMetricName(raw);
    if (metricNameCache.size > 100_000) metricNameCache.clear(); // bound growth on label churn bugs
    metricNameCache.set(raw, n);
  }
  return n;
}
function cachedLabelName(raw: string): string {
  let n = labelNameCache.get(raw);
  if (n === undefined) {
    n = sanitizeLabelName(raw);
    if (labelNameCache.size > 10_000) labelNameCache.clear();
    labelNameCache.set(raw, n);
  }
  return n;
}

// ---- rendering ----

interface Series {
  /** Sorted label names; series of one family with the same names share the array. */
  names: string[];
  /** Label values in name order: client_golang sorts series by these. */
  values: string[];
  /** The value; a histogram's count. */
  value: number;
  /** Set for histogram series. */
  hist?: HistogramValue;
}

interface Family {
  name: string;
  help: string;
  type: MetricType;
  series: Series[];
}

function compareSeries(a: Series, b: Series): number {
  const av = a.values;
  const bv = b.values;
  if (av.length !== bv.length) return av.length - bv.length;
  for (let i = 0; i < av.length; i++) {
    const x = av[i]!;
    const y = bv[i]!;
    if (x !== y) return x < y ? -1 : 1;
  }
  return 0;
}

function sameNames(a: string[], b: string[]): boolean {
  if (a === b) return true;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

const byName = (a: Family, b: Family) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);

const CONTAINER_LABELS = [
  "container_host",
  "container_hostnamespace",
  "container_level",
  "container_name",
  "container_type",
] as const;

// Per-series label scratch (grows as needed), reused so the hot loop allocates little.
const PRIO_CONST = 0;
const PRIO_CONTAINER = 1;
const PRIO_SAMPLE = 2;
const scratchNames: string[] = [];
const scratchValues: string[] = [];
const scratchPrio: number[] = [];

/**
 * Collect const, container and sample labels and sort them by name (insertion sort: there are a
 * handful). On a name clash the higher precedence wins (const < container < sample), so a probe
 * can override host as HUATUO allows.
 */
function buildSeries(fam: Family, constNames: string[], constValues: string[], s: MetricSample): Series {
  const names = scratchNames;
  const vals = scratchValues;
  const prio = scratchPrio;
  let n = 0;
  for (let i = 0; i < constNames.length; i++, n++) {
    names[n] = constNames[i]!;
    vals[n] = constValues[i]!;
    prio[n] = PRIO_CONST;
  }
  const c = s.container;
  if (c) {
    for (const k of CONTAINER_LABELS) {
      names[n] = k;
      vals[n] = String(c[k]);
      prio[n++] = PRIO_CONTAINER;
    }
  }
  const l = s.labels;
  if (l) {
    for (const k in l) {
      names[n] = cachedLabelName(k);
      vals[n] = String(l[k]);
      prio[n++] = PRIO_SAMPLE;
    }
  }
  for (let i = 1; i < n; i++) {
    const kn = names[i]!;
    const kv = vals[i]!;
    const kp = prio[i]!;
    let j = i - 1;
    // Equal names order by precedence, so the winner is the last of its run.
    while (j >= 0 && (names[j]! > kn || (names[j] === kn && prio[j]! > kp))) {
      names[j + 1] = names[j]!;
      vals[j + 1] = vals[j]!;
      prio[j + 1] = prio[j]!;
      j--;
    }
    names[j + 1] = kn;
    vals[j + 1] = kv;
    prio[j + 1] = kp;
  }
  const outNames: string[] = [];
  const values: string[] = [];
  for (let i = 0; i < n; i++) {
    if (i + 1 < n && names[i + 1] === names[i]) continue; // overridden
    outNames.push(names[i]!);
    values.push(vals[i]!);
  }
  const prev = fam.series.length > 0 ? fam.series[fam.series.length - 1]!.names : undefined;
  const shared = prev && sameNames(prev, outNames) ? prev : outNames;
  if (s.type === "histogram") return { names: shared, values, value: s.histogram.count, hist: s.histogram };
  return { names: shared, values, value: s.value };
}

function writeSeries(w: TextWriter, name: string, s: Series): void {
  w.write(name);
  const { names, values } = s;
  for (let i = 0; i < names.length; i++) {
    w.write(i === 0 ? "{" : ",");
    w.write(names[i]!);
    w.write('="');
    w.writeEscaped(values[i]!, true);
    w.write('"');
  }
  w.write(names.length > 0 ? "} " : " ");
  w.write(formatSampleValue(s.value));
  w.write("\n");
}

/**
 * A histogram series as client_golang writes it: one `_bucket` line per bound with `le` after
 * the sorted labels (not sorted in), a `+Inf` bucket equal to the count, then `_sum` and `_count`.
 */
function writeHistogram(w: TextWriter, name: string, s: Series, h: HistogramValue): void {
  const { names, values } = s;
  const writeLabels = () => {
    for (let i = 0; i < names.length; i++) {
      w.write(i === 0 ? "{" : ",");
      w.write(names[i]!);
      w.write('="');
      w.writeEscaped(values[i]!, true);
      w.write('"');
    }
  };
  const bucket = (le: string, n: number) => {
    w.write(name);
    w.write("_bucket");
    writeLabels();
    w.write(names.length > 0 ? ',le="' : '{le="');
    w.write(le);
    w.write('"} ');
    w.write(formatSampleValue(n));
    w.write("\n");
  };
  for (let i = 0; i < h.bounds.length; i++) bucket(formatSampleValue(h.bounds[i]!), h.cumulativeCounts[i]!);
  bucket("+Inf", h.count);
  for (const [suffix, v] of [["_sum", h.sum], ["_count", h.count]] as const) {
    w.write(name);
    w.write(suffix);
    writeLabels();
    w.write(names.length > 0 ? "} " : " ");
    w.write(formatSampleValue(v));
    w.write("\n");
  }
}

const TYPE_LINE: Record<MetricType, string> = { counter: " counter\n", gauge: " gauge\n", histogram: " histogram\n" };

/** `name{a="x",...}`, for the duplicate report. */
function seriesId(name: string, s: Series): string {
  const pairs = s.names.map((n, i) => `${n}="${escapeLabelValue(s.values[i]!)}"`);
  return pairs.length > 0 ? `${name}{${pairs.join(",")}}` : name;
}

// Reused across scrapes: after the first few it has grown to the output size.
const writer = new TextWriter();

export function renderExposition(
  opts: ExpositionOptions,
  groups: SampleGroup[],
  stats?: RenderStats,
): string {
  const defaultConst = constLabelArrays(opts.constLabels);

  const families = new Map<string, Family>();
  for (const group of groups) {
    const ns = group.namespace ?? opts.namespace;
    const [constNames, constValues] = group.constLabels ? constLabelArrays(group.constLabels) : defaultConst;
    const base = group.prefix ? `${ns}_${group.prefix}_` : `${ns}_`;
    // Probes reuse their name strings, so keying on the bare sample name skips building and
    // hashing the full name for every series; only a family's first series pays for that.
    const hostFams = new Map<string, Family>();
    const containerFams = new Map<string, Family>();
    for (const s of group.samples) {
      const local = s.container ? containerFams : hostFams;
      let fam = local.get(s.name);
      if (fam === undefined) {
        const name = cachedMetricName(s.container ? `${base}container_${s.name}` : base + s.name);
        fam = families.get(name);
        if (fam === undefined) {
          fam = { name, help: s.help, type: s.type, series: [] };
          families.set(name, fam);
        }
        local.set(s.name, fam);
      }
      fam.series.push(buildSeries(fam, constNames, constValues, s));
    }
  }

  let duplicates = 0;
  let firstDuplicate: string | undefined;
  let series = 0;
  const sorted = [...families.values()].sort(byName);
  const w = writer;
  w.reset();
  for (const fam of sorted) {
    const name = fam.name;
    w.write("# HELP ");
    w.write(name);
    w.write(" ");
    w.writeEscaped(fam.help, false);
    w.write("\n# TYPE ");
    w.write(name);
    w.write(TYPE_LINE[fam.type]);
    const isHistogram = fam.type === "histogram";
    const list = fam.series;
    if (list.length > 1) list.sort(compareSeries); // stable: among equals, input order stays
    // Duplicates (same names and values) sort next to each other; the stable sort keeps the first.
    let runStart = 0;
    for (let i = 0; i < list.length; i++) {
      const cur = list[i]!;
      if (i > 0 && compareSeries(list[i - 1]!, cur) === 0) {
        let dup = false;
        for (let j = runStart; j < i && !dup; j++) dup = sameNames(list[j]!.names, cur.names);
        if (dup) {
          duplicates++;
          firstDuplicate ??= seriesId(name, cur);
          cur.names = DROPPED; // later members of the run must not match it
          continue;
        }
      } else {
        runStart = i;
      }
      if ((cur.hist !== undefined) !== isHistogram) {
        // A histogram and a scalar under one name cannot be written validly: keep the family's type.
        duplicates++;
        firstDuplicate ??= seriesId(name, cur);
        continue;
      }
      if (cur.hist) writeHistogram(w, name, cur, cur.hist);
      else writeSeries(w, name, cur);
      series++;
    }
  }

  if (stats) {
    stats.families = sorted.length;
    stats.series = series;
    stats.duplicates = duplicates;
    stats.firstDuplicate = firstDuplicate;
  }
  return w.text();
}

const DROPPED: string[] = ["\0"];

/** Const labels as sorted names and their values in that order. */
function constLabelArrays(labels: Record<string, string>): [string[], string[]] {
  const names = Object.keys(labels).map(cachedLabelName).sort();
  const byName = new Map(Object.entries(labels).map(([k, v]) => [cachedLabelName(k), v]));
  return [names, names.map((k) => byName.get(k)!)];
}
