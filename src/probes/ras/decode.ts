// Turns one `struct ras_event` ring record into HUATUO's ras tracer_data: dev, event, type,
// info (a JSON string whose keys are HUATUO's per source) and observed_timestamp. Offsets come
// from the loaded object's BTF (bpf/include/ras.h).
import { cString, u64, type Offsets } from "../kit/decoders.ts";

/** Field name → size in bytes, as the decoder reads it. */
export const RAS_FIELDS = {
  ts_ns: 8, kind: 4, cpu: 4,
  mce_mcgcap: 8, mce_mcgstatus: 8, mce_status: 8, mce_addr: 8, mce_misc: 8, mce_synd: 8, mce_ipid: 8, mce_ip: 8,
  mce_tsc: 8, mce_walltime: 8, mce_cpu: 4, mce_cpuid: 4, mce_apicid: 4, mce_socketid: 4, mce_cs: 1, mce_bank: 1,
  mce_cpuvendor: 1,
  edac_top_layer: 1, edac_mid_layer: 1, edac_low_layer: 1, edac_mc_index: 1, edac_grain_bits: 1, edac_err_type: 4,
  edac_err_count: 4, edac_addr: 8, edac_syndrome: 8, edac_msg: 128, edac_label: 256, edac_driver: 128,
  ns_sec_type: 16, ns_fru_id: 16, ns_fru_text: 32, ns_len: 4, ns_sev: 1, ns_data: 256,
  aer_severity: 1, aer_tlp_valid: 1, aer_status: 4, aer_tlp: 16, aer_dev: 64,
  arm_mpidr: 8, arm_midr: 8, arm_running_state: 4, arm_psci_state: 4, arm_affinity: 1, arm_sev: 1, arm_has_sev: 1,
  thr_vector: 4,
} as const;

export type RasOffsets = Offsets<typeof RAS_FIELDS>;

/** Sources by `kind` (bpf/include/ras.h): the event name and the ras_hw_err_total label. */
export const RAS_KINDS = [
  { event: "MCE", type: "mce" },
  { event: "EDAC", type: "edac" },
  { event: "NON_STANDARD", type: "acpi" },
  { event: "AER", type: "aer" },
  { event: "MCE_THRESHOLD", type: "thr" },
  { event: "ARM_GHES", type: "arm_ghes" },
] as const;
export const RAS_THR = 4;

const MCI_STATUS_DEFERRED = 1n << 44n;
const MCI_STATUS_UC = 1n << 61n;

/** Severity of an MCE from its bank status, as HUATUO classifies it. */
export function mceErrType(status: bigint): string {
  if (status & MCI_STATUS_DEFERRED) return "UncorrectedDeferred";
  if (status & MCI_STATUS_UC) return "UncorrectedRecoverable";
  return "Corrected";
}

const EDAC_TYPES = ["Corrected", "UncorrectedRecoverable", "UncorrectedDeferred", "UncorrectedFatal", "Info"];
/** enum hw_event_mc_err_type → severity. */
export function edacErrType(t: number): string {
  return EDAC_TYPES[t] ?? "unknown";
}

const GHES_SEV = ["Info", "Corrected", "UncorrectedRecoverable", "UncorrectedFatal"];
/** GHES_SEV_NO/CORRECTED/RECOVERABLE/PANIC → severity (non_standard_event, arm_event). */
export function ghesErrType(sev: number): string {
  return GHES_SEV[sev] ?? "unknown";
}

/** AER_NONFATAL 0, AER_FATAL 1, AER_CORRECTABLE 2 → severity. */
export function aerErrType(sev: number): string {
  return sev === 2 ? "Corrected" : sev === 1 ? "UncorrectedFatal" : sev === 0 ? "UncorrectedRecoverable" : "unknown";
}

// PCIe AER status bits (include/uapi/linux/pci_regs.h), named as the kernel's ras_event.h does.
const AER_CORRECTABLE: readonly [number, string][] = [
  [0x00000001, "Receiver Error"], [0x00000040, "Bad TLP"], [0x00000080, "Bad DLLP"], [0x00000100, "REPLAY_NUM Rollover"],
  [0x00001000, "Replay Timer Timeout"], [0x00002000, "Advisory Non-Fatal Error"], [0x00004000, "Corrected Internal Error"],
  [0x00008000, "Header Log Overflow"],
];
const AER_UNCORRECTABLE: readonly [number, string][] = [
  [0x00000001, "Undefined"], [0x00000010, "Data Link Protocol Error"], [0x00000020, "Surprise Down Error"],
  [0x00001000, "Poisoned TLP"], [0x00002000, "Flow Control Protocol Error"], [0x00004000, "Completion Timeout"],
  [0x00008000, "Completer Abort"], [0x00010000, "Unexpected Completion"], [0x00020000, "Receiver Overflow"],
  [0x00040000, "Malformed TLP"], [0x00080000, "ECRC Error"], [0x00100000, "Unsupported Request Error"],
  [0x00200000, "ACS Violation"], [0x00400000, "Uncorrectable Internal Error"], [0x00800000, "MC Blocked TLP"],
  [0x01000000, "AtomicOp Egress Blocked"], [0x02000000, "TLP Prefix Blocked Error"],
];

/** The AER status bits by name ("A, B" when several are set), "unknown" when none is known. */
export function aerErrReason(status: number, correctable: boolean): string {
  const names = (correctable ? AER_CORRECTABLE : AER_UNCORRECTABLE).filter(([bit]) => (status & bit) !== 0).map(([, n]) => n);
  return names.length ? names.join(", ") : "unknown";
}

/** A JSON number written from its exact decimal text (u64 values beyond 2^53). */
class Raw {
  constructor(readonly text: string) {}
}

type JsonValue = string | number | Raw;

/** A JSON object in key order; u64 values keep every digit (JSON.stringify cannot). */
export function jsonObject(entries: readonly (readonly [string, JsonValue])[]): string {
  let s = "{";
  for (const [k, v] of entries) {
    if (s.length > 1) s += ",";
    s += JSON.stringify(k) + ":" + (v instanceof Raw ? v.text : JSON.stringify(v));
  }
  return s + "}";
}

function u64Big(dv: DataView, at: number): bigint {
  return (BigInt(dv.getUint32(at + 4, true)) << 32n) | BigInt(dv.getUint32(at, true));
}

function u64Raw(dv: DataView, at: number): Raw {
  return new Raw(u64Big(dv, at).toString());
}

function hex(u8: Uint8Array, at: number, n: number, sep = ""): string {
  let s = "";
  for (let i = 0; i < n; i++) s += (i && sep ? sep : "") + u8[at + i]!.toString(16).padStart(2, "0");
  return s;
}

function hex32(v: number): string {
  return "0x" + (v >>> 0).toString(16);
}

/**
 * Go's RFC3339Nano in UTC (trailing zeros of the fraction dropped) for ms since the epoch. A
 * float of ms since the epoch holds about 0.25 µs, so the fraction is rounded to µs.
 */
export function rfc3339Nano(epochMs: number): string {
  let whole = Math.floor(epochMs / 1000);
  let us = Math.round((epochMs - whole * 1000) * 1e3);
  if (us >= 1_000_000) {
    whole++;
    us -= 1_000_000;
  }
  const ns = us * 1000;
  const base = new Date(whole * 1000).toISOString().slice(0, 19);
  const frac = ns ? "." + String(ns).padStart(9, "0").replace(/0+$/, "") : "";
  return `${base}${frac}Z`;
}

export interface RasDecoded {
  kind: number;
  data: Record<string, unknown>;
}

/** One record → HUATUO's fields; `epochMs` is the record's time on the wall clock. */
export function decodeRas(o: RasOffsets, u8: Uint8Array, dv: DataView, at: number, epochMs: number): RasDecoded {
  const kind = dv.getUint32(at + o.kind, true);
  let dev: string, type: string, info: string;
  switch (kind) {
    case 0: { // MCE
      const status = u64Big(dv, at + o.mce_status);
      dev = "CPU/MEM";
      type = mceErrType(status);
      info = jsonObject([
        ["mcg_cpu_cap", u64Raw(dv, at + o.mce_mcgcap)],
        ["mcg_msr_status", u64Raw(dv, at + o.mce_mcgstatus)],
        ["banks_msr_status", new Raw(status.toString())],
        ["banks_msr_addr", u64Raw(dv, at + o.mce_addr)],
        ["banks_msr_misc", u64Raw(dv, at + o.mce_misc)],
        ["mca_synd_msr", u64Raw(dv, at + o.mce_synd)],
        ["mca_ipid_msr", u64Raw(dv, at + o.mce_ipid)],
        ["instr_pointer", u64Raw(dv, at + o.mce_ip)],
        ["tsc_timestamp", u64Raw(dv, at + o.mce_tsc)],
        ["walltime", u64Raw(dv, at + o.mce_walltime)],
        ["cpu", dv.getUint32(at + o.mce_cpu, true)],
        ["cpuid", dv.getUint32(at + o.mce_cpuid, true)],
        ["apicid", dv.getUint32(at + o.mce_apicid, true)],
        ["socketid", dv.getUint32(at + o.mce_socketid, true)],
        ["code_seg", u8[at + o.mce_cs]!],
        ["bank", u8[at + o.mce_bank]!],
        ["cpuvendor", u8[at + o.mce_cpuvendor]!],
      ]);
      break;
    }
    case 1: { // EDAC
      type = edacErrType(dv.getUint32(at + o.edac_err_type, true));
      const grainBits = u8[at + o.edac_grain_bits]!;
      dev = "MEM";
      info = jsonObject([
        ["err_count", dv.getInt32(at + o.edac_err_count, true)],
        ["err_type", type],
        ["err_msg", cString(u8, at + o.edac_msg, RAS_FIELDS.edac_msg)],
        ["label", cString(u8, at + o.edac_label, RAS_FIELDS.edac_label)],
        ["mc_index", u8[at + o.edac_mc_index]!],
        ["top_layer", dv.getInt8(at + o.edac_top_layer)],
        ["mid_layer", dv.getInt8(at + o.edac_mid_layer)],
        ["low_layer", dv.getInt8(at + o.edac_low_layer)],
        ["addr", u64Raw(dv, at + o.edac_addr)],
        ["grain", new Raw((1n << BigInt(Math.min(grainBits, 63))).toString())],
        ["syndrome", u64Raw(dv, at + o.edac_syndrome)],
        ["driver", cString(u8, at + o.edac_driver, RAS_FIELDS.edac_driver)],
      ]);
      break;
    }
    case 2: { // ACPI GHES non-standard section
      const sev = u8[at + o.ns_sev]!;
      const len = dv.getUint32(at + o.ns_len, true);
      dev = "ACPI";
      type = ghesErrType(sev);
      info = jsonObject([
        ["severity", sev],
        ["sec_type", hex(u8, at + o.ns_sec_type, 16)],
        ["fru_id", hex(u8, at + o.ns_fru_id, 16)],
        ["fru_text", cString(u8, at + o.ns_fru_text, RAS_FIELDS.ns_fru_text)],
        ["data_len", len],
        // the first RAS_NS_DATA_LEN bytes of the section, as HUATUO's "% x"
        ["raw_data", hex(u8, at + o.ns_data, Math.min(len, RAS_FIELDS.ns_data), " ")],
      ]);
      break;
    }
    case 3: { // PCIe AER
      const sev = u8[at + o.aer_severity]!;
      const name = cString(u8, at + o.aer_dev, RAS_FIELDS.aer_dev);
      const tlp = [0, 1, 2, 3].map((i) => hex32(dv.getUint32(at + o.aer_tlp + 4 * i, true)));
      dev = "PCIe " + name;
      type = aerErrType(sev);
      info = jsonObject([
        ["dev_name", name],
        ["err_type", type],
        ["err_reason", aerErrReason(dv.getUint32(at + o.aer_status, true), sev === 2)],
        ["tlp_header", u8[at + o.aer_tlp_valid] ? `{${tlp.join(",")}}` : "not available"],
      ]);
      break;
    }
    case 4: { // MCE threshold interrupt
      dev = "CPU";
      type = "Corrected";
      info = jsonObject([["vector", dv.getUint32(at + o.thr_vector, true)], ["cpu", dv.getUint32(at + o.cpu, true)]]);
      break;
    }
    case 5: { // ARM processor error
      const running = dv.getUint32(at + o.arm_running_state, true);
      const psci = dv.getUint32(at + o.arm_psci_state, true);
      const affinity = u8[at + o.arm_affinity]!;
      const state = running === 0xffffffff ? ["N/A", "N/A"] : running & 1 ? ["running", "N/A"] : ["stopped", hex32(psci)];
      dev = "CPU";
      type = u8[at + o.arm_has_sev] ? ghesErrType(u8[at + o.arm_sev]!) : "unknown";
      info = jsonObject([
        ["mpidr", "0x" + u64Big(dv, at + o.arm_mpidr).toString(16)],
        ["midr", "0x" + u64Big(dv, at + o.arm_midr).toString(16)],
        ["running_state", state[0]!],
        ["psci_state", state[1]!],
        ["affinity_level", affinity === 0xff ? "N/A" : String(affinity)],
      ]);
      break;
    }
    default:
      throw new Error(`ras record of unknown kind ${kind}`);
  }
  return { kind, data: { dev, event: RAS_KINDS[kind]!.event, type, info, observed_timestamp: rfc3339Nano(epochMs) } };
}

/** Monotonic ns of a record (for the MCE threshold backoff). */
export function rasTimestampNs(o: RasOffsets, dv: DataView, at: number): number {
  return u64(dv, at + o.ts_ns);
}
