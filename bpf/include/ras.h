/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * The record ras.bpf.c writes to its ring buffer: one flat struct for every source (hardware
 * errors are rare, so room is cheaper than a union the decoder cannot check against BTF). The
 * TypeScript decoder reads field offsets from the built object's BTF (struct ras_event): this
 * is the only definition of the layout.
 */
#ifndef KPULSE_RAS_H
#define KPULSE_RAS_H

/* kind: the source, numbered as HUATUO's hardware error types (the ras_hw_err_total label). */
#define RAS_MCE 0          /* mce:mce_record              type="mce"      */
#define RAS_EDAC 1         /* ras:mc_event                type="edac"     */
#define RAS_NON_STANDARD 2 /* ras:non_standard_event      type="acpi"     */
#define RAS_AER 3          /* ras:aer_event               type="aer"      */
#define RAS_THR 4          /* irq_vectors:threshold_apic_entry  type="thr" */
#define RAS_ARM 5          /* ras:arm_event               type="arm_ghes" */

#define RAS_EDAC_MSG_LEN 128
#define RAS_EDAC_LABEL_LEN 256
#define RAS_EDAC_DRIVER_LEN 128
#define RAS_NS_FRU_TEXT_LEN 32
#define RAS_NS_DATA_LEN 256
#define RAS_AER_DEV_LEN 64

struct ras_event {
	__u64 ts_ns;              /* bpf_ktime_get_ns() */
	__u32 kind;               /* RAS_* */
	__u32 cpu;                /* CPU the tracepoint fired on */

	/* MCE (struct mce) */
	__u64 mce_mcgcap;
	__u64 mce_mcgstatus;
	__u64 mce_status;
	__u64 mce_addr;
	__u64 mce_misc;
	__u64 mce_synd;
	__u64 mce_ipid;
	__u64 mce_ip;
	__u64 mce_tsc;
	__u64 mce_walltime;
	__u32 mce_cpu;            /* extcpu */
	__u32 mce_cpuid;
	__u32 mce_apicid;
	__u32 mce_socketid;
	__u8 mce_cs;
	__u8 mce_bank;
	__u8 mce_cpuvendor;

	/* EDAC (ras:mc_event arguments) */
	__s8 edac_top_layer;
	__s8 edac_mid_layer;
	__s8 edac_low_layer;
	__u8 edac_mc_index;
	__u8 edac_grain_bits;
	__u32 edac_err_type;      /* enum hw_event_mc_err_type */
	__s32 edac_err_count;
	__u64 edac_addr;
	__u64 edac_syndrome;
	char edac_msg[RAS_EDAC_MSG_LEN];
	char edac_label[RAS_EDAC_LABEL_LEN];
	char edac_driver[RAS_EDAC_DRIVER_LEN];

	/* ACPI GHES non-standard section (ras:non_standard_event arguments) */
	__u8 ns_sec_type[16];
	__u8 ns_fru_id[16];
	char ns_fru_text[RAS_NS_FRU_TEXT_LEN];
	__u32 ns_len;             /* length of the error data in the kernel */
	__u8 ns_sev;              /* GHES_SEV_* */
	__u8 ns_data[RAS_NS_DATA_LEN]; /* its first bytes */

	/* PCIe AER (ras:aer_event arguments) */
	__u8 aer_severity;        /* AER_NONFATAL 0, AER_FATAL 1, AER_CORRECTABLE 2 */
	__u8 aer_tlp_valid;
	__u32 aer_status;
	__u32 aer_tlp[4];
	char aer_dev[RAS_AER_DEV_LEN];

	/* ARM processor error (ras:arm_event arguments) */
	__u64 arm_mpidr;
	__u64 arm_midr;
	__u32 arm_running_state;
	__u32 arm_psci_state;
	__u8 arm_affinity;
	__u8 arm_sev;             /* GHES_SEV_* when arm_has_sev */
	__u8 arm_has_sev;

	/* MCE threshold interrupt */
	__u32 thr_vector;
};

#endif
