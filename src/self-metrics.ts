// The agent's own health as metrics: events through the bus, what outputs dropped or failed,
// and process memory/CPU, so "nothing lost" is checkable from /metrics.
import type { EventBus } from "./events/bus.ts";
import type { Sample } from "./metrics/sample.ts";
import type { LocalFileSink } from "./storage/localfile.ts";

export function selfSamples(bus: EventBus, localFile?: LocalFileSink): Sample[] {
  const s = bus.stats();
  const out: Sample[] = [];
  for (const [tracer, n] of Object.entries(s.published)) {
    out.push({ name: "events_published_total", help: "Events handed to the outputs, by tracer.", type: "counter", value: n, labels: { tracer } });
  }
  for (const [output, n] of Object.entries(s.dropped)) {
    out.push({ name: "events_dropped_total", help: "Events an output's bounded queue could not take, by output.", type: "counter", value: n, labels: { output } });
  }
  if (localFile) {
    const lf = localFile.stats();
    out.push(
      { name: "localfile_written_total", help: "Events written to local files.", type: "counter", value: lf.written },
      { name: "localfile_write_failures_total", help: "Failed local-file writes (the event is kept and retried).", type: "counter", value: lf.write_failures },
      { name: "localfile_rotations_total", help: "Local-file rotations.", type: "counter", value: lf.rotations },
    );
  }
  const mem = process.memoryUsage();
  const cpu = process.cpuUsage();
  out.push(
    { name: "process_resident_memory_bytes", help: "Resident memory of the agent.", type: "gauge", value: mem.rss },
    { name: "process_heap_bytes", help: "JavaScript heap in use.", type: "gauge", value: mem.heapUsed },
    { name: "process_cpu_seconds_total", help: "User and system CPU time of the agent.", type: "counter", value: (cpu.user + cpu.system) / 1e6 },
  );
  return out;
}
