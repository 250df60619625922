// Start-up and shutdown of the agent. Order matters: config → log → libbpf (embedded, else the
// host's) → outputs (bus, sinks) → HTTP → probes. HTTP serves /healthz and /metrics at once
// while probes load one by one; /readyz turns ready when every probe has settled and no output
// reports a failure. Shutdown runs backwards so no event is produced after its sinks close.
import { hostname } from "node:os";
import { appendFileSync } from "node:fs";
import { releaseVmlinuxBtf } from "./bpf/btf.ts";
import { describeLibbpf, loadLibbpf, type LibbpfOrigin } from "./bpf/libbpf-origin.ts";
import { allProgramCostSamples, enableRunTimeStats, type RunTimeStats } from "./bpf/prog-stats.ts";
import { sharedRingScheduler } from "./bpf/ring-scheduler.ts";
import { parseArgs, parseWatchArgs, type CliOptions } from "./cli.ts";
import { ConfigError, loadConfig, type LoadedConfig } from "./config/load.ts";
import { CONTAINERS, esEnabled, EVENTS_WATCH, KPULSE, LOG, POD, ROOT, RUNTIME_CGROUP, STORAGE_LOCALFILE } from "./config/sections.ts";
import { CONTAINER_TRACKING_NEEDS, containerJson, startContainerTracking, type ContainerSettings } from "./containers/index.ts";
import { createEventBus } from "./events/bus.ts";
import { shapeRecord } from "./events/shape.ts";
import { createLogger, type Level, type Logger } from "./log.ts";
import { renderExposition, type RenderStats } from "./metrics/exposition.ts";
import { configSchema } from "./probes/config-schema.ts";
import { HUATUO_PROBE_NAMES } from "./probes/huatuo-names.ts";
import { ProbeManager, unknownProbeNames } from "./probes/manager.ts";
import { probeTable } from "./probes/registry.ts";
import type { ProbeDefinition } from "./probes/types.ts";
import { procfsRoot } from "./procfs/root.ts";
import { createApp } from "./server/app.ts";
import { loadWebConfig, type WebConfig } from "./server/web-config.ts";
import { startLocalFileSink, type LocalFileSink } from "./storage/localfile.ts";
import { prepareLocalStorage } from "./storage/startup.ts";
import { Readiness } from "./server/readiness.ts";
import type { OpenSearchSink } from "./storage/opensearch.ts";
import { HttpRequestMetrics, selfMetricGroups } from "./self-metrics.ts";
import { enterSelfCgroup, SELF_CGROUP_NEEDS, type SelfCgroup } from "./self-cgroup.ts";
import { LeastPrivilege } from "./privileges/least-privilege.ts";
import { VERSION } from "./version.ts";

const SHUTDOWN_SIGNALS = ["SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT", "SIGUSR1"] as const;

function makeLogger(cfg: LoadedConfig, debug: boolean): Logger {
  const { Level: configured, File: file } = cfg.get(LOG);
  const level = (debug ? "debug" : configured === "Panic" ? "error" : configured.toLowerCase()) as Level;
  if (!file) return createLogger(level, (l) => process.stdout.write(l));
  return createLogger(level, (l) => {
    try {
      appendFileSync(file, l);
    } catch {
      process.stdout.write(l); // as HUATUO: an unwritable log file falls back to stdout
    }
  });
}

/** Runs the CLI; resolves with the process exit code. `extraProbes` exists for test builds. */
export async function runMain(argv: string[], extraProbes: ProbeDefinition[] = []): Promise<number> {
  const parsed = argv[0] === "watch" ? parseWatchArgs(argv.slice(1)) : parseArgs(argv);
  if ("error" in parsed) {
    process.stderr.write(`kpulse: ${parsed.error}\nRun 'kpulse --help' for usage.\n`);
    return 2;
  }
  if ("help" in parsed) {
    process.stdout.write(parsed.help);
    return 0;
  }
  if ("version" in parsed) {
    const v = { name: "kpulse", ...VERSION, bun: Bun.version };
    if (parsed.format === "short") process.stdout.write(`${v.version}\n`);
    else if (parsed.format === "json") process.stdout.write(JSON.stringify({ ...v, libbpf: libbpfVersionInfo(loadLibbpf()) }) + "\n");
    else process.stdout.write(`kpulse ${v.version} (commit ${v.commit}, built ${v.build_time}, bun ${v.bun})\n${describeLibbpf(loadLibbpf())}\n`);
    return 0;
  }
  // Loaded on demand: the agent's start-up should not pay for the client (nor the client for the agent).
  if ("watch" in parsed) return (await import("./watch-client.ts")).runWatchClient(parsed.watch);
  const opts = parsed;
  const table = [...probeTable, ...extraProbes];
  let cfg: LoadedConfig;
  let web: WebConfig | undefined;
  // Config warnings are printed before the configured logger exists.
  const bootLog = createLogger(opts.logDebug ? "debug" : "info", (l) => process.stderr.write(l));
  try {
    cfg = loadConfig(opts.configPath, configSchema(table), bootLog);
    checkProbeNames(cfg, opts, table);
    web = webConfigOf(cfg, opts);
  } catch (err) {
    process.stderr.write(`kpulse: ${(err as Error).message}\n`);
    return 1;
  }
  if (opts.command === "check") {
    process.stdout.write(`${opts.configPath}: OK\n`);
    if (web) process.stdout.write(`${web.file}: OK (${describeWeb(web)})\n`);
    return 0;
  }
  return runAgent(opts, cfg, table, web);
}

/** The web config named by --web.config.file or [Kpulse] WebConfigFile ("" = none), loaded and checked. */
function webConfigOf(cfg: LoadedConfig, opts: CliOptions): WebConfig | undefined {
  const path = opts.webConfigFile ?? cfg.get(KPULSE).WebConfigFile;
  if (path === "") return undefined;
  try {
    return loadWebConfig(path);
  } catch (err) {
    if (opts.webConfigFile !== undefined) throw new Error(`--web.config.file: ${(err as Error).message}`);
    const line = cfg.lineOf("Kpulse.WebConfigFile");
    throw new Error(`${cfg.file}${line ? `:${line}` : ""}: Kpulse.WebConfigFile: ${(err as Error).message}`);
  }
}

function describeWeb(web: WebConfig): string {
  const tls = web.tls ? `TLS ${web.tls.minVersion}-${web.tls.maxVersion}${web.tls.requestCert ? ", client certificates required" : ""}` : "no TLS";
  return `${tls}, basic auth users: ${web.basicAuthUsers.size}, bearer tokens: ${web.bearerTokens.length}`;
}

/** The libbpf part of `kpulse version --version-format json` and GET /version. */
function libbpfVersionInfo(o: LibbpfOrigin) {
  return { version: o.version, source: o.source, contents: o.contents ?? "", error: [o.embeddedError, o.systemError].filter(Boolean).join("; ") };
}

/** A misspelled BlackList or --disable-tracing name would disable nothing, silently: refuse it. */
function checkProbeNames(cfg: LoadedConfig, opts: CliOptions, table: readonly ProbeDefinition[]): void {
  const known = () => table.map((p) => p.name).join(", ");
  const inFile = unknownProbeNames(cfg.get(ROOT).BlackList, table, HUATUO_PROBE_NAMES);
  if (inFile.length) {
    const line = cfg.lineOf("BlackList");
    throw new ConfigError(
      `${cfg.file}${line ? `:${line}` : ""}: BlackList names unknown probes: ${inFile.join(", ")} (kpulse probes: ${known()}; HUATUO's other tracer names are accepted too)`,
      cfg.file, line, "BlackList",
    );
  }
  const toEnable = cfg.get(KPULSE).EnableProbes.filter((n) => !table.some((p) => p.name === n));
  if (toEnable.length) {
    const line = cfg.lineOf("Kpulse.EnableProbes");
    throw new ConfigError(
      `${cfg.file}${line ? `:${line}` : ""}: Kpulse.EnableProbes names unknown probes: ${toEnable.join(", ")} (kpulse probes: ${known()})`,
      cfg.file, line, "Kpulse.EnableProbes",
    );
  }
  const inFlags = unknownProbeNames(opts.disableTracing, table, HUATUO_PROBE_NAMES);
  if (inFlags.length) throw new Error(`--disable-tracing names unknown probes: ${inFlags.join(", ")} (kpulse probes: ${known()})`);
}

/** The container tracker's settings from [Pod], [Kpulse.Containers] and --disable-kubelet. */
function containerSettings(cfg: LoadedConfig, opts: CliOptions, nodeHostname: string, log: Logger): ContainerSettings {
  const pod = cfg.get(POD);
  const c = cfg.get(CONTAINERS);
  const portsOff = pod.KubeletReadOnlyPort === 0 && pod.KubeletAuthorizedPort === 0;
  if (!opts.disableKubelet && portsOff) log.warn("kubelet pod sync disabled: [Pod] KubeletReadOnlyPort and KubeletAuthorizedPort are both 0");
  return {
    kubelet: opts.disableKubelet || portsOff ? undefined : {
      host: c.KubeletHost,
      readOnlyPort: pod.KubeletReadOnlyPort,
      authorizedPort: pod.KubeletAuthorizedPort,
      clientCertPath: pod.KubeletClientCertPath,
      caBundle: pod.KubeletCABundle,
      insecure: pod.KubeletTLSInsecure,
    },
    containerdStateDir: c.ContainerdStateDir,
    dockerRootDir: c.DockerRootDir,
    cgroupDriver: c.CgroupDriver as ContainerSettings["cgroupDriver"],
    syncIntervalSec: c.SyncInterval,
    minAgeSec: c.MinAge,
    maxTracked: c.MaxTracked,
    nodeHostname,
  };
}

/** Waits for the first container sync, at most `ms`: probes then start with attribution ready. */
async function within(p: Promise<void>, ms: number): Promise<void> {
  let t: ReturnType<typeof setTimeout> | undefined;
  await Promise.race([p, new Promise<void>((r) => (t = setTimeout(r, ms)))]);
  clearTimeout(t);
}

async function runAgent(opts: CliOptions, cfg: LoadedConfig, table: ProbeDefinition[], web: WebConfig | undefined): Promise<number> {
  const log = makeLogger(cfg, opts.logDebug);
  const host = { hostname: hostname() || "kpulse-dev", region: opts.region };
  const namespace = cfg.compat === "huatuo" ? "huatuo_bamai" : "kpulse";
  const blacklist = new Set([...cfg.get(ROOT).BlackList, ...opts.disableTracing]);
  const enabled = new Set(cfg.get(KPULSE).EnableProbes);
  log.info("kpulse starting", { version: VERSION.version, region: host.region, host: host.hostname, pid: process.pid });
  for (const flag of opts.ignored) log.info("flag accepted for HUATUO compatibility and ignored", { flag });
  // Before any probe touches libbpf: the embedded copy, else the host's (src/bpf/libbpf-origin.ts).
  const libbpfOrigin = loadLibbpf();
  if (libbpfOrigin.source === "embedded") log.info("libbpf loaded", { source: "embedded", version: libbpfOrigin.version, contents: libbpfOrigin.contents });
  else if (libbpfOrigin.source === "system") log.warn("embedded libbpf could not be loaded; using the host's", { library: libbpfOrigin.path, version: libbpfOrigin.version, err: libbpfOrigin.embeddedError });
  else log.error("no libbpf: BPF probes will fail", { embedded: libbpfOrigin.embeddedError, system: libbpfOrigin.systemError });
  // What the agent may do, and what each missing capability costs, said once before probes load.
  const privileges = new LeastPrivilege(log);
  privileges.reportStart();
  if (web) log.info("web config loaded", { file: web.file, settings: describeWeb(web) });
  if (web && !web.tls && (web.basicAuthUsers.size > 0 || web.bearerTokens.length > 0))
    log.warn("credentials are required but TLS is off: they cross the network in clear text (set tls_server_config)", { file: web.file });

  // The local-file directory and the instance lock, before any output starts: a second agent
  // on the same files, or a directory it cannot write, stops here with exit code 1.
  const storage = prepareLocalStorage(cfg, opts.disableStorage);
  if ("error" in storage) {
    process.stderr.write(`kpulse: ${storage.error}\n`);
    log.error("cannot start", { err: storage.error });
    return 1;
  }
  // /readyz: every output and the probe manager report here (src/server/readiness.ts).
  const readiness = new Readiness();
  const bus = createEventBus();
  let localFile: LocalFileSink | undefined;
  let openSearch: OpenSearchSink | undefined;
  if (opts.disableStorage) {
    log.info("storage disabled by --disable-storage; events still reach watch streams");
  } else {
    const lf = cfg.get(STORAGE_LOCALFILE);
    if (lf.Path) {
      localFile = startLocalFileSink({ bus, log, dir: lf.Path, rotationSizeMiB: lf.RotationSize, maxRotation: lf.MaxRotation });
      readiness.add("localfile", () => localFile?.failure());
    }
    // The backend being down is no reason not to start (events spool); an unusable spool
    // directory or TLS file is a configuration error.
    if (esEnabled(cfg)) {
      try {
        // Loaded only when ES storage is on: the OpenSearch client is the largest module of the agent.
        const { openSearchSettings, startOpenSearchSink } = await import("./storage/opensearch.ts");
        openSearch = startOpenSearchSink({ bus, log, ...openSearchSettings(cfg) });
      } catch (err) {
        log.error("cannot start the OpenSearch sink", { err: String(err) });
        bus.close();
        await localFile?.close();
        storage.lock?.release();
        return 1;
      }
    }
  }

  const procfs = procfsRoot(opts.procfsPrefix);
  const limits = cfg.get(RUNTIME_CGROUP);
  let selfCgroup: SelfCgroup | undefined;
  if (opts.enableCgroup) {
    try {
      selfCgroup = enterSelfCgroup(procfsRoot(), { initCpuCores: limits.LimitInitCPU, memMiB: limits.LimitMem }, log);
    } catch (err) {
      log.warn("cannot enter the agent's own cgroup: running without resource limits", { err: String(err) });
    }
  } else {
    log.info("self cgroup resource limit disabled by default (--enable-cgroup turns it on)");
  }
  const containers = startContainerTracking(containerSettings(cfg, opts, host.hostname, log), procfs, log);
  const manager = new ProbeManager(
    table,
    { config: cfg, procfs, containers: containers.registry, log, publish: (ev) => bus.publish(shapeRecord(ev, host)) },
    blacklist,
    enabled,
  );

  let programStats: RunTimeStats | undefined;
  if (cfg.get(KPULSE).BpfProgramStats) {
    try {
      programStats = enableRunTimeStats();
    } catch (err) {
      log.warn("BPF program run-time statistics unavailable (needs CAP_SYS_ADMIN and Linux 5.8+)", { err: String(err) });
    }
  }

  let ready = false;
  let stopping = false;
  readiness.add("probes", () => (stopping ? "shutting down" : ready ? undefined : "probes still loading"));
  let reportedDuplicates = 0;
  const httpMetrics = new HttpRequestMetrics();
  const app = createApp({
    renderMetrics: async () => {
      const groups = await manager.scrape();
      groups.push(...selfMetricGroups({ bus, localFile, http: httpMetrics, compat: cfg.compat, watch: app.watchStats(), openSearch }));
      if (programStats) groups.push({ prefix: "", samples: allProgramCostSamples() });
      groups.push({ prefix: "", samples: containers.samples() });
      groups.push({ prefix: "", samples: privileges.samples() });
      const stats: RenderStats = { families: 0, series: 0, duplicates: 0 };
      const text = renderExposition({ namespace, constLabels: { host: host.hostname, region: host.region } }, groups, stats);
      // Two probes emitting the same series is a bug: say so once per new count, not per scrape.
      if (stats.duplicates !== reportedDuplicates) {
        reportedDuplicates = stats.duplicates;
        if (stats.duplicates) log.warn("duplicate series dropped from /metrics", { count: stats.duplicates, first: stats.firstDuplicate });
      }
      return text;
    },
    probes: () => manager.statuses(),
    containers: () => containers.registry.all().map((c) => containerJson(c) as { id: string }),
    capabilities: () => privileges.capabilityState(),
    bus,
    watch: {
      maxClients: cfg.get(EVENTS_WATCH).MaxClients,
      keepAliveSec: cfg.get(EVENTS_WATCH).KeepAliveInterval,
      ceMode: cfg.compat === "huatuo" ? "huatuo" : "kpulse",
      // Last-Event-ID resume past the in-memory window reads the local files.
      storeDir: localFile ? cfg.get(STORAGE_LOCALFILE).Path : undefined,
    },
    version: { name: "kpulse", ...VERSION, bun: Bun.version, libbpf: libbpfVersionInfo(libbpfOrigin) },
    log,
    ready: () => readiness.failing(),
    httpMetrics,
    web,
  });
  const listen = opts.listen ?? cfg.get(KPULSE).ListenAddress;
  let server: { stop(): Promise<void>; port: number; scheme: string };
  try {
    server = app.serve(listen);
  } catch (err) {
    log.error("cannot listen", { address: listen, err: String(err) });
    containers.stop();
    selfCgroup?.release();
    await manager.stopAll();
    await localFile?.close();
    await openSearch?.close();
    return 1;
  }
  log.info("serving", { address: listen, port: server.port, scheme: server.scheme });
  // The kubelet may take its whole timeout: probes wait for the first sync only a little.
  const started = within(containers.firstSync, 3000).then(() => manager.startAll()).then(() => {
    releaseVmlinuxBtf(); // every probe has read what it needs from the kernel's BTF
    try {
      selfCgroup?.setCpu(limits.LimitCPU); // start-up is over: HUATUO's second, larger CPU limit
    } catch (err) {
      log.warn("cannot raise the agent's CPU limit", { err: String(err) });
    }
    // Every probe is attached: keep only what the loaded ones still use (as ebpf_exporter does).
    if (cfg.get(KPULSE).DropCapabilities && !stopping) privileges.dropUnused([...manager.loadedDefinitions(), CONTAINER_TRACKING_NEEDS, ...(selfCgroup ? [SELF_CGROUP_NEEDS] : [])]);
    ready = true;
    log.info("probes settled", { loaded: manager.statuses().filter((s) => s.status === "loaded").map((s) => s.name).join(",") });
  });

  const stopped = new Promise<string>((resolve) => {
    for (const sig of SHUTDOWN_SIGNALS) process.on(sig, () => resolve(sig));
    if (opts.dryRun) setTimeout(() => resolve("dry-run"), 2000);
  });
  const why = await stopped;
  log.info("shutting down", { reason: why });
  stopping = true;
  await server.stop();
  await manager.stopAll();
  await started;
  containers.stop();
  await sharedRingScheduler().close();
  programStats?.close();
  bus.close();
  await localFile?.close();
  await openSearch?.close(); // sends what it can within a bound; the rest stays in the spool
  storage.lock?.release();
  selfCgroup?.release();
  log.info("stopped");
  return 0;
}

if (import.meta.main) process.exitCode = await runMain(process.argv.slice(2));
