// Every key kpulse accepts: HUATUO's configuration guide, HUATUO's code-side names (as aliases),
// and kpulse's own keys. Each key has a type/range rule; `used` marks the keys kpulse reads
// through KpulseConfig, all others are valid HUATUO keys kept opaque in `config.extra`.

import { parseListenAddress } from "../util/listen.ts";
import { regexProblem } from "../util/goregex.ts";

export type ValueKind = "string" | "bool" | "int" | "number" | "strings" | "pairs";

export interface KeyRule {
  t: "key";
  kind: ValueKind;
  /** Completes "must be …" in type and range errors. */
  what: string;
  min?: number;
  max?: number;
  /** true: min is exclusive (numbers that must be > 0). */
  above?: boolean;
  /** Further checks on a value of the right type: returns the problem, e.g. "is not a valid regular expression: …". */
  check?: (v: never) => string | undefined;
  /** Replaces the value after it passed (e.g. "debug" → "Debug"). */
  normalize?: (v: never) => unknown;
  /** Read by kpulse through KpulseConfig (at the same path); otherwise kept in `extra`. */
  used?: boolean;
}
export interface TableRule {
  t: "table";
  keys: Record<string, Rule>;
}
export interface ArrayRule {
  t: "array";
  item: TableRule;
}
export type Rule = KeyRule | TableRule | ArrayRule;

// ── rule constructors ───────────────────────────────────────────────────────

const str = (extra: Partial<KeyRule> = {}): KeyRule => ({ t: "key", kind: "string", what: "a string", ...extra });
const bool = (): KeyRule => ({ t: "key", kind: "bool", what: "a boolean (true or false)" });
const posInt = (): KeyRule => ({ t: "key", kind: "int", what: "a positive integer", min: 1 });
const nonNegInt = (): KeyRule => ({ t: "key", kind: "int", what: "a non-negative integer", min: 0 });
const posNum = (): KeyRule => ({ t: "key", kind: "number", what: "a number greater than 0", min: 0, above: true });
const nonNegNum = (): KeyRule => ({ t: "key", kind: "number", what: "a non-negative number", min: 0 });
const port = (): KeyRule => ({ t: "key", kind: "int", what: "a port number from 0 to 65535 (0 disables)", min: 0, max: 65535 });
const strings = (): KeyRule => ({ t: "key", kind: "strings", what: "an array of strings" });
const pairs = (): KeyRule => ({ t: "key", kind: "pairs", what: 'an array of ["name", "regex"] string pairs' });
const regex = (): KeyRule => str({ check: (v: string) => (v === "" ? undefined : regexIssue(v)) });
const used = (r: KeyRule): KeyRule => ({ ...r, used: true });
const table = (keys: Record<string, Rule>): TableRule => ({ t: "table", keys });
const arrayOf = (item: TableRule): ArrayRule => ({ t: "array", item });

function regexIssue(v: string): string | undefined {
  const p = regexProblem(v);
  return p === undefined ? undefined : `is not a valid regular expression: ${p}`;
}

const LOG_LEVELS = ["Debug", "Info", "Warn", "Error", "Panic"] as const;

const logLevel = used(
  str({
    check: (v: string) =>
      LOG_LEVELS.some((l) => l.toLowerCase() === v.toLowerCase())
        ? undefined
        : `must be one of ${LOG_LEVELS.join(", ")} (any case), got ${JSON.stringify(v)}`,
    normalize: (v: string) => LOG_LEVELS.find((l) => l.toLowerCase() === v.toLowerCase()),
  }),
);

const listenAddress = used(
  str({
    check: (v: string) =>
      parseListenAddress(v) ? undefined : `must be "host:port" (e.g. ":19704" or "127.0.0.1:19704"), got ${JSON.stringify(v)}`,
  }),
);

const compat = used(
  str({ check: (v: string) => (v === "" || v === "huatuo" ? undefined : `must be "" or "huatuo", got ${JSON.stringify(v)}`) }),
);

const filterRule = table({ Field: str(), Pattern: str() });

// ── the tree (canonical names) ──────────────────────────────────────────────

export const ROOT: TableRule = table({
  Compat: compat,
  BlackList: used(strings()),
  Log: table({ Level: logLevel, File: used(str()) }),
  RuntimeCgroup: table({ LimitInitCPU: posNum(), LimitCPU: posNum(), LimitMem: posNum() }),
  HTTPServer: table({ EnableRetry: bool() }),
  Tasks: table({ MaxConcurrent: posInt() }),
  Storage: table({
    ES: table({ Address: used(str()), Username: used(str()), Password: used(str()), Index: used(str()) }),
    LocalFile: table({ Path: used(str()), RotationSize: used(posInt()), MaxRotation: used(posInt()) }),
  }),
  Pod: table({
    KubeletReadOnlyPort: port(),
    KubeletAuthorizedPort: port(),
    KubeletClientCertPath: str(),
    KubeletCABundle: str(),
    KubeletTLSInsecure: bool(),
    DockerAPIVersion: str(),
  }),
  AutoTracing: table({
    IssuesList: pairs(),
    CPUIdle: table({
      UserThreshold: nonNegNum(),
      SysThreshold: nonNegNum(),
      UsageThreshold: nonNegNum(),
      DeltaUserThreshold: nonNegNum(),
      DeltaSysThreshold: nonNegNum(),
      DeltaUsageThreshold: nonNegNum(),
      Interval: nonNegInt(),
      IntervalTracing: nonNegInt(),
      RunTracingToolTimeout: nonNegInt(),
      Filter: table({ Included: arrayOf(filterRule), Excluded: arrayOf(filterRule) }),
    }),
    CPUSys: table({
      SysThreshold: nonNegNum(),
      DeltaSysThreshold: nonNegNum(),
      Interval: nonNegInt(),
      IntervalTracing: nonNegInt(),
      RunTracingToolTimeout: nonNegInt(),
    }),
    Dload: table({ ThresholdLoad: nonNegNum(), Interval: nonNegInt(), IntervalTracing: nonNegInt(), EnableDebug: bool() }),
    IOTracing: table({
      WbpsThreshold: nonNegNum(),
      RbpsThreshold: nonNegNum(),
      UtilThreshold: nonNegNum(),
      AwaitThreshold: nonNegNum(),
      RunTracingToolTimeout: nonNegInt(),
      MaxProcDump: nonNegInt(),
      MaxFilesPerProcDump: nonNegInt(),
    }),
    MemoryBurst: table({
      DeltaMemoryBurst: nonNegNum(),
      DeltaAnonThreshold: nonNegNum(),
      Interval: nonNegInt(),
      IntervalTracing: nonNegInt(),
      SlidingWindowLength: nonNegInt(),
      DumpProcessMaxNum: nonNegInt(),
    }),
  }),
  EventTracing: table({
    IssuesList: pairs(),
    Softirq: table({ DisabledThreshold: nonNegInt() }),
    SchedTick: table({ IntervalThreshold: posInt() }),
    MemoryReclaim: table({ BlockedThreshold: nonNegInt() }),
    NetRxLatency: table({
      Driver2NetRx: posInt(),
      Driver2TCP: posInt(),
      Driver2Userspace: posInt(),
      ExcludedContainerQos: strings(),
      ExcludedHostNetnamespace: bool(),
    }),
    Netdev: table({ DeviceList: strings() }),
    Dropwatch: table({
      ExcludedNeighInvalidate: used(bool()),
      MaxEventsPerSecond: used(nonNegInt()),
      Filter: str(),
      ExcludeContainers: strings(),
    }),
    TCPRetransmit: table({ Filter: str(), EnableTLP: bool(), MaxEventsPerSecond: nonNegInt() }),
    Ras: table({ MceThrBackoff: nonNegInt() }),
  }),
  MetricCollector: table({
    AscendNPU: table({ EnableDCMI: bool(), EnablePCIe: bool(), EnableHCCN: bool() }),
    NetdevStats: table({ EnableNetlink: used(bool()), DeviceIncluded: used(regex()), DeviceExcluded: used(regex()) }),
    NetdevDCB: table({ DeviceList: strings() }),
    NetdevHW: table({ DeviceList: strings() }),
    Qdisc: table({ DeviceIncluded: str(), DeviceExcluded: str() }),
    Vmstat: table({ IncludedOnHost: str(), ExcludedOnHost: str(), IncludedOnContainer: str(), ExcludedOnContainer: str() }),
    MemoryEvents: table({ Included: str(), Excluded: str() }),
    Netstat: table({ Included: str(), Excluded: str() }),
    MountPointStat: table({ MountPointsIncluded: str() }),
  }),
  EventsWatch: table({ MaxClients: used(posInt()), KeepAliveInterval: used(posInt()) }),
  Kpulse: table({ ListenAddress: listenAddress }),
});

/**
 * HUATUO code-side names → the guide's (canonical) names. An entry applies to the path and
 * everything under it; the longest matching entry wins.
 */
export const ALIASES: ReadonlyMap<string, string> = new Map([
  ["Storage.Elasticsearch", "Storage.ES"],
  ["Storage.LocalFile.RotationSizeMiB", "Storage.LocalFile.RotationSize"],
  ["Storage.LocalFile.MaxRotatedFiles", "Storage.LocalFile.MaxRotation"],
  ["HTTPServer.ListenAddress", "Kpulse.ListenAddress"],
  ["HTTPServer.MaxEventStreamClients", "EventsWatch.MaxClients"],
  ["HTTPServer.EventStreamKeepAliveIntervalSeconds", "EventsWatch.KeepAliveInterval"],
  ["Runtime", "RuntimeCgroup"],
  ["Runtime.StartupCPULimitCores", "RuntimeCgroup.LimitInitCPU"],
  ["Runtime.CPULimitCores", "RuntimeCgroup.LimitCPU"],
  ["Runtime.MemoryLimitMiB", "RuntimeCgroup.LimitMem"],
  // the guide's prose calls it RunIOTracingTimeout, its sample RunTracingToolTimeout
  ["AutoTracing.IOTracing.RunIOTracingTimeout", "AutoTracing.IOTracing.RunTracingToolTimeout"],
]);
