// The OpenSearch sink's spool on real files: order, the cursor across restarts, torn lines,
// the size bound (oldest dropped, counted), a real full disk (tmpfs), the dead-letter file.
import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { spawnSync } from "bun";
import { appendFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseConfig } from "../../src/config/load.ts";
import { configSchema } from "../../src/probes/config-schema.ts";
import { probeTable } from "../../src/probes/registry.ts";
import { openSearchSettings } from "../../src/storage/opensearch.ts";
import { DeadLetterFile, Spool } from "../../src/storage/spool.ts";

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "kpulse-spool-"));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const doc = (i: number, pad = 0) => JSON.stringify({ tracer_id: `id${i}`, i, pad: "x".repeat(pad) });
const segments = () => readdirSync(dir).filter((f) => /^\d{16}\.ndjson$/.test(f)).sort();

/** Read and commit everything; returns the lines in order. */
async function drain(s: Spool, batch = 100): Promise<string[]> {
  const out: string[] = [];
  for (let b; (b = await s.read(batch, 1 << 20)); ) {
    out.push(...b.lines);
    expect(s.commit(b)).toBe(true);
  }
  return out;
}

describe("Spool", () => {
  test("lines come back in order across segments; consumed segments and the cursor go away", async () => {
    const s = new Spool({ dir, maxBytes: 1 << 20, segmentBytes: 4096 });
    const docs = Array.from({ length: 500 }, (_, i) => doc(i, 20));
    for (let i = 0; i < docs.length; i += 50) await s.append(docs.slice(i, i + 50));
    expect(s.pendingEvents).toBe(500);
    expect(segments().length).toBeGreaterThan(5);
    expect(await drain(s, 37)).toEqual(docs);
    expect(s.pendingEvents).toBe(0);
    expect(s.pendingBytes).toBe(0);
    expect(segments()).toEqual([]);
    expect(existsSync(join(dir, "cursor"))).toBe(false);
    await s.close();
  });

  test("a restart resumes at the cursor: committed lines are not read again", async () => {
    const s = new Spool({ dir, maxBytes: 1 << 20, segmentBytes: 2048 });
    const docs = Array.from({ length: 200 }, (_, i) => doc(i, 10));
    await s.append(docs);
    let taken = 0;
    while (taken < 120) {
      const b = (await s.read(30, 1 << 20))!;
      s.commit(b);
      taken += b.lines.length;
    }
    const uncommitted = await s.read(10, 1 << 20); // read, sent maybe, not committed: read again after the restart
    expect(uncommitted).toBeDefined();
    await s.close();
    const again = new Spool({ dir, maxBytes: 1 << 20, segmentBytes: 2048 });
    expect(again.recovery.events).toBe(200 - taken);
    expect(await drain(again)).toEqual(docs.slice(taken));
    await again.close();
  });

  test("a torn last line (a write cut by kill -9) is cut at the next open; a whole one that lost its newline is kept", async () => {
    const s = new Spool({ dir, maxBytes: 1 << 20 });
    await s.append([doc(1), doc(2)]);
    await s.close();
    const seg = join(dir, segments()[0]!);
    const torn = '{"tracer_id":"id3","i":3,"pa';
    appendFileSync(seg, torn);
    const a = new Spool({ dir, maxBytes: 1 << 20 });
    expect(a.recovery).toMatchObject({ events: 2, repairedBytes: torn.length });
    // Appending after the repair gives whole lines only.
    await a.append([doc(4)]);
    await a.close();
    expect(readFileSync(seg, "utf8")).toBe([doc(1), doc(2), doc(4)].join("\n") + "\n");

    appendFileSync(seg, doc(5)); // complete, only the newline missing
    const b = new Spool({ dir, maxBytes: 1 << 20 });
    expect(b.recovery).toMatchObject({ events: 4, repairedBytes: 0 });
    expect(await drain(b)).toEqual([doc(1), doc(2), doc(4), doc(5)]);
    await b.close();
  });

  test("a cursor that points inside a line (a damaged cursor file) moves to the next line", async () => {
    const s = new Spool({ dir, maxBytes: 1 << 20 });
    await s.append([doc(1), doc(2), doc(3)]);
    await s.close();
    const seq = Number(segments()[0]!.slice(0, 16));
    writeFileSync(join(dir, "cursor"), `${seq} 5\n`);
    const again = new Spool({ dir, maxBytes: 1 << 20 });
    expect(await drain(again)).toEqual([doc(2), doc(3)]);
    await again.close();
  });

  test("past maxBytes the oldest segments are deleted and their unsent events counted; the newest stay", async () => {
    const s = new Spool({ dir, maxBytes: 64 * 1024, segmentBytes: 8 * 1024 });
    const docs = Array.from({ length: 1000 }, (_, i) => doc(i, 200));
    for (let i = 0; i < docs.length; i += 10) await s.append(docs.slice(i, i + 10));
    expect(s.diskBytes).toBeLessThanOrEqual(64 * 1024);
    expect(s.dropped).toBeGreaterThan(0);
    expect(s.dropped + s.pendingEvents).toBe(1000);
    const left = await drain(s);
    expect(left).toEqual(docs.slice(1000 - left.length));
    await s.close();
  });

  test("a segment being sent from is not deleted to make room", async () => {
    const s = new Spool({ dir, maxBytes: 64 * 1024, segmentBytes: 8 * 1024 });
    await s.append(Array.from({ length: 20 }, (_, i) => doc(i, 200)));
    const b = (await s.read(5, 1 << 20))!; // in flight
    await s.append(Array.from({ length: 1000 }, (_, i) => doc(100 + i, 200)));
    expect(s.commit(b)).toBe(true); // its segment is still there
    const rest = await drain(s);
    expect(rest.slice(0, 15)).toEqual(Array.from({ length: 15 }, (_, i) => doc(5 + i, 200)));
    await s.close();
  });

  test.skipIf(process.getuid?.() !== 0 && process.env.CI !== "true")("a real full disk: the failed append leaves no partial line and throws; after space returns, appends work", async () => {
    const mnt = join(dir, "tmpfs");
    mkdirSync(mnt);
    const m = spawnSync(["mount", "-t", "tmpfs", "-o", "size=64k", "kpulse-spool-test", mnt], { stderr: "pipe" });
    if (m.exitCode !== 0) throw new Error(`mount: ${m.stderr}`);
    try {
      const s = new Spool({ dir: mnt, maxBytes: 1 << 20, segmentBytes: 1 << 20 });
      await s.append(Array.from({ length: 20 }, (_, i) => doc(i, 1000))); // ~20 KB
      const before = statSync(join(mnt, segments2(mnt)[0]!)).size;
      const big = Array.from({ length: 100 }, (_, i) => doc(100 + i, 1000)); // ~100 KB: does not fit
      await expect(s.append(big)).rejects.toThrow(/ENOSPC|no space/i);
      expect(statSync(join(mnt, segments2(mnt)[0]!)).size).toBe(before);
      expect(s.pendingEvents).toBe(20);
      const g = spawnSync(["mount", "-o", "remount,size=1m", mnt], { stderr: "pipe" });
      if (g.exitCode !== 0) throw new Error(`remount: ${g.stderr}`);
      await s.append(big);
      expect(s.pendingEvents).toBe(120);
      const lines = await drain(s);
      expect(lines.length).toBe(120);
      expect(lines.every((l) => JSON.parse(l).i !== undefined)).toBe(true);
      await s.close();
    } finally {
      spawnSync(["umount", mnt]);
    }
  });
});

function segments2(d: string) {
  return readdirSync(d).filter((f) => /^\d{16}\.ndjson$/.test(f)).sort();
}

describe("DeadLetterFile", () => {
  test("appends lines and rotates to .1 past its size", async () => {
    const path = join(dir, "dead-letter.ndjson");
    const f = new DeadLetterFile(path, 1000);
    await f.append(['{"a":1}', '{"a":2}']);
    expect(readFileSync(path, "utf8")).toBe('{"a":1}\n{"a":2}\n');
    await f.append(["{\"b\":\"" + "x".repeat(990) + "\"}"]);
    expect(readFileSync(path + ".1", "utf8")).toBe('{"a":1}\n{"a":2}\n');
    expect(readFileSync(path, "utf8").length).toBe(999);
    await f.close();
  });
});

describe("the sink's settings from the config", () => {
  const schema = configSchema(probeTable);
  const load = (text: string) => openSearchSettings(parseConfig(text, "k.toml", schema));

  test("defaults: the spool next to the local files, HUATUO's batch size, never insecure", () => {
    const s = load('[Storage.ES]\nAddress = "http://a:9200, https://b:9200"\nUsername = "u"\nPassword = "p"\n');
    expect(s).toMatchObject({
      addresses: ["http://a:9200", "https://b:9200"], index: "huatuo_bamai", spoolDir: join("kpulse-local", ".spool"),
      maxEvents: 1000, maxBytes: 5 * 1024 * 1024, flushIntervalMs: 1000, spoolMaxBytes: 1024 * 1024 * 1024,
      tls: { caFile: "", certFile: "", keyFile: "", insecure: false },
    });
    expect(load('Compat = "huatuo"\n').spoolDir).toBe(join("huatuo-local", ".spool"));
    expect(load('[Storage.LocalFile]\nPath = ""\n').spoolDir).toBe("kpulse-spool");
    expect(load('[Storage.ES.Spool]\nPath = "/var/spool/kpulse"\nMaxSize = 2\n')).toMatchObject({ spoolDir: "/var/spool/kpulse", spoolMaxBytes: 2 * 1024 * 1024 });
    // HUATUO's section name covers kpulse's sub-sections too.
    expect(load('[Storage.Elasticsearch.TLS]\nInsecure = true\n').tls.insecure).toBe(true);
  });

  test("bad addresses and index names fail at load, naming the key and line", () => {
    expect(() => load('[Storage.ES]\nAddress = "http://a:9200,ftp://b"\n')).toThrow(/k\.toml:2: Storage\.ES\.Address must be http:\/\/ or https:\/\/ URLs separated by commas, got "ftp:\/\/b"/);
    expect(() => load('[Storage.ES]\nIndex = "Kpulse"\n')).toThrow(/k\.toml:2: Storage\.ES\.Index must be lowercase/);
    expect(() => load('[Storage.ES]\nIndex = "a*b"\n')).toThrow(/Storage\.ES\.Index must not contain/);
    expect(() => load('[Storage.ES.Bulk]\nMaxEvents = 0\n')).toThrow(/Storage\.ES\.Bulk\.MaxEvents must be an integer from 1 to 100000/);
    expect(() => load('[Storage.ES.Spool]\nMaxSize = 0\n')).toThrow(/Storage\.ES\.Spool\.MaxSize/);
    // Files and directories the agent needs are checked by `kpulse check` too.
    expect(() => load('[Storage.ES.TLS]\nCAFile = "/nonexistent/ca.pem"\n')).toThrow(/k\.toml:2: Storage\.ES\.TLS\.CAFile must be a readable file/);
    expect(() => load('[Storage.ES.Spool]\nPath = "/etc/passwd"\n')).toThrow(/k\.toml:2: Storage\.ES\.Spool\.Path must be a writable directory/);
  });
});
