// How a TOML section is declared, once, by whoever owns it: a probe declares its own
// `[EventTracing.X]` / `[MetricCollector.X]` section in its folder, the agent declares the
// global ones (src/config/sections.ts). Each key carries its type, range, default and HUATUO
// aliases; the loader (load.ts) builds the accepted key set from these declarations and hands
// each owner its section as a typed, fully populated object.
import { regexProblem } from "../util/goregex.ts";

export type Compat = "" | "huatuo";
export type ValueKind = "string" | "bool" | "int" | "number" | "strings" | "pairs" | "tables";

export interface KeySpec<T> {
  readonly kind: ValueKind;
  /** The configuration guide's default (a function when it depends on `Compat`). */
  readonly default: T | ((compat: Compat) => T);
  /** Completes "must be …" in type and range errors. */
  readonly what: string;
  readonly min?: number;
  readonly max?: number;
  /** min is exclusive (numbers that must be > 0). */
  readonly above?: boolean;
  /** Further check on a value of the right type: returns the problem ("is not a valid …"). */
  readonly check?: (v: T) => string | undefined;
  /** Replaces a value that passed (e.g. "debug" → "Debug"). */
  readonly normalize?: (v: T) => T;
  /** Other full key paths that mean this key (HUATUO's code-side names). */
  readonly aliases?: readonly string[];
  /** For kind "tables" (`[[A.B]]`): the keys of each element. */
  readonly item?: Readonly<Record<string, KeySpec<unknown>>>;
}

export type ValueOf<K> = K extends KeySpec<infer T> ? T : never;
export type SectionValues<K extends Record<string, KeySpec<unknown>>> = { readonly [P in keyof K]: ValueOf<K[P]> };

export interface SectionSpec<V = Record<string, unknown>> {
  /** Dotted TOML path, "" for top-level keys: "Log", "EventTracing.Dropwatch". */
  readonly path: string;
  readonly keys: Readonly<Record<string, KeySpec<unknown>>>;
  /** Other section paths that mean this one ("Storage.Elasticsearch" for "Storage.ES"). */
  readonly aliases?: readonly string[];
  /** A HUATUO section no kpulse part reads yet: accepted and checked so HUATUO files load. */
  readonly pending?: boolean;
  /** Type carrier only; never set. */
  readonly __values?: V;
}

export function section<K extends Record<string, KeySpec<any>>>(
  path: string,
  keys: K,
  opts: { aliases?: readonly string[]; pending?: boolean } = {},
): SectionSpec<SectionValues<K>> {
  return { path, keys, aliases: opts.aliases, pending: opts.pending };
}

/** The default of a key for the given compat mode. */
export function defaultOf<T>(k: KeySpec<T>, compat: Compat): T {
  const d = k.default;
  const v = typeof d === "function" ? (d as (c: Compat) => T)(compat) : d;
  // Arrays are shared declarations: hand out copies so a consumer cannot change a default.
  return (Array.isArray(v) ? structuredClone(v) : v) as T;
}

/** Every key of a section at its default. */
export function sectionDefaults<V>(s: SectionSpec<V>, compat: Compat): V {
  const out: Record<string, unknown> = {};
  for (const [k, spec] of Object.entries(s.keys)) out[k] = defaultOf(spec, compat);
  return out as V;
}

// ── key constructors ────────────────────────────────────────────────────────────────────────

type Extra<T> = Partial<Pick<KeySpec<T>, "check" | "normalize" | "aliases" | "max">>;

export const key = {
  string: (def: string | ((c: Compat) => string), extra: Extra<string> = {}): KeySpec<string> => ({
    kind: "string", what: "a string", default: def, ...extra,
  }),
  bool: (def: boolean, extra: Extra<boolean> = {}): KeySpec<boolean> => ({
    kind: "bool", what: "a boolean (true or false)", default: def, ...extra,
  }),
  /** Integer ≥ min (default 0), ≤ max if given. */
  int: (def: number, min = 0, extra: Extra<number> = {}): KeySpec<number> => ({
    kind: "int",
    what: extra.max !== undefined ? `an integer from ${min} to ${extra.max}` : min === 1 ? "a positive integer" : min === 0 ? "a non-negative integer" : `an integer ≥ ${min}`,
    default: def, min, ...extra,
  }),
  /** Number > 0. */
  positive: (def: number, extra: Extra<number> = {}): KeySpec<number> => ({
    kind: "number", what: "a number greater than 0", default: def, min: 0, above: true, ...extra,
  }),
  /** Number ≥ 0. */
  nonNegative: (def: number, extra: Extra<number> = {}): KeySpec<number> => ({
    kind: "number", what: "a non-negative number", default: def, min: 0, ...extra,
  }),
  port: (def: number): KeySpec<number> => ({
    kind: "int", what: "a port number from 0 to 65535 (0 disables)", default: def, min: 0, max: 65535,
  }),
  /** A Go (RE2) regular expression; "" means "no rule". */
  regex: (def: string, extra: Extra<string> = {}): KeySpec<string> => ({
    kind: "string", what: "a string", default: def, check: (v) => (v === "" ? undefined : regexIssue(v)), ...extra,
  }),
  strings: (def: string[], extra: Extra<string[]> = {}): KeySpec<string[]> => ({
    kind: "strings", what: "an array of strings", default: def, ...extra,
  }),
  /** `[["name", "regex"], …]` (HUATUO's IssuesList). */
  pairs: (def: [string, string][] = []): KeySpec<[string, string][]> => ({
    kind: "pairs", what: 'an array of ["name", "regex"] string pairs', default: def,
    check: (v) => {
      for (const [name, re] of v) {
        const p = regexIssue(re);
        if (p) return `entry ${JSON.stringify(name)}: ${p}`;
      }
      return undefined;
    },
  }),
  /** `[[Path]]` arrays of tables with the given keys (every key optional, defaulted). */
  tables: <K extends Record<string, KeySpec<any>>>(item: K): KeySpec<SectionValues<K>[]> => ({
    kind: "tables", what: "an array of tables", default: [], item,
  }),
};

function regexIssue(v: string): string | undefined {
  const p = regexProblem(v);
  return p === undefined ? undefined : `is not a valid regular expression: ${p}`;
}

/** The `[MetricCollector.X]` Included/Excluded pair most metric probes take. */
export function includeExcludeKeys(included = "", excluded = "") {
  return { Included: key.regex(included), Excluded: key.regex(excluded) };
}
