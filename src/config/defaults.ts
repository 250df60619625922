// HUATUO's defaults (configuration guide / huatuo-bamai code defaults) for every key kpulse uses.
// The one deliberate difference: the local-file directory is "kpulse-local" unless
// Compat = "huatuo", where it is HUATUO's "huatuo-local".
import type { KpulseConfig } from "./schema.ts";

export const DEFAULT_LISTEN_ADDRESS = ":19704";

export function defaultLocalFilePath(compat: KpulseConfig["Compat"]): string {
  return compat === "huatuo" ? "huatuo-local" : "kpulse-local";
}

/** A fresh, fully populated config; callers may mutate it. */
export function defaultConfig(compat: KpulseConfig["Compat"] = ""): KpulseConfig {
  return {
    Compat: compat,
    BlackList: [],
    Log: { Level: "Info", File: "" },
    Storage: {
      ES: { Address: "", Username: "", Password: "", Index: "huatuo_bamai" },
      LocalFile: { Path: defaultLocalFilePath(compat), RotationSize: 100, MaxRotation: 10 },
    },
    EventsWatch: { MaxClients: 100, KeepAliveInterval: 30 },
    EventTracing: { Dropwatch: { ExcludedNeighInvalidate: true, MaxEventsPerSecond: 100 } },
    MetricCollector: { NetdevStats: { EnableNetlink: false, DeviceIncluded: "", DeviceExcluded: "" } },
    Kpulse: { ListenAddress: DEFAULT_LISTEN_ADDRESS },
    extra: {},
  };
}
