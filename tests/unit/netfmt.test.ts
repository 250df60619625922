// Network value formatting used in event payloads.
import { describe, expect, test } from "bun:test";
import { cString, ipv4, ipv6, l4ProtocolName, tcpStateName } from "../../src/util/netfmt.ts";

const bytes = (...b: number[]) => new Uint8Array(b);
const v6 = (groups: number[]) => bytes(...groups.flatMap((g) => [g >> 8, g & 0xff]));

describe("addresses", () => {
  test("IPv4 dotted quad at an offset", () => {
    expect(ipv4(bytes(0, 10, 79, 68, 62), 1)).toBe("10.79.68.62");
  });
  test("IPv6 per RFC 5952", () => {
    expect(ipv6(v6([0x2001, 0xdb8, 0, 0, 0, 0, 0, 1]), 0)).toBe("2001:db8::1");
    expect(ipv6(v6([0, 0, 0, 0, 0, 0, 0, 1]), 0)).toBe("::1");
    expect(ipv6(v6([0, 0, 0, 0, 0, 0, 0, 0]), 0)).toBe("::");
    expect(ipv6(v6([0xfe80, 0, 0, 0, 0x1, 0, 0, 0x2]), 0)).toBe("fe80::1:0:0:2"); // first longest run wins
    expect(ipv6(v6([0x2001, 0xdb8, 0, 1, 1, 1, 1, 1]), 0)).toBe("2001:db8:0:1:1:1:1:1"); // a single 0 is not compressed
    expect(ipv6(v6([0, 0, 0, 0, 0, 0xffff, 0xc000, 0x0201]), 0)).toBe("::ffff:192.0.2.1");
  });
});

describe("names", () => {
  test("TCP states and protocols", () => {
    expect(tcpStateName(1)).toBe("ESTABLISHED");
    expect(tcpStateName(10)).toBe("LISTEN");
    expect(tcpStateName(99)).toBe("UNKNOWN(99)");
    expect(l4ProtocolName(17)).toBe("udp");
    expect(l4ProtocolName(250)).toBe("250");
  });
  test("NUL-terminated fields stop at the NUL or the field size", () => {
    expect(cString(bytes(0x6e, 0x63, 0, 0x78), 0, 4)).toBe("nc");
    expect(cString(bytes(0x61, 0x62, 0x63), 0, 2)).toBe("ab");
  });
});
