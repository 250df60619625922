// UDP traffic for drop tests: datagrams to a port nobody listens on make the kernel drop
// them with SKB_DROP_REASON_NO_SOCKET.
import { createSocket, type Socket } from "node:dgram";

/** A loopback UDP port that was free a moment ago (bound, then released). */
export async function closedUdpPort(): Promise<number> {
  const s = createSocket("udp4");
  await new Promise<void>((r) => s.bind(0, "127.0.0.1", r));
  const port = s.address().port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

export interface Sender {
  port: number;
  send(toPort: number, count: number, payload?: Buffer): Promise<void>;
  close(): Promise<void>;
}

export async function udpSender(): Promise<Sender> {
  const s: Socket = createSocket("udp4");
  await new Promise<void>((r) => s.bind(0, "127.0.0.1", r));
  return {
    port: s.address().port,
    async send(toPort, count, payload = Buffer.from("kpulse-drop-test")) {
      for (let i = 0; i < count; i++) {
        await new Promise<void>((resolve, reject) => s.send(payload, toPort, "127.0.0.1", (err) => (err ? reject(err) : resolve())));
      }
    },
    close: () => new Promise<void>((r) => s.close(() => r())),
  };
}
