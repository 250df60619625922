import { describe, expect, test } from "bun:test";
import { createIdGenerator, decodeXid, encodeXid, newTracerId, xidTime } from "../../src/events/id.ts";
import { huatuoTime, parseHuatuoTime, rfc3339NanoLocal, rfc3339NanoUTC, rotationStamp, toUTCRfc3339Nano } from "../../src/events/time.ts";
import { shapeRecord } from "../../src/events/shape.ts";
import { compileFilters } from "../../src/events/filter.ts";
import { toCloudEvent } from "../../src/events/cloudevent.ts";
import { createEventBus } from "../../src/events/bus.ts";
import { cloudEventJson, documentJson } from "../../src/events/format.ts";
import { dataJson, type EventRecord } from "../../src/events/record.ts";

const HOST = { hostname: "node-1", region: "cn-test" };
const T = Date.UTC(2026, 4, 18, 10, 23, 45, 123); // 2026-05-18T10:23:45.123Z

function rec(tracer: string, extra: Partial<EventRecord> = {}): EventRecord {
  return { ...shapeRecord({ tracerName: tracer, data: { n: 1 } }, HOST), ...extra };
}

/** Run `fn` with TZ set, restoring it afterwards (Bun re-reads TZ when it changes). */
function withTZ<T>(tz: string, fn: () => T): T {
  const old = process.env.TZ;
  process.env.TZ = tz;
  try {
    return fn();
  } finally {
    if (old === undefined) delete process.env.TZ;
    else process.env.TZ = old;
  }
}

describe("xid ids", () => {
  test("known vector from rs/xid", () => {
    const bytes = new Uint8Array([0x4d, 0x88, 0xe1, 0x5b, 0x60, 0xf4, 0x86, 0xe4, 0x28, 0x41, 0x2d, 0xc9]);
    expect(encodeXid(bytes)).toBe("9m4e2mr0ui3e8a215n4g");
    expect(decodeXid("9m4e2mr0ui3e8a215n4g")).toEqual(bytes);
    expect(xidTime("9m4e2mr0ui3e8a215n4g")).toBe(1300816219);
  });

  test("format, embedded fields", () => {
    const gen = createIdGenerator({ machine: new Uint8Array([1, 2, 3]), pid: 0x1234, counter: 41 });
    const id = gen(T);
    expect(id).toMatch(/^[0-9a-v]{20}$/);
    const b = decodeXid(id)!;
    expect(xidTime(id)).toBe(Math.floor(T / 1000));
    expect([...b.subarray(4, 7)]).toEqual([1, 2, 3]);
    expect((b[7] << 8) | b[8]).toBe(0x1234);
    expect((b[9] << 16) | (b[10] << 8) | b[11]).toBe(42);
    expect(newTracerId()).toMatch(/^[0-9a-v]{20}$/);
  });

  test("unique and sortable in creation order", () => {
    const gen = createIdGenerator({ counter: 0 });
    const ids: string[] = [];
    for (let i = 0; i < 10000; i++) ids.push(gen(T + i * 7)); // spans several seconds
    expect(new Set(ids).size).toBe(ids.length);
    expect([...ids].sort()).toEqual(ids);
    // Time dominates the counter.
    const late = createIdGenerator({ counter: 0xfffff0 })(T + 1000);
    expect(late > gen(T)).toBe(true);
  });

  test("default generator ids are unique", () => {
    const ids = new Set(Array.from({ length: 5000 }, () => newTracerId()));
    expect(ids.size).toBe(5000);
  });
});

describe("time formats", () => {
  test("HUATUO layout with local offset", () => {
    expect(withTZ("UTC", () => huatuoTime(T))).toBe("2026-05-18 10:23:45.123 +0000");
    expect(withTZ("Asia/Shanghai", () => huatuoTime(T))).toBe("2026-05-18 18:23:45.123 +0800");
    expect(withTZ("America/New_York", () => huatuoTime(T))).toBe("2026-05-18 06:23:45.123 -0400");
    expect(withTZ("Asia/Kolkata", () => huatuoTime(T))).toBe("2026-05-18 15:53:45.123 +0530");
  });

  test("RFC3339Nano local, Go trimming rules", () => {
    expect(withTZ("Asia/Shanghai", () => rfc3339NanoLocal(T))).toBe("2026-05-18T18:23:45.123+08:00");
    expect(withTZ("UTC", () => rfc3339NanoLocal(T))).toBe("2026-05-18T10:23:45.123Z");
    expect(withTZ("UTC", () => rfc3339NanoLocal(T - 123))).toBe("2026-05-18T10:23:45Z");
    expect(withTZ("UTC", () => rfc3339NanoLocal(T - 23))).toBe("2026-05-18T10:23:45.1Z");
    expect(withTZ("UTC", () => rfc3339NanoLocal(T, 456789))).toBe("2026-05-18T10:23:45.123456789Z");
  });

  test("RFC3339Nano UTC and conversion keep every digit", () => {
    expect(rfc3339NanoUTC(T)).toBe("2026-05-18T10:23:45.123Z");
    expect(toUTCRfc3339Nano("2026-05-18T18:23:45.123456789+08:00")).toBe("2026-05-18T10:23:45.123456789Z");
    expect(toUTCRfc3339Nano("2026-05-18T00:10:00-05:30")).toBe("2026-05-18T05:40:00Z");
    expect(toUTCRfc3339Nano("2026-05-18T10:23:45.5Z")).toBe("2026-05-18T10:23:45.5Z");
    expect(toUTCRfc3339Nano("garbage")).toBe("garbage");
  });

  test("rotation stamp", () => {
    expect(withTZ("Asia/Shanghai", () => rotationStamp(T))).toBe("2026-05-18T18-23-45.123");
  });
});

describe("shapeRecord", () => {
  /** The record as its document: where the formatted times and HUATUO's key order live now. */
  const doc = (r: EventRecord) => JSON.parse(documentJson(r)) as Record<string, unknown>;

  test("host fields, times, id, default type, no container fields", () => {
    const r = shapeRecord({ tracerName: "oom", timeMs: T - 5000, data: { pid: 7 } }, HOST, T);
    // The record carries numbers; nothing is formatted at publish time.
    expect(r).toMatchObject({ timeMs: T - 5000, uploadedMs: T });
    expect(Object.values(r).some((v) => typeof v === "string" && /^\d{4}-\d\d-\d\d/.test(v))).toBe(false);
    const d = withTZ("Asia/Shanghai", () => doc(r));
    expect(d).toMatchObject({
      hostname: "node-1",
      region: "cn-test",
      uploaded_time: "2026-05-18T18:23:45.123+08:00",
      time: "2026-05-18 18:23:40.123 +0800",
      tracer_time: "2026-05-18 18:23:40.123 +0800",
      tracer_name: "oom",
      tracer_type: "event",
      tracer_data: { pid: 7 },
    });
    expect(r.tracer_id).toMatch(/^[0-9a-v]{20}$/);
    expect(d.tracer_id).toBe(r.tracer_id);
    expect(Object.keys(r).some((k) => k.startsWith("container_"))).toBe(false);
    // HUATUO's document key order.
    expect(Object.keys(d)).toEqual([
      "hostname", "region", "uploaded_time", "time", "tracer_name", "tracer_id", "tracer_time", "tracer_type", "tracer_data",
    ]);
  });

  test("container fields when present; autotracing type; time defaults to now", () => {
    const container = {
      container_id: "abc",
      container_hostname: "pod-1",
      container_host_namespace: "prod",
      container_type: "normal",
      container_qos: "guaranteed",
    };
    const r = shapeRecord({ tracerName: "memburst", tracerType: "autotracing", container, data: {} }, HOST, T);
    expect(r).toMatchObject(container);
    expect(r.tracer_type).toBe("autotracing");
    expect(r.timeMs).toBe(T);
    expect(withTZ("UTC", () => doc(r)).tracer_time).toBe("2026-05-18 10:23:45.123 +0000");
  });
});

describe("watch filters", () => {
  const r = rec("oom", { container_host_namespace: "prod", container_hostname: "web-1", container_qos: "burstable" });

  test("empty bodies match everything", () => {
    for (const body of [undefined, null, {}, { filters: {} }, { filters: { tracer_name: "" } }]) {
      const f = compileFilters(body);
      expect(f.ok).toBe(true);
      if (f.ok) expect(f.match(r)).toBe(true);
    }
  });

  test("unanchored regexes, ANDed", () => {
    const m = (filters: Record<string, string>, x = r) => {
      const f = compileFilters({ filters });
      if (!f.ok) throw new Error(f.error);
      return f.match(x);
    };
    expect(m({ tracer_name: "oo" })).toBe(true);
    expect(m({ tracer_name: "^oom$" })).toBe(true);
    expect(m({ tracer_name: "^oo$" })).toBe(false);
    expect(m({ tracer_name: "netdev|oom", hostname: "^node-" })).toBe(true);
    expect(m({ tracer_name: "oom", region: "^us-" })).toBe(false);
    expect(m({ container_host_namespace: "^prod$", container_qos: "burst" })).toBe(true);
    expect(m({ container_hostname: "web" }, rec("oom"))).toBe(false); // absent field is ""
    expect(m({ tracer_name: "(?i)OOM" })).toBe(true); // Go inline flag
  });

  test("errors: unknown field, bad regex, wrong types", () => {
    const err = (body: unknown) => {
      const f = compileFilters(body);
      expect(f.ok).toBe(false);
      return f.ok ? "" : f.error;
    };
    expect(err({ filters: { container_id: "x" } })).toContain('unknown filter field "container_id"');
    expect(err({ filters: { tracer_name: "(" } })).toContain('filter "tracer_name"');
    expect(err({ filters: { hostname: 5 } })).toContain('"hostname" must be a string');
    // unknown top-level keys are ignored, as HUATUO does; unknown filter fields are not
    expect(compileFilters({ filter: {}, extra: 1 }).ok).toBe(true);
    expect(err([])).toContain("JSON object");
    expect(err({ filters: "x" })).toContain('"filters" must be an object');
  });
});

describe("CloudEvent envelope", () => {
  const r = withTZ("Asia/Shanghai", () =>
    shapeRecord(
      {
        tracerName: "oom",
        data: { victim: "java" },
        container: {
          container_id: "c1",
          container_hostname: "pod",
          container_host_namespace: "prod",
          container_type: "normal",
          container_qos: "guaranteed",
        },
      },
      HOST,
      T,
    ),
  );

  test("kpulse mode", () => {
    const ce = toCloudEvent(r, "kpulse");
    expect(ce).toEqual({
      specversion: "1.0",
      id: r.tracer_id,
      source: "/kpulse/node-1/oom",
      type: "io.kpulse.kernel.event",
      datacontenttype: "application/json",
      time: "2026-05-18T10:23:45.123Z",
      data: {
        hostname: "node-1",
        region: "cn-test",
        observed_timestamp: "2026-05-18T10:23:45.123Z", // tracer_time in UTC
        container_id: "c1",
        container_hostname: "pod",
        container_host_namespace: "prod",
        container_type: "normal",
        container_qos: "guaranteed",
        tracer_name: "oom",
        tracer_id: r.tracer_id,
        tracer_run_type: "auto",
        tracer_type: "event",
        tracer_data: { victim: "java" },
      },
    });
  });

  test("huatuo mode; no container fields for host events", () => {
    const ce = toCloudEvent(rec("softlockup"), "huatuo");
    expect(ce.type).toBe("tech.huatuo.kernel.event");
    expect(ce.source).toBe("/huatuo/node-1/softlockup");
    expect(ce.time).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/);
    expect(Object.keys(ce.data).some((k) => k.startsWith("container_"))).toBe(false);
    expect(ce.data.tracer_data).toEqual({ n: 1 });
  });
});

describe("event bus", () => {
  test("fan-out with filters; async iterator and next()", async () => {
    const bus = createEventBus();
    const all = bus.subscribe({ name: "a", queueSize: 10 });
    const ooms = bus.subscribe({ name: "b", queueSize: 10, filter: (r) => r.tracer_name === "oom" });
    const a = rec("oom");
    const b = rec("hungtask");
    bus.publish(a);
    bus.publish(b);
    expect(await all.next()).toBe(a);
    expect(await all.next()).toBe(b);
    expect(ooms.tryNext()).toBe(a);
    expect(ooms.tryNext()).toBeUndefined();

    const got: string[] = [];
    const done = (async () => {
      for await (const r of ooms) got.push(r.tracer_id);
    })();
    const c = rec("oom");
    bus.publish(c);
    bus.publish(rec("dload"));
    await Bun.sleep(0);
    ooms.close();
    await done;
    expect(got).toEqual([c.tracer_id]);
    expect(bus.stats().published).toEqual({ oom: 2, hungtask: 1, dload: 1 });
    expect(bus.stats().published_total).toBe(4);
  });

  test("a waiting next() is woken by publish", async () => {
    const bus = createEventBus();
    const s = bus.subscribe({ queueSize: 1 });
    const p = s.next();
    const r = rec("oom");
    bus.publish(r);
    expect(await p).toBe(r);
    const q = s.next();
    s.close();
    expect(await q).toBeUndefined();
  });

  test("bounded queue: a slow subscriber drops and counts, others unaffected", () => {
    const bus = createEventBus();
    const dropped: string[] = [];
    const slow = bus.subscribe({ name: "watch", queueSize: 3, onDrop: (r) => dropped.push(r.tracer_id) });
    const fast = bus.subscribe({ name: "localfile", queueSize: 100 });
    const recs = Array.from({ length: 10 }, () => rec("oom"));
    for (const r of recs) {
      bus.publish(r);
      expect(fast.tryNext()).toBe(r);
    }
    expect(slow.queued).toBe(3);
    expect(slow.dropped).toBe(7);
    expect(dropped).toEqual(recs.slice(3).map((r) => r.tracer_id));
    expect([slow.tryNext(), slow.tryNext(), slow.tryNext()]).toEqual(recs.slice(0, 3));
    const st = bus.stats();
    expect(st.dropped).toEqual({ watch: 7, localfile: 0 });
    expect(st.subscribers).toContainEqual({ name: "watch", queued: 0, queue_size: 3, dropped: 7 });
    // Drops survive the subscriber (counters are monotonic).
    slow.close();
    expect(bus.stats().dropped.watch).toBe(7);
    expect(bus.stats().subscribers.map((s) => s.name)).toEqual(["localfile"]);
  });

  test("a throwing filter or onDrop never breaks publish", () => {
    const bus = createEventBus();
    bus.subscribe({ queueSize: 1, filter: () => { throw new Error("x"); } });
    bus.subscribe({ queueSize: 1, onDrop: () => { throw new Error("y"); } });
    const ok = bus.subscribe({ queueSize: 5 });
    expect(() => { bus.publish(rec("oom")); bus.publish(rec("oom")); }).not.toThrow();
    expect(ok.queued).toBe(2);
  });

  test("replay after a known id, filtered; unknown id starts live", () => {
    const bus = createEventBus({ windowSize: 5 });
    const recs = Array.from({ length: 8 }, (_, i) => rec(i % 2 ? "oom" : "dload"));
    for (const r of recs) bus.publish(r);
    // The window holds recs[3..7].
    const s = bus.subscribe({ queueSize: 4, after: recs[4].tracer_id });
    expect(s.resume).toBe("replayed");
    expect(s.replayed).toBe(3);
    const f = bus.subscribe({ queueSize: 2, after: recs[3].tracer_id, filter: (r) => r.tracer_name === "oom" });
    expect([f.tryNext(), f.tryNext(), f.tryNext()]).toEqual([recs[5], recs[7], undefined]);
    const gone = bus.subscribe({ queueSize: 2, after: recs[1].tracer_id });
    expect(gone.resume).toBe("unknown");
    expect(gone.queued).toBe(0);
    const latest = bus.subscribe({ queueSize: 2, after: recs[7].tracer_id });
    expect(latest.resume).toBe("replayed");
    expect(latest.queued).toBe(0);
    const live = rec("oom");
    bus.publish(live);
    expect([s.tryNext(), s.tryNext(), s.tryNext(), s.tryNext()]).toEqual([recs[5], recs[6], recs[7], live]);
    expect(gone.tryNext()).toBe(live);
  });

  test("bus.close ends every subscription", async () => {
    const bus = createEventBus();
    const s = bus.subscribe({ queueSize: 1 });
    const p = s.next();
    bus.close();
    expect(await p).toBeUndefined();
    expect(s.closed).toBe(true);
  });
});

describe("formatted once per output", () => {
  const CONTAINER = {
    container_id: "c0ffee",
    container_hostname: 'pod-"1"',
    container_host_namespace: "prod",
    container_type: "normal",
    container_qos: "guaranteed",
  };
  const DATA = () => ({
    comm: 'sh "x"\\', pid: 42, ratio: 1.5, big: 2 ** 53, neg: -0, list: [1, "a", null],
    nested: { k: null, s: "é\u0001" }, stack: "kfree_skb+0x0\nip_rcv+0x1f\n",
  });
  const EVENT_MS = T - 5000 + 0.75; // a fraction below the millisecond, as dropwatch's clock gives

  /**
   * Each case: what JSON.stringify printed for the record shaped with string times before
   * the record kept numbers. The strings are written out by hand from the Go layouts.
   */
  const CASES = [
    { tz: "UTC", uploaded: "2026-05-18T10:23:45.123Z", time: "2026-05-18 10:23:40.123 +0000" },
    { tz: "Asia/Shanghai", uploaded: "2026-05-18T18:23:45.123+08:00", time: "2026-05-18 18:23:40.123 +0800" },
  ];

  for (const { tz, uploaded, time } of CASES) {
    for (const withContainer of [false, true]) {
      test(`documentJson = the old document bytes (TZ ${tz}, ${withContainer ? "container" : "host"} event)`, () => {
        const ev = { tracerName: "oom", timeMs: EVENT_MS, data: DATA(), ...(withContainer ? { container: CONTAINER } : {}) };
        const r = shapeRecord(ev, HOST, T);
        const old = {
          hostname: "node-1",
          region: "cn-test",
          uploaded_time: uploaded,
          time,
          ...(withContainer ? CONTAINER : {}),
          tracer_name: "oom",
          tracer_id: r.tracer_id,
          tracer_time: time,
          tracer_type: "event",
          tracer_data: DATA(),
        };
        expect(withTZ(tz, () => documentJson(r))).toBe(JSON.stringify(old));
      });
    }
  }

  test("documentJson: Go trims the fraction; empty container fields are omitted", () => {
    const r = shapeRecord({ tracerName: "x", timeMs: T - 123, container: { ...CONTAINER, container_type: "", container_qos: "" }, data: {} }, HOST, T - 23);
    expect(withTZ("UTC", () => documentJson(r))).toBe(
      '{"hostname":"node-1","region":"cn-test","uploaded_time":"2026-05-18T10:23:45.1Z","time":"2026-05-18 10:23:45.000 +0000",' +
        '"container_id":"c0ffee","container_hostname":"pod-\\"1\\"","container_host_namespace":"prod",' +
        `"tracer_name":"x","tracer_id":"${r.tracer_id}","tracer_time":"2026-05-18 10:23:45.000 +0000","tracer_type":"event","tracer_data":{}}`,
    );
  });

  for (const mode of ["kpulse", "huatuo"] as const) {
    for (const withContainer of [false, true]) {
      test(`cloudEventJson = the old CloudEvent bytes (${mode}, ${withContainer ? "container" : "host"} event, any TZ)`, () => {
        const ev = { tracerName: "oom", timeMs: EVENT_MS, data: DATA(), ...(withContainer ? { container: CONTAINER } : {}) };
        const r = shapeRecord(ev, HOST, T);
        const expected = JSON.stringify({
          specversion: "1.0",
          id: r.tracer_id,
          source: `/${mode}/node-1/oom`,
          type: mode === "kpulse" ? "io.kpulse.kernel.event" : "tech.huatuo.kernel.event",
          datacontenttype: "application/json",
          time: "2026-05-18T10:23:45.123Z", // uploaded_time in UTC
          data: {
            hostname: "node-1",
            region: "cn-test",
            observed_timestamp: "2026-05-18T10:23:40.123Z", // tracer_time (whole ms) in UTC
            ...(withContainer ? CONTAINER : {}),
            tracer_name: "oom",
            tracer_id: r.tracer_id,
            tracer_run_type: "auto",
            tracer_type: "event",
            tracer_data: DATA(),
          },
        });
        for (const tz of ["UTC", "Asia/Shanghai", "America/New_York"]) {
          expect(withTZ(tz, () => cloudEventJson(r, mode))).toBe(expected);
          expect(withTZ(tz, () => JSON.stringify(toCloudEvent(r, mode)))).toBe(expected);
        }
      });
    }
  }

  test("cloudEventJson: whole seconds print no fraction", () => {
    const r = shapeRecord({ tracerName: "oom", timeMs: T - 123, data: {} }, HOST, T - 23);
    const ce = JSON.parse(cloudEventJson(r, "kpulse"));
    expect(ce.time).toBe("2026-05-18T10:23:45.1Z");
    expect(ce.data.observed_timestamp).toBe("2026-05-18T10:23:45Z");
  });

  test("tracer_data is serialized once for every output", () => {
    let calls = 0;
    const probe = { toJSON: () => (calls++, "probe") };
    const r = shapeRecord({ tracerName: "oom", data: { probe, n: 1 } }, HOST, T);
    const doc = documentJson(r);
    const ce = cloudEventJson(r, "kpulse");
    const ce2 = cloudEventJson(r, "huatuo");
    expect(documentJson(r)).toBe(doc); // a second document sink gets the cached line
    expect(toCloudEvent(r, "kpulse").data.tracer_data).toBe(r.tracer_data);
    // Any JSON.stringify over tracer_data (or the whole record) would call toJSON again.
    expect(calls).toBe(1);
    expect(dataJson(r)).toBe('{"probe":"probe","n":1}');
    expect(JSON.parse(doc).tracer_data).toEqual({ probe: "probe", n: 1 });
    expect(JSON.parse(ce).data.tracer_data).toEqual({ probe: "probe", n: 1 });
    expect(JSON.parse(ce2).data.tracer_data).toEqual({ probe: "probe", n: 1 });
  });
});

describe("event bus: filters run on the consumer side", () => {
  test("publish never calls a subscriber's filter; reading does", async () => {
    const bus = createEventBus();
    let calls = 0;
    const s = bus.subscribe({ name: "watch", queueSize: 10, filter: (r) => (calls++, r.tracer_name === "oom") });
    const [a, b, c] = [rec("oom"), rec("dload"), rec("oom")];
    bus.publish(a);
    bus.publish(b);
    bus.publish(c);
    expect(calls).toBe(0);
    expect(s.queued).toBe(3); // queued before filtering
    expect(s.tryNext()).toBe(a);
    expect(calls).toBe(1);
    expect(await s.next()).toBe(c); // b was read, rejected and discarded
    expect(calls).toBe(3);
    expect(s.tryNext()).toBeUndefined();
    expect(s.queued).toBe(0);
  });

  test("a full queue drops before filtering (documented accounting)", () => {
    const bus = createEventBus();
    let calls = 0;
    const s = bus.subscribe({ name: "watch", queueSize: 2, filter: (r) => (calls++, r.tracer_name === "oom") });
    for (const t of ["dload", "dload", "oom"]) bus.publish(rec(t));
    expect(calls).toBe(0);
    expect(s.dropped).toBe(1); // the oom record: the queue was full of records the filter rejects
    expect(s.tryNext()).toBeUndefined();
    expect(calls).toBe(2);
  });

  test("replay applies the filter; later publishes still do not", () => {
    const bus = createEventBus();
    const recs = [rec("oom"), rec("dload"), rec("oom")];
    for (const r of recs) bus.publish(r);
    let calls = 0;
    const s = bus.subscribe({ queueSize: 4, after: recs[0].tracer_id, filter: (r) => (calls++, r.tracer_name === "oom") });
    expect(s.replayed).toBe(1);
    const during = calls;
    bus.publish(rec("dload"));
    expect(calls).toBe(during);
    expect([s.tryNext(), s.tryNext()]).toEqual([recs[2], undefined]);
  });

  test("a throwing filter rejects at read time", () => {
    const bus = createEventBus();
    const s = bus.subscribe({ queueSize: 2, filter: () => { throw new Error("x"); } });
    expect(() => bus.publish(rec("oom"))).not.toThrow();
    expect(s.tryNext()).toBeUndefined();
  });
});

describe("parseHuatuoTime", () => {
  test("round-trips huatuoTime to the millisecond", () => {
    const ms = Date.UTC(2026, 4, 18, 10, 23, 45, 123);
    expect(parseHuatuoTime(huatuoTime(ms))).toBe(ms);
    expect(parseHuatuoTime("2025-06-11 16:05:16.251 +0800")).toBe(Date.UTC(2025, 5, 11, 8, 5, 16, 251));
    expect(parseHuatuoTime("not a time")).toBeUndefined();
  });
});

describe("linear-time watch filters", () => {
  test("a catastrophic-backtracking filter is answered quickly", () => {
    const f = compileFilters({ filters: { tracer_name: "(.*)*(.*)*(.*)*(.*)*X" } });
    if (!f.ok) throw new Error(f.error);
    const long = rec("a".repeat(10_000));
    const short = Array.from({ length: 300 }, (_, i) => rec("a".repeat(20 + (i % 40))));
    let matched = 0;
    const t = performance.now();
    if (f.match(long)) matched++;
    for (const r of short) if (f.match(r)) matched++;
    const ms = performance.now() - t;
    expect(matched).toBe(0);
    expect(ms).toBeLessThan(50);
    expect(f.match(rec("a".repeat(5_000) + "X"))).toBe(true);
  });

  test("filter values are bounded in length and complexity", () => {
    const err = (body: unknown) => {
      const f = compileFilters(body);
      return f.ok ? "" : f.error;
    };
    expect(err({ filters: { hostname: "a".repeat(4097) } })).toBe('filter "hostname" is too long: 4097 characters, the limit is 4096');
    expect(compileFilters({ filters: { hostname: "a".repeat(4096) } }).ok).toBe(true);
    const t = performance.now();
    expect(err({ filters: { region: ".{1000}".repeat(500) } })).toContain('filter "region": invalid regex: regular expression too complex');
    expect(err({ filters: { region: "((a{1000}){1000}){1000}" } })).toContain("invalid repeat count");
    expect(performance.now() - t).toBeLessThan(50);
  });

  test("Go-only syntax is rejected as Go rejects it", () => {
    for (const [re, why] of [["(a)\\1", "invalid escape sequence"], ["(?=x)", "Perl syntax"], ["a**", "nested repetition"]]) {
      const f = compileFilters({ filters: { tracer_name: re } });
      expect(f.ok ? "" : f.error).toContain(why!);
    }
    const f = compileFilters({ filters: { tracer_name: "^(?P<t>oom|softlockup)$" } });
    expect(f.ok && f.match(rec("oom")) && !f.match(rec("oomx"))).toBe(true);
  });
});

describe("event bus: the shared window read by cursors (watch delivery)", () => {
  test("readers see every record of a burst the window holds; publish never runs their filter", () => {
    const bus = createEventBus({ windowSize: 8 });
    let calls = 0;
    const all = bus.reader();
    const ooms = bus.reader({ filter: (r) => (calls++, r.tracer_name === "oom") });
    const recs = Array.from({ length: 6 }, (_, i) => rec(i % 2 ? "oom" : "dload"));
    for (const r of recs) bus.publish(r);
    expect(calls).toBe(0);
    expect(all.lag()).toBe(6);
    const got: EventRecord[] = [];
    for (let r; (r = all.tryNext()) !== undefined; ) got.push(r);
    expect(got).toEqual(recs);
    expect(all.lag()).toBe(0);
    expect([ooms.tryNext(), ooms.tryNext(), ooms.tryNext(), ooms.tryNext()]).toEqual([recs[1], recs[3], recs[5], undefined]);
    expect(ooms.last).toBe(5);
  });

  test("a reader the window overtook is behind by exactly the records it lost", () => {
    const bus = createEventBus({ windowSize: 4 });
    const r = bus.reader();
    const recs = Array.from({ length: 10 }, () => rec("oom"));
    for (const x of recs) bus.publish(x);
    expect(r.behind()).toBe(6);
    expect(r.lag()).toBe(10);
    expect(r.tryNext()).toBeUndefined(); // nothing is handed out while behind
    r.skipLost();
    expect([r.tryNext(), r.tryNext(), r.tryNext(), r.tryNext(), r.tryNext()]).toEqual([...recs.slice(6), undefined]);
  });

  test("find/at/oldest/head locate a tracer_id for Last-Event-ID", () => {
    const bus = createEventBus({ windowSize: 3 });
    const recs = Array.from({ length: 5 }, () => rec("oom"));
    for (const x of recs) bus.publish(x);
    expect([bus.head(), bus.oldest()]).toEqual([5, 2]);
    expect(bus.find(recs[3]!.tracer_id)).toBe(3);
    expect(bus.find(recs[1]!.tracer_id)).toBeUndefined();
    expect(bus.at(4)).toBe(recs[4]);
    expect(bus.at(1)).toBeUndefined();
    const r = bus.reader({ from: 3 });
    expect(r.tryNext()).toBe(recs[3]);
  });

  test("one wake-up per event-loop turn, however many records were published", async () => {
    const bus = createEventBus();
    const r = bus.reader();
    let woken = 0;
    const p = r.ready().then(() => woken++);
    for (let i = 0; i < 1000; i++) bus.publish(rec("oom"));
    expect(woken).toBe(0); // publish ran no reader code
    await p;
    expect(woken).toBe(1);
    expect(r.lag()).toBe(1000);
    bus.close();
    expect(r.closed).toBe(true);
    await r.ready(); // resolves at once once closed
  });
});
