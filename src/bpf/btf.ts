// BTF queries through libbpf's btf API: enum names from the running kernel (numbering differs
// between kernels, e.g. skb_drop_reason) and struct layouts from an object's own BTF (so the
// TypeScript decoders take offsets from the compiled object instead of hand-kept copies).
import { read, type Pointer } from "bun:ffi";
import { BTF_KIND, libbpf } from "../../ffi/libbpf.ts";
import { errno, isBadPointer, strerror } from "../../ffi/libc.ts";

export interface FieldLayout {
  offset: number; // bytes from the start of the struct
  size: number; // bytes (the member's whole type; for bitfields, of the underlying type)
}

const HDR = 12; // sizeof(struct btf_type)

interface RawType {
  p: Pointer;
  nameOff: number;
  kind: number;
  vlen: number;
  kflag: boolean;
  sizeOrType: number;
}

function typeAt(btf: Pointer, id: number): RawType {
  const p = libbpf().btf__type_by_id(btf, id);
  if (isBadPointer(p)) throw new Error(`BTF type id ${id} not found`);
  const info = read.u32(p as Pointer, 4);
  return {
    p: p as Pointer,
    nameOff: read.u32(p as Pointer, 0),
    kind: (info >>> 24) & 0x1f,
    vlen: info & 0xffff,
    kflag: (info & 0x80000000) !== 0,
    sizeOrType: read.u32(p as Pointer, 8),
  };
}

function nameOf(btf: Pointer, off: number): string {
  return off ? String(libbpf().btf__name_by_offset(btf, off) ?? "") : "";
}

const MODIFIERS: ReadonlySet<number> = new Set([
  BTF_KIND.TYPEDEF, BTF_KIND.VOLATILE, BTF_KIND.CONST, BTF_KIND.RESTRICT, BTF_KIND.TYPE_TAG,
]);

function skipModifiers(btf: Pointer, id: number): RawType {
  let t = typeAt(btf, id);
  for (let i = 0; i < 64 && MODIFIERS.has(t.kind); i++) t = typeAt(btf, t.sizeOrType);
  return t;
}

/** Size in bytes of a BTF type, resolved through typedefs, qualifiers and arrays. */
export function typeSize(btf: Pointer, id: number): number {
  const t = skipModifiers(btf, id);
  switch (t.kind) {
    case BTF_KIND.INT: case BTF_KIND.ENUM: case BTF_KIND.ENUM64: case BTF_KIND.FLOAT:
    case BTF_KIND.STRUCT: case BTF_KIND.UNION: case BTF_KIND.DATASEC:
      return t.sizeOrType;
    case BTF_KIND.PTR:
      return 8; // 64-bit targets only (BPF objects and x86-64/arm64 kernels)
    case BTF_KIND.ARRAY:
      return typeSize(btf, read.u32(t.p, HDR)) * read.u32(t.p, HDR + 8);
    case BTF_KIND.VAR:
      return typeSize(btf, t.sizeOrType);
    default:
      return 0; // void, func, fwd
  }
}

function findId(btf: Pointer, name: string, kinds: number[]): number {
  for (const k of kinds) {
    const id = libbpf().btf__find_by_name_kind(btf, name, k);
    if (id > 0) return id;
  }
  return -1;
}

function collectMembers(btf: Pointer, t: RawType, base: number, out: Map<string, FieldLayout>): void {
  for (let i = 0; i < t.vlen; i++) {
    const m = HDR + i * 12;
    const name = nameOf(btf, read.u32(t.p, m));
    const type = read.u32(t.p, m + 4);
    const raw = read.u32(t.p, m + 8);
    const bitOff = t.kflag ? raw & 0xffffff : raw; // kflag: top 8 bits hold the bitfield size
    const offset = base + Math.floor(bitOff / 8);
    if (name === "") {
      // anonymous struct/union: its members belong to the enclosing struct
      const inner = skipModifiers(btf, type);
      if (inner.kind === BTF_KIND.STRUCT || inner.kind === BTF_KIND.UNION) collectMembers(btf, inner, offset, out);
      continue;
    }
    out.set(name, { offset, size: typeSize(btf, type) });
  }
}

/** Field name → {offset, size} in bytes for a struct (or union) in the given BTF. */
export function structLayoutOf(btfPtr: number, structName: string): Map<string, FieldLayout> {
  const btf = btfPtr as Pointer;
  const id = findId(btf, structName, [BTF_KIND.STRUCT, BTF_KIND.UNION]);
  if (id < 0) throw new Error(`BTF has no struct ${structName}`);
  const out = new Map<string, FieldLayout>();
  collectMembers(btf, typeAt(btf, id), 0, out);
  return out;
}

/** sizeof(struct structName) in the given BTF. */
export function structSizeOf(btfPtr: number, structName: string): number {
  const btf = btfPtr as Pointer;
  const id = findId(btf, structName, [BTF_KIND.STRUCT, BTF_KIND.UNION]);
  if (id < 0) throw new Error(`BTF has no struct ${structName}`);
  return typeAt(btf, id).sizeOrType;
}

/** Value → enumerator name of an enum (or enum64) in the given BTF. */
export function enumNamesOf(btfPtr: number, enumName: string): Map<number, string> {
  const btf = btfPtr as Pointer;
  const id = findId(btf, enumName, [BTF_KIND.ENUM, BTF_KIND.ENUM64]);
  if (id < 0) throw new Error(`BTF has no enum ${enumName}`);
  const t = typeAt(btf, id);
  const out = new Map<number, string>();
  const wide = t.kind === BTF_KIND.ENUM64;
  for (let i = 0; i < t.vlen; i++) {
    const e = HDR + i * (wide ? 12 : 8);
    const name = nameOf(btf, read.u32(t.p, e));
    let val: number;
    if (wide) {
      const lo = read.u32(t.p, e + 4), hi = read.u32(t.p, e + 8);
      val = t.kflag ? (hi | 0) * 2 ** 32 + lo : hi * 2 ** 32 + lo;
    } else {
      val = t.kflag ? read.i32(t.p, e + 4) : read.u32(t.p, e + 4);
    }
    if (!out.has(val)) out.set(val, name);
  }
  return out;
}

/** Variable name → {offset, size} inside a data section (".rodata", ".bss", ...). */
export function datasecVarsOf(btfPtr: number, secName: string): Map<string, FieldLayout> {
  const btf = btfPtr as Pointer;
  const id = findId(btf, secName, [BTF_KIND.DATASEC]);
  const out = new Map<string, FieldLayout>();
  if (id < 0) return out;
  const t = typeAt(btf, id);
  for (let i = 0; i < t.vlen; i++) {
    const s = HDR + i * 12;
    const v = typeAt(btf, read.u32(t.p, s));
    out.set(nameOf(btf, v.nameOff), { offset: read.u32(t.p, s + 4), size: read.u32(t.p, s + 8) });
  }
  return out;
}

// The running kernel's BTF is several MB and takes tens of ms to parse: it is loaded once while
// probes start (every enum or struct lookup shares it) and released when they have settled.
let vmlinux: number | null = null;

/** Run `fn` with the running kernel's vmlinux BTF (loaded on first use, kept until released). */
export function withVmlinuxBtf<R>(fn: (btf: number) => R): R {
  if (vmlinux === null) {
    const p = libbpf().btf__load_vmlinux_btf();
    if (isBadPointer(p)) {
      const e = errno();
      throw new Error(`cannot load kernel BTF (/sys/kernel/btf/vmlinux): ${strerror(e)}`);
    }
    vmlinux = p as number;
  }
  return fn(vmlinux);
}

/** Free the kernel BTF; the next lookup loads it again. */
export function releaseVmlinuxBtf(): void {
  if (vmlinux !== null) libbpf().btf__free(vmlinux as unknown as Pointer);
  vmlinux = null;
}

/** Run `fn` with the BTF of an ELF object file (a built .bpf.o), freeing it afterwards. */
export function withObjectFileBtf<R>(path: string, fn: (btf: number) => R): R {
  const lb = libbpf();
  const p = lb.btf__parse(Buffer.from(path + "\0"), null);
  if (isBadPointer(p)) {
    const e = errno();
    throw new Error(`cannot read BTF from ${path}: ${strerror(e)}`);
  }
  try {
    return fn(p as number);
  } finally {
    lb.btf__free(p);
  }
}

const enumCache = new Map<string, Map<number, string>>();

/** Enum value → name from the running kernel (cached per enum). */
export function vmlinuxEnum(enumName: string): Map<number, string> {
  let m = enumCache.get(enumName);
  if (!m) {
    m = withVmlinuxBtf((btf) => enumNamesOf(btf, enumName));
    enumCache.set(enumName, m);
  }
  return m;
}

/** True when the running kernel's BTF has a typed tracepoint `name` (its btf_trace_<name> typedef). */
export function vmlinuxHasTracepoint(name: string): boolean {
  return withVmlinuxBtf((btf) => libbpf().btf__find_by_name_kind(btf as unknown as Pointer, `btf_trace_${name}`, BTF_KIND.TYPEDEF) > 0);
}

/** Struct layout from the running kernel's BTF. */
export function vmlinuxStructLayout(structName: string): Map<string, FieldLayout> {
  return withVmlinuxBtf((btf) => structLayoutOf(btf, structName));
}
