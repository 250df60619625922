// The struct bpf_prog_info offsets in ffi/libbpf.ts (PROG_INFO) must match the installed uapi
// <linux/bpf.h>: compile a tiny offsetof program and compare, so they are never hand-guessed.
import { expect, test } from "bun:test";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BPF_STATS_RUN_TIME, PROG_INFO } from "../../ffi/libbpf.ts";

const header = "/usr/include/linux/bpf.h";
const haveCc = Bun.which("cc") !== null;
const required = process.env.CI === "true";

test.skipIf(!required && (!haveCc || !existsSync(header)))("struct bpf_prog_info offsets match <linux/bpf.h>", () => {
  const dir = mkdtempSync(join(tmpdir(), "kpulse-prog-info-"));
  try {
    const exe = join(dir, "layout");
    const cc = Bun.spawnSync(["cc", "-o", exe, join(import.meta.dir, "prog-info-layout.c")]);
    expect(cc.exitCode, cc.stderr.toString()).toBe(0);
    const run = Bun.spawnSync([exe]);
    expect(run.exitCode).toBe(0);
    const real = JSON.parse(run.stdout.toString());
    // Our size may be smaller than a newer header's (the kernel copies min(ours, its own)), never larger.
    const { sz, ...fields } = PROG_INFO;
    const { sz: realSz, ...realFields } = real.PROG_INFO;
    expect(fields).toEqual(realFields);
    expect(sz).toBeLessThanOrEqual(realSz);
    expect(sz % 8).toBe(0);
    expect(BPF_STATS_RUN_TIME).toBe(real.BPF_STATS_RUN_TIME);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
