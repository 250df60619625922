// Network namespaces for kernel tests: two test hosts joined by a veth pair, created with
// names unique to this process and always removed afterwards.
import { spawnSync } from "bun";

export function sh(cmd: string[]): string {
  const r = spawnSync(cmd, { stdout: "pipe", stderr: "pipe" });
  if (r.exitCode !== 0) throw new Error(`${cmd.join(" ")} failed (${r.exitCode}): ${r.stderr.toString().trim()}`);
  return r.stdout.toString();
}

export interface VethPair {
  a: string;
  b: string;
  /** Run a command inside namespace a or b. */
  exec(ns: "a" | "b", cmd: string[]): string;
  remove(): void;
}

/** Namespaces <tag>-a and <tag>-b, linked by veth va (in a) ↔ vb (in b), addresses given in CIDR. */
export function vethPair(tag: string, addrA: string, addrB: string): VethPair {
  const a = `${tag}-a`, b = `${tag}-b`;
  const pair: VethPair = {
    a, b,
    exec: (ns, cmd) => sh(["ip", "netns", "exec", ns === "a" ? a : b, ...cmd]),
    remove() {
      // deleting a namespace also deletes the veth end inside it
      for (const n of [a, b]) spawnSync(["ip", "netns", "del", n], { stderr: "pipe" });
    },
  };
  try {
    sh(["ip", "netns", "add", a]);
    sh(["ip", "netns", "add", b]);
    sh(["ip", "link", "add", "va", "netns", a, "type", "veth", "peer", "name", "vb", "netns", b]);
    pair.exec("a", ["ip", "addr", "add", addrA, "dev", "va"]);
    pair.exec("b", ["ip", "addr", "add", addrB, "dev", "vb"]);
    for (const [ns, dev] of [["a", "va"], ["b", "vb"]] as const) {
      pair.exec(ns, ["ip", "link", "set", "lo", "up"]);
      pair.exec(ns, ["ip", "link", "set", dev, "up"]);
    }
  } catch (err) {
    pair.remove();
    throw err;
  }
  return pair;
}
