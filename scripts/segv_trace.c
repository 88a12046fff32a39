/* LD_PRELOAD=segv_trace.so: on SIGSEGV/SIGBUS/SIGFPE/SIGABRT print the native backtrace
 * (function names where the dynamic symbol table has them, else library+offset) to stderr,
 * then re-raise. glibc >= 2.35 dropped libSegFault.so; python -X faulthandler alone shows
 * only the Python frames. Used by the aihwkit CUDA smoke test (scripts/anchor-gpu.sh). */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <execinfo.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static void on_fault(int sig, siginfo_t *info, void *ctx) {
  (void)ctx;
  void *frames[64];
  int n = backtrace(frames, 64);
  fprintf(stderr, "segv_trace: signal %d (%s) at address %p, %d frames\n", sig, strsignal(sig),
          info ? info->si_addr : NULL, n);
  for (int i = 0; i < n; i++) {
    Dl_info d;
    if (dladdr(frames[i], &d) && d.dli_fname) {
      fprintf(stderr, "  #%d %s(%s+0x%lx) [lib+0x%lx]\n", i, d.dli_fname,
              d.dli_sname ? d.dli_sname : "?",
              d.dli_saddr ? (unsigned long)((char *)frames[i] - (char *)d.dli_saddr) : 0UL,
              (unsigned long)((char *)frames[i] - (char *)d.dli_fbase));
    } else {
      fprintf(stderr, "  #%d %p\n", i, frames[i]);
    }
  }
  fflush(stderr);
  signal(sig, SIG_DFL);
  raise(sig);
}

__attribute__((constructor)) static void install(void) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_sigaction = on_fault;
  sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
  sigaction(SIGSEGV, &sa, NULL);
  sigaction(SIGBUS, &sa, NULL);
  sigaction(SIGFPE, &sa, NULL);
}
