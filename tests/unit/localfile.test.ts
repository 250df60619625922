import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, statfsSync, statSync, unlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createEventBus } from "../../src/events/bus.ts";
import { shapeRecord } from "../../src/events/shape.ts";
import type { EventRecord } from "../../src/events/record.ts";
import { cloudEventJson, documentJson } from "../../src/events/format.ts";
import { huatuoTime, rfc3339NanoLocal } from "../../src/events/time.ts";
import { fileNameFor, LocalFileWriter, startLocalFileSink } from "../../src/storage/localfile.ts";
import { createLogger, silentLogger } from "../../src/log.ts";
import { localDirProblem, pidFileProblem, prepareLocalDir } from "../../src/storage/dir-check.ts";
import { acquirePidFile, LockHeldError, pidFilePath } from "../../src/storage/pidfile.ts";

const HOST = { hostname: "node-1", region: "r" };
let dir: string;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "kpulse-localfile-"));
});
/** tmpfs mounts under `dir` made by a test (see tmpfs() below): unmounted before `dir` goes. */
const mounts: string[] = [];
afterEach(() => {
  for (const at of mounts.splice(0).reverse()) Bun.spawnSync(["umount", "-l", at]);
  rmSync(dir, { recursive: true, force: true });
});

const rec = (tracer: string, data: Record<string, unknown> = {}): EventRecord =>
  shapeRecord({ tracerName: tracer, data }, HOST);

/** A HUATUO document as read back from a file. */
type Doc = Record<string, unknown> & { tracer_data: Record<string, unknown> };

/** The document a record is written as: its fields with the times in HUATUO's layouts. */
const doc = (r: EventRecord): Doc => ({
  hostname: r.hostname,
  region: r.region,
  uploaded_time: rfc3339NanoLocal(r.uploadedMs),
  time: huatuoTime(r.timeMs),
  tracer_name: r.tracer_name,
  tracer_id: r.tracer_id,
  tracer_time: huatuoTime(r.timeMs),
  tracer_type: r.tracer_type,
  tracer_data: r.tracer_data,
});

const lines = (path: string) =>
  readFileSync(path, "utf8")
    .split("\n")
    .filter((l) => l !== "")
    .map((l) => JSON.parse(l) as Doc);

async function until(cond: () => boolean, ms = 5000) {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error("condition not met in time");
    await Bun.sleep(5);
  }
}

describe("LocalFileWriter", () => {
  test("one NDJSON file per tracer, HUATUO naming, dir 0750, files 0640", () => {
    const sub = join(dir, "huatuo-local");
    const w = new LocalFileWriter({ dir: sub, rotationSizeMiB: 1, maxRotation: 2 });
    const a = [rec("oom", { victim: "x\ny" }), rec("oom", { n: 2 })];
    const b = [rec("hungtask")];
    w.append("oom", [...a]);
    w.append("hungtask", [...b]);
    w.close();
    expect(readdirSync(sub).sort()).toEqual(["hungtask", "oom"]);
    expect(statSync(sub).mode & 0o777).toBe(0o750);
    expect(statSync(join(sub, "oom")).mode & 0o777).toBe(0o640);
    expect(lines(join(sub, "oom"))).toEqual(a.map(doc));
    expect(lines(join(sub, "hungtask"))).toEqual(b.map(doc));
    expect(readFileSync(join(sub, "oom"), "utf8").split("\n")).toHaveLength(3); // 2 lines + trailing ""
  });

  test("each line is the record's documentJson; tracer_data serialized once for file and stream", () => {
    let calls = 0;
    const r = rec("oom", { probe: { toJSON: () => (calls++, "p") }, stack: "a\nb\n" });
    const w = new LocalFileWriter({ dir, rotationSizeMiB: 1, maxRotation: 1 });
    w.append("oom", [r]);
    w.close();
    expect(readFileSync(join(dir, "oom"), "utf8")).toBe(documentJson(r) + "\n");
    expect(JSON.parse(cloudEventJson(r, "kpulse")).data.tracer_data).toEqual({ probe: "p", stack: "a\nb\n" });
    expect(calls).toBe(1);
  });

  test("append removes what it wrote from the array", () => {
    const w = new LocalFileWriter({ dir, rotationSizeMiB: 1, maxRotation: 1 });
    const batch = [rec("oom"), rec("oom")];
    w.append("oom", batch);
    expect(batch).toEqual([]);
    w.close();
  });

  test("rotation at size keeps MaxRotation backups and deletes the oldest", () => {
    let now = Date.UTC(2026, 0, 2, 3, 4, 5, 0);
    const w = new LocalFileWriter({ dir, rotationSizeMiB: 1 / 1024, maxRotation: 2, now: () => now }); // 1 KiB
    const pad = "p".repeat(300);
    const written: EventRecord[] = [];
    for (let i = 0; i < 24; i++) {
      const r = rec("oom", { i, pad });
      written.push(r);
      w.append("oom", [r]);
      now += 1000;
    }
    w.close();
    const files = readdirSync(dir).sort();
    const backups = files.filter((f) => f !== "oom");
    expect(files).toContain("oom");
    expect(backups).toHaveLength(2);
    for (const b of backups) expect(b).toMatch(/^oom-\d{4}-\d\d-\d\dT\d\d-\d\d-\d\d\.\d{3}$/);
    for (const f of files) expect(statSync(join(dir, f)).size).toBeLessThanOrEqual(1024);
    // The kept files are the newest, contiguous, in order.
    const kept = [...backups, "oom"].flatMap((f) => lines(join(dir, f)));
    const tail = written.slice(written.length - kept.length);
    expect(kept.map((r) => r.tracer_data.i)).toEqual(tail.map((r) => r.tracer_data.i));
    expect(w.rotations).toBeGreaterThan(2);
  });

  test("same-millisecond rotations get a counter suffix", () => {
    const w = new LocalFileWriter({ dir, rotationSizeMiB: 1 / 1024, maxRotation: 5, now: () => 0 });
    const pad = "p".repeat(700);
    for (let i = 0; i < 4; i++) w.append("oom", [rec("oom", { pad })]);
    w.close();
    const backups = readdirSync(dir).filter((f) => f !== "oom").sort();
    expect(backups).toHaveLength(3);
    expect(backups[1]).toBe(backups[0] + "-1");
    expect(backups[2]).toBe(backups[0] + "-2");
  });

  test("a record larger than the rotation size still goes into an empty file", () => {
    const w = new LocalFileWriter({ dir, rotationSizeMiB: 1 / 1024, maxRotation: 1 });
    w.append("oom", [rec("oom", { pad: "x".repeat(4000) })]);
    w.close();
    expect(lines(join(dir, "oom"))).toHaveLength(1);
  });

  test("file deleted or replaced externally: reopened", () => {
    const w = new LocalFileWriter({ dir, rotationSizeMiB: 1, maxRotation: 1 });
    const path = join(dir, "oom");
    w.append("oom", [rec("oom", { n: 1 })]);
    unlinkSync(path);
    w.append("oom", [rec("oom", { n: 2 })]);
    expect(lines(path).map((r) => r.tracer_data.n)).toEqual([2]);
    // Renamed away (logrotate): the next write goes to a fresh file at the path.
    renameSync(path, path + ".1");
    w.append("oom", [rec("oom", { n: 4 })]);
    expect(lines(path).map((r) => r.tracer_data.n)).toEqual([4]);
    // The whole directory going away is recovered too.
    rmSync(dir, { recursive: true });
    w.append("oom", [rec("oom", { n: 3 })]);
    expect(lines(path).map((r) => r.tracer_data.n)).toEqual([3]);
    w.close();
  });

  test("unsafe tracer names stay inside the directory", () => {
    expect(fileNameFor("../etc/passwd")).toBe(".._etc_passwd");
    expect(fileNameFor("..")).toBe("_..");
    expect(fileNameFor("memory_reclaim")).toBe("memory_reclaim");
  });
});

describe("local file sink on the bus", () => {
  test("writes published records, close flushes", async () => {
    const bus = createEventBus();
    const sink = startLocalFileSink({ dir, rotationSizeMiB: 1, maxRotation: 1, bus, log: silentLogger });
    const recs = Array.from({ length: 1000 }, (_, i) => rec(i % 3 ? "oom" : "dload", { i }));
    for (const r of recs) bus.publish(r);
    await sink.close();
    expect(lines(join(dir, "oom"))).toEqual(recs.filter((r) => r.tracer_name === "oom").map(doc));
    expect(lines(join(dir, "dload"))).toEqual(recs.filter((r) => r.tracer_name === "dload").map(doc));
    expect(sink.stats()).toMatchObject({ written: 1000, write_failures: 0, dropped: 0, queued: 0 });
  });

  test("a failing write is retried, not dropped", async () => {
    const bus = createEventBus();
    const errors: string[] = [];
    const log = { ...silentLogger, child: () => ({ ...silentLogger, error: (m: string) => errors.push(m) }) };
    const target = join(dir, "out");
    // A regular file where the directory should be makes mkdir fail for everyone, root included.
    await Bun.write(target, "not a directory");
    const sink = startLocalFileSink({ dir: target, rotationSizeMiB: 1, maxRotation: 1, bus, log, retryMs: 20 });
    const r = rec("oom", { keep: true });
    bus.publish(r);
    await until(() => sink.stats().write_failures >= 2);
    expect(sink.stats().written).toBe(0);
    expect(sink.stats().queued).toBe(1);
    expect(errors[0]).toContain("retried");
    unlinkSync(target);
    await until(() => sink.stats().written === 1);
    expect(lines(join(target, "oom"))).toEqual([doc(r)]);
    await sink.flush();
    await sink.close();
  });

  test("flush waits for queued records", async () => {
    const bus = createEventBus();
    const sink = startLocalFileSink({ dir, rotationSizeMiB: 1, maxRotation: 1, bus, log: silentLogger });
    for (let i = 0; i < 50; i++) bus.publish(rec("oom", { i }));
    await sink.flush();
    expect(lines(join(dir, "oom"))).toHaveLength(50);
    await sink.close();
    expect(existsSync(join(dir, "oom"))).toBe(true);
  });
});

// ── surviving crashes and full disks ──────────────────────────────────────────────────────
// Real files, a real full disk (a small tmpfs) and a real read-only mount: these need root to
// mount; off-root they skip with the reason, never under CI=true.

const mountSkip = (() => {
  if (process.getuid?.() === 0) return undefined;
  if (process.env.CI === "true") throw new Error("the local-file mount tests must run as root under CI=true");
  return "needs root to mount a tmpfs";
})();

function sh(...cmd: string[]) {
  const r = Bun.spawnSync(cmd, { stdout: "pipe", stderr: "pipe" });
  if (r.exitCode !== 0) throw new Error(`${cmd.join(" ")}: ${r.stderr.toString()}`);
}

/** A tmpfs of `size` mounted on a new directory under the test's dir; unmounted by afterEach. */
function tmpfs(name: string, size: string, ro = false): string {
  const at = join(dir, name);
  mkdirSync(at, { recursive: true });
  sh("mount", "-t", "tmpfs", "-o", `size=${size}${ro ? ",ro" : ""}`, "tmpfs", at);
  mounts.push(at);
  return at;
}

/** Fill a file system with a filler file so that about `leaveBytes` stay free. */
function fill(at: string, name: string, leaveBytes: number): string {
  const { bavail, bsize } = statfsSync(at);
  const path = join(at, name);
  writeFileSync(path, Buffer.alloc(Math.max(0, Number(bavail) * Number(bsize) - leaveBytes)));
  return path;
}

/** Every line of a file parses, none is torn; returns the documents. */
function strictLines(path: string): Doc[] {
  const text = readFileSync(path, "utf8");
  if (text !== "" && !text.endsWith("\n")) throw new Error(`${path} ends with a torn line: ${JSON.stringify(text.slice(-80))}`);
  return text.split("\n").slice(0, -1).map((l, i) => {
    try {
      return JSON.parse(l) as Doc;
    } catch {
      throw new Error(`${path}:${i + 1} is not JSON: ${JSON.stringify(l.slice(0, 120))}`);
    }
  });
}

const capture = () => {
  const lines: string[] = [];
  const write = (l: string) => lines.push(l);
  return { log: createLogger("debug", write), lines };
};

describe("torn last lines", () => {
  const torn = (r: EventRecord) => documentJson(r).slice(0, 57); // a prefix, as an interrupted write leaves it

  test("a torn line left by a crash is cut at start, before anything is appended (and counted)", async () => {
    const old = [rec("oom", { n: 1 }), rec("oom", { n: 2 })];
    const cut = torn(rec("oom", { n: 3 }));
    writeFileSync(join(dir, "oom"), old.map((r) => documentJson(r) + "\n").join("") + cut);
    const bus = createEventBus();
    const { log, lines: logged } = capture();
    const sink = startLocalFileSink({ dir, rotationSizeMiB: 1, maxRotation: 1, bus, log });
    const next = rec("oom", { n: 4 });
    bus.publish(next);
    await sink.close();
    expect(strictLines(join(dir, "oom"))).toEqual([...old, next].map(doc));
    expect(sink.stats()).toMatchObject({ torn_lines: 1, torn_bytes: cut.length, written: 1 });
    expect(logged.join("")).toContain("cut a torn last line");
  });

  test("every file of ours is repaired at start, even a tracer that never writes again; other files are left alone", async () => {
    const a = rec("hungtask", { n: 1 });
    writeFileSync(join(dir, "hungtask"), documentJson(a) + "\n" + torn(a));
    writeFileSync(join(dir, "hungtask-2026-01-02T03-04-05.000"), torn(a)); // a lone torn line: the file becomes empty
    writeFileSync(join(dir, "notes.txt"), "not ours, no newline");
    writeFileSync(join(dir, "kpulse.pid"), "123\n");
    const sink = startLocalFileSink({ dir, rotationSizeMiB: 1, maxRotation: 1, bus: createEventBus(), log: silentLogger });
    await sink.close();
    expect(strictLines(join(dir, "hungtask"))).toEqual([doc(a)]);
    expect(readFileSync(join(dir, "hungtask-2026-01-02T03-04-05.000"), "utf8")).toBe("");
    expect(readFileSync(join(dir, "notes.txt"), "utf8")).toBe("not ours, no newline");
    expect(readFileSync(join(dir, "kpulse.pid"), "utf8")).toBe("123\n");
    expect(sink.stats().torn_lines).toBe(2);
  });

  test("a file replaced behind the writer's back is repaired when reopened; a zero-filled tail too", () => {
    const w = new LocalFileWriter({ dir, rotationSizeMiB: 1, maxRotation: 1 });
    const path = join(dir, "oom");
    const a = rec("oom", { n: 1 }), b = rec("oom", { n: 2 }), c = rec("oom", { n: 3 });
    w.append("oom", [a]);
    // Restored from elsewhere (or written by a crashed run) with a torn tail: reopened, cut, appended.
    writeFileSync(path + ".new", documentJson(b) + "\n" + torn(c));
    renameSync(path + ".new", path);
    w.append("oom", [c]);
    expect(strictLines(path)).toEqual([b, c].map(doc));
    // A power loss can leave a tail of zeros: cut like a torn line.
    writeFileSync(path + ".new", documentJson(a) + "\n" + "\0".repeat(300));
    renameSync(path + ".new", path);
    w.append("oom", [b]);
    expect(strictLines(path)).toEqual([a, b].map(doc));
    expect(w.tornLines).toBe(2);
    w.close();
  });

  test("after a rotation the new file is opened through the same repair", () => {
    let now = Date.UTC(2026, 0, 2, 3, 4, 5, 0);
    const w = new LocalFileWriter({ dir, rotationSizeMiB: 1 / 1024, maxRotation: 3, now: () => now }); // 1 KiB
    const pad = "p".repeat(300);
    const all: EventRecord[] = [];
    for (let i = 0; i < 6; i++) {
      const r = rec("oom", { i, pad });
      all.push(r);
      w.append("oom", [r]);
      now += 1000;
    }
    w.close();
    for (const f of readdirSync(dir)) strictLines(join(dir, f));
    expect(w.rotations).toBeGreaterThan(0);
    expect(w.tornLines).toBe(0);
  });
});

describe.skipIf(!!mountSkip)("full disk and unwritable directory (real tmpfs)", () => {
  const pad = "x".repeat(400);
  const recs = (n: number, tracer = "dropwatch") => Array.from({ length: n }, (_, i) => rec(tracer, { i, pad }));

  test("ENOSPC: whole lines only, exact counts, and writes resume by themselves as space is freed", async () => {
    const at = tmpfs("disk", "256k");
    const filler1 = fill(at, "filler1", 80 * 1024);
    const filler2 = join(at, "filler2");
    writeFileSync(filler2, Buffer.alloc(64 * 1024)); // ~16 KiB left
    const bus = createEventBus();
    const { log, lines: logged } = capture();
    const sink = startLocalFileSink({ dir: at, rotationSizeMiB: 100, maxRotation: 1, bus, log, retryMs: 10, maxRetryMs: 50 });
    const all = recs(300); // ~150 KiB of lines: far more than the disk has
    for (const r of all) bus.publish(r);
    await until(() => sink.failure() !== undefined);
    expect(sink.failure()).toContain("ENOSPC");
    const early = sink.stats();
    // What fitted was written as whole lines, counted exactly, and no torn line stays behind.
    expect(early.written).toBeGreaterThan(0);
    expect(strictLines(join(at, "dropwatch"))).toEqual(all.slice(0, early.written).map(doc));
    expect(early.written + early.queued).toBe(300);
    expect(early.failing).toBe(true);

    // Some space back (less than a whole batch): writing resumes and fills it.
    unlinkSync(filler2);
    await until(() => sink.stats().written >= early.written + 50, 5000);
    expect(strictLines(join(at, "dropwatch"))).toEqual(all.slice(0, sink.stats().written).map(doc));

    // All the space back: everything is written once, in order, and the sink is healthy again.
    unlinkSync(filler1);
    await until(() => sink.stats().written === 300, 5000);
    await until(() => sink.failure() === undefined);
    expect(strictLines(join(at, "dropwatch"))).toEqual(all.map(doc));
    const s = sink.stats();
    expect(s).toMatchObject({ written: 300, queued: 0, failing: false, unwritten: { queue_full: 0, shutdown: 0 } });
    expect(s.write_failures).toBeGreaterThan(0);
    expect(logged.join("")).toContain("local file writes resumed");
    await sink.close();
  });

  test("events refused while the disk is full are counted (queue_full), and the sum is exact", async () => {
    const at = tmpfs("disk", "256k");
    const filler = fill(at, "filler", 0);
    const bus = createEventBus();
    const sink = startLocalFileSink({ dir: at, rotationSizeMiB: 100, maxRotation: 1, bus, log: silentLogger, queueSize: 50, retryMs: 10, maxRetryMs: 50 });
    const all = recs(200);
    for (const r of all) {
      bus.publish(r);
      if (r === all[0]) await until(() => sink.failure() !== undefined); // the first batch is held
    }
    const s = sink.stats();
    expect(s.written).toBe(0);
    expect(s.unwritten.queue_full).toBe(200 - 1 - 50);
    expect(s.written + s.queued + s.unwritten.queue_full).toBe(200);
    expect(sink.failure()).toMatch(/^ENOSPC: .*; 51 events waiting, 149 not written$/);
    unlinkSync(filler);
    await until(() => sink.stats().queued === 0 && sink.failure() === undefined, 5000);
    const lines = strictLines(join(at, "dropwatch"));
    expect(lines.length).toBe(51);
    expect(lines).toEqual(all.slice(0, 51).map(doc)); // the full queue refused the newest
    expect(sink.stats()).toMatchObject({ written: 51, unwritten: { queue_full: 149, shutdown: 0 } });
    await sink.close();
  });

  test("shutdown while the disk is full: what is held and queued is counted and logged", async () => {
    const at = tmpfs("disk", "256k");
    fill(at, "filler", 0);
    const bus = createEventBus();
    const { log, lines: logged } = capture();
    const sink = startLocalFileSink({ dir: at, rotationSizeMiB: 100, maxRotation: 1, bus, log, retryMs: 10, maxRetryMs: 50 });
    for (const r of recs(700)) bus.publish(r); // one held batch of 512 + 188 queued
    await until(() => sink.failure() !== undefined);
    await sink.close();
    expect(sink.stats()).toMatchObject({ written: 0, queued: 0, unwritten: { queue_full: 0, shutdown: 700 } });
    const text = logged.join("");
    expect(text).toContain('msg="local file sink stopped with events not written"');
    expect(text).toMatch(/unwritten=700\b/);
  });

  test("a directory that becomes unwritable at run time (read-only mount over it): counted, reported, then resumed", async () => {
    const at = join(dir, "local");
    const bus = createEventBus();
    const sink = startLocalFileSink({ dir: at, rotationSizeMiB: 100, maxRotation: 1, bus, log: silentLogger, retryMs: 10, maxRetryMs: 50 });
    const first = recs(3);
    for (const r of first) bus.publish(r);
    await sink.flush();
    tmpfs("local", "64k", true); // the directory is now a read-only file system
    const later = recs(5);
    for (const r of later) bus.publish(r);
    await until(() => sink.failure() !== undefined);
    expect(sink.failure()).toContain("EROFS");
    expect(sink.stats()).toMatchObject({ written: 3, queued: 5, failing: true });
    sh("umount", at);
    mounts.pop();
    await until(() => sink.stats().written === 8 && sink.failure() === undefined, 5000);
    expect(strictLines(join(at, "dropwatch"))).toEqual([...first, ...later].map(doc));
    await sink.close();
  });
});

describe("the local-file directory, checked at load and at start", () => {
  test("usable: an existing writable directory, a missing one under a directory, and \"\" (off)", () => {
    expect(localDirProblem(dir)).toBeUndefined();
    expect(localDirProblem(join(dir, "a/b/c"))).toBeUndefined();
    expect(localDirProblem("")).toBeUndefined();
  });

  test("refused: a file, a path through a file, /proc, /sys, a pseudo file system", () => {
    expect(localDirProblem("/etc/passwd")).toBe('must be a writable directory, but "/etc/passwd" is a regular file');
    expect(localDirProblem("/etc/passwd/x")).toBe('must be a writable directory, but "/etc/passwd" (in "/etc/passwd/x") is a regular file');
    expect(localDirProblem("/proc/kpulse")).toBe('must be a writable directory, but "/proc/kpulse" is under /proc, not on a real file system');
    expect(localDirProblem("/sys/fs")).toContain("is under /sys");
    expect(localDirProblem("/dev/null")).toBe('must be a writable directory, but "/dev/null" is a device');
  });

  test.skipIf(!!mountSkip)("refused: a read-only file system (root included)", () => {
    const ro = tmpfs("ro", "64k", true);
    expect(localDirProblem(ro)).toBe(`must be a writable directory, but ${JSON.stringify(ro)} is on a read-only file system`);
    expect(prepareLocalDir(join(ro, "sub"))).toContain("cannot be created: EROFS");
  });

  test("prepareLocalDir creates the directory 0750 (and its parents)", () => {
    const p = join(dir, "x/y");
    expect(prepareLocalDir(p)).toBeUndefined();
    expect(statSync(p).mode & 0o777).toBe(0o750);
    expect(statSync(join(dir, "x")).mode & 0o777).toBe(0o750);
  });

  test("the pidfile path: \"\" means <Path>/kpulse.pid, none without local files", () => {
    expect(pidFilePath("", "/var/lib/kpulse")).toBe("/var/lib/kpulse/kpulse.pid");
    expect(pidFilePath("", undefined)).toBeUndefined();
    expect(pidFilePath("/run/kpulse.pid", undefined)).toBe("/run/kpulse.pid");
    expect(pidFileProblem(dir)).toBe(`must be a file, but ${JSON.stringify(dir)} is a directory`);
    expect(pidFileProblem("/proc/kpulse.pid")).toContain("is under /proc");
  });
});

describe("instance lock (flock'd pidfile)", () => {
  test("held: a second holder is refused and told the pid; released: it can be taken again", () => {
    const path = join(dir, "kpulse.pid");
    const first = acquirePidFile(path);
    expect(readFileSync(path, "utf8")).toBe(`${process.pid}\n`);
    // flock locks belong to the open file description: a second open, even in this process, conflicts.
    let err: unknown;
    try {
      acquirePidFile(path);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(LockHeldError);
    expect((err as LockHeldError).holder).toBe(process.pid);
    expect((err as Error).message).toBe(`another kpulse (pid ${process.pid}) holds the lock on ${path}`);
    first.release();
    const again = acquirePidFile(path);
    again.release();
  });

  test("a stale pidfile (holder gone) does not block", () => {
    const path = join(dir, "kpulse.pid");
    writeFileSync(path, "999999\n");
    acquirePidFile(path).release();
    expect(readFileSync(path, "utf8")).toBe(`${process.pid}\n`);
  });
});
