// The PromQL selector scanner the dashboard and rule checks rely on (what it must take for a
// metric name, and everything it must not: functions, keywords, label lists, strings, ranges),
// and the kpulse_ -> huatuo_bamai_ rename the huatuo variants are generated with.
import { describe, expect, test } from "bun:test";
import { toHuatuoNames } from "../../packaging/namespace.ts";
import { selectors } from "./promql.ts";

const names = (expr: string) => selectors(expr).map((s) => s.name ?? `~${s.nameRegex}`);

describe("PromQL selectors", () => {
  test("a bare name, a name with matchers, and their matchers", () => {
    expect(selectors('kpulse_probe_up == 0')).toEqual([{ name: "kpulse_probe_up", matchers: [] }]);
    expect(selectors('kpulse_netdev_receive_bytes_total{host=~"$host", region=~"${region}",device!="lo"}')).toEqual([
      {
        name: "kpulse_netdev_receive_bytes_total",
        matchers: [
          { label: "host", op: "=~", value: "$host" },
          { label: "region", op: "=~", value: "${region}" },
          { label: "device", op: "!=", value: "lo" },
        ],
      },
    ]);
  });

  test("functions, aggregations with by/without before or after, ranges and Grafana variables are skipped", () => {
    expect(names('sum by (host, region) (rate(kpulse_a_total{host=~"$host"}[$__rate_interval]))')).toEqual(["kpulse_a_total"]);
    expect(names("sum(rate(kpulse_a_total[5m])) without (device, queue)")).toEqual(["kpulse_a_total"]);
    expect(names("max_over_time(kpulse_g[1h:1m] offset 5m) / on (host) group_left (region) kpulse_h")).toEqual(["kpulse_g", "kpulse_h"]);
    expect(names("topk($topk, kpulse_x) > bool 1e3 and kpulse_y unless kpulse_z or 0x1f < inf")).toEqual(["kpulse_x", "kpulse_y", "kpulse_z"]);
    expect(names("histogram_quantile(0.99, sum by (le) (rate(kpulse_lat_seconds_bucket[1h30m])))")).toEqual(["kpulse_lat_seconds_bucket"]);
  });

  test("strings are not names, even when they look like one", () => {
    expect(names('label_replace(kpulse_a, "probe", "kpulse_b", "__name__", "kpulse_(.+)")')).toEqual(["kpulse_a"]);
    expect(names("count_values(\"kpulse_c\", kpulse_d{x='a\\'b}'})")).toEqual(["kpulse_d"]);
  });

  test("__name__ matchers give the name or the regex", () => {
    expect(selectors('{__name__=~"kpulse_.+_events_total", outcome="ringbuf_full"}')).toEqual([
      { nameRegex: "kpulse_.+_events_total", matchers: [{ label: "__name__", op: "=~", value: "kpulse_.+_events_total" }, { label: "outcome", op: "=", value: "ringbuf_full" }] },
    ]);
    expect(names('{__name__="kpulse_e"}')).toEqual(["kpulse_e"]);
  });

  test("comments and multi-line rule expressions", () => {
    expect(names("# kpulse_not_this\nkpulse_yes # nor_this\n  > 0")).toEqual(["kpulse_yes"]);
  });

  test("what it cannot read is an error, never a silent skip", () => {
    expect(() => selectors("raet(kpulse_a[5m])")).toThrow("unknown function raet");
    expect(() => selectors('kpulse_a{host="x}')).toThrow("unterminated string");
    expect(() => selectors("kpulse_a[5m")).toThrow("no closing ]");
    expect(() => selectors("kpulse_a{host}")).toThrow("expected a matcher operator after host");
  });
});

describe("the huatuo_bamai rename of packaging/namespace.ts", () => {
  test("metric names, name regexes and name templates are renamed; other text is not", () => {
    expect(toHuatuoNames('sum(rate(kpulse_a_total{job="kpulse", x="kpulse-1"}[5m])) / kpulse_b')).toBe('sum(rate(huatuo_bamai_a_total{job="kpulse", x="kpulse-1"}[5m])) / huatuo_bamai_b');
    expect(toHuatuoNames('{__name__=~"kpulse_.+_events_total"}, "kpulse_(.+)_events_total", kpulse_{{ $labels.probe }}_x')).toBe(
      '{__name__=~"huatuo_bamai_.+_events_total"}, "huatuo_bamai_(.+)_events_total", huatuo_bamai_{{ $labels.probe }}_x',
    );
    expect(toHuatuoNames("not_kpulse_a mykpulse_b KpulseProbeDown kpulse")).toBe("not_kpulse_a mykpulse_b KpulseProbeDown kpulse");
  });

  test("the HTTP families, which differ by more than the prefix, are refused", () => {
    expect(() => toHuatuoNames("rate(kpulse_http_server_requests_total[5m])")).toThrow("huatuo_http_server_");
  });
});
