// HUATUO config sections of probes kpulse has not built yet. They are accepted and type-checked
// (with the guide's defaults) so an existing huatuo-bamai.conf loads unchanged and a typo in it is
// still reported. When a probe is built, its section moves from here into the probe's folder.
import { key, section, type SectionSpec } from "./spec.ts";

const interval = (def = 10) => key.int(def, 0);
const percent = (def: number) => key.nonNegative(def);

export const PENDING_SECTIONS: readonly SectionSpec<unknown>[] = [
  section("AutoTracing.CPUIdle", {
    UserThreshold: percent(75),
    SysThreshold: percent(45),
    UsageThreshold: percent(90),
    DeltaUserThreshold: percent(45),
    DeltaSysThreshold: percent(20),
    DeltaUsageThreshold: percent(55),
    Interval: interval(),
    IntervalTracing: interval(1800),
    RunTracingToolTimeout: interval(),
  }, { pending: true }),
  section("AutoTracing.CPUIdle.Filter", {
    Included: key.tables({ Field: key.string(""), Pattern: key.regex("") }),
    Excluded: key.tables({ Field: key.string(""), Pattern: key.regex("") }),
  }, { pending: true }),
  section("AutoTracing.CPUSys", {
    SysThreshold: percent(45),
    DeltaSysThreshold: percent(20),
    Interval: interval(),
    IntervalTracing: interval(1800),
    RunTracingToolTimeout: interval(),
  }, { pending: true }),
  section("AutoTracing.Dload", {
    ThresholdLoad: key.nonNegative(5),
    Interval: interval(),
    IntervalTracing: interval(1800),
    EnableDebug: key.bool(false),
  }, { pending: true }),
  section("AutoTracing.IOTracing", {
    WbpsThreshold: key.nonNegative(1500),
    RbpsThreshold: key.nonNegative(2000),
    UtilThreshold: percent(90),
    AwaitThreshold: key.nonNegative(100),
    // the guide's prose calls it RunIOTracingTimeout, its sample RunTracingToolTimeout
    RunTracingToolTimeout: interval(10),
    MaxProcDump: key.int(10, 0),
    MaxFilesPerProcDump: key.int(5, 0),
  }, { pending: true }),
  section("AutoTracing.MemoryBurst", {
    DeltaMemoryBurst: percent(100),
    DeltaAnonThreshold: percent(70),
    Interval: interval(),
    IntervalTracing: interval(1800),
    SlidingWindowLength: key.int(60, 0),
    DumpProcessMaxNum: key.int(10, 0),
  }, { pending: true }),
  section("MetricCollector.AscendNPU", {
    EnableDCMI: key.bool(true),
    EnablePCIe: key.bool(false),
    EnableHCCN: key.bool(false),
  }, { pending: true }),
  section("MetricCollector.NetdevHW", { DeviceList: key.strings([]) }, { pending: true }),
];
