// "host:port" listen addresses as HUATUO writes them (":19704", "127.0.0.1:19704", "[::1]:19704").

export interface ListenAddress {
  /** "" means every interface. */
  host: string;
  port: number;
}

export function parseListenAddress(s: string): ListenAddress | undefined {
  const m = /^(?:\[([0-9A-Za-z:.%]+)\]|([^:[\]\s]*)):(\d{1,5})$/.exec(s);
  if (!m) return undefined;
  const port = Number(m[3]);
  if (port > 65535) return undefined;
  return { host: m[1] ?? m[2] ?? "", port };
}
