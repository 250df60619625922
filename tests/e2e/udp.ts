// UDP traffic for drop tests: datagrams to a port nobody listens on make the kernel drop
// them with SKB_DROP_REASON_NO_SOCKET. Sent by build/tools/udp-flood (sendmmsg from an
// unconnected socket) because runtime UDP sockets report ICMP port-unreachable as send errors.
import { createSocket } from "node:dgram";
import { join } from "node:path";
import { ROOT } from "./agent.ts";

export const UDP_FLOOD = join(ROOT, "build/tools/udp-flood");

/** A loopback UDP port that was free a moment ago (bound, then released). */
export async function closedUdpPort(): Promise<number> {
  const s = createSocket("udp4");
  await new Promise<void>((r) => s.bind(0, "127.0.0.1", r));
  const port = s.address().port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

/** Sends `count` datagrams to 127.0.0.1:`port`; resolves with the source port used. */
export async function sendUdp(port: number, count: number): Promise<{ sport: number; sent: number }> {
  const p = Bun.spawn([UDP_FLOOD, String(port), String(count)], { stdout: "pipe", stderr: "pipe" });
  const [out, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  if (code !== 0) throw new Error(`udp-flood exited ${code}: ${err}`);
  const sport = Number(/sport=(\d+)/.exec(out)?.[1]);
  const sent = Number(/sent=(\d+)/.exec(out)?.[1]);
  return { sport, sent };
}
