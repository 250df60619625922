import { describe, expect, test } from "bun:test";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ConfigError, defaultConfig as defaultsOf, loadConfig as loadWith, parseConfig as parseWith, type LoadedConfig } from "../../src/config/load.ts";
import { esEnabled, EVENTS_WATCH, KPULSE, LOG, ROOT as ROOT_SECTION, STORAGE_ES, STORAGE_LOCALFILE } from "../../src/config/sections.ts";
import { parseToml } from "../../src/config/toml.ts";
import { DROPWATCH_CONFIG } from "../../src/probes/dropwatch/index.ts";
import { NETDEV_CONFIG } from "../../src/probes/netdev/index.ts";
import { configSchema } from "../../src/probes/config-schema.ts";
import { probeTable } from "../../src/probes/registry.ts";
import { compileGoRegex } from "../../src/util/goregex.ts";
import { createLogger, silentLogger, type Logger } from "../../src/log.ts";

const SCHEMA = configSchema(probeTable);
const defaultConfig = (compat: "" | "huatuo" = "") => defaultsOf(SCHEMA, compat);
const parseConfig = (text: string, file: string, log?: Logger) => parseWith(text, file, SCHEMA, log);
const loadConfig = (path: string) => loadWith(path, SCHEMA);
/** Every section's values as one nested object. */
const tree = (c: LoadedConfig) => c.tree() as any;
/** Key path → line, from the one parse the loader does. */
const locateKeys = (text: string) => new Map([...parseToml(text).positions].map(([k, p]) => [k, p.line]));

const ROOT = join(import.meta.dir, "..", "..");
const F = "conf/kpulse.toml";

/** Lines joined with "\n"; line numbers in assertions count from 1. */
const toml = (...lines: string[]) => lines.join("\n") + "\n";

function errorOf(text: string, file = F): ConfigError {
  try {
    parseConfig(text, file);
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return e as ConfigError;
  }
  throw new Error("expected a ConfigError");
}

describe("defaults", () => {
  test("HUATUO's defaults, kpulse-local", () => {
    const d = defaultConfig();
    expect(d.get(ROOT_SECTION).Compat).toBe("");
    expect(d.get(ROOT_SECTION).BlackList).toEqual([]);
    expect(d.get(LOG)).toEqual({ Level: "Info", File: "" });
    expect(d.get(STORAGE_ES)).toEqual({ Address: "", Username: "", Password: "", Index: "huatuo_bamai" });
    expect(d.get(STORAGE_LOCALFILE)).toEqual({ Path: "kpulse-local", RotationSize: 100, MaxRotation: 10 });
    expect(d.get(EVENTS_WATCH)).toEqual({ MaxClients: 100, KeepAliveInterval: 30 });
    expect(d.get(DROPWATCH_CONFIG)).toMatchObject({ ExcludedNeighInvalidate: true, MaxEventsPerSecond: 100, Filter: "", ExcludeContainers: [] });
    expect(d.get(DROPWATCH_CONFIG).CountOnlyReasons).toContain("QUEUE_PURGE"); // ordinary teardown is counted, not an event
    expect(d.get(NETDEV_CONFIG)).toEqual({ EnableNetlink: false, DeviceIncluded: "", DeviceExcluded: "" });
    expect(d.get(KPULSE).ListenAddress).toBe(":19704");
    expect(esEnabled(d)).toBe(false);
  });

  test("each call is a fresh object", () => {
    const a = defaultConfig();
    a.get(ROOT_SECTION).BlackList.push("x");
    expect(defaultConfig().get(ROOT_SECTION).BlackList).toEqual([]);
  });

  test("an empty file gives the defaults", () => {
    expect(parseConfig("", F).tree()).toEqual(defaultConfig().tree());
  });

  test('Compat = "huatuo" switches the local-file directory, unless Path is set', () => {
    expect(parseConfig('Compat = "huatuo"\n', F).get(STORAGE_LOCALFILE).Path).toBe("huatuo-local");
    expect(parseConfig(toml('Compat = "huatuo"', "[Storage.LocalFile]", 'Path = "/data/x"'), F).get(STORAGE_LOCALFILE).Path).toBe("/data/x");
    expect(parseConfig(toml("[Storage.LocalFile]", 'Path = ""'), F).get(STORAGE_LOCALFILE).Path).toBe("");
  });
});

describe("files that must load", () => {
  test("conf/kpulse.toml loads and equals the defaults", () => {
    expect(loadConfig(join(ROOT, "conf/kpulse.toml")).tree()).toEqual(defaultConfig().tree());
  });

  test("a HUATUO huatuo-bamai.conf with the guide's sections loads unchanged", () => {
    const c = loadConfig(join(ROOT, "tests/fixtures/config/huatuo-bamai.conf"));
    expect(c.get(ROOT_SECTION).BlackList).toEqual(["netdev_hw", "metax_gpu"]);
    expect(c.get(LOG)).toEqual({ Level: "Warn", File: "/var/log/huatuo/huatuo-bamai.log" });
    expect(c.get(STORAGE_ES)).toEqual({ Address: "http://127.0.0.1:9200", Username: "elastic", Password: "huatuo-bamai", Index: "huatuo_bamai" });
    expect(esEnabled(c)).toBe(true);
    expect(c.get(STORAGE_LOCALFILE)).toEqual({ Path: "/var/lib/huatuo/huatuo-local", RotationSize: 200, MaxRotation: 5 });
    expect(c.get(DROPWATCH_CONFIG)).toMatchObject({ ExcludedNeighInvalidate: false, MaxEventsPerSecond: 100 });
    expect(c.get(NETDEV_CONFIG).DeviceExcluded).toBe("^(lo)|(docker\\w*)|(veth\\w*)$");
    expect(c.get(EVENTS_WATCH)).toEqual({ MaxClients: 50, KeepAliveInterval: 15 });
    // HUATUO sections kpulse does not use yet are kept, as written
    const x = tree(c);
    expect(x.RuntimeCgroup).toEqual({ LimitInitCPU: 0.5, LimitCPU: 2, LimitMem: 2048 });
    expect(x.AutoTracing.CPUIdle.Filter.Included).toEqual([
      { Field: "container_host_namespace", Pattern: "^application-" },
      { Field: "container_hostname", Pattern: "^web-" },
    ]);
    expect(x.AutoTracing.IssuesList[1]).toEqual(["known_issue2", "alloc_pages.*failed"]);
    expect(x.EventTracing.Netdev.DeviceList).toEqual(["eth0", "eth1", "bond4", "lo"]);
    expect(x.Pod.KubeletReadOnlyPort).toBe(10255);
    expect(x.MetricCollector.MountPointStat.MountPointsIncluded).toBe("(^/home$)|(^/$)|(^/boot$)");
  });

  test("accepted-but-unused HUATUO sections are noted at debug level", () => {
    const lines: string[] = [];
    const log = createLogger("debug", (l) => lines.push(l));
    parseConfig(toml("[Tasks]", "MaxConcurrent = 3", "[AutoTracing.Dload]", "ThresholdLoad = 3"), F, log);
    expect(lines.length).toBe(2);
    expect(lines.join("")).toContain("section=Tasks");
    expect(lines.join("")).toContain("section=AutoTracing.Dload");
  });

  test("Log.Level is case-insensitive and normalised", () => {
    for (const [given, want] of [["debug", "Debug"], ["WARN", "Warn"], ["Error", "Error"], ["panic", "Panic"]]) {
      expect(parseConfig(`[Log]\nLevel = "${given}"\n`, F).get(LOG).Level).toBe(want as any);
    }
  });

  test("MaxEventsPerSecond = 0 (unlimited) is allowed", () => {
    expect(parseConfig("[EventTracing.Dropwatch]\nMaxEventsPerSecond = 0\n", F).get(DROPWATCH_CONFIG).MaxEventsPerSecond).toBe(0);
  });

  test("dotted and quoted keys, inline tables", () => {
    const c = parseConfig(toml('Storage.LocalFile."RotationSize" = 7', "Log = { Level = 'error' }", "[EventsWatch]", "'MaxClients' = 3"), F);
    expect(c.get(STORAGE_LOCALFILE).RotationSize).toBe(7);
    expect(c.get(LOG).Level).toBe("Error");
    expect(c.get(EVENTS_WATCH).MaxClients).toBe(3);
  });

  test("Go regex syntax that JavaScript lacks still compiles", () => {
    const c = parseConfig('[MetricCollector.NetdevStats]\nDeviceIncluded = "(?i)^ETH[[:digit:]]+\\\\z"\n', F);
    const re = compileGoRegex(c.get(NETDEV_CONFIG).DeviceIncluded);
    expect(re.test("eth0")).toBe(true);
    expect(re.test("eth0x")).toBe(false);
    expect(compileGoRegex("(?P<dev>veth)\\w*").test("veth12")).toBe(true);
  });
});

describe("HUATUO code-side aliases", () => {
  test("LocalFile, Elasticsearch, HTTPServer, Runtime names map onto the guide's", () => {
    const c = parseConfig(
      toml(
        "[Runtime]",
        "StartupCPULimitCores = 0.75",
        "CPULimitCores = 1.5",
        "MemoryLimitMiB = 512",
        "[HTTPServer]",
        'ListenAddress = "127.0.0.1:29704"',
        "MaxEventStreamClients = 25",
        "EventStreamKeepAliveIntervalSeconds = 15",
        "[Storage.Elasticsearch]",
        'Address = "https://os:9200"',
        'Username = "u"',
        'Password = "p"',
        'Index = "idx"',
        "[Storage.LocalFile]",
        'Path = "records"',
        "RotationSizeMiB = 64",
        "MaxRotatedFiles = 4",
      ),
      F,
    );
    expect(c.get(KPULSE).ListenAddress).toBe("127.0.0.1:29704");
    expect(c.get(EVENTS_WATCH)).toEqual({ MaxClients: 25, KeepAliveInterval: 15 });
    expect(c.get(STORAGE_ES)).toEqual({ Address: "https://os:9200", Username: "u", Password: "p", Index: "idx" });
    expect(c.get(STORAGE_LOCALFILE)).toEqual({ Path: "records", RotationSize: 64, MaxRotation: 4 });
    expect(tree(c).RuntimeCgroup).toEqual({ LimitInitCPU: 0.75, LimitCPU: 1.5, LimitMem: 512 });
  });

  test("[Storage.ES] and [Storage.Elasticsearch] may share the work between them", () => {
    const c = parseConfig(toml("[Storage.ES]", 'Address = "http://a:9200"', "[Storage.Elasticsearch]", 'Username = "u"', 'Password = "p"'), F);
    expect(esEnabled(c)).toBe(true);
  });

  test("setting a key and its alias is an error naming both lines", () => {
    const e = errorOf(toml("[HTTPServer]", 'ListenAddress = ":1"', "", "[Kpulse]", 'ListenAddress = ":2"'));
    expect(e.message).toBe(
      `${F}:5: Kpulse.ListenAddress and HTTPServer.ListenAddress (line 2) are the same setting (Kpulse.ListenAddress); set only one of them`,
    );
    expect(e.line).toBe(5);
    const e2 = errorOf(toml("[Storage.LocalFile]", "RotationSizeMiB = 1", "RotationSize = 2"));
    expect(e2.message).toStartWith(`${F}:3: Storage.LocalFile.RotationSize and Storage.LocalFile.RotationSizeMiB (line 2)`);
    const e3 = errorOf(toml("[Storage.Elasticsearch]", 'Index = "a"', "[Storage.ES]", 'Index = "b"'));
    expect(e3.message).toStartWith(`${F}:4: Storage.ES.Index and Storage.Elasticsearch.Index (line 2)`);
  });
});

describe("errors name file, key and line", () => {
  test("unknown key", () => {
    const e = errorOf(toml("# comment", "[Storage.LocalFile]", 'Path = "x"', "RotationSizeMB = 10"));
    expect(e.message).toBe(`${F}:4: unknown key "Storage.LocalFile.RotationSizeMB" (did you mean "RotationSizeMiB"?)`);
    expect(e.line).toBe(4);
    expect(e.key).toBe("Storage.LocalFile.RotationSizeMB");
    expect(e.file).toBe(F);
  });

  test("unknown top-level key, without a suggestion when nothing is close", () => {
    expect(errorOf(toml("", "", "Frobnicate = true")).message).toBe(`${F}:3: unknown key "Frobnicate"`);
  });

  test("a top-level key written inside a section gets a hint", () => {
    expect(errorOf(toml("[Kpulse]", 'Compat = "huatuo"')).message).toBe(
      `${F}:2: unknown key "Kpulse.Compat" (Compat is a top-level key: put it above the first [section])`,
    );
  });

  test("unknown section", () => {
    const e = errorOf(toml("[Log]", 'Level = "Info"', "", "[MetricCollector.Bogus]", "X = 1"));
    expect(e.message).toBe(`${F}:4: unknown section "MetricCollector.Bogus"`);
  });

  test("HUATUO keys from other products are still unknown", () => {
    expect(errorOf(toml("[HTTPServer.Auth]", 'BearerToken = "t"')).message).toBe(`${F}:1: unknown section "HTTPServer.Auth"`);
    expect(errorOf(toml("[Pod]", "KubeletPort = 1")).message).toStartWith(`${F}:2: unknown key "Pod.KubeletPort"`);
  });

  test("unknown key inside an array of tables element", () => {
    const e = errorOf(
      toml(
        "[[AutoTracing.CPUIdle.Filter.Included]]",
        'Field = "container_qos"',
        'Pattern = "x"',
        "[[AutoTracing.CPUIdle.Filter.Included]]",
        'Field = "container_hostname"',
        'Regex = "y"',
      ),
    );
    expect(e.message).toBe(`${F}:6: unknown key "AutoTracing.CPUIdle.Filter.Included[1].Regex"`);
  });

  test("out of range: EventsWatch.MaxClients", () => {
    const e = errorOf(toml("# kpulse", "", "[Log]", 'Level = "info"', "", "[EventsWatch]", "MaxClients = -1"));
    expect(e.message).toBe(`${F}:7: EventsWatch.MaxClients must be an integer from 1 to 10000, got -1`);
  });

  test("ranges of every implemented number", () => {
    expect(errorOf(toml("[EventsWatch]", "MaxClients = 1", "KeepAliveInterval = 0")).message).toBe(
      `${F}:3: EventsWatch.KeepAliveInterval must be an integer from 1 to 3600, got 0`,
    );
    expect(errorOf(toml("[Storage.LocalFile]", "RotationSize = 0")).message).toBe(`${F}:2: Storage.LocalFile.RotationSize must be a positive integer, got 0`);
    expect(errorOf(toml("[Storage.LocalFile]", "MaxRotation = -3")).message).toBe(`${F}:2: Storage.LocalFile.MaxRotation must be a positive integer, got -3`);
    expect(errorOf(toml("[EventTracing.Dropwatch]", "MaxEventsPerSecond = -1")).message).toBe(
      `${F}:2: EventTracing.Dropwatch.MaxEventsPerSecond must be a non-negative integer, got -1`,
    );
    expect(errorOf(toml("[EventTracing.Dropwatch]", "MaxEventsPerSecond = 1.5")).message).toBe(
      `${F}:2: EventTracing.Dropwatch.MaxEventsPerSecond must be a non-negative integer, got 1.5`,
    );
  });

  test("an alias is reported under the name the file used", () => {
    expect(errorOf(toml("[HTTPServer]", "MaxEventStreamClients = 0")).message).toBe(
      `${F}:2: HTTPServer.MaxEventStreamClients must be an integer from 1 to 10000, got 0`,
    );
  });

  test("wrong types", () => {
    expect(errorOf(toml("[Storage.LocalFile]", 'RotationSize = "100"')).message).toBe(
      `${F}:2: Storage.LocalFile.RotationSize must be a positive integer, got "100"`,
    );
    expect(errorOf(toml("[EventTracing.Dropwatch]", 'ExcludedNeighInvalidate = "yes"')).message).toBe(
      `${F}:2: EventTracing.Dropwatch.ExcludedNeighInvalidate must be a boolean (true or false), got "yes"`,
    );
    expect(errorOf(toml('BlackList = "netdev_hw"')).message).toBe(`${F}:1: BlackList must be an array of strings, got "netdev_hw"`);
    expect(errorOf(toml("Log = 3")).message).toBe(`${F}:1: Log must be a table (section), got 3`);
    expect(errorOf(toml("[Log]", "Level = 1979-05-27T07:32:00Z")).message).toBe(
      `${F}:2: Log.Level must be a string, got the date-time 1979-05-27T07:32:00.000Z`,
    );
  });

  test("a bad element of a multi-line array points at its own line", () => {
    const e = errorOf(toml("BlackList = [", '  "netdev_hw",', "  # a comment", "  42,", "]"));
    expect(e.message).toBe(`${F}:4: BlackList must be an array of strings, element 1 is 42`);
  });

  test("lines inside multi-line strings do not count as keys", () => {
    const e = errorOf(toml("[Log]", 'File = """', "Level = 1", '"""', "Level = 1"));
    expect(e.message).toBe(`${F}:5: Log.Level must be a string, got 1`);
  });

  test("HUATUO keys kept opaque are still type- and range-checked", () => {
    expect(errorOf(toml("[Pod]", "KubeletReadOnlyPort = 70000")).message).toBe(
      `${F}:2: Pod.KubeletReadOnlyPort must be a port number from 0 to 65535 (0 disables), got 70000`,
    );
    expect(errorOf(toml("[AutoTracing.CPUIdle]", 'UserThreshold = "high"')).message).toBe(
      `${F}:2: AutoTracing.CPUIdle.UserThreshold must be a non-negative number, got "high"`,
    );
    expect(errorOf(toml("[Runtime]", "CPULimitCores = 0")).message).toBe(`${F}:2: Runtime.CPULimitCores must be a number greater than 0, got 0`);
    expect(errorOf(toml("[AutoTracing]", 'IssuesList = [["a"]]')).message).toBe(
      `${F}:2: AutoTracing.IssuesList must be an array of ["name", "regex"] string pairs, element 0 is ["a"]`,
    );
    expect(errorOf(toml("[AutoTracing.CPUIdle.Filter]", 'Included = "x"')).message).toStartWith(
      `${F}:2: AutoTracing.CPUIdle.Filter.Included must be an array of tables`,
    );
  });

  test("regex fields must compile", () => {
    const e = errorOf(toml("[MetricCollector.NetdevStats]", 'DeviceIncluded = "^eth("'));
    expect(e.message).toStartWith(`${F}:2: MetricCollector.NetdevStats.DeviceIncluded is not a valid regular expression: `);
    expect(errorOf(toml("[MetricCollector.NetdevStats]", 'DeviceExcluded = "[a-"')).message).toStartWith(
      `${F}:2: MetricCollector.NetdevStats.DeviceExcluded is not a valid regular expression: `,
    );
  });

  test("Log.Level must be a known level", () => {
    expect(errorOf(toml("[Log]", 'Level = "verbose"')).message).toBe(
      `${F}:2: Log.Level must be one of Debug, Info, Warn, Error, Panic (any case), got "verbose"`,
    );
  });

  test("Compat must be empty or huatuo", () => {
    expect(errorOf(toml('Compat = "HUATUO-2"')).message).toBe(`${F}:1: Compat must be "" or "huatuo", got "HUATUO-2"`);
  });

  test("listen address must be host:port", () => {
    expect(errorOf(toml("[Kpulse]", 'ListenAddress = "19704"')).message).toBe(
      `${F}:2: Kpulse.ListenAddress must be "host:port" (e.g. ":19704" or "127.0.0.1:19704"), got "19704"`,
    );
  });

  test("partial ES settings disable ES storage with a warning naming the missing keys", () => {
    const warnings: string[] = [];
    const log = { ...silentLogger, warn: (m: string) => warnings.push(m) };
    const cfg = parseConfig(toml("[Storage]", "[Storage.ES]", '# Address = ""', 'Username = "elastic"', 'Password = "secret"'), F, log);
    expect(esEnabled(cfg)).toBe(false);
    expect(warnings).toEqual([
      `${F}:4: Storage.ES needs Address, Username and Password together: Storage.ES.Address is empty but Username and Password are set, so ES storage is disabled`,
    ]);
    warnings.length = 0;
    parseConfig(toml("[Storage.Elasticsearch]", 'Address = "http://x:9200"', 'Username = "  "'), F, log);
    expect(warnings).toEqual([
      `${F}:2: Storage.Elasticsearch needs Address, Username and Password together: Storage.Elasticsearch.Username and Storage.Elasticsearch.Password are empty but Address is set, so ES storage is disabled`,
    ]);
  });

  test("TOML syntax errors keep row and column", () => {
    const e = errorOf(toml("[Log]", 'Level = "Info"', "File = "));
    expect(e.message).toBe(`${F}:3:8: Unspecified values are invalid`);
    expect(e.line).toBe(3);
    expect(errorOf(toml("[Log]", "[Log]")).message).toMatch(new RegExp(`^${F}:2:\\d+: `));
  });

  test("a missing config file names the path", () => {
    const path = join(mkdtempSync(join(tmpdir(), "kpulse-cfg-")), "nope.toml");
    expect(() => loadConfig(path)).toThrow(`${path}: config file not found`);
  });

  test("loadConfig reports errors under the path it was given", () => {
    const dir = mkdtempSync(join(tmpdir(), "kpulse-cfg-"));
    const path = join(dir, "bad.toml");
    writeFileSync(path, "[EventsWatch]\nMaxClients = 0\n");
    expect(() => loadConfig(path)).toThrow(`${path}:2: EventsWatch.MaxClients must be an integer from 1 to 10000, got 0`);
  });
});

describe("locateKeys", () => {
  test("tables, arrays of tables, dotted and quoted keys, multi-line values", () => {
    const lines = locateKeys(
      toml(
        "BlackList = [", // 1
        '  "a", # x', // 2
        '  "b",', // 3
        "]", // 4
        "[a . 'b c']", // 5
        '  k = """', // 6
        "  not = a key", // 7
        '  """', // 8
        "  d.e = { f = 1, g = [1, 2] }", // 9
        "[[t.u]]", // 10
        "  x = 1", // 11
        "[[t.u]]", // 12
        "  x = 2", // 13
        "[t.u.v]", // 14
        "  y = '''", // 15
        "''' # done", // 16
        "  z = 3", // 17
      ),
    );
    expect(lines.get("BlackList")).toBe(1);
    expect(lines.get("BlackList[0]")).toBe(2);
    expect(lines.get("BlackList[1]")).toBe(3);
    expect(lines.get('a."b c"')).toBe(5);
    expect(lines.get('a."b c".k')).toBe(6);
    expect(lines.has('a."b c".not')).toBe(false);
    expect(lines.get('a."b c".d.e.g[1]')).toBe(9);
    expect(lines.get("t.u[0].x")).toBe(11);
    expect(lines.get("t.u[1]")).toBe(12);
    expect(lines.get("t.u[1].x")).toBe(13);
    expect(lines.get("t.u[1].v.y")).toBe(15);
    expect(lines.get("t.u[1].v.z")).toBe(17);
  });
});
