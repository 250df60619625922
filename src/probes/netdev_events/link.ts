// Pure helpers of netdev_events: HUATUO's link status names and its full-match device list (link
// messages themselves are parsed in src/netlink/links.ts).
import { IFF_LOWER_UP, IFF_UP } from "../../netlink/links.ts";
export { dumpLinks, formatMac, IFF_LOWER_UP, IFF_UP, parseLinkMessage, RTM_DELLINK, RTM_NEWLINK, RTNLGRP_LINK, type LinkMessage } from "../../netlink/links.ts";
import { compileGoRegex, regexProblem, type GoRegex } from "../../util/goregex.ts";

// ── link status (HUATUO's internal/linkstatus) ─────────────────────────────────────────────────

/** HUATUO's link status names, in its order: the tracer_data values and the counter names. */
export const LINK_STATUSES = ["linkstatus_unknown", "linkstatus_adminup", "linkstatus_admindown", "linkstatus_carrierup", "linkstatus_carrierdown"] as const;
export type LinkStatus = (typeof LINK_STATUSES)[number];

/** The statuses a flag change reports: admin (IFF_UP) first, then carrier (IFF_LOWER_UP). */
export function changedStatuses(flags: number, change: number): LinkStatus[] {
  const out: LinkStatus[] = [];
  if (change & IFF_UP) out.push(flags & IFF_UP ? "linkstatus_adminup" : "linkstatus_admindown");
  if (change & IFF_LOWER_UP) out.push(flags & IFF_LOWER_UP ? "linkstatus_carrierup" : "linkstatus_carrierdown");
  return out;
}

/** The state a device is in, as statuses (the baseline counts these once). */
export function currentStatuses(flags: number): LinkStatus[] {
  return changedStatuses(flags, IFF_UP | IFF_LOWER_UP);
}

// ── device list (HUATUO's matcher.ListMatcher) ─────────────────────────────────────────────────

/** An entry with one of these is a regular expression matched against the whole name. */
const REGEX_OPERATOR = /[\\+*?()|[\]{}^$]/;

/** The problem with a DeviceList entry (a full-match Go regex that does not compile), or undefined. */
export function deviceListProblem(list: readonly string[]): string | undefined {
  for (const entry of list) {
    if (!REGEX_OPERATOR.test(entry)) continue;
    const p = regexProblem(`^(?:${entry})$`);
    if (p) return `entry ${JSON.stringify(entry)} is not a valid regular expression: ${p}`;
  }
  return undefined;
}

/**
 * HUATUO's device list: an entry without regex operators is an exact name (a '.' stays literal,
 * so "eth0.100" is a VLAN name), any other entry a Go regex matched against the whole name. An
 * empty list matches nothing.
 */
export function deviceMatcher(list: readonly string[]): (name: string) => boolean {
  const exact = new Set<string>();
  const rules: GoRegex[] = [];
  for (const entry of list) {
    if (REGEX_OPERATOR.test(entry)) rules.push(compileGoRegex(`^(?:${entry})$`));
    else exact.add(entry);
  }
  return (name) => exact.has(name) || rules.some((r) => r.test(name));
}
