// Loads one embedded BPF object: open from bytes, keep only the chosen programs, set `.rodata`
// constants and map sizes, load, attach. Each program group lists alternatives in order; when an
// alternative fails to load (libbpf names it in its warnings) or to attach, the object is
// re-opened from the bytes with that group's next alternative. Nothing here may crash the
// process: every failure becomes a BpfLoadError carrying libbpf's and the verifier's words.
import { ptr, toArrayBuffer, type Pointer } from "bun:ffi";
import { libbpf, libbpfProgStats, libbpfStrerror, LIBBPF_WARN, OPEN_OPTS } from "../../ffi/libbpf.ts";
import { errno, isBadPointer } from "../../ffi/libc.ts";
import type { Logger } from "../log.ts";
import { datasecVarsOf, enumNamesOf, structLayoutOf, structSizeOf, type FieldLayout } from "./btf.ts";
import { captureLibbpf, installLibbpfPrint, type LogLine } from "./libbpf-log.ts";

export interface ProgramGroup {
  /** Program names (as in the .bpf.c function names) tried in order; the first that loads AND attaches wins. */
  alternatives: string[];
  /** If every alternative fails: optional groups are skipped (reported), required ones fail the object. */
  optional?: boolean;
}

export interface BpfObjectSpec {
  name: string;
  bytes: Uint8Array;
  rodata?: Record<string, number | bigint | boolean>;
  groups: ProgramGroup[];
  maxEntries?: Record<string, number>;
}

export interface BpfMap {
  name: string;
  fd: number;
  type: number;
  keySize: number;
  valueSize: number;
  maxEntries: number;
}

/** Why one alternative was given up. */
export interface AltFailure {
  group: number;
  program: string;
  phase: "load" | "attach" | "missing";
  errno: number;
  reason: string; // one line
}

export class BpfLoadError extends Error {
  /** libbpf warnings and the verifier log, untrimmed. */
  readonly log: string;
  readonly errno: number;
  readonly failures: AltFailure[];
  constructor(message: string, log: string, errno = 0, failures: AltFailure[] = []) {
    super(message);
    this.name = "BpfLoadError";
    this.log = log;
    this.errno = errno;
    this.failures = failures;
  }
  /** True when every failure says the kernel lacks the hook (not a bug in the program). */
  get unsupported(): boolean {
    return this.failures.length > 0 && this.failures.every((f) => UNSUPPORTED_ERRNOS.has(f.errno));
  }
}

// ENOENT, ESRCH (no BTF target), EPERM (fentry refused), EOPNOTSUPP, ENOTSUPP
const UNSUPPORTED_ERRNOS: ReadonlySet<number> = new Set([2, 3, 1, 95, 524]);

const MAX_REASON = 300;

/** Attempt state for one open object; everything native code may read stays referenced here. */
interface Opened {
  obj: Pointer;
  keep: unknown[];
}

function openObject(spec: BpfObjectSpec): Opened {
  const name = new TextEncoder().encode(spec.name + "\0");
  const opts = new BigUint64Array(OPEN_OPTS.sz / 8);
  const dv = new DataView(opts.buffer);
  dv.setBigUint64(0, BigInt(OPEN_OPTS.sz), true);
  // object_name decides internal map names ("<name>.rodata") and log prefixes.
  dv.setBigUint64(OPEN_OPTS.object_name, BigInt(ptr(name)), true);
  const { result: obj, lines } = captureLibbpf(() => {
    const p = libbpf().bpf_object__open_mem(spec.bytes, spec.bytes.byteLength, opts);
    return isBadPointer(p) ? { p: null, e: errno() } : { p: p as Pointer, e: 0 };
  });
  if (!obj.p) {
    throw new BpfLoadError(
      `${spec.name}: cannot open BPF object: ${libbpfStrerror(obj.e)}${tail(warnings(lines))}`,
      joinLog(lines), obj.e,
    );
  }
  return { obj: obj.p, keep: [name, opts, spec.bytes] };
}

function programs(obj: Pointer): Map<string, Pointer> {
  const lb = libbpf();
  const out = new Map<string, Pointer>();
  for (let p = lb.bpf_object__next_program(obj, null); !isBadPointer(p); p = lb.bpf_object__next_program(obj, p)) {
    out.set(String(lb.bpf_program__name(p)), p as Pointer);
  }
  return out;
}

function maps(obj: Pointer): Map<string, Pointer> {
  const lb = libbpf();
  const out = new Map<string, Pointer>();
  for (let m = lb.bpf_object__next_map(obj, null); !isBadPointer(m); m = lb.bpf_object__next_map(obj, m)) {
    out.set(String(lb.bpf_map__name(m)), m as Pointer);
  }
  return out;
}

function mapInfo(m: Pointer): BpfMap {
  const lb = libbpf();
  return {
    name: String(lb.bpf_map__name(m)),
    fd: lb.bpf_map__fd(m),
    type: lb.bpf_map__type(m),
    keySize: lb.bpf_map__key_size(m),
    valueSize: lb.bpf_map__value_size(m),
    maxEntries: lb.bpf_map__max_entries(m),
  };
}

function writeRodata(spec: BpfObjectSpec, obj: Pointer): void {
  const entries = Object.entries(spec.rodata ?? {});
  if (!entries.length) return;
  const lb = libbpf();
  const btf = lb.bpf_object__btf(obj);
  if (isBadPointer(btf)) throw new Error("object has no BTF; cannot locate .rodata variables");
  const vars = datasecVarsOf(btf as number, ".rodata");
  const rodata = [...maps(obj)].find(([n]) => n.endsWith(".rodata"))?.[1];
  if (!rodata) throw new Error("object has no .rodata section");
  const psize = new BigUint64Array(1);
  const mem = lb.bpf_map__initial_value(rodata, psize);
  if (isBadPointer(mem)) throw new Error("cannot access .rodata initial value");
  const dv = new DataView(toArrayBuffer(mem as Pointer, 0, Number(psize[0])));
  for (const [name, value] of entries) {
    const v = vars.get(name);
    if (!v) throw new Error(`no const volatile '${name}' in .rodata`);
    if (v.offset + v.size > dv.byteLength) throw new Error(`.rodata variable '${name}' out of range`);
    writeScalar(dv, v, name, value);
  }
}

function writeScalar(dv: DataView, v: FieldLayout, name: string, value: number | bigint | boolean): void {
  const n = typeof value === "boolean" ? (value ? 1n : 0n) : BigInt(value);
  const bits = BigInt(v.size * 8);
  if (![1, 2, 4, 8].includes(v.size)) throw new Error(`.rodata '${name}' has unsupported size ${v.size}`);
  if (n >= 1n << bits || n < -(1n << (bits - 1n))) throw new Error(`.rodata '${name}': ${value} does not fit ${v.size} bytes`);
  const u = BigInt.asUintN(Number(bits), n);
  if (v.size === 8) dv.setBigUint64(v.offset, u, true);
  else if (v.size === 4) dv.setUint32(v.offset, Number(u), true);
  else if (v.size === 2) dv.setUint16(v.offset, Number(u), true);
  else dv.setUint8(v.offset, Number(u));
}

function joinLog(lines: LogLine[]): string {
  return lines.filter((l) => l.level <= 1).map((l) => l.text).join("\n");
}

function warnings(lines: LogLine[]): string[] {
  return lines.filter((l) => l.level === LIBBPF_WARN).flatMap((l) => l.text.split("\n"));
}

function tail(ws: string[]): string {
  const useful = ws.filter((w) => w.trim() && !/failed to load object|-- (BEGIN|END) PROG LOAD LOG --/.test(w));
  return useful.length ? ": " + clip(useful.slice(-2).join("; ")) : "";
}

function clip(s: string): string {
  s = s.replace(/\s+/g, " ").trim();
  return s.length > MAX_REASON ? s.slice(0, MAX_REASON - 1) + "…" : s;
}

/**
 * One readable line for a program's failure, from libbpf's "prog '<name>': ..." warnings and the
 * last meaningful lines of the verifier log it printed.
 */
export function programReason(lines: LogLine[], prog: string): string {
  const prefix = `prog '${prog}': `;
  const msgs: string[] = [];
  let verifier: string[] = [];
  for (const l of lines) {
    if (l.level !== LIBBPF_WARN) continue;
    const ls = l.text.split("\n");
    for (let i = 0; i < ls.length; i++) {
      const line = ls[i].replace(/^libbpf: /, "");
      if (!line.startsWith(prefix)) continue;
      const rest = line.slice(prefix.length).trim();
      if (rest.startsWith("-- BEGIN PROG LOAD LOG --")) {
        const end = ls.findIndex((x, j) => j > i && x.includes("-- END PROG LOAD LOG --"));
        verifier = ls.slice(i + 1, end < 0 ? ls.length : end);
        i = end < 0 ? ls.length : end;
        continue;
      }
      if (/^failed to (load|prepare load attributes): -?\d+$/.test(rest)) continue; // bare errno repeats
      msgs.push(rest);
    }
  }
  // The verifier's complaint follows the last instruction it printed ("N: (op) ...").
  const v = verifier.map((x) => x.trim());
  let lastInsn = -1;
  v.forEach((x, i) => { if (/^\d+: /.test(x)) lastInsn = i; });
  const vmsg = v
    .slice(lastInsn + 1)
    .filter((x) => x && !/^(processed \d+ insns|verification time|stack depth|; )/.test(x))
    .slice(-2);
  const parts = [...new Set(msgs)].slice(0, 2);
  if (vmsg.length) parts.push("verifier: " + vmsg.join(" / "));
  return clip(parts.join("; "));
}

/** The program in `candidates` that libbpf's warnings blame, if any. */
function blamed(lines: LogLine[], candidates: Set<string>): string | undefined {
  for (const l of lines) {
    if (l.level !== LIBBPF_WARN) continue;
    for (const m of l.text.matchAll(/prog '([^']+)'/g)) if (candidates.has(m[1])) return m[1];
  }
  return undefined;
}

export class BpfObject {
  /** Every loaded, not yet closed object of the process (per-program cost metrics walk them). */
  static readonly live = new Set<BpfObject>();
  readonly attached: { group: number; program: string }[];
  /** Optional groups dropped because every alternative failed, with the reasons. */
  readonly skipped: { group: number; reason: string }[];
  /** Every alternative that was tried and given up, in order. */
  readonly fallbacks: AltFailure[];
  private obj: Pointer | null;
  private links: Pointer[];
  private keep: unknown[]; // open_mem bytes and opts: referenced for as long as the object lives
  private readonly mapCache = new Map<string, BpfMap>();
  private readonly layoutCache = new Map<string, Map<string, FieldLayout>>();

  private constructor(
    readonly name: string,
    o: Opened,
    links: Pointer[],
    attached: { group: number; program: string }[],
    skipped: { group: number; reason: string }[],
    fallbacks: AltFailure[],
  ) {
    this.obj = o.obj;
    this.keep = o.keep;
    this.links = links;
    this.attached = attached;
    this.skipped = skipped;
    this.fallbacks = fallbacks;
  }

  static load(spec: BpfObjectSpec, log?: Logger): BpfObject {
    installLibbpfPrint(log);
    const groups = spec.groups;
    const cur = groups.map(() => 0); // index of the alternative being tried per group
    const dropped = groups.map(() => false);
    const failures: AltFailure[] = [];
    const skipped: { group: number; reason: string }[] = [];
    const allLines: LogLine[] = [];
    const maxAttempts = groups.reduce((s, g) => s + g.alternatives.length, 0) + 2;

    const fail = (msg: string, e: number): never => {
      throw new BpfLoadError(`${spec.name}: ${msg}`, joinLog(allLines), e, failures);
    };
    // Give up the current alternative of a group; throws when a required group runs out.
    const advance = (f: AltFailure): void => {
      failures.push(f);
      const g = f.group;
      log?.info("bpf program alternative failed, trying next", { probe: spec.name, program: f.program, phase: f.phase, reason: f.reason });
      cur[g]++;
      if (cur[g] < groups[g].alternatives.length) return;
      const why = failures.filter((x) => x.group === g).map((x) => `${x.program}: ${x.reason}`).join("; ");
      if (!groups[g].optional) fail(`no alternative of [${groups[g].alternatives.join(", ")}] could be used: ${why}`, f.errno);
      dropped[g] = true;
      skipped.push({ group: g, reason: why });
      log?.warn("optional bpf program group skipped", { probe: spec.name, group: g, reason: why });
    };

    for (let attempt = 0; attempt < maxAttempts; attempt++) {
      const o = openObject(spec);
      let links: Pointer[] = [];
      let done = false;
      try {
        const progs = programs(o.obj);
        const active = new Map<string, number>(); // program → group
        let missing = false;
        groups.forEach((g, i) => {
          if (dropped[i]) return;
          const name = g.alternatives[cur[i]];
          if (!progs.has(name)) {
            missing = true;
            advance({ group: i, program: name, phase: "missing", errno: 2, reason: "no such program in the object" });
          } else active.set(name, i);
        });
        if (missing) continue;
        for (const [name, p] of progs) libbpf().bpf_program__set_autoload(p, active.has(name));

        const objMaps = maps(o.obj);
        for (const [name, n] of Object.entries(spec.maxEntries ?? {})) {
          const m = objMaps.get(name);
          if (!m) fail(`maxEntries: no map '${name}'`, 2);
          const rc = libbpf().bpf_map__set_max_entries(m!, n);
          if (rc < 0) fail(`set max_entries of '${name}' to ${n}: ${libbpfStrerror(rc)}`, -rc);
        }
        try {
          writeRodata(spec, o.obj);
        } catch (e) {
          fail(`rodata: ${(e as Error).message}`, 22);
        }

        const { result: rc, lines } = captureLibbpf(() => libbpf().bpf_object__load(o.obj));
        allLines.push(...lines);
        if (rc < 0) {
          const prog = blamed(lines, new Set(active.keys()));
          if (prog === undefined) fail(`load failed: ${libbpfStrerror(rc)}${tail(warnings(lines))}`, -rc);
          advance({ group: active.get(prog!)!, program: prog!, phase: "load", errno: -rc, reason: programReason(lines, prog!) || libbpfStrerror(rc) });
          continue;
        }

        const attached: { group: number; program: string }[] = [];
        let attachFailed = false;
        for (const [name, g] of active) {
          const { result, lines: al } = captureLibbpf(() => {
            const l = libbpf().bpf_program__attach(progs.get(name)!);
            return isBadPointer(l) ? { l: null, e: errno() } : { l: l as Pointer, e: 0 };
          });
          allLines.push(...al);
          if (result.l) {
            links.push(result.l);
            attached.push({ group: g, program: name });
            continue;
          }
          attachFailed = true;
          const reason = programReason(al, name) || libbpfStrerror(result.e);
          advance({ group: g, program: name, phase: "attach", errno: result.e, reason: `attach: ${reason}` });
        }
        if (attachFailed) continue;

        attached.sort((a, b) => a.group - b.group);
        done = true;
        const loaded = new BpfObject(spec.name, o, links, attached, skipped, failures);
        BpfObject.live.add(loaded);
        return loaded;
      } finally {
        if (!done) {
          for (const l of links) libbpf().bpf_link__destroy(l);
          links = [];
          libbpf().bpf_object__close(o.obj);
        }
      }
    }
    return fail("too many load attempts", 0);
  }

  /** A map of the loaded object; throws if absent. */
  map(name: string): BpfMap {
    let m = this.mapCache.get(name);
    if (m) return m;
    if (!this.obj) throw new Error(`${this.name}: object closed`);
    const p = libbpf().bpf_object__find_map_by_name(this.obj, name);
    if (isBadPointer(p)) throw new Error(`${this.name}: no map '${name}'`);
    m = mapInfo(p as Pointer);
    this.mapCache.set(name, m);
    return m;
  }

  /** Names of all maps in the object (internal ones included, e.g. "<obj>.rodata"). */
  mapNames(): string[] {
    return this.obj ? [...maps(this.obj).keys()] : [];
  }

  /** Field offsets of a struct from the object's own BTF (the event layouts the .bpf.c emits). */
  structLayout(structName: string): Map<string, FieldLayout> {
    let l = this.layoutCache.get(structName);
    if (l) return l;
    if (!this.obj) throw new Error(`${this.name}: object closed`);
    const btf = libbpf().bpf_object__btf(this.obj);
    if (isBadPointer(btf)) throw new Error(`${this.name}: object has no BTF`);
    l = structLayoutOf(btf as number, structName);
    this.layoutCache.set(structName, l);
    return l;
  }

  /** The fds of the programs the object attached, by program name. */
  programFds(): { program: string; fd: number }[] {
    const obj = this.obj;
    if (!obj) return [];
    return this.attached.flatMap(({ program }) => {
      const p = libbpf().bpf_object__find_program_by_name(obj, program);
      const fd = isBadPointer(p) ? -1 : libbpfProgStats().bpf_program__fd(p as Pointer);
      return fd >= 0 ? [{ program, fd }] : [];
    });
  }

  /** Value → name of an enum in the object's own BTF (e.g. kpulse_outcome). */
  enumNames(enumName: string): Map<number, string> {
    if (!this.obj) throw new Error(`${this.name}: object closed`);
    const btf = libbpf().bpf_object__btf(this.obj);
    if (isBadPointer(btf)) throw new Error(`${this.name}: object has no BTF`);
    return enumNamesOf(btf as number, enumName);
  }

  /** sizeof a struct from the object's own BTF (e.g. to check ring record lengths). */
  structSize(structName: string): number {
    if (!this.obj) throw new Error(`${this.name}: object closed`);
    const btf = libbpf().bpf_object__btf(this.obj);
    if (isBadPointer(btf)) throw new Error(`${this.name}: object has no BTF`);
    return structSizeOf(btf as number, structName);
  }

  /** Destroy links, close the object (maps' fds close with it). Idempotent. */
  close(): void {
    BpfObject.live.delete(this);
    if (!this.obj) return;
    const lb = libbpf();
    for (const l of this.links) lb.bpf_link__destroy(l);
    this.links = [];
    lb.bpf_object__close(this.obj);
    this.obj = null;
    this.keep = [];
    this.mapCache.clear();
  }
}
