// The configuration as the rest of the agent sees it: HUATUO's TOML sections and keys
// (seed 001 configuration guide), with HUATUO's defaults, plus kpulse-only sections.
// The loader (src/config/load.ts) fills every field; consumers never see undefined.

export interface LogConfig {
  Level: "Debug" | "Info" | "Warn" | "Error" | "Panic";
  File: string;
}

export interface LocalFileConfig {
  /** Directory; empty disables the local-file sink. */
  Path: string;
  /** MiB per file before rotation. */
  RotationSize: number;
  /** Rotated files kept per tracer. */
  MaxRotation: number;
}

export interface ESConfig {
  Address: string;
  Username: string;
  Password: string;
  Index: string;
}

export interface EventsWatchConfig {
  MaxClients: number;
  /** Seconds between `: ping` comments. */
  KeepAliveInterval: number;
}

export interface DropwatchConfig {
  ExcludedNeighInvalidate: boolean;
  /** BPF rate limit; 0 = unlimited. */
  MaxEventsPerSecond: number;
}

export interface NetdevStatsConfig {
  EnableNetlink: boolean;
  DeviceIncluded: string;
  DeviceExcluded: string;
}

/** kpulse-only settings (section [Kpulse]); HUATUO has no equivalent. */
export interface KpulseSection {
  /** HTTP listen address, HUATUO's default port. */
  ListenAddress: string;
}

export interface KpulseConfig {
  /** "" (kpulse names) or "huatuo" (huatuo_bamai namespace and HUATUO CloudEvent type/source). */
  Compat: "" | "huatuo";
  BlackList: string[];
  Log: LogConfig;
  Storage: { ES: ESConfig; LocalFile: LocalFileConfig };
  EventsWatch: EventsWatchConfig;
  EventTracing: { Dropwatch: DropwatchConfig };
  MetricCollector: { NetdevStats: NetdevStatsConfig };
  Kpulse: KpulseSection;
  /**
   * HUATUO keys kpulse accepts but does not use yet (e.g. `[AutoTracing.*]`, `[Pod]`,
   * `[RuntimeCgroup]`), exactly as the file set them, nested by their canonical key path
   * (aliases resolved: `[Runtime] CPULimitCores` lands at `RuntimeCgroup.LimitCPU`).
   * Empty when the file sets none. Not a TOML section of its own.
   */
  extra: Record<string, unknown>;
}
