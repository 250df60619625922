// Child process for libbpf-origin.test.ts: chooses libbpf once (process-wide state) from the
// embedded file given as argv[2] and prints what was chosen, the version line, and the
// process's memfd mappings and open memfds.
import { readdirSync, readFileSync, readlinkSync, statSync } from "node:fs";
import { describeLibbpf, loadLibbpf, MEMFD_NAME } from "../../src/bpf/libbpf-origin.ts";

const origin = loadLibbpf(process.argv[2]!);
const again = loadLibbpf(process.argv[2]!);
const maps = [...new Set(readFileSync("/proc/self/maps", "utf8").split("\n").map((l) => l.split(/\s+/).slice(5).join(" ")))];
const openMemfds = readdirSync("/proc/self/fd").map((fd) => { try { return readlinkSync(`/proc/self/fd/${fd}`); } catch { return ""; } })
  .filter((l) => l.includes(MEMFD_NAME));
const memfdMode = origin.source === "embedded" ? statSync(origin.path).mode & 0o777 : null;
console.log(JSON.stringify({
  memfdMode,
  origin,
  sameOnSecondCall: again === origin,
  line: describeLibbpf(origin),
  bundleMapped: maps.filter((m) => m.includes(MEMFD_NAME)),
  systemMapped: maps.filter((m) => /\/libbpf\.so/.test(m)),
  openMemfds,
}));
