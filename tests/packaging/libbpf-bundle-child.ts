// Child process for libbpf-bundle.test.ts: opens a libbpf ("bundle": build/libbpf-bundle.so from
// a memfd, as the agent does; otherwise the path given, e.g. the host's libbpf.so.1) and
// exercises the calls that the bundle's build had to rewire (native/libbpf-bundle/): fstat
// (libelf reading an ELF file), fcntl64 (libbpf moving a new fd off 0-2), stderr and elf_errmsg
// (libbpf's default log of a libelf error, on this process's stderr). Prints one JSON line.
// Runs in its own process: the library and fd 0 are process-wide.
import { dlopen, FFIType as T } from "bun:ffi";
import { readFileSync, readlinkSync } from "node:fs";
import { join, resolve } from "node:path";
import { libc, memfdFromBytes } from "../../ffi/libc.ts";

const ROOT = resolve(import.meta.dir, "../..");
const which = process.argv[2] ?? "bundle";
const path = which === "bundle"
  ? `/proc/self/fd/${memfdFromBytes("libbpf-bundle-test.so", readFileSync(join(ROOT, "build/libbpf-bundle.so")))}`
  : which;
const lib = dlopen(path, {
  btf__parse: { args: [T.cstring, T.ptr], returns: T.ptr },
  btf__type_cnt: { args: [T.ptr], returns: T.u32 },
  btf__free: { args: [T.ptr], returns: T.void },
  bpf_object__open_mem: { args: [T.ptr, T.u64, T.ptr], returns: T.ptr },
  bpf_map_create: { args: [T.i32, T.cstring, T.u32, T.u32, T.u32, T.ptr], returns: T.i32 },
}).symbols;

// libelf opens the file with elf_begin(fd), which sizes it with fstat.
const btf = lib.btf__parse(join(ROOT, "build/bpf/dropwatch.bpf.o"), null);
const btfTypes = btf ? lib.btf__type_cnt(btf) : 0;
if (btf) lib.btf__free(btf);

// An ELF identification with no header after it: libelf refuses it and libbpf logs elf_errmsg(-1).
const truncated = new Uint8Array([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
const obj = lib.bpf_object__open_mem(truncated, truncated.length, null);

// With fd 0 free the kernel hands out 0 for the map; libbpf moves it to >= 3 with fcntl and
// closes 0 (ensure_good_fd).
libc().close(0);
const BPF_MAP_TYPE_ARRAY = 2;
const mapFd = lib.bpf_map_create(BPF_MAP_TYPE_ARRAY, "kp_bundle_t", 4, 4, 1, null);
const link = (fd: number) => { try { return readlinkSync(`/proc/self/fd/${fd}`); } catch { return null; } };

console.log(JSON.stringify({ btfTypes, openTruncated: obj === null ? "null" : "object", mapFd, mapFdLink: link(mapFd), fd0Link: link(0) }));
