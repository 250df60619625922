import { describe, expect, test } from "bun:test";
import {
  escapeLabelValue,
  formatGoFloat,
  formatSampleValue,
  renderExposition,
  sanitizeLabelName,
  sanitizeMetricName,
  type RenderStats,
} from "../../src/metrics/exposition.ts";
import type { Sample } from "../../src/metrics/sample.ts";
import { DEFAULT_BUCKETS, Histogram, type HistogramSample, type MetricSample } from "../../src/metrics/sample.ts";

// Expected strings produced by Go 1.x strconv.FormatFloat(v, 'g', -1, 64).
const GO_FLOAT: [number, string][] = [
  [0, "0"],
  [-0, "-0"],
  [1, "1"],
  [-1, "-1"],
  [0.3, "0.3"],
  [0.2, "0.2"],
  [0.22, "0.22"],
  [0.30000000000000004, "0.30000000000000004"],
  [1 / 3, "0.3333333333333333"],
  [-0.5, "-0.5"],
  [693155, "693155"],
  [100000, "100000"],
  [999999, "999999"],
  [999999.99, "999999.99"],
  [123456.7, "123456.7"],
  [12345.678, "12345.678"],
  [1e6, "1e+06"],
  [1000000.5, "1.0000005e+06"],
  [1.2e6, "1.2e+06"],
  [64400018, "6.4400018e+07"],
  [6867714, "6.867714e+06"],
  [2578235443, "2.578235443e+09"],
  [-123456789, "-1.23456789e+08"],
  [2 ** 53, "9.007199254740992e+15"],
  [2 ** 64, "1.8446744073709552e+19"],
  [1e20, "1e+20"],
  [123456789012345680000, "1.2345678901234568e+20"],
  [1e21, "1e+21"],
  [1e100, "1e+100"],
  [1.7976931348623157e308, "1.7976931348623157e+308"],
  [1e-4, "0.0001"],
  [0.000123, "0.000123"],
  [0.0001234, "0.0001234"],
  [9.9e-5, "9.9e-05"],
  [1e-5, "1e-05"],
  [1e-7, "1e-07"],
  [-2.5e-10, "-2.5e-10"],
  [2.2250738585072014e-308, "2.2250738585072014e-308"],
  [5e-324, "5e-324"],
  [Infinity, "+Inf"],
  [-Infinity, "-Inf"],
  [NaN, "NaN"],
];

describe("formatGoFloat", () => {
  for (const [v, want] of GO_FLOAT) {
    test(`${want}`, () => expect(formatGoFloat(v)).toBe(want));
  }
  test("sample values: -0 prints as 0 like client_golang", () => {
    expect(formatSampleValue(-0)).toBe("0");
    expect(formatSampleValue(64400018)).toBe("6.4400018e+07");
    expect(formatSampleValue(42)).toBe("42");
    expect(formatSampleValue(NaN)).toBe("NaN");
  });
});

describe("names and escaping", () => {
  test("metric names", () => {
    expect(sanitizeMetricName("a_b:c")).toBe("a_b:c");
    expect(sanitizeMetricName("kpulse_netdev_eth0.100-x")).toBe("kpulse_netdev_eth0_100_x");
    expect(sanitizeMetricName("0abc")).toBe("_abc");
    expect(sanitizeMetricName("")).toBe("_");
  });
  test("label names (no colons)", () => {
    expect(sanitizeLabelName("device")).toBe("device");
    expect(sanitizeLabelName("a:b")).toBe("a_b");
    expect(sanitizeLabelName("9x")).toBe("_x");
  });
  test("label values", () => {
    expect(escapeLabelValue('a\\b"c\nd')).toBe('a\\\\b\\"c\\nd');
    expect(escapeLabelValue("plain")).toBe("plain");
  });
});

const OPTS = { namespace: "kpulse", constLabels: { region: "fixture", host: "h1" } };
const s = (name: string, value: number, labels?: Record<string, string>, extra: Partial<Sample> = {}): Sample => ({
  name,
  help: `help ${name}`,
  type: "counter",
  value,
  labels,
  ...extra,
});

describe("renderExposition", () => {
  test("names, sorted families, sorted labels, one HELP/TYPE per family", () => {
    const out = renderExposition(OPTS, [
      { prefix: "netdev", samples: [s("rx_total", 2, { device: "eth0" }), s("rx_total", 1, { device: "docker0" })] },
      { prefix: "loadavg", samples: [s("load1", 0.3, undefined, { type: "gauge", help: "system load average, 1 minute" })] },
      { prefix: "", samples: [s("up", 1, { probe: "x" })] },
    ]);
    expect(out).toBe(
      [
        "# HELP kpulse_loadavg_load1 system load average, 1 minute",
        "# TYPE kpulse_loadavg_load1 gauge",
        'kpulse_loadavg_load1{host="h1",region="fixture"} 0.3',
        "# HELP kpulse_netdev_rx_total help rx_total",
        "# TYPE kpulse_netdev_rx_total counter",
        'kpulse_netdev_rx_total{device="docker0",host="h1",region="fixture"} 1',
        'kpulse_netdev_rx_total{device="eth0",host="h1",region="fixture"} 2',
        "# HELP kpulse_up help up",
        "# TYPE kpulse_up counter",
        'kpulse_up{host="h1",probe="x",region="fixture"} 1',
        "",
      ].join("\n"),
    );
  });

  test("container series: name and labels", () => {
    const container = {
      container_host: "coredns-855c4dd65d-8v5kg",
      container_hostnamespace: "kube-system",
      container_level: "burstable",
      container_name: "coredns",
      container_type: "normal",
    };
    const out = renderExposition({ namespace: "huatuo_bamai", constLabels: { host: "hostname", region: "dev" } }, [
      { prefix: "netdev", samples: [s("receive_bytes_total", 64400018, { device: "eth0" }, { container })] },
    ]);
    expect(out).toContain(
      'huatuo_bamai_netdev_container_receive_bytes_total{container_host="coredns-855c4dd65d-8v5kg",container_hostnamespace="kube-system",container_level="burstable",container_name="coredns",container_type="normal",device="eth0",host="hostname",region="dev"} 6.4400018e+07\n',
    );
  });

  test("sample labels override const labels", () => {
    const out = renderExposition(OPTS, [{ prefix: "p", samples: [s("x", 1, { host: "other" })] }]);
    expect(out).toContain('kpulse_p_x{host="other",region="fixture"} 1\n');
  });

  test("label precedence: const < container < sample", () => {
    const container = {
      container_host: "pod",
      container_hostnamespace: "ns",
      container_level: "guaranteed",
      container_name: "c",
      container_type: "normal",
    };
    const out = renderExposition(OPTS, [
      { prefix: "p", samples: [s("x", 1, { container_name: "override", region: "r2" }, { container })] },
    ]);
    expect(out).toContain(
      'kpulse_p_container_x{container_host="pod",container_hostnamespace="ns",container_level="guaranteed",container_name="override",container_type="normal",host="h1",region="r2"} 1\n',
    );
  });

  test("same values under different label names are not duplicates", () => {
    const stats = {} as RenderStats;
    const out = renderExposition(OPTS, [{ prefix: "p", samples: [s("x", 1, { a: "v" }), s("x", 2, { b: "v" })] }], stats);
    expect(stats.duplicates).toBe(0);
    expect(out).toContain('kpulse_p_x{a="v",host="h1",region="fixture"} 1\n');
    expect(out).toContain('kpulse_p_x{b="v",host="h1",region="fixture"} 2\n');
  });

  test("matches a naive client_golang-style ordering on random input", () => {
    let seed = 7;
    const rnd = (n: number) => ((seed = (seed * 1103515245 + 12345) % 2 ** 31), seed % n);
    const samples: Sample[] = [];
    for (let i = 0; i < 500; i++) {
      const labels: Record<string, string> = {};
      for (const k of ["zone", "device", "cpu"]) if (rnd(3) > 0) labels[k] = ["a", "b", "a b", "a!", "ä", "10", "9"][rnd(7)]!;
      samples.push(s(`m${rnd(5)}`, i, labels));
    }
    const got = renderExposition(OPTS, [{ prefix: "p", samples }]);

    // Naive: merge labels, sort names, first series per identity wins, sort families by name and
    // series by their label values.
    const fams = new Map<string, Map<string, { vals: string[]; line: string }>>();
    for (const smp of samples) {
      const all: Record<string, string> = { ...OPTS.constLabels, ...smp.labels };
      const keys = Object.keys(all).sort();
      const id = keys.map((k) => `${k}="${all[k]}"`).join(",");
      const name = `kpulse_p_${smp.name}`;
      if (!fams.has(name)) fams.set(name, new Map());
      const f = fams.get(name)!;
      if (!f.has(id)) f.set(id, { vals: keys.map((k) => all[k]!), line: `${name}{${id}} ${smp.value}` });
    }
    const want: string[] = [];
    for (const name of [...fams.keys()].sort()) {
      want.push(`# HELP ${name} help ${name.slice(9)}`, `# TYPE ${name} counter`);
      const rows = [...fams.get(name)!.values()].sort((a, b) => {
        if (a.vals.length !== b.vals.length) return a.vals.length - b.vals.length;
        for (let i = 0; i < a.vals.length; i++) if (a.vals[i] !== b.vals[i]) return a.vals[i]! < b.vals[i]! ? -1 : 1;
        return 0;
      });
      want.push(...rows.map((r) => r.line));
    }
    expect(got).toBe(want.join("\n") + "\n");
  });

  test("duplicates: first wins, counted", () => {
    const stats = {} as RenderStats;
    const out = renderExposition(
      OPTS,
      [
        { prefix: "p", samples: [s("x", 1, { a: "1" }), s("x", 2, { a: "1" }), s("x", 3, { a: "2" })] },
        { prefix: "p", samples: [s("x", 4, { a: "1" })] },
      ],
      stats,
    );
    expect(out).toContain('kpulse_p_x{a="1",host="h1",region="fixture"} 1\n');
    expect(out).not.toContain("} 2\n");
    expect(out).not.toContain("} 4\n");
    expect(stats).toEqual({ families: 1, series: 2, duplicates: 2, firstDuplicate: 'kpulse_p_x{a="1",host="h1",region="fixture"}' });
  });

  test("escaping and sanitising in output", () => {
    const out = renderExposition(OPTS, [
      { prefix: "p", samples: [s("bad-name", 1, { "dev:ice": 'a"b\\c\nd' }, { help: "line1\nline2 \\" })] },
    ]);
    expect(out).toBe(
      [
        "# HELP kpulse_p_bad_name line1\\nline2 \\\\",
        "# TYPE kpulse_p_bad_name counter",
        'kpulse_p_bad_name{dev_ice="a\\"b\\\\c\\nd",host="h1",region="fixture"} 1',
        "",
      ].join("\n"),
    );
  });

  test("series order is by label values, independent of input order", () => {
    const devs = ["veth1", "eth0", "lo", "docker0", "eth0.100"];
    const a = renderExposition(OPTS, [{ prefix: "p", samples: devs.map((d, i) => s("x", i, { device: d })) }]);
    const b = renderExposition(OPTS, [
      { prefix: "p", samples: [...devs].reverse().map((d) => s("x", devs.indexOf(d), { device: d })) },
    ]);
    expect(a).toBe(b);
    const order = a.split("\n").filter((l) => l.startsWith("kpulse_")).map((l) => /device="([^"]*)"/.exec(l)![1]);
    expect(order).toEqual(["docker0", "eth0", "eth0.100", "lo", "veth1"]);
  });

  test("non-ASCII text is UTF-8 and still escaped", () => {
    const out = renderExposition(OPTS, [
      { prefix: "p", samples: [s("x", 1, { dev: 'é\\"😀\nz' }, { help: "ü\\\n😀" })] },
    ]);
    expect(out).toBe(
      ["# HELP kpulse_p_x ü\\\\\\n😀", "# TYPE kpulse_p_x counter", 'kpulse_p_x{dev="é\\\\\\"😀\\nz",host="h1",region="fixture"} 1', ""].join("\n"),
    );
  });

  test("large output grows the buffer", () => {
    const long = "v".repeat(100_000);
    const samples = Array.from({ length: 50 }, (_, i) => s("x", i, { i: String(i).padStart(2, "0"), long }));
    const out = renderExposition(OPTS, [{ prefix: "p", samples }]);
    expect(out.length).toBeGreaterThan(5_000_000);
    expect(out.endsWith(`long="${long}",region="fixture"} 49\n`)).toBe(true);
  });

  test("empty input renders nothing", () => {
    expect(renderExposition(OPTS, [])).toBe("");
  });
});

// ---- histograms ----

const hist = (name: string, bounds: number[], observations: number[], labels?: Record<string, string>): HistogramSample => {
  const h = new Histogram(bounds);
  for (const v of observations) h.observe(v);
  return { name, help: `help ${name}`, type: "histogram", histogram: h.value(), labels };
};

describe("Histogram", () => {
  test("an observation equal to a bound lands in that bucket; above the last only in +Inf", () => {
    const h = new Histogram([0.1, 1, 10]);
    for (const v of [0.1, 0.05, 1, 1.5, 10, 11, 1e9]) h.observe(v);
    expect(h.value()).toEqual({ bounds: [0.1, 1, 10], cumulativeCounts: [2, 3, 5], count: 7, sum: 0.1 + 0.05 + 1 + 1.5 + 10 + 11 + 1e9 });
  });
  test("empty histogram", () => {
    expect(new Histogram([1]).value()).toEqual({ bounds: [1], cumulativeCounts: [0], count: 0, sum: 0 });
  });
  test("default buckets are client_golang's DefBuckets", () => {
    expect(new Histogram().bounds).toEqual([0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]);
    expect(DEFAULT_BUCKETS.length).toBe(11);
  });
  test("bounds must be finite and strictly ascending", () => {
    expect(() => new Histogram([1, 1])).toThrow(/strictly ascending/);
    expect(() => new Histogram([2, 1])).toThrow(/strictly ascending/);
    expect(() => new Histogram([1, Infinity])).toThrow(/finite/);
    expect(() => new Histogram([NaN])).toThrow(/finite/);
  });
});

describe("renderExposition: histograms (client_golang text format)", () => {
  test("buckets with le after the sorted labels, +Inf, _sum, _count; series sorted by labels", () => {
    const out = renderExposition(OPTS, [
      {
        prefix: "",
        samples: [
          hist("req_seconds", [0.1, 0.5, 1], [0.05, 0.3, 0.2, 2], { route: "/x", method: "GET" }),
          hist("req_seconds", [0.1, 0.5, 1], [0.1], { route: "/a", method: "POST" }),
        ],
      },
    ]);
    expect(out).toBe(
      [
        "# HELP kpulse_req_seconds help req_seconds",
        "# TYPE kpulse_req_seconds histogram",
        'kpulse_req_seconds_bucket{host="h1",method="GET",region="fixture",route="/x",le="0.1"} 1',
        'kpulse_req_seconds_bucket{host="h1",method="GET",region="fixture",route="/x",le="0.5"} 3',
        'kpulse_req_seconds_bucket{host="h1",method="GET",region="fixture",route="/x",le="1"} 3',
        'kpulse_req_seconds_bucket{host="h1",method="GET",region="fixture",route="/x",le="+Inf"} 4',
        'kpulse_req_seconds_sum{host="h1",method="GET",region="fixture",route="/x"} 2.55',
        'kpulse_req_seconds_count{host="h1",method="GET",region="fixture",route="/x"} 4',
        'kpulse_req_seconds_bucket{host="h1",method="POST",region="fixture",route="/a",le="0.1"} 1',
        'kpulse_req_seconds_bucket{host="h1",method="POST",region="fixture",route="/a",le="0.5"} 1',
        'kpulse_req_seconds_bucket{host="h1",method="POST",region="fixture",route="/a",le="1"} 1',
        'kpulse_req_seconds_bucket{host="h1",method="POST",region="fixture",route="/a",le="+Inf"} 1',
        'kpulse_req_seconds_sum{host="h1",method="POST",region="fixture",route="/a"} 0.1',
        'kpulse_req_seconds_count{host="h1",method="POST",region="fixture",route="/a"} 1',
        "",
      ].join("\n"),
    );
  });

  test("no labels at all: le alone in braces, bare _sum and _count", () => {
    const out = renderExposition({ namespace: "kpulse", constLabels: {} }, [
      { prefix: "p", samples: [hist("lat_seconds", [1e-5, 0.25, 1e6], [0.1, 0.2])] },
    ]);
    expect(out).toBe(
      [
        "# HELP kpulse_p_lat_seconds help lat_seconds",
        "# TYPE kpulse_p_lat_seconds histogram",
        'kpulse_p_lat_seconds_bucket{le="1e-05"} 0',
        'kpulse_p_lat_seconds_bucket{le="0.25"} 2',
        'kpulse_p_lat_seconds_bucket{le="1e+06"} 2',
        'kpulse_p_lat_seconds_bucket{le="+Inf"} 2',
        "kpulse_p_lat_seconds_sum 0.30000000000000004",
        "kpulse_p_lat_seconds_count 2",
        "",
      ].join("\n"),
    );
  });

  test("counts and sums use the float format (1e+06 and up in %e, as client_golang)", () => {
    const sample: HistogramSample = {
      name: "big",
      help: "h",
      type: "histogram",
      histogram: { bounds: [1], cumulativeCounts: [1_000_000], count: 2_500_000, sum: 0 },
    };
    const out = renderExposition({ namespace: "k", constLabels: {} }, [{ prefix: "", samples: [sample] }]);
    expect(out).toBe(
      ["# HELP k_big h", "# TYPE k_big histogram", 'k_big_bucket{le="1"} 1e+06', 'k_big_bucket{le="+Inf"} 2.5e+06', "k_big_sum 0", "k_big_count 2.5e+06", ""].join("\n"),
    );
  });

  test("escaping in a histogram's labels", () => {
    const out = renderExposition({ namespace: "k", constLabels: {} }, [{ prefix: "", samples: [hist("h", [1], [0], { path: 'a"b\\c\nd' })] }]);
    expect(out).toContain('k_h_bucket{path="a\\"b\\\\c\\nd",le="1"} 1\n');
    expect(out).toContain('k_h_count{path="a\\"b\\\\c\\nd"} 1\n');
  });

  test("histogram families sort with the others; a duplicate histogram series is dropped like any other", () => {
    const stats = {} as RenderStats;
    const samples: MetricSample[] = [
      s("zz_total", 1),
      hist("mm_seconds", [1], [0.5], { a: "1" }),
      hist("mm_seconds", [1], [5, 5], { a: "1" }),
      s("aa_total", 2),
    ];
    const out = renderExposition(OPTS, [{ prefix: "p", samples }], stats);
    const typeLines = out.split("\n").filter((l) => l.startsWith("# TYPE"));
    expect(typeLines).toEqual(["# TYPE kpulse_p_aa_total counter", "# TYPE kpulse_p_mm_seconds histogram", "# TYPE kpulse_p_zz_total counter"]);
    expect(out).toContain('kpulse_p_mm_seconds_count{a="1",host="h1",region="fixture"} 1\n');
    expect(out).not.toContain('kpulse_p_mm_seconds_count{a="1",host="h1",region="fixture"} 2\n'); // the second is gone
    expect(stats.duplicates).toBe(1);
    expect(stats.series).toBe(3);
  });

  test("a histogram and a scalar under one name: the first sample's type wins, the other is counted as dropped", () => {
    const stats = {} as RenderStats;
    const out = renderExposition(OPTS, [
      { prefix: "p", samples: [hist("x", [1], [0.5], { a: "1" })] },
      { prefix: "p", samples: [s("x", 7, { a: "2" })] },
    ], stats);
    expect(out).toContain("# TYPE kpulse_p_x histogram\n");
    expect(out).not.toContain("} 7\n");
    expect(stats.duplicates).toBe(1);
    expect(stats.firstDuplicate).toBe('kpulse_p_x{a="2",host="h1",region="fixture"}');
  });
});

describe("renderExposition: per-group namespace and const labels", () => {
  test("a group can name its own namespace and drop the const labels (HUATUO's huatuo_http_server_*)", () => {
    const out = renderExposition({ namespace: "huatuo_bamai", constLabels: { host: "h1", region: "r" } }, [
      { prefix: "", samples: [s("up", 1)] },
      { prefix: "", namespace: "huatuo", constLabels: {}, samples: [s("http_server_requests_total", 3, { route: "/metrics", method: "GET", status: "200" })] },
    ]);
    expect(out).toBe(
      [
        "# HELP huatuo_bamai_up help up",
        "# TYPE huatuo_bamai_up counter",
        'huatuo_bamai_up{host="h1",region="r"} 1',
        "# HELP huatuo_http_server_requests_total help http_server_requests_total",
        "# TYPE huatuo_http_server_requests_total counter",
        'huatuo_http_server_requests_total{method="GET",route="/metrics",status="200"} 3',
        "",
      ].join("\n"),
    );
  });

  test("a group's own const labels replace the defaults", () => {
    const out = renderExposition(OPTS, [{ prefix: "p", constLabels: { zone: "z" }, samples: [s("x", 1, { a: "b" })] }]);
    expect(out).toContain('kpulse_p_x{a="b",zone="z"} 1\n');
  });
});
