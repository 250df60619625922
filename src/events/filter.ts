// Watch filters: `{"filters": {<field>: <regex>}}`, HUATUO's field set. Each regex is
// unanchored (Go regexp.MatchString semantics) and all given fields must match (AND).
// An empty or omitted field matches everything; a record without the field is matched
// against "" (as HUATUO does with its zero-valued struct fields). Regexes are RE2 (linear-time
// matching, bounded size: see util/goregex.ts), so a client's filter cannot stall the agent.
import { compileGoRegex, MAX_PATTERN_LENGTH, type GoRegex } from "../util/goregex.ts";
import type { EventRecord } from "./record.ts";

export const FILTER_FIELDS = [
  "tracer_name",
  "hostname",
  "region",
  "container_hostname",
  "container_host_namespace",
  "container_qos",
] as const;

export type FilterField = (typeof FILTER_FIELDS)[number];

export type CompiledFilter =
  | { ok: true; match(record: EventRecord): boolean }
  | { ok: false; error: string };

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v);


/**
 * The GET form's query (`?tracer_name=^oom$&hostname=node-1`) as a request body's filters.
 * Every parameter becomes a filter field, so an unknown one is rejected by compileFilters as
 * it is in a body; a repeated one keeps its last value.
 */
export function filtersFromQuery(q: URLSearchParams): { filters: Record<string, string> } {
  const filters: Record<string, string> = {};
  for (const [k, v] of q) filters[k] = v;
  return { filters };
}

/** Compile a watch request body (`{}`, `{"filters":{...}}`, or null for "no body"). */
export function compileFilters(body: unknown): CompiledFilter {
  if (body === null || body === undefined) body = {};
  if (!isObject(body)) return { ok: false, error: "request body must be a JSON object" };
  // Other top-level keys are ignored, as HUATUO's JSON decoding does: clients may send more.
  const filters = body.filters ?? {};
  if (!isObject(filters)) return { ok: false, error: `"filters" must be an object` };

  const tests: [FilterField, GoRegex][] = [];
  for (const [field, value] of Object.entries(filters)) {
    if (!(FILTER_FIELDS as readonly string[]).includes(field)) {
      return { ok: false, error: `unknown filter field "${field}" (known: ${FILTER_FIELDS.join(", ")})` };
    }
    if (value === null || value === undefined || value === "") continue;
    if (typeof value !== "string") return { ok: false, error: `filter "${field}" must be a string` };
    if (value.length > MAX_PATTERN_LENGTH) {
      return { ok: false, error: `filter "${field}" is too long: ${value.length} characters, the limit is ${MAX_PATTERN_LENGTH}` };
    }
    try {
      tests.push([field as FilterField, compileGoRegex(value)]);
    } catch (e) {
      return { ok: false, error: `filter "${field}": invalid regex: ${(e as Error).message}` };
    }
  }
  if (tests.length === 0) return { ok: true, match: () => true };
  return {
    ok: true,
    match(record) {
      for (const [field, re] of tests) if (!re.test((record[field] as string | undefined) ?? "")) return false;
      return true;
    },
  };
}
