// softirq_tracing records laid out by the built object's BTF, decoded into HUATUO's fields; the
// softirq metric's zone index → labels.
import { describe, expect, test } from "bun:test";
import { structLayoutOf, structSizeOf, withObjectFileBtf } from "../../src/bpf/btf.ts";
import { resolveLayout } from "../../src/probes/kit/decoders.ts";
import { zoneLabels } from "../../src/probes/softirq/index.ts";
import { SOFTIRQ_STACK_DEPTH, SOFTIRQ_TRACING_FIELDS, SoftirqTracingDecoder, softirqName } from "../../src/probes/softirq_tracing/decode.ts";
import { softirqTracingProbe } from "../../src/probes/softirq_tracing/index.ts";

const OBJ = softirqTracingProbe.bpf.object;
const layout = withObjectFileBtf(OBJ, (btf) => structLayoutOf(btf, "softirq_tracing_event"));
const size = withObjectFileBtf(OBJ, (btf) => structSizeOf(btf, "softirq_tracing_event"));
const offsets = resolveLayout("softirq_tracing_event", layout, SOFTIRQ_TRACING_FIELDS);

const SYMS: Record<number, string> = { 0x81001000: "bpf_prog_abc_softirq_entry_btf+0x40", 0x81002000: "handle_softirqs+0x24a", 0x81003000: "__local_bh_enable_ip+0x6d", 0x81004000: "my_driver_poll+0x12" };
const symbolize = (hi: number, lo: number) => (hi === 0xffffffff && SYMS[lo]) || `0x${hi.toString(16)}${lo.toString(16).padStart(8, "0")}`;

function record(fill: (dv: DataView, u8: Uint8Array) => void): { u8: Uint8Array; dv: DataView } {
  const u8 = new Uint8Array(size);
  const dv = new DataView(u8.buffer);
  fill(dv, u8);
  return { u8, dv };
}

function setStack(dv: DataView, los: number[]): void {
  los.forEach((lo, i) => {
    dv.setUint32(offsets.stack + 8 * i, lo, true);
    dv.setUint32(offsets.stack + 8 * i + 4, 0xffffffff, true);
  });
  dv.setUint32(offsets.stack_bytes, 8 * los.length, true);
}

describe("softirq_tracing decoding", () => {
  test("a NET_RX wait ended by local_bh_enable: HUATUO's fields, the stack without the tracing frames", () => {
    const { u8, dv } = record((dv, u8) => {
      dv.setUint32(offsets.offtime_ns, 12_345_678, true);
      dv.setUint32(offsets.ts_ns, 0x89abcdef, true);
      dv.setUint32(offsets.ts_ns + 4, 0x5, true);
      dv.setUint32(offsets.pid, 4242, true);
      dv.setUint32(offsets.tid, 4243, true);
      dv.setUint32(offsets.cpu, 1, true);
      dv.setUint32(offsets.vec, 3, true);
      u8[offsets.kind] = 1;
      u8.set(new TextEncoder().encode("iperf3"), offsets.comm);
      setStack(dv, [0x81001000, 0x81002000, 0x81003000, 0x81004000]);
    });
    const d = new SoftirqTracingDecoder(offsets, 10_000_000, symbolize).decode(u8, dv, 0);
    expect(d).toEqual({
      offtime: 12_345_678,
      threshold: 10_000_000,
      comm: "iperf3",
      pid: 4242,
      cpu: 1,
      now: 5 * 2 ** 32 + 0x89abcdef,
      stack: "stack:\nhandle_softirqs+0x24a\n__local_bh_enable_ip+0x6d\nmy_driver_poll+0x12",
      softirq: "NET_RX",
      interval: "raise_to_entry",
    });
  });

  test("a long handler run; a stack longer than the array is cut at the array", () => {
    const { u8, dv } = record((dv, u8) => {
      dv.setUint32(offsets.vec, 1, true);
      u8[offsets.kind] = 2;
      setStack(dv, [0x81002000]);
      dv.setUint32(offsets.stack_bytes, 1 << 20, true); // bogus length: clamped
    });
    const d = new SoftirqTracingDecoder(offsets, 0, symbolize).decode(u8, dv, 0);
    expect(d.interval).toBe("entry_to_exit");
    expect(d.softirq).toBe("TIMER");
    expect(d.stack).toBe("stack:\nhandle_softirqs+0x24a");
    expect(SOFTIRQ_STACK_DEPTH * 8).toBe(layout.get("stack")!.size);
  });

  test("vector names", () => {
    expect([0, 2, 3, 9].map(softirqName)).toEqual(["HI", "NET_TX", "NET_RX", "RCU"]);
    expect(softirqName(12)).toBe("12");
  });
});

describe("softirq zone labels", () => {
  test("index = cpu * 8 + (vec - NET_TX) * 4 + zone", () => {
    expect(zoneLabels(0)).toEqual({ type: "NET_TX", cpuid: "0", zone: "0" });
    expect(zoneLabels(7)).toEqual({ type: "NET_RX", cpuid: "0", zone: "3" });
    expect(zoneLabels(8 * 5 + 4 + 2)).toEqual({ type: "NET_RX", cpuid: "5", zone: "2" });
  });
});
