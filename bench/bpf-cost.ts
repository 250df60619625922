// Kernel cost of each BPF program of the softirq, softirq_tracing, sched_tick and ras probes,
// from the kernel's own per-program statistics (bpf_prog_info run_cnt / run_time_ns, enabled
// fd-scoped with bpf_enable_stats while the bench runs). Each object is loaded as its probe
// loads it (same programs, same .rodata at default settings); a C producer floods a closed
// loopback UDP port (NET_RX softirqs, timer interrupts under load) and the bench prints, per
// program: runs, runs/s, mean ns per run (= per tracepoint hit) and the share of one CPU.
// Prints figures; never passes or fails on time. Needs root and `make bench` outputs.
// Run: ./node_modules/.bin/bun bench/bpf-cost.ts [packets]
import { existsSync } from "node:fs";
import rasObjectPath from "../build/bpf/ras.bpf.o" with { type: "file" };
import schedTickObjectPath from "../build/bpf/sched_tick.bpf.o" with { type: "file" };
import softirqObjectPath from "../build/bpf/softirq.bpf.o" with { type: "file" };
import type { BpfObject, ProgramGroup } from "../src/bpf/object.ts";
import { enableRunTimeStats, programInfo, type ProgramInfo } from "../src/bpf/prog-stats.ts";
import { sharedKallsyms } from "../src/bpf/symbols.ts";
import { silentLogger } from "../src/log.ts";
import { loadEmbeddedObject } from "../src/probes/kit/bpf-events.ts";
import { RAS_MAX_EVENTS_PER_SEC, RAS_SOURCES, kernelHasTracepoint } from "../src/probes/ras/index.ts";
import { REPORTS_PER_CPU_PER_SEC, TICK_CALLBACKS } from "../src/probes/sched_tick/index.ts";
import { SOFTIRQ_ENTRY, SOFTIRQ_EXIT, SOFTIRQ_RAISE } from "../src/probes/softirq_tracing/index.ts";

const PACKETS = Number(process.argv[2] ?? 2_000_000);
const UDP_FLOOD = "build/tools/udp-flood";

if (process.getuid?.() !== 0) {
  console.log("bpf-cost: needs root (BPF); skipped");
  process.exit(0);
}
if (!existsSync(UDP_FLOOD)) {
  console.log(`bpf-cost: ${UDP_FLOOD} missing (make build/tools/udp-flood); skipped`);
  process.exit(0);
}

interface Loaded {
  probe: string;
  obj: BpfObject;
}

async function load(probe: string, path: string, programs: ProgramGroup[], rodata: Record<string, number | bigint | boolean>, maxEntries?: Record<string, number>): Promise<Loaded | undefined> {
  try {
    return { probe, obj: await loadEmbeddedObject(probe, path, { programs, maxEntries }, rodata, silentLogger) };
  } catch (err) {
    console.log(`${probe}: not loaded: ${(err as Error).message}`);
    return undefined;
  }
}

const kallsyms = sharedKallsyms("/proc/kallsyms");
const tick = TICK_CALLBACKS.map((n) => kallsyms.range(n)).find((r) => r !== undefined);
const rasGroups = RAS_SOURCES.filter((s) => kernelHasTracepoint(s.tracepoint)).map((s) => ({ alternatives: [s.program], optional: true }));

const loaded = (await Promise.all([
  load("softirq_tracing", softirqObjectPath, [SOFTIRQ_EXIT, SOFTIRQ_ENTRY, SOFTIRQ_RAISE], { trace_events: true, softirq_thresh_ns: 10_000_000, kpulse_max_events_per_sec: 100 }),
  load("softirq", softirqObjectPath, [SOFTIRQ_ENTRY, SOFTIRQ_RAISE], { count_zones: true }, { softirq_tracing_events: 4096 }),
  tick ? load("sched_tick", schedTickObjectPath, [
    { alternatives: ["sched_tick_stop_btf", "sched_tick_stop_tp"] },
    { alternatives: ["sched_tick_expire_btf", "sched_tick_expire_tp"] },
  ], { tick_fn: tick.start, sched_tick_interval_threshold_ns: 10_000_000, max_reports_per_cpu_sec: REPORTS_PER_CPU_PER_SEC }) : undefined,
  rasGroups.length ? load("ras", rasObjectPath, rasGroups, { kpulse_max_events_per_sec: RAS_MAX_EVENTS_PER_SEC }) : undefined,
])).filter((l): l is Loaded => l !== undefined);

type Snapshot = Map<string, ProgramInfo>;
function snapshot(): Snapshot {
  const m: Snapshot = new Map();
  for (const { probe, obj } of loaded) for (const { program, fd } of obj.programFds()) m.set(`${probe}\t${program}`, programInfo(fd));
  return m;
}

async function flood(packets: number): Promise<number> {
  const t0 = performance.now();
  const p = Bun.spawn([UDP_FLOOD, "9", String(packets)], { stdout: "ignore", stderr: "inherit" });
  await p.exited;
  return (performance.now() - t0) / 1000;
}

function report(title: string, a: Snapshot, b: Snapshot, seconds: number): void {
  console.log(`\n== ${title}: ${seconds.toFixed(2)} s`);
  console.log(["probe".padEnd(16), "program".padEnd(26), "runs".padStart(11), "runs/s".padStart(10), "ns/run".padStart(8), "cpu %".padStart(7)].join(" "));
  for (const [k, after] of b) {
    const before = a.get(k)!;
    const runs = after.runCount - before.runCount;
    const ns = after.runTimeNs - before.runTimeNs;
    const [probe, program] = k.split("\t");
    console.log([
      probe!.padEnd(16), program!.padEnd(26), String(runs).padStart(11), (runs / seconds).toFixed(0).padStart(10),
      (runs ? ns / runs : 0).toFixed(0).padStart(8), ((ns / 1e9 / seconds) * 100).toFixed(3).padStart(7),
    ].join(" "));
  }
}

const stats = enableRunTimeStats();
try {
  const idle0 = snapshot();
  const idleT0 = performance.now();
  await Bun.sleep(2000);
  report("idle (2 s)", idle0, snapshot(), (performance.now() - idleT0) / 1000);

  const s0 = snapshot();
  const seconds = await flood(PACKETS);
  report(`loopback UDP flood, ${PACKETS} packets (${(PACKETS / seconds / 1e6).toFixed(2)} M/s)`, s0, snapshot(), seconds);
  console.log("\nns/run is the mean kernel time of one program run (one tracepoint hit) with run-time statistics on;");
  console.log("the statistics themselves add two clock reads per run. cpu % is of one CPU over the interval.");
} finally {
  stats.close();
  for (const { obj } of loaded) obj.close();
}
