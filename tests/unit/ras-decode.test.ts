// ras records hand-built with the layout of the built object's BTF (the kernel here cannot raise
// hardware errors), decoded into HUATUO's dev/event/type/info/observed_timestamp.
import { describe, expect, test } from "bun:test";
import { structLayoutOf, structSizeOf, withObjectFileBtf } from "../../src/bpf/btf.ts";
import { resolveLayout } from "../../src/probes/kit/decoders.ts";
import { aerErrReason, decodeRas, edacErrType, ghesErrType, jsonObject, mceErrType, RAS_FIELDS, rfc3339Nano } from "../../src/probes/ras/decode.ts";
import { rasProbe, ThrGate } from "../../src/probes/ras/index.ts";

const OBJ = rasProbe.bpf.object;
const layout = withObjectFileBtf(OBJ, (btf) => structLayoutOf(btf, "ras_event"));
const size = withObjectFileBtf(OBJ, (btf) => structSizeOf(btf, "ras_event"));
const o = resolveLayout("ras_event", layout, RAS_FIELDS);
const T = Date.UTC(2026, 4, 11, 8, 58, 47) + 328.548; // ms

type F = keyof typeof RAS_FIELDS;
function rec(kind: number, fill: (w: { u8(f: F, v: number): void; u32(f: F, v: number, i?: number): void; u64(f: F, v: bigint): void; str(f: F, s: string): void; bytes(f: F, b: number[]): void }) => void) {
  const u8 = new Uint8Array(size).fill(0xee); // fields a source does not write hold garbage
  const dv = new DataView(u8.buffer);
  dv.setUint32(o.kind, kind, true);
  fill({
    u8: (f, v) => (u8[o[f]] = v),
    u32: (f, v, i = 0) => dv.setUint32(o[f] + 4 * i, v >>> 0, true),
    u64: (f, v) => dv.setBigUint64(o[f], v, true),
    str: (f, s) => u8.set([...new TextEncoder().encode(s), 0], o[f]),
    bytes: (f, b) => u8.set(b, o[f]),
  });
  return decodeRas(o, u8, dv, 0, T);
}

describe("ras decoding", () => {
  test("MCE: every u64 exact in info, severity from the bank status", () => {
    const r = rec(0, (w) => {
      w.u64("mce_mcgcap", 4096n);
      w.u64("mce_mcgstatus", 5n);
      w.u64("mce_status", 0xbe00000000800400n); // VAL|OVER|UC|EN|MISCV|ADDRV (> 2^53)
      w.u64("mce_addr", 0x1234_5678_9abcn);
      w.u64("mce_misc", 0n);
      w.u64("mce_synd", 0n);
      w.u64("mce_ipid", 0n);
      w.u64("mce_ip", 0xffffffff81234567n);
      w.u64("mce_tsc", 123456789012345n);
      w.u64("mce_walltime", 1749600000n);
      w.u32("mce_cpu", 2);
      w.u32("mce_cpuid", 0x50657);
      w.u32("mce_apicid", 4);
      w.u32("mce_socketid", 0);
      w.u8("mce_cs", 0x10);
      w.u8("mce_bank", 5);
      w.u8("mce_cpuvendor", 0);
    });
    expect(r.kind).toBe(0);
    expect(r.data).toMatchObject({ dev: "CPU/MEM", event: "MCE", type: "UncorrectedRecoverable", observed_timestamp: "2026-05-11T08:58:47.328548Z" });
    expect(r.data.info).toBe(
      `{"mcg_cpu_cap":4096,"mcg_msr_status":5,"banks_msr_status":13690942867214697472,"banks_msr_addr":20015998343868,` +
      `"banks_msr_misc":0,"mca_synd_msr":0,"mca_ipid_msr":0,"instr_pointer":${0xffffffff81234567n},"tsc_timestamp":123456789012345,` +
      `"walltime":1749600000,"cpu":2,"cpuid":329303,"apicid":4,"socketid":0,"code_seg":16,"bank":5,"cpuvendor":0}`,
    );
    expect(mceErrType(0x8100000000000000n)).toBe("Corrected"); // VAL|S, no UC
    expect(mceErrType(0n)).toBe("Corrected");
    expect(mceErrType(1n << 44n)).toBe("UncorrectedDeferred");
  });

  test("EDAC: strings, layers, grain from its bits", () => {
    const r = rec(1, (w) => {
      w.u32("edac_err_type", 0);
      w.u32("edac_err_count", 1);
      w.str("edac_msg", "memory read error");
      w.str("edac_label", "CPU_SrcID#0_Ha#0_Chan#0_DIMM#0");
      w.u8("edac_mc_index", 0);
      w.u8("edac_top_layer", 0);
      w.u8("edac_mid_layer", 0);
      w.u8("edac_low_layer", 0xff); // -1
      w.u64("edac_addr", 7860269056n);
      w.u8("edac_grain_bits", 7);
      w.u64("edac_syndrome", 0n);
      w.str("edac_driver", " area:DRAM err_code:0000:009f socket:0 ha:0 channel_mask:1 rank:0");
    });
    expect(r.data).toMatchObject({ dev: "MEM", event: "EDAC", type: "Corrected" });
    expect(JSON.parse(r.data.info as string)).toEqual({
      err_count: 1, err_type: "Corrected", err_msg: "memory read error", label: "CPU_SrcID#0_Ha#0_Chan#0_DIMM#0",
      mc_index: 0, top_layer: 0, mid_layer: 0, low_layer: -1, addr: 7860269056, grain: 128, syndrome: 0,
      driver: " area:DRAM err_code:0000:009f socket:0 ha:0 channel_mask:1 rank:0",
    });
    expect([0, 1, 2, 3, 4, 9].map(edacErrType)).toEqual(["Corrected", "UncorrectedRecoverable", "UncorrectedDeferred", "UncorrectedFatal", "Info", "unknown"]);
  });

  test("ACPI GHES non-standard section: GUIDs and the data as hex, no more bytes than the kernel gave", () => {
    const r = rec(2, (w) => {
      w.bytes("ns_sec_type", [...Array(16).keys()]);
      w.bytes("ns_fru_id", Array(16).fill(0xab));
      w.str("ns_fru_text", "CPU0_DIMM_A1");
      w.u8("ns_sev", 2);
      w.u32("ns_len", 3);
      w.bytes("ns_data", [0x0a, 0x1b, 0xff, 0x99]);
    });
    expect(r.data).toMatchObject({ dev: "ACPI", event: "NON_STANDARD", type: "UncorrectedRecoverable" });
    expect(JSON.parse(r.data.info as string)).toEqual({
      severity: 2, sec_type: "000102030405060708090a0b0c0d0e0f", fru_id: "ab".repeat(16), fru_text: "CPU0_DIMM_A1", data_len: 3, raw_data: "0a 1b ff",
    });
    expect([0, 1, 2, 3, 7].map(ghesErrType)).toEqual(["Info", "Corrected", "UncorrectedRecoverable", "UncorrectedFatal", "unknown"]);
  });

  test("PCIe AER: device, reason from the status bits, TLP header when valid", () => {
    const r = rec(3, (w) => {
      w.str("aer_dev", "0000:3b:00.0");
      w.u8("aer_severity", 0);
      w.u32("aer_status", 0x4000);
      w.u8("aer_tlp_valid", 0);
    });
    expect(r.data).toMatchObject({ dev: "PCIe 0000:3b:00.0", event: "AER", type: "UncorrectedRecoverable" });
    expect(JSON.parse(r.data.info as string)).toEqual({ dev_name: "0000:3b:00.0", err_type: "UncorrectedRecoverable", err_reason: "Completion Timeout", tlp_header: "not available" });

    const c = rec(3, (w) => {
      w.str("aer_dev", "0000:01:00.1");
      w.u8("aer_severity", 2);
      w.u32("aer_status", 0x41);
      w.u8("aer_tlp_valid", 1);
      [0x4a000001, 0x01000004, 0xfee00000, 0].forEach((v, i) => w.u32("aer_tlp", v, i));
    });
    expect(c.data.type).toBe("Corrected");
    expect(JSON.parse(c.data.info as string)).toMatchObject({ err_reason: "Receiver Error, Bad TLP", tlp_header: "{0x4a000001,0x1000004,0xfee00000,0x0}" });
    expect(aerErrReason(0, true)).toBe("unknown");
    const fatal = rec(3, (w) => { w.u8("aer_severity", 1); w.str("aer_dev", "x"); w.u32("aer_status", 0x20); w.u8("aer_tlp_valid", 0); });
    expect(fatal.data.type).toBe("UncorrectedFatal");
    expect(JSON.parse(fatal.data.info as string).err_reason).toBe("Surprise Down Error");
  });

  test("MCE threshold interrupt and ARM processor error", () => {
    const t = rec(4, (w) => { w.u32("thr_vector", 0xf9); w.u32("cpu", 7); });
    expect(t.data).toMatchObject({ dev: "CPU", event: "MCE_THRESHOLD", type: "Corrected", info: '{"vector":249,"cpu":7}' });

    const a = rec(5, (w) => {
      w.u64("arm_mpidr", 0x81000100n);
      w.u64("arm_midr", 0x410fd0c0n);
      w.u32("arm_running_state", 0);
      w.u32("arm_psci_state", 0x2);
      w.u8("arm_affinity", 0xff);
      w.u8("arm_has_sev", 1);
      w.u8("arm_sev", 1);
    });
    expect(a.data).toMatchObject({ dev: "CPU", event: "ARM_GHES", type: "Corrected" });
    expect(JSON.parse(a.data.info as string)).toEqual({ mpidr: "0x81000100", midr: "0x410fd0c0", running_state: "stopped", psci_state: "0x2", affinity_level: "N/A" });
    const old = rec(5, (w) => { w.u64("arm_mpidr", 0n); w.u64("arm_midr", 0n); w.u32("arm_running_state", 0xffffffff); w.u32("arm_psci_state", 0); w.u8("arm_affinity", 1); w.u8("arm_has_sev", 0); });
    expect(old.data.type).toBe("unknown");
    expect(JSON.parse(old.data.info as string)).toMatchObject({ running_state: "N/A", psci_state: "N/A", affinity_level: "1" });
  });

  test("an unknown kind is a decode error, not a made-up event", () => {
    expect(() => rec(9, () => {})).toThrow("unknown kind 9");
  });
});

describe("ras helpers", () => {
  test("JSON with exact u64 numbers and escaped strings", () => {
    expect(jsonObject([["a", "x\"y"], ["b", 1]])).toBe('{"a":"x\\"y","b":1}');
  });
  test("RFC3339Nano in UTC as Go prints it", () => {
    expect(rfc3339Nano(Date.UTC(2026, 0, 2, 3, 4, 5))).toBe("2026-01-02T03:04:05Z");
    expect(rfc3339Nano(Date.UTC(2026, 0, 2, 3, 4, 5) + 120)).toBe("2026-01-02T03:04:05.12Z");
  });
  test("MCE threshold saves: at most one per backoff", () => {
    const g = new ThrGate(1800e3);
    expect(g.allow(0)).toBe(true);
    expect(g.allow(1e3)).toBe(false);
    expect(g.allow(1799e3)).toBe(false);
    expect(g.allow(1800e3)).toBe(true);
    expect(g.allow(1801e3)).toBe(false);
  });
});
