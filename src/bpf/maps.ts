// Map readers. Whole-map reads use bpf_map_lookup_batch into buffers preallocated per map
// (5-12x fewer syscalls than get_next_key + lookup per key); maps without batch support
// (STACK_TRACE) fall back to per-key reads. Per-CPU values are decoded as u32 pairs, which is
// exact below 2^53 and avoids BigInt.
import { BATCH_OPTS, libbpf, MAP_TYPE } from "../../ffi/libbpf.ts";
import { strerror } from "../../ffi/libc.ts";
import type { BpfMap } from "./object.ts";

const ENOENT = 2;
const ENOSPC = 28;
const EINVAL = 22;
const ENOTSUPP = 524; // kernel-internal "operation not supported" (batch ops on STACK_TRACE)
const EOPNOTSUPP = 95;
const MAX_CHUNK = 4096;

let ncpus = 0;
/** Possible CPUs (not online ones): the stride count of per-CPU map values. */
export function possibleCpus(): number {
  if (!ncpus) {
    const n = libbpf().libbpf_num_possible_cpus();
    if (n <= 0) throw new Error(`libbpf_num_possible_cpus: ${strerror(-n)}`);
    ncpus = n;
  }
  return ncpus;
}

const PERCPU_TYPES: ReadonlySet<number> = new Set([
  MAP_TYPE.PERCPU_HASH, MAP_TYPE.PERCPU_ARRAY, MAP_TYPE.LRU_PERCPU_HASH, MAP_TYPE.PERCPU_CGROUP_STORAGE,
]);

export function isPerCpu(map: BpfMap): boolean {
  return PERCPU_TYPES.has(map.type);
}

/** Bytes one lookup writes for one key: per-CPU values are roundup(value_size, 8) per possible CPU. */
export function valueStride(map: BpfMap): number {
  return isPerCpu(map) ? ((map.valueSize + 7) & ~7) * possibleCpus() : map.valueSize;
}

export class BpfMapError extends Error {
  constructor(public readonly map: string, public readonly op: string, public readonly errno: number) {
    super(`map ${map}: ${op}: ${strerror(errno)} (errno ${errno})`);
    this.name = "BpfMapError";
  }
}

interface BatchBuffers {
  keys: Uint8Array;
  values: Uint8Array;
  inBatch: Uint8Array;
  outBatch: Uint8Array;
  count: Uint32Array;
  opts: BigUint64Array;
  noBatch: boolean; // learned: this map does not support batch ops
}

// Buffers live as long as the map object, so native code never sees a collected array.
const buffers = new WeakMap<BpfMap, BatchBuffers>();

function buffersFor(map: BpfMap): BatchBuffers {
  let b = buffers.get(map);
  if (!b) {
    const tok = Math.max(8, map.keySize);
    const opts = new BigUint64Array(BATCH_OPTS.sz / 8);
    opts[0] = BigInt(BATCH_OPTS.sz);
    b = {
      keys: new Uint8Array(Math.max(1, map.maxEntries * map.keySize)),
      values: new Uint8Array(Math.max(1, map.maxEntries * valueStride(map))),
      inBatch: new Uint8Array(tok),
      outBatch: new Uint8Array(tok),
      count: new Uint32Array(1),
      opts,
      noBatch: map.type === MAP_TYPE.STACK_TRACE,
    };
    buffers.set(map, b);
  }
  return b;
}

/**
 * Every key/value of a map. The returned arrays are reused by the next call on the same map:
 * decode them before calling again. Values use `valueStride(map)` bytes per entry.
 */
export function lookupBatch(map: BpfMap): { keys: Uint8Array; values: Uint8Array; count: number } {
  const b = buffersFor(map);
  if (!b.noBatch) {
    const got = batchRead(map, b);
    if (got >= 0) return { keys: b.keys, values: b.values, count: got };
    b.noBatch = true;
  }
  return { keys: b.keys, values: b.values, count: perKeyRead(map, b) };
}

/** Returns entries read, or -1 if the map does not support batch lookups. */
function batchRead(map: BpfMap, b: BatchBuffers): number {
  const lb = libbpf();
  const stride = valueStride(map);
  let total = 0;
  let chunk = Math.min(MAX_CHUNK, map.maxEntries);
  let first = true;
  while (total < map.maxEntries) {
    const want = Math.min(chunk, map.maxEntries - total);
    b.count[0] = want;
    const rc = lb.bpf_map_lookup_batch(
      map.fd, first ? null : b.inBatch, b.outBatch,
      b.keys.subarray(total * map.keySize), b.values.subarray(total * stride), b.count, b.opts,
    );
    if (rc < 0 && rc !== -ENOENT) {
      if (first && (rc === -ENOTSUPP || rc === -EOPNOTSUPP || rc === -EINVAL)) return -1;
      if (rc === -ENOSPC && want < map.maxEntries - total) {
        chunk *= 2; // a hash bucket held more than `want` entries
        continue;
      }
      throw new BpfMapError(map.name, "lookup_batch", -rc);
    }
    total += b.count[0]; // valid even when rc is -ENOENT (the last chunk)
    if (rc === -ENOENT) break;
    b.inBatch.set(b.outBatch);
    first = false;
  }
  return total;
}

function perKeyRead(map: BpfMap, b: BatchBuffers): number {
  const lb = libbpf();
  const stride = valueStride(map);
  const prev = new Uint8Array(map.keySize);
  let n = 0;
  let first = true;
  while (n < map.maxEntries) {
    const key = b.keys.subarray(n * map.keySize, (n + 1) * map.keySize);
    const rc = lb.bpf_map_get_next_key(map.fd, first ? null : prev, key);
    if (rc === -ENOENT) break;
    if (rc < 0) throw new BpfMapError(map.name, "get_next_key", -rc);
    first = false;
    prev.set(key);
    const lr = lb.bpf_map_lookup_elem(map.fd, key, b.values.subarray(n * stride));
    if (lr === -ENOENT) continue; // deleted between the two calls
    if (lr < 0) throw new BpfMapError(map.name, "lookup_elem", -lr);
    n++;
  }
  return n;
}

/** One value; `value` must hold valueStride(map) bytes. Returns false when the key is absent. */
export function lookupElem(map: BpfMap, key: Uint8Array, value: Uint8Array): boolean {
  if (value.byteLength < valueStride(map)) throw new Error(`map ${map.name}: value buffer too small`);
  const rc = libbpf().bpf_map_lookup_elem(map.fd, key, value);
  if (rc === -ENOENT) return false;
  if (rc < 0) throw new BpfMapError(map.name, "lookup_elem", -rc);
  return true;
}

export function updateElem(map: BpfMap, key: Uint8Array, value: Uint8Array, flags = 0): void {
  const rc = libbpf().bpf_map_update_elem(map.fd, key, value, flags);
  if (rc < 0) throw new BpfMapError(map.name, "update_elem", -rc);
}

export function deleteElem(map: BpfMap, key: Uint8Array): boolean {
  const rc = libbpf().bpf_map_delete_elem(map.fd, key);
  if (rc === -ENOENT) return false;
  if (rc < 0) throw new BpfMapError(map.name, "delete_elem", -rc);
  return true;
}

/**
 * Sum of a per-CPU u64 value over the possible CPUs, for entry `i` of a values buffer as returned
 * by lookupBatch (or a single lookupElem buffer with i = 0).
 */
export function sumPerCpuU64(map: BpfMap, values: Uint8Array, i: number): number {
  const per = (map.valueSize + 7) & ~7;
  const stride = per * possibleCpus();
  const u32 = new Uint32Array(values.buffer, values.byteOffset + i * stride, stride >>> 2);
  let s = 0;
  for (let w = 0; w < u32.length; w += per >>> 2) s += u32[w] + u32[w + 1] * 4294967296;
  return s;
}

/** Per-key sums over possible CPUs of a per-CPU array of u64 values, indexed by key. */
export function lookupPerCpuArraySums(map: BpfMap): number[] {
  if (!isPerCpu(map) || map.valueSize < 8) throw new Error(`map ${map.name}: not a per-CPU map of u64 values`);
  const { keys, values, count } = lookupBatch(map);
  const out = new Array<number>(map.type === MAP_TYPE.PERCPU_ARRAY ? map.maxEntries : count).fill(0);
  const kdv = new DataView(keys.buffer, keys.byteOffset, keys.byteLength);
  for (let i = 0; i < count; i++) {
    const idx = map.type === MAP_TYPE.PERCPU_ARRAY ? kdv.getUint32(i * map.keySize, true) : i;
    out[idx] = sumPerCpuU64(map, values, i);
  }
  return out;
}
