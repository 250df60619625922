// HUATUO's Included/Excluded name filter (NetdevStats.Device*, Vmstat.*, Netstat.*, ...):
// unanchored Go regexes (compiled by compileGoRegex: RE2 syntax, linear-time matching); an
// empty pattern means "no rule".
import { compileGoRegex, type GoRegex } from "../util/goregex.ts";

export type NameFilter = (name: string) => boolean;

function compile(pattern: string, what: string): GoRegex {
  try {
    return compileGoRegex(pattern);
  } catch (err) {
    throw new Error(`${what}: invalid regular expression ${JSON.stringify(pattern)}: ${(err as Error).message}`);
  }
}

/**
 * No rules: everything passes. Excluded only: blacklist. Included only: whitelist. Both: a name
 * must match Included and not match Excluded. `what` names the setting in errors.
 */
export function makeFilter(included: string, excluded: string, what = "filter"): NameFilter {
  const inc = included ? compile(included, `${what} included`) : undefined;
  const exc = excluded ? compile(excluded, `${what} excluded`) : undefined;
  if (inc && exc) return (name) => inc.test(name) && !exc.test(name);
  if (inc) return (name) => inc.test(name);
  if (exc) return (name) => !exc.test(name);
  return () => true;
}
