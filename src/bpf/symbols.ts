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
