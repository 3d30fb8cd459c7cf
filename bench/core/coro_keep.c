/* bench/core/coro_keep.c - coro.h built with a cheaper CORO_FPU_KEEP, for the rows that show
   what keeping the floating-point control words costs. Compiled once per setting, with
   CORO_STATIC so that each copy is private, and KEEP_NAME naming the functions it exports. */
#define CORO_STATIC
#define CORO_IMPLEMENTATION
#include "coro.h"

#include <stdint.h>
#include <time.h>

#define KEEP_CAT2(a, b) a##b
#define KEEP_CAT(a, b) KEEP_CAT2(a, b)
#define KEEP_FN(name) KEEP_CAT(KEEP_NAME, name)

double KEEP_FN(_switch_run)(long iters, long *sum);
double KEEP_FN(_create_run)(long iters, long *sum);

static double keep_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9; /* seconds, as bench_core.c */
}

static void *keep_generator(void *arg) {
    long i = (long)(intptr_t)arg;
    for (;;) coro_yield((void *)(intptr_t)i++);
    return NULL;
}

/* the timed loops call through volatile pointers, as code in another file would */
static void *(*volatile keep_resume)(coro_t *, void *) = coro_resume;

double KEEP_FN(_switch_run)(long iters, long *sum) {
    coro_t *co = coro_new(keep_generator, 0);
    long s = 0, k;
    double t;
    if (!co) return -1;
    t = keep_now();
    for (k = 0; k < iters; k++) s += (long)(intptr_t)keep_resume(co, NULL);
    t = keep_now() - t;
    coro_free(co);
    *sum = s;
    return t;
}

static void *keep_return_now(void *arg) { return arg; }

double KEEP_FN(_create_run)(long iters, long *sum) {
    long s = 0, k;
    double t = keep_now();
    for (k = 0; k < iters; k++) {
        coro_t *co = coro_new(keep_return_now, 0);
        if (!co) return -1;
        s += (long)(intptr_t)keep_resume(co, (void *)(intptr_t)k);
        coro_free(co);
    }
    *sum = s;
    return keep_now() - t;
}
