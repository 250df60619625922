// Load and validate the TOML config against the sections declared by their owners (the global
// sections in sections.ts, each probe's own section in its folder). Strict like HUATUO's
// loader: unknown keys, wrong types and out-of-range values are errors, and every error names
// the file, the key and its line. Each owner reads its section typed: `config.get(SECTION)`.
import type { Logger } from "../log.ts";
import { formatPath, lineOf, parseToml, readConfigFile, TomlError, type KeyPositions, type PathSeg } from "./toml.ts";
import { defaultOf, sectionDefaults, type Compat, type KeySpec, type SectionSpec } from "./spec.ts";

export class ConfigError extends Error {
  constructor(
    message: string,
    readonly file: string,
    readonly line?: number,
    readonly key?: string,
  ) {
    super(message);
    this.name = "ConfigError";
  }
}

// ── the schema: every declared section merged into one tree ────────────────────────────────

interface TableNode {
  t: "table";
  keys: Map<string, Node>;
}
interface KeyNode {
  t: "key";
  spec: KeySpec<unknown>;
  /** Elements of a `tables` key. */
  item?: TableNode;
}
type Node = TableNode | KeyNode;

export class ConfigSchema {
  readonly root: TableNode = { t: "table", keys: new Map() };
  /** Alias path → canonical path; an entry applies to the path and everything under it. */
  readonly aliases = new Map<string, string>();
  readonly sections: readonly SectionSpec<unknown>[];

  constructor(sections: readonly SectionSpec<unknown>[]) {
    this.sections = sections;
    const seen = new Set<string>();
    for (const s of sections) {
      if (seen.has(s.path)) throw new Error(`config section [${s.path}] is declared twice`);
      seen.add(s.path);
      const table = this.tableAt(s.path);
      for (const [name, spec] of Object.entries(s.keys)) {
        const full = s.path ? `${s.path}.${name}` : name;
        if (table.keys.has(name)) throw new Error(`config key ${full} is declared twice`);
        table.keys.set(name, keyNode(spec));
        for (const a of spec.aliases ?? []) this.alias(a, full);
      }
      for (const a of s.aliases ?? []) this.alias(a, s.path);
    }
  }

  private alias(from: string, to: string): void {
    if (this.aliases.has(from)) throw new Error(`config alias ${from} is declared twice`);
    this.aliases.set(from, to);
  }

  private tableAt(path: string): TableNode {
    let t = this.root;
    for (const seg of path ? path.split(".") : []) {
      let next = t.keys.get(seg);
      if (!next) t.keys.set(seg, (next = { t: "table", keys: new Map() }));
      if (next.t !== "table") throw new Error(`config section ${path} overlaps the key ${seg}`);
      t = next;
    }
    return t;
  }

  /** Rewrite a path as written in a file to its canonical path (aliases resolved, indices kept). */
  resolve(raw: readonly PathSeg[]): PathSeg[] {
    const firstIndex = raw.findIndex((s) => typeof s === "number");
    const head = (firstIndex < 0 ? raw : raw.slice(0, firstIndex)) as string[];
    const tail = firstIndex < 0 ? [] : raw.slice(firstIndex);
    for (let n = head.length; n > 0; n--) {
      const target = this.aliases.get(head.slice(0, n).join("."));
      if (target !== undefined) return [...target.split("."), ...head.slice(n), ...tail];
    }
    return [...raw];
  }

  nodeAt(path: readonly PathSeg[]): Node | undefined {
    let node: Node = this.root;
    for (const seg of path) {
      if (typeof seg === "number") {
        if (node.t !== "key" || !node.item) return undefined;
        node = node.item;
      } else {
        if (node.t !== "table") return undefined;
        const next: Node | undefined = node.keys.get(seg);
        if (!next) return undefined;
        node = next;
      }
    }
    return node;
  }
}

function keyNode(spec: KeySpec<unknown>): KeyNode {
  if (spec.kind !== "tables") return { t: "key", spec };
  const item: TableNode = { t: "table", keys: new Map() };
  for (const [k, s] of Object.entries(spec.item ?? {})) item.keys.set(k, keyNode(s));
  return { t: "key", spec, item };
}

// ── the result ────────────────────────────────────────────────────────────────────────────

interface Assignment {
  raw: PathSeg[];
  value: unknown;
  line: number | undefined;
}

export class LoadedConfig {
  constructor(
    readonly file: string,
    readonly compat: Compat,
    private readonly values: ReadonlyMap<string, Record<string, unknown>>,
    /** canonical path → what the file set there (as written, aliases resolved) */
    private readonly assigned: ReadonlyMap<string, Assignment>,
  ) {}

  /** The values of one declared section, every key filled (defaults where the file is silent). */
  get<V>(s: SectionSpec<V>): V {
    const v = this.values.get(s.path);
    if (!v) throw new Error(`config section [${s.path}] was not declared to the loader`);
    return v as V;
  }

  /** Line where the file set a canonical key path ("BlackList", "Storage.ES.Address"). */
  lineOf(path: string): number | undefined {
    return this.assigned.get(path)?.line;
  }

  /** True when the file set this canonical key path. */
  isSet(path: string): boolean {
    return this.assigned.has(path);
  }

  /** Every section as one nested object, for diagnostics and tests. */
  tree(): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    for (const [path, v] of this.values) {
      let node = out;
      for (const seg of path ? path.split(".") : []) node = (node[seg] ??= {}) as Record<string, unknown>;
      Object.assign(node, v);
    }
    return out;
  }
}

// ── loading ───────────────────────────────────────────────────────────────────────────────

export function loadConfig(path: string, schema: ConfigSchema, log?: Logger): LoadedConfig {
  let text: string;
  try {
    text = readConfigFile(path);
  } catch (e) {
    if (e instanceof TomlError) throw new ConfigError(`${path}${e.line ? `:${e.line}` : ""}: ${e.message}`, path, e.line);
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "ENOENT") throw new ConfigError(`${path}: config file not found`, path);
    throw new ConfigError(`${path}: cannot read config file: ${(e as Error).message}`, path);
  }
  return parseConfig(text, path, schema, log);
}

export function parseConfig(text: string, fileName: string, schema: ConfigSchema, log?: Logger): LoadedConfig {
  return new Loader(text, fileName, schema).load(log);
}

/** The config an empty file gives. */
export function defaultConfig(schema: ConfigSchema, compat: Compat = ""): LoadedConfig {
  const values = new Map<string, Record<string, unknown>>();
  for (const s of schema.sections) values.set(s.path, sectionDefaults(s, compat) as Record<string, unknown>);
  return new LoadedConfig("", compat, values, new Map());
}

class Loader {
  private positions: KeyPositions = new Map();
  private readonly set = new Map<string, Assignment>();

  constructor(
    private readonly text: string,
    private readonly file: string,
    private readonly schema: ConfigSchema,
  ) {}

  load(log?: Logger): LoadedConfig {
    let doc: Record<string, unknown>;
    try {
      const parsed = parseToml(this.text);
      doc = parsed.value;
      this.positions = parsed.positions;
    } catch (e) {
      if (!(e instanceof TomlError)) throw e;
      const where = e.line === undefined ? this.file : `${this.file}:${e.line}${e.column ? `:${e.column}` : ""}`;
      throw new ConfigError(`${where}: ${e.message}`, this.file, e.line);
    }
    for (const [k, v] of Object.entries(doc)) this.visit([k], v);

    const compat = (this.set.get("Compat")?.value ?? "") as Compat;
    const values = new Map<string, Record<string, unknown>>();
    const pending = new Set<string>();
    for (const s of this.schema.sections) {
      const out: Record<string, unknown> = {};
      for (const [name, spec] of Object.entries(s.keys)) {
        const a = this.set.get(s.path ? `${s.path}.${name}` : name);
        out[name] = a ? a.value : defaultOf(spec, compat);
        if (a && s.pending) pending.add(s.path);
      }
      values.set(s.path, out);
    }
    const esProblem = this.checkES();
    if (esProblem) log?.warn(esProblem);
    for (const section of pending) log?.debug("config: HUATUO setting accepted but not used by kpulse yet", { section });
    return new LoadedConfig(this.file, compat, values, this.set);
  }

  private visit(raw: PathSeg[], value: unknown): void {
    const canon = this.schema.resolve(raw);
    const node = this.schema.nodeAt(canon);
    const key = formatPath(raw);
    if (!node) {
      const what = isTable(value) ? "section" : "key";
      throw this.fail(raw, `unknown ${what} ${JSON.stringify(key)}${this.suggest(raw)}`);
    }
    if (node.t === "table") {
      if (!isTable(value)) throw this.fail(raw, `${key} must be a table (section), got ${this.describe(raw, value)}`);
      for (const [k, v] of Object.entries(value)) this.visit([...raw, k], v);
      return;
    }
    if (node.item) {
      if (!Array.isArray(value) || !value.every(isTable))
        throw this.fail(raw, `${key} must be an array of tables ([[${key}]]), got ${this.describe(raw, value)}`);
      value.forEach((el, i) => this.visit([...raw, i], el));
      // The whole array is the setting: each element completed with its keys' defaults.
      const item = node.item;
      const full = value.map((el) => {
        const o: Record<string, unknown> = {};
        for (const [k, n] of item.keys) if (n.t === "key") o[k] = Object.hasOwn(el, k) ? this.checked([...raw, value.indexOf(el), k], n.spec, el[k]) : defaultOf(n.spec, "");
        return o;
      });
      this.record(raw, full);
      return;
    }
    if (raw.some((s) => typeof s === "number")) return; // inside [[tables]]: recorded with its array
    this.record(raw, this.checked(raw, node.spec, value));
  }

  /** The value after type, range and custom checks (and normalization); throws with the line. */
  private checked(raw: PathSeg[], rule: KeySpec<unknown>, v: unknown): unknown {
    const key = formatPath(raw);
    const bad = () => this.fail(raw, `${key} must be ${rule.what}, got ${this.describe(raw, v)}`);
    switch (rule.kind) {
      case "string":
        if (typeof v !== "string") throw bad();
        break;
      case "bool":
        if (typeof v !== "boolean") throw bad();
        break;
      case "int":
      case "number": {
        if (typeof v !== "number" || !Number.isFinite(v)) throw bad();
        const kind = this.positions.get(key)?.kind;
        if (rule.kind === "int" && (kind === "float" || !Number.isInteger(v))) throw bad();
        if (!Number.isSafeInteger(v) && kind === "integer") throw bad();
        if (rule.min !== undefined && (rule.above ? v <= rule.min : v < rule.min)) throw bad();
        if (rule.max !== undefined && v > rule.max) throw bad();
        break;
      }
      case "strings":
        if (!Array.isArray(v)) throw bad();
        v.forEach((el, i) => {
          if (typeof el !== "string") throw this.fail([...raw, i], `${key} must be ${rule.what}, element ${i} is ${this.describe([...raw, i], el)}`);
        });
        break;
      case "pairs":
        if (!Array.isArray(v)) throw bad();
        v.forEach((el, i) => {
          if (!Array.isArray(el) || el.length !== 2 || !el.every((s) => typeof s === "string"))
            throw this.fail([...raw, i], `${key} must be ${rule.what}, element ${i} is ${this.describe([...raw, i], el)}`);
        });
        break;
      case "tables":
        throw bad(); // handled by visit()
    }
    const problem = rule.check?.(v as never);
    if (problem) throw this.fail(raw, `${key} ${problem}`);
    return rule.normalize ? rule.normalize(v as never) : v;
  }

  private record(raw: PathSeg[], value: unknown): void {
    const canon = formatPath(this.schema.resolve(raw));
    const line = lineOf(this.positions, raw);
    const prev = this.set.get(canon);
    if (prev) {
      const [first, second] = (prev.line ?? 0) <= (line ?? 0) ? [prev, { raw, line }] : [{ raw, line }, prev];
      throw new ConfigError(
        `${this.file}:${second.line}: ${formatPath(second.raw)} and ${formatPath(first.raw)} (line ${first.line}) ` +
          `are the same setting (${canon}); set only one of them`,
        this.file,
        second.line,
        formatPath(second.raw),
      );
    }
    this.set.set(canon, { raw, value, line });
  }

  /**
   * Address, Username and Password enable ES storage together. The guide says storage is simply
   * off when one is empty (its own sample sets only Username and Password), so this is a
   * warning naming the missing keys, not an error: HUATUO users' files must keep loading.
   */
  private checkES(): string | undefined {
    const fields = ["Address", "Username", "Password"] as const;
    const given = fields.filter((f) => {
      const v = this.set.get(`Storage.ES.${f}`)?.value;
      return typeof v === "string" && v.trim() !== "";
    });
    if (given.length === 0 || given.length === fields.length) return undefined;
    const missing = fields.filter((f) => !given.includes(f));
    const first = given.map((f) => this.set.get(`Storage.ES.${f}`)!).sort((a, b) => (a.line ?? 0) - (b.line ?? 0))[0]!;
    const section = formatPath(first.raw.slice(0, -1));
    return (
      `${this.file}:${first.line}: ${section} needs Address, Username and Password together: ` +
      `${missing.map((f) => `${section}.${f}`).join(" and ")} ${missing.length > 1 ? "are" : "is"} empty ` +
      `but ${given.join(" and ")} ${given.length > 1 ? "are" : "is"} set, so ES storage is disabled`
    );
  }

  private fail(raw: PathSeg[], message: string): ConfigError {
    const line = lineOf(this.positions, raw);
    const where = line === undefined ? this.file : `${this.file}:${line}`;
    return new ConfigError(`${where}: ${message}`, this.file, line, formatPath(raw));
  }

  /** The value as the file wrote it: numbers in their TOML spelling (`1e3`, `1.0`). */
  private describe(raw: PathSeg[], v: unknown): string {
    if (typeof v === "number") {
      const p = this.positions.get(formatPath(raw));
      if (p?.kind === "float" && Number.isInteger(v)) return `${v} (a float)`;
      if (p?.kind === "integer" && !Number.isSafeInteger(v)) return `${v} (too large)`;
    }
    return describe(v);
  }

  /** ` (did you mean "X"?)` for a near-miss of a sibling key or alias, else "". */
  private suggest(raw: readonly PathSeg[]): string {
    const name = raw[raw.length - 1];
    if (typeof name !== "string") return "";
    const parent = raw.slice(0, -1);
    if (parent.length > 0 && this.schema.root.keys.get(name)?.t === "key")
      return ` (${name} is a top-level key: put it above the first [section])`;
    const siblings = new Set<string>();
    const node = this.schema.nodeAt(this.schema.resolve(parent));
    if (node?.t === "table") for (const k of node.keys.keys()) siblings.add(k);
    const prefix = formatPath(parent);
    for (const alias of this.schema.aliases.keys()) {
      const dot = alias.lastIndexOf(".");
      if ((dot < 0 ? "" : alias.slice(0, dot)) === prefix) siblings.add(alias.slice(dot + 1));
    }
    let best: string | undefined;
    let bestDist = Infinity;
    for (const s of siblings) {
      const d = s.toLowerCase() === name.toLowerCase() ? 0 : distance(s.toLowerCase(), name.toLowerCase());
      if (d < bestDist) [best, bestDist] = [s, d];
    }
    return best !== undefined && bestDist <= Math.max(2, Math.floor(name.length / 4)) ? ` (did you mean ${JSON.stringify(best)}?)` : "";
  }
}

function distance(a: string, b: string): number {
  if (Math.abs(a.length - b.length) > 8) return Infinity; // hostile key names: no quadratic work
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) cur[j] = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    prev = cur;
  }
  return prev[b.length]!;
}

function isTable(v: unknown): v is Record<string, unknown> {
  return Object.prototype.toString.call(v) === "[object Object]";
}

function describe(v: unknown): string {
  if (typeof v === "string") return JSON.stringify(v.length > 80 ? v.slice(0, 77) + "..." : v);
  if (typeof v === "number" || typeof v === "boolean") return String(v);
  if (v instanceof Date) return `the date-time ${Number.isNaN(v.getTime()) ? "(local)" : v.toISOString()}`;
  if (Array.isArray(v)) {
    const s = JSON.stringify(v);
    return s.length > 60 ? `an array of ${v.length} elements` : s;
  }
  if (isTable(v)) return "a table";
  return String(v);
}
