// The vector selectors of a PromQL expression (as written in Grafana dashboards and rule files),
// so tests can check that every metric name they reference is one kpulse serves. A small
// scanner, not a full parser: it skips strings, `[5m]` ranges, `by (…)`/`without (…)` label
// lists, numbers and Grafana variables, and reads `{…}` matchers. An identifier is a metric
// name unless it is a PromQL keyword, function or aggregation; an unknown identifier followed
// by `(` is an error (a misspelled function), so nothing is silently taken for a name.

export interface Matcher {
  label: string;
  op: "=" | "!=" | "=~" | "!~";
  value: string;
}

export interface Selector {
  /** The metric name written before the braces, or in a `__name__="…"` matcher. */
  name?: string;
  /** A `__name__=~"…"` matcher's regex (anchored, as Prometheus anchors it). */
  nameRegex?: string;
  matchers: Matcher[];
}

// Prometheus 2.42's functions (promql/parser/functions.go) and the @ modifier's start()/end().
const FUNCTIONS = new Set([
  "abs", "absent", "absent_over_time", "acos", "acosh", "asin", "asinh", "atan", "atanh", "avg_over_time", "ceil",
  "changes", "clamp", "clamp_max", "clamp_min", "cos", "cosh", "count_over_time", "day_of_month", "day_of_week",
  "day_of_year", "days_in_month", "deg", "delta", "deriv", "end", "exp", "floor", "histogram_count", "histogram_fraction",
  "histogram_quantile", "histogram_sum", "holt_winters", "hour", "idelta", "increase", "irate", "label_join",
  "label_replace", "last_over_time", "ln", "log10", "log2", "max_over_time", "min_over_time", "minute", "month", "pi",
  "predict_linear", "present_over_time", "quantile_over_time", "rad", "rate", "resets", "round", "scalar", "sgn",
  "sin", "sinh", "sort", "sort_desc", "sqrt", "start", "stddev_over_time", "stdvar_over_time", "sum_over_time", "tan",
  "tanh", "time", "timestamp", "vector", "year",
]);
const AGGREGATIONS = new Set(["avg", "bottomk", "count", "count_values", "group", "max", "min", "quantile", "stddev", "stdvar", "sum", "topk"]);
/** Keywords followed by an optional parenthesised list of label names. */
const LABEL_LIST_KEYWORDS = new Set(["by", "without", "on", "ignoring", "group_left", "group_right"]);
const OTHER_KEYWORDS = new Set(["and", "or", "unless", "bool", "offset", "atan2", "inf", "nan"]);

const IDENT = /[a-zA-Z_:][a-zA-Z0-9_:]*/y;
const LABEL = /[a-zA-Z_][a-zA-Z0-9_]*/y;
// Numbers, hex, and durations such as 5m, 1h30m, 1.5e3.
const NUMBER = /(?:0x[0-9a-fA-F]+|[0-9]*\.?[0-9]+(?:[eE][+-]?[0-9]+)?(?:ms|[smhdwy])?(?:[0-9]+(?:ms|[smhdwy]))*)/y;

class Scanner {
  i = 0;
  constructor(readonly s: string) {}

  fail(what: string): never {
    throw new Error(`PromQL: ${what} at offset ${this.i} in ${JSON.stringify(this.s)}`);
  }

  skipSpace(): void {
    for (;;) {
      while (this.i < this.s.length && /\s/.test(this.s[this.i]!)) this.i++;
      if (this.s[this.i] !== "#") return;
      while (this.i < this.s.length && this.s[this.i] !== "\n") this.i++; // a comment
    }
  }

  match(re: RegExp): string | undefined {
    re.lastIndex = this.i;
    const m = re.exec(this.s);
    if (!m || m[0] === "") return undefined;
    this.i += m[0].length;
    return m[0];
  }

  /** A quoted string starting at i; returns its value (escapes resolved for " and '). */
  string(): string {
    const q = this.s[this.i]!;
    let out = "";
    this.i++;
    while (this.i < this.s.length) {
      const c = this.s[this.i++]!;
      if (c === q) return out;
      if (c === "\\" && q !== "`") {
        const e = this.s[this.i++];
        if (e === undefined) break;
        out += e === "n" ? "\n" : e === "t" ? "\t" : e;
      } else {
        out += c;
      }
    }
    return this.fail("unterminated string");
  }

  /** Skips from an opening bracket to its closing one (no nesting needed: `[5m:1m]`, `[$__rate_interval]`). */
  skipUntil(close: string): void {
    const end = this.s.indexOf(close, this.i);
    if (end < 0) this.fail(`no closing ${close}`);
    this.i = end + 1;
  }

  /** `$var`, `${var}`, `${var:format}`, `$__rate_interval`. */
  grafanaVariable(): void {
    this.i++;
    if (this.s[this.i] === "{") this.skipUntil("}");
    else if (!this.match(/[a-zA-Z0-9_]+/y)) this.fail("$ without a variable name");
  }

  matchers(): Matcher[] {
    const out: Matcher[] = [];
    this.i++; // {
    for (;;) {
      this.skipSpace();
      if (this.s[this.i] === "}") {
        this.i++;
        return out;
      }
      const label = this.match(LABEL) ?? this.fail("expected a label name in {…}");
      this.skipSpace();
      const op = (this.match(/=~|!~|!=|=/y) ?? this.fail(`expected a matcher operator after ${label}`)) as Matcher["op"];
      this.skipSpace();
      if (!`"'\``.includes(this.s[this.i] ?? "")) this.fail(`expected a quoted value for ${label}`);
      out.push({ label, op, value: this.string() });
      this.skipSpace();
      if (this.s[this.i] === ",") this.i++;
      else if (this.s[this.i] !== "}") this.fail("expected , or } in matchers");
    }
  }

  peek(): string | undefined {
    const save = this.i;
    this.skipSpace();
    const c = this.s[this.i];
    this.i = save;
    return c;
  }
}

function selectorOf(name: string | undefined, matchers: Matcher[]): Selector {
  const sel: Selector = { matchers };
  if (name !== undefined) sel.name = name;
  for (const m of matchers) {
    if (m.label !== "__name__") continue;
    if (m.op === "=") {
      if (sel.name !== undefined && sel.name !== m.value) throw new Error(`PromQL: two metric names ${sel.name} and ${m.value} in one selector`);
      sel.name = m.value;
    } else if (m.op === "=~") {
      sel.nameRegex = m.value;
    }
  }
  return sel;
}

/** Every vector selector in `expr`, in order. Throws on what it cannot read. */
export function selectors(expr: string): Selector[] {
  const sc = new Scanner(expr);
  const out: Selector[] = [];
  for (;;) {
    sc.skipSpace();
    if (sc.i >= expr.length) return out;
    const c = expr[sc.i]!;
    if (c === '"' || c === "'" || c === "`") {
      sc.string();
    } else if (c === "[") {
      sc.skipUntil("]");
    } else if (c === "$") {
      sc.grafanaVariable();
    } else if (c === "{") {
      out.push(selectorOf(undefined, sc.matchers()));
    } else if (/[0-9.]/.test(c) && sc.match(NUMBER)) {
      // a number or a duration
    } else if (/[a-zA-Z_:]/.test(c)) {
      const word = sc.match(IDENT)!;
      const next = sc.peek();
      if (LABEL_LIST_KEYWORDS.has(word)) {
        if (next === "(") {
          sc.skipSpace();
          sc.skipUntil(")");
        }
      } else if (OTHER_KEYWORDS.has(word) || FUNCTIONS.has(word) || AGGREGATIONS.has(word)) {
        // not a metric
      } else if (next === "(") {
        sc.fail(`unknown function ${word}`);
      } else if (next === "{") {
        sc.skipSpace();
        out.push(selectorOf(word, sc.matchers()));
      } else {
        out.push(selectorOf(word, []));
      }
    } else {
      sc.i++; // operators, parentheses, commas, @
    }
  }
}
