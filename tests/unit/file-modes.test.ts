// Event files are 0640 and their directories 0750 whatever the umask: the local-file writer
// (first file, rotation), the OpenSearch spool (segments, dead-letter file) and the start-up
// directory check, all run here under umask 000. Existing files keep the mode they have.
import { afterEach, beforeEach, expect, test } from "bun:test";
import { chmodSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { shapeRecord } from "../../src/events/shape.ts";
import { prepareLocalDir } from "../../src/storage/dir-check.ts";
import { LocalFileWriter } from "../../src/storage/localfile.ts";
import { DeadLetterFile, Spool } from "../../src/storage/spool.ts";

let dir: string;
let umask: number;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "kpulse-modes-"));
  umask = process.umask(0o000); // the most permissive: nothing narrows the modes asked for
});
afterEach(() => {
  process.umask(umask);
  rmSync(dir, { recursive: true, force: true });
});

const mode = (p: string) => (statSync(p).mode & 0o7777).toString(8);
const rec = (n: number) => shapeRecord({ tracerName: "oom", data: { n, pad: "x".repeat(600) } }, { hostname: "h", region: "r" });

test("local files: the created directories 0750, the file and its rotated files 0640", () => {
  const events = join(dir, "a", "b");
  expect(prepareLocalDir(events)).toBeUndefined();
  expect([mode(join(dir, "a")), mode(events)]).toEqual(["750", "750"]);
  const w = new LocalFileWriter({ dir: join(events, "c"), rotationSizeMiB: 1 / 1024, maxRotation: 5 }); // 1 KiB: rotates
  for (let i = 0; i < 4; i++) w.append("oom", [rec(i)]);
  w.close();
  const files = readdirSync(join(events, "c"));
  expect(files.length).toBeGreaterThan(2);
  expect(mode(join(events, "c"))).toBe("750");
  for (const f of files) expect({ f, mode: mode(join(events, "c", f)) }).toEqual({ f, mode: "640" });
});

test("a file that already exists keeps the mode the operator gave it", () => {
  writeFileSync(join(dir, "oom"), "");
  chmodSync(join(dir, "oom"), 0o600);
  chmodSync(dir, 0o700);
  const w = new LocalFileWriter({ dir, rotationSizeMiB: 1, maxRotation: 1 });
  w.append("oom", [rec(1)]);
  w.close();
  expect([mode(dir), mode(join(dir, "oom"))]).toEqual(["700", "600"]);
});

test("OpenSearch spool: its directory 0750, segments, cursor and dead-letter file 0640", async () => {
  const spoolDir = join(dir, "spool");
  const s = new Spool({ dir: spoolDir, maxBytes: 1024 * 1024, segmentBytes: 64 * 1024 });
  await s.append(['{"a":1}', '{"b":2}']);
  const batch = await s.read(1, 1024 * 1024); // one of two lines sent: a cursor file is written
  expect(batch?.lines).toEqual(['{"a":1}']);
  s.commit(batch!);
  await s.close();
  const dl = new DeadLetterFile(join(spoolDir, "dead-letter.ndjson"), 1024);
  await dl.append(['{"d":4}']);
  await dl.close();
  expect(mode(spoolDir)).toBe("750");
  const files = readdirSync(spoolDir);
  expect(files).toContain("dead-letter.ndjson");
  expect(files).toContain("cursor");
  for (const f of files) expect({ f, mode: mode(join(spoolDir, f)) }).toEqual({ f, mode: "640" });
});
