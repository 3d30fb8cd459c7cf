/* bench/sched/sched_common.h - sizes and helpers shared by the C and C++ scheduler rows (the
   Go program repeats the numbers: keep them equal). */
#ifndef BENCH_SCHED_COMMON_H
#define BENCH_SCHED_COMMON_H
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define CHAN_N 500000L
#define YIELD_TOTAL 1000000L
#define SPAWN_N 100000L
#define SLEEP_N 100000L
#define STACK_SIZE (64 * 1024)

static double bench_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}
static void bench_fail(const char *what) {
    printf("error=%s\n", what);
    exit(1);
}
static double bench_median3(double *v) {
    double a = v[0], b = v[1], c = v[2];
    if ((a <= b && b <= c) || (c <= b && b <= a)) return b;
    if ((b <= a && a <= c) || (c <= a && a <= b)) return a;
    return c;
}
/* the same pseudo-random 0..1000 ms sequence in every implementation */
static unsigned bench_lcg = 42;
static int bench_sleep_ms(void) {
    bench_lcg = bench_lcg * 1103515245u + 12345u;
    return (int)((bench_lcg >> 8) % 1001);
}
#endif
