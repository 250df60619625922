// Kallsyms parser and symbolizer on synthetic /proc/kallsyms text.
import { describe, expect, test } from "bun:test";
import { Kallsyms, parseKallsyms } from "../../src/bpf/kallsyms.ts";

const X86 = [
  "ffffffff81000000 T _stext",
  "ffffffff81000000 T _text",
  "ffffffff81000100 t helper_fn",
  "ffffffff81000200 D some_data", // data: ignored
  "ffffffff81001000 W weak_fn",
  "ffffffff81002000 T kfree_skb_reason",
  "ffffffffc0001000 t mod_init_fn\t[mymod]",
  "ffffffffc0001080 T mod_xmit\t[mymod]",
  "ffffffffc0002000 t bpf_prog_6deef7357e7b4530_on_enter\t[bpf]",
  "",
].join("\n");

const enc = (s: string) => new TextEncoder().encode(s);
const split = (a: bigint) => [Number(a >> 32n), Number(a & 0xffffffffn)] as const;
const sym = (k: Kallsyms, a: bigint) => k.symbolize(...split(a));

function fixed(text: string, opts: ConstructorParameters<typeof Kallsyms>[1] = {}) {
  let reads = 0;
  const k = new Kallsyms("/fake/kallsyms", { ...opts, read: () => (reads++, enc(text)) });
  return { k, reads: () => reads };
}

describe("parseKallsyms", () => {
  test("keeps only text symbols, sorted, lo-only on x86-64", () => {
    const idx = parseKallsyms(enc(X86));
    expect(idx.count).toBe(8);
    expect(idx.loOnly).toBe(true);
    expect(idx.commonHi).toBe(0xffffffff);
    for (let i = 1; i < idx.count; i++) expect(idx.lo[i]).toBeGreaterThanOrEqual(idx.lo[i - 1]);
  });

  test("unsorted input (modules listed first) is sorted", () => {
    const lines = X86.trim().split("\n");
    const idx = parseKallsyms(enc([...lines.slice(6), ...lines.slice(0, 6)].join("\n")));
    expect(idx.count).toBe(8);
    for (let i = 1; i < idx.count; i++) expect(idx.lo[i]).toBeGreaterThanOrEqual(idx.lo[i - 1]);
  });
});

describe("Kallsyms.symbolize", () => {
  test("core, weak, module and bpf symbols with offsets", () => {
    const { k } = fixed(X86);
    expect(sym(k, 0xffffffff81000104n)).toBe("helper_fn+0x4");
    expect(sym(k, 0xffffffff81000250n)).toBe("helper_fn+0x150"); // data symbols are skipped
    expect(sym(k, 0xffffffff81001010n)).toBe("weak_fn+0x10");
    expect(sym(k, 0xffffffff81002000n)).toBe("kfree_skb_reason+0x0");
    expect(sym(k, 0xffffffffc0001084n)).toBe("mod_xmit+0x4 [mymod]");
    expect(sym(k, 0xffffffffc0002010n)).toBe("bpf_prog_6deef7357e7b4530_on_enter+0x10 [bpf]");
  });

  test("addresses below every symbol, or far past one, fall back to hex", () => {
    const { k } = fixed(X86, { maxOffset: 0x10000 });
    expect(sym(k, 0xffffffff80000000n)).toBe("0xffffffff80000000");
    expect(sym(k, 0xffffffffc0100000n)).toBe("0xffffffffc0100000");
    expect(sym(k, 0x1234n)).toBe("0x1234");
  });

  test("loads lazily and caches lookups", () => {
    const { k, reads } = fixed(X86);
    expect(reads()).toBe(0);
    expect(sym(k, 0xffffffff81000104n)).toBe("helper_fn+0x4");
    expect(sym(k, 0xffffffff81000104n)).toBe("helper_fn+0x4");
    expect(reads()).toBe(1);
  });

  test("unknown addresses trigger a rate-limited reload that finds new modules", () => {
    let now = 0;
    let text = X86;
    let reads = 0;
    const k = new Kallsyms("/fake", { refreshMinMs: 1000, maxOffset: 0x10000, now: () => now, read: () => (reads++, enc(text)) });
    expect(sym(k, 0xffffffff81000104n)).toBe("helper_fn+0x4");
    text += "ffffffffc0200000 t late_fn\t[late]\n";
    now = 10; // too soon: no reload
    expect(sym(k, 0xffffffffc0200008n)).toBe("0xffffffffc0200008");
    expect(reads).toBe(1);
    now = 2000;
    expect(sym(k, 0xffffffffc0200008n)).toBe("late_fn+0x8 [late]");
    expect(reads).toBe(2);
  });

  test("(hi, lo) search when high halves differ (e.g. arm64)", () => {
    const text = [
      "ffff800080000000 T arm_start",
      "ffff800080010000 t arm_fn",
      "ffff8000c0000000 t far_fn",
      "ffff900000000000 T other_hi",
      "",
    ].join("\n");
    const idx = parseKallsyms(enc(text));
    expect(idx.loOnly).toBe(false);
    const { k } = fixed(text, { maxOffset: 2 ** 40 });
    expect(sym(k, 0xffff800080010020n)).toBe("arm_fn+0x20");
    expect(sym(k, 0xffff8000c0000001n)).toBe("far_fn+0x1");
    expect(sym(k, 0xffff900000000010n)).toBe("other_hi+0x10");
  });

  test("zeroed addresses (kptr_restrict) and unreadable files give hex", () => {
    const { k } = fixed("0000000000000000 T a\n0000000000000000 t b\n");
    expect(sym(k, 0xffffffff81000000n)).toBe("0xffffffff81000000");
    const bad = new Kallsyms("/nonexistent/kallsyms");
    expect(sym(bad, 0xffffffff81000000n)).toBe("0xffffffff81000000");
  });
});

describe("Kallsyms.range", () => {
  test("a core-kernel function spans up to the next text symbol", () => {
    const { k } = fixed(X86);
    expect(k.range("helper_fn")).toEqual({ start: 0xffffffff81000100n, end: 0xffffffff81001000n });
  });
  test("unknown names and module symbols give undefined", () => {
    const { k } = fixed(X86);
    expect(k.range("no_such_fn")).toBeUndefined();
    expect(k.range("mod_init_fn")).toBeUndefined();
  });
  test("hidden addresses (kptr_restrict) give undefined", () => {
    const { k } = fixed("0000000000000000 T helper_fn\n0000000000000000 T other\n");
    expect(k.range("helper_fn")).toBeUndefined();
  });
});
