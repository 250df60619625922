// KubeSkoop's procfs probes under their own names: fd, io, tcp, udp, ip, tcpext, sock, softnet,
// conntrack, ipvs. Parsers with hand-made edge cases and this machine's files, the fixture tree
// (tests/fixtures/basic, expected/ and expected-huatuo/), bounds of the process scans, and the
// failure modes (malformed input throws naming the file; missing kernel support is unsupported).
// None of these probes has a config section, so there are no Included/Excluded filters to test.
import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { silentLogger } from "../../src/log.ts";
import { renderExposition } from "../../src/metrics/exposition.ts";
import type { Sample } from "../../src/metrics/sample.ts";
import { conntrackProbe, conntrackSamples } from "../../src/probes/conntrack/index.ts";
import { parseConntrackStat, parseSysctlUint, sumColumns } from "../../src/probes/conntrack/parse.ts";
import { countFds, fdProbe } from "../../src/probes/fd/index.ts";
import { socketInode } from "../../src/probes/fd/parse.ts";
import { listPids } from "../../src/probes/fd/procs.ts";
import { ioProbe, sumProcessIo } from "../../src/probes/io/index.ts";
import { parseProcIo } from "../../src/probes/io/parse.ts";
import { ipProbe, ipSamples } from "../../src/probes/ip/index.ts";
import { ipvsProbe } from "../../src/probes/ipvs/index.ts";
import { parseIpvsStats } from "../../src/probes/ipvs/parse.ts";
import { sockProbe, sockSamples } from "../../src/probes/sock/index.ts";
import { softnetProbe, softnetSamples } from "../../src/probes/softnet/index.ts";
import { parseSoftnet } from "../../src/probes/softnet/parse.ts";
import { tcpProbe, tcpSamples } from "../../src/probes/tcp/index.ts";
import { tcpextProbe, tcpextSamples } from "../../src/probes/tcpext/index.ts";
import { ProbeUnsupportedError, type ProbeContext, type ProbeDefinition } from "../../src/probes/types.ts";
import { udpProbe, udpSamples } from "../../src/probes/udp/index.ts";
import { procfsRoot } from "../../src/procfs/root.ts";

const BASIC = join(import.meta.dir, "../fixtures/basic");
const CONST = { host: "kpulse-fixture-host", region: "fixture" };
const PROBES = [fdProbe, ioProbe, tcpProbe, udpProbe, ipProbe, tcpextProbe, sockProbe, softnetProbe, conntrackProbe, ipvsProbe] as ProbeDefinition[];

const ctx = (prefix: string): ProbeContext<unknown> => ({ config: {}, procfs: procfsRoot(prefix), log: silentLogger, emit() {} });

async function collect(def: ProbeDefinition, prefix: string): Promise<Sample[]> {
  const inst = await def.create(ctx(prefix));
  try {
    return await inst.collect!();
  } finally {
    await inst.stop();
  }
}

/** name → value of samples without labels. */
const values = (samples: Sample[]) => Object.fromEntries(samples.map((s) => [s.name, s.value]));

const root = mkdtempSync(join(tmpdir(), "kpulse-kubeskoop-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let trees = 0;
/** A procfs tree of its own: path → file text, or { link } for a symlink. */
function tree(files: Record<string, string | { link: string }>): string {
  const dir = join(root, `t${trees++}`);
  mkdirSync(join(dir, "proc"), { recursive: true });
  for (const [path, content] of Object.entries(files)) {
    mkdirSync(join(dir, path, ".."), { recursive: true });
    if (typeof content === "string") writeFileSync(join(dir, path), content);
    else symlinkSync(content.link, join(dir, path));
  }
  return dir;
}

// ── fixture tree: the same check tests/unit/metric-probes.test.ts runs once the probes are registered ──

describe.each(PROBES.map((def) => [def.name, def] as const))("%s on the basic fixture tree", (name, def) => {
  test("definition: procfs metric probe, no config section, opt-in as in KubeSkoop", () => {
    expect(def.kind).toBe("metric");
    expect(def.source.startsWith("procfs ")).toBe(true);
    expect(def.config).toBeUndefined();
    expect(def.defaultEnabled).toBe(false);
  });

  for (const [dir, ns] of [["expected", "kpulse"], ["expected-huatuo", "huatuo_bamai"]] as const) {
    test(`output is exactly ${dir}/${name}.txt`, async () => {
      const file = join(BASIC, dir, `${name}.txt`);
      expect(existsSync(file)).toBe(true);
      const out = renderExposition({ namespace: ns, constLabels: CONST }, [{ prefix: name, samples: await collect(def, BASIC) }]);
      expect(out).toBe(readFileSync(file, "utf8"));
    });
  }

  test("every series has HELP and a counter or gauge type", async () => {
    const samples = await collect(def, BASIC);
    expect(samples.length).toBeGreaterThan(0);
    for (const s of samples) {
      expect(s.help.length).toBeGreaterThan(10);
      expect(["counter", "gauge"]).toContain(s.type);
      expect(s.name).toMatch(/^[a-z][a-z0-9_]*$/);
    }
  });
});

// ── snmp / netstat rows: tcp, udp, ip, tcpext ──

const TCP_HEADER = "Tcp: RtoAlgorithm RtoMin RtoMax MaxConn ActiveOpens PassiveOpens AttemptFails EstabResets CurrEstab InSegs OutSegs RetransSegs InErrs OutRsts InCsumErrors\n";
const tcpText = (values: string) => `${TCP_HEADER}Tcp: ${values}\n`;

describe("tcp", () => {
  test("KubeSkoop's ten fields, CurrEstab a gauge, the rest counters; MaxConn -1 is accepted", () => {
    const s = tcpSamples(tcpText("1 200 120000 -1 455 379 1 467 7 24189 20412 17 2 365 0"), "/x/snmp");
    expect(values(s)).toEqual({
      activeopens: 455, passiveopens: 379, retranssegs: 17, attemptfails: 1, estabresets: 467,
      currestab: 7, insegs: 24189, outsegs: 20412, inerrs: 2, outrsts: 365,
    });
    expect(s.filter((x) => x.type === "gauge").map((x) => x.name)).toEqual(["currestab"]);
  });

  test("counters near 2^64 keep float64's nearest value", () => {
    const s = tcpSamples(tcpText("1 200 120000 -1 18446744073709551615 0 0 0 0 18446744073709549568 0 0 0 0 0"), "/x/snmp");
    expect(values(s).activeopens).toBe(2 ** 64);
    expect(values(s).insegs).toBe(18446744073709549568);
    const out = renderExposition({ namespace: "kpulse", constLabels: {} }, [{ prefix: "tcp", samples: s }]);
    expect(out).toContain("kpulse_tcp_activeopens 1.8446744073709552e+19\n");
  });

  test("this machine's /proc/net/snmp", () => {
    const names = tcpSamples(readFileSync("/proc/net/snmp", "utf8"), "/proc/net/snmp").map((s) => s.name);
    expect(names).toEqual(["activeopens", "passiveopens", "retranssegs", "attemptfails", "estabresets", "currestab", "insegs", "outsegs", "inerrs", "outrsts"]);
  });

  test("empty file, missing row, truncated file, mismatched counts: errors name the file", () => {
    expect(() => tcpSamples("", "/x/snmp")).toThrow('/x/snmp: no "Tcp:" lines');
    expect(() => tcpSamples("Udp: InDatagrams\nUdp: 1\n", "/x/snmp")).toThrow('/x/snmp: no "Tcp:" lines');
    expect(() => tcpSamples(TCP_HEADER + "Tcp: 1 200 120000 -1 455", "/x/snmp")).toThrow("/x/snmp: truncated (no newline at end of file)");
    expect(() => tcpSamples(TCP_HEADER + "Tcp: 1 200 120000 -1 455\n", "/x/snmp")).toThrow("/x/snmp:2: Tcp: 5 values for 15 fields");
    expect(() => tcpSamples(TCP_HEADER, "/x/snmp")).toThrow("/x/snmp:2: Tcp: header without a value line");
    expect(() => tcpSamples(tcpText("1 200 120000 -1 4x5 379 0 467 0 24189 20412 17 0 365 0"), "/x/snmp")).toThrow("/x/snmp:2: Tcp ActiveOpens is not an integer");
  });
});

describe("udp", () => {
  test("older kernel without InCsumErrors and IgnoredMulti: those series are absent", () => {
    const s = udpSamples("Udp: InDatagrams NoPorts InErrors OutDatagrams RcvbufErrors SndbufErrors\nUdp: 10 20 30 40 50 60\n", "/x/snmp");
    expect(values(s)).toEqual({ indatagrams: 10, noports: 20, inerrors: 30, outdatagrams: 40, rcvbuferrors: 50, sndbuferrors: 60 });
  });

  test("newer kernel with extra columns (MemErrors, a future one): ignored", () => {
    const s = udpSamples(
      "Udp: InDatagrams NoPorts InErrors OutDatagrams RcvbufErrors SndbufErrors InCsumErrors IgnoredMulti MemErrors FutureThing\n" +
        "Udp: 1 2 3 4 5 6 7 8 9 10\nUdpLite: InDatagrams NoPorts\nUdpLite: 99 99\n",
      "/x/snmp",
    );
    expect(values(s)).toEqual({ indatagrams: 1, noports: 2, inerrors: 3, outdatagrams: 4, rcvbuferrors: 5, sndbuferrors: 6, incsumerrors: 7, ignoredmulti: 8 });
    expect(s.every((x) => x.type === "counter")).toBe(true);
  });
});

describe("ip", () => {
  const snmp = { path: "/x/snmp", text: "Ip: Forwarding DefaultTTL InReceives InDiscards OutRequests\nIp: 1 64 1000 3 900\n" };
  const netstat = { path: "/x/netstat", text: "IpExt: InNoRoutes InTruncatedPkts InMcastPkts\nIpExt: 5 6 7\n" };

  test("Ip row of snmp (without Forwarding and DefaultTTL) and IpExt InNoRoutes/InTruncatedPkts of netstat", () => {
    expect(values(ipSamples(snmp, netstat))).toEqual({ inreceives: 1000, indiscards: 3, outrequests: 900, innoroutes: 5, intruncatedpkts: 6 });
  });

  test("a netstat without IpExt throws naming netstat", () => {
    expect(() => ipSamples(snmp, { path: "/x/netstat", text: "TcpExt: A\nTcpExt: 1\n" })).toThrow('/x/netstat: no "IpExt:" lines');
  });
});

describe("tcpext", () => {
  test("the 32 fields KubeSkoop lists, all counters, from this machine's /proc/net/netstat", () => {
    const s = tcpextSamples(readFileSync("/proc/net/netstat", "utf8"), "/proc/net/netstat");
    expect(s).toHaveLength(32);
    expect(s.map((x) => x.name)).toContain("listendrops");
    expect(s.map((x) => x.name)).toContain("tcpmemorypressureschrono");
    expect(s.every((x) => x.type === "counter")).toBe(true);
  });

  test("fixture values by field name, wherever the column sits", () => {
    const v = values(tcpextSamples(readFileSync(join(BASIC, "proc/1/net/netstat"), "utf8"), "netstat"));
    expect(v).toMatchObject({ tcptimeouts: 2, tcpabortonclose: 17, tcpabortondata: 283, tcpackskippedseq: 15, tcpwinprobe: 60, tcpkeepalive: 205, listendrops: 0 });
  });
});

// ── sock ──

describe("sock", () => {
  const v4 = { path: "/x/sockstat", text: "sockets: used 409\nTCP: inuse 4 orphan 1 tw 75 alloc 171 mem 3\nUDP: inuse 0 mem 2\n" };
  const v6 = { path: "/x/sockstat6", text: "TCP6: inuse 2\nUDP6: inuse 1\n" };

  test("inuse = TCP inuse + TCP6 inuse; orphan, tw, alloc, mem from the TCP line; gauges", () => {
    const s = sockSamples(v4, v6);
    expect(values(s)).toEqual({ inuse: 6, orphan: 1, tw: 75, alloc: 171, mem: 3 });
    expect(s.every((x) => x.type === "gauge")).toBe(true);
  });

  test("without sockstat6 (IPv6 off): the IPv4 count", () => {
    expect(values(sockSamples(v4)).inuse).toBe(4);
  });

  test("missing lines and fields throw naming the file", () => {
    expect(() => sockSamples({ path: "/x/sockstat", text: "sockets: used 1\n" })).toThrow('/x/sockstat: no "TCP:" line');
    expect(() => sockSamples({ path: "/x/sockstat", text: "TCP: inuse 1 orphan 0\n" })).toThrow("/x/sockstat: TCP line has no tw");
    expect(() => sockSamples(v4, { path: "/x/sockstat6", text: "UDP6: inuse 1\n" })).toThrow('/x/sockstat6: no "TCP6:" line');
    expect(() => sockSamples({ path: "/x/sockstat", text: "TCP: inuse x\n" })).toThrow("/x/sockstat:1: bad pair");
  });

  test("probe on a tree without sockstat6 reads sockstat alone", async () => {
    const dir = tree({ "proc/1/net/sockstat": v4.text });
    expect(values(await collect(sockProbe, dir)).inuse).toBe(4);
  });
});

// ── softnet ──

const hexRow = (...v: number[]) => v.map((x) => x.toString(16).padStart(8, "0")).join(" ");

describe("softnet", () => {
  test("old kernel, 9 columns: CPU is the row index; only processed, dropped, time_squeeze", () => {
    const rows = parseSoftnet(`${hexRow(10, 1, 2, 0, 0, 0, 0, 0, 0)}\n${hexRow(20, 3, 4, 0, 0, 0, 0, 0, 0)}\n`);
    expect(rows.map((r) => r.cpu)).toEqual([0, 1]);
    const s = softnetSamples(rows);
    expect(s.map((x) => `${x.name}{${x.labels!.cpu}}=${x.value}`)).toEqual([
      "processed{0}=10", "dropped{0}=1", "time_squeeze{0}=2", "processed{1}=20", "dropped{1}=3", "time_squeeze{1}=4",
    ]);
  });

  test("11 columns: received_rps and flow_limit_count, no backlog_len", () => {
    const s = softnetSamples(parseSoftnet(`${hexRow(1, 2, 3, 0, 0, 0, 0, 0, 0, 44, 5)}\n`));
    expect(s.map((x) => x.name)).toEqual(["processed", "dropped", "time_squeeze", "received_rps", "flow_limit_count"]);
    expect(s.find((x) => x.name === "received_rps")!.value).toBe(44);
  });

  test("13+ columns: the CPU number comes from column 13 (offline CPUs leave gaps); extra columns are ignored", () => {
    const text = `${hexRow(1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 7, 0)}\n${hexRow(2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 5, 0, 0, 99)}\n`;
    const rows = parseSoftnet(text);
    expect(rows.map((r) => [r.cpu, r.columns.length])).toEqual([[0, 13], [5, 16]]);
    const s = softnetSamples(rows);
    expect(s.filter((x) => x.name === "backlog_len").map((x) => [x.labels!.cpu, x.value])).toEqual([["0", 7], ["5", 0]]);
    expect(s.find((x) => x.name === "backlog_len")!.type).toBe("gauge");
  });

  test("u32 maximum, upper-case hex", () => {
    expect(parseSoftnet(`FFFFFFFF ${hexRow(0, 0, 0, 0, 0, 0, 0, 0)}\n`)[0]!.columns[0]).toBe(4294967295);
  });

  test("this machine's file: one row per online CPU", () => {
    const rows = parseSoftnet(readFileSync("/proc/net/softnet_stat", "utf8"));
    expect(rows.length).toBeGreaterThan(0);
    expect(new Set(rows.map((r) => r.cpu)).size).toBe(rows.length);
  });

  test("malformed input throws naming the file and line", () => {
    expect(() => parseSoftnet("", "/x/softnet_stat")).toThrow("/x/softnet_stat: no CPU lines");
    expect(() => parseSoftnet(`${hexRow(1, 2, 3, 0, 0, 0, 0, 0, 0)}\n${hexRow(1, 2, 3)}\n`, "/x/softnet_stat")).toThrow("/x/softnet_stat:2: expected at least 9 columns, got 3");
    expect(() => parseSoftnet(`${hexRow(1, 2, 3, 0, 0, 0, 0, 0, 0)}`, "/x/softnet_stat")).toThrow("/x/softnet_stat:1: truncated (no newline at end of file)");
    expect(() => parseSoftnet(`${hexRow(1, 2, 3, 0, 0, 0, 0, 0)} 0000zz00\n`, "/x/softnet_stat")).toThrow('/x/softnet_stat:1: column 9 is not a hex number: "0000zz00"');
    const cpu3 = hexRow(1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 3);
    expect(() => parseSoftnet(`${cpu3}\n${cpu3}\n`, "/x/softnet_stat")).toThrow("/x/softnet_stat:2: CPU 3 appears twice");
  });
});

// ── conntrack ──

const CT_HEADER = "entries  clashres found new invalid ignore delete chainlength insert insert_failed drop early_drop icmp_error  expect_new expect_create expect_delete search_restart\n";
const ctRow = (...v: number[]) => hexRow(...v) + "\n";
const sysctl = (path: string, text: string) => ({ path, text });

describe("conntrack", () => {
  test("per-CPU columns summed exactly; KubeSkoop's names; entries and maxentries gauges", () => {
    const text = CT_HEADER + ctRow(9, 0, 1, 0, 2, 0, 0, 0, 3, 4, 5, 6, 7, 0, 0, 0, 0xffffffff) + ctRow(9, 0, 1, 0, 2, 0, 0, 0, 3, 4, 5, 6, 7, 0, 0, 0, 0xffffffff);
    const s = conntrackSamples({ path: "/x/nf_conntrack", text }, sysctl("/x/count", "9\n"), sysctl("/x/max", "65536\n"));
    expect(values(s)).toEqual({
      found: 2, invalid: 4, ignore: 0, insert: 6, insertfailed: 8, drop: 10, earlydrop: 12, error: 14,
      searchrestart: 2 * 0xffffffff, entries: 9, maxentries: 65536,
    });
    expect(s.filter((x) => x.type === "gauge").map((x) => x.name)).toEqual(["entries", "maxentries"]);
  });

  test("older kernel header (searched, delete_list, no clashres): taken by name", () => {
    const old = "entries  searched found new invalid ignore delete delete_list insert insert_failed drop early_drop icmp_error  expect_new expect_create expect_delete search_restart\n";
    const totals = sumColumns(parseConntrackStat(old + ctRow(1, 100, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16), "/x"));
    expect([totals.get("found"), totals.get("insert"), totals.get("search_restart"), totals.get("searched")]).toEqual([2, 8, 16, 100]);
  });

  test("a header without some columns: those series are absent", () => {
    const s = conntrackSamples({ path: "/x", text: "entries found invalid\n00000001 00000002 00000003\n" }, sysctl("/c", "1\n"), sysctl("/m", "2\n"));
    expect(s.map((x) => x.name)).toEqual(["found", "invalid", "entries", "maxentries"]);
  });

  test("sums beyond 2^53 are rounded once, not accumulated in floats", () => {
    // 2^53 + 1 + 1: in floats each +1 is lost; summed exactly the total is representable.
    const stat = { columns: ["found"], rows: [[2 ** 53], [1], [1]] };
    expect(sumColumns(stat).get("found")).toBe(2 ** 53 + 2);
  });

  test("malformed input throws naming the file and line", () => {
    expect(() => parseConntrackStat("", "/x/ct")).toThrow("/x/ct:1: no header line");
    expect(() => parseConntrackStat(CT_HEADER, "/x/ct")).toThrow("/x/ct: no per-CPU lines after the header");
    expect(() => parseConntrackStat(CT_HEADER + ctRow(1, 2, 3), "/x/ct")).toThrow("/x/ct:2: expected 17 values (one per header column), got 3");
    expect(() => parseConntrackStat("entries found\n00000001 0000000g\n", "/x/ct")).toThrow('/x/ct:2: found is not a hex number: "0000000g"');
    expect(() => parseConntrackStat("entries found\n00000001 00000002", "/x/ct")).toThrow("/x/ct:2: truncated (no newline at end of file)");
    expect(() => parseConntrackStat("entries found found\n1 2 3\n", "/x/ct")).toThrow("/x/ct:1: a column name appears twice");
    expect(parseSysctlUint("262144\n", "/x/max")).toBe(262144);
    for (const bad of ["", "26214", "-1\n", "abc\n", "1 2\n"]) expect(() => parseSysctlUint(bad, "/x/max")).toThrow("/x/max: expected one unsigned number");
  });

  test("this machine's stat file parses (when conntrack is loaded)", () => {
    if (!existsSync("/proc/net/stat/nf_conntrack")) return;
    const stat = parseConntrackStat(readFileSync("/proc/net/stat/nf_conntrack", "utf8"), "/proc/net/stat/nf_conntrack");
    expect(stat.columns).toContain("insert_failed");
    expect(stat.rows.length).toBeGreaterThan(0);
  });

  test("no conntrack: unsupported, the reason names both paths", () => {
    const dir = tree({ "proc/1/net/snmp": "" });
    let err: unknown;
    try {
      conntrackProbe.create(ctx(dir));
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ProbeUnsupportedError);
    expect((err as Error).message).toBe(
      `conntrack is not available: neither ${dir}/proc/1/net/stat/nf_conntrack nor ${dir}/proc/net/stat/nf_conntrack exists (nf_conntrack not loaded)`,
    );
  });

  test("stat file present but nf_conntrack_max missing: collect throws naming it", async () => {
    const dir = tree({ "proc/1/net/stat/nf_conntrack": "entries found\n00000001 00000002\n", "proc/sys/net/netfilter/nf_conntrack_count": "1\n" });
    await expect(collect(conntrackProbe, dir)).rejects.toThrow(`${dir}/proc/sys/net/netfilter/nf_conntrack_max`);
  });
});

// ── ipvs ──

const IPVS_HEAD = "   Total Incoming Outgoing         Incoming         Outgoing\n   Conns  Packets  Packets            Bytes            Bytes\n";

describe("ipvs", () => {
  test("hex totals; u64 maximum keeps float64's nearest value", () => {
    expect(parseIpvsStats(`${IPVS_HEAD}       1        2        3 FFFFFFFFFFFFFFFF               A\n\n Conns/s\n`)).toEqual({
      connections: 1, incomingpackets: 2, outgoingpackets: 3, incomingbytes: 2 ** 64, outgoingbytes: 10,
    });
  });

  test("malformed input throws naming the file and line", () => {
    expect(() => parseIpvsStats("", "/x/ip_vs_stats")).toThrow('/x/ip_vs_stats:1: expected the "Total Incoming Outgoing" / "Conns Packets" header lines');
    expect(() => parseIpvsStats(`${IPVS_HEAD}  1 2 3 4\n`, "/x/ip_vs_stats")).toThrow("/x/ip_vs_stats:3: expected 5 totals, got 4");
    expect(() => parseIpvsStats(`${IPVS_HEAD}  1 2 3 4 Q\n`, "/x/ip_vs_stats")).toThrow('/x/ip_vs_stats:3: total 5 is not a hex number: "Q"');
    expect(() => parseIpvsStats(`${IPVS_HEAD}  1 2 3 4 5`, "/x/ip_vs_stats")).toThrow("/x/ip_vs_stats:3: truncated");
  });

  test("no IPVS: unsupported, the reason names both paths", () => {
    const dir = tree({ "proc/1/net/snmp": "" });
    expect(() => ipvsProbe.create(ctx(dir))).toThrow(
      new ProbeUnsupportedError(`IPVS is not available: neither ${dir}/proc/1/net/ip_vs_stats nor ${dir}/proc/net/ip_vs_stats exists (ip_vs not loaded)`),
    );
    try {
      ipvsProbe.create(ctx(dir));
    } catch (e) {
      expect(e).toBeInstanceOf(ProbeUnsupportedError);
    }
  });
});

// ── io ──

const ioText = (syscr: string, syscw = "0", rb = "0", wb = "0") =>
  `rchar: 1\nwchar: 2\nsyscr: ${syscr}\nsyscw: ${syscw}\nread_bytes: ${rb}\nwrite_bytes: ${wb}\ncancelled_write_bytes: 0\n`;

describe("io", () => {
  test("parses this process's /proc/self/io", () => {
    const { fields } = parseProcIo(readFileSync("/proc/self/io", "utf8"));
    expect(fields.get("syscr")!).toBeGreaterThan(0n);
  });

  test("malformed input throws naming the file and line", () => {
    expect(() => parseProcIo("syscr 1\n", "/x/io")).toThrow('/x/io:1: expected "name: value", got "syscr 1"');
    expect(() => parseProcIo("rchar: 1\nsyscr: 2\n", "/x/io")).toThrow('/x/io: no "syscw:" line');
    expect(() => parseProcIo(ioText("5").slice(0, -1), "/x/io")).toThrow("/x/io:7: truncated");
    expect(() => parseProcIo("", "/x/io")).toThrow('/x/io: no "syscr:" line');
  });

  test("sums are exact: 2^53 + 1 + 1, and values near 2^64", async () => {
    const dir = tree({
      "proc/10/io": ioText(String(2 ** 53), "18446744073709551615"),
      "proc/11/io": ioText("1", "1"),
      "proc/12/io": ioText("1"),
    });
    const sums = await sumProcessIo(procfsRoot(dir), listPids(procfsRoot(dir)));
    expect(sums.syscr).toBe(9007199254740994n);
    expect(sums.syscw).toBe(18446744073709551616n);
    expect(Number(sums.syscr)).toBe(2 ** 53 + 2);
  });

  test("gone, empty and unlisted processes are skipped; the process limit holds", async () => {
    const dir = tree({ "proc/10/io": ioText("5"), "proc/11/io": "", "proc/12/io": ioText("7"), "proc/13/status": "x\n" });
    const procfs = procfsRoot(dir);
    expect(listPids(procfs)).toEqual(["10", "11", "12", "13"]);
    expect(await sumProcessIo(procfs, ["10", "11", "12", "13", "99"])).toMatchObject({ syscr: 12n, counted: 2, skipped: 3 });
    expect(await sumProcessIo(procfs, ["10", "11", "12"], 1)).toMatchObject({ syscr: 5n, counted: 1, skipped: 2 });
  });

  test("a malformed io file fails the scrape naming it", async () => {
    const dir = tree({ "proc/10/io": "garbage\n" });
    await expect(collect(ioProbe, dir)).rejects.toThrow(`${dir}/proc/10/io:1: expected "name: value"`);
  });

  test("values are gauges (a sum over live processes drops when one exits)", async () => {
    const s = await collect(ioProbe, BASIC);
    expect(s.every((x) => x.type === "gauge")).toBe(true);
  });
});

// ── fd ──

describe("fd", () => {
  test("socketInode", () => {
    expect(socketInode("socket:[5001]")).toBe("5001");
    expect(socketInode("pipe:[5001]")).toBeUndefined();
    expect(socketInode("/tmp/socket:[1]")).toBeUndefined();
    expect(socketInode("socket:[]")).toBeUndefined();
    expect(socketInode("")).toBeUndefined();
  });

  test("fixture: 10 fds, 3 distinct sockets (socket:[5002] is shared by two processes), pid 1 has no fd dir", async () => {
    expect(await countFds(procfsRoot(BASIC), ["1", "100", "200"])).toEqual({ openFds: 10, openSockets: 3, counted: 2, skipped: 1 });
  });

  test("the fd budget: the process that does not fit and every later one are skipped", async () => {
    const procfs = procfsRoot(BASIC);
    expect(await countFds(procfs, ["100", "200"], { processes: 10, fds: 6 })).toEqual({ openFds: 6, openSockets: 2, counted: 1, skipped: 1 });
    expect(await countFds(procfs, ["100", "200"], { processes: 10, fds: 5 })).toEqual({ openFds: 0, openSockets: 0, counted: 0, skipped: 2 });
    expect(await countFds(procfs, ["100", "200"], { processes: 10, fds: 10 })).toEqual({ openFds: 10, openSockets: 3, counted: 2, skipped: 0 });
  });

  test("the process limit", async () => {
    expect(await countFds(procfsRoot(BASIC), ["200", "100"], { processes: 1, fds: 100 })).toEqual({ openFds: 4, openSockets: 2, counted: 1, skipped: 1 });
  });

  test("an entry whose link cannot be read still counts as an open fd", async () => {
    const dir = tree({ "proc/5/fd/0": "not a link", "proc/5/fd/1": { link: "socket:[77]" } });
    expect(await countFds(procfsRoot(dir), ["5"])).toEqual({ openFds: 2, openSockets: 1, counted: 1, skipped: 0 });
  });

  test("this machine: own process counted, its sockets seen", async () => {
    const { createServer } = await import("node:net");
    const server = createServer();
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    try {
      const own = await countFds(procfsRoot(""), [String(process.pid)]);
      expect(own.counted).toBe(1);
      expect(own.openSockets).toBeGreaterThanOrEqual(1);
    } finally {
      server.close();
    }
  });
});
