// Load and validate the TOML config. Strict like HUATUO's loader: unknown keys, wrong types and
// out-of-range values are errors, and every error names the file, the key and its line.
// HUATUO keys kpulse does not use yet are accepted (type-checked) and kept in `config.extra`.

import { readFileSync } from "node:fs";
import TOML from "@iarna/toml";
import type { Logger } from "../log.ts";
import { defaultConfig } from "./defaults.ts";
import { formatPath, lineOf, locateKeys, type KeyLines, type PathSeg } from "./locate.ts";
import { ALIASES, ROOT, type KeyRule, type Rule } from "./rules.ts";
import type { KpulseConfig } from "./schema.ts";

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

export function loadConfig(path: string, log?: Logger): KpulseConfig {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "ENOENT") throw new ConfigError(`${path}: config file not found`, path);
    throw new ConfigError(`${path}: cannot read config file: ${(e as Error).message}`, path);
  }
  return parseConfig(text, path, log);
}

export function parseConfig(text: string, fileName: string, log?: Logger): KpulseConfig {
  return new Loader(text, fileName).load(log);
}

/** ES/OpenSearch storage is on only when Address, Username and Password are all non-blank. */
export function esEnabled(cfg: KpulseConfig): boolean {
  const es = cfg.Storage.ES;
  return [es.Address, es.Username, es.Password].every((v) => v.trim() !== "");
}

interface Assignment {
  raw: PathSeg[];
  value: unknown;
  line: number | undefined;
  rule: KeyRule;
}

class Loader {
  private lines: KeyLines = new Map();
  /** canonical path → what the file set there */
  private readonly set = new Map<string, Assignment>();

  constructor(
    private readonly text: string,
    private readonly file: string,
  ) {}

  load(log?: Logger): KpulseConfig {
    const doc = this.parse();
    this.lines = locateKeys(this.text);
    for (const [k, v] of Object.entries(doc)) this.visit([k], v);

    const compat = (this.set.get("Compat")?.value ?? "") as KpulseConfig["Compat"];
    const cfg = defaultConfig(compat);
    const notes = new Set<string>();
    for (const [, a] of this.set) {
      const canon = resolve(a.raw);
      if (a.rule.used) assign(cfg as unknown as Record<string, unknown>, canon, a.value);
      else {
        assign(cfg.extra, canon, a.value);
        notes.add(sectionOf(canon));
      }
    }
    const esProblem = this.checkES();
    if (esProblem) log?.warn(esProblem);
    for (const section of notes) log?.debug("config: HUATUO setting accepted but not used by kpulse yet", { section });
    return cfg;
  }

  private parse(): Record<string, unknown> {
    try {
      return TOML.parse(this.text) as Record<string, unknown>;
    } catch (e) {
      const err = e as Error & { line?: number; col?: number };
      const msg = err.message.split(/ at row \d+, col \d+, pos \d+:/)[0]!.trim();
      if (typeof err.line === "number" && typeof err.col === "number") {
        const line = err.line + 1;
        throw new ConfigError(`${this.file}:${line}:${err.col + 1}: ${msg}`, this.file, line);
      }
      throw new ConfigError(`${this.file}: ${msg}`, this.file);
    }
  }

  private visit(raw: PathSeg[], value: unknown): void {
    const canon = resolve(raw);
    const rule = ruleAt(canon);
    const key = formatPath(raw);
    if (!rule) {
      const what = isTable(value) ? "section" : "key";
      throw this.fail(raw, `unknown ${what} ${JSON.stringify(key)}${suggest(raw)}`);
    }
    if (rule.t === "table") {
      if (!isTable(value)) throw this.fail(raw, `${key} must be a table (section), got ${describe(value)}`);
      for (const [k, v] of Object.entries(value)) this.visit([...raw, k], v);
      return;
    }
    if (rule.t === "array") {
      if (!Array.isArray(value) || !value.every(isTable)) throw this.fail(raw, `${key} must be an array of tables ([[${key}]]), got ${describe(value)}`);
      if (value.length === 0) this.record(raw, [], { t: "key", kind: "strings", what: "" });
      value.forEach((el, i) => this.visit([...raw, i], el));
      return;
    }
    this.record(raw, this.checkValue(raw, key, rule, value), rule);
  }

  private checkValue(raw: PathSeg[], key: string, rule: KeyRule, v: unknown): unknown {
    const bad = () => this.fail(raw, `${key} must be ${rule.what}, got ${describe(v)}`);
    switch (rule.kind) {
      case "string":
        if (typeof v !== "string") throw bad();
        break;
      case "bool":
        if (typeof v !== "boolean") throw bad();
        break;
      case "int":
      case "number": {
        if (typeof v === "bigint") throw bad();
        if (typeof v !== "number" || !Number.isFinite(v)) throw bad();
        if (rule.kind === "int" && !Number.isInteger(v)) throw bad();
        if (rule.min !== undefined && (rule.above ? v <= rule.min : v < rule.min)) throw bad();
        if (rule.max !== undefined && v > rule.max) throw bad();
        break;
      }
      case "strings":
        if (!Array.isArray(v)) throw bad();
        v.forEach((el, i) => {
          if (typeof el !== "string") throw this.fail([...raw, i], `${key} must be ${rule.what}, element ${i} is ${describe(el)}`);
        });
        break;
      case "pairs":
        if (!Array.isArray(v)) throw bad();
        v.forEach((el, i) => {
          if (!Array.isArray(el) || el.length !== 2 || !el.every((s) => typeof s === "string"))
            throw this.fail([...raw, i], `${key} must be ${rule.what}, element ${i} is ${describe(el)}`);
        });
        break;
    }
    const problem = rule.check?.(v as never);
    if (problem) throw this.fail(raw, `${key} ${problem}`);
    return rule.normalize ? rule.normalize(v as never) : v;
  }

  private record(raw: PathSeg[], value: unknown, rule: KeyRule): void {
    const canon = formatPath(resolve(raw));
    const line = lineOf(this.lines, raw);
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
    this.set.set(canon, { raw, value, line, rule });
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
    const line = lineOf(this.lines, raw);
    const where = line === undefined ? this.file : `${this.file}:${line}`;
    return new ConfigError(`${where}: ${message}`, this.file, line, formatPath(raw));
  }
}

// ── paths ─────────────────────────────────────────────────────────────────

/** Rewrite a file path to its canonical path (aliases resolved; array indices kept). */
export function resolve(raw: readonly PathSeg[]): PathSeg[] {
  const firstIndex = raw.findIndex((s) => typeof s === "number");
  const head = (firstIndex < 0 ? raw : raw.slice(0, firstIndex)) as string[];
  const tail = firstIndex < 0 ? [] : raw.slice(firstIndex);
  for (let n = head.length; n > 0; n--) {
    const target = ALIASES.get(head.slice(0, n).join("."));
    if (target !== undefined) return [...target.split("."), ...head.slice(n), ...tail];
  }
  return [...raw];
}

/** The section a setting belongs to, at most two levels deep: "AutoTracing.CPUIdle", "Pod". */
function sectionOf(canon: readonly PathSeg[]): string {
  const firstIndex = canon.findIndex((s) => typeof s === "number");
  const keys = firstIndex < 0 ? canon.slice(0, -1) : canon.slice(0, firstIndex);
  return formatPath(keys.slice(0, 2)) || formatPath(canon);
}

function ruleAt(path: readonly PathSeg[]): Rule | undefined {
  let rule: Rule = ROOT;
  for (const seg of path) {
    if (typeof seg === "number") {
      if (rule.t !== "array") return undefined;
      rule = rule.item;
    } else {
      if (rule.t !== "table" || !Object.hasOwn(rule.keys, seg)) return undefined;
      rule = rule.keys[seg]!;
    }
  }
  return rule;
}

/** ` (did you mean "X"?)` for a near-miss of a sibling key or alias, else "". */
function suggest(raw: readonly PathSeg[]): string {
  const name = raw[raw.length - 1];
  if (typeof name !== "string") return "";
  const parent = raw.slice(0, -1);
  if (parent.length > 0 && ROOT.keys[name]?.t === "key")
    return ` (${name} is a top-level key: put it above the first [section])`;
  const siblings = new Set<string>();
  const rule = ruleAt(resolve(parent));
  if (rule?.t === "table") for (const k of Object.keys(rule.keys)) siblings.add(k);
  const prefix = formatPath(parent);
  for (const alias of ALIASES.keys()) {
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

function distance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) cur[j] = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    prev = cur;
  }
  return prev[b.length]!;
}

// ── values ────────────────────────────────────────────────────────────────

function isTable(v: unknown): v is Record<string, unknown> {
  return Object.prototype.toString.call(v) === "[object Object]";
}

function describe(v: unknown): string {
  if (typeof v === "string") return JSON.stringify(v);
  if (typeof v === "number" || typeof v === "boolean") return String(v);
  if (typeof v === "bigint") return `${v} (too large)`;
  if (v instanceof Date) return `the date-time ${v.toISOString()}`;
  if (Array.isArray(v)) {
    const s = JSON.stringify(v);
    return s.length > 60 ? `an array of ${v.length} elements` : s;
  }
  if (isTable(v)) return "a table";
  return String(v);
}

/** Set `value` at `path` inside `root`, creating tables and arrays on the way. */
function assign(root: Record<string, unknown>, path: readonly PathSeg[], value: unknown): void {
  let node: Record<string | number, unknown> = root;
  path.forEach((seg, i) => {
    if (i === path.length - 1) {
      node[seg] = value;
      return;
    }
    const next = path[i + 1];
    if (node[seg] === undefined || node[seg] === null) node[seg] = typeof next === "number" ? [] : {};
    node = node[seg] as Record<string | number, unknown>;
  });
}
