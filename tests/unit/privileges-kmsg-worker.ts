// Worker for tests/unit/privileges.test.ts: starts and stops a /dev/kmsg watcher, drops every
// capability of this thread, then watches again (a rewatch after the agent's drop) and logs a
// line: the new watcher must see it although /dev/kmsg can no longer be opened for reading.
import { openSync, writeFileSync } from "node:fs";
import { dropToThisThread } from "../../src/privileges/capabilities.ts";
import { systemKmsgIo } from "../../src/probes/softlockup/kmsg.ts";

const first = systemKmsgIo.watch("/dev/kmsg", () => {}, () => {});
first.stop();
const err = dropToThisThread(0n);
let reopen = "opened";
try {
  openSync("/dev/kmsg", "r");
} catch (e) {
  reopen = (e as NodeJS.ErrnoException).code ?? String(e);
}
let watchError = "";
let seen = false;
try {
  const second = systemKmsgIo.watch("/dev/kmsg", () => (seen = true), () => {});
  writeFileSync("/dev/kmsg", "kpulse privileges test: rewatch after the capability drop\n");
  const until = Date.now() + 3000;
  while (!seen && Date.now() < until) await Bun.sleep(20);
  second.stop();
} catch (e) {
  watchError = String(e);
}
postMessage({ err, reopen, watchError, seen });
