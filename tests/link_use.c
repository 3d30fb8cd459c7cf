/* link_use.c: uses coro.h through the declarations only; the implementation is in link_impl.c
   (or, for the C++ check, in link_cpp.cc). */
#include "../coro.h"
#include "check.h"

#include <stdint.h>

static void *twice(void *arg) {
    intptr_t v = (intptr_t)coro_yield((void *)((intptr_t)arg * 2));
    return (void *)(v * 2);
}

int main(void) {
    coro_t *co = coro_new(twice, 0);
    CHECK(co != NULL);
    CHECK((intptr_t)coro_resume(co, (void *)21) == 42);
    CHECK((intptr_t)coro_resume(co, (void *)50) == 100);
    CHECK(coro_status(co) == CORO_DEAD);
    CHECK(coro_free(co) == 0);
    CHECK(coro_count_alive() == 0);
    return check_done();
}
