// The config loader against hostile files (size, nesting, binary data, devices) and against the
// documents it must agree with: the configuration guide's defaults and the shipped conf/kpulse.toml.
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ConfigError, ConfigSchema, defaultConfig, loadConfig, parseConfig } from "../../src/config/load.ts";
import { MAX_DEPTH } from "../../src/config/toml.ts";
import { key, section, sectionDefaults, type SectionSpec } from "../../src/config/spec.ts";
import { configSchema } from "../../src/probes/config-schema.ts";
import { probeTable } from "../../src/probes/registry.ts";

const ROOT = join(import.meta.dir, "..", "..");
const SCHEMA = configSchema(probeTable);
const dir = mkdtempSync(join(tmpdir(), "kpulse-cfg-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function fileWith(name: string, content: string | Uint8Array): string {
  const p = join(dir, name);
  writeFileSync(p, content);
  return p;
}

function loadError(path: string): { e: ConfigError; ms: number } {
  const t0 = performance.now();
  try {
    loadConfig(path, SCHEMA);
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return { e: e as ConfigError, ms: performance.now() - t0 };
  }
  throw new Error(`expected ${path} to be refused`);
}

describe("hostile config files cost little and are named", () => {
  test("60 KB of nested arrays: refused quickly with file and line", () => {
    const p = fileWith("nested.toml", `[Log]\nLevel = "Info"\nBlackList = ${"[".repeat(30_000)}${"]".repeat(30_000)}\n`);
    const { e, ms } = loadError(p);
    expect(e.message).toStartWith(`${p}:`);
    expect(e.message).toContain("nested too deeply");
    expect(ms).toBeLessThan(2000);
  });

  test(`nesting just past ${MAX_DEPTH} levels names its line`, () => {
    const deep = "[".repeat(MAX_DEPTH + 2) + "]".repeat(MAX_DEPTH + 2);
    const { e } = loadError(fileWith("deep.toml", `# one\n\nBlackList = ${deep}\n`));
    expect(e.line).toBe(3);
    expect(e.message).toContain("nested too deeply");
  });

  test("a device is not read (/dev/zero would never end)", () => {
    const { e, ms } = loadError("/dev/zero");
    expect(e.message).toBe("/dev/zero: not a regular file (a config file must be a plain file)");
    expect(ms).toBeLessThan(1000);
  });

  test("a file over 1 MiB is refused unread", () => {
    const p = fileWith("big.toml", "# " + "x".repeat(1024 * 1024) + "\n");
    expect(loadError(p).e.message).toMatch(/a config file may be at most 1048576 bytes/);
  });

  test("a UTF-8 byte-order mark is accepted", () => {
    const p = fileWith("bom.toml", "\uFEFF[EventsWatch]\nMaxClients = 7\n");
    expect((loadConfig(p, SCHEMA).tree() as any).EventsWatch.MaxClients).toBe(7);
  });

  test("random bytes: not a TOML file, with the line", () => {
    const bytes = new Uint8Array(4096);
    let x = 12345;
    for (let i = 0; i < bytes.length; i++) bytes[i] = (x = (x * 1103515245 + 12345) >>> 0) >>> 24;
    bytes.set(new TextEncoder().encode("[Log]\n"), 0);
    const { e } = loadError(fileWith("random.bin", bytes));
    expect(e.message).toMatch(new RegExp(`^${dir}/random.bin:\\d+: not a TOML file: .* \\(line \\d+\\)$`));
    expect(e.line).toBeGreaterThanOrEqual(2);
  });

  test("control characters in text: not a TOML file", () => {
    const { e } = loadError(fileWith("ctl.toml", "[Log]\n\x01\x02\x03 = 1\n"));
    expect(e.message).toBe(`${dir}/ctl.toml:2:1: not a TOML file: control characters at line 2`);
  });

  test("a float where an integer is required is refused, in the file's spelling", () => {
    const e = (() => {
      try {
        parseConfig("[EventsWatch]\nMaxClients = 1e3\n", "f.toml", SCHEMA);
      } catch (e) {
        return e as ConfigError;
      }
      throw new Error("1e3 was accepted");
    })();
    expect(e.message).toBe("f.toml:2: EventsWatch.MaxClients must be an integer from 1 to 10000, got 1000 (a float)");
    expect(() => parseConfig("[EventsWatch]\nMaxClients = 100.0\n", "f.toml", SCHEMA)).toThrow("got 100 (a float)");
    // a float is fine where a number is
    expect(() => parseConfig("[RuntimeCgroup]\nLimitCPU = 1e1\n", "f.toml", SCHEMA)).not.toThrow();
  });

  test("an integer past 2^53 is refused, not rounded", () => {
    expect(() => parseConfig("[EventTracing.Dropwatch]\nMaxEventsPerSecond = 9223372036854775807\n", "f.toml", SCHEMA)).toThrow(
      "f.toml:2: EventTracing.Dropwatch.MaxEventsPerSecond must be a non-negative integer, got 9223372036854776000 (too large)",
    );
  });
});

describe("declarations", () => {
  test("a section or key declared twice is a programming error", () => {
    const a = section("X.Y", { K: key.int(1) });
    expect(() => new ConfigSchema([a, section("X.Y", { L: key.int(1) })])).toThrow("config section [X.Y] is declared twice");
    expect(() => new ConfigSchema([section("X", { Y: key.int(1) }), a])).toThrow("config section X.Y overlaps the key Y");
  });

  test("every probe in the table declares its section once, and the whole table builds", () => {
    const paths = probeTable.flatMap((p) => (p.config ? [p.config.path] : []));
    expect(new Set(paths).size).toBe(paths.length);
    expect(() => configSchema(probeTable)).not.toThrow();
  });

  test("each probe receives exactly its own section's keys", () => {
    const cfg = defaultConfig(SCHEMA);
    for (const p of probeTable) {
      if (!p.config) continue;
      expect(Object.keys(cfg.get(p.config) as object).sort()).toEqual(Object.keys(p.config.keys).sort());
    }
  });
});

/** Sections of a TOML text as {path → {key → value}}, values parsed by the loader's own parser. */
function guideValues(text: string): Map<string, Record<string, unknown>> {
  const out = new Map<string, Record<string, unknown>>();
  let current = "";
  out.set("", {});
  for (const line of text.split("\n")) {
    const h = /^\[([\w.]+)\]\s*$/.exec(line);
    if (h) {
      current = h[1]!;
      out.set(current, out.get(current) ?? {});
      continue;
    }
    const kv = /^(\w+) = (.+)$/.exec(line);
    if (kv) out.get(current)![kv[1]!] = JSON.parse(kv[2]!.replace(/^\[\]$/, "[]"));
  }
  return out;
}

describe("defaults match the configuration guide", () => {
  const guide = guideValues(readFileSync(join(ROOT, "tests/fixtures/config/guide-defaults.toml"), "utf8"));
  const byPath = new Map(SCHEMA.sections.map((s) => [s.path, s] as const));
  for (const [path, keys] of guide) {
    if (path === "") continue;
    test(`[${path}]`, () => {
      const s = byPath.get(path) as SectionSpec<Record<string, unknown>> | undefined;
      expect(s, `section [${path}] is not declared`).toBeDefined();
      const defaults = sectionDefaults(s!, "huatuo");
      for (const [k, v] of Object.entries(keys)) expect({ key: `${path}.${k}`, value: defaults[k] }).toEqual({ key: `${path}.${k}`, value: v });
    });
  }
});

describe("the shipped conf/kpulse.toml", () => {
  const text = readFileSync(join(ROOT, "conf/kpulse.toml"), "utf8");

  /** Every `# Key = value` the file documents, uncommented under its section, one document per section. */
  function documentedSections(): { section: string; lines: string[] }[] {
    const out: { section: string; lines: string[] }[] = [{ section: "", lines: [] }];
    for (const line of text.split("\n")) {
      const h = /^(?:# )?\[([\w.]+)\](?:\s{2,}.*)?$/.exec(line);
      if (h) {
        out.push({ section: h[1]!, lines: [] });
        continue;
      }
      if (/^(?:# )?\[\[/.test(line)) {
        out.push({ section: "<array>", lines: [] }); // examples of rules, not defaults
        continue;
      }
      const kv = /^# ([A-Z]\w*) = ("[^"]*"|\[[^\]]*\]|[\w.]+)(?:\s{2,}.*)?$/.exec(line);
      if (kv) out[out.length - 1]!.lines.push(`${kv[1]} = ${kv[2]}`);
    }
    return out.filter((s) => s.section !== "<array>" && s.lines.length > 0);
  }

  test("documents at least one key of every section kpulse reads", () => {
    const documented = new Set(documentedSections().map((s) => s.section));
    for (const s of SCHEMA.sections) {
      if (s.pending || Object.keys(s.keys).length === 0) continue;
      expect({ section: s.path, documented: documented.has(s.path) }).toEqual({ section: s.path, documented: true });
    }
  });

  test("every key it documents is accepted, and its documented value is the default", () => {
    const defaults = defaultConfig(SCHEMA).tree();
    const sections = documentedSections();
    expect(sections.length).toBeGreaterThan(10);
    for (const { section: path, lines } of sections) {
      const doc = (path ? `[${path}]\n` : "") + lines.join("\n") + "\n";
      let tree: unknown;
      try {
        tree = parseConfig(doc, `conf/kpulse.toml [${path}]`, SCHEMA).tree();
      } catch (e) {
        throw new Error(`conf/kpulse.toml documents keys kpulse refuses:\n${doc}\n${(e as Error).message}`);
      }
      expect({ section: path, tree }).toEqual({ section: path, tree: defaults });
    }
  });
});
