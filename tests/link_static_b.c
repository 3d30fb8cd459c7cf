#define CORO_STATIC
#define CORO_IMPLEMENTATION
#include "../coro.h"

#include <stdint.h>

static coro_t *kept;

static void *sum_to(void *arg) {
    intptr_t n = (intptr_t)arg, i, s = 0;
    for (i = 0; i < n; i++) s += (intptr_t)coro_yield((void *)s); /* each resume adds 1 */
    return (void *)s;
}

int static_b_run(int n) {
    coro_t *co = coro_new(sum_to, 0);
    void *v = coro_resume(co, (void *)(intptr_t)n);
    while (coro_status(co) != CORO_DEAD) v = coro_resume(co, (void *)1);
    coro_free(co);
    kept = coro_new(sum_to, 0);
    return (int)(intptr_t)v;
}

size_t static_b_alive(void) { return coro_count_alive(); }
