// libelf's error state (elf_errno, elf_errmsg, __libelf_seterrno), compiled -fPIC for the libbpf
// bundle. Debian's libelf.a builds this one object with local-exec TLS (R_X86_64_TPOFF32 on its
// thread-local last error), which no shared object may contain; every other object of libelf.a,
// libbpf.a and libz.a links into a shared object as shipped. Same behaviour as elfutils'
// libelf/elf_error.c; the messages are not retyped here: build.sh lifts Debian's own table
// (msgidx, msgstr) out of the replaced object, so the text is exactly the archive's version's.
// Messages are returned untranslated (the original passes them through dcgettext).
#include <stddef.h>
#include <stdint.h>

#ifndef NMSGIDX
#error "NMSGIDX (libelf's ELF_E_NUM) is computed by build.sh from the size of msgidx"
#endif

enum { ELF_E_NOERROR = 0, ELF_E_UNKNOWN_ERROR = 1 };

extern const uint_fast16_t msgidx[NMSGIDX]; /* offset of each ELF_E_* message in msgstr */
extern const char msgstr[];

static __thread int global_error;

int elf_errno(void) {
  int last = global_error;
  global_error = ELF_E_NOERROR;
  return last;
}

void __libelf_seterrno(int value) {
  global_error = value >= 0 && value < NMSGIDX ? value : ELF_E_UNKNOWN_ERROR;
}

const char *elf_errmsg(int error) {
  int last = global_error;
  if (error == 0) return last != 0 ? msgstr + msgidx[last] : NULL;
  if (error < -1 || error >= NMSGIDX) return msgstr + msgidx[ELF_E_UNKNOWN_ERROR];
  return msgstr + msgidx[error == -1 ? last : error];
}
