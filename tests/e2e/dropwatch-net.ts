// Network namespaces for the dropwatch and packetloss kernel tests: two namespaces of the test's
// own, joined by a veth pair, with IPv6 off before any link exists (so neither autoconfiguration
// nor multicast listener reports make drops of their own), and helpers to run the traffic tools
// inside them. Other tests drop packets on this machine at the same time: assertions only look
// at drops of these namespaces (net_namespace_inum) or at counter deltas of at least our own.
import { spawn, spawnSync, type Subprocess } from "bun";
import { join } from "node:path";
import { ROOT } from "./agent.ts";
import { sh } from "./netns.ts";

export const BUN = join(ROOT, "node_modules/.bin/bun");
export const TCP_TRAFFIC = join(ROOT, "tests/tools/tcp-traffic.ts");
export const UDP_FLOOD = join(ROOT, "build/tools/udp-flood");

export interface TestNet {
  /** Namespace names: a holds 192.0.2.1 (servers), b 192.0.2.2 (clients). */
  a: string;
  b: string;
  inum: { a: number; b: number };
  exec(ns: "a" | "b", cmd: string[]): string;
  /** A long-running process in a namespace; killed by remove(). */
  start(ns: "a" | "b", cmd: string[]): Subprocess<"ignore", "pipe", "pipe">;
  /** Runs to completion; throws with its stderr when it fails. */
  run(ns: "a" | "b", cmd: string[], timeoutMs?: number): Promise<string>;
  remove(): void;
}

export const ADDR = { a: "192.0.2.1", b: "192.0.2.2" } as const;

export function testNet(tag: string): TestNet {
  const names = { a: `${tag}-a`, b: `${tag}-b` };
  const procs: Subprocess[] = [];
  const exec = (ns: "a" | "b", cmd: string[]) => sh(["ip", "netns", "exec", names[ns], ...cmd]);
  const net: TestNet = {
    ...names,
    inum: { a: 0, b: 0 },
    exec,
    start(ns, cmd) {
      const p = spawn(["ip", "netns", "exec", names[ns], ...cmd], { stdin: "ignore", stdout: "pipe", stderr: "pipe" });
      procs.push(p);
      return p;
    },
    async run(ns, cmd, timeoutMs = 60_000) {
      const p = spawn(["ip", "netns", "exec", names[ns], ...cmd], { stdin: "ignore", stdout: "pipe", stderr: "pipe" });
      procs.push(p);
      const timer = setTimeout(() => p.kill(), timeoutMs);
      const [out, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
      clearTimeout(timer);
      if (code !== 0) throw new Error(`${cmd.join(" ")} in ${names[ns]} exited ${code}: ${err.trim()}`);
      return out;
    },
    remove() {
      for (const p of procs) if (p.exitCode === null) p.kill("SIGKILL");
      // deleting a namespace deletes the veth end, the addresses and the iptables rules in it
      for (const n of [names.a, names.b]) spawnSync(["ip", "netns", "del", n], { stderr: "pipe" });
    },
  };
  try {
    for (const ns of ["a", "b"] as const) {
      sh(["ip", "netns", "add", names[ns]]);
      exec(ns, ["sysctl", "-q", "-w", "net.ipv6.conf.all.disable_ipv6=1", "net.ipv6.conf.default.disable_ipv6=1"]);
      net.inum[ns] = Number(/\[(\d+)\]/.exec(exec(ns, ["readlink", "/proc/self/ns/net"]))![1]);
    }
    sh(["ip", "link", "add", "va", "netns", names.a, "type", "veth", "peer", "name", "vb", "netns", names.b]);
    exec("a", ["ip", "addr", "add", `${ADDR.a}/24`, "dev", "va"]);
    exec("b", ["ip", "addr", "add", `${ADDR.b}/24`, "dev", "vb"]);
    for (const [ns, dev] of [["a", "va"], ["b", "vb"]] as const) {
      exec(ns, ["ip", "link", "set", "lo", "up"]);
      exec(ns, ["ip", "link", "set", dev, "up"]);
    }
  } catch (err) {
    net.remove();
    throw err;
  }
  return net;
}

/** Waits for a line on a started process's stdout (e.g. "ready"). */
export async function lineFrom(p: Subprocess<"ignore", "pipe", "pipe">, want: string, timeoutMs = 15_000): Promise<void> {
  const reader = p.stdout.getReader();
  const dec = new TextDecoder();
  let text = "";
  const deadline = Date.now() + timeoutMs;
  try {
    while (!text.split("\n").includes(want)) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no "${want}" line within ${timeoutMs} ms (got ${JSON.stringify(text)})`);
      const r = await Promise.race([reader.read(), Bun.sleep(left).then(() => undefined)]);
      if (!r) continue;
      if (r.done) throw new Error(`process ended before "${want}" (got ${JSON.stringify(text)}): ${await new Response(p.stderr).text()}`);
      text += dec.decode(r.value);
    }
  } finally {
    reader.releaseLock();
  }
}
