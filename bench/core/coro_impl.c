/* bench/core/coro_impl.c - the coro.h implementation for the core benchmark, in a translation
   unit of its own. A program calls coro_resume and coro_yield from other files than the one
   that defines them; compiled into bench_core.c the compiler could inline them into the timed
   loops and report a switch no user gets. */
#define CORO_IMPLEMENTATION
#include "coro.h"
