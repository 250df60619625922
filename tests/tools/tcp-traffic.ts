// TCP traffic for the dropwatch tests, run inside a test's network namespace with
// `ip netns exec <ns> bun tests/tools/tcp-traffic.ts <mode> …`:
//
//   servers ADDR PORT        four servers on PORT..PORT+3 (see below); prints "ready", runs until killed
//   clients ADDR PORT N      N ordinary cycles against them, N/4 of each kind; prints "done <N>"
//   listener ADDR PORT       a TCP_DEFER_ACCEPT listener with backlog 1 that never accepts;
//                            prints "ready", runs until killed
//   flood ADDR PORT N        N connections to it; those up within 0.5 s send a few bytes (the
//                            data completes the deferred handshakes: the accept queue
//                            overflows); prints "done <connected>"
//   refused ADDR PORT N      N connections to a port nobody listens on (each SYN: NO_SOCKET, RST);
//                            prints "done <N>"
//
// The ordinary cycles are what a host does all day: connect, transfer, close, in the four ways
// connections end (client closes first, server closes first without reading, the client resets,
// and an HTTP exchange with a Bun server, which listens with TCP_DEFER_ACCEPT like kpulse's own).
import { dlopen, FFIType, ptr } from "bun:ffi";
import { connect, createServer, type Socket } from "node:net";

const [mode, addr = "127.0.0.1", portText = "0", countText = "0"] = process.argv.slice(2);
const port = Number(portText);
const count = Number(countText);

function cycle(p: number, onConnect: (s: Socket) => void): Promise<void> {
  return new Promise((resolve) => {
    const s = connect(p, addr);
    s.on("error", () => resolve());
    s.on("close", () => resolve());
    s.on("connect", () => onConnect(s));
  });
}

async function servers(): Promise<void> {
  // echo: the client ends the connection after its echo
  createServer((s) => {
    s.on("data", (d) => s.write(d));
    s.on("end", () => s.end());
    s.on("error", () => {});
  }).listen(port, addr);
  // the server closes first, without reading what the client sent
  createServer((s) => {
    s.on("error", () => {});
    setTimeout(() => s.destroy(), 2);
  }).listen(port + 1, addr);
  // echo again, for clients that reset
  createServer((s) => {
    s.on("data", (d) => s.write(d));
    s.on("error", () => {});
  }).listen(port + 2, addr);
  Bun.serve({ port: port + 3, hostname: addr, fetch: () => new Response("k".repeat(16_384)) });
  console.log("ready");
}

async function clients(): Promise<void> {
  const body = "x".repeat(4096);
  for (let i = 0; i < count; i++) {
    switch (i % 4) {
      case 0:
        await cycle(port, (s) => {
          s.write(body);
          let got = 0;
          s.on("data", (d) => {
            got += d.length;
            if (got >= body.length) s.end();
          });
        });
        break;
      case 1:
        await cycle(port + 1, (s) => s.write("hello"));
        break;
      case 2:
        await cycle(port + 2, (s) => {
          s.write("ping");
          s.once("data", () => s.resetAndDestroy());
        });
        break;
      default:
        await fetch(`http://${addr}:${port + 3}/`, { headers: { connection: "close" } }).then((r) => r.text());
    }
  }
  console.log(`done ${count}`);
}

function listener(): void {
  const { symbols: c } = dlopen("libc.so.6", {
    socket: { args: [FFIType.i32, FFIType.i32, FFIType.i32], returns: FFIType.i32 },
    setsockopt: { args: [FFIType.i32, FFIType.i32, FFIType.i32, FFIType.ptr, FFIType.u32], returns: FFIType.i32 },
    bind: { args: [FFIType.i32, FFIType.ptr, FFIType.u32], returns: FFIType.i32 },
    listen: { args: [FFIType.i32, FFIType.i32], returns: FFIType.i32 },
  });
  const AF_INET = 2, SOCK_STREAM = 1, IPPROTO_TCP = 6, TCP_DEFER_ACCEPT = 9;
  const fd = c.socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) throw new Error("socket failed");
  const secs = new Int32Array([30]);
  if (c.setsockopt(fd, IPPROTO_TCP, TCP_DEFER_ACCEPT, ptr(secs), 4) !== 0) throw new Error("TCP_DEFER_ACCEPT failed");
  const sa = new Uint8Array(16); // struct sockaddr_in
  sa[0] = AF_INET;
  sa[2] = port >> 8;
  sa[3] = port & 0xff;
  sa.set(addr.split(".").map(Number), 4);
  if (c.bind(fd, ptr(sa), 16) !== 0) throw new Error("bind failed");
  if (c.listen(fd, 1) !== 0) throw new Error("listen failed");
  console.log("ready");
  setInterval(() => {}, 60_000); // keep the socket (never accepted) until killed
}

async function flood(): Promise<void> {
  // SYNs beyond a full accept queue are dropped and retried for seconds: give the connections
  // half a second, then send on those that are up.
  const socks: Socket[] = [];
  let up = 0;
  for (let i = 0; i < count; i++) {
    const s = connect(port, addr);
    socks.push(s);
    s.on("error", () => {});
    s.on("connect", () => up++);
  }
  for (let waited = 0; up < count && waited < 500; waited += 10) await Bun.sleep(10);
  for (const s of socks) if (s.readyState === "open") s.write("data");
  await Bun.sleep(300);
  for (const s of socks) s.destroy();
  console.log(`done ${up}`);
}

async function refused(): Promise<void> {
  for (let i = 0; i < count; i++) await cycle(port, () => {});
  console.log(`done ${count}`);
}

switch (mode) {
  case "servers": await servers(); break;
  case "clients": await clients(); break;
  case "listener": listener(); break;
  case "flood": await flood(); break;
  case "refused": await refused(); break;
  default:
    console.error("usage: tcp-traffic.ts servers|clients|listener|flood|refused ADDR PORT [N]");
    process.exit(2);
}
