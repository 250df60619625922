// Reading a TOML config file with bounded cost, and knowing where every key is written.
//
// One parse (toml-eslint-parser) gives both the values and an AST with positions: each key
// path is mapped to its line and, for scalars, to its TOML kind (so `1e3` — a float — is told
// apart from the integer 1000). The file is hostile input: its size is capped before it is
// read, only regular files are read (so `/dev/zero` cannot hang the agent), binary data is
// refused as "not a TOML file", a UTF-8 byte-order mark is accepted, and nesting is bounded.
import { closeSync, fstatSync, openSync, readSync } from "node:fs";
import { getStaticTOMLValue, parseTOML, ParseError, type AST } from "toml-eslint-parser";

export type PathSeg = string | number;

/** Where a key is written, and the TOML kind of a scalar value ("integer", "float", …). */
export interface KeyPosition {
  line: number;
  kind?: string;
}
export type KeyPositions = Map<string, KeyPosition>;

export interface ParsedToml {
  value: Record<string, unknown>;
  positions: KeyPositions;
}

/** A config file is small; anything bigger is a mistake (or an attack) and is refused unread. */
export const MAX_CONFIG_BYTES = 1024 * 1024;
/** Tables and arrays nested deeper than this are refused (HUATUO's deepest is 4). */
export const MAX_DEPTH = 16;

/** Thrown for anything that makes the text unusable as TOML; line/column when known (1-based). */
export class TomlError extends Error {
  constructor(message: string, readonly line?: number, readonly column?: number) {
    super(message);
    this.name = "TomlError";
  }
}

const BARE = /^[A-Za-z0-9_-]+$/;

/** `a.b[0]."odd key"` — the form used for map keys here and in error messages. */
export function formatPath(segs: readonly PathSeg[]): string {
  let out = "";
  for (const s of segs) {
    if (typeof s === "number") out += `[${s}]`;
    else out += (out ? "." : "") + (BARE.test(s) ? s : JSON.stringify(s));
  }
  return out;
}

/** The line of `segs`, or of its nearest recorded ancestor. */
export function lineOf(positions: KeyPositions, segs: readonly PathSeg[]): number | undefined {
  for (let n = segs.length; n > 0; n--) {
    const p = positions.get(formatPath(segs.slice(0, n)));
    if (p !== undefined) return p.line;
  }
  return undefined;
}

/**
 * Read a config file: a regular file of at most MAX_CONFIG_BYTES. Errors carry Node's `code`
 * ("ENOENT", …) when the file system refused, so the caller can word them.
 */
export function readConfigFile(path: string): string {
  const fd = openSync(path, "r");
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw new TomlError(`not a regular file (a config file must be a plain file)`);
    if (st.size > MAX_CONFIG_BYTES) throw new TomlError(`file is ${st.size} bytes; a config file may be at most ${MAX_CONFIG_BYTES} bytes`);
    // Read at most one byte past the cap, whatever size fstat claimed (the file may be growing).
    const buf = Buffer.allocUnsafe(MAX_CONFIG_BYTES + 1);
    let n = 0;
    for (let r; n < buf.length && (r = readSync(fd, buf, n, buf.length - n, null)) > 0; ) n += r;
    if (n > MAX_CONFIG_BYTES) throw new TomlError(`file is larger than ${MAX_CONFIG_BYTES} bytes`);
    return decodeText(buf.subarray(0, n));
  } finally {
    closeSync(fd);
  }
}

const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/** UTF-8 text without a byte-order mark; binary data is "not a TOML file", with its line. */
export function decodeText(bytes: Uint8Array): string {
  const nul = bytes.indexOf(0);
  if (nul >= 0) throw notToml(bytes, nul, "it contains a NUL byte");
  let text: string;
  try {
    text = utf8.decode(bytes);
  } catch {
    throw notToml(bytes, firstInvalidUtf8(bytes), "it is not UTF-8 text");
  }
  return text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
}

function notToml(bytes: Uint8Array, at: number, why: string): TomlError {
  let line = 1;
  for (let i = 0; i < at; i++) if (bytes[i] === 10) line++;
  return new TomlError(`not a TOML file: ${why} (line ${line})`, line);
}

function firstInvalidUtf8(b: Uint8Array): number {
  for (let i = 0; i < b.length; ) {
    const c = b[i]!;
    const n = c < 0x80 ? 1 : c >= 0xc2 && c < 0xe0 ? 2 : c >= 0xe0 && c < 0xf0 ? 3 : c >= 0xf0 && c < 0xf5 ? 4 : 0;
    if (n === 0 || i + n > b.length) return i;
    for (let k = 1; k < n; k++) if ((b[i + k]! & 0xc0) !== 0x80) return i;
    i += n;
  }
  return b.length;
}

/** Parse TOML text once: values plus the line (and scalar kind) of every key path. */
export function parseToml(text: string): ParsedToml {
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  let ast: AST.TOMLProgram;
  try {
    ast = parseTOML(text);
  } catch (e) {
    if (e instanceof ParseError) {
      let line = e.lineNumber;
      let column = e.column + 1;
      // A missing value is noticed at the next line's start: point at the end of the key's line.
      if (column === 1 && line > 1 && /^Unspecified value/.test(e.message)) {
        line--;
        column = (text.split("\n")[line - 1] ?? "").length + 1;
      }
      // Control characters where a key should start: this is not a text config at all.
      if (/[\x00-\x08\x0e-\x1f\x7f]/.test(text.split("\n")[line - 1] ?? ""))
        throw new TomlError(`not a TOML file: control characters at line ${line}`, line, column);
      throw new TomlError(e.message, line, column);
    }
    if (e instanceof RangeError) throw new TomlError(`arrays or tables are nested too deeply (at most ${MAX_DEPTH} levels)`);
    throw e;
  }
  const positions: KeyPositions = new Map();
  const top = ast.body[0];
  for (const node of top.body) {
    if (node.type === "TOMLTable") {
      const base = node.resolvedKey;
      if (base.length > MAX_DEPTH) throw deep(node);
      record(positions, base, node);
      for (const kv of node.body) keyValue(positions, base, kv, base.length);
    } else {
      keyValue(positions, [], node, 0);
    }
  }
  return { value: getStaticTOMLValue(ast) as Record<string, unknown>, positions };
}

function deep(node: AST.TOMLNode): TomlError {
  const line = node.loc.start.line;
  return new TomlError(`arrays or tables are nested too deeply (at most ${MAX_DEPTH} levels)`, line, node.loc.start.column + 1);
}

function record(positions: KeyPositions, path: readonly PathSeg[], node: AST.TOMLNode, kind?: string): void {
  const k = formatPath(path);
  // The first line a path appears on wins (a table created implicitly points at that line).
  if (!positions.has(k)) positions.set(k, { line: node.loc.start.line, kind });
}

function keyValue(positions: KeyPositions, base: readonly PathSeg[], kv: AST.TOMLKeyValue, depth: number): void {
  const path = [...base];
  for (const k of kv.key.keys) {
    path.push(k.type === "TOMLBare" ? k.name : k.value);
    record(positions, path, kv);
  }
  content(positions, path, kv.value, depth + kv.key.keys.length);
}

function content(positions: KeyPositions, path: PathSeg[], node: AST.TOMLContentNode, depth: number): void {
  if (depth > MAX_DEPTH) throw deep(node);
  if (node.type === "TOMLValue") {
    const p = positions.get(formatPath(path));
    if (p && p.kind === undefined) p.kind = node.kind;
    else if (!p) record(positions, path, node, node.kind);
    return;
  }
  if (node.type === "TOMLArray") {
    node.elements.forEach((el, i) => {
      const at = [...path, i];
      record(positions, at, el, el.type === "TOMLValue" ? el.kind : undefined);
      content(positions, at, el, depth + 1);
    });
    return;
  }
  for (const kv of node.body) keyValue(positions, path, kv, depth);
}
