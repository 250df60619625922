// What a packet flood costs with every default probe loaded: the real agent (build/kpulse, or
// KPULSE_BIN) runs with its per-program BPF statistics on; a C producer sends UDP datagrams to a
// closed loopback port (every one is a kernel drop, a NET_RX softirq, a netif_receive_skb…); the
// bench reads each program's run count and run time from the agent's own /metrics before and
// after, and the agent's CPU from /proc. Prints figures; never passes or fails on time.
// Run as root: ./node_modules/.bin/bun bench/flood-cost.ts [packets]
import { spawn, spawnSync } from "bun";
import { createSocket } from "node:dgram";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

const ROOT = resolve(import.meta.dir, "..");
const BIN = resolve(ROOT, process.env.KPULSE_BIN ?? "build/kpulse");
const FLOOD = join(ROOT, "build/tools/udp-flood");
const PACKETS = Number(process.argv[2] ?? 1_000_000);

if (process.getuid?.() !== 0 || !existsSync(BIN) || !existsSync(FLOOD)) {
  console.log("flood-cost: needs root, build/kpulse and build/tools/udp-flood (make build build/tools/udp-flood); skipped");
  process.exit(0);
}

const dir = mkdtempSync(join(tmpdir(), "kpulse-flood-"));
writeFileSync(join(dir, "kpulse.toml"), `[Storage.LocalFile]\nPath = "${join(dir, "local")}"\n`);
const agent = spawn([BIN, "--config", join(dir, "kpulse.toml"), "--region", "bench", "--listen", "127.0.0.1:0"], { stdout: "pipe", stderr: "pipe" });
let out = "";
void (async () => {
  for await (const c of agent.stdout as ReadableStream<Uint8Array>) out += new TextDecoder().decode(c);
})();

try {
  let port = 0;
  for (let i = 0; i < 300 && !port; i++) {
    port = Number(/msg="serving".* port=(\d+)/.exec(out)?.[1] ?? 0);
    await Bun.sleep(50);
  }
  if (!port) throw new Error(`agent did not start:\n${out}`);
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 300 && (await fetch(`${url}/readyz`).catch(() => undefined))?.status !== 204; i++) await Bun.sleep(50);

  /** program key "probe/program" → [run count, run time s] from /metrics. */
  const programs = async () => {
    const text = await (await fetch(`${url}/metrics`)).text();
    const m = new Map<string, [number, number]>();
    for (const line of text.split("\n")) {
      const r = /^kpulse_bpf_program_run_(count|time_seconds)_total\{.*?probe="([^"]+)".*?program="([^"]+)".*\} (\S+)$/.exec(line);
      if (!r) continue;
      const k = `${r[2]}/${r[3]}`;
      const v = m.get(k) ?? [0, 0];
      v[r[1] === "count" ? 0 : 1] = Number(r[4]);
      m.set(k, v);
    }
    return m;
  };
  const ticks = () => {
    const f = readFileSync(`/proc/${agent.pid}/stat`, "utf8").split(") ")[1]!.split(" ");
    return Number(f[11]) + Number(f[12]);
  };
  const closedPort = await new Promise<number>((res) => {
    const s = createSocket("udp4");
    s.bind(0, "127.0.0.1", () => {
      const p = s.address().port;
      s.close(() => res(p));
    });
  });

  const before = await programs();
  if (before.size === 0) console.log("no kpulse_bpf_program_* series: is [Kpulse] BpfProgramStats on and the agent root?");
  const t0 = ticks();
  const w0 = performance.now();
  spawnSync([FLOOD, String(closedPort), String(PACKETS)]);
  await Bun.sleep(500); // let the agent drain what the rings hold
  const secs = (performance.now() - w0) / 1000;
  const cpu = (ticks() - t0) / 100;
  const after = await programs();

  console.log(`flood: ${PACKETS} UDP datagrams to a closed port in ${secs.toFixed(2)} s (${Math.round(PACKETS / secs)}/s)`);
  console.log(`agent CPU during the flood: ${cpu.toFixed(2)} s = ${((100 * cpu) / secs).toFixed(1)} % of one core`);
  const rows = [...after].map(([k, [c, t]]) => {
    const [c0, t0b] = before.get(k) ?? [0, 0];
    return { k, runs: c - c0, ns: (t - t0b) * 1e9 };
  }).filter((r) => r.runs > 0).sort((a, b) => b.ns - a.ns);
  console.log("probe/program".padEnd(56) + "runs".padStart(12) + "ns/run".padStart(10) + "  % of one CPU");
  for (const r of rows) {
    console.log(r.k.padEnd(56) + String(r.runs).padStart(12) + (r.ns / r.runs).toFixed(0).padStart(10) + `  ${((100 * r.ns) / 1e9 / secs).toFixed(2)}`);
  }
  const total = rows.reduce((s, r) => s + r.ns, 0);
  console.log(`all BPF programs: ${((100 * total) / 1e9 / secs).toFixed(1)} % of one CPU`);
} finally {
  agent.kill();
  await agent.exited;
  rmSync(dir, { recursive: true, force: true });
}
