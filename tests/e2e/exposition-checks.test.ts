// The full /metrics of the real binary, checked three ways:
//   1. `promtool check metrics` (Prometheus's own parser and lint rules),
//   2. our own checks promtool does not make: no series twice, every family with HELP and TYPE
//      (declared once, before its series, its series together), histograms consistent,
//   3. a real Prometheus server scraping the agent: the target is up and the series arrive with
//      the values the agent serves.
// Both namespaces are checked: kpulse's and Compat = "huatuo" (huatuo_bamai_*, huatuo_http_*).
// KPULSE_BIN runs another binary than build/kpulse (e.g. a developer's own build).
import { probeTable } from "../../src/probes/registry.ts";
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { resolve } from "node:path";
import { ROOT, startAgent, waitFor, type Agent } from "./agent.ts";
import { requireTool, startPrometheus, type PrometheusServer } from "./prometheus.ts";

const BINARY = process.env.KPULSE_BIN ? resolve(ROOT, process.env.KPULSE_BIN) : undefined;

// ---- our own exposition checks ----

interface ParsedSeries {
  name: string;
  labels: [string, string][];
  value: number;
  line: number;
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*/;

/** One sample line of the text format; throws with the line number on anything malformed. */
function parseSampleLine(text: string, line: number): ParsedSeries {
  const bad = (why: string) => new Error(`line ${line}: ${why}: ${JSON.stringify(text)}`);
  const name = NAME.exec(text)?.[0];
  if (!name) throw bad("no metric name");
  let i = name.length;
  const labels: [string, string][] = [];
  if (text[i] === "{") {
    i++;
    while (text[i] !== "}") {
      const ln = LABEL_NAME.exec(text.slice(i))?.[0];
      if (!ln) throw bad("bad label name");
      i += ln.length;
      if (text.slice(i, i + 2) !== '="') throw bad(`label ${ln} without ="`);
      i += 2;
      let v = "";
      for (;;) {
        const c = text[i++];
        if (c === undefined) throw bad("unterminated label value");
        if (c === '"') break;
        if (c === "\\") {
          const e = text[i++];
          if (e === "n") v += "\n";
          else if (e === "\\" || e === '"') v += e;
          else throw bad(`bad escape \\${e}`);
        } else v += c;
      }
      labels.push([ln, v]);
      if (text[i] === ",") i++;
      else if (text[i] !== "}") throw bad("expected , or }");
    }
    i++;
  }
  if (text[i] !== " ") throw bad("no space before the value");
  const fields = text.slice(i + 1).split(" ");
  if (fields.length > 2) throw bad("trailing fields");
  const value = fields[0] === "+Inf" ? Infinity : fields[0] === "-Inf" ? -Infinity : Number(fields[0]);
  if (fields[0] === "" || (Number.isNaN(value) && fields[0] !== "NaN")) throw bad("bad value");
  return { name, labels, value, line };
}

interface Family {
  help?: string;
  type?: string;
  series: ParsedSeries[];
}

/** Problems promtool does not report; an empty list means the exposition is clean. */
function expositionProblems(text: string): string[] {
  const problems: string[] = [];
  const families = new Map<string, Family>();
  const finished = new Set<string>();
  let current: string | undefined;
  const enter = (name: string, line: number) => {
    if (current === name) return;
    if (current !== undefined) finished.add(current);
    if (finished.has(name)) problems.push(`line ${line}: family ${name} continues after another family started`);
    current = name;
  };
  const family = (name: string) => {
    let f = families.get(name);
    if (!f) families.set(name, (f = { series: [] }));
    return f;
  };
  const seen = new Set<string>();
  const lines = text.split("\n");
  if (lines.at(-1) !== "") problems.push("the text does not end with a newline");
  lines.forEach((raw, idx) => {
    const line = idx + 1;
    if (raw === "") return;
    const meta = /^# (HELP|TYPE) (\S+)(?: (.*))?$/.exec(raw);
    if (meta) {
      const [, kind, name, rest] = meta as unknown as [string, "HELP" | "TYPE", string, string | undefined];
      enter(name, line);
      const f = family(name);
      if (f.series.length) problems.push(`line ${line}: # ${kind} ${name} after its series`);
      if (kind === "HELP") {
        if (f.help !== undefined) problems.push(`line ${line}: second # HELP for ${name}`);
        f.help = rest ?? "";
        if (f.help.trim() === "") problems.push(`line ${line}: empty HELP for ${name}`);
      } else {
        if (f.type !== undefined) problems.push(`line ${line}: second # TYPE for ${name}`);
        f.type = rest ?? "";
        if (!["counter", "gauge", "histogram", "summary", "untyped"].includes(f.type)) problems.push(`line ${line}: bad TYPE ${f.type} for ${name}`);
      }
      return;
    }
    if (raw.startsWith("#")) return;
    let s: ParsedSeries;
    try {
      s = parseSampleLine(raw, line);
    } catch (err) {
      problems.push((err as Error).message);
      return;
    }
    // Which family: the name itself, or a histogram's base for _bucket/_sum/_count.
    let famName = s.name;
    const suffix = /_(bucket|sum|count)$/.exec(s.name);
    if (suffix && families.get(s.name.slice(0, -suffix[0].length))?.type === "histogram") famName = s.name.slice(0, -suffix[0].length);
    enter(famName, line);
    const f = family(famName);
    if (f.type === undefined) problems.push(`line ${line}: series ${s.name} has no # TYPE before it`);
    if (f.help === undefined) problems.push(`line ${line}: series ${s.name} has no # HELP before it`);
    const names = s.labels.map(([n]) => n);
    if (new Set(names).size !== names.length) problems.push(`line ${line}: a label repeats in ${raw}`);
    const id = `${s.name}{${[...s.labels].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([n, v]) => `${n}=${JSON.stringify(v)}`).join(",")}}`;
    if (seen.has(id)) problems.push(`line ${line}: duplicate series ${id}`);
    seen.add(id);
    f.series.push(s);
  });
  for (const [name, f] of families) {
    if (f.help === undefined) problems.push(`family ${name} has no # HELP`);
    if (f.type === undefined) problems.push(`family ${name} has no # TYPE`);
    if (f.type === "histogram") problems.push(...histogramProblems(name, f.series));
  }
  return problems;
}

/** Per histogram series: buckets ascending in le and cumulative, +Inf last and equal to _count, _sum present. */
function histogramProblems(name: string, series: ParsedSeries[]): string[] {
  const problems: string[] = [];
  const groups = new Map<string, { buckets: [number, number][]; sum?: number; count?: number }>();
  for (const s of series) {
    const key = s.labels.filter(([n]) => n !== "le").map(([n, v]) => `${n}=${v}`).join(",");
    let g = groups.get(key);
    if (!g) groups.set(key, (g = { buckets: [] }));
    if (s.name === `${name}_bucket`) {
      const le = s.labels.find(([n]) => n === "le")?.[1];
      if (le === undefined) problems.push(`line ${s.line}: ${name}_bucket without le`);
      else g.buckets.push([le === "+Inf" ? Infinity : Number(le), s.value]);
    } else if (s.name === `${name}_sum`) g.sum = s.value;
    else if (s.name === `${name}_count`) g.count = s.value;
    else problems.push(`line ${s.line}: ${s.name} in histogram ${name}`);
  }
  for (const [key, g] of groups) {
    const where = `${name}{${key}}`;
    for (let i = 1; i < g.buckets.length; i++) {
      if (!(g.buckets[i]![0] > g.buckets[i - 1]![0])) problems.push(`${where}: le not ascending`);
      if (g.buckets[i]![1] < g.buckets[i - 1]![1]) problems.push(`${where}: buckets not cumulative`);
    }
    if (g.buckets.at(-1)?.[0] !== Infinity) problems.push(`${where}: no le="+Inf" bucket last`);
    if (g.count === undefined || g.sum === undefined) problems.push(`${where}: _sum or _count missing`);
    else if (g.buckets.at(-1)?.[1] !== g.count) problems.push(`${where}: +Inf bucket ${g.buckets.at(-1)?.[1]} != _count ${g.count}`);
  }
  return problems;
}

/** promtool exits 1 when the text does not parse, 3 when it parses but breaks lint rules (one line each). */
async function promtoolCheck(text: string): Promise<{ code: number; output: string }> {
  const p = Bun.spawn([requireTool("promtool"), "check", "metrics"], { stdin: Buffer.from(text), stdout: "pipe", stderr: "pipe" });
  const [out, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  return { code, output: out + err };
}

// promtool's naming rules a probe may break on purpose: its names are HUATUO's or KubeSkoop's
// (netstat_TcpExt_ListenDrops, counters without _total, arp_total as a gauge, …) and must stay
// byte-identical to them. Everything else promtool reports fails the test, and so does any
// problem in a family that is not a probe's (the agent's own metrics follow every rule).
const NAMING_RULES = [
  /^metric names should be written in 'snake_case' not 'camelCase'$/,
  /^counter metrics should have "_total" suffix$/,
  /^non-counter metrics should not have "_total" suffix$/,
  /^non-histogram and non-summary metrics should not have "_(count|sum|bucket)" suffix$/,
  /^metric names should not contain abbreviated units$/,
  /^use base unit ".*" instead of ".*"$/,
];

/** promtool's problems that are not a probe keeping its reference name; [] when clean. */
function promtoolProblems(r: { code: number; output: string }, probeFamilyPrefixes: string[]): string[] {
  if (r.code === 0) return r.output.trim() ? [`exit 0 but output: ${r.output}`] : [];
  if (r.code !== 3) return [`promtool exit ${r.code} (the text does not parse): ${r.output}`];
  return r.output
    .split("\n")
    .filter((l) => l.trim() !== "")
    .filter((l) => {
      const space = l.indexOf(" ");
      const [name, rule] = [l.slice(0, space), l.slice(space + 1)];
      return !(probeFamilyPrefixes.some((p) => name.startsWith(p)) && NAMING_RULES.some((re) => re.test(rule)));
    });
}

describe("the exposition checker itself", () => {
  const ok = [
    "# HELP a_total A.",
    "# TYPE a_total counter",
    'a_total{x="1"} 1',
    'a_total{x="2"} 2',
    "# HELP h_seconds H.",
    "# TYPE h_seconds histogram",
    'h_seconds_bucket{le="1"} 1',
    'h_seconds_bucket{le="+Inf"} 2',
    "h_seconds_sum 3.5",
    "h_seconds_count 2",
    "",
  ].join("\n");
  test("a clean text has no problems (and promtool agrees)", async () => {
    expect(expositionProblems(ok)).toEqual([]);
    expect(await promtoolCheck(ok)).toEqual({ code: 0, output: "" });
  });
  test("promtool problems: naming rules tolerated for probe families only; parse errors never", async () => {
    const lint = await promtoolCheck("# HELP k_p_fooBar x\n# TYPE k_p_fooBar counter\nk_p_fooBar 1\n# HELP k_myBar x\n# TYPE k_myBar gauge\nk_myBar 1\n");
    expect(lint.code).toBe(3);
    expect(lint.output).toContain('k_p_fooBar counter metrics should have "_total" suffix');
    expect(lint.output).toContain("k_p_fooBar metric names should be written in 'snake_case' not 'camelCase'");
    expect(promtoolProblems(lint, ["k_p_"])).toEqual(["k_myBar metric names should be written in 'snake_case' not 'camelCase'"]);
    const broken = await promtoolCheck('# HELP k_p_x x\n# TYPE k_p_x gauge\nk_p_x{a="1} 1\n');
    expect(broken.code).toBe(1);
    expect(promtoolProblems(broken, ["k_p_"])[0]).toMatch(/^promtool exit 1 \(the text does not parse\)/);
    const noHelp = await promtoolCheck("# TYPE k_p_x gauge\nk_p_x 1\n");
    expect(promtoolProblems(noHelp, ["k_p_"])).toEqual(["k_p_x no help text"]);
  });

  test("a duplicate series is found, also with labels in another order; promtool misses it", async () => {
    const dup = ok.replace('a_total{x="2"} 2', 'a_total{x="2",y="z"} 2\na_total{y="z",x="2"} 3');
    expect(expositionProblems(dup)).toEqual(['line 5: duplicate series a_total{x="2",y="z"}']);
    expect((await promtoolCheck(dup)).code).toBe(0);
  });
  test("missing HELP or TYPE, split families, bad histograms", () => {
    expect(expositionProblems(ok.replace("# HELP a_total A.\n", ""))).toEqual([
      "line 2: series a_total has no # HELP before it",
      "line 3: series a_total has no # HELP before it",
      "family a_total has no # HELP",
    ]);
    expect(expositionProblems(ok.replace("# TYPE a_total counter\n", ""))).toContain("family a_total has no # TYPE");
    expect(expositionProblems(ok + 'a_total{x="3"} 3\n')).toEqual(["line 11: family a_total continues after another family started"]);
    expect(expositionProblems(ok.replace("h_seconds_count 2", "h_seconds_count 5"))).toEqual(["h_seconds{}: +Inf bucket 2 != _count 5"]);
    expect(expositionProblems(ok.replace('h_seconds_bucket{le="1"} 1', 'h_seconds_bucket{le="1"} 3'))).toEqual(["h_seconds{}: buckets not cumulative"]);
    expect(expositionProblems(ok.replace('a_total{x="1"} 1', 'a_total{x="1} 1'))[0]).toMatch(/^line 3: /);
  });
});

// ---- the real binary ----

interface Mode {
  title: string;
  config: string;
  /** Every family name must start with one of these. */
  prefixes: string[];
  httpFamily: string;
}

const MODES: Mode[] = [
  { title: "kpulse", config: "", prefixes: ["kpulse_"], httpFamily: "kpulse_http_server_request_duration_seconds" },
  {
    title: 'Compat = "huatuo"',
    config: 'Compat = "huatuo"\n',
    prefixes: ["huatuo_bamai_", "huatuo_http_server_"],
    httpFamily: "huatuo_http_server_request_duration_seconds",
  },
];

for (const mode of MODES) {
  describe(`/metrics of the real binary (${mode.title})`, () => {
    let agent: Agent;
    let text: string;
    let probeFamilyPrefixes: string[];
    beforeAll(async () => {
      // Every probe of the table, opt-in ones included: the full /metrics is checked.
      const optIn = probeTable.filter((p) => !p.defaultEnabled).map((p) => JSON.stringify(p.name)).join(", ");
      agent = await startAgent({ binary: BINARY, config: `${mode.config}[Kpulse]\nEnableProbes = [${optIn}]\n` });
      await agent.metrics(); // the first scrape is counted in the next one's HTTP metrics
      text = await agent.metrics();
      const probes = (await (await fetch(`${agent.url}/v1/probes`)).json()).data as { name: string }[];
      probeFamilyPrefixes = probes.map((p) => `${mode.prefixes[0]}${p.name}_`);
    });
    afterAll(async () => {
      await agent?.stop();
    });

    test("promtool check metrics: it parses, and only probes' reference names break naming rules", async () => {
      expect(promtoolProblems(await promtoolCheck(text), probeFamilyPrefixes)).toEqual([]);
    });

    test("no duplicate series; every family has HELP and TYPE; histograms are consistent", () => {
      expect(expositionProblems(text)).toEqual([]);
    });

    test("every family carries the namespace; the HTTP and process families are there", () => {
      const families = [...text.matchAll(/^# TYPE (\S+) (\S+)$/gm)].map((m) => [m[1]!, m[2]!] as const);
      const outside = families.filter(([n]) => !mode.prefixes.some((p) => n.startsWith(p)));
      expect(outside).toEqual([]);
      const types = Object.fromEntries(families);
      const ns = mode.prefixes[0]!;
      expect(types[mode.httpFamily]).toBe("histogram");
      expect(types[mode.httpFamily.replace("request_duration_seconds", "requests_total")]).toBe("counter");
      for (const [n, t] of [
        ["process_cpu_seconds_total", "counter"],
        ["process_resident_memory_bytes", "gauge"],
        ["process_virtual_memory_bytes", "gauge"],
        ["process_open_fds", "gauge"],
        ["process_max_fds", "gauge"],
        ["process_start_time_seconds", "gauge"],
        ["build_info", "gauge"],
        ["probe_up", "gauge"],
      ] as const) {
        expect({ family: ns + n, type: types[ns + n] }).toEqual({ family: ns + n, type: t });
      }
      expect(text).toContain(`${mode.httpFamily}_count{`);
    });
  });
}

// ---- a real Prometheus ----

describe("a real Prometheus scrapes kpulse", () => {
  let agent: Agent;
  let prom: PrometheusServer;
  let agentStarted: number;
  const api = (path: string) => prom.api(path);
  const query = (q: string) => prom.query(q);

  beforeAll(async () => {
    agentStarted = Date.now() / 1000;
    agent = await startAgent({ binary: BINARY, config: "" });
    prom = await startPrometheus({ targets: [new URL(agent.url).host] });
    await waitFor("kpulse_probe_up in Prometheus", async () => ((await query("kpulse_probe_up")).length > 0 ? true : undefined), 30_000, 200);
  }, 90_000);

  afterAll(async () => {
    await prom?.stop();
    await agent?.stop();
  });

  test("up == 1 and the scrape had no errors", async () => {
    const up = await query('up{job="kpulse"}');
    expect(up.map((r) => r.value[1])).toEqual(["1"]);
    const t = (await api("/api/v1/targets")).activeTargets as { health: string; lastError: string }[];
    expect(t[0]!.lastError).toBe("");
  });

  test("probe_up in Prometheus matches every probe's status", async () => {
    const probes = (await (await fetch(`${agent.url}/v1/probes`)).json()).data as { name: string; status: string }[];
    const want = Object.fromEntries(probes.filter((p) => p.status !== "disabled").map((p) => [p.name, p.status === "loaded" ? "1" : "0"]));
    expect(Object.keys(want).length).toBeGreaterThan(0);
    const got = Object.fromEntries((await query("kpulse_probe_up")).map((r) => [r.metric.probe!, r.value[1]]));
    expect(got).toEqual(want);
    for (const r of await query("kpulse_probe_up")) expect({ host: !!r.metric.host, region: r.metric.region }).toEqual({ host: true, region: "test" });
  });

  test("self metrics arrive with the agent's values", async () => {
    const text = await agent.metrics();
    const local = (name: string) => Number(new RegExp(`^${name}\\{[^}]*\\} (\\S+)$`, "m").exec(text)?.[1]);
    const remote = async (q: string) => Number((await query(q))[0]?.value[1]);
    expect(await remote("kpulse_process_max_fds")).toBe(local("kpulse_process_max_fds"));
    const start = await remote("kpulse_process_start_time_seconds");
    expect(Math.abs(start - agentStarted)).toBeLessThan(5);
    expect(await remote("kpulse_build_info")).toBe(1);
    expect((await query("kpulse_build_info"))[0]!.metric.version).toBeTruthy();
  });

  test("the HTTP duration histogram is a histogram to Prometheus, and histogram_quantile works on it", async () => {
    const meta = await api(`/api/v1/metadata?metric=kpulse_http_server_request_duration_seconds`);
    expect(meta.kpulse_http_server_request_duration_seconds?.[0]?.type).toBe("histogram");
    // Prometheus's own scrapes of /metrics are counted: wait until two are in the rate window.
    const q = 'histogram_quantile(0.5, sum by (le) (rate(kpulse_http_server_request_duration_seconds_bucket{route="/metrics"}[10s])))';
    const median = await waitFor("a quantile of /metrics durations", async () => {
      const v = Number((await query(q))[0]?.value[1]);
      return Number.isFinite(v) && v > 0 ? v : undefined;
    }, 30_000, 250);
    expect(median).toBeLessThan(10);
    const requests = await query('kpulse_http_server_requests_total{route="/metrics",method="GET",status="200"}');
    expect(Number(requests[0]?.value[1])).toBeGreaterThanOrEqual(1);
  });

  test("Prometheus saw no duplicate or out-of-order samples in the scrapes", async () => {
    const own = await (await fetch(`${prom.url}/metrics`)).text();
    for (const name of ["prometheus_target_scrapes_sample_duplicate_timestamp_total", "prometheus_target_scrapes_sample_out_of_order_total"]) {
      const v = Number(new RegExp(`^${name} (\\S+)$`, "m").exec(own)?.[1]);
      expect({ name, v }).toEqual({ name, v: 0 });
    }
  });
});
