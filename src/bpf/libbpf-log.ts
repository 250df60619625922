// Routes libbpf's print output into JS. libbpf_set_print is process-global, so one main-thread
// JSCallback is installed once and kept for the life of the process (never closed: libbpf may
// still hold it). During a load/attach window the lines are captured so failures can be
// attributed to a program; otherwise they go to the logger at debug level.
import { JSCallback, FFIType as T, type Pointer } from "bun:ffi";
import { libbpf, LIBBPF_DEBUG, LIBBPF_WARN } from "../../ffi/libbpf.ts";
import { libc } from "../../ffi/libc.ts";
import type { Logger } from "../log.ts";

export interface LogLine {
  level: number; // LIBBPF_WARN / INFO / DEBUG
  text: string; // may span several lines (verifier logs come as one message)
}

const VA_LIST_SIZE = 24; // x86-64 __va_list_tag; copying it is va_copy
let installed: JSCallback | undefined;
let buf = new Uint8Array(1024);
const vaSaved = new Uint8Array(VA_LIST_SIZE);
const vaWork = new Uint8Array(VA_LIST_SIZE);
const decoder = new TextDecoder();
let capture: LogLine[] | null = null;
let sink: Logger | undefined;

function format(fmt: Pointer, ap: Pointer): string {
  const c = libc();
  c.memcpy(vaSaved, ap, VA_LIST_SIZE);
  for (;;) {
    // vsnprintf consumes the va_list, so always format from a fresh copy of the saved one.
    vaWork.set(vaSaved);
    const n = c.vsnprintf(buf, buf.length, fmt, vaWork);
    if (n < 0) return "";
    if (n < buf.length) return decoder.decode(buf.subarray(0, n));
    buf = new Uint8Array(Math.max(n + 1, buf.length * 2));
  }
}

function onPrint(level: number, fmt: Pointer, ap: Pointer): number {
  try {
    const text = format(fmt, ap).replace(/\n$/, "");
    if (capture) capture.push({ level, text });
    else if (sink && level < LIBBPF_DEBUG) sink.debug("libbpf", { level: level === LIBBPF_WARN ? "warn" : "info", text });
  } catch {
    // never throw back into C
  }
  return 0;
}

/** Install the print hook (idempotent). Must run on the thread that calls libbpf. */
export function installLibbpfPrint(log?: Logger): void {
  if (log) sink = log;
  if (installed) return;
  installed = new JSCallback(onPrint, { args: [T.i32, T.ptr, T.ptr], returns: T.i32 });
  libbpf().libbpf_set_print(installed.ptr);
}

/** Run `fn` while collecting every libbpf message it causes. Re-entrant calls share the outer capture. */
export function captureLibbpf<R>(fn: () => R): { result: R; lines: LogLine[] } {
  installLibbpfPrint();
  if (capture) {
    const start = capture.length;
    const result = fn();
    return { result, lines: capture.slice(start) };
  }
  const lines: LogLine[] = [];
  capture = lines;
  try {
    return { result: fn(), lines };
  } finally {
    capture = null;
  }
}
