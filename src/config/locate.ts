// Where each key of a TOML document is written: dotted key path → 1-based line.
//
// @iarna/toml reports syntax errors with a position but returns plain values, so the loader
// needs this to say "line 12" for a semantic error. The scan assumes the text already parsed
// (the loader parses first); on malformed input it records what it can and never throws.
//
// Paths: `[table]` and `[[array.of.tables]]` headers, dotted and quoted keys, inline tables
// and array elements are all recorded, e.g. `Storage.LocalFile.RotationSize`,
// `AutoTracing.CPUIdle.Filter.Included[0].Field`, `BlackList[2]`. Lines inside multi-line
// strings and arrays never start a key. The first line a path appears on wins, so a table
// created implicitly (by `[a.b]` or `a.b = 1`) points at that line.

export type PathSeg = string | number;
export type KeyLines = Map<string, number>;

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
export function lineOf(lines: KeyLines, segs: readonly PathSeg[]): number | undefined {
  for (let n = segs.length; n > 0; n--) {
    const line = lines.get(formatPath(segs.slice(0, n)));
    if (line !== undefined) return line;
  }
  return undefined;
}

export function locateKeys(text: string): KeyLines {
  return new Scanner(text).scan();
}

class Scanner {
  private pos = 0;
  private line = 1;
  private readonly lines: KeyLines = new Map();
  /** formatted array-of-tables path → number of elements seen so far */
  private readonly aot = new Map<string, number>();

  constructor(private readonly text: string) {}

  scan(): KeyLines {
    let table: PathSeg[] = [];
    while (this.pos < this.text.length) {
      const start = this.pos;
      this.skipSpace();
      const c = this.text[this.pos];
      if (c === undefined) break;
      if (c === "\n") {
        this.newline();
      } else if (c === "#") {
        this.skipToEol();
      } else if (c === "[") {
        table = this.header();
        this.skipToEol();
      } else {
        const key = this.key();
        this.skipSpace();
        if (key.length > 0 && this.text[this.pos] === "=") {
          this.pos++;
          this.skipSpace();
          const path = [...table, ...key];
          this.recordAll(path);
          this.value(path);
        }
        this.skipToEol();
      }
      if (this.pos === start) this.pos++; // never stall on unexpected input
    }
    return this.lines;
  }

  // ── structure ───────────────────────────────────────────────────────────

  private header(): PathSeg[] {
    const isArray = this.text.startsWith("[[", this.pos);
    this.pos += isArray ? 2 : 1;
    const key = this.key();
    const out: PathSeg[] = [];
    key.forEach((seg, i) => {
      out.push(seg);
      const at = formatPath(out);
      const last = i === key.length - 1;
      if (last && isArray) {
        const n = this.aot.get(at) ?? 0;
        this.aot.set(at, n + 1);
        this.recordAll(out);
        out.push(n);
      } else if (!last || !isArray) {
        // a header path passing through an array of tables refers to its latest element
        const n = this.aot.get(at);
        if (n !== undefined && !last) out.push(n - 1);
      }
    });
    this.recordAll(out);
    return out;
  }

  private value(path: PathSeg[]): void {
    const t = this.text;
    const c = t[this.pos];
    if (c === '"' || c === "'") {
      this.string();
    } else if (c === "[") {
      this.pos++;
      for (let i = 0; ; i++) {
        this.skipBlank();
        if (this.pos >= t.length) return;
        if (t[this.pos] === "]") {
          this.pos++;
          return;
        }
        this.record([...path, i]);
        const before = this.pos;
        this.value([...path, i]);
        this.skipBlank();
        if (t[this.pos] === ",") this.pos++;
        else if (t[this.pos] === "]") {
          this.pos++;
          return;
        } else if (this.pos === before) return;
      }
    } else if (c === "{") {
      this.pos++;
      for (;;) {
        this.skipSpace();
        if (this.pos >= t.length || t[this.pos] === "\n") return;
        if (t[this.pos] === "}") {
          this.pos++;
          return;
        }
        const key = this.key();
        this.skipSpace();
        if (key.length === 0 || t[this.pos] !== "=") return;
        this.pos++;
        this.skipSpace();
        const sub = [...path, ...key];
        this.recordAll(sub);
        this.value(sub);
        this.skipSpace();
        if (t[this.pos] === ",") this.pos++;
      }
    } else {
      // number, bool, date-time (may contain one space): up to a delimiter
      while (this.pos < t.length && !",]}\n#".includes(t[this.pos]!)) this.pos++;
    }
  }

  /** A possibly dotted key; empty when none starts here. */
  private key(): string[] {
    const t = this.text;
    const segs: string[] = [];
    for (;;) {
      this.skipSpace();
      const c = t[this.pos];
      if (c === '"' || c === "'") {
        const start = this.pos;
        this.string();
        segs.push(unquote(t.slice(start, this.pos)));
      } else {
        const m = /^[A-Za-z0-9_-]+/.exec(t.slice(this.pos, this.pos + 256));
        if (!m) return segs;
        segs.push(m[0]);
        this.pos += m[0].length;
      }
      this.skipSpace();
      if (t[this.pos] !== ".") return segs;
      this.pos++;
    }
  }

  // ── lexical ─────────────────────────────────────────────────────────────

  /** Any TOML string form, including multi-line ones; counts the newlines it spans. */
  private string(): void {
    const t = this.text;
    const q = t[this.pos]!;
    const multi = t.startsWith(q.repeat(3), this.pos);
    this.pos += multi ? 3 : 1;
    while (this.pos < t.length) {
      const c = t[this.pos]!;
      if (c === "\\" && q === '"') {
        this.pos++;
        if (t[this.pos] === "\n") this.newline();
        else this.pos++;
        continue;
      }
      if (c === "\n") {
        if (!multi) return; // unterminated; let the caller move on
        this.newline();
        continue;
      }
      if (c === q && (!multi || t.startsWith(q.repeat(3), this.pos))) {
        this.pos += multi ? 3 : 1;
        // up to two quotes may sit right before a multi-line closing delimiter
        if (multi) for (let k = 0; k < 2 && t[this.pos] === q; k++) this.pos++;
        return;
      }
      this.pos++;
    }
  }

  private skipSpace(): void {
    while (this.pos < this.text.length && " \t\r".includes(this.text[this.pos]!)) this.pos++;
  }

  /** Whitespace, newlines and comments (inside arrays). */
  private skipBlank(): void {
    for (;;) {
      this.skipSpace();
      const c = this.text[this.pos];
      if (c === "\n") this.newline();
      else if (c === "#") this.skipToEol();
      else return;
    }
  }

  private skipToEol(): void {
    while (this.pos < this.text.length && this.text[this.pos] !== "\n") this.pos++;
  }

  private newline(): void {
    this.pos++;
    this.line++;
  }

  private record(segs: readonly PathSeg[]): void {
    const at = formatPath(segs);
    if (!this.lines.has(at)) this.lines.set(at, this.line);
  }

  /** Record `segs` and every ancestor not seen yet. */
  private recordAll(segs: readonly PathSeg[]): void {
    for (let n = 1; n <= segs.length; n++) this.record(segs.slice(0, n));
  }
}

function unquote(raw: string): string {
  if (raw.startsWith("'")) return raw.slice(1, -1);
  try {
    return JSON.parse(raw.replace(/\\U([0-9A-Fa-f]{8})/g, (_, h: string) => String.fromCodePoint(parseInt(h, 16))).replace(/\\e/g, "\\u001b"));
  } catch {
    return raw.slice(1, -1);
  }
}
