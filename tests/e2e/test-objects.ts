// Shared by the BPF runtime tests: the test-only objects under tests/bpf/ (rebuilt when their
// source is newer) and a raw syscall() to trigger sys_enter programs with numbers no kernel has.
import { dlopen, FFIType as T } from "bun:ffi";
import { existsSync, statSync } from "node:fs";
import { join } from "node:path";
import { describe } from "bun:test";

const root = join(import.meta.dir, "../..");

/** Why BPF tests cannot run here ("" when they can). */
export const bpfSkipReason = process.getuid?.() !== 0 ? "not root" : !existsSync("/sys/kernel/btf/vmlinux") ? "no /sys/kernel/btf/vmlinux" : "";

/** describe(), or describe.skip with a warning off-root — never skipped under CI=true (the run then fails). */
export function describeBpf(file: string): typeof describe {
  const ci = process.env.CI === "true";
  if (bpfSkipReason && !ci) console.warn(`skipping ${file}: ${bpfSkipReason}`);
  return bpfSkipReason && !ci ? describe.skip : describe;
}

/** Bytes of build/test-bpf/<name>.bpf.o, rebuilding it first if tests/bpf/<name>.bpf.c is newer. */
export async function testObjectBytes(name: string): Promise<Uint8Array> {
  if (bpfSkipReason) throw new Error(`CI=true but cannot run BPF tests: ${bpfSkipReason}`);
  const src = join(root, `tests/bpf/${name}.bpf.c`);
  const obj = join(root, `build/test-bpf/${name}.bpf.o`);
  if (!existsSync(obj) || statSync(obj).mtimeMs < statSync(src).mtimeMs) {
    const b = Bun.spawnSync(["sh", join(root, "tests/bpf/build.sh"), src], { stderr: "pipe" });
    if (b.exitCode !== 0) throw new Error(`building ${src} failed: ${b.stderr.toString()}`);
  }
  return Bun.file(obj).bytes();
}

let libc: ReturnType<typeof open> | undefined;
const open = () => dlopen("libc.so.6", { syscall: { args: [T.i64, T.i64], returns: T.i64 } });

/** syscall(nr, a0) through libc. */
export function syscall(nr: number, a0: number): unknown {
  libc ??= open();
  return libc.symbols.syscall(nr, a0);
}
