// Event ids in xid format (github.com/rs/xid), the format HUATUO uses for tracer_id:
// 12 bytes = 4-byte big-endian unix seconds, 3-byte machine id, 2-byte pid, 3-byte counter,
// written as 20 lowercase base32hex characters. Base32hex keeps byte order, so ids sort by
// creation time, which makes them usable as SSE ids and OpenSearch _ids.
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { hostname } from "node:os";

const ALPHABET = "0123456789abcdefghijklmnopqrstuv";
/** Every 10-bit value as two base32hex characters. */
const PAIRS = Array.from({ length: 1024 }, (_, v) => ALPHABET[v >> 5]! + ALPHABET[v & 31]!);

/** Encode 12 id bytes as 20 base32hex chars (the 96-bit stream padded with 4 zero bits). */
export function encodeXid(bytes: Uint8Array): string {
  let out = "";
  let acc = 0;
  let bits = 0;
  for (const b of bytes) {
    acc = ((acc << 8) | b) & 0xfff; // at most 12 live bits: 4 left over + 8 new
    bits += 8;
    while (bits >= 5) {
      bits -= 5;
      out += ALPHABET[(acc >> bits) & 0x1f];
    }
  }
  if (bits > 0) out += ALPHABET[(acc << (5 - bits)) & 0x1f];
  return out;
}

/** Decode a 20-char xid back to its 12 bytes, or null if it is not one. */
export function decodeXid(id: string): Uint8Array | null {
  if (id.length !== 20) return null;
  const out = new Uint8Array(12);
  let acc = 0;
  let bits = 0;
  let n = 0;
  for (const ch of id) {
    const v = ALPHABET.indexOf(ch);
    if (v < 0) return null;
    acc = ((acc << 5) | v) & 0x1fff;
    bits += 5;
    if (bits >= 8 && n < 12) {
      bits -= 8;
      out[n++] = (acc >> bits) & 0xff;
    }
  }
  return out;
}

/** Unix seconds embedded in an xid, or null. */
export function xidTime(id: string): number | null {
  const b = decodeXid(id);
  if (!b) return null;
  return ((b[0] << 24) >>> 0) + (b[1] << 16) + (b[2] << 8) + b[3];
}

// xid derives the machine id from the platform machine id, else the hostname; same here.
function machineId(): Uint8Array {
  let seed = "";
  for (const p of ["/etc/machine-id", "/sys/class/dmi/id/product_uuid"]) {
    try {
      seed = readFileSync(p, "utf8").trim();
      if (seed) break;
    } catch {}
  }
  if (!seed) seed = hostname();
  return new Uint8Array(createHash("md5").update(seed).digest().subarray(0, 3));
}

export interface IdGeneratorOptions {
  machine?: Uint8Array;
  pid?: number;
  /** Starting counter value; random by default (as in xid). */
  counter?: number;
}

export function createIdGenerator(opts: IdGeneratorOptions = {}): (nowMs?: number) => string {
  const machine = opts.machine ?? machineId();
  const pid = (opts.pid ?? process.pid) & 0xffff;
  let counter = (opts.counter ?? Math.floor(Math.random() * 0x1000000)) & 0xffffff;
  const buf = new Uint8Array(12);
  buf.set(machine.subarray(0, 3), 4);
  buf[7] = pid >> 8;
  buf[8] = pid & 0xff;
  // Bytes 0-8 (time, machine, pid) change once a second: their first 14 characters are
  // cached, and only the last 6 (2 bits of the pid, the counter, 4 pad bits) are encoded per id.
  let cachedSec = -1;
  let prefix = "";
  return (nowMs = Date.now()) => {
    const sec = Math.floor(nowMs / 1000) >>> 0;
    if (sec !== cachedSec) {
      cachedSec = sec;
      buf[0] = sec >>> 24;
      buf[1] = (sec >>> 16) & 0xff;
      buf[2] = (sec >>> 8) & 0xff;
      buf[3] = sec & 0xff;
      prefix = encodeXid(buf).slice(0, 14);
    }
    counter = (counter + 1) & 0xffffff;
    // 30 bits: 2 pid bits, the counter, 4 pad bits; fits an int32, so shifts are exact. It is
    // written as three 10-bit pairs of base32hex characters from a table (one id per event).
    const tail = (((buf[8]! & 3) << 24) | counter) << 4;
    return prefix + PAIRS[tail >>> 20]! + PAIRS[(tail >>> 10) & 0x3ff]! + PAIRS[tail & 0x3ff]!;
  };
}

let shared: ((nowMs?: number) => string) | undefined;

/** A fresh unique id for an event; time-sortable at one-second granularity. */
export function newTracerId(nowMs?: number): string {
  shared ??= createIdGenerator();
  return shared(nowMs);
}
