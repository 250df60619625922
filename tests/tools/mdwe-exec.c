// mdwe-exec PROGRAM [ARGS...]: run PROGRAM with memory-deny-write-execute on (prctl
// PR_SET_MDWE, Linux 6.3+, kept across execve), the kernel's form of systemd's
// MemoryDenyWriteExecute=: no mapping may become writable and executable.
#include <stdio.h>
#include <sys/prctl.h>
#include <unistd.h>

#ifndef PR_SET_MDWE
#define PR_SET_MDWE 65
#endif
#ifndef PR_MDWE_REFUSE_EXEC_GAIN
#define PR_MDWE_REFUSE_EXEC_GAIN 1
#endif

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: mdwe-exec PROGRAM [ARGS...]\n");
    return 2;
  }
  if (prctl(PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN, 0, 0, 0) != 0) {
    perror("prctl(PR_SET_MDWE)");
    return 125;
  }
  execv(argv[1], argv + 1);
  perror(argv[1]);
  return 127;
}
