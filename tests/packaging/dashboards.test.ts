// The Grafana dashboards (packaging/grafana/*.json) and Prometheus rules
// (packaging/prometheus/*.rules.yml), in both metric namespaces:
//   - the committed generated files are what packaging/generate.ts makes;
//   - the dashboards are well-formed: unique panel ids, every panel and query on the
//     ${datasource} variable, every kpulse selector filtered by the host and region variables;
//   - every metric name they reference is served by the real agent's /metrics (kpulse_* by
//     default, huatuo_bamai_* with Compat = "huatuo"), every opt-in probe enabled;
//   - a real Prometheus scraping both agents returns series for every dashboard query, and
//     evaluates every rule without an error.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { generatedFiles } from "../../packaging/generate.ts";
import { DATASOURCE } from "../../packaging/grafana/model.ts";
import { probeTable } from "../../src/probes/registry.ts";
import { ROOT, kernelTestSkipReason, startAgent, waitFor, type Agent } from "../e2e/agent.ts";
import { containerConfig, containerdSkipReason, containerId, startContainerd, type Containerd } from "../e2e/containerd.ts";
import { startPrometheus, type PrometheusServer } from "../e2e/prometheus.ts";
import { closedUdpPort, sendUdp } from "../e2e/udp.ts";
import { selectors, type Selector } from "./promql.ts";

const PKG = join(ROOT, "packaging");
const GRAFANA = join(PKG, "grafana");

// Ports of this test (19820-19829): the two agents, Prometheus, an OpenSearch nobody runs.
const PORTS = { kpulse: 19820, huatuo: 19821, prometheus: 19822, openSearch: 19829 };

interface Variant {
  name: "kpulse" | "huatuo";
  /** Metric name prefix of this namespace. */
  prefix: string;
  /** Dashboard file prefix in packaging/grafana. */
  filePrefix: string;
  rules: string;
  /** Top-level config keys for this namespace. */
  config: string;
}

const VARIANTS: Variant[] = [
  { name: "kpulse", prefix: "kpulse_", filePrefix: "kpulse-", rules: "kpulse.rules.yml", config: "" },
  { name: "huatuo", prefix: "huatuo_bamai_", filePrefix: "huatuo-", rules: "huatuo.rules.yml", config: 'Compat = "huatuo"\n' },
];

/** Series Prometheus makes itself for every target: not in /metrics, checked in Prometheus instead. */
const PROMETHEUS_OWN = new Set(["up"]);

type Json = Record<string, any>;

interface Expr {
  where: string;
  expr: string;
}

function dashboards(v: Variant): { file: string; json: Json }[] {
  return readdirSync(GRAFANA)
    .filter((f) => f.startsWith(v.filePrefix) && f.endsWith(".json"))
    .sort()
    .map((file) => ({ file, json: JSON.parse(readFileSync(join(GRAFANA, file), "utf8")) as Json }));
}

/** Every panel, the ones nested in collapsed rows included. */
function panelsOf(d: Json): Json[] {
  return (d.panels as Json[]).flatMap((p) => [p, ...((p.panels as Json[] | undefined) ?? [])]);
}

function panelExprs(v: Variant): Expr[] {
  return dashboards(v).flatMap(({ file, json }) =>
    panelsOf(json).flatMap((p) => ((p.targets as Json[] | undefined) ?? []).map((t) => ({ where: `${file} panel ${p.id} "${p.title}" ${t.refId}`, expr: String(t.expr) }))),
  );
}

function variableExprs(v: Variant): Expr[] {
  return dashboards(v).flatMap(({ file, json }) =>
    (json.templating.list as Json[]).filter((t) => t.type === "query").map((t) => ({ where: `${file} variable ${t.name}`, expr: String(t.query.query) })),
  );
}

function ruleExprs(v: Variant): Expr[] {
  const doc = Bun.YAML.parse(readFileSync(join(PKG, "prometheus", v.rules), "utf8")) as { groups: { rules: { alert?: string; record?: string; expr: string }[] }[] };
  return doc.groups.flatMap((g) => g.rules.map((r) => ({ where: `${v.rules} ${r.alert ?? r.record}`, expr: r.expr })));
}

/** label_values(<selector>, label) → the selector. */
function variableSelector(def: string): string {
  const m = /^label_values\((.+), *[a-zA-Z_]+\)$/.exec(def);
  if (!m) throw new Error(`not a label_values() query: ${def}`);
  return m[1]!;
}

function selectorsOf(exprs: Expr[]): { where: string; sel: Selector }[] {
  return exprs.flatMap(({ where, expr }) => selectors(expr).map((sel) => ({ where, sel })));
}

// ---- the files ----

describe("generated packaging files", () => {
  test("the committed dashboards, huatuo rules and their tests are what packaging/generate.ts makes", () => {
    const want = generatedFiles();
    const stale = [...want].filter(([path, content]) => {
      try {
        return readFileSync(join(PKG, path), "utf8") !== content;
      } catch {
        return true;
      }
    }).map(([path]) => path);
    expect(stale).toEqual([]); // run: bun packaging/generate.ts
    // And no dashboard file the generator does not make (a left-over after a rename).
    const made = new Set([...want.keys()]);
    expect(readdirSync(GRAFANA).filter((f) => f.endsWith(".json")).map((f) => `grafana/${f}`).filter((f) => !made.has(f))).toEqual([]);
  });
});

for (const v of VARIANTS) {
  describe(`dashboards in the ${v.prefix} namespace`, () => {
    test("four dashboards, schemaVersion 39, unique uids", () => {
      const all = dashboards(v);
      expect(all.map((d) => d.file)).toEqual(["agent", "containers", "events", "host", "network"].map((s) => `${v.filePrefix}${s}.json`));
      for (const { json } of all) expect(json.schemaVersion).toBe(39);
      const uids = [...VARIANTS.flatMap(dashboards)].map((d) => d.json.uid);
      expect(new Set(uids).size).toBe(uids.length);
    });

    test("data source, region and host variables; host filtered by region", () => {
      for (const { file, json } of dashboards(v)) {
        const vars = Object.fromEntries((json.templating.list as Json[]).map((t) => [t.name, t]));
        expect({ file, ds: vars.datasource?.type, query: vars.datasource?.query }).toEqual({ file, ds: "datasource", query: "prometheus" });
        for (const name of ["region", "host"]) {
          const t = vars[name]!;
          expect({ file, name, type: t.type, datasource: t.datasource }).toEqual({ file, name, type: "query", datasource: DATASOURCE });
          expect(t.query.query).toMatch(new RegExp(`^label_values\\(${v.prefix}.+, ${name}\\)$`));
        }
        const hostSel = selectors(variableSelector(vars.host.query.query))[0]!;
        expect(hostSel.matchers).toEqual([{ label: "region", op: "=~", value: "$region" }]);
      }
    });

    test("panel ids unique; every panel and query on ${datasource}; refIds unique; panels inside the 24-column grid, not overlapping", () => {
      for (const { file, json } of dashboards(v)) {
        const panels = panelsOf(json);
        const ids = panels.map((p) => p.id);
        expect({ file, unique: new Set(ids).size === ids.length, allNumbers: ids.every((id) => Number.isInteger(id)) }).toEqual({ file, unique: true, allNumbers: true });
        const cells = new Set<string>();
        for (const p of panels) {
          const g = p.gridPos as { x: number; y: number; w: number; h: number };
          expect({ file, id: p.id, fits: g.x >= 0 && g.w > 0 && g.x + g.w <= 24 && g.h > 0 }).toEqual({ file, id: p.id, fits: true });
          for (let y = g.y; y < g.y + g.h; y++) {
            for (let x = g.x; x < g.x + g.w; x++) {
              expect({ file, id: p.id, overlaps: cells.has(`${x},${y}`) }).toEqual({ file, id: p.id, overlaps: false });
              cells.add(`${x},${y}`);
            }
          }
          if (p.type === "row") continue;
          expect({ file, id: p.id, datasource: p.datasource }).toEqual({ file, id: p.id, datasource: DATASOURCE });
          const targets = p.targets as Json[];
          expect(targets.length).toBeGreaterThan(0);
          for (const t of targets) expect({ file, id: p.id, datasource: t.datasource }).toEqual({ file, id: p.id, datasource: DATASOURCE });
          expect(new Set(targets.map((t) => t.refId)).size).toBe(targets.length);
        }
      }
    });

    test(`every selector is a ${v.prefix} series filtered by host=~"$host" and region=~"$region"`, () => {
      const bad = selectorsOf(panelExprs(v)).filter(({ sel }) => {
        const named = (sel.name ?? sel.nameRegex ?? "").startsWith(v.prefix);
        const has = (label: string) => sel.matchers.some((m) => m.label === label && m.op === "=~" && m.value === `$${label}`);
        return !named || !has("host") || !has("region");
      });
      expect(bad).toEqual([]);
    });
  });

  describe(`rules in the ${v.prefix} namespace`, () => {
    test(`every selector is a ${v.prefix} series, or Prometheus's own up`, () => {
      const sels = selectorsOf(ruleExprs(v));
      expect(sels.length).toBeGreaterThan(0);
      expect(sels.filter(({ sel }) => !(sel.name ?? sel.nameRegex ?? "").startsWith(v.prefix) && !PROMETHEUS_OWN.has(sel.name ?? ""))).toEqual([]);
    });
  });
}

// ---- against the real agent and a real Prometheus ----

/** Names served in a /metrics text: every sample's name (a histogram's _bucket/_sum/_count as such). */
function servedNames(text: string): Set<string> {
  const out = new Set<string>();
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    out.add(/^[a-zA-Z_:][a-zA-Z0-9_:]*/.exec(line)![0]);
  }
  return out;
}

/** Families that have a series with the given outcome label (the event probes' outcome counters). */
function familiesWithOutcome(text: string, outcome: string): string[] {
  const re = new RegExp(`^([a-zA-Z_:][a-zA-Z0-9_:]*)\\{[^}]*\\boutcome="${outcome}"`, "gm");
  return [...new Set([...text.matchAll(re)].map((m) => m[1]!))].sort();
}

const skip = kernelTestSkipReason() ?? containerdSkipReason();

describe.skipIf(!!skip)("against the real agent (every probe enabled) and a real Prometheus", () => {
  const agents = new Map<Variant["name"], Agent>();
  const scrapes = new Map<Variant["name"], string>();
  let prom: PrometheusServer;
  let hostName: string;
  let ctd: Containerd | undefined;

  beforeAll(async () => {
    const optIn = probeTable.filter((p) => !p.defaultEnabled).map((p) => JSON.stringify(p.name)).join(", ");
    // A real container (private containerd) so that the container series the Containers
    // dashboard uses are served.
    ctd = await startContainerd();
    const cid = containerId("dashboards");
    await ctd.run({ id: cid, cgroup: `/kubepods/besteffort/pod0dab0a2d-0000-4000-8000-00000000da5b/${cid}`, args: ["/bin/sleep", "3600"] });
    for (const v of VARIANTS) {
      // OpenSearch configured but not running: its sink and spool metrics are served (the spool fills).
      const config = [
        v.config,
        "[Storage.ES]",
        `Address = "http://127.0.0.1:${PORTS.openSearch}"`,
        'Username = "kpulse"',
        'Password = "kpulse"',
        "[Kpulse]",
        `EnableProbes = [${optIn}]`,
        containerConfig({ containerd: ctd.stateDir }),
      ].join("\n");
      agents.set(v.name, await startAgent({ config, args: ["--listen", `127.0.0.1:${PORTS[v.name]}`] }));
    }
    // A datagram to a closed port is a kernel drop (NO_SOCKET): dropwatch turns it into an event,
    // so the families that appear with the first event (events_published_total{tracer}) are there.
    await sendUdp(await closedUdpPort(), 3);
    for (const v of VARIANTS) {
      const agent = agents.get(v.name)!;
      const text = await waitFor(`${v.prefix}events_published_total after a drop`, async () => {
        const t = await agent.metrics();
        // cpu_util's container series need two readings a second apart.
        return t.includes(`${v.prefix}events_published_total{`) && t.includes(`${v.prefix}cpu_util_container_total{`) ? t : undefined;
      }, 20_000, 200);
      scrapes.set(v.name, text);
    }
    hostName = /host="([^"]*)"/.exec(scrapes.get("kpulse")!.split("\n").find((l) => l.startsWith("kpulse_build_info{"))!)![1]!;
    prom = await startPrometheus({
      targets: VARIANTS.map((v) => `127.0.0.1:${PORTS[v.name]}`),
      ruleFiles: VARIANTS.map((v) => join(PKG, "prometheus", v.rules)),
      port: PORTS.prometheus,
    });
  }, 120_000);

  afterAll(async () => {
    await prom?.stop();
    for (const a of agents.values()) await a.stop();
    await ctd?.stop();
  });

  for (const v of VARIANTS) {
    test(`every metric name the ${v.name} dashboards and rules use is in /metrics (${v.prefix})`, () => {
      const served = servedNames(scrapes.get(v.name)!);
      const used = selectorsOf([...panelExprs(v), ...variableExprs(v).map((e) => ({ ...e, expr: variableSelector(e.expr) })), ...ruleExprs(v)]);
      expect(used.length).toBeGreaterThan(100);
      const missing = used.filter(({ sel }) => sel.name !== undefined && !PROMETHEUS_OWN.has(sel.name) && !served.has(sel.name));
      expect(missing).toEqual([]);
      // A __name__ regex must match a served family, as Prometheus anchors it.
      const unmatched = used.filter(({ sel }) => sel.nameRegex !== undefined && ![...served].some((n) => new RegExp(`^(?:${sel.nameRegex})$`).test(n)));
      expect(unmatched).toEqual([]);
    });

    test(`the ${v.name} outcome regex covers every probe's outcome counter, and only those`, () => {
      const text = scrapes.get(v.name)!;
      // The outcome regex: the one name regex over *_events_total (others, such as the cgroup v1/v2
      // alternatives of the Containers dashboard, are checked against /metrics above).
      const regexes = [...new Set(selectorsOf([...panelExprs(v), ...ruleExprs(v)]).flatMap(({ sel }) => (sel.nameRegex?.endsWith("_events_total") ? [sel.nameRegex] : [])))];
      expect(regexes).toEqual([`${v.prefix}.+_events_total`]);
      const re = new RegExp(`^(?:${regexes[0]})$`);
      const withOutcome = familiesWithOutcome(text, "[a-z_]+");
      expect(withOutcome.length).toBeGreaterThanOrEqual(10);
      expect(withOutcome.filter((f) => !re.test(f))).toEqual([]);
      expect([...servedNames(text)].filter((n) => re.test(n)).sort()).toEqual(withOutcome);
      // The event probes whose ring can overflow report ringbuf_full, zero included.
      expect(familiesWithOutcome(text, "ringbuf_full")).toContain(`${v.prefix}dropwatch_events_total`);
    });
  }

  test("Prometheus's own series the rules use exist for the kpulse job", async () => {
    const up = await prom.query('up{job="kpulse"}');
    expect(up.map((r) => r.value[1])).toEqual(["1", "1"]);
  });

  test("every dashboard query returns series from a real Prometheus, in both namespaces", async () => {
    // 30 s windows hold ~30 samples at the 1 s scrape interval: wait until they are full.
    await waitFor("30 s of scrapes", async () => {
      const r = await prom.query("min(count_over_time(up[30s]))");
      return Number(r[0]?.value[1]) >= 28 || undefined;
    }, 60_000, 500);
    const resolve = (expr: string) =>
      expr.replaceAll("$__rate_interval", "30s").replaceAll("$host", hostName.replace(/[.*+?^${}()|[\]\\]/g, "\\\\$&")).replaceAll("$region", "test");
    let pending = VARIANTS.flatMap((v) => [...panelExprs(v), ...variableExprs(v).map((e) => ({ ...e, expr: variableSelector(e.expr) }))]);
    // A scrape that times out on a busy machine marks every series stale until the next one:
    // a query still empty after 30 s of retries is empty for good.
    const deadline = Date.now() + 30_000;
    for (;;) {
      const empty: typeof pending = [];
      for (const e of pending) {
        const r = await prom.query(resolve(e.expr)); // throws with Prometheus's parse or evaluation error
        if (r.length === 0) empty.push(e);
      }
      pending = empty;
      if (pending.length === 0 || Date.now() > deadline) break;
      await Bun.sleep(1000);
    }
    expect(pending.map(({ where, expr }) => `${where}: ${expr}`)).toEqual([]);
  }, 120_000);

  test("every rule of both rule files evaluates in a real Prometheus without an error", async () => {
    type Rule = { name: string; health: string; lastError?: string; lastEvaluation: string };
    const rules = await waitFor("every rule evaluated once", async () => {
      const groups = (await prom.api("/api/v1/rules")).groups as { file: string; rules: Rule[] }[];
      const all = groups.flatMap((g) => g.rules.map((r) => ({ file: g.file, ...r })));
      return all.length > 0 && all.every((r) => !r.lastEvaluation.startsWith("0001-")) ? all : undefined;
    }, 30_000, 500);
    expect(rules.length).toBe(VARIANTS.reduce((n, v) => n + ruleExprs(v).length, 0));
    expect(rules.filter((r) => r.health !== "ok" || r.lastError).map((r) => `${r.file} ${r.name}: ${r.health} ${r.lastError}`)).toEqual([]);
  });
});
