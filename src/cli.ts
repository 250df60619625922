// Command line: huatuo-bamai's flags (so existing unit files and DaemonSets keep working) plus
// kpulse's subcommands and `--listen`. Pure: parses, never touches the file system or exits.

import { join } from "node:path";
import { parseListenAddress } from "./util/listen.ts";

export interface CliOptions {
  command: "run" | "check";
  /** --config as given (default "kpulse.toml"). */
  config: string;
  /** --config-dir as given (default "conf"). */
  configDir: string;
  /** true when --config-dir was given explicitly. */
  configDirSet: boolean;
  /** The file to load: --config itself when it contains "/", else <config-dir>/<config>. */
  configPath: string;
  /** --region; always non-empty for `run`, may be "" for `check`. */
  region: string;
  /** --procfs-prefix: root prefix for /proc, /sys and /dev ("" = the real ones). */
  procfsPrefix: string;
  disableStorage: boolean;
  disableKubelet: boolean;
  /** --disable-tracing, repeatable and comma-separated, de-duplicated; the caller merges it with BlackList. */
  disableTracing: string[];
  logDebug: boolean;
  dryRun: boolean;
  /** Accepted for HUATUO compatibility; self resource limits are not implemented yet. */
  enableCgroup: boolean;
  /** kpulse-only: overrides Kpulse.ListenAddress. */
  listen?: string;
  /** --web.config.file (exporter-toolkit's flag): overrides Kpulse.WebConfigFile. */
  webConfigFile?: string;
  /** HUATUO flags accepted and ignored (kpulse embeds its BPF objects and runs no tools), e.g. "--bpf-dir". */
  ignored: string[];
}

export type CliResult = CliOptions | { help: string } | { version: true; format: VersionFormat } | { error: string };
export type WatchCliResult = { watch: WatchCliOptions } | { help: string } | { error: string };

/** `kpulse watch [URL] [flags]`: the stream client (src/watch-client.ts). */
export interface WatchCliOptions {
  /** The agent's base URL or the full watch URL (default http://127.0.0.1:19704). */
  url: string;
  /** Watch filters, field → Go RE2 regex (the request body's `filters`). */
  filters: Record<string, string>;
  format: "json" | "summary";
  /** Resume after this event id (overridden by the state file when it holds one). */
  lastEventId?: string;
  /** File that remembers the last event id written, so a restarted client resumes after it. */
  stateFile?: string;
  /** For an agent with a web config (src/watch-access.ts). */
  caFile?: string;
  certFile?: string;
  keyFile?: string;
  bearerTokenFile?: string;
}
export type VersionFormat = "text" | "json" | "short";

export const HELP = `kpulse - Linux kernel observability agent (drop-in for huatuo-bamai)

Usage:
  kpulse [run] --region <name> [flags]   start the agent (default command)
  kpulse check [flags]                   load and validate the config, print OK or the error
  kpulse version                         print the version and the libbpf in use
  kpulse watch [URL] [flags]             print the agent's live events (see kpulse watch --help)

Flags:
  --config <file>          config file name inside --config-dir, or a path containing "/"
                           used as is (default "kpulse.toml")
  --config-dir <dir>       config directory (default "conf")
  --region <name>          region label on every metric and event (required for run)
  --listen <host:port>     HTTP listen address; overrides [Kpulse] ListenAddress
                           (default ":19704")
  --web.config.file <file> TLS and authentication of the HTTP endpoint, in the
                           Prometheus exporter-toolkit web config format (YAML);
                           overrides [Kpulse] WebConfigFile (default: none, plain HTTP)
  --procfs-prefix <dir>    read /proc, /sys and /dev under this directory (tests)
  --disable-storage        write no local files and no OpenSearch documents
                           (events still reach watch streams)
  --disable-kubelet        do not fetch pods from the kubelet
  --disable-tracing <name> disable a probe; repeatable and/or comma-separated,
                           added to BlackList
  --log-debug              log at Debug level, overriding [Log] Level
  --dry-run                start everything, then stop after 2 seconds
  --enable-cgroup          run in a cgroup of its own limited by [RuntimeCgroup]
  --bpf-dir, --tools-bin-dir <dir>
                           accepted for huatuo-bamai compatibility (ignored: kpulse
                           embeds its BPF objects and runs no external tools)
  -h, --help               show this help
  -v, --version            print the version (--version-format text|json|short)
`;

type FlagKind = "string" | "list" | "bool";
interface FlagSpec {
  kind: FlagKind;
  set: (o: Draft, v: string | boolean) => void;
}
type Draft = CliOptions & { versionFormat: VersionFormat; wantHelp: boolean; wantVersion: boolean };

const FLAGS: Record<string, FlagSpec> = {
  config: { kind: "string", set: (o, v) => (o.config = v as string) },
  "config-dir": { kind: "string", set: (o, v) => ((o.configDir = v as string), (o.configDirSet = true)) },
  region: { kind: "string", set: (o, v) => (o.region = v as string) },
  "procfs-prefix": { kind: "string", set: (o, v) => (o.procfsPrefix = v as string) },
  listen: { kind: "string", set: (o, v) => (o.listen = v as string) },
  "web.config.file": { kind: "string", set: (o, v) => (o.webConfigFile = v as string) },
  "disable-tracing": { kind: "list", set: (o, v) => o.disableTracing.push(...(v as string).split(",")) },
  "disable-storage": { kind: "bool", set: (o, v) => (o.disableStorage = v as boolean) },
  "disable-kubelet": { kind: "bool", set: (o, v) => (o.disableKubelet = v as boolean) },
  "log-debug": { kind: "bool", set: (o, v) => (o.logDebug = v as boolean) },
  "dry-run": { kind: "bool", set: (o, v) => (o.dryRun = v as boolean) },
  "enable-cgroup": { kind: "bool", set: (o, v) => (o.enableCgroup = v as boolean) },
  "bpf-dir": { kind: "string", set: (o) => o.ignored.push("--bpf-dir") },
  "tools-bin-dir": { kind: "string", set: (o) => o.ignored.push("--tools-bin-dir") },
  "version-format": { kind: "string", set: (o, v) => (o.versionFormat = v as VersionFormat) },
  help: { kind: "bool", set: (o, v) => (o.wantHelp = v as boolean) },
  version: { kind: "bool", set: (o, v) => (o.wantVersion = v as boolean) },
};
const SHORT: Record<string, string> = { h: "help", v: "version" };
const COMMANDS = ["run", "check", "version", "help"] as const;

export const WATCH_HELP = `kpulse watch - print a kpulse (or huatuo-bamai) agent's live events

Usage:
  kpulse watch [URL] [flags]     URL: the agent (default http://127.0.0.1:19704)

Filters (Go RE2 regexes, unanchored; all given must match):
  --tracer-name <re>  --hostname <re>  --region <re>
  --container-hostname <re>  --container-host-namespace <re>  --container-qos <re>

Flags:
  --format json|summary    one CloudEvent JSON per line (default), or a one-line summary
  --last-event-id <id>     start after this event (from the agent's memory or local files)
  --state <file>           remember the last event printed in <file> and resume after it
                           when started again (no event lost or repeated)
  --ca-file <pem>          trust this CA for an https:// agent (its web config's TLS)
  --cert-file <pem>, --key-file <pem>
                           client certificate, for RequireAndVerifyClientCert
  --bearer-token-file <f>  send "Authorization: Bearer" with the token in <f>
                           (basic auth: put user:password in the URL, https://u:p@host:19704)
  -h, --help               show this help

The client reconnects with backoff and Last-Event-ID when the connection drops or the agent
cuts a slow stream, so it prints every event once. It exits 1 when the agent cannot be
reached or refuses the stream at the first attempt (e.g. HTTP 429: too many watch clients).
`;

const WATCH_FILTER_FLAGS = ["tracer-name", "hostname", "region", "container-hostname", "container-host-namespace", "container-qos"];

/** `kpulse watch` arguments (after "watch"). Never throws. */
export function parseWatchArgs(argv: string[]): WatchCliResult {
  const o: WatchCliOptions = { url: "http://127.0.0.1:19704", filters: {}, format: "json" };
  let urlSet = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === "-h" || arg === "--help") return { help: WATCH_HELP };
    if (!arg.startsWith("--")) {
      if (urlSet) return { error: `watch: unexpected argument "${arg}" (one URL at most)` };
      o.url = arg;
      urlSet = true;
      continue;
    }
    const eq = arg.indexOf("=");
    const name = arg.slice(2, eq >= 0 ? eq : undefined);
    let value = eq >= 0 ? arg.slice(eq + 1) : argv[i + 1];
    if (value === undefined) return { error: `watch: flag --${name} needs a value` };
    if (eq < 0) i++;
    if (WATCH_FILTER_FLAGS.includes(name)) o.filters[name.replace(/-/g, "_")] = value;
    else if (name === "format") {
      if (value !== "json" && value !== "summary") return { error: `watch: --format must be json or summary, got "${value}"` };
      o.format = value;
    } else if (name === "last-event-id") o.lastEventId = value;
    else if (name === "state") o.stateFile = value;
    else if (name === "ca-file") o.caFile = value;
    else if (name === "cert-file") o.certFile = value;
    else if (name === "key-file") o.keyFile = value;
    else if (name === "bearer-token-file") o.bearerTokenFile = value;
    else return { error: `watch: unknown flag --${name}` };
  }
  if (!/^https?:\/\//.test(o.url)) o.url = `http://${o.url}`;
  try {
    new URL(o.url);
  } catch {
    return { error: `watch: invalid URL "${o.url}"` };
  }
  return { watch: o };
}

/** Parse the arguments after the executable (process.argv.slice(2)). Never throws. */
export function parseArgs(argv: string[]): CliResult {
  const o: Draft = {
    command: "run",
    config: "kpulse.toml",
    configDir: "conf",
    configDirSet: false,
    configPath: "",
    region: "",
    procfsPrefix: "",
    disableStorage: false,
    disableKubelet: false,
    disableTracing: [],
    logDebug: false,
    dryRun: false,
    enableCgroup: false,
    ignored: [],
    versionFormat: "text",
    wantHelp: false,
    wantVersion: false,
  };
  let command: (typeof COMMANDS)[number] | undefined;
  let flagsDone = false;

  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (!flagsDone && arg === "--") {
      flagsDone = true;
      continue;
    }
    if (flagsDone || !arg.startsWith("-") || arg === "-") {
      if (command === undefined && (COMMANDS as readonly string[]).includes(arg)) {
        command = arg as (typeof COMMANDS)[number];
        continue;
      }
      return { error: command === undefined ? `unknown command or unexpected argument "${arg}" (commands: run, check, version)` : `unexpected argument "${arg}"` };
    }

    // -h / -v / --name / --name=value / -name (urfave/cli accepts one dash too)
    const body = arg.replace(/^--?/, "");
    const eq = body.indexOf("=");
    let name = eq < 0 ? body : body.slice(0, eq);
    name = SHORT[name] ?? name;
    const inline = eq < 0 ? undefined : body.slice(eq + 1);
    const spec = FLAGS[name];
    if (!spec) return { error: `unknown flag "${eq < 0 ? arg : arg.slice(0, arg.indexOf("="))}"` };

    if (spec.kind === "bool") {
      if (inline === undefined) spec.set(o, true);
      else if (/^(true|1)$/i.test(inline)) spec.set(o, true);
      else if (/^(false|0)$/i.test(inline)) spec.set(o, false);
      else return { error: `flag --${name} takes no value or =true/=false, got "${inline}"` };
      continue;
    }
    let value = inline;
    if (value === undefined) {
      const next = argv[i + 1];
      if (next === undefined || (next.startsWith("-") && next !== "-" && next.length > 1 && !/^-\d/.test(next)))
        return { error: `flag --${name} needs a value` };
      value = next;
      i++;
    }
    spec.set(o, value);
  }

  if (o.wantHelp || command === "help") return { help: HELP };
  if (o.wantVersion || command === "version") {
    if (!["text", "json", "short"].includes(o.versionFormat)) return { error: `--version-format must be text, json or short, got "${o.versionFormat}"` };
    return { version: true, format: o.versionFormat };
  }
  o.command = command === "check" ? "check" : "run";

  o.disableTracing = [...new Set(o.disableTracing.map((s) => s.trim()).filter((s) => s !== ""))];
  if (o.config === "") return { error: "--config must not be empty" };
  o.configPath = o.config.includes("/") ? o.config : join(o.configDir, o.config);
  if (o.listen !== undefined && !parseListenAddress(o.listen))
    return { error: `--listen must be "host:port" (e.g. ":19704" or "127.0.0.1:19704"), got "${o.listen}"` };
  if (o.command === "run" && o.region.trim() === "")
    return { error: "--region is required to run the agent (it labels every metric and event), e.g. --region dev" };

  const { versionFormat: _f, wantHelp: _h, wantVersion: _v, ...opts } = o;
  return opts;
}
