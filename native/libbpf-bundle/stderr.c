// libbpf's one reference to glibc data, `stderr` (its default print function writes there), is
// compiled for executables: a PC-relative load that expects a copy of the variable in the
// executable, impossible in a shared object. build.sh renames that reference in libbpf.a to
// libbpf_bundle_stderr, defined here inside the bundle and set from glibc's stderr at load.
#include <stdio.h>

__attribute__((visibility("hidden"))) FILE *libbpf_bundle_stderr;

__attribute__((constructor)) static void libbpf_bundle_stderr_init(void) {
  libbpf_bundle_stderr = stderr;
}
