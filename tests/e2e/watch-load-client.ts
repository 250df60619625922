// Child process of tests/e2e/watch-stream.test.ts and bench/watch.ts: N watch clients of one
// agent, off the test's own event loop (2 such processes carry 100 clients on a 2-CPU machine).
// Usage: bun watch-load-client.ts URL N DPORT   (raw sockets: see run())
//   prints "connected <statuses>" once every stream answered, then reads commands on stdin:
//   "done <count>" — wait (≤ 20 s) until each client has <count> events for DPORT, then print one
//   JSON line {clients:[{count, hash, gaps}], latency:{p50, p99, max, n}} and exit.
// Latency = receive time − the event's observed_timestamp (the kernel's time for dropwatch).
const [url, nArg, dportArg] = process.argv.slice(2);
const n = Number(nArg);
const dport = `"dport":${dportArg},`;

interface Client {
  ids: string[];
  gaps: number;
  status: number;
}
const clients: Client[] = [];
const latencies: number[] = [];
const TS = '"observed_timestamp":"';
const { hostname, port } = new URL(url!);
const BODY = JSON.stringify({ filters: { tracer_name: "^dropwatch$" } });
const REQUEST = `POST /v1/events/watch HTTP/1.1\r\nHost: ${hostname}\r\nContent-Type: application/json\r\nContent-Length: ${BODY.length}\r\n\r\n${BODY}`;

const DAY = 86_400_000;
const digits = (t: string, at: number, n: number) => {
  let v = 0;
  for (let i = 0; i < n; i++) v = v * 10 + t.charCodeAt(at + i) - 48;
  return v;
};
/** now − an RFC 3339 UTC time "YYYY-MM-DDTHH:MM:SS.fffZ" at `at`, by its time of day (no Date.parse per frame). */
function delayMs(now: number, t: string, at: number): number {
  let ms = digits(t, at + 11, 2) * 3_600_000 + digits(t, at + 14, 2) * 60_000 + digits(t, at + 17, 2) * 1000;
  if (t.charCodeAt(at + 19) === 46) {
    let scale = 100;
    for (let i = at + 20; t.charCodeAt(i) >= 48 && t.charCodeAt(i) <= 57; i++, scale /= 10) ms += (t.charCodeAt(i) - 48) * scale;
  }
  let d = (now % DAY) - ms;
  if (d < -DAY / 2) d += DAY; // across midnight
  return d;
}

/**
 * One client on a raw socket: 100 clients at 1 000 events/s are 100 000 frames/s for two
 * small processes, so frames are found with indexOf on latin1 text, never copied or parsed.
 * The HTTP chunk headers (each chunk holds whole frames) sit between frames and are skipped.
 */
async function run(c: Client) {
  let carry = "";
  let head = true;
  await Bun.connect({
    hostname,
    port: Number(port),
    socket: {
      open(s) {
        s.write(REQUEST);
      },
      data(_s, d) {
        const now = performance.timeOrigin + performance.now();
        let text = carry + d.toString("latin1");
        let pos = 0;
        if (head) {
          const end = text.indexOf("\r\n\r\n");
          if (end < 0) {
            carry = text;
            return;
          }
          c.status = Number(text.slice(9, 12));
          head = false;
          pos = end + 4;
        }
        for (let end; (end = text.indexOf("\n\n", pos)) >= 0; pos = end + 2) {
          const id = text.indexOf("id: ", pos);
          if (id < 0 || id > end) {
            const g = text.indexOf("event: gap", pos);
            if (g >= 0 && g < end) c.gaps++;
            continue;
          }
          const ts = text.indexOf(TS, id);
          if (ts < 0 || ts > end) continue;
          const dp = text.indexOf(dport, ts);
          if (dp < 0 || dp > end) continue;
          c.ids.push(text.slice(id + 4, id + 24));
          latencies.push(delayMs(now, text, ts + TS.length));
        }
        carry = text.slice(pos);
      },
      close() {
        if (c.status === 0) c.status = -1;
      },
      error() {
        if (c.status === 0) c.status = -1;
      },
    },
  });
}

for (let i = 0; i < n; i++) clients.push({ ids: [], gaps: 0, status: 0 });
const runs = clients.map((c) => run(c).catch(() => {}));
while (clients.some((c) => c.status === 0)) await Bun.sleep(10);
console.log(`connected ${clients.map((c) => c.status).join(",")}`);

for await (const line of console) {
  const m = /^done (\d+)/.exec(line);
  if (!m) continue;
  const want = Number(m[1]);
  const deadline = Date.now() + 20_000;
  while (clients.some((c) => c.status === 200 && c.ids.length < want) && Date.now() < deadline) await Bun.sleep(50);
  latencies.sort((a, b) => a - b);
  const q = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))] ?? NaN;
  console.log(JSON.stringify({
    clients: clients.map((c) => ({ count: c.ids.length, hash: String(Bun.hash(c.ids.join(","))), gaps: c.gaps })),
    latency: { p50: q(0.5), p99: q(0.99), max: latencies.at(-1) ?? NaN, n: latencies.length },
  }));
  process.exit(0);
}
void runs;
export {};
