import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, statSync, unlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createEventBus } from "../../src/events/bus.ts";
import { shapeRecord } from "../../src/events/shape.ts";
import type { EventRecord } from "../../src/events/record.ts";
import { cloudEventJson, documentJson } from "../../src/events/format.ts";
import { huatuoTime, rfc3339NanoLocal } from "../../src/events/time.ts";
import { fileNameFor, LocalFileWriter, startLocalFileSink } from "../../src/storage/localfile.ts";
import { silentLogger } from "../../src/log.ts";

const HOST = { hostname: "node-1", region: "r" };
let dir: string;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "kpulse-localfile-"));
});
afterEach(() => {
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
  test("one NDJSON file per tracer, HUATUO naming, dir 0755", () => {
    const sub = join(dir, "huatuo-local");
    const w = new LocalFileWriter({ dir: sub, rotationSizeMiB: 1, maxRotation: 2 });
    const a = [rec("oom", { victim: "x\ny" }), rec("oom", { n: 2 })];
    const b = [rec("hungtask")];
    w.append("oom", [...a]);
    w.append("hungtask", [...b]);
    w.close();
    expect(readdirSync(sub).sort()).toEqual(["hungtask", "oom"]);
    expect(statSync(sub).mode & 0o777).toBe(0o755);
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
    expect(errors[0]).toContain("will retry");
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
