// bench/core/fcontext.cc - the Boost.Context baseline of the core benchmark: the raw fcontext
// switch (jump_fcontext/make_fcontext) that boost::context::fiber and Boost.Coroutine2 are built
// on. In Boost 1.74 jump_fcontext saves and loads MXCSR and the x87 control word on every
// switch, like coro.h keeps them. Exposes the C functions of fcontext_bench.h to bench_core.c.
#include <boost/context/detail/fcontext.hpp>
#include <boost/version.hpp>

#include <stdint.h>
#include <stdlib.h>

#include "fcontext_bench.h"

namespace bc = boost::context::detail;

static const size_t fctx_stack_size = 64 * 1024;

// A free list of stacks, the equivalent of coro.h's per-thread pool: after the first cycle
// create+free costs no allocation.
static void *fctx_free_list;

static void *fctx_stack_get() {
    void *s = fctx_free_list;
    if (s) {
        fctx_free_list = *(void **)s;
        return s;
    }
    return malloc(fctx_stack_size);
}

static void fctx_stack_put(void *s) {
    *(void **)s = fctx_free_list;
    fctx_free_list = s;
}

static void *fctx_top(void *s, size_t size) { return (char *)s + size; }

static void fctx_generator(bc::transfer_t t) {
    long i = (long)(intptr_t)t.data;
    for (;;) t = bc::jump_fcontext(t.fctx, (void *)(intptr_t)i++);
}

static void fctx_return_now(bc::transfer_t t) {
    bc::jump_fcontext(t.fctx, t.data); // "returns": never resumed again
    abort();
}

static void fctx_idle(bc::transfer_t t) {
    for (;;) t = bc::jump_fcontext(t.fctx, nullptr);
}

extern "C" const char *fctx_compiler(void) { return __VERSION__; }

extern "C" const char *fctx_boost_version(void) { return BOOST_LIB_VERSION; } // "1_74"

extern "C" long fctx_switch_run(long iters) {
    void *s = fctx_stack_get();
    if (!s) return -1;
    bc::fcontext_t c = bc::make_fcontext(fctx_top(s, fctx_stack_size), fctx_stack_size,
                                         fctx_generator);
    long sum = 0;
    for (long k = 0; k < iters; k++) {
        bc::transfer_t t = bc::jump_fcontext(c, nullptr);
        c = t.fctx;
        sum += (long)(intptr_t)t.data;
    }
    fctx_stack_put(s); // the generator is abandoned mid-yield: nothing on its stack to release
    return sum;
}

extern "C" long fctx_create_run(long iters) {
    long sum = 0;
    for (long k = 0; k < iters; k++) {
        void *s = fctx_stack_get();
        if (!s) return -1;
        bc::fcontext_t c = bc::make_fcontext(fctx_top(s, fctx_stack_size), fctx_stack_size,
                                             fctx_return_now);
        bc::transfer_t t = bc::jump_fcontext(c, (void *)(intptr_t)k);
        sum += (long)(intptr_t)t.data;
        fctx_stack_put(s);
    }
    return sum;
}

extern "C" int fctx_idle_make(char *slab, size_t slot, long n) {
    const size_t room = 64; // the handle, at the top of the slot
    for (long k = 0; k < n; k++) {
        char *top = slab + (size_t)(k + 1) * slot;
        bc::fcontext_t *handle = (bc::fcontext_t *)(top - room);
        bc::fcontext_t c = bc::make_fcontext(top - room, slot - room, fctx_idle);
        *handle = bc::jump_fcontext(c, nullptr).fctx;
    }
    return 0;
}
