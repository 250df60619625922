// The config sections the agent itself owns (probes declare theirs in their own folders):
// HUATUO's global sections with the configuration guide's defaults, HUATUO's code-side names as
// aliases, and kpulse's own `[Kpulse]` section.
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
  { aliases: ["Runtime"], pending: true },
);

// HUATUO's [HTTPServer] keys map onto [Kpulse] and [EventsWatch]; EnableRetry is never read there either.
export const HTTP_SERVER = section("HTTPServer", { EnableRetry: key.bool(false) }, { pending: true });

export const TASKS = section("Tasks", { MaxConcurrent: key.int(10, 1) }, { pending: true });

export const STORAGE_ES = section(
  "Storage.ES",
  { Address: key.string(""), Username: key.string(""), Password: key.string(""), Index: key.string("huatuo_bamai") },
  { aliases: ["Storage.Elasticsearch"] },
);

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

export const POD = section(
  "Pod",
  {
    KubeletReadOnlyPort: key.port(10255),
    KubeletAuthorizedPort: key.port(10250),
    KubeletClientCertPath: key.string(""),
    KubeletCABundle: key.string(""),
    KubeletTLSInsecure: key.bool(false),
    DockerAPIVersion: key.string("1.24"),
  },
  { pending: true },
);

export const EVENTS_WATCH = section("EventsWatch", {
  MaxClients: key.int(100, 1, { aliases: ["HTTPServer.MaxEventStreamClients"] }),
  /** Seconds between `: ping` comments. */
  KeepAliveInterval: key.int(30, 1, { aliases: ["HTTPServer.EventStreamKeepAliveIntervalSeconds"] }),
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
   * The instance lock (flock'd pidfile): "" = `<Storage.LocalFile.Path>/kpulse.pid` (none when
   * local files are off). A second agent finding it locked refuses to start.
   */
  PidFile: key.string("", { check: (v) => (v === "" ? undefined : pidFileProblem(v)) }),
  ListenAddress: key.string(DEFAULT_LISTEN_ADDRESS, {
    aliases: ["HTTPServer.ListenAddress"],
    check: (v) =>
      parseListenAddress(v) ? undefined : `must be "host:port" (e.g. ":19704" or "127.0.0.1:19704"), got ${JSON.stringify(v)}`,
  }),
});

/** Known-issue tables shared by every autotracing / event tracer. */
export const AUTOTRACING = section("AutoTracing", { IssuesList: key.pairs() }, { pending: true });
export const EVENTTRACING = section("EventTracing", { IssuesList: key.pairs() });

export const GLOBAL_SECTIONS: readonly SectionSpec<unknown>[] = [
  ROOT, LOG, RUNTIME_CGROUP, HTTP_SERVER, TASKS, STORAGE_ES, STORAGE_LOCALFILE, POD, EVENTS_WATCH, KPULSE,
  AUTOTRACING, EVENTTRACING,
];
