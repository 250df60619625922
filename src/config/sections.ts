// The config sections the agent itself owns (probes declare theirs in their own folders):
// HUATUO's global sections with the configuration guide's defaults, HUATUO's code-side names as
// aliases, and kpulse's own `[Kpulse]` section.
import { accessSync, constants, statSync } from "node:fs";
import { parseListenAddress } from "../util/listen.ts";
import { localDirProblem, pidFileProblem } from "../storage/dir-check.ts";
import type { LoadedConfig } from "./load.ts";
import { key, section, type Compat, type SectionSpec } from "./spec.ts";

const LOG_LEVELS = ["Debug", "Info", "Warn", "Error", "Panic"] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export const ROOT = section("", {
  /** "" (kpulse names) or "huatuo" (huatuo_bamai namespace and HUATUO CloudEvent type/source). */
  Compat: key.string("", {
    check: (v) => (v === "" || v === "huatuo" ? undefined : `must be "" or "huatuo", got ${JSON.stringify(v)}`),
  }) as ReturnType<typeof key.string> & { default: Compat },
  /** Probes to disable, merged with --disable-tracing. */
  BlackList: key.strings([]),
});

export const LOG = section("Log", {
  Level: key.string("Info", {
    check: (v) =>
      LOG_LEVELS.some((l) => l.toLowerCase() === v.toLowerCase())
        ? undefined
        : `must be one of ${LOG_LEVELS.join(", ")} (any case), got ${JSON.stringify(v)}`,
    normalize: (v) => LOG_LEVELS.find((l) => l.toLowerCase() === v.toLowerCase())!,
  }),
  File: key.string(""),
});

export const RUNTIME_CGROUP = section(
  "RuntimeCgroup",
  {
    LimitInitCPU: key.positive(0.5, { aliases: ["Runtime.StartupCPULimitCores"] }),
    LimitCPU: key.positive(2.0, { aliases: ["Runtime.CPULimitCores"] }),
    LimitMem: key.positive(2048, { aliases: ["Runtime.MemoryLimitMiB"] }),
  },
  { aliases: ["Runtime"] },
);

// HUATUO's [HTTPServer] keys map onto [Kpulse] and [EventsWatch]; EnableRetry is never read there either.
export const HTTP_SERVER = section("HTTPServer", { EnableRetry: key.bool(false) }, { pending: true });

export const TASKS = section("Tasks", { MaxConcurrent: key.int(10, 1) }, { pending: true });

export const STORAGE_ES = section(
  "Storage.ES",
  {
    /** One URL or several, comma-separated (checked here so `kpulse check` names a bad one). */
    Address: key.string("", { check: (v) => esAddressProblem(v) }),
    Username: key.string(""),
    Password: key.string(""),
    Index: key.string("huatuo_bamai", { check: (v) => (v === "" ? undefined : esIndexProblem(v)) }),
  },
  { aliases: ["Storage.Elasticsearch"] },
);

/** The URLs of a `Storage.ES.Address` value ("" → none). */
export function esAddresses(v: string): string[] {
  return v.split(",").map((a) => a.trim()).filter((a) => a !== "");
}

function esAddressProblem(v: string): string | undefined {
  for (const a of esAddresses(v)) {
    let u: URL | undefined;
    try {
      u = new URL(a);
    } catch {}
    if (!u || (u.protocol !== "http:" && u.protocol !== "https:") || !u.hostname)
      return `must be http:// or https:// URLs separated by commas, got ${JSON.stringify(a)}`;
  }
  return undefined;
}

/** OpenSearch/Elasticsearch index name rules, so a bad name fails at load, not on every bulk request. */
function esIndexProblem(v: string): string | undefined {
  if (v !== v.toLowerCase()) return `must be lowercase, got ${JSON.stringify(v)}`;
  if (/[\\/*?"<>| ,#:]/.test(v)) return `must not contain \\ / * ? " < > | space , # or :, got ${JSON.stringify(v)}`;
  if (/^[-_+]/.test(v) || v === "." || v === "..") return `must not start with - _ + or be . or .., got ${JSON.stringify(v)}`;
  if (Buffer.byteLength(v) > 255) return "must be at most 255 bytes";
  return undefined;
}

// kpulse's settings of the ES sink, in sections of their own under [Storage.ES]: HUATUO's
// [Storage.ES] keeps exactly HUATUO's four keys (a HUATUO file and its guide stay the reference
// for it), and what kpulse adds sits right below it, named by what it tunes. The
// [Storage.Elasticsearch] alias covers these sections too.
/** A PEM file the agent must read at start: refused by `kpulse check` when it cannot. */
function pemFileProblem(v: string): string | undefined {
  if (v === "") return undefined;
  try {
    if (!statSync(v).isFile()) return `must be a readable file, but ${JSON.stringify(v)} is not a regular file`;
    accessSync(v, constants.R_OK);
  } catch (e) {
    return `must be a readable file: ${(e as Error).message}`;
  }
  return undefined;
}

export const STORAGE_ES_TLS = section("Storage.ES.TLS", {
  /** PEM CA bundle that signs the server's certificate; "" = the system's roots. */
  CAFile: key.string("", { check: pemFileProblem }),
  /** PEM client certificate for mutual TLS; KeyFile "" = the key is in the same file. */
  CertFile: key.string("", { check: pemFileProblem }),
  KeyFile: key.string("", { check: pemFileProblem }),
  /** Accept any server certificate. Never the default. */
  Insecure: key.bool(false),
});

export const STORAGE_ES_BULK = section("Storage.ES.Bulk", {
  /** Events per _bulk request. */
  MaxEvents: key.int(1000, 1, { max: 100_000 }),
  /** Bytes of documents per _bulk request (a single larger document is sent alone). */
  MaxBytes: key.int(5 * 1024 * 1024, 1024, { max: 100 * 1024 * 1024 }),
  /** How long a partial batch waits for more events. */
  FlushIntervalMs: key.int(1000, 1, { max: 60_000 }),
  /** A request without an answer by then counts as failed (the batch goes to the spool). */
  RequestTimeoutMs: key.int(30_000, 100, { max: 600_000 }),
  /** Longest wait between retries while the backend fails (exponential from 500 ms, jittered). */
  RetryMaxMs: key.int(30_000, 10, { max: 3_600_000 }),
  /** Events held in memory between the event bus and the sink; beyond it the bus drops (counted). */
  QueueSize: key.int(8192, 1, { max: 1_000_000 }),
});

export const STORAGE_ES_SPOOL = section("Storage.ES.Spool", {
  /** Directory; "" = <Storage.LocalFile.Path>/.spool, or "kpulse-spool" when local files are off. */
  Path: key.string("", { check: localDirProblem }),
  /** MiB of spooled events kept; beyond it the oldest are deleted (counted). */
  MaxSize: key.int(1024, 1, { max: 1024 * 1024 }),
  /** MiB of the dead-letter file before it is rotated (one older file is kept). */
  DeadLetterMaxSize: key.int(100, 1, { max: 1024 * 1024 }),
});

/** ES/OpenSearch storage is on only when Address, Username and Password are all non-blank. */
export function esEnabled(cfg: LoadedConfig): boolean {
  const es = cfg.get(STORAGE_ES);
  return [es.Address, es.Username, es.Password].every((v) => v.trim() !== "");
}

/** The local-file directory is "kpulse-local" unless Compat = "huatuo" (HUATUO's "huatuo-local"). */
export function defaultLocalFilePath(compat: Compat): string {
  return compat === "huatuo" ? "huatuo-local" : "kpulse-local";
}

export const STORAGE_LOCALFILE = section("Storage.LocalFile", {
  /**
   * Directory; empty disables the local-file sink. Checked where the config is loaded (so by
   * `kpulse check` on the host): a file, a directory this user cannot write, /proc or /sys are refused.
   */
  Path: key.string(defaultLocalFilePath, { check: localDirProblem }),
  /** MiB per file before rotation. */
  RotationSize: key.int(100, 1, { aliases: ["Storage.LocalFile.RotationSizeMiB"] }),
  /** Rotated files kept per tracer. */
  MaxRotation: key.int(10, 1, { aliases: ["Storage.LocalFile.MaxRotatedFiles"] }),
});

export const POD = section("Pod", {
  /** Plain-HTTP kubelet port tried first; 0 disables it. */
  KubeletReadOnlyPort: key.port(10255),
  /** Authenticated kubelet port (client certificate); 0 disables it. */
  KubeletAuthorizedPort: key.port(10250),
  /** "cert,key" or one PEM file holding both. */
  KubeletClientCertPath: key.string(""),
  /** PEM bundle that verifies the kubelet's serving certificate; "" = not verified (as HUATUO). */
  KubeletCABundle: key.string(""),
  KubeletTLSInsecure: key.bool(false),
  /** HUATUO asks the docker API for its root directory; kpulse reads [Kpulse.Containers] DockerRootDir. Accepted, unused. */
  DockerAPIVersion: key.string("1.24"),
});

export const CONTAINERS = section("Kpulse.Containers", {
  /** Seconds between full rescans (kubelet pod list and runtime state); cgroup events trigger one sooner. */
  SyncInterval: key.int(10, 1, { max: 3600 }),
  /** Seconds a container must have run before it gets metric series (0 = at once). */
  MinAge: key.int(0, 0, { max: 86_400 }),
  /** At most this many containers get metric series; the oldest win, the others are counted. */
  MaxTracked: key.int(1000, 1, { max: 100_000 }),
  /** containerd's state directory ("" = do not read containerd). */
  ContainerdStateDir: key.string("/run/containerd"),
  /** docker's data root ("" = do not read docker). */
  DockerRootDir: key.string("/var/lib/docker"),
  /** Address of the kubelet. */
  KubeletHost: key.string("127.0.0.1"),
  /** "" = learn it (kubelet /configz, its config file, then the cgroup tree); or "cgroupfs" / "systemd". */
  CgroupDriver: key.string("", { check: (v) => (["", "cgroupfs", "systemd"].includes(v) ? undefined : `must be "", "cgroupfs" or "systemd", got ${JSON.stringify(v)}`) }),
});

export const EVENTS_WATCH = section("EventsWatch", {
  /** Bounded: every client holds a socket and a cursor. */
  MaxClients: key.int(100, 1, { max: 10_000, aliases: ["HTTPServer.MaxEventStreamClients"] }),
  /** Seconds between `: ping` comments; at most an hour (timers overflow past 2^31 ms). */
  KeepAliveInterval: key.int(30, 1, { max: 3600, aliases: ["HTTPServer.EventStreamKeepAliveIntervalSeconds"] }),
});

export const DEFAULT_LISTEN_ADDRESS = ":19704";

/** kpulse-only settings; HUATUO has no equivalent section. */
export const KPULSE = section("Kpulse", {
  /**
   * Probes that are off by default to turn on (KubeSkoop's probes, opt-in as in KubeSkoop).
   * BlackList still wins.
   */
  EnableProbes: key.strings([]),
  /**
   * Run time and run count of every loaded BPF program, on /metrics (bpf_enable_stats, held for
   * the agent's lifetime; every program run then pays two clock reads).
   */
  BpfProgramStats: key.bool(true),
  /**
   * Once every probe has settled, drop the capabilities no loaded probe uses at run time
   * (src/privileges/). Off only to troubleshoot.
   */
  DropCapabilities: key.bool(true),
  /**
   * The instance lock (flock'd pidfile): "" = `<Storage.LocalFile.Path>/kpulse.pid` (none when
   * local files are off). A second agent finding it locked refuses to start.
   */
  PidFile: key.string("", { check: (v) => (v === "" ? undefined : pidFileProblem(v)) }),
  ListenAddress: key.string(DEFAULT_LISTEN_ADDRESS, {
    aliases: ["HTTPServer.ListenAddress"],
    check: (v) =>
      parseListenAddress(v) ? undefined : `must be "host:port" (e.g. ":19704" or "127.0.0.1:19704"), got ${JSON.stringify(v)}`,
  }),
  /**
   * TLS and authentication of the HTTP endpoint: a web config file in the Prometheus
   * exporter-toolkit format (src/server/web-config.ts); "" = plain HTTP, no authentication.
   * `--web.config.file` overrides it. Its content is checked where the config is loaded.
   */
  WebConfigFile: key.string(""),
});

/** Known-issue tables shared by every autotracing / event tracer. */
export const AUTOTRACING = section("AutoTracing", { IssuesList: key.pairs() }, { pending: true });
export const EVENTTRACING = section("EventTracing", { IssuesList: key.pairs() });

export const GLOBAL_SECTIONS: readonly SectionSpec<unknown>[] = [
  ROOT, LOG, RUNTIME_CGROUP, HTTP_SERVER, TASKS, STORAGE_ES, STORAGE_ES_TLS, STORAGE_ES_BULK, STORAGE_ES_SPOOL,
  STORAGE_LOCALFILE, POD, CONTAINERS, EVENTS_WATCH, KPULSE,
  AUTOTRACING, EVENTTRACING,
];
