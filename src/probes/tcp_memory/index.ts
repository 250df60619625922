// tcp_memory: HUATUO's `tcp_memory_*` gauges: the memory all TCP sockets hold (the `mem` field of
// sockstat's TCP line, in pages; one kernel-wide number) against net.ipv4.tcp_mem[2] (max).
// usage_percent is a 0–1 ratio, as in HUATUO (0 when the limit is 0). usage_bytes uses the
// kernel's page size (HUATUO multiplies by 4096, the same on 4 KiB-page machines).
// Unsupported without /proc/sys/net/ipv4/tcp_mem, as HUATUO.
import { access, readFile } from "node:fs/promises";
import type { Sample } from "../../metrics/sample.ts";
import { hostNetFile } from "../../procfs/host-net.ts";
import { pageSize } from "../../procfs/pagesize.ts";
import { parseSockstat } from "../sockstat/parse.ts";
import { defineProbe, ProbeUnsupportedError } from "../types.ts";
import { parseTcpMem } from "./parse.ts";

/** The four series from a sockstat text and a tcp_mem text. */
export function tcpMemorySamples(sockstat: { path: string; text: string }, tcpMem: { path: string; text: string }, page: number): Sample[] {
  const limit = parseTcpMem(tcpMem.text, tcpMem.path).maxPages;
  const tcp = parseSockstat(sockstat.text, sockstat.path).find((l) => l.proto === "TCP");
  const mem = tcp?.fields.find(([name]) => name === "mem");
  if (!mem) throw new Error(`${sockstat.path}: no "mem" on the TCP line`);
  const pages = mem[1];
  return [
    { name: "usage_pages", help: "tcp memory pages usage", type: "gauge", value: pages },
    { name: "usage_bytes", help: "tcp memory bytes usage", type: "gauge", value: pages * page },
    { name: "limit_pages", help: "tcp memory pages limit", type: "gauge", value: limit },
    { name: "usage_percent", help: "tcp memory usage percent", type: "gauge", value: limit > 0 ? pages / limit : 0 },
  ];
}

export const tcpMemoryProbe = defineProbe({
  name: "tcp_memory",
  kind: "metric",
  source: "procfs /proc/<pid>/net/sockstat, /proc/sys/net/ipv4/tcp_mem",
  defaultEnabled: true,

  async create(ctx) {
    const tcpMemPath = ctx.procfs.proc("sys", "net", "ipv4", "tcp_mem");
    await access(tcpMemPath).catch((err: Error) => {
      throw new ProbeUnsupportedError(`no ${tcpMemPath}: ${err.message}`);
    });
    const sockstat = hostNetFile(ctx.procfs, "sockstat", ctx.log);
    const page = pageSize();
    return {
      async collect(): Promise<Sample[]> {
        const [s, text] = await Promise.all([sockstat.read(), readFile(tcpMemPath, "utf8")]);
        return tcpMemorySamples(s, { path: tcpMemPath, text }, page);
      },
      stop() {},
    };
  },
});
