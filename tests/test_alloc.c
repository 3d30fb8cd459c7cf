/* test_alloc.c - an allocator that fails the n-th call: every call reports a clean ENOMEM, the
   cleanups that were registered all run in order, and nothing leaks. In coro.h the allocator
   serves the cleanup lists and the blocks of coroutine handles (stacks come from mmap; their
   failure is tested in test_stack). */
#define _GNU_SOURCE 1 /* the implementation below needs it and stdlib.h comes first */
#define TEST_FAILING_ALLOC
#include "helpers.h" /* the failing CORO_MALLOC/CORO_FREE pair */
#define CORO_IMPLEMENTATION
#include "../coro.h"
#include "check.h"

#include <stdint.h>

#define CLEANUPS 40
static int ran[CLEANUPS], nran, registered[CLEANUPS], nregistered, bad_errno;

static void record(void *arg) { ran[nran++] = (int)(intptr_t)arg; }

static void *register_many(void *arg) {
    int i;
    for (i = 0; i < CLEANUPS; i++) {
        errno = 0;
        if (coro_defer(record, (void *)(intptr_t)i) == 0) registered[nregistered++] = i;
        else if (errno != ENOMEM) bad_errno++;
    }
    if (arg) coro_yield(NULL); /* to be killed */
    return NULL;
}

static void run_once(long fail_at, int kill) {
    coro_t *co;
    int i, in_order = 1;
    alloc_calls = 0;
    alloc_fail_at = fail_at;
    nran = nregistered = bad_errno = 0;
    co = coro_new(register_many, 0);
    if (!co) { /* its block of handles: the first call of a run (the pool was trimmed) */
        CHECK(errno == ENOMEM);
        CHECK(fail_at == 1);
        CHECK(live_blocks == 0);
        return;
    }
    coro_resume(co, kill ? (void *)1 : NULL);
    if (kill) CHECK(coro_kill(co) == 0);
    CHECK(coro_status(co) == CORO_DEAD);
    CHECK(coro_free(co) == 0);
    coro_pool_trim(); /* the free block of handles is kept for the next coroutine: back it goes */
    CHECK(bad_errno == 0);
    CHECK(nran == nregistered); /* every registered cleanup ran ... */
    for (i = 0; i < nran; i++)
        if (ran[i] != registered[nregistered - 1 - i]) in_order = 0;
    CHECK(in_order); /* ... last first */
    CHECK(live_blocks == 0); /* nothing leaked */
    if (fail_at > 0 && fail_at <= alloc_calls) CHECK(nregistered < CLEANUPS);
}

static void test_fail_each_call(void) {
    long n, total;
    run_once(0, 0); /* count the calls a clean run makes */
    total = alloc_calls;
    CHECK(total >= 3); /* 40 cleanups: the list grew from the inline 4 at least three times */
    for (n = 1; n <= total + 1; n++) {
        run_once(n, 0);
        run_once(n, 1);
    }
}

int main(void) {
    RUN(test_fail_each_call);
    return check_done();
}
