/* bench_chan.c - channel costs, printed as "name ns_per_msg" lines:
     same0     two coroutines of one thread, rendezvous channel: A sends N, B receives N
     same1     the same through a channel of capacity 1
     xpong     two coroutines on two threads, rendezvous channels: A sends to B, B answers;
               ns per message (a round trip is two messages)
     xbuf      two coroutines on two threads, capacity 1024: A sends N, B receives N
     xfloor    no library: two plain threads hand one cache line back and forth, ns per hand-off.
               The bound for xpong when coroutines stay on their threads: every message must
               at least move a line from one core to the other
   Built twice by bench/chan/run.sh: against this tree's coro_sched.h and against a saved
   earlier one (CORO_BENCH_SAME_ONLY: only the same-thread rows, which every version has). */
#define CORO_IMPLEMENTATION
#define CORO_SCHED_IMPLEMENTATION
#include "coro_sched.h"

#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static long n_msgs;
static coro_chan_t *a2b, *b2a;
static coro_chan_t **bench_chans[] = {&a2b, &b2a}; /* (b2a is unused in the same-thread build) */

static double now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static void *send_n(void *arg) {
    long i;
    (void)arg;
    for (i = 0; i < n_msgs; i++) coro_chan_send(a2b, &i, -1);
    return NULL;
}
static void *recv_n(void *arg) {
    long i, v;
    (void)arg;
    for (i = 0; i < n_msgs; i++) coro_chan_recv(a2b, &v, -1);
    return NULL;
}
#ifndef CORO_BENCH_SAME_ONLY
static void *ping(void *arg) {
    long i, v;
    (void)arg;
    for (i = 0; i < n_msgs; i++) {
        coro_chan_send(a2b, &i, -1);
        coro_chan_recv(b2a, &v, -1);
    }
    return NULL;
}
static void *pong(void *arg) {
    long i, v;
    (void)arg;
    for (i = 0; i < n_msgs; i++) {
        coro_chan_recv(a2b, &v, -1);
        coro_chan_send(b2a, &v, -1);
    }
    return NULL;
}

/* xfloor: the flag says whose turn it is; each side waits for its turn, then gives it back.
   A waiter that does not see its turn after a while gives its core away (sched_yield), so
   that the figure stays finite when the two threads share one core. */
static int floor_flag __attribute__((aligned(64)));
static void floor_wait(int want) {
    unsigned spins = 0;
    while (__atomic_load_n(&floor_flag, __ATOMIC_ACQUIRE) != want)
        if (++spins % 4096 == 0) sched_yield();
}
static void *floor_side(void *arg) {
    long i;
    int me = (int)(intptr_t)arg;
    for (i = 0; i < n_msgs; i++) {
        floor_wait(me);
        __atomic_store_n(&floor_flag, !me, __ATOMIC_RELEASE);
    }
    return NULL;
}
static double floor_pingpong(void) {
    pthread_t ta, tb;
    double t0 = now_ns();
    floor_flag = 0;
    pthread_create(&ta, NULL, floor_side, (void *)(intptr_t)0);
    pthread_create(&tb, NULL, floor_side, (void *)(intptr_t)1);
    pthread_join(ta, NULL);
    pthread_join(tb, NULL);
    return (now_ns() - t0) / ((double)n_msgs * 2);
}
#endif

static double same_thread(size_t cap) {
    double t0;
    a2b = coro_chan_new(sizeof(long), cap);
    coro_spawn(send_n, NULL, 0);
    coro_spawn(recv_n, NULL, 0);
    t0 = now_ns();
    coro_run();
    t0 = now_ns() - t0;
    coro_chan_free(a2b);
    return t0 / (double)n_msgs;
}

#ifndef CORO_BENCH_SAME_ONLY
static void *thread_run(void *fn) {
    coro_spawn((coro_fn)(uintptr_t)fn, NULL, 0);
    coro_run();
    coro_sched_free();
    return NULL;
}
static double two_threads(coro_fn a, coro_fn b, size_t cap, double per) {
    pthread_t ta, tb;
    double t0;
    a2b = coro_chan_new(sizeof(long), cap);
    b2a = coro_chan_new(sizeof(long), cap);
    t0 = now_ns();
    pthread_create(&ta, NULL, thread_run, (void *)(uintptr_t)a);
    pthread_create(&tb, NULL, thread_run, (void *)(uintptr_t)b);
    pthread_join(ta, NULL);
    pthread_join(tb, NULL);
    t0 = now_ns() - t0;
    coro_chan_free(a2b);
    coro_chan_free(b2a);
    return t0 / ((double)n_msgs * per);
}
#endif

int main(int argc, char **argv) {
    const char *what = argc > 1 ? argv[1] : "all";
    n_msgs = argc > 2 ? atol(argv[2]) : 1000000;
    (void)bench_chans;
    if (!strcmp(what, "all") || !strcmp(what, "same0")) printf("same0 %.2f\n", same_thread(0));
    if (!strcmp(what, "all") || !strcmp(what, "same1")) printf("same1 %.2f\n", same_thread(1));
#ifndef CORO_BENCH_SAME_ONLY
    if (!strcmp(what, "all") || !strcmp(what, "xpong")) printf("xpong %.2f\n", two_threads(ping, pong, 0, 2));
    if (!strcmp(what, "all") || !strcmp(what, "xbuf")) printf("xbuf %.2f\n", two_threads(send_n, recv_n, 1024, 1));
    if (!strcmp(what, "all") || !strcmp(what, "xfloor")) printf("xfloor %.2f\n", floor_pingpong());
#endif
    return 0;
}
