// `kpulse watch` against the real agent and real kernel drops: killed and restarted, it prints
// exactly the events it missed (from the agent's memory, and after an agent restart from its
// local files); clear one-line errors when the agent is unreachable or full; the summary
// format; the EventsWatch bounds in `kpulse check`.
import { afterAll, afterEach, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { KPULSE, kernelTestSkipReason, metricValue, startAgent, waitFor, type Agent } from "./agent.ts";
import { watch } from "./sse.ts";
import { closedUdpPort, sendUdp } from "./udp.ts";
import { storedDrops, WATCH_BINARY } from "./watch-helpers.ts";

const skip = kernelTestSkipReason();
const BIN = WATCH_BINARY ?? KPULSE;

async function freeTcpPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
  const port = (s.address() as { port: number }).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

/** Clients still running: killed after each test, so a failed test does not hold a watch slot. */
const running = new Set<Bun.Subprocess>();
afterEach(async () => {
  for (const p of running) p.kill("SIGKILL");
  await Promise.all([...running].map((p) => p.exited));
  running.clear();
});

/** `kpulse watch` as a child process; its stdout lines and stderr collected as they come. */
function client(args: string[]) {
  const p = Bun.spawn([BIN, "watch", ...args], { stdout: "pipe", stderr: "pipe" });
  running.add(p);
  void p.exited.then(() => running.delete(p));
  const out: string[] = [];
  let err = "";
  void (async () => {
    let buf = "";
    for await (const c of p.stdout as ReadableStream<Uint8Array>) {
      buf += new TextDecoder().decode(c);
      for (let i; (i = buf.indexOf("\n")) >= 0; buf = buf.slice(i + 1)) out.push(buf.slice(0, i));
    }
  })();
  void (async () => {
    for await (const c of p.stderr as ReadableStream<Uint8Array>) err += new TextDecoder().decode(c);
  })();
  return { p, out, err: () => err };
}

const idsFor = (lines: string[], dport: number) =>
  lines.map((l) => JSON.parse(l)).filter((ce) => ce.data?.tracer_data?.dport === dport).map((ce) => ce.id as string);

describe("kpulse watch: errors are one clear line", () => {
  test("unreachable agent: exit 1, no stack trace", async () => {
    const port = await freeTcpPort();
    const c = client([`http://127.0.0.1:${port}`]);
    expect(await c.p.exited).toBe(1);
    await Bun.sleep(50);
    expect(c.err()).toMatch(/^kpulse watch: cannot connect to http:\/\/127\.0\.0\.1:\d+\/v1\/events\/watch: connection refused/);
    expect(c.err()).not.toMatch(/\n\s+at /);
    expect(c.err().trim().split("\n")).toHaveLength(1);
  });

  test("bad flags: usage error, exit 2", async () => {
    const c = client(["--format", "xml"]);
    expect(await c.p.exited).toBe(2);
    await Bun.sleep(50);
    expect(c.err()).toContain("--format must be json or summary");
  });
});

describe("kpulse check: EventsWatch bounds", () => {
  test("KeepAliveInterval = 3000000 and MaxClients = 20000 are refused with file:line", async () => {
    const dir = mkdtempSync(join(tmpdir(), "kpulse-watch-check-"));
    try {
      for (const [key, value, want] of [["KeepAliveInterval", 3000000, "from 1 to 3600"], ["MaxClients", 20000, "from 1 to 10000"]] as const) {
        const file = join(dir, "kpulse.toml");
        writeFileSync(file, `[EventsWatch]\n# bounds\n${key} = ${value}\n`);
        const r = Bun.spawnSync([BIN, "check", "--config", file], { stderr: "pipe", stdout: "pipe" });
        expect(r.exitCode).toBe(1);
        const err = r.stderr.toString();
        expect(err).toContain(`${file}:3`);
        expect(err).toContain(key);
        expect(err).toContain(want);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe.skipIf(!!skip)("kpulse watch on the real agent (real kernel drops)", () => {
  let agent: Agent;
  let port: number;
  let dir: string;
  const config = `
[Storage.LocalFile]
Path = "local"
[EventTracing.Dropwatch]
MaxEventsPerSecond = 0
[EventsWatch]
MaxClients = 3
`;
  const start = () => startAgent({ binary: WATCH_BINARY, config, dir, args: ["--listen", `127.0.0.1:${port}`] });

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "kpulse-watch-client-"));
    port = await freeTcpPort();
    agent = await start();
  });
  afterAll(async () => {
    await agent?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  test("killed and restarted, it prints exactly the missed events (from memory, then from the local files)", async () => {
    const dport = await closedUdpPort();
    const state = join(dir, "watch.state");
    const args = [agent.url, "--tracer-name", "^dropwatch$", "--state", state];
    const printed: string[] = [];
    const stored = () => storedDrops(agent, dport).map((r) => r.tracer_id as string);

    // 1. Live.
    let c = client(args);
    await waitFor("the client connected", async () => metricValue(await agent.metrics(), "kpulse_watch_clients") === 1 || undefined);
    await sendUdp(dport, 30);
    await waitFor("30 events printed", () => idsFor(c.out, dport).length >= 30 || undefined);
    c.p.kill("SIGKILL");
    await c.p.exited;
    printed.push(...c.out);

    // 2. Missed while it was down: resumed from the agent's window.
    await sendUdp(dport, 40);
    await waitFor("70 stored", () => stored().length >= 70 || undefined);
    c = client(args);
    await waitFor("the 40 missed printed", () => idsFor(c.out, dport).length >= 40 || undefined);
    await sendUdp(dport, 10);
    await waitFor("10 live printed", () => idsFor(c.out, dport).length >= 50 || undefined);
    c.p.kill("SIGTERM");
    expect(await c.p.exited).toBe(0);
    printed.push(...c.out);

    // 3. Missed while it was down, then the agent restarted (its window is empty): resumed
    //    from the local files. All 25 must be in the files before the stop: 30 + 40 + 10 + 25.
    await sendUdp(dport, 25);
    await waitFor("105 stored", () => stored().length >= 105 || undefined);
    await agent.stop();
    agent = await start();
    c = client(args);
    await waitFor("the 25 missed printed", () => idsFor(c.out, dport).length >= 25 || undefined);
    await Bun.sleep(500); // anything extra (a duplicate) would show up now
    c.p.kill("SIGTERM");
    expect(await c.p.exited).toBe(0);
    printed.push(...c.out);

    const got = idsFor(printed, dport);
    expect(got).toEqual(stored()); // every event once, in order
    expect(new Set(got).size).toBe(got.length);
    // 105 datagrams; the kernel may add a few drops of its own for the port (ICMP errors).
    expect(got.length).toBeGreaterThanOrEqual(105);
  }, 90_000);

  test("--format summary prints one readable line per event", async () => {
    const dport = await closedUdpPort();
    const c = client([agent.url, "--tracer-name", "^dropwatch$", "--format", "summary"]);
    try {
      await Bun.sleep(500);
      await sendUdp(dport, 1);
      const line = await waitFor("a summary line", () => c.out.find((l) => l.includes(`dport=${dport} `)));
      expect(line).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z dropwatch \S+ /);
      expect(line).toContain("drop_reason=SKB_DROP_REASON_NO_SOCKET");
      expect(line).toMatch(/ id=[0-9a-v]{20}$/);
      expect(line).not.toContain("\n");
    } finally {
      c.p.kill("SIGTERM");
      await c.p.exited;
    }
  });

  test("HTTP 429 (no free slot): exit 1 with a clear message", async () => {
    const held = await Promise.all([0, 1, 2].map(() => watch(agent.url)));
    try {
      expect(held.map((h) => h.status)).toEqual([200, 200, 200]);
      const c = client([agent.url]);
      expect(await c.p.exited).toBe(1);
      await Bun.sleep(50);
      expect(c.err()).toContain("has no free watch slot (HTTP 429: max watch clients reached");
      expect(c.err()).not.toMatch(/\n\s+at /);
    } finally {
      for (const h of held) h.close();
    }
  });
});
