// How `kpulse watch` reaches an agent secured by a web config: credentials from the URL's
// user:password (sent as basic auth, never left in the URL that is printed) or from
// --bearer-token-file, and TLS trust from --ca-file (plus --cert-file/--key-file for client
// certificates). Files are read once, bounded; a problem is one line naming the flag.
import { readBoundedText } from "./util/bounded-read.ts";
import type { WatchCliOptions } from "./cli.ts";

const MAX_PEM_BYTES = 1024 * 1024;
const MAX_TOKEN_BYTES = 4096;

export interface WatchAccess {
  /** The URL without its credentials (safe to print). */
  url: string;
  headers: Record<string, string>;
  tls?: { ca?: string; cert?: string; key?: string };
}

function readFlagFile(flag: string, path: string, max: number): string {
  try {
    return readBoundedText(path, max, { regularFile: true });
  } catch (e) {
    throw new Error(`--${flag}: cannot read ${path}: ${(e as Error).message}`);
  }
}

/** Throws an Error whose message is the one line to print. */
export function watchAccess(o: WatchCliOptions, url: string): WatchAccess {
  const u = new URL(url);
  const headers: Record<string, string> = {};
  if (u.username || u.password) {
    const user = decodeURIComponent(u.username);
    const password = decodeURIComponent(u.password);
    headers.Authorization = `Basic ${Buffer.from(`${user}:${password}`).toString("base64")}`;
    u.username = "";
    u.password = "";
  }
  if (o.bearerTokenFile) {
    if (headers.Authorization) throw new Error("--bearer-token-file and a user:password in the URL are both given: use one");
    const token = readFlagFile("bearer-token-file", o.bearerTokenFile, MAX_TOKEN_BYTES).replace(/\r?\n$/, "");
    if (!/^[\x21-\x7e]+$/.test(token)) throw new Error(`--bearer-token-file: ${o.bearerTokenFile} must hold one token (printable ASCII, no spaces)`);
    headers.Authorization = `Bearer ${token}`;
  }
  if ((o.certFile === undefined) !== (o.keyFile === undefined)) throw new Error("--cert-file and --key-file go together");
  const tls: WatchAccess["tls"] = {};
  if (o.caFile) tls.ca = readFlagFile("ca-file", o.caFile, MAX_PEM_BYTES);
  if (o.certFile) tls.cert = readFlagFile("cert-file", o.certFile, MAX_PEM_BYTES);
  if (o.keyFile) tls.key = readFlagFile("key-file", o.keyFile, MAX_PEM_BYTES);
  const anyTls = Object.keys(tls).length > 0;
  if (anyTls && u.protocol !== "https:") throw new Error("--ca-file, --cert-file and --key-file need an https:// URL");
  return { url: u.toString(), headers, tls: anyTls ? tls : undefined };
}
