// Worker for tests/unit/privileges.test.ts: builds a kallsyms index with this thread's
// capabilities, drops all of them (this thread only), then rebuilds that index and a new one.
import { Kallsyms } from "../../src/bpf/kallsyms.ts";
import { dropToThisThread } from "../../src/privileges/capabilities.ts";

const held = new Kallsyms("/proc/kallsyms");
const before = held.unavailable() ?? "available";
const err = dropToThisThread(0n);
held.invalidate(); // the next lookup rebuilds from the descriptor opened before the drop
const rebuilt = held.unavailable() ?? "available";
const fresh = new Kallsyms("/proc/kallsyms").unavailable() ?? "available";
postMessage({ before, err, rebuilt, fresh, size: held.size });
