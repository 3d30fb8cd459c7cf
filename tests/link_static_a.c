/* link_static_a.c + link_static_b.c: two translation units, each with its own private copy of
   the implementation (CORO_STATIC). Both copies work and do not see each other's coroutines. */
#define CORO_STATIC
#define CORO_IMPLEMENTATION
#include "../coro.h"
#include "check.h"

#include <stdint.h>

int static_b_run(int n);   /* in link_static_b.c */
size_t static_b_alive(void);

static void *count_up(void *arg) {
    intptr_t i, n = (intptr_t)arg;
    for (i = 1; i < n; i++) coro_yield((void *)i);
    return (void *)n;
}

int main(void) {
    coro_t *co = coro_new(count_up, 0);
    intptr_t i;
    int ok = 1;
    for (i = 1; i <= 5; i++)
        if ((intptr_t)coro_resume(co, (void *)5) != i) ok = 0;
    CHECK(ok);
    CHECK(coro_status(co) == CORO_DEAD);
    CHECK(static_b_run(7) == 7);
    CHECK(coro_count_alive() == 1);  /* ours, not counting b's */
    CHECK(static_b_alive() == 1);    /* b keeps one of its own alive */
    coro_free(co);
    CHECK(coro_count_alive() == 0);
    return check_done();
}
