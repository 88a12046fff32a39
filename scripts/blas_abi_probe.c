/* LD_PRELOAD probe of the LP64/ILP64 question (docs/aihwkit-cuda.md): every float cblas call of
 * aihwkit is intercepted, its integer arguments read as 64-bit blasint (as an ILP64 OpenBLAS
 * would read them), the calls whose 64-bit values differ from the 32-bit ones counted, and the
 * call forwarded to the LP64 libopenblas.so.0. Prints one line per function at exit. Works only
 * where aihwkit links libopenblas.so.0 dynamically (not the static cross-build). */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
typedef long long L;
static long calls[8], dirty[8];
static const char *names[8] = {"scopy", "sgemv", "sgemm", "sger", "sscal", "snrm2", "isamax", ""};
static int bad(L v) { return v != (L)(int)v; }
static void note(int k, int d, const char *what, L a, L b, L c, L e) {
  if (calls[k]++ == 0) fprintf(stderr, "blas_abi_probe: first cblas_%s\n", names[k]);
  if (d) { if (dirty[k]++ < 3) fprintf(stderr, "blas_abi_probe: %s %s would read %lld %lld %lld %lld\n", names[k], what, a, b, c, e); }
}
__attribute__((destructor)) static void report(void) {
  long total = 0;
  for (int k = 0; k < 7; k++) total += calls[k];
  if (!total) fprintf(stderr, "blas_abi_probe: no float cblas call in this process\n");
  for (int k = 0; k < 7; k++) if (calls[k]) fprintf(stderr, "blas_abi_probe: cblas_%s calls %ld, with ints an ILP64 library would misread %ld\n", names[k], calls[k], dirty[k]);
}
static void *lib(void) { static void *h; if (!h) h = dlopen("libopenblas.so.0", RTLD_NOW | RTLD_NOLOAD); if (!h) h = dlopen("libopenblas.so.0", RTLD_NOW); return h; }
#define REAL(name, type) static type r; if (!r) r = (type)dlsym(lib(), name);
void cblas_scopy(L n, const float *x, L ix, float *y, L iy) {
  typedef void (*F)(int, const float *, int, float *, int); REAL("cblas_scopy", F)
  note(0, bad(n) || bad(ix) || bad(iy), "n,incx,incy", n, ix, iy, 0); r(n, x, ix, y, iy); }
void cblas_sgemv(int o, int t, L m, L n, float al, const float *a, L lda, const float *x, L ix, float be, float *y, L iy) {
  typedef void (*F)(int, int, int, int, float, const float *, int, const float *, int, float, float *, int); REAL("cblas_sgemv", F)
  note(1, bad(m) || bad(n) || bad(lda) || bad(ix) || bad(iy), "m,n,lda,incx", m, n, lda, ix); r(o, t, m, n, al, a, lda, x, ix, be, y, iy); }
void cblas_sgemm(int o, int ta, int tb, L m, L n, L k, float al, const float *a, L lda, const float *b, L ldb, float be, float *c, L ldc) {
  typedef void (*F)(int, int, int, int, int, int, float, const float *, int, const float *, int, float, float *, int); REAL("cblas_sgemm", F)
  note(2, bad(m) || bad(n) || bad(k) || bad(lda) || bad(ldb) || bad(ldc), "m,n,k,ldc", m, n, k, ldc); r(o, ta, tb, m, n, k, al, a, lda, b, ldb, be, c, ldc); }
void cblas_sger(int o, L m, L n, float al, const float *x, L ix, const float *y, L iy, float *a, L lda) {
  typedef void (*F)(int, int, int, float, const float *, int, const float *, int, float *, int); REAL("cblas_sger", F)
  note(3, bad(m) || bad(n) || bad(ix) || bad(iy) || bad(lda), "m,n,incy,lda", m, n, iy, lda); r(o, m, n, al, x, ix, y, iy, a, lda); }
void cblas_sscal(L n, float al, float *x, L ix) {
  typedef void (*F)(int, float, float *, int); REAL("cblas_sscal", F)
  note(4, bad(n) || bad(ix), "n,incx", n, ix, 0, 0); r(n, al, x, ix); }
float cblas_snrm2(L n, const float *x, L ix) {
  typedef float (*F)(int, const float *, int); REAL("cblas_snrm2", F)
  note(5, bad(n) || bad(ix), "n,incx", n, ix, 0, 0); return r(n, x, ix); }
size_t cblas_isamax(L n, const float *x, L ix) {
  typedef size_t (*F)(int, const float *, int); REAL("cblas_isamax", F)
  note(6, bad(n) || bad(ix), "n,incx", n, ix, 0, 0); return r(n, x, ix); }
