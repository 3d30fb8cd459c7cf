/* bench/sched/sched_coro.c - the scheduler rows for coro_sched.h (bench/sched/run.sh runs them
   next to Go and Boost.Fiber and prints ratios). One row per process, one line of output:

     chan0      two tasks ping-pong a long through two unbuffered channels; ns per message
     yield2     2 tasks each call coro_sched_yield; ns per yield (1,000,000 yields in all)
     yield1000  the same with 1,000 tasks
     spawn_b    spawn 100,000 tasks whose function returns at once, the spawner yielding after
                every 100 (about 100 alive: a server whose connections come and go); ns each,
                median of 3 rounds in the process
     spawn      spawn 100,000 such tasks first, then run them all; ns each (one cold round)
     sleep      100,000 tasks each sleep a pseudo-random 0-1000 ms; wall ms from the first
                spawn to the last wakeup (ideal: 1000 plus the spawning)

   Stacks: 64 KiB (Go starts goroutines at 2 KiB and grows them; Boost.Fiber: 64 KiB). */
#define CORO_IMPLEMENTATION
#define CORO_SCHED_IMPLEMENTATION
#include "../../coro_sched.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "sched_common.h"

static coro_chan_t *ping_ch, *pong_ch;
static long n_yields, done;
static int64_t last_wake;

static void *pinger(void *arg) {
    long i, v;
    (void)arg;
    for (i = 0; i < CHAN_N; i++) {
        coro_chan_send(ping_ch, &i, -1);
        coro_chan_recv(pong_ch, &v, -1);
    }
    return NULL;
}
static void *ponger(void *arg) {
    long i, v;
    (void)arg;
    for (i = 0; i < CHAN_N; i++) {
        coro_chan_recv(ping_ch, &v, -1);
        coro_chan_send(pong_ch, &v, -1);
    }
    return NULL;
}
static void *yielder(void *arg) {
    long i;
    (void)arg;
    for (i = 0; i < n_yields; i++) coro_sched_yield();
    return NULL;
}
static void *ret_now(void *arg) {
    done++;
    return arg;
}
static void *spawner(void *arg) {
    long i;
    (void)arg;
    for (i = 0; i < SPAWN_N; i++) {
        if (!coro_spawn(ret_now, NULL, STACK_SIZE)) bench_fail("spawn");
        if (i % 100 == 99) coro_sched_yield();
    }
    return NULL;
}
static void *sleeper(void *arg) {
    int64_t t;
    coro_sleep((int64_t)(intptr_t)arg);
    t = coro_now();
    if (t > last_wake) last_wake = t;
    done++;
    return NULL;
}

int main(int argc, char **argv) {
    const char *mode = argc > 1 ? argv[1] : "yield2";
    double t;
    if (!strcmp(mode, "chan0")) {
        ping_ch = coro_chan_new(sizeof(long), 0);
        pong_ch = coro_chan_new(sizeof(long), 0);
        t = bench_now();
        coro_spawn(pinger, NULL, STACK_SIZE);
        coro_spawn(ponger, NULL, STACK_SIZE);
        if (coro_run() != 0) bench_fail("run");
        printf("ns=%.2f\n", (bench_now() - t) * 1e9 / (2.0 * CHAN_N));
    } else if (!strncmp(mode, "yield", 5)) {
        long k = atol(mode + 5), i;
        if (k <= 0) bench_fail("mode");
        n_yields = YIELD_TOTAL / k;
        t = bench_now();
        for (i = 0; i < k; i++)
            if (!coro_spawn(yielder, NULL, STACK_SIZE)) bench_fail("spawn");
        if (coro_run() != 0) bench_fail("run");
        printf("ns=%.2f\n", (bench_now() - t) * 1e9 / (double)(k * n_yields));
    } else if (!strcmp(mode, "spawn_b")) {
        double v[3];
        int r;
        for (r = 0; r < 3; r++) {
            done = 0;
            t = bench_now();
            coro_spawn(spawner, NULL, STACK_SIZE);
            if (coro_run() != 0 || done != SPAWN_N) bench_fail("run");
            v[r] = (bench_now() - t) * 1e9 / SPAWN_N;
        }
        printf("ns=%.2f\n", bench_median3(v));
    } else if (!strcmp(mode, "spawn")) {
        long i;
        t = bench_now();
        for (i = 0; i < SPAWN_N; i++)
            if (!coro_spawn(ret_now, NULL, STACK_SIZE)) bench_fail("spawn");
        if (coro_run() != 0 || done != SPAWN_N) bench_fail("run");
        printf("ns=%.2f\n", (bench_now() - t) * 1e9 / SPAWN_N);
    } else if (!strcmp(mode, "sleep")) {
        long i;
        int64_t t0 = coro_now();
        for (i = 0; i < SLEEP_N; i++)
            if (!coro_spawn(sleeper, (void *)(intptr_t)bench_sleep_ms(), STACK_SIZE))
                bench_fail("spawn");
        if (coro_run() != 0 || done != SLEEP_N) bench_fail("run");
        printf("ms=%ld\n", (long)(last_wake - t0));
    } else {
        bench_fail("mode");
    }
    return 0;
}
