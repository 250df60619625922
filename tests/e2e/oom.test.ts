// oom on the real kernel: a memory cgroup this test creates (32 MiB, no swap) and a python
// process inside it that keeps allocating and touching memory until the OOM killer kills it.
// The probe must report that process as both trigger and victim, with the cgroup's path, its
// limit and usage at the kill, memory.stat, and the host's meminfo; and count the kill.
import { afterAll, describe, expect, test } from "bun:test";
import { sharedRingScheduler } from "../../src/bpf/ring-scheduler.ts";
import { silentLogger } from "../../src/log.ts";
import { oomProbe } from "../../src/probes/oom/index.ts";
import type { ProbeEmission, ProbeInstance } from "../../src/probes/types.ts";
import { procfsRoot } from "../../src/procfs/root.ts";
import { memcgV1SkipReason, realPython, TestMemcg } from "../tools/oom-memcg.ts";
import { kernelTestSkipReason, waitFor } from "./agent.ts";

const python = realPython();
const skip = kernelTestSkipReason() ?? memcgV1SkipReason() ?? (python ? undefined : "python3 not found");
const LIMIT = 32 * 1024 * 1024;

// Touches 1 MiB at a time (bytes * n writes every page) and keeps it: far past the limit.
const ALLOCATE = "x = []\nwhile True:\n    x.append(b'k' * (1 << 20))\n";

afterAll(async () => {
  await sharedRingScheduler().close();
});

describe.skipIf(!!skip)("oom (real kernel)", () => {
  test("a process killed in its 32 MiB memory cgroup is the victim and the trigger, with the cgroup's limit and stat", async () => {
    const got: ProbeEmission[] = [];
    let inst: ProbeInstance | undefined;
    let cg: TestMemcg | undefined;
    try {
      inst = await oomProbe.create({ config: undefined, procfs: procfsRoot(""), log: silentLogger, emit: (ev) => got.push(ev) });
      cg = new TestMemcg(`kpulse-oom-${process.pid}`);
      cg.set("memory.limit_in_bytes", LIMIT);
      if (cg.has("memory.memsw.limit_in_bytes")) cg.set("memory.memsw.limit_in_bytes", LIMIT); // no swap to escape to
      cg.set("memory.swappiness", 0);

      const child = cg.spawn([python!, "-c", ALLOCATE]);
      const ev = await waitFor("the oom event of our process", () =>
        got.find((e) => (e.data as any).victim?.pid === child.pid), 20_000);
      expect(await child.exited).not.toBe(0);
      expect(child.signalCode).toBe("SIGKILL");

      const d = ev.data as any;
      expect(ev.timeMs).toBeGreaterThan(Date.now() - 60_000);
      expect(d.victim.comm).toStartWith("python");
      expect(d.victim.memory_cgroup_css_addr).toMatch(/^0x[0-9a-f]{16}$/);
      expect(d.victim.cgroup.path).toBe(cg.path);
      expect(d.victim.cgroup.max).toBe(LIMIT);
      // usage at the kill: at the limit, give or take what was uncharged while choosing a victim
      expect(d.victim.cgroup.current).toBeGreaterThan(LIMIT / 2);
      expect(d.victim.cgroup.current).toBeLessThanOrEqual(LIMIT);
      expect(d.victim.cgroup.stat).toHaveProperty("rss");
      expect(d.victim.cgroup.stat).toHaveProperty("hierarchical_memory_limit", LIMIT);
      if (!cg.has("memory.events")) expect(d.victim.cgroup.events).toBeUndefined(); // v1 without it: omitted

      // the kill is synchronous: the allocating task itself ran the OOM killer
      expect(d.trigger.pid).toBe(child.pid);
      expect(d.trigger.comm).toBe(d.victim.comm);
      expect(d.trigger.memory_cgroup_css_addr).toBe(d.victim.memory_cgroup_css_addr);
      expect(d.trigger.cgroup.path).toBe(cg.path);
      expect(d.trigger.cgroup.max).toBe(LIMIT);

      expect(d.memory_snapshot.host_meminfo.MemTotal).toBeGreaterThan(0);
      expect(Object.keys(d.memory_snapshot.host_meminfo)).toContain("Committed_AS");
      expect(d.victim).not.toHaveProperty("container_id");

      const samples = await inst.collect!();
      const host = samples.find((s) => s.name === "host_total");
      expect(host?.type).toBe("counter");
      expect(host!.value).toBeGreaterThanOrEqual(1);
      expect(samples.find((s) => s.name === "events_total" && s.labels?.outcome === "emitted")!.value).toBeGreaterThanOrEqual(1);
    } finally {
      await cg?.remove();
      await inst?.stop();
    }
  }, 60_000);
});
