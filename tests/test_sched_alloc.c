/* test_sched_alloc.c - the scheduler under an allocator that fails the n-th call: every call
   fails cleanly with ENOMEM (or carries on), coro_run never crashes or hangs, and after
   coro_sched_free and coro_pool_trim nothing is left allocated. Compiled per backend. */
#define _GNU_SOURCE 1 /* the implementations below need it and stdlib.h comes first */
#define TEST_FAILING_ALLOC
#include "helpers.h" /* the failing CORO_MALLOC/CORO_FREE pair */
#define CORO_IMPLEMENTATION
#define CORO_SCHED_IMPLEMENTATION
#include "../coro_sched.h"
#include "check.h"
#include "test_pipe.h"

#include <stdint.h>
#include <unistd.h>

static int bad_errno; /* a failure with an errno other than the expected ones */

static void expect_ok_or_enomem_at(int failed, int line) {
    if (failed && errno != ENOMEM) {
        bad_errno++;
        fprintf(stderr, "line %d: unexpected errno %d (%s) at fail_at=%ld\n", line, errno,
                strerror(errno), alloc_fail_at);
    }
}
#define expect_ok_or_enomem(failed) expect_ok_or_enomem_at((failed), __LINE__)

static void *offloaded(void *arg) { return arg; }

static void *child(void *arg) {
    coro_chan_t *ch = (coro_chan_t *)arg;
    int v = 7, fds[2];
    void *r;
    expect_ok_or_enomem(coro_sleep(1) != 0);
    if (ch) expect_ok_or_enomem(coro_chan_send(ch, &v, coro_now() + 1000) != 0 && errno != ETIMEDOUT);
    if (test_fd_pair(fds) == 0) {
        char c = 0;
        int wrote = coro_write(fds[1], "z", 1, -1) == 1;
        expect_ok_or_enomem(!wrote);
        /* (nothing to read when the write failed; the deadline only bounds a broken loop) */
        if (wrote) expect_ok_or_enomem(coro_read(fds[0], &c, 1, coro_now() + 10000) != 1);
        coro_close(fds[0]);
        coro_close(fds[1]);
    } else {
        expect_ok_or_enomem(1);
    }
    expect_ok_or_enomem(coro_offload(offloaded, &v, &r) != 0);
    return NULL;
}

static void *parent(void *arg) {
    coro_chan_t *ch = coro_chan_new(sizeof(int), 0);
    coro_t *kids[8];
    int i, n = 0, v;
    (void)arg;
    if (!ch) expect_ok_or_enomem(1);
    for (i = 0; i < 8; i++) {
        kids[n] = coro_spawn(child, ch, 0);
        if (kids[n]) n++;
        else expect_ok_or_enomem(1);
    }
    for (i = 0; ch && i < n; i++) {
        if (coro_chan_recv(ch, &v, coro_now() + 1000) != 0) expect_ok_or_enomem(errno != ETIMEDOUT);
    }
    for (i = 0; i < n; i++) {
        void *r;
        if (coro_join(kids[i], &r, coro_now() + 5000) != 0)
            expect_ok_or_enomem(errno != ESRCH && errno != ETIMEDOUT);
    }
    coro_chan_free(ch);
    return NULL;
}

static void run_once(long fail_at) {
    alloc_calls = 0;
    alloc_fail_at = fail_at;
    if (!coro_spawn(parent, NULL, 0)) expect_ok_or_enomem(1);
    if (coro_run() != 0) expect_ok_or_enomem(1);
    coro_sched_free();
    coro_pool_trim(); /* coro.h keeps a free block of coroutine handles for the next ones */
    CHECK(coro_count() == 0);
    CHECK(live_blocks == 0);
    if (live_blocks) fprintf(stderr, "fail_at=%ld: %ld blocks leaked\n", fail_at, live_blocks);
    live_blocks = 0;
}

static void test_fail_each_call(void) {
    long n, total;
    bad_errno = 0;
    run_once(0);
    total = alloc_calls;
    CHECK(total > 5);
    for (n = 1; n <= total + 1; n++) run_once(n);
    CHECK(bad_errno == 0);
}

/* A stop after posts: every post that was accepted runs before coro_run returns, also when its
   coroutine could not be made at the first attempt (the allocator failed it): it is retried
   after the others ran, not dropped. */
static int posted_ran;
static void *posted(void *arg) {
    (void)arg;
    posted_ran++;
    return NULL;
}
static void stop_once(long fail_at) {
    coro_sched_t *h;
    int accepted = 0, i;
    alloc_calls = 0;
    alloc_fail_at = fail_at;
    posted_ran = 0;
    if ((h = coro_sched_self()) != NULL) {
        for (i = 0; i < 3; i++) {
            if (coro_sched_post(h, posted, NULL, 0) == 0) accepted++;
            else expect_ok_or_enomem(1);
        }
        CHECK(coro_sched_stop(h) == 0);
        if (coro_run() != 0) expect_ok_or_enomem(1);
        if (posted_ran != accepted)
            fprintf(stderr, "fail_at=%ld: %d of %d accepted posts ran\n", fail_at, posted_ran, accepted);
        CHECK(posted_ran == accepted);
    } else {
        expect_ok_or_enomem(1);
    }
    coro_sched_free();
    coro_pool_trim();
    CHECK(live_blocks == 0);
    live_blocks = 0;
}
static void test_stop_runs_accepted_posts(void) {
    long n, total;
    bad_errno = 0;
    stop_once(0);
    total = alloc_calls;
    CHECK(total > 3);
    for (n = 1; n <= total + 1; n++) stop_once(n);
    CHECK(bad_errno == 0);
}

int main(void) {
    RUN(test_fail_each_call);
    RUN(test_stop_runs_accepted_posts);
    return check_done();
}
