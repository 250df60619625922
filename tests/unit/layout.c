/* Prints libbpf struct offsets as JSON so tests/unit/libbpf-layout.test.ts can compare them with
 * the constants in ffi/libbpf.ts. Built with the system cc against /usr/include/bpf/libbpf.h. */
#include <stddef.h>
#include <stdio.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#define F(s, f) printf("\"%s\":%zu,", #f, offsetof(struct s, f))

int main(void) {
	printf("{\"OPEN_OPTS\":{");
	F(bpf_object_open_opts, object_name);
	F(bpf_object_open_opts, relaxed_maps);
	F(bpf_object_open_opts, pin_root_path);
	F(bpf_object_open_opts, kconfig);
	F(bpf_object_open_opts, btf_custom_path);
	F(bpf_object_open_opts, kernel_log_buf);
	F(bpf_object_open_opts, kernel_log_size);
	F(bpf_object_open_opts, kernel_log_level);
	printf("\"sz\":%zu},", sizeof(struct bpf_object_open_opts));
	printf("\"BATCH_OPTS\":{");
	F(bpf_map_batch_opts, elem_flags);
	F(bpf_map_batch_opts, flags);
	printf("\"sz\":%zu}}\n", sizeof(struct bpf_map_batch_opts));
	return 0;
}
