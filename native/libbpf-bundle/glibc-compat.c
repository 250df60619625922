// Keeps the bundle's glibc floor low. Built on Debian 12 (glibc 2.36), libelf.a calls fstat,
// which glibc exports only since 2.33, and libbpf.a calls fcntl64 (2.28): that would stop the
// binary on RHEL/OpenCloudOS 8 (glibc 2.28), Ubuntu 20.04 and Debian 11 (2.31). These hidden
// definitions take the calls inside the bundle and forward them to the symbol versions every
// x86-64 glibc has (GLIBC_2.2.5), with the same behaviour:
//  - fstat(fd, st) is what glibc < 2.33 implemented as __fxstat(_STAT_VER, fd, st), and glibc
//    keeps __fxstat@GLIBC_2.2.5 for old binaries;
//  - on 64-bit targets fcntl64 and fcntl are one function (the same address in libc.so.6).
// tests/packaging/libbpf-bundle.test.ts checks the resulting floor and that both calls work.
#if defined(__x86_64__)
#include <stdarg.h>
#include <sys/stat.h>

#define STAT_VER_LINUX 1 /* glibc's _STAT_VER for x86-64 */

extern int kpulse_fxstat(int ver, int fd, struct stat *st);
extern int kpulse_fcntl(int fd, int cmd, ...);
__asm__(".symver kpulse_fxstat, __fxstat@GLIBC_2.2.5");
__asm__(".symver kpulse_fcntl, fcntl@GLIBC_2.2.5");

__attribute__((visibility("hidden"))) int fstat(int fd, struct stat *st) {
  return kpulse_fxstat(STAT_VER_LINUX, fd, st);
}

// The third argument is an int or a pointer depending on cmd; glibc itself reads it as a pointer.
__attribute__((visibility("hidden"))) int fcntl64(int fd, int cmd, ...) {
  va_list ap;
  va_start(ap, cmd);
  void *arg = va_arg(ap, void *);
  va_end(ap);
  return kpulse_fcntl(fd, cmd, arg);
}
#endif
