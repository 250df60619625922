// Least privilege on the real kernel: the built agent runs as `nobody` with only the capabilities
// of the packaged systemd unit (setpriv gives them as ambient capabilities, as systemd's
// AmbientCapabilities= does). It must load its BPF probes, symbolize kernel stacks, report its
// capability state in GET /v1/probes, and after start-up hold only what its loaded probes still
// use (/proc/<pid>/status): with the default probes, nothing at all — BPF maps are read and
// stacks symbolized without any capability. Without CAP_SYSLOG the stacks must say they are
// unsymbolized and why, never pass raw addresses off silently.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { kernelTestSkipReason, metricValue, startAgent, type Agent } from "./agent.ts";
import { watch } from "./sse.ts";
import { closedUdpPort, sendUdp, UDP_FLOOD } from "./udp.ts";

/**
 * The capabilities the test grants: CAP_BPF and CAP_PERFMON (load and attach BPF), CAP_SYSLOG
 * (kernel addresses in /proc/kallsyms), CAP_NET_ADMIN (netlink / bonding details). The packaged
 * unit (packaging/systemd/kpulse.service) must grant this set.
 */
const UNIT_CAPS = ["bpf", "perfmon", "syslog", "net_admin"];
const NOBODY_UID = 65534;
const NOGROUP_GID = 65534;

const skip = kernelTestSkipReason() ?? (existsSync("/usr/bin/setpriv") ? undefined : "setpriv (util-linux) is missing");

/** setpriv prefix: uid/gid nobody, no groups, exactly `caps` inheritable + ambient + bounding. */
function asNobody(caps: string[]): string[] {
  const set = ["-all", ...caps.map((c) => `+${c}`)].join(",");
  return ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", `--inh-caps=${set}`, `--ambient-caps=${set}`, `--bounding-set=${set}`];
}

/** A working directory nobody can write its local files into. */
function nobodyDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "kpulse-privs-"));
  chownSync(dir, NOBODY_UID, NOGROUP_GID);
  return dir;
}

const CONFIG = `
[Storage.LocalFile]
Path = "local"
`;

function statusMask(pid: number | string, key: string, task?: string): bigint {
  const text = readFileSync(task ? `/proc/${pid}/task/${task}/status` : `/proc/${pid}/status`, "utf8");
  const m = new RegExp(`^${key}:\\s*([0-9a-f]+)$`, "m").exec(text);
  if (!m) throw new Error(`no ${key} in /proc/${pid}/status`);
  return BigInt("0x" + m[1]);
}

/** The mask of capability names as /v1/probes lists them (bit numbers from the kernel's table). */
const CAP_NUMBERS: Record<string, number> = { CAP_DAC_READ_SEARCH: 2, CAP_NET_ADMIN: 12, CAP_SYS_PTRACE: 19, CAP_SYS_ADMIN: 21, CAP_SYSLOG: 34, CAP_PERFMON: 38, CAP_BPF: 39 };
const maskOf = (names: string[]) => names.reduce((m, n) => m | (1n << BigInt(CAP_NUMBERS[n] ?? -1)), 0n);

async function probesDoc(agent: Agent): Promise<any> {
  return (await fetch(`${agent.url}/v1/probes`)).json();
}

/** A NO_SOCKET drop provoked now, as the agent reports it on its stream. */
async function provokedDrop(agent: Agent): Promise<any> {
  const stream = await watch(agent.url, { filters: { tracer_name: "^dropwatch$" } });
  expect(stream.status).toBe(200);
  const port = await closedUdpPort();
  await sendUdp(port, 3);
  const ce = await stream.waitFor((e) => e.data?.tracer_data?.dport === port, 5000);
  return ce.data.tracer_data;
}

/** Whether `nobody` without CAP_SYSLOG sees kernel addresses as 0 on this host. */
function nobodySeesZeroAddresses(): boolean {
  const p = Bun.spawnSync([...asNobody([]), "head", "-n", "1", "/proc/kallsyms"]);
  return /^0+ /.test(p.stdout.toString());
}

describe.skipIf(!!skip)("least privilege: nobody with the unit's capabilities (real kernel)", () => {
  let agent: Agent;
  let dir: string;

  beforeAll(async () => {
    if (!existsSync(UDP_FLOOD)) throw new Error(`${UDP_FLOOD} is missing: make build/tools/udp-flood`);
    dir = nobodyDir();
    agent = await startAgent({ config: CONFIG, dir, wrap: asNobody(UNIT_CAPS), args: ["--listen", "127.0.0.1:19864"] });
  });
  afterAll(async () => {
    await agent?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test("runs as nobody and loads its BPF probes", async () => {
    expect(readFileSync(`/proc/${agent.proc.pid}/status`, "utf8")).toMatch(new RegExp(`^Uid:\\s+${NOBODY_UID}\\s+${NOBODY_UID}\\s`, "m"));
    const doc = await probesDoc(agent);
    const dw = doc.data.find((p: any) => p.name === "dropwatch");
    expect(dw).toMatchObject({ status: "loaded" });
    // Every default BPF probe that loads as root loads here too: none fails for lack of a capability.
    const failed = doc.data.filter((p: any) => p.status === "failed");
    expect(failed).toEqual([]);
  });

  test("reports its capability state in GET /v1/probes", async () => {
    const { capabilities: caps, data } = await probesDoc(agent);
    expect(Array.isArray(data)).toBe(true);
    expect([...caps.present].sort()).toEqual(["CAP_BPF", "CAP_NET_ADMIN", "CAP_PERFMON", "CAP_SYSLOG"]);
    const missing = caps.missing.map((m: any) => m.cap);
    expect(missing).not.toContain("CAP_SYSLOG");
    expect(missing).toContain("CAP_SYS_PTRACE");
    for (const m of caps.missing) expect(m.impact.length).toBeGreaterThan(20);
    expect(caps.kernel_symbols).toBe("available");
    // No default probe needs any of them once running (the ones that need CAP_SYS_ADMIN or
    // CAP_SYS_PTRACE at run time cannot keep what the unit does not grant).
    expect(caps.kept).toEqual([]);
    expect([...caps.dropped].sort()).toEqual(["CAP_BPF", "CAP_NET_ADMIN", "CAP_PERFMON", "CAP_SYSLOG"]);
  });

  test("after start-up /proc/<pid>/status shows only the kept capabilities", async () => {
    const { capabilities: caps } = await probesDoc(agent);
    const kept = maskOf(caps.kept.map((k: any) => k.cap));
    expect(kept).toBe(0n);
    const pid = agent.proc.pid;
    expect(statusMask(pid, "CapEff")).toBe(kept);
    expect(statusMask(pid, "CapPrm")).toBe(kept);
    expect(statusMask(pid, "CapInh")).toBe(kept & statusMask(pid, "CapInh"));
    expect(statusMask(pid, "CapAmb")).toBe(0n);
    // The ring waiter thread holds nothing at all.
    const workers = readdirSync(`/proc/${pid}/task`).filter((t) => readFileSync(`/proc/${pid}/task/${t}/comm`, "utf8").trim() === "Worker");
    expect(workers.length).toBeGreaterThan(0);
    for (const t of workers) expect(statusMask(pid, "CapEff", t)).toBe(0n);
    // The runtime's own threads (thread pool, JIT, GC) were made to drop too: each holds at most
    // the kept set, unless it blocks the drop signal, and then /v1/probes lists it with that reason.
    const listed = new Map((caps.threads_holding_more ?? []).map((t: any) => [String(t.tid), t]));
    const pool = readdirSync(`/proc/${pid}/task`).filter((t) => readFileSync(`/proc/${pid}/task/${t}/comm`, "utf8").startsWith("Bun Pool"));
    expect(pool.length).toBeGreaterThan(0);
    for (const t of pool) expect(statusMask(pid, "CapEff", t)).toBe(kept);
    for (const t of readdirSync(`/proc/${pid}/task`)) {
      if (!(statusMask(pid, "CapEff", t) & ~kept)) continue;
      const entry: any = listed.get(t);
      expect(entry?.why).toMatch(/^blocks signal (\d+)$/);
      const sig = BigInt(/(\d+)$/.exec(entry.why)![1]!);
      expect((statusMask(pid, "SigBlk", t) >> (sig - 1n)) & 1n).toBe(1n);
    }
  });

  test("symbolizes kernel stacks without CAP_SYSLOG now, and reads BPF maps on scrape without CAP_BPF", async () => {
    expect(statusMask(agent.proc.pid, "CapEff")).toBe(0n);
    const d = await provokedDrop(agent);
    expect(d.drop_reason).toBe("SKB_DROP_REASON_NO_SOCKET");
    expect(d.stack).toMatch(/udp/);
    expect(d.stack).not.toContain("unsymbolized");
    expect(d.stack.split("\n").filter((f: string) => /^0x[0-9a-f]+$/.test(f))).toEqual([]);
    const text = await agent.metrics();
    expect(metricValue(text, "kpulse_dropwatch_drops_total", { reason: "SKB_DROP_REASON_NO_SOCKET" })).toBeGreaterThanOrEqual(3);
    expect(metricValue(text, "kpulse_capability_effective", { cap: "CAP_BPF" })).toBe(0);
    expect(metricValue(text, "kpulse_capability_effective", { cap: "CAP_SYSLOG" })).toBe(0);
    // No probe's scrape fails once the capabilities are gone.
    const failing = text.split("\n").filter((l) => l.startsWith("kpulse_scrape_collector_success{") && l.endsWith(" 0"));
    expect(failing).toEqual([]);
  });

  test("logs what it has, what is missing and what it dropped, once", () => {
    const out = agent.output();
    expect(out.match(/msg="capabilities" /g)?.length).toBe(1);
    expect(out.match(/msg="no CAP_SYS_PTRACE"/g)?.length).toBe(1);
    expect(out).not.toContain('msg="no CAP_SYSLOG"');
    expect(out.match(/msg="capabilities dropped after start-up"/g)?.length).toBe(1);
  });
});

describe.skipIf(!!skip)("least privilege: nobody without CAP_SYSLOG (real kernel)", () => {
  let agent: Agent;
  let dir: string;
  let restoreKptr: string | undefined;

  beforeAll(async () => {
    // kptr_restrict=0 with perf_event_paranoid<=1 shows addresses to everyone: hide them for the test.
    if (!nobodySeesZeroAddresses()) {
      restoreKptr = readFileSync("/proc/sys/kernel/kptr_restrict", "utf8").trim();
      await Bun.write("/proc/sys/kernel/kptr_restrict", "1");
    }
    dir = nobodyDir();
    agent = await startAgent({ config: CONFIG, dir, wrap: asNobody(UNIT_CAPS.filter((c) => c !== "syslog")), args: ["--listen", "127.0.0.1:19865"] });
  });
  afterAll(async () => {
    await agent?.stop();
    if (restoreKptr !== undefined) await Bun.write("/proc/sys/kernel/kptr_restrict", restoreKptr);
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test("GET /v1/probes says CAP_SYSLOG is missing and kernel symbols are unavailable", async () => {
    const { capabilities: caps, data } = await probesDoc(agent);
    expect(data.find((p: any) => p.name === "dropwatch")).toMatchObject({ status: "loaded" });
    const syslog = caps.missing.find((m: any) => m.cap === "CAP_SYSLOG");
    expect(syslog.impact).toContain("unsymbolized");
    expect(caps.kernel_symbols).toMatch(/^unavailable: no CAP_SYSLOG/);
  });

  test("a dropped packet's stack is marked unsymbolized with the reason, its raw addresses kept", async () => {
    const d = await provokedDrop(agent);
    const frames = d.stack.split("\n");
    expect(frames[0]).toMatch(/^\(unsymbolized: no CAP_SYSLOG/);
    expect(frames.length).toBeGreaterThan(3);
    for (const f of frames.slice(1)) expect(f).toMatch(/^0x[0-9a-f]{16}$/);
  });

  test("says so once in the log", () => {
    expect(agent.output().match(/msg="no CAP_SYSLOG"/g)?.length).toBe(1);
  });
});
