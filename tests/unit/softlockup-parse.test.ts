// softlockup from the kernel log: /dev/kmsg record parsing, the soft lockup report (recorded-style
// kernel records), forged userspace lines refused, the reader's EPIPE/sequence-gap accounting and
// bounded drains over an injected device, and the probe's backoff over a recorded log.
import { describe, expect, test } from "bun:test";
import taintObject from "../../build/bpf/softlockup.bpf.o" with { type: "file" };
import { structLayoutOf, structSizeOf, withObjectFileBtf } from "../../src/bpf/btf.ts";
import { silentLogger } from "../../src/log.ts";
import { resolveLayout } from "../../src/probes/kit/decoders.ts";
import { decodeTaint, SOFTLOCKUP_TAINT_FIELDS, startFromKmsg } from "../../src/probes/softlockup/index.ts";
import { KmsgReader, parseKmsgRecord, type KmsgIo, type KmsgRead, type KmsgRecord } from "../../src/probes/softlockup/kmsg.ts";
import { parseSoftlockupHeader, SoftlockupAssembler, type SoftlockupReport } from "../../src/probes/softlockup/parse.ts";
import type { ProbeEmission } from "../../src/probes/types.ts";
import { procfsRoot } from "../../src/procfs/root.ts";

// A 6.x soft lockup report as /dev/kmsg hands it out, one record per read (kernel facility 0:
// the header at KERN_EMERG, the dump at the default level), with a userspace line interleaved.
const REPORT = [
  "0,20811,95123456789,-;watchdog: BUG: soft lockup - CPU#1 stuck for 26s! [spin-test:4242]\n",
  "4,20812,95123456801,-;Modules linked in: spin_test(O) veth nf_tables virtio_net net_failover failover\n",
  "4,20813,95123456820,-;CPU: 1 UID: 0 PID: 4242 Comm: spin-test Tainted: G           O L      6.18.44 #1 PREEMPT(none) \n SUBSYSTEM=cpu\n DEVICE=+cpu:cpu1\n",
  "4,20814,95123456822,-;Tainted: [O]=OOT_MODULE, [L]=SOFTLOCKUP\n",
  "4,20815,95123456830,-;Hardware name: Firecracker VM, BIOS 0.0.0 00/00/0000\n",
  "13,20816,95123456835,-;myapp[77]: unrelated userspace line\n",
  "4,20817,95123456840,-;RIP: 0010:spin_loop+0x12/0x30 [spin_test]\n",
  "4,20818,95123456845,-;Code: 0f 1f 44 00 00 f3 90 eb fc\\x0a66 90\n",
  "4,20819,95123456850,-;RSP: 0018:ffffc90000ab7e28 EFLAGS: 00000202\n",
  "4,20820,95123456860,-;Call Trace:\n",
  "4,20821,95123456861,-; <TASK>\n",
  "4,20822,95123456862,-; spin_write+0x45/0x60 [spin_test]\n",
  "4,20823,95123456863,-; vfs_write+0xf3/0x460\n",
  "4,20824,95123456864,-; ksys_write+0x6d/0xf0\n",
  "4,20825,95123456865,-; do_syscall_64+0x71/0x140\n",
  "4,20826,95123456866,-; entry_SYSCALL_64_after_hwframe+0x76/0x7e\n",
  "4,20827,95123456867,-; </TASK>\n",
];

function rec(text: string): KmsgRecord {
  const r = parseKmsgRecord(text);
  if (!r) throw new Error(`not a record: ${text}`);
  return r;
}

describe("kmsg records", () => {
  test("header fields, the message with escapes decoded, dictionary lines left out", () => {
    expect(rec(REPORT[2]!)).toEqual({
      facility: 0, level: 4, seq: 20813, tsUsec: 95123456820, flags: "-",
      message: "CPU: 1 UID: 0 PID: 4242 Comm: spin-test Tainted: G           O L      6.18.44 #1 PREEMPT(none) ",
    });
    expect(rec(REPORT[7]!).message).toBe("Code: 0f 1f 44 00 00 f3 90 eb fc\n66 90");
    expect(rec("14,5,6,-,caller=T1;hello\n")).toMatchObject({ facility: 1, level: 6, seq: 5, message: "hello" });
    expect(parseKmsgRecord("garbage")).toBeUndefined();
    expect(parseKmsgRecord("x,1,2,-;y")).toBeUndefined();
  });
});

describe("soft lockup header", () => {
  test("the kernel's line, current and older prefixes, a comm holding ':' and ']'", () => {
    expect(parseSoftlockupHeader(rec(REPORT[0]!))).toEqual({ cpu: 1, stuckSeconds: 26, comm: "spin-test", pid: 4242 });
    expect(parseSoftlockupHeader(rec("0,1,2,-;BUG: soft lockup - CPU#12 stuck for 22s! [kworker/12:1:123]\n"))).toEqual({ cpu: 12, stuckSeconds: 22, comm: "kworker/12:1", pid: 123 });
    expect(parseSoftlockupHeader(rec("0,1,2,-;NMI watchdog: BUG: soft lockup - CPU#0 stuck for 23s! [a]b:9]\n"))).toMatchObject({ comm: "a]b", pid: 9 });
  });

  test("a userspace write of the same text is refused (/dev/kmsg gives it facility LOG_USER)", () => {
    // `echo "<4>watchdog: BUG: ..." > /dev/kmsg` is logged as 12 (LOG_USER|WARNING), "<0>..." as 8
    for (const pri of [12, 8, 14]) {
      expect(parseSoftlockupHeader(rec(`${pri},1,2,-;watchdog: BUG: soft lockup - CPU#0 stuck for 23s! [fake:1]\n`))).toBeUndefined();
    }
    expect(parseSoftlockupHeader(rec("0,1,2,-;watchdog: BUG: soft lockup - CPU#0 stuck for 23s!\n"))).toBeUndefined();
  });
});

describe("report assembly", () => {
  test("the header's following kernel records, dmesg-formatted, userspace lines left out", () => {
    const reports: SoftlockupReport[] = [];
    const a = new SoftlockupAssembler({ onReport: (r) => reports.push(r) });
    for (const t of REPORT) a.push(rec(t));
    expect(a.pending).toBe(true);
    expect(reports).toHaveLength(0);
    a.flush();
    expect(reports).toHaveLength(1);
    const r = reports[0]!;
    expect(r).toMatchObject({ cpu: 1, pid: 4242, comm: "spin-test", stuckSeconds: 26, tsUsec: 95123456789, truncated: false });
    expect(r.lines).toHaveLength(REPORT.length - 2);
    expect(r.lines[0]).toBe("[95123.456801] Modules linked in: spin_test(O) veth nf_tables virtio_net net_failover failover");
    expect(r.lines.at(-1)).toBe("[95123.456867]  </TASK>");
    expect(r.lines.join("\n")).not.toContain("myapp");
  });

  test("the next header, the time window and the bounds end a report; a refused header collects nothing", () => {
    const reports: SoftlockupReport[] = [];
    let allow = true;
    const a = new SoftlockupAssembler({ onReport: (r) => reports.push(r), onHeader: () => allow, maxLines: 3, windowUsec: 1_000_000 });
    a.push(rec(REPORT[0]!));
    for (const t of REPORT.slice(1, 6)) a.push(rec(t));
    a.push(rec("0,30000,95123456900,-;watchdog: BUG: soft lockup - CPU#0 stuck for 22s! [b:2]\n"));
    expect(reports).toHaveLength(1);
    expect(reports[0]).toMatchObject({ cpu: 1, truncated: true });
    expect(reports[0]!.lines).toHaveLength(3);
    a.push(rec("4,30001,97000000000,-;long after: not part of it\n")); // > windowUsec later
    expect(reports).toHaveLength(2);
    expect(reports[1]).toMatchObject({ cpu: 0, comm: "b", lines: [] });
    allow = false;
    a.push(rec(REPORT[0]!));
    a.push(rec(REPORT[1]!));
    a.flush();
    expect(reports).toHaveLength(2);
  });
});

/** A fake /dev/kmsg: records to hand out, EPIPE where asked, and a controllable watcher. */
class FakeKmsg implements KmsgIo {
  queue: (string | "pipe")[] = [];
  reads = 0;
  closed: number[] = [];
  opened = 0;
  watchers: { onData: () => void; onEnd: (err?: unknown) => void; stopped: boolean }[] = [];
  openAtEnd(): number {
    return ++this.opened + 100;
  }
  read(_fd: number, buf: Uint8Array): KmsgRead {
    this.reads++;
    const next = this.queue.shift();
    if (next === undefined) return "again";
    if (next === "pipe") return "pipe";
    const b = new TextEncoder().encode(next);
    buf.set(b);
    return { bytes: b.length };
  }
  close(fd: number): void {
    this.closed.push(fd);
  }
  watch(_path: string, onData: () => void, onEnd: (err?: unknown) => void) {
    const w = { onData, onEnd, stopped: false };
    this.watchers.push(w);
    return { stop: () => void (w.stopped = true) };
  }
}

const tick = () => new Promise((r) => setImmediate(r));

describe("kmsg reader", () => {
  test("EPIPE is counted and reading goes on; lost records counted from sequence gaps", () => {
    const io = new FakeKmsg();
    const got: number[] = [];
    const r = new KmsgReader({ path: "/dev/kmsg", io, onRecord: (x) => got.push(x.seq) });
    io.queue.push("6,10,1,-;a\n", "6,11,2,-;b\n", "pipe", "6,50,3,-;c\n", "not a record", "6,51,4,-;d\n");
    expect(r.drain()).toBe(5);
    expect(got).toEqual([10, 11, 50, 51]);
    expect([r.records, r.overruns, r.lost, r.malformed]).toEqual([5, 1, 38, 1]);
    r.stop();
    expect(io.closed).toEqual([101]);
  });

  test("a drain reads at most one slice, then continues after yielding", async () => {
    const io = new FakeKmsg();
    const got: number[] = [];
    const r = new KmsgReader({ path: "/dev/kmsg", io, onRecord: (x) => got.push(x.seq), maxRecordsPerSlice: 2 });
    for (let i = 1; i <= 5; i++) io.queue.push(`6,${i},${i},-;m${i}\n`);
    expect(r.drain()).toBe(2);
    expect(got).toEqual([1, 2]);
    await tick();
    await tick();
    await tick();
    expect(got).toEqual([1, 2, 3, 4, 5]);
    r.stop();
  });

  test("it reads when the watcher signals, and watches again (with a drain) after the watcher ends", async () => {
    const io = new FakeKmsg();
    const got: string[] = [];
    const errors: unknown[] = [];
    const r = new KmsgReader({ path: "/dev/kmsg", io, onRecord: (x) => got.push(x.message), rewatchMs: 5, onWatchError: (e) => errors.push(e) });
    expect(io.watchers).toHaveLength(1);
    io.queue.push("6,1,1,-;first\n");
    await tick();
    expect(got).toEqual([]); // nothing read without a signal
    io.watchers[0]!.onData();
    await tick();
    expect(got).toEqual(["first"]);
    io.watchers[0]!.onEnd(new Error("EPIPE on the watch fd"));
    io.queue.push("6,2,2,-;while unwatched\n");
    const until = Date.now() + 2000;
    while (io.watchers.length < 2 && Date.now() < until) await Bun.sleep(5);
    expect(io.watchers).toHaveLength(2);
    expect(got).toEqual(["first", "while unwatched"]);
    expect(r.rewatches).toBe(1);
    expect(errors).toHaveLength(1);
    r.stop();
    expect(io.watchers[1]!.stopped).toBe(true);
  });
});

describe("softlockup probe on a recorded log", () => {
  test("a report becomes one event once the log is quiet; a second within the backoff only counts", async () => {
    const io = new FakeKmsg();
    const events: ProbeEmission[] = [];
    let now = 1_000_000;
    const inst = startFromKmsg({ config: {}, procfs: procfsRoot(""), log: silentLogger, emit: (e) => events.push(e) }, { io, now: () => now, quietMs: 20 });
    io.queue.push(...REPORT);
    io.watchers[0]!.onData();
    const until = Date.now() + 2000;
    while (events.length === 0 && Date.now() < until) await Bun.sleep(5);
    expect(events).toHaveLength(1);
    expect(events[0]!.timeMs).toBe(1_000_000);
    const d = events[0]!.data;
    expect(d).toMatchObject({ cpu: 1, pid: 4242, comm: "spin-test" });
    // every kernel record after the header (one holds an escaped newline: dmesg decodes it too)
    expect(String(d.cpus_stack).split("\n")).toHaveLength(REPORT.length - 2 + 1);
    expect(String(d.cpus_stack)).toContain("] RIP: 0010:spin_loop+0x12/0x30 [spin_test]");
    expect(Object.keys(d)).toEqual(["cpu", "pid", "comm", "cpus_stack"]);

    now += 5 * 60_000;
    io.queue.push(...REPORT.map((t) => t.replace(/^(\d+),(\d+),/, (_, p, s) => `${p},${Number(s) + 100},`)));
    io.watchers[0]!.onData();
    const until2 = Date.now() + 2000;
    let total = 0;
    while (Date.now() < until2) {
      total = (await inst.collect!()).find((s) => s.name === "total")!.value;
      if (total === 2) break;
      await Bun.sleep(5);
    }
    expect(total).toBe(2);
    await Bun.sleep(50); // past the quiet period: a report would have been emitted by now
    expect(events).toHaveLength(1);
    const samples = await inst.collect!();
    const outcome = (o: string) => samples.find((s) => s.name === "events_total" && s.labels?.outcome === o)?.value;
    expect([outcome("emitted"), outcome("backoff")]).toEqual([1, 1]);
    expect(samples.find((s) => s.name === "kmsg_records_total")!.value).toBe(2 * REPORT.length);
    // the second batch's sequence numbers start 100 after the first's: the gap is lost records
    expect(samples.find((s) => s.name === "kmsg_records_lost_total")!.value).toBe(100 - REPORT.length);
    await inst.stop();
  });
});

describe("add_taint fallback record", () => {
  test("laid out by the object's BTF: cpu, pid, comm and an empty cpus_stack", () => {
    const layout = withObjectFileBtf(taintObject, (btf) => structLayoutOf(btf, "softlockup_event"));
    const o = resolveLayout("softlockup_event", layout, SOFTLOCKUP_TAINT_FIELDS);
    const u8 = new Uint8Array(withObjectFileBtf(taintObject, (btf) => structSizeOf(btf, "softlockup_event")));
    const dv = new DataView(u8.buffer);
    dv.setUint32(o.cpu, 3, true);
    dv.setUint32(o.pid, 4242, true);
    u8.set(new TextEncoder().encode("spin-test"), o.comm);
    expect(decodeTaint(o, u8, dv, 0)).toEqual({ cpu: 3, pid: 4242, comm: "spin-test", cpus_stack: "" });
  });
});
