// A small builder for Grafana's dashboard JSON model (schemaVersion 39): rows of time-series
// and stat panels, every panel and query on the `${datasource}` variable, and the `region` and
// `host` variables every kpulse series can be filtered by. Panels are laid out in a 24-column
// grid, two per line unless a panel asks for another width. The output is typed with Grafana's
// own schema types (@grafana/schema), so `tsc` checks its shape against Grafana's.
import type { Dashboard, Panel, RowPanel, VariableModel } from "@grafana/schema";

export const SCHEMA_VERSION = 39;

/** Every panel and query points at the dashboard's data source variable, never at a fixed uid. */
export const DATASOURCE = { type: "prometheus", uid: "${datasource}" } as const;

/** The matchers every selector of a kpulse series carries (the test checks it does). */
export const SEL = 'host=~"$host", region=~"$region"';

export interface Query {
  expr: string;
  /** Grafana legend template, e.g. "{{host}} {{device}}". */
  legend: string;
}

export interface PanelSpec {
  title: string;
  description: string;
  /** Grafana unit id: "percent", "bytes", "Bps", "pps", "s", "short", "ops"... */
  unit: string;
  queries: Query[];
  kind?: "timeseries" | "stat";
  /** Grid columns out of 24 (default 12). */
  width?: number;
  /** Stack the series (parts of one whole). */
  stacked?: boolean;
}

export interface RowSpec {
  title: string;
  panels: PanelSpec[];
}

export interface DashboardSpec {
  uid: string;
  title: string;
  description: string;
  /** The series the region and host variables list their values from. */
  variableSource: string;
  rows: RowSpec[];
}

function variables(source: string): VariableModel[] {
  const query = (name: string, label: string, q: string): VariableModel => ({
    name,
    label,
    type: "query",
    datasource: DATASOURCE,
    query: { query: q, refId: "PrometheusVariableQueryEditor-VariableQuery", qryType: 1 },
    refresh: 2, // on time range change: hosts come and go
    multi: true,
    includeAll: true,
    allValue: ".*",
    current: { selected: true, text: ["All"], value: ["$__all"] },
    options: [],
    regex: "",
    sort: 1,
    hide: 0,
  });
  return [
    { name: "datasource", label: "Data source", type: "datasource", query: "prometheus", options: [], refresh: 1, regex: "", hide: 0 },
    query("region", "Region", `label_values(${source}, region)`),
    query("host", "Host", `label_values(${source}{region=~"$region"}, host)`),
  ];
}

function panel(p: PanelSpec, id: number, gridPos: NonNullable<Panel["gridPos"]>): Panel {
  const kind = p.kind ?? "timeseries";
  const targets = p.queries.map((q, i) => ({
    datasource: DATASOURCE,
    expr: q.expr,
    legendFormat: q.legend,
    range: true,
    refId: String.fromCharCode(65 + i),
  }));
  const custom = kind === "timeseries"
    ? { drawStyle: "line", lineWidth: 1, fillOpacity: p.stacked ? 30 : 10, showPoints: "never", spanNulls: false, stacking: { mode: p.stacked ? "normal" : "none", group: "A" } }
    : undefined;
  const options = kind === "timeseries"
    ? { legend: { displayMode: "table", placement: "bottom", showLegend: true, calcs: ["mean", "max", "lastNotNull"] }, tooltip: { mode: "multi", sort: "desc" } }
    : { reduceOptions: { calcs: ["lastNotNull"], fields: "", values: false }, colorMode: "value", graphMode: "area", textMode: "auto", orientation: "auto", justifyMode: "auto" };
  return {
    id,
    type: kind,
    title: p.title,
    description: p.description,
    datasource: DATASOURCE,
    gridPos,
    fieldConfig: { defaults: { unit: p.unit, ...(custom ? { custom } : {}) }, overrides: [] },
    options,
    targets,
  };
}

/** The dashboard JSON model: one collapsed=false row panel per row, its panels below it. */
export function buildDashboard(d: DashboardSpec): Dashboard {
  const panels: (Panel | RowPanel)[] = [];
  let id = 1;
  let y = 0;
  for (const row of d.rows) {
    panels.push({ id: id++, type: "row", title: row.title, collapsed: false, gridPos: { h: 1, w: 24, x: 0, y: y++ }, panels: [] });
    let x = 0;
    let lineHeight = 0;
    for (const p of row.panels) {
      const w = p.width ?? 12;
      const h = p.kind === "stat" ? 4 : 8;
      if (x + w > 24) {
        y += lineHeight;
        x = 0;
        lineHeight = 0;
      }
      panels.push(panel(p, id++, { h, w, x, y }));
      x += w;
      lineHeight = Math.max(lineHeight, h);
    }
    y += lineHeight;
  }
  return {
    uid: d.uid,
    title: d.title,
    description: d.description,
    tags: ["kpulse", "linux", "kernel"],
    editable: true,
    graphTooltip: 1,
    timezone: "",
    refresh: "30s",
    time: { from: "now-6h", to: "now" },
    schemaVersion: SCHEMA_VERSION,
    version: 1,
    links: [{ type: "dashboards", tags: ["kpulse"], asDropdown: true, title: "kpulse", includeVars: true, keepTime: true, icon: "external link", targetBlank: false, tooltip: "" }],
    annotations: {
      list: [{ builtIn: 1, datasource: { type: "grafana", uid: "-- Grafana --" }, enable: true, hide: true, iconColor: "rgba(0, 211, 255, 1)", name: "Annotations & Alerts", type: "dashboard" }],
    },
    templating: { list: variables(d.variableSource) },
    panels,
  };
}
