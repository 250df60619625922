// memory_reclaim_events on the real kernel: a memory cgroup this test creates (32 MiB, no swap)
// and dd inside it reading a 128 MiB file that is not cached: the clean page cache it fills is
// charged to the cgroup, so dd must reclaim in its own context before each further charge.
// (Reading, not writing: dirty pages in a tight v1 cgroup can outrun writeback and end in an OOM
// kill instead of reclaim.) With BlockedThreshold = 1 ns
// every such reclaim is an event; a second probe with a 60 s threshold sees the same reclaims
// and only counts them as filtered.
import { afterAll, describe, expect, test } from "bun:test";
import { rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { sharedRingScheduler } from "../../src/bpf/ring-scheduler.ts";
import { sectionDefaults } from "../../src/config/spec.ts";
import { silentLogger } from "../../src/log.ts";
import { MEMORY_RECLAIM_CONFIG, memoryReclaimProbe } from "../../src/probes/memory_reclaim/index.ts";
import type { ProbeEmission, ProbeInstance } from "../../src/probes/types.ts";
import { procfsRoot } from "../../src/procfs/root.ts";
import { memcgV1SkipReason, TestMemcg } from "../tools/oom-memcg.ts";
import { kernelTestSkipReason, waitFor } from "./agent.ts";

const skip = kernelTestSkipReason() ?? memcgV1SkipReason();
const LIMIT = 32 * 1024 * 1024;

afterAll(async () => {
  await sharedRingScheduler().close();
});

describe.skipIf(!!skip)("memory_reclaim_events (real kernel)", () => {
  test("dd filling page cache in a 32 MiB cgroup reclaims in its own context: events at 1 ns, filtered at 60 s", async () => {
    const got: ProbeEmission[] = [];
    const quietGot: ProbeEmission[] = [];
    const file = join(tmpdir(), `kpulse-reclaim-${process.pid}`);
    let inst: ProbeInstance | undefined;
    let quiet: ProbeInstance | undefined;
    let cg: TestMemcg | undefined;
    try {
      const ctx = (threshold: number, sink: ProbeEmission[]) => ({
        config: { ...sectionDefaults(MEMORY_RECLAIM_CONFIG, ""), BlockedThreshold: threshold },
        procfs: procfsRoot(""), log: silentLogger, emit: (ev: ProbeEmission) => sink.push(ev),
      });
      inst = await memoryReclaimProbe.create(ctx(1, got));
      quiet = await memoryReclaimProbe.create(ctx(60_000_000_000, quietGot));
      cg = new TestMemcg(`kpulse-reclaim-${process.pid}`);
      cg.set("memory.limit_in_bytes", LIMIT);
      if (cg.has("memory.memsw.limit_in_bytes")) cg.set("memory.memsw.limit_in_bytes", LIMIT);
      cg.set("memory.swappiness", 0);

      // Written around the page cache (O_DIRECT), outside the cgroup: nothing of it is cached.
      const w = Bun.spawnSync(["dd", "if=/dev/zero", `of=${file}`, "bs=1M", "count=128", "oflag=direct"], { stderr: "pipe" });
      expect(w.exitCode).toBe(0);
      const dd = cg.spawn(["dd", `if=${file}`, "of=/dev/null", "bs=1M"]);
      expect(await dd.exited).toBe(0);
      const ev = await waitFor("a reclaim event from dd", () => got.find((e) => (e.data as any).pid === dd.pid), 10_000);

      const d = ev.data as any;
      expect(d.comm).toBe("dd");
      expect(d.tid).toBe(dd.pid);
      expect(d.reclaim_duration_ns).toBeGreaterThan(0);
      expect(d.reclaim_duration_ns).toBeLessThan(60e9);
      expect(d.reclaim_scope).toBe("memcg");
      expect(d.memory_cgroup_path).toBe(cg.path);
      expect(d.memory_cgroup_css_addr).toMatch(/^0x[0-9a-f]{16}$/);
      expect(d.nr_reclaimed).toBeGreaterThanOrEqual(0);
      expect(Object.keys(d).slice(0, 4)).toEqual(["pid", "tid", "comm", "reclaim_duration_ns"]);
      expect(ev.timeMs).toBeGreaterThan(Date.now() - 60_000);

      const outcome = async (i: ProbeInstance, o: string) =>
        (await i.collect!()).find((s) => s.name === "events_total" && s.labels?.outcome === o)?.value ?? -1;
      expect(await outcome(inst, "emitted")).toBeGreaterThanOrEqual(1);
      expect(await outcome(quiet, "filtered")).toBeGreaterThanOrEqual(1);
      expect(quietGot.filter((e) => (e.data as any).pid === dd.pid)).toEqual([]);
    } finally {
      rmSync(file, { force: true });
      await cg?.remove();
      await inst?.stop();
      await quiet?.stop();
    }
  }, 60_000);
});
