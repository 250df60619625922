// A growable UTF-8 byte buffer for building large texts without string ropes: the exposition
// renderer writes hundreds of thousands of small pieces per scrape, and concatenating them as
// strings costs more in rope nodes and GC than copying the bytes.

const encoder = new TextEncoder();

export class TextWriter {
  private buf: Uint8Array;
  private pos = 0;

  constructor(initial = 1 << 16) {
    this.buf = new Uint8Array(initial);
  }

  reset(): void {
    this.pos = 0;
  }

  private ensure(extra: number): void {
    if (this.pos + extra <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.pos + extra) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.pos));
    this.buf = next;
  }

  /** Append `s` as UTF-8. */
  write(s: string): void {
    this.ensure(s.length * 3); // worst case per UTF-16 unit
    const buf = this.buf;
    let pos = this.pos;
    for (let i = 0; i < s.length; i++) {
      const c = s.charCodeAt(i);
      if (c >= 0x80) {
        this.pos = pos;
        return this.writeSlow(s, i);
      }
      buf[pos++] = c;
    }
    this.pos = pos;
  }

  /**
   * Append `s` escaped for the exposition format: `\` → `\\`, newline → `\n`, and with
   * `quotes`, `"` → `\"` (label values; HELP text leaves quotes alone).
   */
  writeEscaped(s: string, quotes: boolean): void {
    this.ensure(s.length * 3);
    const buf = this.buf;
    let pos = this.pos;
    for (let i = 0; i < s.length; i++) {
      const c = s.charCodeAt(i);
      if (c >= 0x80) {
        // Rare: escape the rest as a string, then encode it.
        this.pos = pos;
        let rest = s.slice(i).replace(/\\/g, "\\\\").replace(/\n/g, "\\n");
        if (quotes) rest = rest.replace(/"/g, '\\"');
        return this.write(rest);
      }
      if (c === 92 || c === 10 || (c === 34 && quotes)) {
        buf[pos++] = 92; // room: at most 2 bytes per ASCII unit, within the 3 ensured
        buf[pos++] = c === 10 ? 110 : c;
        continue;
      }
      buf[pos++] = c;
    }
    this.pos = pos;
  }

  private writeSlow(s: string, from: number): void {
    const rest = from === 0 ? s : s.slice(from);
    this.ensure(rest.length * 3);
    this.pos += encoder.encodeInto(rest, this.buf.subarray(this.pos)).written;
  }

  /** The bytes written so far (a view: valid until the next write or reset). */
  bytes(): Uint8Array {
    return this.buf.subarray(0, this.pos);
  }

  text(): string {
    return Buffer.from(this.buf.buffer, this.buf.byteOffset, this.pos).toString("utf8");
  }
}
