// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * ras: hardware errors the kernel reports through its RAS tracepoints, one event each:
 * mce:mce_record (x86 machine checks), ras:mc_event (EDAC memory controllers),
 * ras:non_standard_event (ACPI GHES sections no subsystem decodes), ras:aer_event (PCIe AER),
 * ras:arm_event (ARM processor errors) and irq_vectors:threshold_apic_entry (the x86 MCE
 * threshold interrupt). All tp_btf; each is its own optional program (a kernel without one
 * skips it). Every hit is counted in ras_counts by source before the ring rate limit, so
 * ras_hw_err_total stays exact when events are suppressed or the ring is full.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "kpulse_common.h"
#include "ras.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define RAS_KINDS 8

/*
 * struct mce (arch/x86/include/uapi/asm/mce.h), the fields read here: local so the object
 * builds against any vmlinux.h (CO-RE matches it by name without the ___kpulse suffix).
 * Since 6.14 the tracepoint passes struct mce_hw_err, whose first member is struct mce.
 */
struct mce___kpulse {
	__u64 status;
	__u64 misc;
	__u64 addr;
	__u64 mcgstatus;
	__u64 ip;
	__u64 tsc;
	__u64 time;
	__u8 cpuvendor;
	__u32 cpuid;
	__u8 cs;
	__u8 bank;
	__u32 extcpu;
	__u32 socketid;
	__u32 apicid;
	__u64 mcgcap;
	__u64 synd;
	__u64 ipid;
} __attribute__((preserve_access_index));

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, RAS_KINDS);
	__type(key, __u32);
	__type(value, __u64);
} ras_counts SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);
} ras_events SEC(".maps");

/* Keeps struct ras_event in the object's BTF for the TypeScript decoder. */
const struct ras_event *ras_event_layout __attribute__((unused));

static __always_inline struct ras_event *begin(__u32 kind)
{
	struct ras_event *e;
	__u64 now = bpf_ktime_get_ns();
	__u64 *n = bpf_map_lookup_elem(&ras_counts, &kind);

	if (n)
		*n += 1;
	e = kpulse_reserve(&ras_events, sizeof(*e), now);
	if (!e)
		return 0;
	/* No memset (too large to inline): each source writes every field the decoder reads. */
	e->ts_ns = now;
	e->kind = kind;
	e->cpu = bpf_get_smp_processor_id();
	return e;
}

SEC("tp_btf/mce_record")
int BPF_PROG(ras_mce_record, void *arg)
{
	struct mce___kpulse *m = arg; /* struct mce, or struct mce_hw_err starting with it */
	struct ras_event *e = begin(RAS_MCE);

	if (!e)
		return 0;
	e->mce_mcgcap = BPF_CORE_READ(m, mcgcap);
	e->mce_mcgstatus = BPF_CORE_READ(m, mcgstatus);
	e->mce_status = BPF_CORE_READ(m, status);
	e->mce_addr = BPF_CORE_READ(m, addr);
	e->mce_misc = BPF_CORE_READ(m, misc);
	e->mce_synd = bpf_core_field_exists(m->synd) ? BPF_CORE_READ(m, synd) : 0;
	e->mce_ipid = bpf_core_field_exists(m->ipid) ? BPF_CORE_READ(m, ipid) : 0;
	e->mce_ip = BPF_CORE_READ(m, ip);
	e->mce_tsc = BPF_CORE_READ(m, tsc);
	e->mce_walltime = BPF_CORE_READ(m, time);
	e->mce_cpu = BPF_CORE_READ(m, extcpu);
	e->mce_cpuid = BPF_CORE_READ(m, cpuid);
	e->mce_apicid = BPF_CORE_READ(m, apicid);
	e->mce_socketid = BPF_CORE_READ(m, socketid);
	e->mce_cs = BPF_CORE_READ(m, cs);
	e->mce_bank = BPF_CORE_READ(m, bank);
	e->mce_cpuvendor = BPF_CORE_READ(m, cpuvendor);
	kpulse_submit(e);
	return 0;
}

SEC("tp_btf/mc_event")
int BPF_PROG(ras_mc_event, unsigned int err_type, const char *error_msg, const char *label, int error_count,
	     __u8 mc_index, __s8 top_layer, __s8 middle_layer, __s8 lower_layer, unsigned long address,
	     __u8 grain_bits, unsigned long syndrome, const char *driver_detail)
{
	struct ras_event *e = begin(RAS_EDAC);

	if (!e)
		return 0;
	e->edac_err_type = err_type;
	e->edac_err_count = error_count;
	e->edac_mc_index = mc_index;
	e->edac_top_layer = top_layer;
	e->edac_mid_layer = middle_layer;
	e->edac_low_layer = lower_layer;
	e->edac_addr = address;
	e->edac_grain_bits = grain_bits;
	e->edac_syndrome = syndrome;
	bpf_probe_read_kernel_str(e->edac_msg, sizeof(e->edac_msg), error_msg);
	bpf_probe_read_kernel_str(e->edac_label, sizeof(e->edac_label), label);
	bpf_probe_read_kernel_str(e->edac_driver, sizeof(e->edac_driver), driver_detail);
	kpulse_submit(e);
	return 0;
}

SEC("tp_btf/non_standard_event")
int BPF_PROG(ras_non_standard_event, const guid_t *sec_type, const guid_t *fru_id, const char *fru_text,
	     __u8 sev, const __u8 *err, __u32 len)
{
	struct ras_event *e = begin(RAS_NON_STANDARD);
	__u32 n = len;

	if (!e)
		return 0;
	bpf_probe_read_kernel(e->ns_sec_type, sizeof(e->ns_sec_type), sec_type);
	bpf_probe_read_kernel(e->ns_fru_id, sizeof(e->ns_fru_id), fru_id);
	bpf_probe_read_kernel_str(e->ns_fru_text, sizeof(e->ns_fru_text), fru_text);
	e->ns_sev = sev;
	e->ns_len = len;
	if (n > RAS_NS_DATA_LEN)
		n = RAS_NS_DATA_LEN;
	if (n && bpf_probe_read_kernel(e->ns_data, n, err))
		e->ns_len = 0; /* unreadable: report no data rather than stale bytes */
	kpulse_submit(e);
	return 0;
}

SEC("tp_btf/aer_event")
int BPF_PROG(ras_aer_event, const char *dev_name, __u32 status, __u8 severity, __u8 tlp_header_valid, void *tlp)
{
	struct ras_event *e = begin(RAS_AER);

	if (!e)
		return 0;
	bpf_probe_read_kernel_str(e->aer_dev, sizeof(e->aer_dev), dev_name);
	e->aer_status = status;
	e->aer_severity = severity;
	e->aer_tlp_valid = 0;
	/* struct pcie_tlp_log (6.14+) and struct aer_header_log_regs both start with the 4 dwords */
	if (tlp_header_valid && tlp && !bpf_probe_read_kernel(e->aer_tlp, sizeof(e->aer_tlp), tlp))
		e->aer_tlp_valid = 1;
	kpulse_submit(e);
	return 0;
}

SEC("tp_btf/arm_event")
int BPF_PROG(ras_arm_event, const struct cper_sec_proc_arm *proc)
{
	struct ras_event *e = begin(RAS_ARM);

	if (!e)
		return 0;
	e->arm_mpidr = BPF_CORE_READ(proc, mpidr);
	e->arm_midr = BPF_CORE_READ(proc, midr);
	e->arm_running_state = BPF_CORE_READ(proc, running_state);
	e->arm_psci_state = BPF_CORE_READ(proc, psci_state);
	e->arm_affinity = BPF_CORE_READ(proc, affinity_level);
	e->arm_has_sev = 0;
	/* The severity argument (8th) exists where the event records it (6.x). */
	if (bpf_core_field_exists(struct trace_event_raw_arm_event, sev)) {
		e->arm_sev = (__u8)ctx[7];
		e->arm_has_sev = 1;
	}
	kpulse_submit(e);
	return 0;
}

SEC("tp_btf/threshold_apic_entry")
int BPF_PROG(ras_thr, int vector)
{
	struct ras_event *e = begin(RAS_THR);

	if (!e)
		return 0;
	e->thr_vector = vector;
	kpulse_submit(e);
	return 0;
}
