// Fuzz-style robustness of every probe parser: each exported function of every
// src/probes/*/parse.ts (found by glob, so new probes are covered without touching this file) gets
//   (a) random bytes as text, (b) real inputs truncated at random points, (c) empty text,
//   (d) lines with extra and missing columns, (e) huge numbers, (f) a large real input,
// and must return, or throw an Error with a message, within CALL_BOUND_MS; never hang, never
// throw something that is not an Error. Each module runs in a child process the test kills
// after MODULE_BOUND_MS, so a parser stuck in a loop fails the test instead of hanging the run.
//
// KPULSE_FUZZ_SEED=<n> replays or varies the inputs (the failure message names the seed).
import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, dirname, join, resolve } from "node:path";

const ROOT = resolve(import.meta.dir, "../..");
const FIXTURES = join(ROOT, "tests/fixtures/basic");
const CALL_BOUND_MS = 2_000;
const MODULE_BOUND_MS = 90_000;
const SEED = Number(process.env.KPULSE_FUZZ_SEED ?? 20240611);

/**
 * Real inputs by probe folder. Live files of this machine are used when readable, and the
 * fixture copies under tests/fixtures/basic as well. A folder not listed gets generated text.
 */
const REAL_INPUTS: Record<string, string[]> = {
  arp: ["/proc/net/arp", "/proc/net/stat/arp_cache"],
  conntrack: ["/proc/net/stat/nf_conntrack", "/proc/sys/net/netfilter/nf_conntrack_count", "/proc/sys/net/netfilter/nf_conntrack_max"],
  cpu_stat: ["/sys/fs/cgroup/cpu,cpuacct/cpu.stat", "/sys/fs/cgroup/cpu.stat"],
  cpu_util: ["/proc/stat"],
  diskio: ["/proc/diskstats"],
  io: ["/proc/self/io"],
  ipvs: ["/proc/net/ip_vs_stats"],
  loadavg: ["/proc/loadavg", "/proc/self/stat", "/sys/fs/cgroup/cpu,cpuacct/tasks"],
  memory_buddyinfo: ["/proc/buddyinfo"],
  memory_events: ["/sys/fs/cgroup/memory.events"],
  memory_vmstat: ["/proc/vmstat", "/sys/fs/cgroup/memory.stat"],
  mountpoint_perm: ["/proc/self/mountinfo"],
  netdev: ["/proc/net/dev"],
  netstat: ["/proc/net/netstat", "/proc/net/snmp"],
  sockstat: ["/proc/net/sockstat", "/proc/net/sockstat6"],
  softnet: ["/proc/net/softnet_stat"],
  tcp_memory: ["/proc/sys/net/ipv4/tcp_mem"],
  // Likely next probes (HUATUO / KubeSkoop sources), so their parsers get real text at once.
  tcp: ["/proc/net/snmp"],
  udp: ["/proc/net/snmp"],
  ip: ["/proc/net/snmp"],
  tcpext: ["/proc/net/netstat"],
  snmp: ["/proc/net/snmp"],
  sock: ["/proc/net/sockstat"],
  meminfo: ["/proc/meminfo"],
  vmstat: ["/proc/vmstat"],
  softirqs: ["/proc/softirqs"],
  interrupts: ["/proc/interrupts"],
  schedstat: ["/proc/schedstat"],
  pressure: ["/proc/pressure/cpu", "/proc/pressure/memory", "/proc/pressure/io"],
  filefd: ["/proc/sys/fs/file-nr"],
};

/** Shapes procfs text takes, for parsers without a known input (and mixed into all of them). */
const GENERATED_INPUTS = [
  "Inter-|   Receive                            |  Transmit\n face |bytes    packets errs drop fifo frame compressed multicast|bytes\n  eth0: 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16\n",
  "key 1\nother_key 2\nlast 3\n",
  "TCP: inuse 1 orphan 0 tw 2 alloc 3 mem 4\nUDP: inuse 5 mem 6\n",
  "Name:\tvalue\nVmRSS:\t  1234 kB\n",
  "Tcp: RtoAlgorithm RtoMin\nTcp: 1 200\n",
  "0.30 0.20 0.22 2/345 12345\n",
  "00000001 00000002 00000003 00000004\n00000005 00000006 00000007 00000008\n",
  "socket:[12345]",
  "Node 0, zone   Normal   1 2 3 4 5 6 7 8 9 10 11\n",
  "36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue\n",
];

// ---- deterministic randomness ----

function rng(seed: number) {
  let s = seed >>> 0 || 1;
  const next = () => {
    // xorshift32
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s / 2 ** 32;
  };
  return { next, int: (n: number) => Math.floor(next() * n), pick: <T>(a: readonly T[]) => a[Math.floor(next() * a.length)]! };
}

// ---- inputs ----

interface FuzzCase {
  label: string;
  text: string;
}

function readable(path: string): string | undefined {
  try {
    const t = readFileSync(path, "latin1");
    return t.length > 0 ? t : undefined;
  } catch {
    return undefined;
  }
}

/** Live file plus its fixture copies (/proc/net/* also as /proc/1/net/*, /proc/self/* also as /proc/100/*). */
function realInputs(folder: string): FuzzCase[] {
  const out: FuzzCase[] = [];
  for (const live of REAL_INPUTS[folder] ?? []) {
    const candidates = [live, join(FIXTURES, live)];
    if (live.startsWith("/proc/net/")) candidates.push(join(FIXTURES, "/proc/1/net", live.slice("/proc/net/".length)));
    if (live.startsWith("/proc/self/")) candidates.push(join(FIXTURES, "/proc/100", live.slice("/proc/self/".length)));
    for (const path of candidates) {
      const text = existsSync(path) ? readable(path) : undefined;
      if (text !== undefined) out.push({ label: path.replace(ROOT + "/", ""), text });
    }
  }
  return out;
}

const HUGE_NUMBERS = [
  "18446744073709551615", // 2^64 - 1
  "18446744073709551616", // 2^64
  "9223372036854775808", // 2^63
  "340282366920938463463374607431768211456", // 2^128
  "1" + "0".repeat(400), // beyond float64
  "-1",
  "1e309",
];

function cases(folder: string, seed: number): FuzzCase[] {
  const r = rng(seed);
  const out: FuzzCase[] = [];
  const real = realInputs(folder);
  const bases = real.length ? real : GENERATED_INPUTS.map((text, i) => ({ label: `generated#${i}`, text }));

  // (c) empty and blank
  for (const text of ["", "\n", "   ", "\n\n\n", "\0"]) out.push({ label: `empty ${JSON.stringify(text)}`, text });

  // (a) random bytes, as latin1 (every byte a char) and as UTF-8 (invalid sequences replaced)
  for (let i = 0; i < 48; i++) {
    const bytes = new Uint8Array(r.int(2048));
    for (let j = 0; j < bytes.length; j++) bytes[j] = r.int(256);
    out.push({ label: `random bytes #${i} (${bytes.length}, latin1)`, text: Buffer.from(bytes).toString("latin1") });
    out.push({ label: `random bytes #${i} (${bytes.length}, utf8)`, text: new TextDecoder().decode(bytes) });
  }
  // Random text from procfs's alphabet reaches further into parsers than raw bytes.
  const ALPHABET = "0123456789          \n\n::||/-_.abcXYZ\t";
  for (let i = 0; i < 32; i++) {
    let t = "";
    for (let n = r.int(1024); n > 0; n--) t += ALPHABET[r.int(ALPHABET.length)];
    out.push({ label: `procfs-alphabet noise #${i}`, text: t });
  }

  for (const base of [...bases, ...GENERATED_INPUTS.slice(0, 3).map((text, i) => ({ label: `generated#${i}`, text }))]) {
    const { label, text } = base;
    out.push({ label: `${label} as is`, text });
    // (b) truncated at random points, and just before / after the last newline
    const cuts = new Set<number>([text.length - 1, text.lastIndexOf("\n"), text.lastIndexOf("\n") + 1]);
    for (let i = 0; i < 24; i++) cuts.add(r.int(text.length));
    for (const c of cuts) if (c >= 0 && c < text.length) out.push({ label: `${label} truncated at ${c}`, text: text.slice(0, c) });

    // (d) extra and missing columns: on every line, and on one random line
    const lines = text.split("\n");
    const extra = (l: string) => (l.trim() === "" ? l : `${l} 4242`);
    const missing = (l: string) => l.replace(/\s*\S+\s*$/, "");
    out.push({ label: `${label} every line +1 column`, text: lines.map(extra).join("\n") });
    out.push({ label: `${label} every line -1 column`, text: lines.map(missing).join("\n") });
    for (let i = 0; i < 4; i++) {
      const at = r.int(lines.length);
      const f = i % 2 ? extra : missing;
      out.push({ label: `${label} line ${at + 1} ${i % 2 ? "+1" : "-1"} column`, text: lines.map((l, k) => (k === at ? f(l) : l)).join("\n") });
    }
    out.push({ label: `${label} header only`, text: lines[0]! + "\n" });
    out.push({ label: `${label} a line doubled`, text: [...lines.slice(0, 2), ...lines.slice(1)].join("\n") });

    // (e) huge numbers in place of every number, and in place of one
    for (const huge of HUGE_NUMBERS) out.push({ label: `${label} every number ${huge.slice(0, 24)}`, text: text.replace(/\d+/g, huge) });
    let k = 0;
    const which = r.int(Math.max(1, (text.match(/\d+/g) ?? []).length));
    out.push({ label: `${label} number #${which} huge`, text: text.replace(/\d+/g, (m) => (k++ === which ? HUGE_NUMBERS[4]! : m)) });
  }

  // (f) large input: a real one repeated to about 512 KiB (a linear parser handles it in milliseconds)
  const big = bases[0]!;
  const body = big.text.endsWith("\n") ? big.text : big.text + "\n";
  out.push({ label: `${big.label} repeated to 512 KiB`, text: body.repeat(Math.max(1, Math.ceil((512 * 1024) / body.length))) });
  return out;
}

// ---- the child: runs one module's functions over every case ----

interface Violation {
  fn: string;
  case: string;
  problem: string;
  input: string;
}

async function runChild(modulePath: string): Promise<void> {
  const folder = basename(dirname(modulePath));
  const mod = (await import(modulePath)) as Record<string, unknown>;
  const fns = Object.entries(mod).filter(
    (e): e is [string, (...a: unknown[]) => unknown] => typeof e[1] === "function" && !/^class\b/.test(Function.prototype.toString.call(e[1])),
  );
  const violations: Violation[] = [];
  let calls = 0;
  for (const [name, fn] of fns) {
    for (const c of cases(folder, SEED)) {
      // Synchronous, so the parent sees where a hang happened even if this process never returns.
      writeSync(2, `${name} <- ${c.label}\n`);
      const source = `fuzz:${folder}`;
      const began = performance.now();
      let problem: string | undefined;
      try {
        const result = fn(c.text, source);
        if (result instanceof Promise) await result;
      } catch (err) {
        if (!(err instanceof Error)) problem = `threw a non-Error: ${typeof err} ${String(err).slice(0, 100)}`;
        else if (!err.message || err.message.trim() === "") problem = `threw ${err.name} with an empty message`;
      }
      const ms = performance.now() - began;
      if (ms > CALL_BOUND_MS) problem = `took ${ms.toFixed(0)} ms (bound ${CALL_BOUND_MS} ms)`;
      calls++;
      if (problem) violations.push({ fn: name, case: c.label, problem, input: JSON.stringify(c.text.slice(0, 160)) });
    }
  }
  writeSync(1, JSON.stringify({ functions: fns.map(([n]) => n), calls, violations }) + "\n");
}

if (process.env.KPULSE_PARSER_FUZZ_MODULE) {
  await runChild(process.env.KPULSE_PARSER_FUZZ_MODULE);
  process.exit(0);
}

// ---- the test: one child per parse.ts ----

interface Report {
  functions: string[];
  calls: number;
  violations: Violation[];
}

/** Runs the child on one module; throws when it hangs past `boundMs` or dies. */
async function fuzzModule(path: string, boundMs: number): Promise<Report> {
  const child = Bun.spawn([process.execPath, import.meta.path], {
    env: { ...process.env, KPULSE_PARSER_FUZZ_MODULE: path, KPULSE_FUZZ_SEED: String(SEED) },
    stdout: "pipe",
    stderr: "pipe",
  });
  const stdout = new Response(child.stdout).text();
  const stderr = new Response(child.stderr).text();
  const finished = await Promise.race([child.exited.then(() => true), Bun.sleep(boundMs).then(() => false)]);
  if (!finished) child.kill("SIGKILL");
  const progress = (await stderr).trimEnd().split("\n");
  const last = progress.at(-1) ?? "";
  if (!finished) throw new Error(`${path}: no result within ${boundMs} ms (seed ${SEED}); stuck in: ${last}`);
  const out = (await stdout).trim();
  if (child.exitCode !== 0 || !out) throw new Error(`${path}: child exited ${child.exitCode} (seed ${SEED}) during: ${last}\n${progress.slice(-20).join("\n")}`);
  return JSON.parse(out.split("\n").at(-1)!) as Report;
}

const describeViolations = (r: Report) => r.violations.map((v) => `${v.fn}(${v.case}): ${v.problem}; input ${v.input} (seed ${SEED})`);

const modules = [...new Bun.Glob("src/probes/*/parse.ts").scanSync({ cwd: ROOT })].sort();

describe(`probe parsers under fuzz (seed ${SEED})`, () => {
  test("the glob finds the parsers", () => {
    const folders = modules.map((m) => basename(dirname(m)));
    for (const known of ["loadavg", "netdev", "sockstat"]) expect(folders).toContain(known);
  });

  for (const rel of modules) {
    test(`${rel}: every exported function returns or throws an Error with a message, in time`, async () => {
      const report = await fuzzModule(join(ROOT, rel), MODULE_BOUND_MS);
      expect(describeViolations(report)).toEqual([]);
      if (report.functions.length) expect(report.calls).toBeGreaterThan(report.functions.length * 50);
    }, MODULE_BOUND_MS + 10_000);
  }
});

describe("the fuzz harness catches bad parsers", () => {
  const dir = mkdtempSync(join(tmpdir(), "kpulse-fuzz-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const write = (name: string, code: string) => {
    mkdirSync(join(dir, name));
    writeFileSync(join(dir, name, "parse.ts"), code);
    return join(dir, name, "parse.ts");
  };

  test("non-Error throws, empty messages and slow calls are reported; good functions and classes pass", async () => {
    const path = write(
      "bad",
      [
        'export function throwsString(text: string) { if (text.length > 3) throw "nope"; return 1; }',
        'export function emptyMessage(text: string) { if (text.includes("\\n")) throw new Error(""); return []; }',
        "export function slow(text: string) { if (text.length > 500000) { const end = Date.now() + 2100; while (Date.now() < end); } return 0; }",
        "export function fine(text: string, source = 'x') { if (text === '') throw new Error(`${source}: empty`); return text.length; }",
        "export class NotAParser { constructor() { throw 'never called'; } }",
        "",
      ].join("\n"),
    );
    const report = await fuzzModule(path, 60_000);
    expect(report.functions).toEqual(["emptyMessage", "fine", "slow", "throwsString"]); // a module's exports, sorted
    const byFn = (fn: string) => report.violations.filter((v) => v.fn === fn);
    expect(byFn("throwsString").length).toBeGreaterThan(10);
    expect(byFn("throwsString")[0]!.problem).toBe("threw a non-Error: string nope");
    expect(byFn("emptyMessage").length).toBeGreaterThan(10);
    expect(byFn("emptyMessage")[0]!.problem).toBe("threw Error with an empty message");
    expect(byFn("slow").map((v) => v.case)).toEqual([expect.stringContaining("repeated to 512 KiB")]);
    expect(byFn("fine")).toEqual([]);
  }, 70_000);

  test("a parser that never returns fails with the case it was stuck in", async () => {
    const path = write("hangs", 'export function hangs(text: string) { if (text === "\\n") for (;;); return 0; }\n');
    await expect(fuzzModule(path, 3_000)).rejects.toThrow('no result within 3000 ms (seed ' + SEED + '); stuck in: hangs <- empty "\\n"');
  }, 10_000);

});
