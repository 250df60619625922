import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { parseSockstat } from "../../src/probes/sockstat/parse.ts";

describe("parseSockstat", () => {
  test("every protocol line, fields in file order", () => {
    const lines = parseSockstat("sockets: used 409\nTCP: inuse 1 orphan 0 tw 75 alloc 171 mem 3\nFRAG: inuse 0 memory 0\n");
    expect(lines).toEqual([
      { proto: "sockets", fields: [["used", 409]] },
      { proto: "TCP", fields: [["inuse", 1], ["orphan", 0], ["tw", 75], ["alloc", 171], ["mem", 3]] },
      { proto: "FRAG", fields: [["inuse", 0], ["memory", 0]] },
    ]);
  });

  test("this host's /proc/net/sockstat parses", () => {
    const lines = parseSockstat(readFileSync("/proc/net/sockstat", "utf8"));
    expect(lines[0]!.proto).toBe("sockets");
    expect(lines.find((l) => l.proto === "TCP")?.fields.map(([n]) => n)).toContain("inuse");
  });

  test("malformed lines name the file and line", () => {
    expect(() => parseSockstat("sockets: used 1\nTCP inuse 1\n", "/x/sockstat")).toThrow('/x/sockstat:2: expected "PROTO: name value ..." in "TCP inuse 1"');
    expect(() => parseSockstat("TCP: inuse 1 orphan\n", "/x/sockstat")).toThrow("/x/sockstat:1: expected name/value pairs");
    expect(() => parseSockstat("TCP: inuse -1\n", "/x/sockstat")).toThrow('/x/sockstat:1: bad pair "inuse -1"');
  });
});
