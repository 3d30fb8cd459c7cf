/* bench/core/fcontext_bench.h - the C interface of fcontext.cc, the Boost.Context baseline of
   the core benchmark. Each function does the work the driver times; the driver does the timing,
   the repetitions and the memory accounting, the same way for every implementation. */
#ifndef FCONTEXT_BENCH_H
#define FCONTEXT_BENCH_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Compiler and Boost versions, for the machine line. */
const char *fctx_compiler(void);
const char *fctx_boost_version(void);

/* iters resume+yield pairs with a generator (2 * iters switches); returns the sum of the values
   yielded, or -1 if no stack could be had. */
long fctx_switch_run(long iters);

/* iters times: make a context on a stack from a small free list, jump to it, it jumps straight
   back and is never resumed again, put the stack back. Returns a checksum, or -1. */
long fctx_create_run(long iters);

/* n contexts in one slab of n slots of slot bytes each (the driver maps and unmaps the slab):
   each is made and resumed once, so it waits in a jump. Its handle lives at the top of its own
   slot, below it is its stack. Returns 0. */
int fctx_idle_make(char *slab, size_t slot, long n);

#ifdef __cplusplus
}
#endif
#endif
