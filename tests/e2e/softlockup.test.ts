// softlockup on the real kernel. A soft lockup cannot be provoked here; what can be checked is
// the path its report takes: /dev/kmsg is read from its end (old records are not reported), new
// records arrive without polling, and a forged report written from userspace — which the kernel
// logs with a userspace facility — is read but not taken for a soft lockup. The add_taint
// fallback loads where fentry or kprobes exist and is unsupported, naming them, elsewhere.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { closeSync, existsSync, openSync, constants, readFileSync, readSync, writeFileSync } from "node:fs";
import { sharedRingScheduler } from "../../src/bpf/ring-scheduler.ts";
import { silentLogger } from "../../src/log.ts";
import { softlockupProbe, startFromKmsg, startFromTaint } from "../../src/probes/softlockup/index.ts";
import { KmsgReader, type KmsgRecord } from "../../src/probes/softlockup/kmsg.ts";
import { ProbeUnsupportedError, type ProbeEmission } from "../../src/probes/types.ts";
import { procfsRoot } from "../../src/procfs/root.ts";
import { kernelTestSkipReason, waitFor } from "./agent.ts";

const skip = kernelTestSkipReason();
const DEVKMSG = "/proc/sys/kernel/printk_devkmsg";
const TAG = `kpulse-test-${process.pid}`;

/** Writes one line to /dev/kmsg as a userspace program does. */
function logLine(line: string): void {
  writeFileSync("/dev/kmsg", line + "\n");
}

describe.skipIf(!!skip)("softlockup (real kernel)", () => {
  let savedDevkmsg: string | undefined;
  beforeAll(() => {
    // userspace writes are rate-limited by default (printk_devkmsg=ratelimit): lift it while we write
    if (existsSync(DEVKMSG)) {
      savedDevkmsg = readFileSync(DEVKMSG, "utf8").trim();
      writeFileSync(DEVKMSG, "on\n"); // the kernel wants the newline
    }
  });
  afterAll(async () => {
    if (savedDevkmsg !== undefined) writeFileSync(DEVKMSG, savedDevkmsg + "\n");
    await sharedRingScheduler().close();
  });

  test("the reader starts at the end of the log and is woken by new records", async () => {
    // the log is not empty: a reader from its start gets a record at once
    const fromStart = openSync("/dev/kmsg", constants.O_RDONLY | constants.O_NONBLOCK);
    try {
      expect(readSync(fromStart, new Uint8Array(16384), 0, 16384, null)).toBeGreaterThan(0);
    } finally {
      closeSync(fromStart);
    }
    const got: KmsgRecord[] = [];
    const reader = new KmsgReader({ path: "/dev/kmsg", onRecord: (r) => got.push(r) });
    try {
      expect(reader.drain()).toBe(0); // nothing old
      logLine(`<6>${TAG} marker one`);
      const rec = await waitFor("the new record, delivered by the watcher", () => got.find((r) => r.message === `${TAG} marker one`), 5000);
      expect(rec.facility).toBe(1); // LOG_USER: the kernel's mark on userspace writes
      expect(rec.level).toBe(6);
      expect(reader.lost).toBe(0);
    } finally {
      reader.stop();
    }
  });

  test("a forged soft lockup line from userspace is read but not reported", async () => {
    const events: ProbeEmission[] = [];
    const inst = await softlockupProbe.create({ config: {}, procfs: procfsRoot(""), log: silentLogger, emit: (e) => events.push(e) });
    try {
      logLine(`<0>watchdog: BUG: soft lockup - CPU#0 stuck for 23s! [${TAG}:4242]`);
      logLine(`<4>CPU: 0 PID: 4242 Comm: ${TAG} Tainted: G             L     6.1.0 #1`);
      logLine(`<6>${TAG} end`);
      const samples = await waitFor("the three lines read", async () => {
        const s = await inst.collect!();
        return (s.find((x) => x.name === "kmsg_records_total")?.value ?? 0) >= 3 ? s : undefined;
      }, 5000);
      expect(samples.find((s) => s.name === "total")).toMatchObject({ value: 0, type: "counter", help: "softlockup counter" });
      expect(events).toHaveLength(0);
    } finally {
      await inst.stop();
    }
    expect(events).toHaveLength(0); // not even when stop completes a pending report
  });

  test("startFromKmsg on a path that does not exist fails as the open fails", () => {
    expect(() => startFromKmsg({ config: {}, procfs: procfsRoot(""), log: silentLogger, emit() {} }, { path: "/nonexistent/kmsg" })).toThrow(/ENOENT|no such file/i);
  });

  test("the add_taint fallback loads, or is unsupported naming fentry and kprobe", async () => {
    let inst;
    try {
      inst = await startFromTaint({ config: {}, procfs: procfsRoot(""), log: silentLogger, emit() {} });
    } catch (err) {
      expect(err).toBeInstanceOf(ProbeUnsupportedError);
      expect(String(err)).toContain("softlockup_add_taint_fentry");
      expect(String(err)).toContain("softlockup_add_taint_kprobe");
      return;
    }
    const samples = await inst.collect!();
    expect(samples.find((s) => s.name === "total")?.value).toBe(0);
    await inst.stop();
  });
});
