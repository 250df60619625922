// sched_tick records laid out by the built object's BTF, decoded into HUATUO's fields; the
// low-resolution-mode check on /proc/timer_list.
import { describe, expect, test } from "bun:test";
import { structLayoutOf, structSizeOf, withObjectFileBtf } from "../../src/bpf/btf.ts";
import { resolveLayout } from "../../src/probes/kit/decoders.ts";
import { SCHED_TICK_FIELDS, SchedTickDecoder } from "../../src/probes/sched_tick/decode.ts";
import { schedTickProbe, tickNotOnHrtimers } from "../../src/probes/sched_tick/index.ts";

const OBJ = schedTickProbe.bpf.object;
const layout = withObjectFileBtf(OBJ, (btf) => structLayoutOf(btf, "sched_tick_event"));
const size = withObjectFileBtf(OBJ, (btf) => structSizeOf(btf, "sched_tick_event"));
const offsets = resolveLayout("sched_tick_event", layout, SCHED_TICK_FIELDS);

const SYMS: Record<number, string> = {
  0x81000010: "bpf_trace_run2+0x8c", 0x81000020: "__hrtimer_run_queues+0x1f5", 0x81000030: "hrtimer_interrupt+0xf8",
  0x81000040: "asm_sysvec_apic_timer_interrupt+0x16", 0x81000050: "_raw_spin_unlock_irqrestore+0x1d",
};
const symbolize = (hi: number, lo: number) => SYMS[lo] ?? `0x${hi.toString(16)}${lo.toString(16)}`;

describe("sched_tick decoding", () => {
  test("a late tick: interval, threshold, task, cpu and a stack beginning 'stack:\\n'", () => {
    const u8 = new Uint8Array(size);
    const dv = new DataView(u8.buffer);
    dv.setUint32(offsets.tick_interval_ns, 25_000_000, true);
    dv.setUint32(offsets.pid, 777, true);
    dv.setUint32(offsets.cpu, 3, true);
    u8.set(new TextEncoder().encode("kworker/3:1"), offsets.comm);
    const frames = [0x81000010, 0x81000020, 0x81000030, 0x81000040, 0x81000050];
    frames.forEach((lo, i) => {
      dv.setUint32(offsets.stack + 8 * i, lo, true);
      dv.setUint32(offsets.stack + 8 * i + 4, 0xffffffff, true);
    });
    dv.setUint32(offsets.stack_bytes, 8 * frames.length, true);
    expect(new SchedTickDecoder(offsets, 10_000_000, symbolize).decode(u8, dv, 0)).toEqual({
      tick_interval_ns: 25_000_000,
      tick_interval_threshold_ns: 10_000_000,
      comm: "kworker/3:1",
      pid: 777,
      cpu: 3,
      stack: "stack:\n__hrtimer_run_queues+0x1f5\nhrtimer_interrupt+0xf8\nasm_sysvec_apic_timer_interrupt+0x16\n_raw_spin_unlock_irqrestore+0x1d",
    });
  });

  test("an empty stack is still HUATUO's 'stack:\\n' form", () => {
    const u8 = new Uint8Array(size);
    const d = new SchedTickDecoder(offsets, 1, symbolize).decode(u8, new DataView(u8.buffer), 0);
    expect(d.stack).toBe("stack:\n");
  });
});

describe("tick mode", () => {
  const cpu = (hres: number) => `cpu: 0\n clock 0:\n  .base:       0\n .hres_active    : ${hres}\n .nr_events      : 1\n`;
  test("every CPU in low-resolution mode is refused; high resolution or unknown is not", () => {
    expect(tickNotOnHrtimers(cpu(0) + cpu(0))).toBe(true);
    expect(tickNotOnHrtimers(cpu(1) + cpu(0))).toBe(false);
    expect(tickNotOnHrtimers(cpu(1))).toBe(false);
    expect(tickNotOnHrtimers("")).toBe(false);
  });
});
