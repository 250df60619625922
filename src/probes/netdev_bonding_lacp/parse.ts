// /proc/net/bonding/<bond> (drivers/net/bonding/bond_procfs.c), pure: the bond's mode and MII
// status, its active aggregator and, per slave, what 802.3ad negotiated (aggregator, churn
// states, the actor's and the partner's LACPDU details), and the part of it that is the 802.3ad
// state: what must differ for netdev_bonding_lacp to report a change. Counters (link failures,
// churned counts) and link speed are not state: they move without the negotiation changing.

export interface BondSlave {
  name: string;
  /** Every "Key: value" line of the slave's section. */
  fields: Record<string, string>;
  /** "details actor lacp pdu:" lines (only shown to CAP_NET_ADMIN readers). */
  actor: Record<string, string>;
  /** "details partner lacp pdu:" lines. */
  partner: Record<string, string>;
}

export interface BondInfo {
  /** "Bonding Mode" ("IEEE 802.3ad Dynamic link aggregation" for LACP). */
  mode: string;
  /** Every "Key: value" line of the bond's own part (before the first slave). */
  fields: Record<string, string>;
  /** "Active Aggregator Info:" lines (802.3ad only). */
  aggregator: Record<string, string>;
  slaves: BondSlave[];
}

/** The bond runs LACP (mode 4). */
export const is8023ad = (b: BondInfo) => b.mode.startsWith("IEEE 802.3ad");

type Section = "bond" | "aggregator" | "slave" | "actor" | "partner";

/** Parse one bonding status file; `path` names it in errors. */
export function parseBonding(text: string, path: string): BondInfo {
  const bond: BondInfo = { mode: "", fields: {}, aggregator: {}, slaves: [] };
  let section: Section = "bond";
  let slave: BondSlave | undefined;
  for (const raw of text.split("\n")) {
    const line = raw.trimEnd();
    if (line === "") continue;
    const indented = /^\s/.test(line);
    const colon = line.indexOf(":");
    const k = (colon < 0 ? line : line.slice(0, colon)).trim();
    const v = colon < 0 ? "" : line.slice(colon + 1).trim();
    if (indented) {
      const into = section === "aggregator" ? bond.aggregator : section === "actor" ? slave?.actor : section === "partner" ? slave?.partner : undefined;
      if (into && colon >= 0) into[k] = v;
      continue; // an indented line elsewhere: nothing the state depends on
    }
    // A line at the margin ends an indented block.
    if (section === "aggregator") section = "bond";
    else if (section === "actor" || section === "partner") section = "slave";
    if (colon < 0) continue; // "802.3ad info" and other headings
    if (k === "Slave Interface") {
      slave = { name: v, fields: {}, actor: {}, partner: {} };
      bond.slaves.push(slave);
      section = "slave";
    } else if (k === "Active Aggregator Info" && section === "bond") {
      section = "aggregator";
    } else if (k === "details actor lacp pdu" && slave) {
      section = "actor";
    } else if (k === "details partner lacp pdu" && slave) {
      section = "partner";
    } else if (section === "slave" && slave) {
      slave.fields[k] = v;
    } else {
      if (k === "Bonding Mode") bond.mode = v;
      bond.fields[k] = v;
    }
  }
  if (!bond.mode) throw new Error(`${path}: no "Bonding Mode" line: not a bonding status file`);
  return bond;
}

const pick = (from: Record<string, string>, keys: readonly string[]) => keys.map((k) => from[k] ?? "");

const BOND_KEYS = ["MII Status"] as const;
const AGGREGATOR_KEYS = ["Aggregator ID", "Number of ports", "Actor Key", "Partner Key", "Partner Mac Address"] as const;
const SLAVE_KEYS = ["MII Status", "Aggregator ID", "Actor Churn State", "Partner Churn State"] as const;
const ACTOR_KEYS = ["port key", "port state"] as const;
const PARTNER_KEYS = ["system mac address", "oper key", "port number", "port state"] as const;

/**
 * The 802.3ad state of a bond as one comparable string, null for a bond in another mode: its
 * MII status, the active aggregator, and per slave its MII status, aggregator, churn states,
 * the actor's key and port state, the partner's system, key, port and port state.
 */
export function lacpState(b: BondInfo): string | null {
  if (!is8023ad(b)) return null;
  return JSON.stringify([
    pick(b.fields, BOND_KEYS),
    pick(b.aggregator, AGGREGATOR_KEYS),
    b.slaves.map((s) => [s.name, pick(s.fields, SLAVE_KEYS), pick(s.actor, ACTOR_KEYS), pick(s.partner, PARTNER_KEYS)]),
  ]);
}

/** HUATUO's `content`: each file's path, a newline, then the file as read, in name order. */
export function bondingContent(files: readonly { path: string; text: string }[]): string {
  return files.map((f) => `${f.path}\n${f.text}`).join("");
}
