// Start-up and shutdown of the agent. Order matters: config → log → outputs (bus, sinks) →
// probes → HTTP; shutdown runs it backwards so no event is produced after its sinks close.
import { hostname } from "node:os";
import { appendFileSync } from "node:fs";
import { parseArgs, type CliOptions } from "./cli.ts";
import { esEnabled, loadConfig } from "./config/load.ts";
import type { KpulseConfig } from "./config/schema.ts";
import { createEventBus } from "./events/bus.ts";
import { shapeRecord } from "./events/shape.ts";
import { createLogger, type Level, type Logger } from "./log.ts";
import { renderExposition, type RenderStats } from "./metrics/exposition.ts";
import { ProbeManager } from "./probes/manager.ts";
import { probeTable } from "./probes/registry.ts";
import type { ProbeDefinition } from "./probes/types.ts";
import { procfsRoot } from "./procfs/root.ts";
import { createApp } from "./server/app.ts";
import { startLocalFileSink, type LocalFileSink } from "./storage/localfile.ts";
import { selfSamples } from "./self-metrics.ts";
import { VERSION } from "./version.ts";

const SHUTDOWN_SIGNALS = ["SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT", "SIGUSR1"] as const;

function makeLogger(cfg: KpulseConfig, debug: boolean): Logger {
  const level = (debug ? "debug" : cfg.Log.Level === "Panic" ? "error" : cfg.Log.Level.toLowerCase()) as Level;
  if (!cfg.Log.File) return createLogger(level, (l) => process.stdout.write(l));
  const file = cfg.Log.File;
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
  const parsed = parseArgs(argv);
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
    if (parsed.format === "json") process.stdout.write(JSON.stringify(v) + "\n");
    else if (parsed.format === "short") process.stdout.write(`${v.version}\n`);
    else process.stdout.write(`kpulse ${v.version} (commit ${v.commit}, built ${v.build_time}, bun ${v.bun})\n`);
    return 0;
  }
  const opts = parsed;
  let cfg: KpulseConfig;
  // Config warnings are printed before the configured logger exists.
  const bootLog = createLogger(opts.logDebug ? "debug" : "info", (l) => process.stderr.write(l));
  try {
    cfg = loadConfig(opts.configPath, bootLog);
  } catch (err) {
    process.stderr.write(`kpulse: ${(err as Error).message}\n`);
    return 1;
  }
  if (opts.command === "check") {
    process.stdout.write(`${opts.configPath}: OK\n`);
    return 0;
  }
  return runAgent(opts, cfg, [...probeTable, ...extraProbes]);
}

async function runAgent(opts: CliOptions, cfg: KpulseConfig, table: ProbeDefinition[]): Promise<number> {
  const log = makeLogger(cfg, opts.logDebug);
  const host = { hostname: hostname() || "kpulse-dev", region: opts.region };
  const namespace = cfg.Compat === "huatuo" ? "huatuo_bamai" : "kpulse";
  const blacklist = new Set([...cfg.BlackList, ...opts.disableTracing]);
  log.info("kpulse starting", { version: VERSION.version, region: host.region, host: host.hostname, pid: process.pid });
  for (const flag of opts.ignored) log.info("flag accepted for HUATUO compatibility and ignored", { flag });
  if (opts.enableCgroup) log.warn("--enable-cgroup is accepted but self resource limits are not implemented yet");

  const bus = createEventBus();
  let localFile: LocalFileSink | undefined;
  if (opts.disableStorage) {
    log.info("storage disabled by --disable-storage; events still reach watch streams");
  } else {
    if (cfg.Storage.LocalFile.Path) {
      localFile = startLocalFileSink({
        bus,
        log,
        dir: cfg.Storage.LocalFile.Path,
        rotationSizeMiB: cfg.Storage.LocalFile.RotationSize,
        maxRotation: cfg.Storage.LocalFile.MaxRotation,
      });
    }
    if (esEnabled(cfg)) log.warn("Storage.ES is configured but the OpenSearch sink is not in this build yet; events go to local files only");
  }

  const manager = new ProbeManager(
    table,
    {
      config: cfg,
      procfs: procfsRoot(opts.procfsPrefix),
      log,
      emit: (ev) => bus.publish(shapeRecord(ev, host)),
    },
    log,
  );
  await manager.startAll(blacklist);

  let ready = false;
  let reportedDuplicates = 0;
  const app = createApp({
    renderMetrics: async () => {
      const groups = await manager.scrape();
      groups.push({ prefix: "", samples: selfSamples(bus, localFile) });
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
    bus,
    watch: {
      maxClients: cfg.EventsWatch.MaxClients,
      keepAliveSec: cfg.EventsWatch.KeepAliveInterval,
      ceMode: cfg.Compat === "huatuo" ? "huatuo" : "kpulse",
    },
    version: { name: "kpulse", ...VERSION, bun: Bun.version },
    log,
    ready: () => ready,
  });
  const listen = opts.listen ?? cfg.Kpulse.ListenAddress;
  let server: { stop(): Promise<void>; port: number };
  try {
    server = app.serve(listen);
  } catch (err) {
    log.error("cannot listen", { address: listen, err: String(err) });
    await manager.stopAll();
    await localFile?.close();
    return 1;
  }
  ready = true;
  log.info("serving", { address: listen, port: server.port, probes: manager.statuses().filter((s) => s.status === "loaded").map((s) => s.name).join(",") });

  const stopped = new Promise<string>((resolve) => {
    for (const sig of SHUTDOWN_SIGNALS) process.on(sig, () => resolve(sig));
    if (opts.dryRun) setTimeout(() => resolve("dry-run"), 2000);
  });
  const why = await stopped;
  log.info("shutting down", { reason: why });
  ready = false;
  await server.stop();
  await manager.stopAll();
  bus.close();
  await localFile?.close();
  log.info("stopped");
  return 0;
}

if (import.meta.main) process.exitCode = await runMain(process.argv.slice(2));
