// Thin bindings to libbpf.so.1 (1.x API: constructors return NULL and set errno, bpf_* calls
// return -errno). Struct offsets below are checked against <bpf/libbpf.h> by
// tests/unit/libbpf-layout.test.ts; do not edit them by hand without running it.
import { dlopen, FFIType as T } from "bun:ffi";

/** struct bpf_object_open_opts (libbpf 1.1.2). */
export const OPEN_OPTS = {
  sz: 80,
  object_name: 8,
  relaxed_maps: 16,
  pin_root_path: 24,
  kconfig: 40,
  btf_custom_path: 48,
  kernel_log_buf: 56,
  kernel_log_size: 64,
  kernel_log_level: 72,
} as const;

/** struct bpf_map_batch_opts: { size_t sz; __u64 elem_flags; __u64 flags; } */
export const BATCH_OPTS = { sz: 24, elem_flags: 8, flags: 16 } as const;

/** libbpf_print_level */
export const LIBBPF_WARN = 0;
export const LIBBPF_INFO = 1;
export const LIBBPF_DEBUG = 2;

/** enum bpf_map_type values used by the runtime. */
export const MAP_TYPE = {
  HASH: 1,
  ARRAY: 2,
  PERCPU_HASH: 5,
  PERCPU_ARRAY: 6,
  STACK_TRACE: 7,
  LRU_PERCPU_HASH: 10,
  PERCPU_CGROUP_STORAGE: 21,
  RINGBUF: 27,
} as const;

/** BTF kinds (BTF_KIND_*). */
export const BTF_KIND = {
  INT: 1, PTR: 2, ARRAY: 3, STRUCT: 4, UNION: 5, ENUM: 6, FWD: 7, TYPEDEF: 8, VOLATILE: 9,
  CONST: 10, RESTRICT: 11, FUNC: 12, FUNC_PROTO: 13, VAR: 14, DATASEC: 15, FLOAT: 16,
  DECL_TAG: 17, TYPE_TAG: 18, ENUM64: 19,
} as const;

const symbols = {
  // objects
  bpf_object__open_mem: { args: [T.ptr, T.u64, T.ptr], returns: T.ptr },
  bpf_object__load: { args: [T.ptr], returns: T.i32 },
  bpf_object__close: { args: [T.ptr], returns: T.void },
  bpf_object__btf: { args: [T.ptr], returns: T.ptr },
  // programs
  bpf_object__find_program_by_name: { args: [T.ptr, T.cstring], returns: T.ptr },
  bpf_object__next_program: { args: [T.ptr, T.ptr], returns: T.ptr },
  bpf_program__name: { args: [T.ptr], returns: T.cstring },
  bpf_program__section_name: { args: [T.ptr], returns: T.cstring },
  bpf_program__set_autoload: { args: [T.ptr, T.bool], returns: T.i32 },
  bpf_program__attach: { args: [T.ptr], returns: T.ptr },
  bpf_link__destroy: { args: [T.ptr], returns: T.i32 },
  // maps (object side)
  bpf_object__find_map_by_name: { args: [T.ptr, T.cstring], returns: T.ptr },
  bpf_object__next_map: { args: [T.ptr, T.ptr], returns: T.ptr },
  bpf_map__name: { args: [T.ptr], returns: T.cstring },
  bpf_map__fd: { args: [T.ptr], returns: T.i32 },
  bpf_map__type: { args: [T.ptr], returns: T.i32 },
  bpf_map__key_size: { args: [T.ptr], returns: T.u32 },
  bpf_map__value_size: { args: [T.ptr], returns: T.u32 },
  bpf_map__max_entries: { args: [T.ptr], returns: T.u32 },
  bpf_map__set_max_entries: { args: [T.ptr, T.u32], returns: T.i32 },
  bpf_map__initial_value: { args: [T.ptr, T.ptr], returns: T.ptr },
  // maps (fd side)
  bpf_map_lookup_elem: { args: [T.i32, T.ptr, T.ptr], returns: T.i32 },
  bpf_map_update_elem: { args: [T.i32, T.ptr, T.ptr, T.u64], returns: T.i32 },
  bpf_map_delete_elem: { args: [T.i32, T.ptr], returns: T.i32 },
  bpf_map_get_next_key: { args: [T.i32, T.ptr, T.ptr], returns: T.i32 },
  bpf_map_lookup_batch: { args: [T.i32, T.ptr, T.ptr, T.ptr, T.ptr, T.ptr, T.ptr], returns: T.i32 },
  bpf_map_lookup_and_delete_batch: { args: [T.i32, T.ptr, T.ptr, T.ptr, T.ptr, T.ptr, T.ptr], returns: T.i32 },
  // misc
  libbpf_num_possible_cpus: { args: [], returns: T.i32 },
  libbpf_set_print: { args: [T.ptr], returns: T.ptr }, // T.ptr, not T.function: must accept NULL
  libbpf_get_error: { args: [T.ptr], returns: T.i64_fast },
  libbpf_strerror: { args: [T.i32, T.ptr, T.u64], returns: T.i32 },
  // BTF
  btf__load_vmlinux_btf: { args: [], returns: T.ptr },
  btf__parse: { args: [T.cstring, T.ptr], returns: T.ptr },
  btf__free: { args: [T.ptr], returns: T.void },
  btf__type_cnt: { args: [T.ptr], returns: T.u32 },
  btf__find_by_name_kind: { args: [T.ptr, T.cstring, T.u32], returns: T.i32 },
  btf__type_by_id: { args: [T.ptr, T.u32], returns: T.ptr },
  btf__name_by_offset: { args: [T.ptr, T.u32], returns: T.cstring },
} as const;

export type LibBpf = ReturnType<typeof dlopen<typeof symbols>>["symbols"];

let lib: LibBpf | undefined;
let libPath = "libbpf.so.1";

/**
 * Where to dlopen libbpf from (e.g. "/proc/self/fd/N" for an embedded copy in a memfd).
 * Must be called before the first `libbpf()`.
 */
export function setLibbpfPath(path: string): void {
  if (lib) throw new Error("libbpf already opened");
  libPath = path;
}

/** The libbpf symbols, opened on first use so that importing this module never fails. */
export function libbpf(): LibBpf {
  if (!lib) {
    try {
      lib = dlopen(libPath, symbols).symbols;
    } catch (e) {
      throw new Error(`cannot load ${libPath}: ${(e as Error).message}`);
    }
  }
  return lib;
}

/** libbpf's text for a (negative or positive) error code. */
export function libbpfStrerror(err: number): string {
  const buf = new Uint8Array(256);
  libbpf().libbpf_strerror(-Math.abs(err), buf, buf.length);
  const n = buf.indexOf(0);
  return new TextDecoder().decode(buf.subarray(0, n < 0 ? buf.length : n));
}

// ── BPF program statistics (src/bpf/prog-stats.ts) ────────────────────────────────────────────
// Kept apart from `symbols` above so that table stays as it is; opened lazily from the same
// library path. libbpf 1.1 has no bpf_prog_get_info_by_fd: bpf_obj_get_info_by_fd serves.

/** struct bpf_prog_info (uapi <linux/bpf.h>): the fields read; checked by tests/unit/prog-stats-layout.test.ts. */
export const PROG_INFO = {
  sz: 232,
  type: 0,
  id: 4,
  tag: 8,
  name: 64,
  run_time_ns: 192,
  run_cnt: 200,
  recursion_misses: 208,
  verified_insns: 216,
} as const;

/** enum bpf_stats_type */
export const BPF_STATS_RUN_TIME = 0;

const progStatsSymbols = {
  bpf_program__fd: { args: [T.ptr], returns: T.i32 },
  bpf_obj_get_info_by_fd: { args: [T.i32, T.ptr, T.ptr], returns: T.i32 },
  bpf_enable_stats: { args: [T.i32], returns: T.i32 },
} as const;

export type LibBpfProgStats = ReturnType<typeof dlopen<typeof progStatsSymbols>>["symbols"];

let progStatsLib: LibBpfProgStats | undefined;

/** libbpf's program-statistics symbols, opened on first use from the same path as libbpf(). */
export function libbpfProgStats(): LibBpfProgStats {
  if (!progStatsLib) {
    try {
      progStatsLib = dlopen(libPath, progStatsSymbols).symbols;
    } catch (e) {
      throw new Error(`cannot load ${libPath}: ${(e as Error).message}`);
    }
  }
  return progStatsLib;
}

// ── Which libbpf is loaded (src/bpf/libbpf-origin.ts) ──────────────────────────────────────────
// libbpf ≥ 0.6 exports its major.minor; the embedded bundle also names what it was built from.

const versionSymbols = {
  libbpf_major_version: { args: [], returns: T.u32 },
  libbpf_minor_version: { args: [], returns: T.u32 },
} as const;

/** The path libbpf is (or will be) opened from. */
export function libbpfPath(): string {
  return libPath;
}

/** major.minor of the libbpf opened from the current path (opens it if needed; throws like libbpf()). */
export function libbpfVersion(): string {
  libbpf();
  const v = dlopen(libPath, versionSymbols).symbols;
  return `${v.libbpf_major_version()}.${v.libbpf_minor_version()}`;
}

/** The bundle's own description of its contents (only build/libbpf-bundle.so exports it). */
export function libbpfBundleContents(path: string): string {
  const s = dlopen(path, { kpulse_libbpf_bundle_contents: { args: [], returns: T.cstring } }).symbols;
  return String(s.kpulse_libbpf_bundle_contents());
}
