// The struct offsets in ffi/libbpf.ts must match the installed <bpf/libbpf.h>; compile a tiny
// offsetof program and compare, so they are never hand-guessed.
import { expect, test } from "bun:test";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BATCH_OPTS, OPEN_OPTS } from "../../ffi/libbpf.ts";

const header = "/usr/include/bpf/libbpf.h";
const haveCc = Bun.which("cc") !== null;
const required = process.env.CI === "true";

test.skipIf(!required && (!haveCc || !existsSync(header)))("libbpf struct offsets match <bpf/libbpf.h>", () => {
  const dir = mkdtempSync(join(tmpdir(), "kpulse-layout-"));
  try {
    const exe = join(dir, "layout");
    const cc = Bun.spawnSync(["cc", "-o", exe, join(import.meta.dir, "layout.c")]);
    expect(cc.exitCode, cc.stderr.toString()).toBe(0);
    const run = Bun.spawnSync([exe]);
    expect(run.exitCode).toBe(0);
    const real = JSON.parse(run.stdout.toString());
    expect(OPEN_OPTS).toEqual(real.OPEN_OPTS);
    expect(BATCH_OPTS).toEqual(real.BATCH_OPTS);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
