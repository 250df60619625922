// The config schema of a probe table: the agent's global sections, HUATUO's sections of probes
// not built yet, and each probe's own section. Built once per table; a section declared twice is
// a programming error and fails at start.
import { PENDING_SECTIONS } from "../config/huatuo-pending.ts";
import { ConfigSchema } from "../config/load.ts";
import { GLOBAL_SECTIONS } from "../config/sections.ts";
import type { SectionSpec } from "../config/spec.ts";
import type { ProbeDefinition } from "./types.ts";

export function configSchema(table: readonly ProbeDefinition[]): ConfigSchema {
  const own = table.flatMap((p) => (p.config ? [p.config as SectionSpec<unknown>] : []));
  return new ConfigSchema([...GLOBAL_SECTIONS, ...PENDING_SECTIONS, ...own]);
}
