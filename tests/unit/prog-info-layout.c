/* Prints struct bpf_prog_info offsets and BPF_STATS_RUN_TIME as JSON so
 * tests/unit/prog-stats-layout.test.ts can compare them with PROG_INFO in ffi/libbpf.ts.
 * Built with the system cc against the installed uapi <linux/bpf.h>. */
#include <stddef.h>
#include <stdio.h>
#include <linux/bpf.h>

#define F(f) printf("\"%s\":%zu,", #f, offsetof(struct bpf_prog_info, f))

int main(void)
{
	printf("{\"PROG_INFO\":{");
	F(type);
	F(id);
	F(tag);
	F(name);
	F(run_time_ns);
	F(run_cnt);
	F(recursion_misses);
	F(verified_insns);
	printf("\"sz\":%zu},\"BPF_STATS_RUN_TIME\":%d}\n", sizeof(struct bpf_prog_info), BPF_STATS_RUN_TIME);
	return 0;
}
