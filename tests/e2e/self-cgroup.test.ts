// --enable-cgroup on the real kernel: the agent runs in a "kpulse" cgroup with HUATUO's
// [RuntimeCgroup] limits (the start-up CPU limit, raised once probes settle; the memory limit),
// and at exit moves back and removes the group. Without the flag it stays where it started.
import { describe, expect, test } from "bun:test";
import { existsSync, readFileSync } from "node:fs";
import { kernelTestSkipReason, startAgent, waitFor } from "./agent.ts";

const skip = kernelTestSkipReason();
const CPU = "/sys/fs/cgroup/cpu/kpulse";
const MEM = "/sys/fs/cgroup/memory/kpulse";
const v1 = existsSync("/sys/fs/cgroup/cpu") && existsSync("/sys/fs/cgroup/memory");

function cgroupOf(pid: number, controller: string): string {
  const line = readFileSync(`/proc/${pid}/cgroup`, "utf8").split("\n").find((l) => l.split(":")[1]?.split(",").includes(controller));
  return line?.split(":")[2] ?? "";
}

describe.skipIf(!!skip || !v1)("--enable-cgroup (cgroup v1)", () => {
  test("the agent runs limited in its own cgroup and removes it at exit", async () => {
    // Never take over a group this test did not create.
    expect(existsSync(CPU) || existsSync(MEM)).toBe(false);
    const agent = await startAgent({
      config: "[Storage.LocalFile]\nPath = \"\"\n[RuntimeCgroup]\nLimitInitCPU = 0.5\nLimitCPU = 1.5\nLimitMem = 512\n",
      args: ["--enable-cgroup", "--disable-tracing", "dropwatch"],
    });
    try {
      const pid = agent.proc.pid;
      expect(cgroupOf(pid, "cpu")).toBe("/kpulse");
      expect(cgroupOf(pid, "memory")).toBe("/kpulse");
      // Every thread went along (v1 cgroup.procs moves the whole process).
      const tasks = readFileSync(`${CPU}/tasks`, "utf8").trim().split("\n").map(Number);
      expect(tasks.length).toBeGreaterThan(1);
      expect(tasks).toContain(pid);
      expect(readFileSync(`${MEM}/memory.limit_in_bytes`, "utf8").trim()).toBe(String(512 * 1024 * 1024));
      // /readyz answered: probes settled, so the start-up limit (0.5) was raised to LimitCPU.
      await waitFor("the CPU limit to be raised", () => readFileSync(`${CPU}/cpu.cfs_quota_us`, "utf8").trim() === "150000" || undefined, 5000);
      expect(readFileSync(`${CPU}/cpu.cfs_period_us`, "utf8").trim()).toBe("100000");
    } finally {
      expect(await agent.stop()).toBe(0);
    }
    expect(existsSync(CPU)).toBe(false);
    expect(existsSync(MEM)).toBe(false);
  });

  test("without the flag the agent stays in the cgroup it started in", async () => {
    const agent = await startAgent({ config: "[Storage.LocalFile]\nPath = \"\"\n", args: ["--disable-tracing", "dropwatch"] });
    try {
      expect(cgroupOf(agent.proc.pid, "memory")).toBe(cgroupOf(process.pid, "memory"));
      expect(existsSync(CPU)).toBe(false);
      expect(agent.output()).toContain("self cgroup resource limit disabled by default");
    } finally {
      await agent.stop();
    }
  });
});
