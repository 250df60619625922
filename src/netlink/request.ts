// One netlink request and its reply: send nlmsghdr + payload, then read datagrams until the
// reply is complete (NLMSG_DONE for a dump, the single answer otherwise), handing each data
// message to a visitor. NLMSG_ERROR becomes a NetlinkError carrying the errno. Bounded in bytes,
// messages and time, so a runaway reply fails the scrape instead of growing without limit.
//
// The transport is the socket (ffi/netlink.ts) in production and a scripted fake in unit tests.
import { strerror } from "../../ffi/netlink.ts";
import {
  buildRequest,
  NetlinkFormatError,
  NLM_F_DUMP,
  NLM_F_MULTI,
  NLM_F_REQUEST,
  NLMSG_DONE,
  NLMSG_ERROR,
  NLMSG_NOOP,
  NLMSG_OVERRUN,
  walkMessages,
  type AttrSpec,
  type NlMsg,
} from "./wire.ts";

export interface NetlinkTransport {
  send(msg: Uint8Array): void;
  /** One datagram into buf; returns its length (throws on timeout). */
  recv(buf: Uint8Array): number;
}

/** The kernel answered NLMSG_ERROR (or a failed NLMSG_DONE) with -errno. */
export class NetlinkError extends Error {
  override name = "NetlinkError";
  constructor(readonly errno: number, where: string) {
    super(`${where}: ${strerror(errno)} (errno ${errno})`);
  }
}

export interface ReplyLimits {
  /** Total bytes of reply datagrams. */
  maxBytes: number;
  /** Total messages, NLMSG_DONE included. */
  maxMessages: number;
  /** Wall time for the whole reply (each recv also has the socket's own timeout). */
  maxMs: number;
}

/** Enough for link, qdisc and DCB replies of any real host (a link message is ~1–3 KiB). */
export const DEFAULT_LIMITS: ReplyLimits = { maxBytes: 64 << 20, maxMessages: 100_000, maxMs: 10_000 };

export interface Request {
  type: number;
  /** Added to NLM_F_REQUEST; NLM_F_DUMP makes it a dump (read until NLMSG_DONE). */
  flags: number;
  payload: Uint8Array;
  attrs?: readonly AttrSpec[];
  /** Names the request in errors, e.g. "netlink RTM_GETLINK dump". */
  where: string;
}

/** Receive buffer: ≥ 32 KiB lets the kernel fill its largest dump chunks. */
const RECV_BUFFER = 64 << 10;

let lastSeq = Math.floor(Math.random() * 0x7fffffff);

/**
 * Send `req` and call `visit(view, msg)` for every data message of the reply, in order. The
 * view is only valid during the call (the buffer is reused for the next datagram). Returns the
 * number of data messages.
 */
export function request(
  t: NetlinkTransport,
  req: Request,
  visit: (view: DataView, msg: NlMsg) => void,
  limits: ReplyLimits = DEFAULT_LIMITS,
): number {
  const seq = (lastSeq = (lastSeq + 1) >>> 0);
  const dump = (req.flags & NLM_F_DUMP) === NLM_F_DUMP;
  t.send(buildRequest(req.type, NLM_F_REQUEST | req.flags, seq, req.payload, req.attrs));

  const buf = new Uint8Array(RECV_BUFFER);
  const view = new DataView(buf.buffer);
  const deadline = Date.now() + limits.maxMs;
  let bytes = 0;
  let messages = 0;
  let data = 0;
  for (;;) {
    const n = t.recv(buf);
    if (n === 0) throw new NetlinkFormatError(`${req.where}: empty datagram before the end of the reply`);
    bytes += n;
    if (bytes > limits.maxBytes) throw new Error(`${req.where}: reply exceeds ${limits.maxBytes} bytes`);
    for (const msg of walkMessages(view, n, req.where)) {
      if (++messages > limits.maxMessages) throw new Error(`${req.where}: reply exceeds ${limits.maxMessages} messages`);
      // A message for another request (e.g. left over from an earlier one): not ours.
      if (msg.seq !== seq) continue;
      switch (msg.type) {
        case NLMSG_NOOP:
          continue;
        case NLMSG_ERROR: {
          const code = errorCode(view, msg, req.where);
          if (code === 0) return data; // an acknowledgement
          throw new NetlinkError(-code, req.where);
        }
        case NLMSG_DONE: {
          // A dump that failed midway reports -errno in the DONE payload.
          if (msg.end - msg.payload >= 4) {
            const code = view.getInt32(msg.payload, true);
            if (code < 0) throw new NetlinkError(-code, req.where);
          }
          return data;
        }
        case NLMSG_OVERRUN:
          throw new NetlinkFormatError(`${req.where}: NLMSG_OVERRUN (data lost)`);
        default:
          data++;
          visit(view, msg);
          // Not a dump: the answer is one message, not marked multipart.
          if (!dump && (msg.flags & NLM_F_MULTI) === 0) return data;
      }
    }
    if (Date.now() > deadline) throw new Error(`${req.where}: reply not complete after ${limits.maxMs} ms`);
  }
}

/** struct nlmsgerr { int error; struct nlmsghdr msg; }: the (negative) error, 0 for an ACK. */
function errorCode(view: DataView, msg: NlMsg, where: string): number {
  if (msg.end - msg.payload < 4) throw new NetlinkFormatError(`${where}: NLMSG_ERROR of ${msg.end - msg.offset} bytes has no error code`);
  const code = view.getInt32(msg.payload, true);
  if (code > 0) throw new NetlinkFormatError(`${where}: NLMSG_ERROR with positive error ${code}`);
  return code;
}
