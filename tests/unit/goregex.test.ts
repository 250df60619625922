import { describe, expect, test } from "bun:test";
import { RE2JS } from "re2js";
import {
  compileGoRegex,
  estimateProgramSize,
  MAX_PATTERN_LENGTH,
  MAX_PROGRAM_SIZE,
  regexProblem,
} from "../../src/util/goregex.ts";
import { makeFilter } from "../../src/metrics/filter.ts";

const elapsed = (fn: () => void): number => {
  const t = performance.now();
  fn();
  return performance.now() - t;
};

describe("linear-time matching", () => {
  test("a config filter of catastrophic-backtracking shape answers quickly", () => {
    const keep = makeFilter("(a+)+$", "", "test");
    let verdict = true;
    const ms = elapsed(() => {
      verdict = keep("a".repeat(50_000) + "!");
    });
    expect(verdict).toBe(false); // Included only, and it does not match: filtered out
    expect(ms).toBeLessThan(50);
    expect(keep("aaaa")).toBe(true);
  });

  test("nested stars against a long subject", () => {
    const re = compileGoRegex("(.*)*(.*)*(.*)*(.*)*X");
    let results: boolean[] = [];
    const ms = elapsed(() => {
      results = [re.test("a".repeat(10_000)), re.test("a".repeat(9_999) + "X")];
    });
    expect(results).toEqual([false, true]);
    expect(ms).toBeLessThan(50);
  });
});

describe("Go (RE2) syntax", () => {
  const t = (p: string, s: string) => compileGoRegex(p).test(s);

  test("matching is an unanchored search, like regexp.MatchString", () => {
    expect(t("b", "abc")).toBe(true);
    expect(t("^b", "abc")).toBe(false);
    expect(t("", "anything")).toBe(true);
  });

  test("HUATUO's device pattern gives Go's answers", () => {
    const p = "^(lo)|(docker\\w*)|(veth\\w*)$";
    const want: Record<string, boolean> = {
      lo: true, docker0: true, veth12: true, eth0: false, lo0: true, xlo: false, mydocker: true, "veth1-": false,
    };
    for (const [s, w] of Object.entries(want)) expect([s, t(p, s)]).toEqual([s, w]);
    const keep = makeFilter("", p, "NetdevStats.Device");
    expect(["lo", "eth0", "docker0", "bond0"].filter(keep)).toEqual(["eth0", "bond0"]);
  });

  test("flags, named groups, \\A \\z, POSIX and Unicode classes", () => {
    expect(t("(?i)OOM", "oom")).toBe(true);
    expect(t("(?i)^ETH[[:digit:]]+\\z", "eth0")).toBe(true);
    expect(t("(?i)^ETH[[:digit:]]+\\z", "eth0x")).toBe(false);
    expect(t("a(?i:B)c", "abc")).toBe(true);
    expect(t("a(?i:B)c", "abC")).toBe(false);
    expect(t("(?P<dev>veth)\\w*", "veth12")).toBe(true);
    expect(t("(?<dev>veth)", "veth12")).toBe(true); // Go 1.22 also accepts (?<name>…)
    expect(t("\\Afoo\\z", "foo")).toBe(true);
    expect(t("\\Afoo\\z", "xfoo")).toBe(false);
    expect(t("\\Afoo\\z", "foo\n")).toBe(false);
    expect(t("foo$", "foo\n")).toBe(false); // Go's $ is end of text unless (?m)
    expect(t("(?m)^bar$", "foo\nbar\nbaz")).toBe(true);
    expect(t("^[[:alpha:]]+$", "abc")).toBe(true);
    expect(t("^[[:alpha:]]+$", "ab1")).toBe(false);
    expect(t("^[[:^digit:]]+$", "abc")).toBe(true);
    expect(t("\\d", "\u0663")).toBe(false); // \d and \w are ASCII in Go
    expect(t("\\w", "é")).toBe(false);
    expect(t("^\\pL+$", "héllo")).toBe(true);
    expect(t("^.$", "😀")).toBe(true); // . is one code point
    expect(t("a.b", "a\nb")).toBe(false);
    expect(t("(?s)a.b", "a\nb")).toBe(true);
    expect(t("(?U)^a+", "aaa")).toBe(true);
    expect(t("\\Qa.b\\E", "a.b")).toBe(true);
    expect(t("\\Qa.b\\E", "axb")).toBe(false);
    expect(t("a{,3}", "a{,3}")).toBe(true); // not a repetition in Go: literal
    expect(t("a{,3}", "aaa")).toBe(false);
    expect(t("^x{2,3}$", "xxx")).toBe(true);
    expect(t("^x{2,3}$", "xxxx")).toBe(false);
  });

  test("what Go rejects is rejected, with the engine's reason", () => {
    const cases: [string, string][] = [
      ["(", "missing closing )"],
      [")", "unexpected )"],
      ["a**", "invalid nested repetition operator"],
      ["x{2}{3}", "invalid nested repetition operator"],
      ["(a)\\1", "invalid escape sequence"],
      ["(?=x)", "invalid or unsupported Perl syntax"],
      ["(?!x)", "invalid or unsupported Perl syntax"],
      ["(?<=x)a", "invalid named capture"],
      ["(?<!x)a", "invalid named capture"],
      ["[[:foo:]]", "invalid character class range"],
      ["a{1001}", "invalid repeat count"],
      ["\\Z", "invalid escape sequence"],
      ["[a-", "missing closing ]"],
      ["*", "missing argument to repetition operator"],
      ["a\\", "trailing backslash"],
    ];
    for (const [p, reason] of cases) {
      expect(() => compileGoRegex(p)).toThrow(SyntaxError);
      expect([p, regexProblem(p)]).toEqual([p, expect.stringContaining(reason)]);
    }
    expect(regexProblem("^(lo)|(docker\\w*)$")).toBeUndefined();
  });

  test("makeFilter keeps its rules and names the setting in errors", () => {
    expect(makeFilter("", "", "x")("anything")).toBe(true);
    expect(makeFilter("^eth", "", "x")("eth0")).toBe(true);
    expect(makeFilter("^eth", "", "x")("lo")).toBe(false);
    expect(makeFilter("", "^lo$", "x")("lo")).toBe(false);
    expect(makeFilter("", "^lo$", "x")("eth0")).toBe(true);
    const both = makeFilter("^eth", "^eth1$", "x");
    expect(["eth0", "eth1", "lo"].filter(both)).toEqual(["eth0"]);
    expect(() => makeFilter("(?=x)", "", "Vmstat")).toThrow(/Vmstat included: invalid regular expression "\(\?=x\)": .*Perl syntax/);
  });
});

describe("bounded cost of hostile patterns", () => {
  test("an over-long pattern is rejected with a clear message", () => {
    const p = "a".repeat(MAX_PATTERN_LENGTH + 1);
    expect(regexProblem(p)).toBe(`regular expression too long: ${MAX_PATTERN_LENGTH + 1} characters, the limit is ${MAX_PATTERN_LENGTH}`);
    expect(regexProblem("a".repeat(MAX_PATTERN_LENGTH))).toBeUndefined();
  });

  test("repetition explosions are rejected quickly", () => {
    const nested = "(".repeat(10) + "a{1000}" + "){1000}".repeat(9) + ")";
    const hostile: [string, string][] = [
      [nested, "invalid repeat count"],
      ["(a{1000}){1000}", "invalid repeat count"],
      ["(x{0,1000}){0,1000}", "expression too large"],
      // valid Go, but each compiles to ~10^5..10^6 instructions: refused before compiling
      [".{1000}".repeat(585), "too complex"],
      ["(((abcdefghij){10}){10}){10}".repeat(146), "too complex"],
      ["\\pL{1000}".repeat(400), "too complex"],
      // just over the limit, caught by the exact check after compiling
      ["(abcdefghij){1000}", `compiles to 12002 instructions, the limit is ${MAX_PROGRAM_SIZE}`],
    ];
    for (const [p, reason] of hostile) {
      let problem: string | undefined;
      const ms = elapsed(() => {
        problem = regexProblem(p);
      });
      expect({ p: p.slice(0, 40), problem, fast: ms < 50 }).toEqual({
        p: p.slice(0, 40),
        problem: expect.stringContaining(reason),
        fast: true,
      });
    }
  });

  test("patterns under the limits still compile", () => {
    for (const p of ["a{1000}", ".{1000}".repeat(9), "(?:(?:a{10}){10}){10}", "[0-9a-f]{64}", "x".repeat(MAX_PATTERN_LENGTH)]) {
      expect([p.slice(0, 40), regexProblem(p)]).toEqual([p.slice(0, 40), undefined]);
    }
    // a repetition-free pattern of the longest length stays well under the instruction limit
    expect(regexProblem("()*".repeat(Math.floor(MAX_PATTERN_LENGTH / 3)))).toBeUndefined();
  });

  test("the size estimate tracks the compiled size", () => {
    const patterns = [
      "", "abc", "^(lo)|(docker\\w*)|(veth\\w*)$", "(?i)^ETH[[:digit:]]+\\z", "a{1000}", "(a|aa){500}", ".{1000}.{1000}",
      "(?:a{0,1000})(?:b{0,1000})", "x{2,5}", "x{3,}", "(((abcdefghij){10}){10}){10}", "\\Qa.b*c\\E{10}", "[]a]{10}",
      "[\\]a]{10}", "[[:alpha:]_]{20}", "(?s:.){50}", "\\x{41}{300}", "\\p{Greek}{300}", "(a*)*", "host-[0-9]+\\.example\\.com",
      "(?P<n>ab){100}", "(?<n>ab){100}", "\\d{3}-\\d{4}",
    ];
    for (const p of patterns) {
      const actual = RE2JS.compile(p).programSize();
      const estimate = estimateProgramSize(p);
      // never far below (that would let a big program be built) nor far above (false rejections)
      expect([p, estimate >= actual * 0.9 - 5 && estimate <= actual * 2 + 10]).toEqual([p, true]);
    }
  });

  test("the estimator terminates on garbage", () => {
    const invalid = ["(".repeat(3000), ")".repeat(3000), "[".repeat(4000), "\\".repeat(4095), "(?P<", "[[:", "\\p{", "a{99999999999999999999}"];
    for (const p of [...invalid, "{".repeat(4000), "\\Q", "\\Qa{1000}"]) {
      expect(Number.isFinite(estimateProgramSize(p))).toBe(true);
      expect(estimateProgramSize(p)).toBeLessThanOrEqual(2 * p.length + 10);
    }
    for (const p of invalid) expect([p.slice(0, 10), regexProblem(p)]).toEqual([p.slice(0, 10), expect.any(String)]);
  });
});

describe("literal fast path agrees with the engine", () => {
  const patterns = [
    "", "^", "$", "^$", "abc", "^abc", "abc$", "^abc$", "\\Aabc\\z", "\\Aabc", "abc\\z", "a\\.b", "^a\\$", "a\\\\$",
    "\\^x", "x\\$$", "a b", "ü", "^😀$", "a-b_c:d", "\\$", "\\\\", "^\\\\z", "a\\\\\\$",
  ];
  const inputs = ["", "abc", "xabc", "abcx", "a.b", "axb", "a$", "a\\", "^x", "x$", "a b", "ü", "😀", "x😀", "a-b_c:d", "$", "\\", "\\z", "abc\n", "a\\$"];
  test("same answers as re2js on every input", () => {
    for (const p of patterns) {
      const engine = RE2JS.compile(p);
      const re = compileGoRegex(p);
      for (const s of inputs) expect([p, s, re.test(s)]).toEqual([p, s, engine.test(s)]);
    }
  });
});
