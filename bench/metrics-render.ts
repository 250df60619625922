// Scrape-render cost: renderExposition over a realistic mix of host and container series.
// Prints figures only; never fails on time.
import { renderExposition, type SampleGroup } from "../src/metrics/exposition.ts";
import type { Sample } from "../src/metrics/sample.ts";

function workload(series: number): SampleGroup[] {
  const groups: SampleGroup[] = [];
  let made = 0;
  let g = 0;
  while (made < series) {
    const samples: Sample[] = [];
    // 40 families per group, each with up to 25 series (devices / containers), a fifth of them
    // container series carrying the five container labels.
    for (let f = 0; f < 40 && made < series; f++) {
      for (let d = 0; d < 25 && made < series; d++, made++) {
        const container = d % 5 === 4
          ? {
              container_host: `pod-${g}-${d}-7c9f8b5d4-x2kq`,
              container_hostnamespace: "default",
              container_level: "burstable",
              container_name: `app${d}`,
              container_type: "normal",
            }
          : undefined;
        samples.push({
          name: `stat_${f}_total`,
          help: `Statistic ${f} of group ${g}.`,
          type: "counter",
          value: d % 3 === 0 ? d : (made * 7919.5) * 1e3,
          labels: { device: `eth${d}`, zone: String(f % 4) },
          container,
        });
      }
    }
    groups.push({ prefix: `probe${g++}`, samples });
  }
  return groups;
}

function measure(series: number, runs: number) {
  const groups = workload(series);
  const opts = { namespace: "kpulse", constLabels: { host: "bench-host", region: "bench" } };
  for (let i = 0; i < 10; i++) renderExposition(opts, groups); // warm-up (JIT)
  const times: number[] = [];
  let bytes = 0;
  for (let i = 0; i < runs; i++) {
    const t0 = Bun.nanoseconds();
    const text = renderExposition(opts, groups);
    bytes = text.length;
    text.charCodeAt(text.length - 1); // flatten the rope, as writing the response would
    times.push((Bun.nanoseconds() - t0) / 1e6);
  }
  times.sort((a, b) => a - b);
  const q = (p: number) => times[Math.min(times.length - 1, Math.floor(p * times.length))]!;
  console.log(
    `${String(series).padStart(6)} series: median ${q(0.5).toFixed(2)} ms, p95 ${q(0.95).toFixed(2)} ms ` +
      `(${runs} runs, ${(bytes / 1024).toFixed(0)} KiB output)`,
  );
}

measure(5_000, 200);
measure(20_000, 100);
