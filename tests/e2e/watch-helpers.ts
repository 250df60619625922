// Shared by the watch e2e tests and bench/watch.ts.
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { Agent } from "./agent.ts";

/** Local-file records of dropwatch for one destination port, in file (= publish) order. */
export function storedDrops(agent: Agent, dport: number): any[] {
  const file = join(agent.dir, "local", "dropwatch");
  if (!existsSync(file)) return [];
  return readFileSync(file, "utf8").split("\n").filter(Boolean).map((l) => JSON.parse(l)).filter((r) => r.tracer_data?.dport === dport);
}

/** The agent under test: build/kpulse unless KPULSE_WATCH_BINARY names another build. */
export const WATCH_BINARY = process.env.KPULSE_WATCH_BINARY || undefined;
