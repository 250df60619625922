// Worker for tests/unit/privileges.test.ts: drops every capability of its own thread and reports
// its effective set before and after (capabilities are per thread).
import { dropToThisThread, effectiveNow } from "../../src/privileges/capabilities.ts";

const before = effectiveNow();
const err = dropToThisThread(0n);
postMessage({ before: String(before), after: String(effectiveNow()), err });
