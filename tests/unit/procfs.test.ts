import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parseLoadAvg } from "../../src/probes/loadavg/parse.ts";
import { NETDEV_STATS, parseNetDev } from "../../src/probes/netdev/parse.ts";

const FIX = join(import.meta.dir, "../fixtures/basic/proc");
const HEADER =
  "Inter-|   Receive                                                |  Transmit\n" +
  " face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed\n";

describe("parseNetDev", () => {
  test("fixture", () => {
    const recs = parseNetDev(readFileSync(join(FIX, "1/net/dev"), "utf8"));
    expect(recs.map((r) => r.device)).toEqual(["lo", "eth0", "docker0", "veth3f2a1b9"]);
    expect(recs[1]).toEqual({
      device: "eth0",
      receive_bytes: 64400018,
      receive_packets: 693155,
      receive_errors: 0,
      receive_dropped: 12,
      receive_fifo: 0,
      receive_frame: 0,
      receive_compressed: 0,
      receive_multicast: 4021,
      transmit_bytes: 62347911,
      transmit_packets: 587210,
      transmit_errors: 0,
      transmit_dropped: 0,
      transmit_fifo: 0,
      transmit_colls: 0,
      transmit_carrier: 0,
      transmit_compressed: 0,
    });
    expect(recs[2]!.transmit_bytes).toBe(1234567890123);
    expect(NETDEV_STATS).toHaveLength(16);
  });

  const nums = (n: number) => Array.from({ length: n }, (_, i) => i + 1).join(" ");

  test("names with ':' and counters glued to the colon", () => {
    const recs = parseNetDev(`${HEADER}eth0:1: ${nums(16)}\neth1:${nums(16)}\n`);
    expect(recs.map((r) => r.device)).toEqual(["eth0:1", "eth1"]);
    expect(recs[0]!.receive_bytes).toBe(1);
    expect(recs[0]!.transmit_compressed).toBe(16);
    expect(recs[1]!.receive_bytes).toBe(1);
  });

  test("without headers, with blank lines", () => {
    expect(parseNetDev(`\n  lo: ${nums(16)}\n\n`)).toHaveLength(1);
    expect(parseNetDev(HEADER)).toEqual([]);
    expect(parseNetDev("")).toEqual([]);
  });

  test("u64 counters beyond 2^53 become the nearest float64", () => {
    const [r] = parseNetDev(`${HEADER}eth0: 18446744073709551615 ${nums(15)}\n`);
    expect(r!.receive_bytes).toBe(2 ** 64);
  });

  test("malformed lines name the file, line and problem", () => {
    expect(() => parseNetDev(`${HEADER}eth0 ${nums(16)}\n`, "/x/net/dev")).toThrow(/\/x\/net\/dev:3: no "<device>:"/);
    expect(() => parseNetDev(`${HEADER}eth0: ${nums(15)}\n`, "/x/net/dev")).toThrow(
      "/x/net/dev:3: device eth0: expected 16 counters, got 15",
    );
    expect(() => parseNetDev(`${HEADER}eth0:\n`)).toThrow("expected 16 counters, got 0");
    expect(() => parseNetDev(`${HEADER}eth0: ${nums(15)} -1\n`)).toThrow('transmit_compressed is not a counter: "-1"');
    expect(() => parseNetDev(`${HEADER}: ${nums(16)}\n`)).toThrow("bad device name");
    expect(() => parseNetDev(`${HEADER}lo: ${nums(16)}\n${HEADER}`)).toThrow(/:4: no "<device>:"/);
  });
});

describe("parseLoadAvg", () => {
  test("fixture", () => {
    expect(parseLoadAvg(readFileSync(join(FIX, "loadavg"), "utf8"))).toEqual({
      load1: 0.3,
      load5: 0.2,
      load15: 0.22,
      runnable: 2,
      total: 345,
      lastPid: 12345,
    });
  });

  test("large values", () => {
    expect(parseLoadAvg("123.45 67.00 8.90 100/20000 4194303").load1).toBe(123.45);
  });

  test("malformed", () => {
    expect(() => parseLoadAvg("", "/f/loadavg")).toThrow("/f/loadavg: expected 5 fields, got 0");
    expect(() => parseLoadAvg("0.1 0.2 0.3 1/2")).toThrow("expected 5 fields, got 4");
    expect(() => parseLoadAvg("0.1 x 0.3 1/2 5")).toThrow('load5 is not a load average: "x"');
    expect(() => parseLoadAvg("0.1 0.2 0.3 12 5")).toThrow('expected runnable/total, got "12"');
    expect(() => parseLoadAvg("0.1 0.2 0.3 1/2 -5")).toThrow('last pid is not a number: "-5"');
  });
});
