/* test_misuse.c - the edges of coro_sched.h's contract: huge sleeps and deadlines mean "as good
   as forever" (no overflow), a negative, closed or absurd fd is EBADF for every call, a stop
   asked for before coro_run, coro_resume refused on spawned coroutines (EBUSY), mutex,
   condition variable and semaphore touched from another thread (EPERM, never a crash), a
   raise into a coroutine whose offloaded job has not started yet, and (built again with
   -DCORO_DEBUG as test_misuse_debug) the line CORO_DEBUG prints for each misuse of either
   header. Compiled once per backend (epoll, and poll with -DCORO_SCHED_POLL). Scenarios that
   need a fresh process run this program again with the scenario's name (see run_child). */
#define CORO_IMPLEMENTATION
#define CORO_SCHED_IMPLEMENTATION
#include "../coro_sched.h"
#include "check.h"
#include "helpers.h"
#include "test_pipe.h"

#include <pthread.h>
#include <stdint.h>
#include <unistd.h>

/* the test_misuse_debug build runs only the CORO_DEBUG test */
#define TEST_FN static __attribute__((unused))
#define P(x) ((void *)(intptr_t)(x))
#define I(p) ((intptr_t)(p))

static coro_t *spawn(coro_fn fn, void *arg) {
    coro_t *co = coro_spawn(fn, arg, 0);
    CHECK(co != NULL);
    return co;
}

static void run_all(void) {
    CHECK(coro_run() == 0);
    CHECK(coro_count() == 0);
}

/* ---- huge sleeps and deadlines --------------------------------------------------------------- */
/* Each sleeper blocks "forever" and is raised out of it: before the fix coro_sleep(INT64_MAX)
   failed at once with EINVAL (coro_now() + ms overflowed, which UBSan also reports). */
static int huge_err[6], huge_ret[6];
static int huge_fds[2], huge_fds2[2];
static void *huge_sleeper(void *arg) {
    int k = (int)I(arg), r = 0;
    char c;
    errno = 0;
    switch (k) {
    case 0: r = coro_sleep(INT64_MAX); break;
    case 1: r = coro_sleep(INT64_MAX - 1); break;
    case 2: r = coro_sleep(INT64_MAX / 2 + 12345); break;
    case 3: r = coro_sleep_until(INT64_MAX); break;
    case 4: r = (int)coro_read(huge_fds[0], &c, 1, INT64_MAX); break;
    case 5: r = coro_wait_fd(huge_fds2[0], CORO_READ, INT64_MAX); break;
    }
    huge_ret[k] = r;
    huge_err[k] = errno;
    return NULL;
}
static coro_t *huge_co[6];
static int huge_short_done;
static void *huge_raiser(void *arg) {
    int k;
    (void)arg;
    CHECK(coro_sleep(20) == 0); /* a short timer runs while the huge ones wait */
    huge_short_done = 1;
    for (k = 0; k < 6; k++) {
        CHECK(coro_status(huge_co[k]) == CORO_SUSPENDED); /* still waiting */
        coro_raise(huge_co[k], ECANCELED);
    }
    return NULL;
}
TEST_FN void test_huge_sleep_is_forever(void) {
    int k;
    CHECK(test_fd_pair(huge_fds) == 0 && test_fd_pair(huge_fds2) == 0);
    for (k = 0; k < 6; k++) {
        huge_ret[k] = 0;
        huge_err[k] = 0;
        huge_co[k] = spawn(huge_sleeper, P(k));
    }
    huge_short_done = 0;
    spawn(huge_raiser, NULL);
    run_all();
    CHECK(huge_short_done == 1);
    for (k = 0; k < 6; k++) {
        CHECK(huge_ret[k] == -1);
        if (huge_err[k] != ECANCELED) fprintf(stderr, "  sleeper %d: errno %d\n", k, huge_err[k]);
        CHECK(huge_err[k] == ECANCELED);
    }
    coro_close(huge_fds[0]);
    coro_close(huge_fds[1]);
    coro_close(huge_fds2[0]);
    coro_close(huge_fds2[1]);
}

/* ---- bad fds: EBADF everywhere ---------------------------------------------------------------- */
static int closed_fd(void) {
    int fds[2];
    if (test_fd_pair(fds) != 0) return -1;
    coro_fd_forget(fds[0]);
    coro_fd_forget(fds[1]);
    test_fd_close(fds[0]);
    test_fd_close(fds[1]);
    return fds[0]; /* closed, never seen by the scheduler */
}
static void check_bad_fd(int fd) {
    char buf[4] = {0};
    struct iovec v[2];
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    off_t off = 0;
    memset(&ss, 0, sizeof ss);
    v[0].iov_base = buf;
    v[0].iov_len = 2;
    v[1].iov_base = buf + 2;
    v[1].iov_len = 2;
    CHECK_ERR(coro_wait_fd(fd, CORO_READ, 0) < 0, EBADF);
    CHECK_ERR(coro_wait_fd(fd, CORO_READ | CORO_WRITE, -1) < 0, EBADF);
    CHECK_ERR(coro_read(fd, buf, sizeof buf, 0) < 0, EBADF);
    CHECK_ERR(coro_read(fd, buf, 0, -1) < 0, EBADF);
    CHECK_ERR(coro_read_full(fd, buf, sizeof buf, -1) < 0, EBADF);
    CHECK_ERR(coro_read_full(fd, buf, 0, -1) < 0, EBADF);
    CHECK_ERR(coro_write(fd, buf, sizeof buf, -1) < 0, EBADF);
    CHECK_ERR(coro_write(fd, buf, 0, -1) < 0, EBADF);
    CHECK_ERR(coro_writev(fd, v, 2, -1) < 0, EBADF);
    CHECK_ERR(coro_writev(fd, v, 0, -1) < 0, EBADF);
    CHECK_ERR(coro_accept(fd, (struct sockaddr *)&ss, &len, -1) < 0, EBADF);
    CHECK_ERR(coro_connect(fd, (struct sockaddr *)&ss, sizeof(struct sockaddr), -1) < 0, EBADF);
    CHECK_ERR(coro_tcp_port(fd) < 0, EBADF);
    CHECK_ERR(coro_sendfile(fd, fd, &off, 4, -1) < 0, EBADF);
    CHECK_ERR(coro_close(fd) < 0, EBADF);
}
static void bad_fds_all(void) {
    check_bad_fd(-1);
    check_bad_fd(-12345);
    check_bad_fd(closed_fd());
    check_bad_fd(1 << 30); /* a number far beyond the fd table: EBADF, not a huge table */
    check_bad_fd(INT32_MAX);
}
static void *bad_fds_body(void *arg) {
    (void)arg;
    bad_fds_all();
    return NULL;
}
TEST_FN void test_bad_fds_ebadf(void) {
    bad_fds_all(); /* from main */
    spawn(bad_fds_body, NULL);
    run_all();
}

/* ---- coro_stop before coro_run -------------------------------------------------------------- */
static int stop_rounds, stop_fds[2];
static void *stop_blocked(void *arg) {
    char c;
    (void)arg;
    coro_read(stop_fds[0], &c, 1, -1); /* nobody writes: only the loop's end releases it */
    return NULL;
}
static void *stop_counter(void *arg) {
    (void)arg;
    for (;;) {
        stop_rounds++;
        if (stop_rounds % 1000 == 0) coro_stop(); /* a stop that was lost must not hang the test */
        if (coro_sched_yield() != 0) return NULL;
    }
}
TEST_FN void test_stop_before_run(void) {
    CHECK(test_fd_pair(stop_fds) == 0);
    stop_rounds = 0;
    spawn(stop_blocked, NULL);
    spawn(stop_counter, NULL);
    coro_stop();
    CHECK(coro_run() == 0); /* after one round */
    CHECK(stop_rounds == 1);
    CHECK(coro_count() == 2);
    CHECK(coro_run() == 0); /* the stop was used up: this run goes on until the counter stops */
    CHECK(stop_rounds == 1000);
    coro_stop();
    coro_stop(); /* twice is once */
    CHECK(coro_run() == 0);
    CHECK(stop_rounds == 1001);
    coro_sched_free(); /* kills both */
    CHECK(coro_count() == 0);
    test_fd_close(stop_fds[0]);
    test_fd_close(stop_fds[1]);
    coro_stop(); /* with nothing to run: coro_run returns at once, and the stop is used up */
    CHECK(coro_run() == 0);
    stop_rounds = 0;
    spawn(stop_counter, NULL);
    CHECK(coro_run() == 0);
    CHECK(stop_rounds == 1000);
    coro_sched_free();
}

/* ---- coro_resume refuses spawned coroutines ------------------------------------------------ */
static int owned_runs;
static void *owned_body(void *arg) {
    (void)arg;
    owned_runs++;
    coro_sched_yield();
    owned_runs++;
    return NULL;
}
static coro_t *owned_co;
static void *owned_prober(void *arg) {
    (void)arg;
    errno = 0;
    CHECK(coro_resume(owned_co, NULL) == NULL && errno == EBUSY); /* from another spawned one */
    return NULL;
}
TEST_FN void test_resume_spawned_ebusy(void) {
    owned_runs = 0;
    owned_co = spawn(owned_body, NULL);
    errno = 0;
    CHECK(coro_resume(owned_co, NULL) == NULL && errno == EBUSY);
    CHECK(coro_status(owned_co) == CORO_SUSPENDED);
    CHECK_ERR(coro_free(owned_co) != 0, EBUSY);
    CHECK(owned_runs == 0);
    spawn(owned_prober, NULL);
    run_all(); /* the scheduler still runs it, to its end */
    CHECK(owned_runs == 2);
}

/* ---- sync objects touched from another thread ---------------------------------------------- */
/* Thread A's coroutines wait on each object; a coroutine of thread B (and B's main) then use
   them: every call fails with EPERM (void ones do nothing), A's waiters stay where they are,
   and A's objects go on working. Before the fix this crashed (the SIGSEGV of the scenario's
   fresh process is what failed). (Channels do cross threads: tests/test_xthread.c.) */
static coro_chan_t *xt_chan;
static coro_mutex_t xt_mutex = CORO_MUTEX_INIT;
static coro_cond_t xt_cond = CORO_COND_INIT;
static coro_sem_t xt_sem;
static int xt_recv_val, xt_cond_woken, xt_sem_got, xt_b_ok, xt_b_checks;
static void *xt_receiver(void *arg) {
    int v = 0;
    (void)arg;
    CHECK(coro_chan_recv(xt_chan, &v, -1) == 0);
    xt_recv_val = v;
    return NULL;
}
static void *xt_cond_waiter(void *arg) {
    (void)arg;
    CHECK(coro_mutex_lock(&xt_mutex, -1) == 0);
    CHECK(coro_cond_wait(&xt_cond, -1) == 0);
    xt_cond_woken = 1;
    return NULL;
}
static void *xt_sem_waiter(void *arg) {
    (void)arg;
    CHECK(coro_sem_wait(&xt_sem, -1) == 0);
    xt_sem_got = 1;
    return NULL;
}
#define XT_EXPECT(call)                                                                          \
    do {                                                                                         \
        errno = 0;                                                                               \
        xt_b_checks++;                                                                           \
        if ((call) == -1 && errno == EPERM) xt_b_ok++;                                           \
        else fprintf(stderr, "thread B: %s: errno %d\n", #call, errno);                          \
    } while (0)
static void xt_b_calls(void) {
    XT_EXPECT(coro_mutex_lock(&xt_mutex, -1));
    XT_EXPECT(coro_mutex_unlock(&xt_mutex));
    XT_EXPECT(coro_cond_wait(&xt_cond, 0));
    XT_EXPECT(coro_sem_wait(&xt_sem, -1));
    XT_EXPECT(coro_sem_post(&xt_sem));
    coro_cond_signal(&xt_cond);    /* nothing happens */
    coro_cond_broadcast(&xt_cond); /* nothing happens */
}
static void *xt_b_coroutine(void *arg) {
    (void)arg;
    xt_b_calls();
    return NULL;
}
static void *xt_thread_b(void *arg) {
    (void)arg;
    xt_b_calls(); /* from B's main */
    coro_spawn(xt_b_coroutine, NULL, 0);
    coro_run();
    coro_sched_free();
    return NULL;
}
static void *xt_driver(void *arg) {
    pthread_t b;
    int v = 42;
    (void)arg;
    CHECK(coro_sched_yield() == 0); /* everybody else is waiting now */
    CHECK(pthread_create(&b, NULL, xt_thread_b, NULL) == 0);
    CHECK(pthread_join(b, NULL) == 0); /* blocks this loop for a moment: fine in a test */
    CHECK(xt_b_ok == xt_b_checks);
    CHECK(xt_recv_val == 0 && xt_cond_woken == 0 && xt_sem_got == 0); /* B woke nobody */
    CHECK(coro_chan_send(xt_chan, &v, -1) == 0);
    coro_cond_signal(&xt_cond);
    CHECK(coro_mutex_unlock(&xt_mutex) != 0); /* the waiter holds it, not us */
    CHECK(coro_sem_post(&xt_sem) == 0);
    return NULL;
}
static void cross_thread_child(void) {
#ifndef _WIN32
    alarm(60); /* a hang (thread B's wake landing in A's queues) fails the test too */
#endif
    xt_chan = coro_chan_new(sizeof(int), 0);
    coro_sem_init(&xt_sem, 0);
    spawn(xt_receiver, NULL);
    spawn(xt_cond_waiter, NULL);
    spawn(xt_sem_waiter, NULL);
    spawn(xt_driver, NULL);
    CHECK(coro_run() == 0);
    CHECK(xt_recv_val == 42 && xt_cond_woken == 1 && xt_sem_got == 1);
    CHECK(xt_b_checks == 10 && xt_b_ok == 10);
    coro_chan_free(xt_chan);
    coro_sched_free();
    _exit(check__failed ? 1 : 0); /* the failed CHECKs went to stderr, which the parent shows */
}
TEST_FN void test_cross_thread_eperm(void) {
    char out[4096];
    int st = run_child(cross_thread_child, out, sizeof out);
    if (!child_exited(st, 0)) fprintf(stderr, "child said:\n%s\n", out);
    CHECK(child_exited(st, 0));
}

/* ---- a raise into a coroutine whose offloaded job has not started ------------------------- */
/* Every worker is kept busy on a gate; one more job waits in the queue. Raising its caller
   drops it (it never runs) and the call fails at once; before the fix the caller went on
   waiting for the job until a worker was free. */
static pthread_mutex_t gate_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t gate_cond = PTHREAD_COND_INITIALIZER;
static int gate_open, gate_in;
static void *gate_job(void *arg) {
    pthread_mutex_lock(&gate_lock);
    gate_in++;
    pthread_cond_broadcast(&gate_cond);
    while (!gate_open) pthread_cond_wait(&gate_cond, &gate_lock);
    pthread_mutex_unlock(&gate_lock);
    return arg;
}
static int queued_ran;
static void *queued_job(void *arg) {
    queued_ran = 1;
    return arg;
}
static void *busy_worker_user(void *arg) {
    void *res = NULL;
    CHECK(coro_offload(gate_job, arg, &res) == 0);
    CHECK(res == arg);
    return NULL;
}
static int queued_ret, queued_err, queued_returned;
static void *queued_user(void *arg) {
    (void)arg;
    queued_ret = coro_offload(queued_job, NULL, NULL);
    queued_err = errno;
    queued_returned = 1;
    return NULL;
}
static void *queued_raiser(void *arg) {
    coro_t *victim = (coro_t *)arg;
    int in;
    for (;;) { /* until every worker holds a gate job */
        pthread_mutex_lock(&gate_lock);
        in = gate_in;
        pthread_mutex_unlock(&gate_lock);
        if (in == CORO_SCHED_WORKERS) break;
        coro_sleep(1);
    }
    coro_raise(victim, ECANCELED);
    CHECK(queued_returned == 1); /* at once, not when a worker gets to the job */
    CHECK(queued_ret == -1 && queued_err == ECANCELED);
    pthread_mutex_lock(&gate_lock);
    gate_open = 1;
    pthread_cond_broadcast(&gate_cond);
    pthread_mutex_unlock(&gate_lock);
    return NULL;
}
TEST_FN void test_raise_drops_queued_offload(void) {
    int k;
    coro_t *victim;
    gate_open = gate_in = 0;
    queued_ran = queued_returned = 0;
    for (k = 0; k < CORO_SCHED_WORKERS; k++) spawn(busy_worker_user, P(k + 1));
    victim = spawn(queued_user, NULL);
    spawn(queued_raiser, victim);
    run_all();
    CHECK(queued_returned == 1 && queued_ret == -1 && queued_err == ECANCELED);
    CHECK(queued_ran == 0); /* dropped, never run */
    coro_sched_free();
}

/* ---- CORO_DEBUG: a line for each misuse, in both headers --------------------------------------- */
#ifdef CORO_DEBUG
static void *dbg_inner(void *arg) {
    (void)arg;
    coro_run(); /* EBUSY: a loop inside a spawned coroutine */
    return NULL;
}
static void *dbg_other_thread(void *arg) {
    coro_mutex_lock((coro_mutex_t *)arg, 0); /* EPERM: another thread's mutex */
    coro_sched_free();
    return NULL;
}
static void *dbg_holder(void *arg) {
    coro_mutex_lock((coro_mutex_t *)arg, -1);
    return NULL;
}
static void debug_child(void) {
    int fds[2];
    char c;
    coro_t *co;
    coro_mutex_t m = CORO_MUTEX_INIT;
    pthread_t th;
    if (test_fd_pair(fds) != 0) return;
    coro_yield(NULL);                       /* coro.h: yield from main */
    coro_read(fds[0], &c, 1, -1);           /* coro_sched.h: EPERM, main would block */
    coro_sleep(1);                          /* EPERM */
    coro_mutex_lock(&m, -1);                /* EPERM */
    coro_wait_fd(-1, CORO_READ, -1);        /* EBADF */
    co = coro_spawn(dbg_inner, NULL, 0);
    coro_resume(co, NULL);                  /* EBUSY: spawned */
    coro_spawn(dbg_holder, &m, 0);
    coro_run();
    pthread_create(&th, NULL, dbg_other_thread, &m);
    pthread_join(th, NULL);
    coro_sched_free();
}
static void test_debug_lines(void) {
    static const char *const want[] = {
        "coro: coro_yield:", "coro: coro_read:", "coro: coro_sleep:", "coro: coro_mutex_lock:",
        "coro: coro_wait_fd:", "coro: coro_resume:", "coro: coro_run:",
        "another thread",
    };
    char out[8192];
    size_t k;
    int st = run_child(debug_child, out, sizeof out);
    CHECK(child_exited(st, 0));
    for (k = 0; k < HELPERS_COUNT(want); k++) {
        if (!strstr(out, want[k])) fprintf(stderr, "missing \"%s\" in:\n%s\n", want[k], out);
        CHECK(strstr(out, want[k]) != NULL);
    }
}
#endif

static const struct helpers_scenario scenarios[] = {
    {"cross_thread_child", cross_thread_child},
#ifdef CORO_DEBUG
    {"debug_child", debug_child},
#endif
};

int main(int argc, char **argv) {
    helpers_child_dispatch(argc, argv, scenarios, HELPERS_COUNT(scenarios));
#ifdef CORO_DEBUG
    RUN(test_debug_lines); /* this build only checks what CORO_DEBUG prints */
#else
    RUN(test_huge_sleep_is_forever);
    RUN(test_bad_fds_ebadf);
    RUN(test_stop_before_run);
    RUN(test_resume_spawned_ebusy);
    RUN(test_cross_thread_eperm);
    RUN(test_raise_drops_queued_offload);
#endif
    coro_sched_free();
    CHECK(coro_count_alive() == 0);
    return check_done();
}
