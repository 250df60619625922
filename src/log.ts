// Minimal levelled logger: one line per message, logfmt-style key=value fields.
export type Level = "debug" | "info" | "warn" | "error";
const ORDER: Record<Level, number> = { debug: 0, info: 1, warn: 2, error: 3 };

export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
  child(fields: Record<string, unknown>): Logger;
}

export type LogWriter = (line: string) => void;

function quote(v: unknown): string {
  const s = typeof v === "string" ? v : v instanceof Error ? v.message : JSON.stringify(v);
  return /^[\w./:@+-]+$/.test(s ?? "") ? String(s) : JSON.stringify(s);
}

export function createLogger(min: Level, write: LogWriter, base: Record<string, unknown> = {}): Logger {
  const emit = (level: Level, msg: string, fields?: Record<string, unknown>) => {
    if (ORDER[level] < ORDER[min]) return;
    const all = { ...base, ...fields };
    let line = `time=${new Date().toISOString()} level=${level} msg=${JSON.stringify(msg)}`;
    for (const [k, v] of Object.entries(all)) if (v !== undefined) line += ` ${k}=${quote(v)}`;
    write(line + "\n");
  };
  return {
    debug: (m, f) => emit("debug", m, f),
    info: (m, f) => emit("info", m, f),
    warn: (m, f) => emit("warn", m, f),
    error: (m, f) => emit("error", m, f),
    child: (f) => createLogger(min, write, { ...base, ...f }),
  };
}

/** For tests and tools: a logger that discards everything. */
export const silentLogger: Logger = createLogger("error", () => {});
