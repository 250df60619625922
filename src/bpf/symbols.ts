// One kallsyms index per process, shared by every probe that symbolizes kernel addresses.
import { Kallsyms } from "./kallsyms.ts";

const shared = new Map<string, Kallsyms>();

export function sharedKallsyms(path: string): Kallsyms {
  let k = shared.get(path);
  if (!k) {
    k = new Kallsyms(path);
    shared.set(path, k);
  }
  return k;
}

/**
 * Kernel symbols as the probes see them, for GET /v1/probes: "available", "unavailable: <why>",
 * or undefined when no running probe has needed them yet (nothing is loaded to tell).
 */
export function kernelSymbolsState(): string | undefined {
  let state: string | undefined;
  for (const k of shared.values()) {
    if (!k.loaded) continue;
    const why = k.unavailable();
    if (why) return `unavailable: ${why}`;
    state = "available";
  }
  return state;
}
