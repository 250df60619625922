// kpulse's metric names in its own namespace (kpulse_<probe>_<name>) and in HUATUO's
// (huatuo_bamai_<probe>_<name>, [Kpulse] Compat = "huatuo"): everything after the prefix is the
// same in both (tests/packaging/dashboards.test.ts checks it on a live /metrics), so the
// huatuo_bamai dashboards and rules are the kpulse ones with the prefix renamed.

// A name starts where no identifier character comes before it, so "kpulse_" inside another
// name is left alone; name regexes ("kpulse_(.+)_events_total") and templates
// ("kpulse_{{ $labels.probe }}_…") are renamed too. job="kpulse" has no underscore: kept.
const KPULSE_NAME = /(?<![A-Za-z0-9_:])kpulse_/g;
// HUATUO's HTTP families are huatuo_http_server_* without host and region: not a plain rename.
const HTTP_FAMILY = /(?<![A-Za-z0-9_:])kpulse_http_server_/;

/** Renames every kpulse_ metric name in PromQL, a name regex, or rule-file text. */
export function toHuatuoNames(text: string): string {
  if (HTTP_FAMILY.test(text)) {
    throw new Error("kpulse_http_server_* is huatuo_http_server_* without host/region under Compat = \"huatuo\": rename it by hand");
  }
  return text.replace(KPULSE_NAME, "huatuo_bamai_");
}
