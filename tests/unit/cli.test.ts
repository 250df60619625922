import { describe, expect, test } from "bun:test";
import { HELP, parseArgs, type CliOptions } from "../../src/cli.ts";

function opts(argv: string[]): CliOptions {
  const r = parseArgs(argv);
  if ("error" in r) throw new Error(`unexpected error: ${r.error}`);
  if ("help" in r || "version" in r) throw new Error("expected options");
  return r;
}
function error(argv: string[]): string {
  const r = parseArgs(argv);
  if (!("error" in r)) throw new Error(`expected an error for ${argv.join(" ")}`);
  return r.error;
}

describe("parseArgs", () => {
  test("defaults for run", () => {
    expect(opts(["--region", "dev"])).toEqual({
      command: "run",
      config: "kpulse.toml",
      configDir: "conf",
      configDirSet: false,
      configPath: "conf/kpulse.toml",
      region: "dev",
      procfsPrefix: "",
      disableStorage: false,
      disableKubelet: false,
      disableTracing: [],
      logDebug: false,
      dryRun: false,
      enableCgroup: false,
      ignored: [],
    });
  });

  test("every HUATUO flag, in both --flag value and --flag=value forms", () => {
    const o = opts([
      "run",
      "--config=huatuo-bamai.conf",
      "--config-dir",
      "/etc/huatuo",
      "--region=bj",
      "--procfs-prefix",
      "tests/fixtures/basic",
      "--disable-storage",
      "--disable-kubelet",
      "--log-debug",
      "--dry-run",
      "--enable-cgroup",
      "--listen=127.0.0.1:29704",
    ]);
    expect(o.command).toBe("run");
    expect(o.configPath).toBe("/etc/huatuo/huatuo-bamai.conf");
    expect(o.configDirSet).toBe(true);
    expect(o.region).toBe("bj");
    expect(o.procfsPrefix).toBe("tests/fixtures/basic");
    expect([o.disableStorage, o.disableKubelet, o.logDebug, o.dryRun, o.enableCgroup]).toEqual([true, true, true, true, true]);
    expect(o.listen).toBe("127.0.0.1:29704");
  });

  test("--disable-tracing is repeatable and comma-separated", () => {
    const o = opts(["--region", "r", "--disable-tracing", "oom,softirq", "--disable-tracing=netdev_hw", "--disable-tracing", " oom , ,dropwatch"]);
    expect(o.disableTracing).toEqual(["oom", "softirq", "netdev_hw", "dropwatch"]);
  });

  test("--config containing a slash is used as is", () => {
    expect(opts(["--region", "r", "--config", "/etc/kpulse.toml"]).configPath).toBe("/etc/kpulse.toml");
    expect(opts(["--region", "r", "--config", "./my.toml", "--config-dir", "x"]).configPath).toBe("./my.toml");
    expect(opts(["--region", "r", "--config", "my.toml", "--config-dir", "x"]).configPath).toBe("x/my.toml");
  });

  test("boolean flags take =true / =false", () => {
    expect(opts(["--region", "r", "--dry-run=false"]).dryRun).toBe(false);
    expect(opts(["--region", "r", "--log-debug=true"]).logDebug).toBe(true);
    expect(error(["--region", "r", "--dry-run=maybe"])).toBe('flag --dry-run takes no value or =true/=false, got "maybe"');
  });

  test("HUATUO's directory flags are accepted and ignored", () => {
    expect(opts(["--region", "r", "--bpf-dir", "bpf", "--tools-bin-dir=bin"]).ignored).toEqual(["--bpf-dir", "--tools-bin-dir"]);
  });

  test("check does not need --region", () => {
    const o = opts(["check", "--config", "huatuo-bamai.conf"]);
    expect(o.command).toBe("check");
    expect(o.region).toBe("");
    expect(o.configPath).toBe("conf/huatuo-bamai.conf");
  });

  test("run without --region is a clear error", () => {
    expect(error([])).toBe("--region is required to run the agent (it labels every metric and event), e.g. --region dev");
    expect(error(["run", "--region="])).toContain("--region is required");
  });

  test("help and version", () => {
    expect(parseArgs(["--help"])).toEqual({ help: HELP });
    expect(parseArgs(["-h"])).toEqual({ help: HELP });
    expect(parseArgs(["help"])).toEqual({ help: HELP });
    expect(parseArgs(["--version"])).toEqual({ version: true, format: "text" });
    expect(parseArgs(["-v"])).toEqual({ version: true, format: "text" });
    expect(parseArgs(["version", "--version-format", "json"])).toEqual({ version: true, format: "json" });
    expect(error(["--version", "--version-format=xml"])).toContain("--version-format must be text, json or short");
    for (const flag of ["--config", "--config-dir", "--region", "--procfs-prefix", "--disable-storage", "--disable-kubelet", "--disable-tracing", "--log-debug", "--dry-run", "--enable-cgroup", "--listen"])
      expect(HELP).toContain(flag);
  });

  test("unknown flags and stray arguments are errors", () => {
    expect(error(["--region", "r", "--frobnicate"])).toBe('unknown flag "--frobnicate"');
    expect(error(["--region", "r", "--colour=red"])).toBe('unknown flag "--colour"');
    expect(error(["start", "--region", "r"])).toBe('unknown command or unexpected argument "start" (commands: run, check, version)');
    expect(error(["run", "check"])).toBe('unexpected argument "check"');
    expect(error(["--region", "r", "--", "x"])).toContain('"x"');
  });

  test("flags that need a value", () => {
    expect(error(["--region"])).toBe("flag --region needs a value");
    expect(error(["--config", "--region", "r"])).toBe("flag --config needs a value");
    expect(error(["--region", "r", "--listen", "19704"])).toContain("--listen must be \"host:port\"");
    expect(error(["--region", "r", "--config="])).toBe("--config must not be empty");
  });
});
