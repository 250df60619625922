// Last-Event-ID resume across an agent restart within one second, with crafted ids and files:
// the new agent's ids sort BEFORE the old agent's (lower pid, or the same pid and a lower
// random counter start), so nothing may depend on id order. The files are what the sink writes
// (one NDJSON document per line, one file per tracer, in publish order); the window is a real
// bus; the stream is the real watch route over HTTP.
import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { appendFileSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createEventBus, type EventBus } from "../../src/events/bus.ts";
import { documentJson } from "../../src/events/format.ts";
import { createIdGenerator } from "../../src/events/id.ts";
import type { EventRecord } from "../../src/events/record.ts";
import { shapeRecord } from "../../src/events/shape.ts";
import { silentLogger } from "../../src/log.ts";
import { createApp, type RunningServer } from "../../src/server/app.ts";
import { storedEventsAfter, type StoredEvents } from "../../src/server/watch-store.ts";
import { watch } from "../e2e/sse.ts";

const HOST = { hostname: "node-1", region: "r1" };
const MACHINE = new Uint8Array([1, 2, 3]);
/** One second both agents publish in: the old one at +100 ms, the restarted one from +400 ms. */
const SEC = Date.UTC(2026, 0, 2, 3, 4, 5);

/** An agent process: its own id generator, publishing at a given wall-clock time. */
function agent(pid: number, counter: number) {
  const ids = createIdGenerator({ machine: MACHINE, pid, counter });
  return (tracer: string, ms: number, i: number): EventRecord => {
    const r = shapeRecord({ tracerName: tracer, data: { i } }, HOST, ms);
    r.tracer_id = ids(ms);
    return r;
  };
}

// Two restarts that break id order: a lower pid (pids wrap), and the same pid (pid 1 in a
// container) with a lower counter start.
const CASES = [
  { name: "lower pid", old: agent(0x7ff0, 0x100), fresh: agent(0x0123, 0xfff000) },
  { name: "same pid, lower counter", old: agent(1, 0xfff000), fresh: agent(1, 0x100) },
];

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "kpulse-watch-resume-"));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

/** What the sink does: each record appended to its tracer's file, in publish order. */
const write = (recs: EventRecord[]) => {
  for (const r of recs) appendFileSync(join(dir, r.tracer_name), documentJson(r) + "\n");
};

/** The old agent's 30 events (two tracers) then the restarted agent's 10, all in one second. */
function restart(c: (typeof CASES)[number]) {
  const old = Array.from({ length: 30 }, (_, i) => c.old(i % 3 ? "dropwatch" : "oom", SEC + 100 + i, i));
  const fresh = Array.from({ length: 10 }, (_, i) => c.fresh(i % 2 ? "dropwatch" : "oom", SEC + 400 + i, 100 + i));
  // The premise: the restarted agent's ids sort before the old agent's.
  for (const n of fresh) for (const o of old) expect(n.tracer_id < o.tracer_id).toBe(true);
  return { old, fresh };
}

const drain = (s: StoredEvents) => {
  const out: string[] = [];
  for (let r; (r = s.next()) !== undefined; ) out.push(r.tracer_id);
  s.close();
  return out;
};
const ids = (recs: EventRecord[]) => recs.map((r) => r.tracer_id);

describe("storedEventsAfter: the files after an id, in publish order", () => {
  for (const c of CASES) {
    test(`restart within the second (${c.name}): everything after the id, once, in publish order`, () => {
      const { old, fresh } = restart(c);
      write([...old, ...fresh]);
      const s = storedEventsAfter(dir, old[9]!.tracer_id);
      expect(s.found).toBe(true);
      expect(drain(s)).toEqual(ids([...old.slice(10), ...fresh]));
      // From the restarted agent's own events too.
      const t = storedEventsAfter(dir, fresh[3]!.tracer_id);
      expect(t.found).toBe(true);
      expect(drain(t)).toEqual(ids(fresh.slice(4)));
    });
  }

  test("an id not in the files: found is false, the stored events from its second on", () => {
    const { old, fresh } = restart(CASES[0]!);
    write([...old, ...fresh]);
    const unknown = agent(0x4444, 5)("dropwatch", SEC + 200, 0).tracer_id;
    const s = storedEventsAfter(dir, unknown);
    expect(s.found).toBe(false);
    expect(drain(s)).toEqual(ids([...old, ...fresh]));
    // An id of a later second than anything stored: nothing.
    const later = agent(0x4444, 5)("dropwatch", SEC + 60_000, 0).tracer_id;
    expect(drain(storedEventsAfter(dir, later))).toEqual([]);
  });

  test("the search for the id is bounded: past the scan budget it counts as not found", () => {
    const { old } = restart(CASES[0]!);
    write(old);
    const s = storedEventsAfter(dir, old[25]!.tracer_id, 1024); // a few lines' worth
    expect(s.found).toBe(false);
    expect(drain(s)).toEqual(ids(old)); // from its second on: repeats, loses nothing
  });
});

test("a line over 16 MiB (not a document the sink wrote) is skipped; the lines after it are read", () => {
  const { old } = restart(CASES[0]!);
  const drops = old.filter((r) => r.tracer_name === "dropwatch");
  write(drops.slice(0, 5));
  appendFileSync(join(dir, "dropwatch"), "x".repeat(17 * 1024 * 1024) + "\n");
  write(drops.slice(5));
  const s = storedEventsAfter(dir, drops[2]!.tracer_id);
  expect(s.found).toBe(true);
  expect(drain(s)).toEqual(ids(drops.slice(3)));
});

describe("watch route: from the files to the window by identity", () => {
  let bus: EventBus;
  let server: RunningServer;
  let url: string;
  const open = () => {
    bus = createEventBus({ windowSize: 16 });
    const app = createApp({
      renderMetrics: () => "",
      probes: () => [],
      bus,
      watch: { maxClients: 4, keepAliveSec: 30, ceMode: "kpulse", storeDir: dir },
      version: { name: "kpulse", version: "0", bun: Bun.version },
      log: silentLogger,
      ready: () => true,
    });
    server = app.serve("127.0.0.1:0");
    url = `http://127.0.0.1:${server.port}`;
  };
  afterEach(async () => {
    await server?.stop();
  });

  /** Resume with Last-Event-ID; the ids of the first `n` events sent (and then 100 ms more). */
  async function resume(lastId: string, n: number) {
    const w = await watch(url, {}, { "Last-Event-ID": lastId });
    try {
      expect(w.status).toBe(200);
      const events = () => w.frames.filter((f) => f.data !== undefined);
      const deadline = Date.now() + 5000;
      while (events().length < n && Date.now() < deadline) await Bun.sleep(10);
      await Bun.sleep(100); // a duplicate would arrive now
      return { ids: events().map((f) => f.id), comments: w.frames.flatMap((f) => (f.comment ? [f.comment] : [])) };
    } finally {
      w.close();
    }
  }

  for (const c of CASES) {
    test(`restart within the second (${c.name}): the old agent's rest from the files, then the window`, async () => {
      const { old, fresh } = restart(c);
      open();
      // The restarted agent holds its own events in its window, and has written them too.
      for (const r of fresh) bus.publish(r);
      write([...old, ...fresh]);
      const got = await resume(old[9]!.tracer_id, 30);
      expect(got.comments).toContain("resuming from the local files");
      expect(got.ids).toEqual(ids([...old.slice(10), ...fresh]));
    });
  }

  test("the window's oldest record never written (the sink refused it): still once, from the window", async () => {
    const { old, fresh } = restart(CASES[1]!);
    open();
    for (const r of fresh) bus.publish(r);
    write([...old, ...fresh.slice(1)]);
    const got = await resume(old[9]!.tracer_id, 30);
    expect(got.ids).toEqual(ids([...old.slice(10), ...fresh]));
  });

  test("unknown ids: a valid xid resumes from its second; anything else streams live only", async () => {
    const { old, fresh } = restart(CASES[0]!);
    open();
    for (const r of fresh) bus.publish(r);
    write([...old, ...fresh]);
    const unknown = agent(0x4444, 5)("dropwatch", SEC + 200, 0).tracer_id;
    const a = await resume(unknown, 40);
    expect(a.comments).toContain("last-event-id not found in the window or the local files; sending the stored events from its second on");
    expect(a.ids).toEqual(ids([...old, ...fresh]));
    const b = await resume("not-an-id", 0);
    expect(b.comments).toContain("last-event-id is no longer in the replay buffer; streaming live events only");
    expect(b.ids).toEqual([]);
  });
});
