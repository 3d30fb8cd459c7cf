/* coro.h - v0.1 - stackful coroutines for C - MIT licence (or public domain, see end of file)

   One header: asymmetric resume/yield with values both ways, symmetric transfer, kill with
   cleanup handlers, errors raised into a coroutine, guarded stacks from a per-thread pool, and a
   context switch in a few lines of assembly (x86-64, i386, aarch64, riscv64, 32-bit ARM,
   ppc64le), or a portable one on any other POSIX architecture.

USAGE
   In exactly one C or C++ file, before any #include:

       #define CORO_IMPLEMENTATION
       #include "coro.h"

   Everywhere else just #include "coro.h". Put the define before any other #include: the
   implementation needs POSIX extensions (mmap flags, sigaltstack) and defines _GNU_SOURCE itself;
   if a system header came first, compile that file with -D_GNU_SOURCE. Link with -pthread on
   systems where pthreads are a separate library (glibc 2.34 and later do not need it). Where
   the portable switch is used (see CORO_PORTABLE_SWITCH), also link with -lm on glibc.

EXAMPLE
       #define CORO_IMPLEMENTATION
       #include "coro.h"
       #include <stdio.h>

       static void *counter(void *arg) {            // a generator
           long limit = (long)arg;
           for (long i = 1; i <= limit; i++)
               coro_yield((void *)i);                // hand i to whoever resumed us
           return NULL;                              // the last resume returns this
       }

       int main(void) {
           coro_t *co = coro_new(counter, 0);        // 0 = default stack size
           void *v = coro_resume(co, (void *)3);     // first resume: counter(3) starts
           while (coro_status(co) != CORO_DEAD) {
               printf("%ld\n", (long)v);             // 1 2 3
               v = coro_resume(co, NULL);
           }
           coro_free(co);
           return 0;
       }

STATES
   A coroutine is created CORO_SUSPENDED (not started). coro_resume makes it CORO_RUNNING and the
   resumer CORO_NORMAL (it waits for the coroutine to yield). coro_yield suspends it again and
   returns control, and a value, to its resumer. When its function returns, or it is killed, it
   runs its cleanups (coro_defer) on its own stack and becomes CORO_DEAD; its stack is reused only
   after coro_free. The thread's original stack, "main", is not a coro_t: coro_current() returns
   NULL there, and coro_transfer(NULL, v) switches to it.

   The resumer chain: main resumes A, A resumes B: main and A are NORMAL, B is RUNNING. A yield
   from B goes back to A. coro_transfer(X, v) from B is a tail call: B leaves the chain
   (SUSPENDED) and X takes its place, so a later yield from X goes back to A. Transferring to a
   coroutine that is waiting in the chain (NORMAL), or to main, makes its pending switch return v;
   every coroutine above it in the chain becomes SUSPENDED with its switch still pending. A
   coroutine with no resumer (main transferred to it) yields to main.

ERRORS
   POSIX style: failure returns -1 or NULL and sets errno; success never touches errno. Functions
   that return a user value (coro_resume, coro_yield, coro_transfer, coro_raise) return NULL on
   failure, so set errno = 0 before the call when NULL is also a legitimate value. Misuse never
   crashes: resuming a dead, running or normal coroutine, NULL, a coroutine of another thread,
   yielding from main, a NULL function, an absurd stack size: all fail with EINVAL (resuming or
   freeing a coroutine that belongs to a runtime, such as a spawned one: EBUSY). The
   exceptions are the ones C itself makes: a pointer that was never a coroutine, or one already
   freed whose stack has been unmapped, cannot be detected.

THE API (details at each declaration below)
   coro_new coro_free coro_resume coro_yield coro_transfer coro_current coro_status
   coro_defer coro_defer_pop coro_kill coro_raise coro_raised
   coro_id coro_set_name coro_name coro_set_data coro_data coro_set_runtime coro_runtime_data
   coro_runtime_resume coro_stack_size coro_stack_used coro_stack_release
   coro_status_name coro_count_alive coro_foreach coro_pool_trim coro_pool_collect coro_guard_mode

CONFIGURATION (define before including the implementation; defaults in brackets)
   CORO_STATIC             make every function static to the implementation file [extern]
   CORO_API                storage class of the public functions [extern, or static under CORO_STATIC]
   CORO_MALLOC(sz)         allocator for small bookkeeping (cleanup lists) [malloc]
   CORO_FREE(p)            its pair; define both or neither [free]
   CORO_ASSERT(x)          internal invariant checks, never used for user errors [assert]
   CORO_DEFAULT_STACK_SIZE stack size when 0 is asked for [256 KiB]; only touched pages cost memory
   CORO_MIN_STACK_SIZE     smaller requests are rounded up to this [16 KiB]
   CORO_MAX_STACK_SIZE     larger requests fail with EINVAL [1 GiB; 256 MiB on 32-bit]
   CORO_GUARD_SIZE         bytes of guard below each stack, rounded up to pages [16 KiB]
   CORO_NO_GUARD           no guard pages at all (an overflow then corrupts memory silently)
   CORO_GUARD_MPROTECT     always make guards with mprotect, as on kernels before 6.13 (tests)
   CORO_POOL_SIZE          free stacks a thread keeps for reuse, beyond those its recent
                           high-water mark of live coroutines needs, before it unmaps a slab
                           whose stacks are all free [64]
   CORO_POOL_DECAY_MS      how long such a slab stays mapped before it goes back, in case the
                           load returns [1000]; 0 unmaps it as soon as it is free
   CORO_PORTABLE_SWITCH    use the portable switch even where a hand-written one exists. It is
                           what architectures without one get: the C library's _setjmp and
                           _longjmp (a stack is entered once with makecontext), several times
                           slower per switch; it keeps only the rounding mode per coroutine
                           (fegetround/fesetround, in libm on glibc); AddressSanitizer and
                           the gdb script do not know its saved contexts. POSIX only
   CORO_NO_SIGNAL_HANDLER  do not install the SIGSEGV handler (on Windows the vectored exception
                           handler) that names overflowing coroutines
   CORO_NO_ASAN            do not use the AddressSanitizer fiber API even under -fsanitize=address
   CORO_NO_TSAN            do not use the ThreadSanitizer fiber API even under -fsanitize=thread
   CORO_NO_VALGRIND        do not register stacks with Valgrind even if <valgrind/valgrind.h> exists
   CORO_DEBUG              print a line on stderr for each misuse detected (errno is set regardless)
   CORO_FPU_KEEP           floating-point control state kept per coroutine [2]: 2 = MXCSR and the
                           x87 control word, exactly (as the ABI requires); 1 = the x87 control
                           word on every switch, MXCSR only when that word changed (fesetround and
                           fesetenv change both; a bare _mm_setcsr would go unnoticed), about 1 ns
                           less per switch on AMD Zen 5 (2 on Zen 4); 0 = nothing (code that never
                           changes them: about 1.7 ns less than 2 on Zen 5).
                           Elsewhere 1 and 2 both keep what "Floating point" below lists

CAVEATS
   Threads: a coroutine belongs to the thread that created it and can only be resumed, killed
     or freed there (EINVAL otherwise); every thread may run its own coroutines at once, and a
     coroutine never moves to another thread. The library reads its thread-local state once per
     call, before switching, never after: no compiler can hand it a stale thread-local address.
     The switching functions are opaque to interprocedural analysis, so a static variable a
     coroutine writes is seen by its resumer (GCC's ipa-reference would otherwise cache it).
   errno: each coroutine sees errno as the thread leaves it; coro.h does not save it per
     coroutine (coro_sched.h does, around every blocking call).
   Stacks: mmap'd in slabs of up to 64, lazily committed, MAP_NORESERVE: a 256 KiB stack costs
     one page of RSS until it is used deeper (the struct coro sits in that page). Freed stacks
     stay on the thread's free list and the most recently freed (still resident) is reused
     first; a slab whose stacks are all free is unmapped once the list holds CORO_POOL_SIZE
     others beyond what the recent high-water mark of live coroutines needs (that mark decays
     as coroutines are freed) and it has stayed so for CORO_POOL_DECAY_MS: at a later free, or
     at coro_pool_collect (coro_sched.h's loop calls it when it waits). coro_pool_trim (or the
     thread's exit) releases the rest at once.
     A guard region below each stack (CORO_GUARD_SIZE) turns an overflow whose first access
     below the stack falls in it into SIGSEGV, and the handler (installed once, on an alternate
     signal stack per thread, chaining to any previous handler) prints "coro: stack overflow in
     coroutine <id> ..." before the process dies by the signal: every overflow made of frames
     smaller than the guard. A single frame larger than the guard (a big local array)
     can step over it into the next stack below, unreported. -fstack-clash-protection makes the
     compiler touch large frames in steps: 4 KiB with gcc and clang on x86-64 (then any overflow
     is caught), 64 KiB with gcc on aarch64 (then also define CORO_GUARD_SIZE as 65536; guard
     pages are never backed by memory, a bigger guard costs address space only).
   Guards: on Linux 6.13+ guards are installed with madvise(MADV_GUARD_INSTALL) and cost no
     extra kernel mapping, so a million guarded stacks fit in the default vm.max_map_count
     (65530). On older kernels the guard is an mprotect'ed page: two mappings per stack, and
     coro_new fails with ENOMEM near 32,000 live coroutines unless you raise vm.max_map_count
     (sysctl -w vm.max_map_count=2200000) or build with CORO_NO_GUARD.
   Floating point: the control state each ABI preserves across calls is kept per coroutine:
     MXCSR and the x87 control word on x86, FPCR on aarch64, frm (the rounding mode; the psABI
     gives fcsr thread storage duration) on riscv64, FPSCR's rounding, flush-to-zero, default
     NaN and trap-enable bits on ARM, FPSCR's RN, NI and enable bits on ppc64le (not VSCR[NJ]),
     the rounding mode only with the portable switch. A coroutine that changes the rounding mode
     changes it for itself only. A new coroutine starts with the modes of the code that first
     switches to it. Status flags stay with the thread except on x86 at CORO_FPU_KEEP 2. See
     CORO_FPU_KEEP for the cost and the cheaper settings.
   CET: coro.h does not switch shadow stacks. If a CET shadow stack is active in the thread,
     coro_new fails with ENOTSUP and prints once why (build without -fcf-protection=return, or
     run with GLIBC_TUNABLES=glibc.cpu.x86_shstk=off). Indirect-branch targets carry endbr.
   Sanitizers: under -fsanitize=address and -fsanitize=thread the fiber annotations are used
     automatically (each coroutine is a ThreadSanitizer fiber, so threaded programs built on
     coro.h and coro_sched.h can be checked with TSan); with
     <valgrind/valgrind.h> present every stack is registered with Valgrind.
   Windows x64 (mingw-w64 gcc; tested under Wine, not on Windows itself; MSVC cannot compile
     the GCC-style assembly): the switch also swaps the TEB's stack bounds (StackBase,
     StackLimit, DeallocationStack) and FiberData, so the system treats a coroutine's stack as
     the thread's own. Stacks are reserved with VirtualAlloc; two pages are committed at the top
     with a PAGE_GUARD page below, and the system commits further pages as the stack grows, as
     it does for thread stacks; it raises EXCEPTION_STACK_OVERFLOW near the bottom. The
     CORO_GUARD_SIZE region below is reserved and never committed ("reserve" guards). A
     vectored exception handler prints the same overflow line and passes the exception on, so
     the process ends as it would have (0xC00000FD) or the program's own handler runs. The
     thread state is a heap block; it and the pool are released when the thread ends, whether
     CreateThread, _beginthreadex or winpthreads made it. Link with -static or ship
     libwinpthread-1.dll. There is no ASan fiber switch on Windows.
*/
#if defined(CORO_IMPLEMENTATION) && !defined(_GNU_SOURCE)
#define _GNU_SOURCE 1 /* before any system header: mmap flags, sigaltstack, mincore */
#endif

#ifndef CORO_H
#define CORO_H

#include <stddef.h>
#include <stdint.h>

#ifndef CORO_API
#ifdef CORO_STATIC
#define CORO_API static __attribute__((unused))
#else
#define CORO_API extern
#endif
#endif

#ifdef __cplusplus
extern "C" {
#endif

typedef struct coro coro_t;
typedef void *(*coro_fn)(void *arg);

/* >>misuse: the one report of a misuse, for coro.h's implementation and coro_sched.h's alike:
   errno = err, and under CORO_DEBUG a line "coro: fn: why" on stderr. Only the implementations
   expand it (they include <errno.h>, and <stdio.h> under CORO_DEBUG). */
#ifndef CORO__MISUSE
#ifdef CORO_DEBUG
#define CORO__MISUSE(fn, err, why) (fprintf(stderr, "coro: %s: %s\n", fn, why), errno = (err))
#else
#define CORO__MISUSE(fn, err, why) ((void)(fn), (void)(why), errno = (err))
#endif
#endif

enum {
    CORO_SUSPENDED = 0, /* created and not started, or waiting in a yield/transfer */
    CORO_RUNNING = 1,   /* the coroutine executing now */
    CORO_NORMAL = 2,    /* resumed another coroutine and waits for it (in the resumer chain) */
    CORO_DEAD = 3       /* its function returned or it was killed; only coro_free is left */
};

/* coro_new: a new suspended coroutine that will run fn on its own stack of stack_size bytes
   (0 = CORO_DEFAULT_STACK_SIZE; smaller than CORO_MIN_STACK_SIZE is rounded up). Nothing runs
   until the first coro_resume, and the stack is bound then, from the thread's pool: a
   coroutine that has not run costs only its handle (about 256 bytes), so a burst of coroutines
   that run one after another needs few stacks. Returns NULL with errno:
     EINVAL  fn is NULL, or stack_size > CORO_MAX_STACK_SIZE
     ENOMEM  no memory for the handle (CORO_MALLOC failed)
     ENOTSUP a CET shadow stack is active in this thread (see CAVEATS) */
CORO_API coro_t *coro_new(coro_fn fn, size_t stack_size);

/* coro_free: release co and give its stack (if it ran) back to the thread's pool. A suspended
   coroutine that has started and not finished is killed first (its cleanups run).
   coro_free(NULL) does nothing and returns 0. Returns -1 with errno:
     EINVAL  co belongs to another thread, or was already freed (detected while its handle's
             block is still kept)
     EBUSY   co is running or normal (in the resumer chain), belongs to a runtime (see
             coro_set_runtime_data: spawned coroutines are freed by coro_sched.h), or its kill
             could not finish because a cleanup handed control elsewhere */
CORO_API int coro_free(coro_t *co);

/* coro_stack_release: give a dead coroutine's stack back to the thread's pool now instead of at
   coro_free; the handle stays (its id, name, data and status are still there for whoever
   collects the result later), and coro_stack_used returns 0 from then on. For a program that
   keeps finished coroutines around, as coro_sched.h keeps a joinable task until it is joined.
   Returns 0 (also when co has no stack: it never ran, or its stack went back already), or -1
   with errno EINVAL (NULL, another thread's, or freed) or EBUSY (co has not finished: its stack
   is in use). */
CORO_API int coro_stack_release(coro_t *co);

/* coro_resume: switch to co, passing value. The first resume calls fn(value); later ones make
   co's pending coro_yield/coro_transfer return value. Returns the value co yields, or fn's
   return value when fn returns (co is then CORO_DEAD). NULL with errno EINVAL if co is NULL,
   dead, running, normal (already in the resumer chain, the caller itself included), or belongs
   to another thread; EBUSY if co belongs to a runtime (coro_set_runtime: a coroutine spawned by
   coro_sched.h is resumed only by its scheduler; coro_kill and coro_raise still work on it);
   ENOMEM if co has not run yet and no memory could be had for its stack (co stays as it was:
   resume it again later, or free it). With mprotect guards (kernels before 6.13) ENOMEM is also
   what vm.max_map_count running out looks like: raise it or use CORO_NO_GUARD. */
CORO_API void *coro_resume(coro_t *co, void *value);

/* coro_yield: suspend the current coroutine and return value to its resumer (main if it has
   none); returns the value of the resume that continues it, or NULL if it was continued by
   coro_raise (then coro_raised() is nonzero). NULL with errno EINVAL when called from main,
   ECANCELED when called from a cleanup handler (a finishing coroutine cannot switch away). */
CORO_API void *coro_yield(void *value);

/* coro_transfer: symmetric switch to `to` (NULL = the thread's main) passing value; the current
   coroutine becomes SUSPENDED and `to` takes its place in the resumer chain (see STATES).
   Returns what the switch that continues us passes. NULL with errno EINVAL if `to` is dead,
   running (the caller itself), of another thread, or main transferring to main; ECANCELED from
   a cleanup handler; ENOMEM, as coro_resume, when `to` has not run and no stack could be had.
   A runtime may hand control between its own coroutines this way; user code must not transfer
   to a coroutine a runtime manages (coro_resume refuses those). */
CORO_API void *coro_transfer(coro_t *to, void *value);

/* coro_current: the running coroutine, NULL in main. */
CORO_API coro_t *coro_current(void);

/* coro_status: CORO_SUSPENDED, CORO_RUNNING, CORO_NORMAL or CORO_DEAD; -1 with errno EINVAL for
   NULL. coro_status_name gives "suspended", "running", "normal", "dead" (or "invalid"). */
CORO_API int coro_status(const coro_t *co);
CORO_API const char *coro_status_name(int status);

/* coro_defer: register fn(arg) to run when the current coroutine finishes, by returning or by
   being killed; cleanups run last-registered first, on the coroutine's own stack, before it
   switches away for the last time. When the coroutine's function returns, its frame is gone
   by then: arg must not point into its local variables (pop such a cleanup with coro_defer_pop
   before returning). coro_defer_pop removes the most recent one, running it first
   if run is nonzero (like pthread_cleanup_pop). Return 0, or -1 with errno: EINVAL from main, a
   NULL fn, or nothing to pop; ENOMEM when the list could not grow (the first 4 need no memory). */
CORO_API int coro_defer(void (*fn)(void *arg), void *arg);
CORO_API int coro_defer_pop(int run);

/* coro_kill: terminate co. A suspended coroutine that has started is switched to once: its
   cleanups run on its own stack, last first, and it becomes dead without continuing its body;
   then coro_kill returns 0. A coroutine that never started just becomes dead. Killing the
   current coroutine runs its cleanups and finishes it (its resumer gets NULL): coro_kill does
   not return then. Killing a dead coroutine does nothing and returns 0. -1 with errno EINVAL
   for NULL or another thread's coroutine, EBUSY for a normal one (waiting in the chain). */
CORO_API int coro_kill(coro_t *co);

/* coro_raise: resume co so that its pending switch returns NULL and coro_raised() returns err
   (a positive errno value, typically ECANCELED); returns like coro_resume. A coroutine that has
   not started starts with fn(NULL) and sees err in coro_raised(). In coro_sched.h a blocking call
   that is raised into fails with -1 and errno = err. NULL with errno EINVAL if err <= 0 or co
   cannot be resumed (the coro_resume cases). */
CORO_API void *coro_raise(coro_t *co, int err);

/* coro_raised: the error raised into the current coroutine by the switch that last continued
   it, 0 if none (always 0 in main). Reading clears it. */
CORO_API int coro_raised(void);

/* Introspection and bookkeeping. coro_id: a number unique in the process (0 for NULL).
   coro_set_name copies up to 31 bytes of name (NULL clears it); coro_name returns it ("" if
   none, "main" for NULL). coro_set_data/coro_data: one pointer for the user. coro_stack_size:
   usable bytes of co's stack. coro_stack_used: bytes of co's stack that have been touched (the
   high-water mark, page granular, read with mincore(2), on Windows the committed pages; a
   pooled stack remembers earlier users; 0 while co has no stack yet),
   -1 with errno on failure. coro_count_alive: coroutines of this thread not yet freed.
   coro_foreach calls fn for each of them (do not free or create coroutines from fn). */
CORO_API uint64_t coro_id(const coro_t *co);
CORO_API int coro_set_name(coro_t *co, const char *name);
CORO_API const char *coro_name(const coro_t *co);
CORO_API void coro_set_data(coro_t *co, void *data);
CORO_API void *coro_data(const coro_t *co);

/* coro_set_runtime/coro_runtime_data: a slot reserved for a runtime layered on coro.h
   (coro_sched.h keeps its task record there), separate from coro_data so users keep theirs.
   on_exit (may be NULL) runs when co finishes, by returning or by being killed, after all of
   co's cleanups, on co's own stack; it is not part of the cleanup list, so coro_defer_pop can
   never remove it. While data is non-NULL the coroutine belongs to that runtime: coro_free
   refuses it with EBUSY, and so does coro_resume, so a user can neither free nor resume a
   coroutine a scheduler still manages. The runtime itself resumes it with
   coro_runtime_resume(co, data, value), which is coro_resume for a coroutine whose runtime data
   is data (EBUSY if it is not, EINVAL for NULL data): the pointer is the runtime's key, and
   code that borrows it from coro_runtime_data takes over the runtime's bookkeeping. */
CORO_API void coro_set_runtime(coro_t *co, void *data, void (*on_exit)(void *data));
CORO_API void *coro_runtime_data(const coro_t *co);
CORO_API void *coro_runtime_resume(coro_t *co, const void *data, void *value);
CORO_API size_t coro_stack_size(const coro_t *co);
CORO_API long coro_stack_used(const coro_t *co);
CORO_API size_t coro_count_alive(void);
CORO_API void coro_foreach(void (*fn)(coro_t *co, void *ud), void *ud);

/* coro_pool_trim: unmap every stack in the calling thread's pool and give back the blocks of
   coroutine handles that are all free (done automatically when the thread exits); returns how
   many stacks were released. */
CORO_API size_t coro_pool_trim(void);

/* coro_pool_collect: unmap the slabs of free stacks that have stayed in the calling thread's
   pool beyond its need for CORO_POOL_DECAY_MS. coro_free does this too, whenever it leaves
   another slab idle; a program that goes quiet calls it (coro_sched.h's loop does, before it
   waits) so that a burst's stacks go back without more frees. Returns the milliseconds until
   the next slab is due, or -1 when none waits. Never fails. */
CORO_API long coro_pool_collect(void);

/* coro_guard_mode: how guards are made in this process: "madvise" (MADV_GUARD_INSTALL, Linux
   6.13+), "mprotect", "reserve" (Windows: reserved address space that is never committed),
   "none" (CORO_NO_GUARD), or "unknown" before the first coro_new. */
CORO_API const char *coro_guard_mode(void);

#ifdef __cplusplus
}
#endif
#endif /* CORO_H */

/* ============================================================================================ */
/*                                        IMPLEMENTATION                                        */
/* ============================================================================================ */
#if defined(CORO_IMPLEMENTATION) && !defined(CORO__IMPLEMENTED)
#define CORO__IMPLEMENTED

/* >>config */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
/* The operating system is named here once (CORO__WINDOWS); only the >>os-... blocks below look
   at it, each behind the same few private functions for both systems. */
#if defined(_WIN32)
#define CORO__WINDOWS 1
#if !defined(__x86_64__)
#error "coro.h: on Windows only x64 has a context switch (32-bit and ARM64 Windows are not supported)"
#endif
#ifndef WIN32_LEAN_AND_MEAN
#define WIN32_LEAN_AND_MEAN
#endif
#include <windows.h>
#else
#define CORO__WINDOWS 0
#include <pthread.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>
#if !defined(MAP_ANONYMOUS) || !defined(SA_ONSTACK)
#error "coro.h: the implementation needs POSIX extensions: put #define CORO_IMPLEMENTATION before any #include, or compile with -D_GNU_SOURCE"
#endif
#endif

#if defined(CORO_MALLOC) != defined(CORO_FREE)
#error "coro.h: define both CORO_MALLOC and CORO_FREE, or neither"
#endif
#ifndef CORO_MALLOC
#define CORO_MALLOC(sz) malloc(sz)
#define CORO_FREE(p) free(p)
#endif
#ifndef CORO_ASSERT
#include <assert.h>
#define CORO_ASSERT(x) assert(x)
#endif
#ifndef CORO_DEFAULT_STACK_SIZE
#define CORO_DEFAULT_STACK_SIZE (256u * 1024u)
#endif
#ifndef CORO_MIN_STACK_SIZE
#define CORO_MIN_STACK_SIZE (16u * 1024u)
#endif
#ifndef CORO_MAX_STACK_SIZE
#if UINTPTR_MAX > 0xffffffffu
#define CORO_MAX_STACK_SIZE ((size_t)1 << 30)
#else
#define CORO_MAX_STACK_SIZE ((size_t)256 << 20)
#endif
#endif
#ifndef CORO_GUARD_SIZE
#define CORO_GUARD_SIZE (16u * 1024u)
#endif
#ifndef CORO_POOL_SIZE
#define CORO_POOL_SIZE 64
#endif
#ifndef CORO_POOL_DECAY_MS
#define CORO_POOL_DECAY_MS 1000
#endif
#ifndef CORO_FPU_KEEP
#define CORO_FPU_KEEP 2
#endif
#define CORO__POOL_BINS 4 /* distinct stack sizes the pool keeps */
#define CORO__DEFER_INLINE 4
#define CORO__NAME_MAX 32
#define CORO__MAGIC 0x636f726fu  /* "coro": a live coroutine */
#define CORO__POOLED 0x706f6f6cu /* "pool": freed, stack kept in the pool */

/* flags */
#define CORO__F_STARTED 1u /* switched to at least once (set by the switch, when it inherits
                              the floating-point modes); main always has it */
#define CORO__F_KILL 2u  /* a kill is pending: unwind as soon as we are switched to */
#define CORO__F_DYING 4u /* running cleanups: no more switching away */

#if defined(__GNUC__) || defined(__clang__)
#define CORO__LIKELY(x) __builtin_expect(!!(x), 1)
#define CORO__UNLIKELY(x) __builtin_expect(!!(x), 0)
#define CORO__NOINLINE __attribute__((noinline))
#define CORO__INLINE static inline __attribute__((always_inline))
#define CORO__NORETURN __attribute__((noreturn))
#define CORO__UNUSED __attribute__((unused))
/* Every function that switches stacks is opaque to interprocedural analysis. The switch is an
   asm statement that, as far as the compiler knows, only touches memory whose address escaped;
   in truth it runs arbitrary code (other coroutines) that may write any static variable. GCC's
   ipa-reference would otherwise keep a file-static counter in a register across coro_resume
   when the implementation sits in the same translation unit (or under LTO). As an unknown
   function, a switching call may call back anything whose address was taken, which is true. */
#if defined(__clang__) || !defined(__GNUC__) || __GNUC__ < 8
#define CORO__OPAQUE __attribute__((noinline))
#else
#define CORO__OPAQUE __attribute__((noipa))
#endif
#else
#error "coro.h needs GCC or Clang (inline assembly)"
#endif

#ifdef CORO_DEBUG
#include <stdio.h>
#endif

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define CORO__HAVE_ASAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__) && !defined(CORO__HAVE_ASAN)
#define CORO__HAVE_ASAN 1
#endif
#if defined(CORO__HAVE_ASAN) && !defined(CORO_NO_ASAN)
#define CORO__ASAN 1
#else
#define CORO__ASAN 0
#endif

#if defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define CORO__HAVE_TSAN 1
#endif
#endif
#if defined(__SANITIZE_THREAD__) && !defined(CORO__HAVE_TSAN)
#define CORO__HAVE_TSAN 1
#endif
#if defined(CORO__HAVE_TSAN) && !defined(CORO_NO_TSAN)
#define CORO__TSAN 1
#else
#define CORO__TSAN 0
#endif

#if !defined(CORO_NO_VALGRIND) && !CORO__WINDOWS && defined(__has_include) /* no Valgrind there */
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#define CORO__VALGRIND 1
#endif
#endif
#ifndef CORO__VALGRIND
#define CORO__VALGRIND 0
#endif

/* Which architecture block is compiled in. Hand-written switches exist for x86-64, i386,
   aarch64, riscv64 (LP64D), 32-bit ARM (ARMv7-A, hard-float; ARM or Thumb-2 code) and ppc64le
   (ELFv2); any other architecture, or any of these with CORO_PORTABLE_SWITCH defined, gets the
   portable switch (>>portable: the C library's setjmp/longjmp, slower). */
#if defined(CORO_PORTABLE_SWITCH) && CORO__WINDOWS
#error "coro.h: the portable switch (CORO_PORTABLE_SWITCH) needs POSIX's setjmp and ucontext"
#elif defined(CORO_PORTABLE_SWITCH)
#define CORO__ARCH_PORTABLE 1
#elif defined(__x86_64__)
#define CORO__ARCH_X86_64 1
#elif defined(__i386__)
#define CORO__ARCH_I386 1
#elif defined(__aarch64__)
#define CORO__ARCH_AARCH64 1
#elif defined(__riscv) && defined(__riscv_xlen) && __riscv_xlen == 64
#define CORO__ARCH_RISCV64 1
#elif defined(__arm__) && defined(__ARM_PCS_VFP) && defined(__ARM_ARCH) && __ARM_ARCH >= 7 && \
    (defined(__ARM_ARCH_ISA_ARM) || defined(__thumb2__))
#define CORO__ARCH_ARM 1
#elif defined(__powerpc64__) && defined(_CALL_ELF) && _CALL_ELF == 2 && defined(__LITTLE_ENDIAN__)
#define CORO__ARCH_PPC64LE 1
#else
#define CORO__ARCH_PORTABLE 1
#endif

/* Each architecture block below defines the same names and nothing outside them is
   architecture specific. Two kinds of switch exist:
   - a swap function (x86-64 and i386 without ASan, CORO__SWAP_FN): coro__swap(from, to, value)
     pushes the callee-saved registers on the current stack, stores the stack pointer in
     from->ctx.sp, loads to's, pops to's registers and its resume address, and jumps there with
     value in the return register. The switching functions end with a tail call to it, so a
     switch ends in an indirect jump, which the branch predictor learns, never in a `ret` whose
     return-stack prediction belongs to the other coroutine (as after a resume or a yield: that
     misprediction cost more than the rest of the switch). coro__swap_peer(from, to, value),
     coro_transfer's, is the same but ends in a `ret` when to's resume address is from's own:
     then the two left through the same call site (as a scheduler's tasks handing over to each
     other do), the return stack predicts it, and it stays in step for the rets that follow; the
     jump left it one entry off, so the next ret was mispredicted (a yield between two
     scheduled tasks: 24 ns, 12.3 with the ret). coro__swap_final(from, to, value) is a finished
     coroutine's last switch, ending in a `ret` (see coro__jump_final for when it is used), and
     coro__ctx_first_sp(top) where a new coroutine's context block is, which ctx.sp keeps until
     the coroutine first switches away.
     coro__ctx_arm_kill(co) makes co's next resume land in coro__kill_entry instead.
   - an inline switch (every other architecture, and any build under ASan, which must run code
     after the switch): CORO__SWITCH(from, to, val) in the middle of a C function, with a kill
     flag checked after; it leaves in `from` who switched back to us and in `val` what was passed.
   Both provide:
     coro__ctx                      the saved context (its first member is the stack pointer)
     coro__fpu                      the callee-saved floating-point control state
     coro__ctx_init(co, top)        make co start in coro__start on stack top
     coro__fpu_save(f) / coro__fpu_load(f) / coro__fpu_swap(from, to) / coro__fpu_inherit(to, from)
     coro__shadow_stack_active()    nonzero if a CET shadow stack is enabled in this thread
     CORO__START_PARAMS, CORO__START_FROM   coro__start's parameters, and who switched to it
     CORO__ARCH_NAME */
struct coro;
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ < 8
#define CORO__NAKED_OK 0
#else
#define CORO__NAKED_OK 1
#endif
/* x86 uses the swap function wherever it can: the inline switch there measured 15.8 ns a
   switch against 6.3 (every switching function then ends in a `ret` onto the other stack). */
#if (defined(CORO__ARCH_X86_64) || defined(CORO__ARCH_I386)) && !CORO__ASAN && !CORO__TSAN && \
    CORO__NAKED_OK
#define CORO__SWAP_FN 1
#else
#define CORO__SWAP_FN 0
#endif
#if defined(CORO__ARCH_I386)
#define CORO__START_ATTR __attribute__((regparm(3)))
#if CORO__SWAP_FN
#define CORO__START_PARAMS void *value, struct coro *self /* eax, edx after coro__swap */
#define CORO__START_FROM NULL
#endif
#else
#define CORO__START_ATTR
#endif
#ifndef CORO__START_PARAMS
#define CORO__START_PARAMS struct coro *from CORO__UNUSED, struct coro *self, void *value
#define CORO__START_FROM from
#endif
static CORO__START_ATTR void coro__start(CORO__START_PARAMS);
static CORO__START_ATTR CORO__UNUSED void coro__kill_entry_c(struct coro *co);

/* >>x86 floating point (x86-64 and i386) */
#if defined(CORO__ARCH_X86_64) || defined(CORO__ARCH_I386)
typedef struct coro__fpu {
    uint32_t mxcsr;
    uint16_t x87cw;
} coro__fpu;
#if defined(CORO__ARCH_X86_64)
#define CORO__HAS_MXCSR 1
#else
static int coro__has_sse = -1; /* on i386 MXCSR exists only with SSE: asked once with cpuid */
static int coro__i386_sse(void) { /* relaxed atomics: threads may ask at once */
    int has = __atomic_load_n(&coro__has_sse, __ATOMIC_RELAXED);
    if (has < 0) {
        uint32_t a = 1, b, c = 0, d;
        __asm__ volatile("xchgl %%ebx, %1\n\tcpuid\n\txchgl %%ebx, %1"
                         : "+a"(a), "=r"(b), "+c"(c), "=d"(d));
        (void)b;
        has = (int)((d >> 25) & 1);
        __atomic_store_n(&coro__has_sse, has, __ATOMIC_RELAXED);
    }
    return has;
}
#define CORO__HAS_MXCSR (__atomic_load_n(&coro__has_sse, __ATOMIC_RELAXED) > 0)
#endif
/* CORO_FPU_KEEP 2: MXCSR and the x87 control word are saved on every switch and the other
   side's MXCSR loaded unconditionally. Reading MXCSR is microcoded on some CPUs (about 4 ns on
   AMD Zen 4 and 5), and comparing before loading makes the switch wait for that read, which
   costs more than the load it would save; each coroutine also keeps its own MXCSR status flags
   this way. The x87 word, which fnstcw reads cheaply, is loaded only when it differs: fldcw
   cost about 0.3 ns a switch more than the comparison on Zen 5.
   CORO_FPU_KEEP 1: only the cheap x87 control word is read on every switch; MXCSR is read when
   that word changed (fesetround, fesetenv and friends change both) and loaded when it differs.
   CORO_FPU_KEEP 0: nothing is kept. */
CORO__INLINE void coro__fpu_save(coro__fpu *f) {
#if CORO_FPU_KEEP > 0
    __asm__ volatile("fnstcw %0" : "=m"(f->x87cw));
    if (CORO__HAS_MXCSR) __asm__ volatile("stmxcsr %0" : "=m"(f->mxcsr));
#else
    (void)f;
#endif
}
CORO__INLINE void coro__fpu_load(const coro__fpu *f) {
#if CORO_FPU_KEEP > 0
    __asm__ volatile("fldcw %0" : : "m"(f->x87cw));
    if (CORO__HAS_MXCSR) __asm__ volatile("ldmxcsr %0" : : "m"(f->mxcsr));
#else
    (void)f;
#endif
}
/* A coroutine switched to for the first time runs with the modes just saved from `from`. Its
   record needs them only where coro__fpu_swap compares against the leaving side's record
   (CORO_FPU_KEEP 1); at 2 and 0 nothing reads it before it is written, and reading back the
   MXCSR that stmxcsr just stored waits for that microcoded store (several ns on AMD Zen).
   Field by field: a struct copy would read both with one load, which waits for the two stores
   that just wrote them. */
CORO__INLINE void coro__fpu_inherit(coro__fpu *to, const coro__fpu *from) {
#if CORO_FPU_KEEP == 1
    to->mxcsr = from->mxcsr;
    to->x87cw = from->x87cw;
#else
    (void)to;
    (void)from;
#endif
}
CORO__INLINE void coro__fpu_swap(coro__fpu *from, const coro__fpu *to) {
#if CORO_FPU_KEEP >= 2
    coro__fpu_save(from);
    if (CORO__UNLIKELY(to->x87cw != from->x87cw)) __asm__ volatile("fldcw %0" : : "m"(to->x87cw));
    if (CORO__HAS_MXCSR) __asm__ volatile("ldmxcsr %0" : : "m"(to->mxcsr));
#elif CORO_FPU_KEEP == 1
    uint16_t cw;
    __asm__ volatile("fnstcw %0" : "=m"(cw));
    if (CORO__UNLIKELY(cw != from->x87cw)) {
        from->x87cw = cw;
        if (CORO__HAS_MXCSR) __asm__ volatile("stmxcsr %0" : "=m"(from->mxcsr));
    }
    if (CORO__UNLIKELY(to->x87cw != cw)) __asm__ volatile("fldcw %0" : : "m"(to->x87cw));
    if (CORO__UNLIKELY(to->mxcsr != from->mxcsr) && CORO__HAS_MXCSR)
        __asm__ volatile("ldmxcsr %0" : : "m"(to->mxcsr));
#else
    (void)from;
    (void)to;
#endif
}
#endif

/* >>x86_64 windows */
#if defined(CORO__ARCH_X86_64) && CORO__WINDOWS
#define CORO__ARCH_NAME "x86-64 (Windows)"
#if !CORO__SWAP_FN
#error "coro.h: on Windows x64 only the swap function exists (no ASan)"
#endif
static int coro__shadow_stack_active(void) {
    uintptr_t ssp = 0;
    __asm__ volatile(".byte 0xf3, 0x48, 0x0f, 0x1e, 0xc8" /* rdsspq %rax */ : "+a"(ssp));
    return ssp != 0;
}
/* The Microsoft x64 convention makes rbx, rbp, rdi, rsi, r12-r15 and xmm6-xmm15 callee-saved
   (MXCSR and the x87 control word are kept by the x86 floating-point block). Windows also keeps
   the running stack's bounds in the thread's TEB, and uses them: the kernel (and Wine) grow a
   stack only between DeallocationStack and StackBase, the exception dispatcher rejects frames
   outside StackLimit..StackBase, and a fiber's data is FiberData. So those four words are part
   of a context too. The saved block on the coroutine's own stack (ctx.sp points at it):
     sp[0..19]  xmm6..xmm15 (unaligned moves: the block's alignment differs for a new coroutine)
     sp[20..23] FiberData (gs:0x20), DeallocationStack (gs:0x1478), StackLimit (gs:0x10),
                StackBase (gs:0x08)
     sp[24..31] r15 r14 r13 r12 rsi rdi rbx rbp
     sp[32]     the resume address
   rcx = from, rdx = to, r8 = value on entry; rax = value when the other side resumes, and rcx,
   rdx, r8 still hold from, to, value: a new coroutine enters coro__start(from, self, value) with
   them as its arguments. */
typedef struct coro__ctx {
    void *sp;
} coro__ctx;
/* The push of from's registers and the pop of to's, shared by the swaps below. */
#define CORO__SWAP_SAVE                                                                            \
    "pushq %rbp\n\t"                                                                               \
    "pushq %rbx\n\t"                                                                               \
    "pushq %rdi\n\t"                                                                               \
    "pushq %rsi\n\t"                                                                               \
    "pushq %r12\n\t"                                                                               \
    "pushq %r13\n\t"                                                                               \
    "pushq %r14\n\t"                                                                               \
    "pushq %r15\n\t"                                                                               \
    "pushq %gs:0x08\n\t"                                                                           \
    "pushq %gs:0x10\n\t"                                                                           \
    "pushq %gs:0x1478\n\t"                                                                         \
    "pushq %gs:0x20\n\t"                                                                           \
    "subq $160, %rsp\n\t"                                                                          \
    "movups %xmm6, 0(%rsp)\n\t"                                                                    \
    "movups %xmm7, 16(%rsp)\n\t"                                                                   \
    "movups %xmm8, 32(%rsp)\n\t"                                                                   \
    "movups %xmm9, 48(%rsp)\n\t"                                                                   \
    "movups %xmm10, 64(%rsp)\n\t"                                                                  \
    "movups %xmm11, 80(%rsp)\n\t"                                                                  \
    "movups %xmm12, 96(%rsp)\n\t"                                                                  \
    "movups %xmm13, 112(%rsp)\n\t"                                                                 \
    "movups %xmm14, 128(%rsp)\n\t"                                                                 \
    "movups %xmm15, 144(%rsp)\n\t"
#define CORO__SWAP_STORE "movq %rsp, (%rcx)\n\t"
#define CORO__SWAP_LOAD                                                                            \
    "movq (%rdx), %rsp\n\t"                                                                        \
    "movups 0(%rsp), %xmm6\n\t"                                                                    \
    "movups 16(%rsp), %xmm7\n\t"                                                                   \
    "movups 32(%rsp), %xmm8\n\t"                                                                   \
    "movups 48(%rsp), %xmm9\n\t"                                                                   \
    "movups 64(%rsp), %xmm10\n\t"                                                                  \
    "movups 80(%rsp), %xmm11\n\t"                                                                  \
    "movups 96(%rsp), %xmm12\n\t"                                                                  \
    "movups 112(%rsp), %xmm13\n\t"                                                                 \
    "movups 128(%rsp), %xmm14\n\t"                                                                 \
    "movups 144(%rsp), %xmm15\n\t"                                                                 \
    "addq $160, %rsp\n\t"                                                                          \
    "popq %gs:0x20\n\t"                                                                            \
    "popq %gs:0x1478\n\t"                                                                          \
    "popq %gs:0x10\n\t"                                                                            \
    "popq %gs:0x08\n\t"                                                                            \
    "popq %r15\n\t"                                                                                \
    "popq %r14\n\t"                                                                                \
    "popq %r13\n\t"                                                                                \
    "popq %r12\n\t"                                                                                \
    "popq %rsi\n\t"                                                                                \
    "popq %rdi\n\t"                                                                                \
    "popq %rbx\n\t"                                                                                \
    "popq %rbp\n\t"                                                                                \
    "movq %r8, %rax\n\t"
static __attribute__((naked, noinline)) void *coro__swap(struct coro *from CORO__UNUSED,
                                                        struct coro *to CORO__UNUSED,
                                                        void *value CORO__UNUSED) {
    __asm__ volatile(CORO__SWAP_SAVE CORO__SWAP_STORE CORO__SWAP_LOAD "popq %r11\n\t"
                                                                      "jmpq *%r11\n\t");
}
/* coro_transfer's swap: r10 keeps our own resume address, which is what the return stack
   predicts; when to's is the same one, a ret. */
static __attribute__((naked, noinline)) void *coro__swap_peer(struct coro *from CORO__UNUSED,
                                                             struct coro *to CORO__UNUSED,
                                                             void *value CORO__UNUSED) {
    __asm__ volatile(CORO__SWAP_SAVE "movq 256(%rsp), %r10\n\t" CORO__SWAP_STORE CORO__SWAP_LOAD
                                     "cmpq (%rsp), %r10\n\t"
                                     "jne 1f\n\t"
                                     "ret\n"
                                     "1:\n\t"
                                     "popq %r11\n\t"
                                     "jmpq *%r11\n\t");
}
/* A finished coroutine's last switch, to its resumer, ending in a ret (see coro__jump_final).
   Its block is saved still: the stack's next user reads the StackLimit in it. */
static __attribute__((naked, noinline)) void coro__swap_final(struct coro *from CORO__UNUSED,
                                                             struct coro *to CORO__UNUSED,
                                                             void *value CORO__UNUSED) {
    __asm__ volatile(CORO__SWAP_SAVE CORO__SWAP_STORE CORO__SWAP_LOAD "ret\n\t");
}
/* A killed coroutine resumes here, on its own stack, with itself in rdx and coro__kill_entry_c
   in r12 (put there by coro__ctx_arm_kill); the call gets its 32 bytes of home space. */
static __attribute__((naked, noinline, used)) void coro__kill_stub(void) {
    __asm__ volatile("andq $-16, %rsp\n\t"
                     "subq $32, %rsp\n\t"
                     "movq %rdx, %rcx\n\t"
                     "callq *%r12\n\t"
                     "ud2\n\t");
}
/* Where a new coroutine's context block is; ctx.sp stays there until it first switches away. */
static void **coro__ctx_first_sp(char *top) {
    return (void **)((uintptr_t)top & ~(uintptr_t)15) - 38;
}
static void coro__os_stack_bounds(const char *top, void **dealloc, void **limit);
static void coro__ctx_init(coro__ctx *ctx, char *top) {
    /* coro__start is entered as if called: a zero return address at rsp (where unwinders stop),
       rsp+8 16-byte aligned and the 32 bytes above it its home space. The stack's bounds come
       from the memory block (>>os-memory windows); FiberData is inherited from the thread that
       switches to it first. */
    void **sp = coro__ctx_first_sp(top);
    void *dealloc, *limit;
    coro__os_stack_bounds(top, &dealloc, &limit);
    memset(sp, 0, 38 * sizeof *sp);
    __asm__ volatile("movq %%gs:0x20, %0" : "=r"(sp[20]));
    sp[21] = dealloc;
    sp[22] = limit;
    sp[23] = top;
    sp[32] = (void *)(uintptr_t)&coro__start;
    ctx->sp = sp;
}
static void coro__ctx_arm_kill(coro__ctx *ctx) {
    void **sp = (void **)ctx->sp;
    sp[27] = (void *)(uintptr_t)&coro__kill_entry_c; /* r12 */
    sp[32] = (void *)(uintptr_t)&coro__kill_stub;
}

/* >>x86_64 */
#elif defined(CORO__ARCH_X86_64)
#define CORO__ARCH_NAME "x86-64"
static int coro__shadow_stack_active(void) {
    /* rdsspq leaves its register unchanged (it is a NOP) unless a shadow stack is active */
    uintptr_t ssp = 0;
    __asm__ volatile(".byte 0xf3, 0x48, 0x0f, 0x1e, 0xc8" /* rdsspq %rax */ : "+a"(ssp));
    return ssp != 0;
}

#if CORO__SWAP_FN
/* The saved context is a block on the coroutine's own stack (tools/coro-gdb.py reads it in this
   order too; change both together); ctx.sp points at it:
     sp[0..5] = r15 r14 r13 r12 rbx rbp  (the System V callee-saved registers)
     sp[6]    = the resume address
   rdi = from, rsi = to, rdx = value on entry; rax = value when the other side resumes, and rdi,
   rsi, rdx still hold from, to, value: a new coroutine enters coro__start(from, self, value)
   with them as its arguments. The stack pointer moves in one instruction from one valid stack
   to another. */
typedef struct coro__ctx {
    void *sp;
} coro__ctx;
/* The push of from's registers and the pop of to's, shared by the swaps below. */
#define CORO__SWAP_SAVE                                                                            \
    ".byte 0xf3, 0x0f, 0x1e, 0xfa\n\t" /* endbr64 */                                               \
    "pushq %rbp\n\t"                                                                               \
    "pushq %rbx\n\t"                                                                               \
    "pushq %r12\n\t"                                                                               \
    "pushq %r13\n\t"                                                                               \
    "pushq %r14\n\t"                                                                               \
    "pushq %r15\n\t"
#define CORO__SWAP_STORE "movq %rsp, (%rdi)\n\t"
#define CORO__SWAP_LOAD                                                                            \
    "movq (%rsi), %rsp\n\t"                                                                        \
    "popq %r15\n\t"                                                                                \
    "popq %r14\n\t"                                                                                \
    "popq %r13\n\t"                                                                                \
    "popq %r12\n\t"                                                                                \
    "popq %rbx\n\t"                                                                                \
    "popq %rbp\n\t"                                                                                \
    "movq %rdx, %rax\n\t"
static __attribute__((naked, noinline)) void *coro__swap(struct coro *from CORO__UNUSED,
                                                        struct coro *to CORO__UNUSED,
                                                        void *value CORO__UNUSED) {
    __asm__ volatile(CORO__SWAP_SAVE CORO__SWAP_STORE CORO__SWAP_LOAD "popq %rcx\n\t"
                                                                      "jmpq *%rcx\n\t");
}
/* coro_transfer's swap: r11 keeps our own resume address, which is what the return stack
   predicts; when to's is the same one, a ret. */
static __attribute__((naked, noinline)) void *coro__swap_peer(struct coro *from CORO__UNUSED,
                                                             struct coro *to CORO__UNUSED,
                                                             void *value CORO__UNUSED) {
    __asm__ volatile(CORO__SWAP_SAVE "movq 48(%rsp), %r11\n\t" CORO__SWAP_STORE CORO__SWAP_LOAD
                                     "cmpq (%rsp), %r11\n\t"
                                     "jne 1f\n\t"
                                     "ret\n"
                                     "1:\n\t"
                                     "popq %rcx\n\t"
                                     "jmpq *%rcx\n\t");
}
/* A finished coroutine's last switch, to its resumer: nothing of it is saved, and it ends in a
   ret (see coro__jump_final). */
static __attribute__((naked, noinline)) void coro__swap_final(struct coro *from CORO__UNUSED,
                                                             struct coro *to CORO__UNUSED,
                                                             void *value CORO__UNUSED) {
    __asm__ volatile(CORO__SWAP_LOAD "ret\n\t");
}
/* A killed coroutine resumes here, on its own stack, with itself in rsi and coro__kill_entry_c
   in r12 (both put there by coro__ctx_arm_kill): it never returns to its body. */
static __attribute__((naked, noinline, used)) void coro__kill_stub(void) {
    __asm__ volatile(".byte 0xf3, 0x0f, 0x1e, 0xfa\n\t" /* endbr64 */
                     "andq $-16, %rsp\n\t"
                     "movq %rsi, %rdi\n\t"
                     "callq *%r12\n\t"
                     "ud2\n\t");
}
/* Where a new coroutine's context block is; ctx.sp stays there until it first switches away. */
static void **coro__ctx_first_sp(char *top) {
    return (void **)((uintptr_t)top & ~(uintptr_t)15) - 8;
}
static void coro__ctx_init(coro__ctx *ctx, char *top) {
    /* coro__start is entered as if called: rsp+8 16-byte aligned, a zero return address and a
       zero rbp so that debuggers and unwinders stop there */
    void **sp = coro__ctx_first_sp(top);
    memset(sp, 0, 8 * sizeof *sp);
    sp[6] = (void *)(uintptr_t)&coro__start;
    ctx->sp = sp;
}
static void coro__ctx_arm_kill(coro__ctx *ctx) {
    void **sp = (void **)ctx->sp;
    sp[3] = (void *)(uintptr_t)&coro__kill_entry_c; /* r12 */
    sp[6] = (void *)(uintptr_t)&coro__kill_stub;
}
#else
/* The inline switch (under ASan): one asm block that clobbers every register a call may
   clobber plus the callee-saved rbx and r12-r15, so the compiler spills only what is live. rbp
   may be the frame pointer and cannot be clobbered: it is saved in the context with rsp and
   the resume address, not pushed (the asm must not write below rsp, a leaf's red zone). The
   operands travel in rdi, rsi, rdx, the argument registers of coro__start. */
typedef struct coro__ctx {
    void *sp, *fp, *ip;
} coro__ctx;
#if defined(__AVX512F__)
#define CORO__X86_HI_CLOBBERS , "xmm16", "xmm17", "xmm18", "xmm19", "xmm20", "xmm21", "xmm22", \
    "xmm23", "xmm24", "xmm25", "xmm26", "xmm27", "xmm28", "xmm29", "xmm30", "xmm31",         \
    "k1", "k2", "k3", "k4", "k5", "k6", "k7"
#else
#define CORO__X86_HI_CLOBBERS
#endif
#define CORO__SWITCH(from, to, val)                                                           \
    __asm__ volatile("leaq 1f(%%rip), %%rax\n\t"                                              \
                     "movq %%rsp, 0(%%rdi)\n\t"                                               \
                     "movq %%rbp, 8(%%rdi)\n\t"                                               \
                     "movq %%rax, 16(%%rdi)\n\t"                                              \
                     "movq 0(%%rsi), %%rsp\n\t"                                               \
                     "movq 8(%%rsi), %%rbp\n\t"                                               \
                     "jmpq *16(%%rsi)\n"                                                      \
                     "1:\t.byte 0xf3, 0x0f, 0x1e, 0xfa\n\t" /* endbr64 */                     \
                     : "+D"(from), "+S"(to), "+d"(val)                                        \
                     :                                                                        \
                     : "rax", "rbx", "rcx", "r8", "r9", "r10", "r11", "r12", "r13", "r14",    \
                       "r15", "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", \
                       "xmm8", "xmm9", "xmm10", "xmm11", "xmm12", "xmm13", "xmm14", "xmm15",  \
                       "st", "st(1)", "st(2)", "st(3)", "st(4)", "st(5)", "st(6)", "st(7)",   \
                       "memory", "cc" CORO__X86_HI_CLOBBERS)
static void coro__ctx_init(coro__ctx *ctx, char *top) {
    void **sp = (void **)((uintptr_t)top & ~(uintptr_t)15) - 1;
    *sp = 0;
    ctx->sp = sp;
    ctx->fp = 0;
    ctx->ip = (void *)(uintptr_t)&coro__start;
}
#endif

/* >>i386 */
#elif defined(CORO__ARCH_I386)
#define CORO__ARCH_NAME "i386"
static int coro__shadow_stack_active(void) {
    uintptr_t ssp = 0;
    __asm__ volatile(".byte 0xf3, 0x0f, 0x1e, 0xc8" /* rdsspd %eax */ : "+a"(ssp));
    return ssp != 0;
}
#if CORO__SWAP_FN
/* i386 (cdecl): ebx, esi, edi, ebp are callee-saved. The saved block on the coroutine's stack:
     sp[0..3] = edi esi ebx ebp, sp[4] = the resume address.
   coro__swap is regparm(3): eax = from, edx = to, ecx = value; the other side resumes with
   eax = value and edx = to, the regparm(3) arguments of coro__start(value, self). */
typedef struct coro__ctx {
    void *sp;
} coro__ctx;
/* GCC inserts a PIC-register prologue into naked functions on i386 at -O0, so here the
   routines are written as assembly at file scope: weak hidden symbols, so that several
   translation units (CORO_STATIC) may each carry the same copy. */
/* The push of from's registers (with their unwind notes) and the pop of to's, shared by the
   swaps below. */
#define CORO__SWAP_SAVE                                                                            \
    ".cfi_startproc\n\t"                                                                           \
    ".byte 0xf3, 0x0f, 0x1e, 0xfb\n\t" /* endbr32 */                                              \
    "pushl %ebp\n\t"                                                                               \
    ".cfi_adjust_cfa_offset 4\n\t"                                                                 \
    "pushl %ebx\n\t"                                                                               \
    ".cfi_adjust_cfa_offset 4\n\t"                                                                 \
    "pushl %esi\n\t"                                                                               \
    ".cfi_adjust_cfa_offset 4\n\t"                                                                 \
    "pushl %edi\n\t"                                                                               \
    ".cfi_adjust_cfa_offset 4\n\t"
#define CORO__SWAP_LOAD                                                                            \
    "popl %edi\n\t"                                                                                \
    "popl %esi\n\t"                                                                                \
    "popl %ebx\n\t"                                                                                \
    "popl %ebp\n\t"
#ifdef __cplusplus
extern "C" {
#endif
__attribute__((regparm(3))) void *coro__swap_i386_v1(struct coro *from, struct coro *to,
                                                     void *value);
__attribute__((regparm(3))) void *coro__swap_peer_i386_v1(struct coro *from, struct coro *to,
                                                          void *value);
__attribute__((regparm(3))) void coro__swap_final_i386_v1(struct coro *from, struct coro *to,
                                                          void *value);
void coro__kill_stub_i386_v1(void);
#ifdef __cplusplus
}
#endif
__asm__(".pushsection .text\n"
        ".weak coro__swap_i386_v1\n"
        ".hidden coro__swap_i386_v1\n"
        ".type coro__swap_i386_v1, @function\n"
        "coro__swap_i386_v1:\n\t"
        CORO__SWAP_SAVE
        "movl %esp, (%eax)\n\t"
        "movl (%edx), %esp\n\t"
        "movl %ecx, %eax\n\t"
        CORO__SWAP_LOAD
        "popl %ecx\n\t"
        "jmpl *%ecx\n\t"
        ".cfi_endproc\n"
        ".size coro__swap_i386_v1, .-coro__swap_i386_v1\n"
        /* coro_transfer's swap: eax keeps our own resume address, which is what the return
           stack predicts; when to's is the same one, a ret */
        ".weak coro__swap_peer_i386_v1\n"
        ".hidden coro__swap_peer_i386_v1\n"
        ".type coro__swap_peer_i386_v1, @function\n"
        "coro__swap_peer_i386_v1:\n\t"
        CORO__SWAP_SAVE
        "movl %esp, (%eax)\n\t"
        "movl 16(%esp), %eax\n\t"
        "movl (%edx), %esp\n\t"
        CORO__SWAP_LOAD
        "cmpl (%esp), %eax\n\t"
        "movl %ecx, %eax\n\t"
        "jne 1f\n\t"
        "ret\n"
        "1:\n\t"
        "popl %ecx\n\t"
        "jmpl *%ecx\n\t"
        ".cfi_endproc\n"
        ".size coro__swap_peer_i386_v1, .-coro__swap_peer_i386_v1\n"
        /* a finished coroutine's last switch: nothing of it is saved, and it ends in a ret */
        ".weak coro__swap_final_i386_v1\n"
        ".hidden coro__swap_final_i386_v1\n"
        ".type coro__swap_final_i386_v1, @function\n"
        "coro__swap_final_i386_v1:\n\t"
        ".byte 0xf3, 0x0f, 0x1e, 0xfb\n\t" /* endbr32 */
        "movl (%edx), %esp\n\t"
        "movl %ecx, %eax\n\t"
        CORO__SWAP_LOAD
        "ret\n"
        ".size coro__swap_final_i386_v1, .-coro__swap_final_i386_v1\n"
        /* a killed coroutine resumes here with itself in edx and coro__kill_entry_c in esi */
        ".weak coro__kill_stub_i386_v1\n"
        ".hidden coro__kill_stub_i386_v1\n"
        ".type coro__kill_stub_i386_v1, @function\n"
        "coro__kill_stub_i386_v1:\n\t"
        ".byte 0xf3, 0x0f, 0x1e, 0xfb\n\t"
        "andl $-16, %esp\n\t"
        "movl %edx, %eax\n\t"
        "calll *%esi\n\t"
        "ud2\n"
        ".size coro__kill_stub_i386_v1, .-coro__kill_stub_i386_v1\n"
        ".popsection\n");
#define coro__swap coro__swap_i386_v1
#define coro__swap_peer coro__swap_peer_i386_v1
#define coro__swap_final coro__swap_final_i386_v1
#define coro__kill_stub coro__kill_stub_i386_v1
/* Where a new coroutine's context block is; ctx.sp stays there until it first switches away. */
static void **coro__ctx_first_sp(char *top) {
    return (void **)((uintptr_t)top & ~(uintptr_t)15) - 6;
}
static void coro__ctx_init(coro__ctx *ctx, char *top) {
    /* at entry (esp + 4) is 16-byte aligned: the slot at esp is the (zero) return address */
    void **sp = coro__ctx_first_sp(top);
    memset(sp, 0, 6 * sizeof *sp);
    sp[4] = (void *)(uintptr_t)&coro__start;
    ctx->sp = sp;
}
static void coro__ctx_arm_kill(coro__ctx *ctx) {
    void **sp = (void **)ctx->sp;
    sp[1] = (void *)(uintptr_t)&coro__kill_entry_c; /* esi */
    sp[4] = (void *)(uintptr_t)&coro__kill_stub;
}
#else
/* The inline switch (under ASan): ebx may be the PIC register and ebp the frame pointer, so
   both are saved in the context with esp and the resume address; esi/edi are clobbered. The
   address of label 1 comes from a call to the next instruction (CPUs special-case it so the
   return-stack predictor is not disturbed). Operands travel in eax, edx, ecx: the regparm(3)
   argument registers of coro__start. */
typedef struct coro__ctx {
    void *sp, *fp, *ip, *bx;
} coro__ctx;
#if defined(__SSE__)
#define CORO__I386_XMM , "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7"
#else
#define CORO__I386_XMM
#endif
#define CORO__SWITCH(from, to, val)                                                         \
    __asm__ volatile("call 2f\n"                                                            \
                     "2:\tpopl %%esi\n\t"                                                   \
                     "addl $(1f-2b), %%esi\n\t"                                             \
                     "movl %%esp, 0(%%eax)\n\t"                                             \
                     "movl %%ebp, 4(%%eax)\n\t"                                             \
                     "movl %%esi, 8(%%eax)\n\t"                                             \
                     "movl %%ebx, 12(%%eax)\n\t"                                            \
                     "movl 0(%%edx), %%esp\n\t"                                             \
                     "movl 4(%%edx), %%ebp\n\t"                                             \
                     "movl 12(%%edx), %%ebx\n\t"                                            \
                     "jmpl *8(%%edx)\n"                                                     \
                     "1:\t.byte 0xf3, 0x0f, 0x1e, 0xfb\n\t" /* endbr32 */                   \
                     : "+a"(from), "+d"(to), "+c"(val)                                      \
                     :                                                                      \
                     : "esi", "edi", "st", "st(1)", "st(2)", "st(3)", "st(4)", "st(5)",     \
                       "st(6)", "st(7)", "memory", "cc" CORO__I386_XMM)
static void coro__ctx_init(coro__ctx *ctx, char *top) {
    void **sp = (void **)((uintptr_t)top & ~(uintptr_t)15) - 1;
    *sp = 0;
    ctx->sp = sp;
    ctx->fp = 0;
    ctx->bx = 0;
    ctx->ip = (void *)(uintptr_t)&coro__start;
}
#endif

/* >>aarch64 */
#elif defined(CORO__ARCH_AARCH64)
#define CORO__ARCH_NAME "aarch64"
typedef struct coro__ctx {
    void *sp, *fp, *ip;
} coro__ctx;
typedef struct coro__fpu {
    uint64_t fpcr;
} coro__fpu;
/* FPCR (rounding mode, flush-to-zero, default NaN) is callee-saved; reading it is cheap, so it
   is compared and written only when the other side's differs (CORO_FPU_KEEP 0: not kept). */
CORO__INLINE void coro__fpu_save(coro__fpu *f) {
#if CORO_FPU_KEEP > 0
    __asm__ volatile("mrs %0, fpcr" : "=r"(f->fpcr));
#else
    (void)f;
#endif
}
CORO__INLINE void coro__fpu_load(const coro__fpu *f) {
#if CORO_FPU_KEEP > 0
    __asm__ volatile("msr fpcr, %0" : : "r"(f->fpcr));
#else
    (void)f;
#endif
}
CORO__INLINE void coro__fpu_inherit(coro__fpu *to, const coro__fpu *from) { to->fpcr = from->fpcr; }
CORO__INLINE void coro__fpu_swap(coro__fpu *from, const coro__fpu *to) {
    coro__fpu_save(from);
    if (CORO__UNLIKELY(from->fpcr != to->fpcr)) coro__fpu_load(to);
}
/* AAPCS64: x19-x28, x29 (frame pointer), sp and d8-d15 are callee-saved. x29 is saved in the
   context with sp and the resume address; everything else, x30, x18 (a plain temporary on
   Linux: forgetting it let GCC keep a pointer there across the switch) and all of v0-v31
   included, is clobbered so the compiler saves only what is live. The jump goes through x16, which a
   "bti c" landing pad accepts, and label 1 carries "bti jc". Operands travel in x0-x2, the
   argument registers of coro__start. */
#define CORO__SWITCH(from, to, val)                                                          \
    do {                                                                                     \
        register void *coro__x0 __asm__("x0") = (void *)(from);                              \
        register void *coro__x1 __asm__("x1") = (void *)(to);                                \
        register void *coro__x2 __asm__("x2") = (void *)(val);                               \
        __asm__ volatile("mov x9, sp\n\t"                                                    \
                         "adr x10, 1f\n\t"                                                   \
                         "stp x9, x29, [x0]\n\t"                                             \
                         "str x10, [x0, #16]\n\t"                                            \
                         "ldp x9, x29, [x1]\n\t"                                             \
                         "ldr x16, [x1, #16]\n\t"                                            \
                         "mov sp, x9\n\t"                                                    \
                         "br x16\n"                                                          \
                         "1:\thint #38\n\t" /* bti jc */                                     \
                         : "+r"(coro__x0), "+r"(coro__x1), "+r"(coro__x2)                    \
                         :                                                                   \
                         : "x3", "x4", "x5", "x6", "x7", "x8", "x9", "x10", "x11", "x12",    \
                           "x13", "x14", "x15", "x16", "x17", "x18", "x19", "x20", "x21",    \
                           "x22", "x23", "x24", "x25", "x26", "x27", "x28", "x30", "v0", "v1", \
                           "v2", "v3", "v4", "v5", "v6", "v7", "v8", "v9", "v10", "v11", "v12", \
                           "v13", "v14", "v15", "v16", "v17", "v18", "v19", "v20", "v21",    \
                           "v22", "v23", "v24", "v25", "v26", "v27", "v28", "v29", "v30",    \
                           "v31", "memory", "cc");                                           \
        (from) = (struct coro *)coro__x0;                                                    \
        (to) = (struct coro *)coro__x1;                                                      \
        (val) = coro__x2;                                                                    \
    } while (0)
/* A new coroutine enters through this stub, which zeroes the link register and the frame
   pointer before it jumps to coro__start (whose address coro__ctx_init leaves in the fp slot):
   coro__start's frame record is then {0, 0}, where unwinders (gdb, libgcc, perf) stop, instead
   of whatever the first switch left in x30. Weak and hidden like the i386 routines, so every
   translation unit may carry a copy; it names no C symbol, so C and C++ builds agree. */
#ifdef __cplusplus
extern "C" {
#endif
void coro__entry_aarch64_v1(void);
#ifdef __cplusplus
}
#endif
__asm__(".pushsection .text\n"
        ".weak coro__entry_aarch64_v1\n"
        ".hidden coro__entry_aarch64_v1\n"
        ".type coro__entry_aarch64_v1, %function\n"
        "coro__entry_aarch64_v1:\n\t"
        ".cfi_startproc\n\t"
        ".cfi_undefined x30\n\t"
        "hint #34\n\t" /* bti c: entered by "br x16" */
        "mov x16, x29\n\t"
        "mov x29, xzr\n\t"
        "mov x30, xzr\n\t"
        "br x16\n\t"
        ".cfi_endproc\n"
        ".size coro__entry_aarch64_v1, .-coro__entry_aarch64_v1\n"
        ".popsection\n");
static void coro__ctx_init(coro__ctx *ctx, char *top) {
    ctx->sp = (void *)((uintptr_t)top & ~(uintptr_t)15);
    ctx->fp = (void *)(uintptr_t)&coro__start;
    ctx->ip = (void *)(uintptr_t)&coro__entry_aarch64_v1;
}
static int coro__shadow_stack_active(void) { return 0; } /* GCS is not enabled for user space here */

/* >>riscv64 */
#elif defined(CORO__ARCH_RISCV64)
#define CORO__ARCH_NAME "riscv64"
typedef struct coro__ctx {
    void *sp, *fp, *ip;
} coro__ctx;
typedef struct coro__fpu {
    uintptr_t frm;
} coro__fpu;
/* The psABI gives fcsr thread storage duration, as C gives the floating-point environment: a
   coroutine keeps its own dynamic rounding mode (frm), as a thread would. The accrued flags
   (fflags) are status, not control, and stay with the thread, as FPSR does on aarch64. frm is
   cheap to read: it is compared and written only when the other side's differs. */
#if defined(__riscv_flen) && CORO_FPU_KEEP > 0
CORO__INLINE void coro__fpu_save(coro__fpu *f) { __asm__ volatile("frrm %0" : "=r"(f->frm)); }
CORO__INLINE void coro__fpu_load(const coro__fpu *f) { __asm__ volatile("fsrm %0" : : "r"(f->frm)); }
#else
CORO__INLINE void coro__fpu_save(coro__fpu *f) { (void)f; }
CORO__INLINE void coro__fpu_load(const coro__fpu *f) { (void)f; }
#endif
CORO__INLINE void coro__fpu_inherit(coro__fpu *to, const coro__fpu *from) { to->frm = from->frm; }
CORO__INLINE void coro__fpu_swap(coro__fpu *from, const coro__fpu *to) {
    coro__fpu_save(from);
    if (CORO__UNLIKELY(from->frm != to->frm)) coro__fpu_load(to);
}
#if defined(__riscv_flen)
#define CORO__RISCV_F_CLOBBERS                                                                    \
    , "f0", "f1", "f2", "f3", "f4", "f5", "f6", "f7", "f8", "f9", "f10", "f11", "f12", "f13",     \
        "f14", "f15", "f16", "f17", "f18", "f19", "f20", "f21", "f22", "f23", "f24", "f25", "f26", \
        "f27", "f28", "f29", "f30", "f31"
#else
#define CORO__RISCV_F_CLOBBERS
#endif
/* LP64D: s0-s11, sp and fs0-fs11 are callee-saved. s0 (the frame pointer) is saved in the
   context with sp and the resume address, since the compiler may not let an asm clobber it;
   everything else, ra and all of f0-f31 included, is clobbered so the compiler saves only what
   is live. gp and tp are the same for every coroutine of a thread and are left alone. Operands
   travel in a0-a2, the argument registers of coro__start. */
#define CORO__SWITCH(from, to, val)                                                             \
    do {                                                                                        \
        register void *coro__a0 __asm__("a0") = (void *)(from);                                 \
        register void *coro__a1 __asm__("a1") = (void *)(to);                                   \
        register void *coro__a2 __asm__("a2") = (void *)(val);                                  \
        __asm__ volatile("lla t0, 1f\n\t"                                                       \
                         "sd sp, 0(a0)\n\t"                                                     \
                         "sd s0, 8(a0)\n\t"                                                     \
                         "sd t0, 16(a0)\n\t"                                                    \
                         "ld sp, 0(a1)\n\t"                                                     \
                         "ld s0, 8(a1)\n\t"                                                     \
                         "ld t0, 16(a1)\n\t"                                                    \
                         "jr t0\n"                                                              \
                         "1:\n\t"                                                               \
                         : "+r"(coro__a0), "+r"(coro__a1), "+r"(coro__a2)                       \
                         :                                                                      \
                         : "ra", "t0", "t1", "t2", "t3", "t4", "t5", "t6", "a3", "a4", "a5",     \
                           "a6", "a7", "s1", "s2", "s3", "s4", "s5", "s6", "s7", "s8", "s9",     \
                           "s10", "s11", "memory" CORO__RISCV_F_CLOBBERS);                      \
        (from) = (struct coro *)coro__a0;                                                       \
        (to) = (struct coro *)coro__a1;                                                         \
        (val) = coro__a2;                                                                       \
    } while (0)
/* A new coroutine enters through this stub, which clears ra and the frame pointer before it
   jumps to coro__start (whose address coro__ctx_init leaves in the fp slot), so unwinders stop
   at coro__start. Weak and hidden: every translation unit may carry a copy. */
#ifdef __cplusplus
extern "C" {
#endif
void coro__entry_riscv64_v1(void);
#ifdef __cplusplus
}
#endif
__asm__(".pushsection .text\n"
        ".weak coro__entry_riscv64_v1\n"
        ".hidden coro__entry_riscv64_v1\n"
        ".type coro__entry_riscv64_v1, %function\n"
        "coro__entry_riscv64_v1:\n\t"
        ".cfi_startproc\n\t"
        ".cfi_undefined ra\n\t"
        "mv t0, s0\n\t"
        "li s0, 0\n\t"
        "li ra, 0\n\t"
        "jr t0\n\t"
        ".cfi_endproc\n"
        ".size coro__entry_riscv64_v1, .-coro__entry_riscv64_v1\n"
        ".popsection\n");
static void coro__ctx_init(coro__ctx *ctx, char *top) {
    ctx->sp = (void *)((uintptr_t)top & ~(uintptr_t)15);
    ctx->fp = (void *)(uintptr_t)&coro__start;
    ctx->ip = (void *)(uintptr_t)&coro__entry_riscv64_v1;
}
static int coro__shadow_stack_active(void) { return 0; } /* Zicfiss is not enabled for user space here */

/* >>arm */
#elif defined(CORO__ARCH_ARM)
#define CORO__ARCH_NAME "arm"
typedef struct coro__ctx {
    void *sp, *fp, *ip;
} coro__ctx;
typedef struct coro__fpu {
    uint32_t fpscr;
} coro__fpu;
/* AAPCS: FPSCR's exception-enable bits (8-12, 15), rounding mode (22-23) and flush-to-zero (24)
   are global state that only functions made for it change, so they are kept per coroutine,
   with default NaN and alternative half-precision (25-26) beside them. The condition flags and
   cumulative exception bits are not preserved across calls and stay with the thread. */
#define CORO__ARM_FPSCR_CONTROL 0x07c09f00u
CORO__INLINE uint32_t coro__arm_fpscr(void) {
    uint32_t v;
    __asm__ volatile("vmrs %0, fpscr" : "=r"(v));
    return v;
}
CORO__INLINE void coro__fpu_save(coro__fpu *f) {
#if CORO_FPU_KEEP > 0
    f->fpscr = coro__arm_fpscr();
#else
    (void)f;
#endif
}
CORO__INLINE void coro__fpu_load(const coro__fpu *f) {
#if CORO_FPU_KEEP > 0
    uint32_t v = (coro__arm_fpscr() & ~CORO__ARM_FPSCR_CONTROL) | (f->fpscr & CORO__ARM_FPSCR_CONTROL);
    __asm__ volatile("vmsr fpscr, %0" : : "r"(v));
#else
    (void)f;
#endif
}
CORO__INLINE void coro__fpu_inherit(coro__fpu *to, const coro__fpu *from) { to->fpscr = from->fpscr; }
CORO__INLINE void coro__fpu_swap(coro__fpu *from, const coro__fpu *to) {
    coro__fpu_save(from);
    if (CORO__UNLIKELY((from->fpscr ^ to->fpscr) & CORO__ARM_FPSCR_CONTROL)) coro__fpu_load(to);
}
/* AAPCS (Linux): r4-r11, sp and d8-d15 are callee-saved. The frame pointer (r7 in Thumb code,
   r11 in ARM code) is saved in the context with sp and the resume address; everything else,
   lr, r12 and all of d0-d31 included, is clobbered so the compiler saves only what is live.
   The resume address carries the instruction set in its low bit and is entered with bx, so
   ARM and Thumb-2 code may switch to each other. Operands travel in r0-r2, the argument
   registers of coro__start. */
#if defined(__thumb__)
#define CORO__ARM_FP "r7"
#define CORO__ARM_OTHER "r11"
#define CORO__ARM_THUMB_BIT "orr r3, r3, #1\n\t"
#define CORO__ARM_MODE ".thumb\n.thumb_func\n"
#else
#define CORO__ARM_FP "r11"
#define CORO__ARM_OTHER "r7"
#define CORO__ARM_THUMB_BIT
#define CORO__ARM_MODE ".arm\n"
#endif
/* d16-d31 exist on VFP-D32 FPUs. GCC accepts them as clobbers on every FPU; Clang warns where
   they do not exist, and no macro tells a D32 FPU without NEON from a D16 one, so under Clang
   they are clobbered with NEON only (Clang with -mfpu=vfpv3 or vfpv4 and no NEON: unsupported). */
#if !defined(__clang__) || defined(__ARM_NEON)
#define CORO__ARM_D16_D31                                                                        \
    , "d16", "d17", "d18", "d19", "d20", "d21", "d22", "d23", "d24", "d25", "d26", "d27", "d28", \
        "d29", "d30", "d31"
#else
#define CORO__ARM_D16_D31
#endif
#define CORO__SWITCH(from, to, val)                                                             \
    do {                                                                                        \
        register void *coro__r0 __asm__("r0") = (void *)(from);                                 \
        register void *coro__r1 __asm__("r1") = (void *)(to);                                   \
        register void *coro__r2 __asm__("r2") = (void *)(val);                                  \
        __asm__ volatile("adr r3, 1f\n\t" CORO__ARM_THUMB_BIT                                   \
                         "mov r12, sp\n\t"                                                      \
                         "str r12, [r0]\n\t"                                                    \
                         "str " CORO__ARM_FP ", [r0, #4]\n\t"                                   \
                         "str r3, [r0, #8]\n\t"                                                 \
                         "ldr r12, [r1]\n\t"                                                    \
                         "ldr " CORO__ARM_FP ", [r1, #4]\n\t"                                   \
                         "ldr r3, [r1, #8]\n\t"                                                 \
                         "mov sp, r12\n\t"                                                      \
                         "bx r3\n"                                                              \
                         "1:\n\t"                                                               \
                         : "+r"(coro__r0), "+r"(coro__r1), "+r"(coro__r2)                       \
                         :                                                                      \
                         : "r3", "r4", "r5", "r6", CORO__ARM_OTHER, "r8", "r9", "r10", "r12",   \
                           "lr", "d0", "d1", "d2", "d3", "d4", "d5", "d6", "d7", "d8", "d9",     \
                           "d10", "d11", "d12", "d13", "d14", "d15", "memory",                  \
                           "cc" CORO__ARM_D16_D31);                                             \
        (from) = (struct coro *)coro__r0;                                                       \
        (to) = (struct coro *)coro__r1;                                                         \
        (val) = coro__r2;                                                                       \
    } while (0)
/* A new coroutine enters through this stub (in the instruction set of the implementation's
   translation unit), which clears lr and both frame-pointer registers before it jumps to
   coro__start, whose address coro__ctx_init leaves in the fp slot: unwinders stop there. */
#ifdef __cplusplus
extern "C" {
#endif
void coro__entry_arm_v1(void);
#ifdef __cplusplus
}
#endif
__asm__(".pushsection .text\n"
        ".weak coro__entry_arm_v1\n"
        ".hidden coro__entry_arm_v1\n"
        ".type coro__entry_arm_v1, %function\n"
        ".align 2\n" CORO__ARM_MODE
        "coro__entry_arm_v1:\n\t"
        "mov r12, " CORO__ARM_FP "\n\t"
        "mov r7, #0\n\t"
        "mov r11, #0\n\t"
        "mov lr, #0\n\t"
        "bx r12\n"
        ".size coro__entry_arm_v1, .-coro__entry_arm_v1\n"
        ".popsection\n");
static void coro__ctx_init(coro__ctx *ctx, char *top) {
    ctx->sp = (void *)((uintptr_t)top & ~(uintptr_t)7); /* AAPCS: 8-byte aligned at calls */
    ctx->fp = (void *)(uintptr_t)&coro__start;
    ctx->ip = (void *)(uintptr_t)&coro__entry_arm_v1;
}
static int coro__shadow_stack_active(void) { return 0; }

/* >>ppc64le */
#elif defined(CORO__ARCH_PPC64LE)
#define CORO__ARCH_NAME "ppc64le"
typedef struct coro__ctx {
    void *sp, *fp, *ip;
} coro__ctx;
typedef struct coro__fpu {
    uint64_t fpscr;
} coro__fpu;
/* ELFv2 makes FPSCR's RN (rounding), NI (non-IEEE) and the exception enables VE OE UE ZE XE
   "limited-access": only functions made to change them may, everyone else preserves them. They
   are its low byte (fields 6 and 7), kept per coroutine and written with mtfsf when the other
   side's differ; the status bits stay with the thread. VSCR[NJ], limited-access too, is not
   kept: reading it on every switch costs a vector move, and no C library interface changes it. */
#define CORO__PPC_FPSCR_CONTROL 0xffu
CORO__INLINE uint64_t coro__ppc_fpscr(void) {
    union {
        double d;
        uint64_t u;
    } v;
    __asm__ volatile("mffs %0" : "=d"(v.d));
    return v.u;
}
CORO__INLINE void coro__fpu_save(coro__fpu *f) {
#if CORO_FPU_KEEP > 0
    f->fpscr = coro__ppc_fpscr();
#else
    (void)f;
#endif
}
CORO__INLINE void coro__fpu_load(const coro__fpu *f) {
#if CORO_FPU_KEEP > 0
    union {
        double d;
        uint64_t u;
    } v;
    v.u = f->fpscr;
    __asm__ volatile("mtfsf 3, %0" : : "d"(v.d)); /* fields 6 and 7 only */
#else
    (void)f;
#endif
}
CORO__INLINE void coro__fpu_inherit(coro__fpu *to, const coro__fpu *from) { to->fpscr = from->fpscr; }
CORO__INLINE void coro__fpu_swap(coro__fpu *from, const coro__fpu *to) {
    coro__fpu_save(from);
    if (CORO__UNLIKELY((from->fpscr ^ to->fpscr) & CORO__PPC_FPSCR_CONTROL)) coro__fpu_load(to);
}
#if defined(__ALTIVEC__)
#define CORO__PPC_V_CLOBBERS                                                                      \
    , "v0", "v1", "v2", "v3", "v4", "v5", "v6", "v7", "v8", "v9", "v10", "v11", "v12", "v13",     \
        "v14", "v15", "v16", "v17", "v18", "v19", "v20", "v21", "v22", "v23", "v24", "v25", "v26", \
        "v27", "v28", "v29", "v30", "v31"
#else
#define CORO__PPC_V_CLOBBERS
#endif
/* ELFv2: r1 (sp), r2 (TOC), r14-r31, f14-f31, v20-v31 and cr2-cr4 are preserved across calls.
   r31 (the frame pointer when one is used) is saved in the context with sp and the resume
   address; every other register the compiler allocates is clobbered (the whole of each
   VSX register with it), so it saves only what is live. r2 is the same on both sides: each
   resumes inside this function of this module, and a new coroutine enters coro__start at its
   global entry point with r12, which computes its own. r13 is the thread pointer. The resume
   address comes from "bcl 20,31", which the return-address predictor ignores. Operands travel
   in r3-r5, the argument registers of coro__start. */
#define CORO__SWITCH(from, to, val)                                                             \
    do {                                                                                        \
        register void *coro__r3 __asm__("r3") = (void *)(from);                                 \
        register void *coro__r4 __asm__("r4") = (void *)(to);                                   \
        register void *coro__r5 __asm__("r5") = (void *)(val);                                  \
        __asm__ volatile("bcl 20, 31, 2f\n"                                                     \
                         "2:\tmflr 6\n\t"                                                       \
                         "addi 6, 6, 1f-2b\n\t"                                                 \
                         "std 1, 0(3)\n\t"                                                      \
                         "std 31, 8(3)\n\t"                                                     \
                         "std 6, 16(3)\n\t"                                                     \
                         "ld 1, 0(4)\n\t"                                                       \
                         "ld 31, 8(4)\n\t"                                                      \
                         "ld 12, 16(4)\n\t"                                                     \
                         "mtctr 12\n\t"                                                         \
                         "bctr\n"                                                               \
                         "1:\n\t"                                                               \
                         : "+r"(coro__r3), "+r"(coro__r4), "+r"(coro__r5)                       \
                         :                                                                      \
                         : "r0", "r6", "r7", "r8", "r9", "r10", "r11", "r12", "r14", "r15",     \
                           "r16", "r17", "r18", "r19", "r20", "r21", "r22", "r23", "r24", "r25", \
                           "r26", "r27", "r28", "r29", "r30", "lr", "ctr", "xer", "cr0", "cr1",  \
                           "cr2", "cr3", "cr4", "cr5", "cr6", "cr7", "fr0", "fr1", "fr2", "fr3", \
                           "fr4", "fr5", "fr6", "fr7", "fr8", "fr9", "fr10", "fr11", "fr12",     \
                           "fr13", "fr14", "fr15", "fr16", "fr17", "fr18", "fr19", "fr20",       \
                           "fr21", "fr22", "fr23", "fr24", "fr25", "fr26", "fr27", "fr28",       \
                           "fr29", "fr30", "fr31", "memory" CORO__PPC_V_CLOBBERS);              \
        (from) = (struct coro *)coro__r3;                                                       \
        (to) = (struct coro *)coro__r4;                                                         \
        (val) = coro__r5;                                                                       \
    } while (0)
/* A new coroutine enters through this stub, which clears lr and r31 and enters coro__start
   (whose address coro__ctx_init leaves in the fp slot) at its global entry point, r12 holding
   that address as ELFv2 requires. */
#ifdef __cplusplus
extern "C" {
#endif
void coro__entry_ppc64le_v1(void);
#ifdef __cplusplus
}
#endif
__asm__(".pushsection .text\n"
        ".weak coro__entry_ppc64le_v1\n"
        ".hidden coro__entry_ppc64le_v1\n"
        ".type coro__entry_ppc64le_v1, @function\n"
        ".p2align 2\n"
        "coro__entry_ppc64le_v1:\n\t"
        ".cfi_startproc\n\t"
        ".cfi_undefined lr\n\t"
        "mr 12, 31\n\t"
        "li 31, 0\n\t"
        "li 0, 0\n\t"
        "mtlr 0\n\t"
        "mtctr 12\n\t"
        "bctr\n\t"
        ".cfi_endproc\n"
        ".size coro__entry_ppc64le_v1, .-coro__entry_ppc64le_v1\n"
        ".popsection\n");
static void coro__ctx_init(coro__ctx *ctx, char *top) {
    /* a minimal caller frame: back chain 0 (where unwinders stop), and the CR, LR and TOC
       save words coro__start may write into */
    void **sp = (void **)((uintptr_t)top & ~(uintptr_t)15) - 4;
    memset(sp, 0, 4 * sizeof *sp);
    ctx->sp = sp;
    ctx->fp = (void *)(uintptr_t)&coro__start;
    ctx->ip = (void *)(uintptr_t)&coro__entry_ppc64le_v1;
}
static int coro__shadow_stack_active(void) { return 0; }

/* >>portable */
#elif defined(CORO__ARCH_PORTABLE)
#if CORO__ASAN
#error "coro.h: the portable switch cannot tell AddressSanitizer about its stacks: build without -fsanitize=address, or on an architecture with a hand-written switch"
#endif
#include <fenv.h>
#include <setjmp.h>
#include <ucontext.h>
#define CORO__ARCH_NAME "portable"
/* The portable switch: the C library's _setjmp/_longjmp, which save and restore exactly the
   registers its ABI makes callee-saved and never touch the signal mask (no system call).
   A stack is entered once, the first time it is used, with getcontext/makecontext/setcontext:
   a trampoline at its top records where it stands (base) and jumps back; every coroutine that
   later gets this stack from the pool starts by a _longjmp to base, so coro_new costs no system
   call either once the pool is warm. The switch is an out-of-line call (the compiler saves
   what is live around it) plus _longjmp's own work, slower than the hand-written switches.
   fegetround/fesetround keep the rounding mode per coroutine: link with -lm where the C
   library keeps them there (glibc). Other floating-point control state is not kept. */
typedef struct coro__ctx {
    jmp_buf jb;           /* where a suspended coroutine continues */
    jmp_buf *base;        /* the trampoline at the top of its stack (see coro__ptop) */
    struct coro *in_from; /* what the switch that continues it passed */
    void *in_val;
    int fresh;
} coro__ctx;
/* The top of a stack (just below the pool's header) keeps where its trampoline stands, and a
   mark once it is in place; coroutine frames are all below the trampoline's, so nothing else
   writes there while the stack stays mapped. */
typedef struct coro__ptop {
    jmp_buf base;
    unsigned mark;
} coro__ptop;
#define CORO__PTOP_MARK 0x74726d70u /* "trmp" */
typedef struct coro__fpu {
    int round;
} coro__fpu;
CORO__INLINE void coro__fpu_save(coro__fpu *f) {
#if CORO_FPU_KEEP > 0
    f->round = fegetround();
#else
    (void)f;
#endif
}
CORO__INLINE void coro__fpu_load(const coro__fpu *f) {
#if CORO_FPU_KEEP > 0
    if (fegetround() != f->round) fesetround(f->round);
#else
    (void)f;
#endif
}
CORO__INLINE void coro__fpu_inherit(coro__fpu *to, const coro__fpu *from) { to->round = from->round; }
CORO__INLINE void coro__fpu_swap(coro__fpu *from, const coro__fpu *to) {
#if CORO_FPU_KEEP > 0
    from->round = fegetround();
    if (CORO__UNLIKELY(from->round != to->round)) fesetround(to->round);
#else
    (void)from;
    (void)to;
#endif
}
/* glibc's _FORTIFY_SOURCE turns _longjmp into __longjmp_chk, which refuses to jump to a stack
   pointer below the current one unless on the signal stack: between coroutine stacks it
   would abort. The plain symbol is what this switch means. */
#if defined(__USE_FORTIFY_LEVEL) && __USE_FORTIFY_LEVEL > 0
#ifdef __cplusplus
extern "C" {
#endif
void coro__longjmp_v1(jmp_buf env, int val) __asm__("_longjmp") __attribute__((noreturn));
#ifdef __cplusplus
}
#endif
#define CORO__LONGJMP coro__longjmp_v1
#else
#define CORO__LONGJMP _longjmp
#endif
/* The context being set up on a new stack, then the coroutine starting on one (any coroutine
   given that stack later starts there too). */
static __thread coro__ctx *coro__boot;
static CORO__NOINLINE CORO__NORETURN void coro__trampoline(void) {
    coro__ctx *volatile self = coro__boot;
    if (_setjmp(*self->base) == 0) CORO__LONGJMP(self->jb, 1);
    self = coro__boot; /* a fresh coroutine starts here */
    coro__start(self->in_from, (struct coro *)(void *)self, self->in_val);
    abort(); /* coro__start never returns */
}
static void coro__ctx_init(coro__ctx *ctx, char *top) {
    ucontext_t uc;
    coro__ptop *p = (coro__ptop *)(void *)(top - ((sizeof(coro__ptop) + 63) & ~(size_t)63));
    ctx->fresh = 1;
    ctx->base = &p->base;
    if (p->mark == CORO__PTOP_MARK) return; /* a pooled stack: its trampoline is in place */
    if (getcontext(&uc) != 0) abort();
    uc.uc_stack.ss_size = CORO_MIN_STACK_SIZE / 2;
    uc.uc_stack.ss_sp = (char *)p - uc.uc_stack.ss_size;
    uc.uc_link = NULL;
    makecontext(&uc, coro__trampoline, 0);
    coro__boot = ctx;
    if (_setjmp(ctx->jb) == 0) {
        setcontext(&uc);
        abort();
    }
    p->mark = CORO__PTOP_MARK;
}
/* The switch itself: a function, since _setjmp cannot be inlined. Returns the value passed by
   whoever continues `from`, and who that was in *by. */
static CORO__NOINLINE void *coro__portable_switch(coro__ctx *from, coro__ctx *to, void *val,
                                                  struct coro **by) {
    to->in_from = (struct coro *)(void *)from;
    to->in_val = val;
    if (_setjmp(from->jb) == 0) {
        if (to->fresh) {
            to->fresh = 0;
            coro__boot = to;
            CORO__LONGJMP(*to->base, 1);
        }
        CORO__LONGJMP(to->jb, 1);
    }
    *by = from->in_from;
    return from->in_val;
}
#define CORO__SWITCH(from, to, val)                                                            \
    do {                                                                                       \
        struct coro *coro__me = (from);                                                        \
        (val) = coro__portable_switch(&coro__me->ctx, &(to)->ctx, (val), &(from));             \
        (to) = coro__me;                                                                       \
    } while (0)
static int coro__shadow_stack_active(void) { return 0; }

#else
#error "coro.h: no architecture block selected"
#endif

/* >>sanitizers */
#if CORO__ASAN
#ifdef __cplusplus
extern "C" {
#endif
void __sanitizer_start_switch_fiber(void **fake_stack_save, const void *bottom, size_t size);
void __sanitizer_finish_switch_fiber(void *fake_stack_save, const void **bottom_old,
                                     size_t *size_old);
void __asan_unpoison_memory_region(void const volatile *addr, size_t size);
#ifdef __cplusplus
}
#endif
#endif
/* ThreadSanitizer keeps a call stack and a clock per thread; a coroutine is a fiber of its
   own to it, switched to just before every switch of stacks. */
#if CORO__TSAN
#ifdef __cplusplus
extern "C" {
#endif
void *__tsan_get_current_fiber(void);
void *__tsan_create_fiber(unsigned flags);
void __tsan_destroy_fiber(void *fiber);
void __tsan_switch_to_fiber(void *fiber, unsigned flags);
#ifdef __cplusplus
}
#endif
#endif

/* >>core types */
typedef struct coro__defer {
    void (*fn)(void *);
    void *arg;
} coro__defer;

typedef struct coro__thread coro__thread;

struct coro {
    coro__ctx ctx;        /* first: the asm addresses it at offset 0 */
    struct coro *resumer; /* who continues when we yield or finish; NULL = main */
    coro__thread *thread; /* owner */
    int status;
    int raised; /* (status and flags are kept apart: a check that reads both at once would wait
                   for the two separate stores that wrote them, store-forwarding cannot merge) */
    unsigned flags;
    unsigned magic;
    coro__fpu fpu;
    coro_fn fn;
    void *data, *runtime;
    void (*runtime_exit)(void *);
    uint64_t id;
    struct coro *next, *prev; /* the thread's list of live coroutines; next: a free handle's */
    struct coro__stack *stack; /* its stack, bound at the first switch to it (NULL before) */
    size_t stack_size;         /* its usable bytes (with the stack's header, whole pages) */
    struct coro__hchunk *chunk; /* the block its handle came from */
    coro__defer *defers;
    unsigned ndefer, cap_defer;
    coro__defer inline_defers[CORO__DEFER_INLINE];
#if CORO__ASAN
    void *asan_fake;
    const void *asan_bottom; /* stack bounds as ASan wants them (main's are learnt at run time) */
    size_t asan_size;
#endif
#if CORO__TSAN
    void *tsan_fiber;
#endif
    char name[CORO__NAME_MAX];
};

/* A stack's region is [guard][stack ....][struct coro__stack]: the header at its top carries
   the pool's bookkeeping, so a free stack costs nothing elsewhere. */
typedef struct coro__stack {
    struct coro__stack *next, *prev; /* the pool's free list */
    char *map;                       /* the region */
    size_t map_size;
    struct coro__stack *slab;   /* the header of the first region of its slab, which counts */
    unsigned slab_n, slab_free; /* the slab's regions still mapped, and how many are free,
                                   and which are mapped (bit i: region i): first region only */
    uint64_t slab_mapped;
    struct coro__stack *idle_next; /* first region only: the thread's list of idle slabs, and */
    int64_t idle_at;               /* when this one was last found idle (ms; 0: not listed) */
    char *stack_lo;                /* lowest usable byte: just above the guard */
    size_t stack_size;
    void *os_note; /* what the >>os-memory block keeps of its last user (coro__os_stack_left) */
#if CORO__VALGRIND
    unsigned vg_stack;
#endif
} coro__stack;

/* Coroutine handles come in blocks of the thread's own; a block whose handles are all free is
   given back once another one is too (one stays for the next burst). */
typedef struct coro__hchunk {
    struct coro__hchunk *next, *prev; /* the thread's blocks that have free handles */
    struct coro *free;                /* those handles */
    unsigned n, live;
    void *mem; /* what CORO_MALLOC returned */
} coro__hchunk;

typedef struct coro__pool_bin {
    size_t map_size;
    coro__stack *head; /* free stacks of this size, most recently freed first */
    unsigned n, live, slab_next;
    unsigned high, peak, last, frees; /* recent high-water mark of live, the peaks of the
                                         current and the last epoch, frees in this epoch (see
                                         coro__stack_put) */
} coro__pool_bin;

struct coro__thread {
    struct coro *current; /* &main when main runs; NULL until the thread first uses coro.h */
    struct coro main;
    struct coro *all; /* live coroutines of this thread */
    size_t alive;
    coro__pool_bin bins[CORO__POOL_BINS];
    coro__pool_bin *last_bin; /* the bin the last stack bound came from */
    size_t last_size;         /* the usable size it bound (last_bin holds those stacks) */
    unsigned pooled;
    coro__stack *idle;   /* slabs all free and beyond the pool's need, waiting to be unmapped */
    coro__hchunk *hfree; /* blocks of handles with free ones, and the one all free kept */
    coro__hchunk *hspare;
    struct coro *hlast;  /* the handle freed last (see coro__handle_put) */
    unsigned hnext;      /* handles in the next block */
    int64_t idle_due;    /* when the earliest of them is due (ms; 0: look at the next chance) */
    uint64_t id_next, id_end; /* a block of ids taken from the process-wide counter */
    void *altstack;
    size_t altstack_size;
    int shadow_stack;
    int ready;
};

static void coro__thread_exit(coro__thread *t);
static size_t coro__round(size_t n, size_t to) { return (n + to - 1) & ~(to - 1); }
/* 0 = not decided yet, 1 = madvise guards, 2 = mprotect guards, 3 = no guards,
   4 = Windows: reserved, never committed address space (see >>os-memory windows) */
static int coro__guard_kind;
#define CORO__SLAB_MAX 64 /* stacks in one slab, at most (one bit each in slab_mapped) */
#define CORO__HUGE ((size_t)2 << 20) /* a huge page (x86-64, aarch64 with 4 KiB pages) */

/* Each OS block below provides the same private functions; nothing else calls the system.
   >>os-thread    coro__tls()  the calling thread's state (zeroed the first time)
                  coro__os_thread_register(t)  make coro__thread_exit(t) run when the thread ends
                  coro__os_write_err(msg, n)   write to stderr, safe in a fault handler
   >>os-memory    coro__os_page()  coro__os_map(len)  coro__os_unmap(p, len)
                  coro__os_now_ms()  a monotonic clock in ms, cheap and coarse (the pool's decay)
                  coro__os_stacks_prepare(base, region, k, guard)  k regions ready as stacks
                  coro__os_touched(lo, pages, page)  index of the lowest page ever used
                  coro__os_stack_left(st, ctx)  a coroutine with context ctx let go of stack st
                  coro__os_map_huge()  CORO__HUGE bytes aligned to them, huge pages advised
   >>os-fault     coro__os_fault_setup(t) / coro__os_fault_teardown(t)  the overflow report */

/* >>os-thread: POSIX (a __thread struct; a pthread key runs the thread's exit) */
#if !CORO__WINDOWS
/* The thread's state is read only through coro__tls(), once per call and always before the
   switch: no function here reads it after switching (the swap is a tail call; the inline switch
   uses the coroutine's own thread pointer after), so no compiler can keep a stale thread-local
   address across a context switch in this code. */
static __thread coro__thread coro__tls_state;
CORO__INLINE coro__thread *coro__tls(void) { return &coro__tls_state; }

static pthread_key_t coro__key;
static pthread_once_t coro__key_once = PTHREAD_ONCE_INIT;
static void coro__key_exit(void *arg) { coro__thread_exit((coro__thread *)arg); }
static void coro__key_make(void) { (void)pthread_key_create(&coro__key, coro__key_exit); }
static void coro__os_thread_register(coro__thread *t) {
    pthread_once(&coro__key_once, coro__key_make);
    pthread_setspecific(coro__key, t);
}
static CORO__UNUSED void coro__os_write_err(const char *msg, size_t n) {
    ssize_t w = write(2, msg, n);
    (void)w;
}

/* >>os-thread: Windows (a heap block per thread; a fiber-local slot's callback runs the exit) */
#else
/* The state is a heap block the thread-local pointer leads to, not a thread-local struct:
   with mingw-w64's emulated TLS a __thread object is freed by winpthreads' key destructors
   before the thread's exit callbacks run, and the exit must still reach the pool. The exit runs
   from a fiber-local slot's callback (FlsAlloc), which Windows calls for every ending thread,
   made by CreateThread, _beginthreadex or winpthreads alike. Read once per call, before any
   switch, as on POSIX. */
static __thread coro__thread *coro__tls_ptr;
static DWORD coro__fls = FLS_OUT_OF_INDEXES;
static CORO__UNUSED void coro__os_write_err(const char *msg, size_t n) {
    DWORD w;
    WriteFile(GetStdHandle(STD_ERROR_HANDLE), msg, (DWORD)n, &w, NULL);
}
static CORO__NOINLINE coro__thread *coro__tls_new(void) {
    coro__thread *t = (coro__thread *)HeapAlloc(GetProcessHeap(), HEAP_ZERO_MEMORY, sizeof *t);
    if (!t) { /* no memory for a few hundred bytes: nothing sensible is left to do */
        static const char msg[] = "coro: out of memory for a thread's state\n";
        coro__os_write_err(msg, sizeof msg - 1);
        abort();
    }
    coro__tls_ptr = t;
    return t;
}
CORO__INLINE coro__thread *coro__tls(void) {
    coro__thread *t = coro__tls_ptr;
    return CORO__LIKELY(t != NULL) ? t : coro__tls_new();
}
static VOID WINAPI coro__fls_exit(PVOID arg) {
    coro__thread *t = (coro__thread *)arg;
    if (!t) return;
    coro__thread_exit(t);
    if (!t->alive) HeapFree(GetProcessHeap(), 0, t); /* live coroutines still point at it */
}
static void coro__os_thread_register(coro__thread *t) {
    DWORD idx = __atomic_load_n(&coro__fls, __ATOMIC_ACQUIRE);
    if (idx == FLS_OUT_OF_INDEXES) {
        DWORD mine = FlsAlloc(coro__fls_exit), expected = FLS_OUT_OF_INDEXES;
        if (mine == FLS_OUT_OF_INDEXES) return; /* no slot left: the pool is not released */
        if (__atomic_compare_exchange_n(&coro__fls, &expected, mine, 0, __ATOMIC_ACQ_REL,
                                        __ATOMIC_ACQUIRE)) {
            idx = mine;
        } else {
            FlsFree(mine);
            idx = expected;
        }
    }
    FlsSetValue(idx, t);
}
#endif

/* >>os-memory: POSIX (mmap; guards by madvise(MADV_GUARD_INSTALL) or mprotect; mincore) */
#if !CORO__WINDOWS
/* Process-wide values learnt lazily are read and written with relaxed atomics: threads making
   their first coroutine at once may both compute it (the same value), never race. */
static size_t coro__os_page(void) {
    static size_t page;
    size_t p = __atomic_load_n(&page, __ATOMIC_RELAXED);
    if (!p) {
        long q = sysconf(_SC_PAGESIZE);
        p = q > 0 ? (size_t)q : 4096;
        __atomic_store_n(&page, p, __ATOMIC_RELAXED);
    }
    return p;
}

#ifndef MADV_GUARD_INSTALL
#define MADV_GUARD_INSTALL 102 /* Linux 6.13; older headers lack the name */
#endif
#ifndef MAP_NORESERVE
#define MAP_NORESERVE 0
#endif
#ifndef MAP_STACK
#define MAP_STACK 0
#endif

/* Address space for stacks, read-write, committed lazily; NULL on failure. */
static char *coro__os_map(size_t len) {
    void *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
    return p == MAP_FAILED ? NULL : (char *)p;
}
static void coro__os_unmap(char *p, size_t len) { munmap(p, len); }

/* CORO__HUGE bytes of memory aligned to them, read-write, which Linux may back with one huge
   page (advised: one fault and one TLB entry for the lot); NULL on failure. */
static char *coro__os_map_huge(void) {
    size_t len = CORO__HUGE;
    char *p = (char *)mmap(NULL, 2 * len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                           -1, 0);
    char *a;
    if (p == (char *)MAP_FAILED) return NULL;
    a = (char *)(((uintptr_t)p + len - 1) & ~(uintptr_t)(len - 1));
    if (a > p) munmap(p, (size_t)(a - p));
    if (a + len < p + 2 * len) munmap(a + len, (size_t)(p + 2 * len - (a + len)));
#ifdef MADV_HUGEPAGE
    (void)madvise(a, len, MADV_HUGEPAGE);
#endif
    return a;
}

static int64_t coro__os_now_ms(void) { /* the coarse clock is read from memory, never a syscall */
    struct timespec ts;
#ifdef CLOCK_MONOTONIC_COARSE
    if (clock_gettime(CLOCK_MONOTONIC_COARSE, &ts) != 0)
#endif
        clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int coro__guard_install(char *lo, size_t len) {
#if defined(__linux__) && !defined(CORO_GUARD_MPROTECT)
    int kind = __atomic_load_n(&coro__guard_kind, __ATOMIC_RELAXED);
    if (kind != 2) {
        if (madvise(lo, len, MADV_GUARD_INSTALL) == 0) {
            if (kind != 1) {
                /* The first time, check that the guard really is there: some emulators
                   (qemu-user) answer 0 to advice they ignore. The kernel reading a guard page
                   for write(2) fails with EFAULT instead of faulting. */
                int fds[2], real = 0, saved = errno;
                if (pipe(fds) == 0) {
                    real = write(fds[1], lo, 1) < 0 && errno == EFAULT;
                    close(fds[0]);
                    close(fds[1]);
                }
                errno = saved; /* success leaves errno alone */
                if (!real) {
                    __atomic_store_n(&coro__guard_kind, 2, __ATOMIC_RELAXED);
                    return mprotect(lo, len, PROT_NONE);
                }
                __atomic_store_n(&coro__guard_kind, 1, __ATOMIC_RELAXED);
            }
            return 0;
        }
        if (kind == 1 || (errno != EINVAL && errno != ENOSYS)) return -1; /* ENOMEM, EAGAIN */
        __atomic_store_n(&coro__guard_kind, 2, __ATOMIC_RELAXED); /* kernel before 6.13 */
    }
#else
    __atomic_store_n(&coro__guard_kind, 2, __ATOMIC_RELAXED);
#endif
    return mprotect(lo, len, PROT_NONE);
}

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23 /* Linux 5.14 */
#endif

/* One advice for n ranges of our own memory in one call (process_madvise on ourselves, which
   takes any advice since Linux 6.13): the bytes advised, or -1 (errno set) where the kernel or
   an emulator refuses, or under Valgrind (which does not know the call). */
static long coro__os_madvise_v(struct iovec *iov, size_t n, int advice) {
#if defined(__linux__) && defined(SYS_process_madvise)
    long r;
    int pidfd = -10000; /* PIDFD_SELF, on kernels that know it */
#if CORO__VALGRIND
    if (RUNNING_ON_VALGRIND) {
        errno = ENOSYS;
        return -1;
    }
#endif
    r = syscall(SYS_process_madvise, pidfd, iov, n, advice, 0u);
    if (r < 0 && errno == EBADF) { /* no PIDFD_SELF: a pidfd of our own */
        pidfd = (int)syscall(SYS_pidfd_open, (long)getpid(), 0L);
        if (pidfd >= 0) {
            r = syscall(SYS_process_madvise, pidfd, iov, n, advice, 0u);
            close(pidfd);
        }
    }
    return r;
#else
    (void)iov;
    (void)n;
    (void)advice;
    errno = ENOSYS;
    return -1;
#endif
}

/* Write the top page of each of k regions (where the struct coro goes), before any guard.
   Where the hypervisor shadows the guest's page tables (no nested paging), a first touch costs
   two trips through it: the guest's page fault, then the hypervisor's own fault to learn the
   new entry. The first page of every 2 MiB window is faulted in, which builds the window's page
   table; the others are populated in one call (MADV_POPULATE_WRITE), which saves the guest's
   fault; the writes that follow pay only the hypervisor's. Measured there, interleaved: 100,000
   coroutines spawned and run in 0.81-0.87 of the time the writes alone took (44-56 us per
   coroutine instead of 51-64, faults costing 40-80 us on a loaded machine). Where faults are
   cheap the call costs what the faults would have (the same page allocations, one syscall per
   slab instead of a trap per page; here it costs 0.2 us a page on pages already there); where
   it is refused (before Linux 6.13, under qemu-user or Valgrind) the pages are just written,
   and the call is not tried again. */
static void coro__os_stacks_touch(char *base, size_t region, unsigned k) {
    static int populate = 1;
    struct iovec iov[CORO__SLAB_MAX];
    size_t page = coro__os_page(), n = 0;
    uintptr_t window = 0;
    unsigned i;
    for (i = 0; i < k; i++) {
        char *top = base + (size_t)(i + 1) * region;
        uintptr_t w = (uintptr_t)(top - 1) >> 21;
        if (i == 0 || w != window) {
            top[-1] = 0; /* a fault: the window's page table */
            window = w;
        } else {
            iov[n].iov_base = top - page;
            iov[n].iov_len = page;
            n++;
        }
    }
    if (n > 1 && __atomic_load_n(&populate, __ATOMIC_RELAXED)) {
        int saved = errno;
        if (coro__os_madvise_v(iov, n, MADV_POPULATE_WRITE) < 0 && errno != ENOMEM &&
            errno != EAGAIN && errno != EINTR)
            __atomic_store_n(&populate, 0, __ATOMIC_RELAXED); /* refused: touch from now on */
        errno = saved;
    }
    for (i = 1; i < k; i++) base[(size_t)(i + 1) * region - 1] = 0;
}

/* Make k adjacent regions of region bytes each, at base, ready as stacks: their top pages
   written, and the guard of guard bytes at the bottom of each (none when guard is 0).
   The top pages are written before the guards go in, not after: the page faults then build the
   slab's page tables, and the guard advice only writes entries into tables that exist.
   Installed first into an empty range, the advice has the kernel build those tables in one
   burst of writes, which a hypervisor that shadows the guest's page tables answers by dropping
   its shadow of the tables above: every stack touched before then costs another fault, in the
   hypervisor, on its next use. On such a VM (a fault 15-20 us) 100,000 coroutines spawned and
   run took 37 us each, 25 us with the top pages written first; elsewhere the order changes
   nothing (the same faults, the same calls). */
static int coro__os_stacks_prepare(char *base, size_t region, unsigned k, size_t guard) {
    unsigned i;
    coro__os_stacks_touch(base, region, k);
    if (!guard) return 0;
#if defined(__linux__) && !defined(CORO_GUARD_MPROTECT)
    static int vectored = 1; /* process_madvise accepts MADV_GUARD_INSTALL for ourselves */
    if (k > 1 && __atomic_load_n(&coro__guard_kind, __ATOMIC_RELAXED) == 1 &&
        __atomic_load_n(&vectored, __ATOMIC_RELAXED)) {
        struct iovec iov[CORO__SLAB_MAX];
        long r;
        int saved = errno;
        for (i = 0; i < k; i++) {
            iov[i].iov_base = base + i * region;
            iov[i].iov_len = guard;
        }
        r = coro__os_madvise_v(iov, (size_t)k, MADV_GUARD_INSTALL);
        errno = saved;
        if (r == (long)(k * guard)) return 0;
        __atomic_store_n(&vectored, 0, __ATOMIC_RELAXED); /* one at a time from now on */
    }
#endif
    for (i = 0; i < k; i++)
        if (coro__guard_install(base + i * region, guard) != 0) return -1;
    return 0;
}

/* A coroutine lets go of its stack: nothing to keep here. */
static void coro__os_stack_left(coro__stack *st, const coro__ctx *ctx) {
    (void)st;
    (void)ctx;
}

/* The index of the lowest of the pages at lo that is resident (pages when none is), -1 on
   error: stacks are touched from the top down, so that is the high-water mark. */
static long coro__os_touched(char *lo, size_t pages, size_t page) {
    unsigned char vec[256];
    size_t i, k;
    for (i = 0; i < pages; i += sizeof vec) {
        size_t n = pages - i < sizeof vec ? pages - i : sizeof vec;
        if (mincore(lo + i * page, n * page, vec) != 0) return -1;
        for (k = 0; k < n; k++)
            if (vec[k] & 1) return (long)(i + k);
    }
    return (long)pages;
}

/* >>os-memory: Windows (VirtualAlloc: reserved, committed on demand by the OS, as thread stacks are) */
#else
/* A stack is a thread stack as Windows makes them: its region is only reserved; the top pages
   (the struct coro and the first frames) are committed, and the page below them is a
   PAGE_GUARD page. The switch puts the coroutine's bounds in the TEB, so when a frame touches
   the guard page the system commits it and moves the guard one page down, and when the guard
   reaches the bottom it raises EXCEPTION_STACK_OVERFLOW with one more page committed for the
   handlers. The CORO_GUARD_SIZE region below the stack is reserved and never committed: any
   access there is an access violation, which the >>os-fault block reports the same way. */
static size_t coro__os_page(void) {
    static size_t page;
    size_t p = __atomic_load_n(&page, __ATOMIC_RELAXED);
    if (!p) {
        SYSTEM_INFO si;
        GetSystemInfo(&si);
        p = si.dwPageSize ? (size_t)si.dwPageSize : 4096;
        __atomic_store_n(&page, p, __ATOMIC_RELAXED);
    }
    return p;
}
static char *coro__os_map(size_t len) {
    return (char *)VirtualAlloc(NULL, len, MEM_RESERVE, PAGE_READWRITE);
}
/* CORO__HUGE bytes of committed memory (coro__os_unmap releases them); NULL on failure. */
static char *coro__os_map_huge(void) {
    return (char *)VirtualAlloc(NULL, CORO__HUGE, MEM_RESERVE | MEM_COMMIT, PAGE_READWRITE);
}
/* Windows releases only whole reservations: a region inside a slab is decommitted (its
   address space goes back when the slab's first region releases the reservation). */
static void coro__os_unmap(char *p, size_t len) {
    MEMORY_BASIC_INFORMATION mi;
    if (VirtualQuery(p, &mi, sizeof mi) && (char *)mi.AllocationBase == p)
        VirtualFree(p, 0, MEM_RELEASE);
    else
        VirtualFree(p, len, MEM_DECOMMIT);
}
static int64_t coro__os_now_ms(void) { return (int64_t)GetTickCount64(); }
#define CORO__WIN_COMMIT_PAGES 2 /* committed at a new stack's top: its header, first frames */
static int coro__os_stacks_prepare(char *base, size_t region, unsigned k, size_t guard) {
    size_t page = coro__os_page(), commit = CORO__WIN_COMMIT_PAGES * page;
    unsigned i;
    __atomic_store_n(&coro__guard_kind, guard ? 4 : 3, __ATOMIC_RELAXED);
    for (i = 0; i < k; i++) {
        char *lo = base + i * region + guard, *top = base + (size_t)(i + 1) * region;
        size_t c = (size_t)(top - lo) < commit ? (size_t)(top - lo) : commit;
        if (!VirtualAlloc(top - c, c, MEM_COMMIT, PAGE_READWRITE)) return -1;
        if ((size_t)(top - c - lo) >= page &&
            !VirtualAlloc(top - c - page, page, MEM_COMMIT, PAGE_READWRITE | PAGE_GUARD))
            return -1;
    }
    return 0;
}
/* The TEB words of a new coroutine's stack (coro__ctx_init of the Windows x64 block): the
   system may commit down to DeallocationStack plus one page, that is to the stack's lowest byte
   (with no guard region the lowest page stays reserved, as the system's own last page); the
   committed part is known to reach at least the initial commit (a reused stack may have more). */
static void coro__os_stack_bounds(const char *top, void **dealloc, void **limit) {
    const coro__stack *st = (const coro__stack *)(const void *)top;
    size_t page = coro__os_page();
    char *lim = st->map + st->map_size - CORO__WIN_COMMIT_PAGES * page;
    *dealloc = st->stack_lo > st->map ? st->stack_lo - page : st->stack_lo;
    *limit = lim > st->stack_lo ? lim : st->stack_lo;
    /* A stack from the pool: the StackLimit its last user reached says how far the system has
       committed it (the system lowers it at each guard page). The new user may go that deep
       without touching the guard page again, and StackLimit must stay at or below its frames,
       or the exception dispatcher would take them for a broken stack. */
    if (st->os_note && (char *)st->os_note < (char *)*limit) *limit = st->os_note;
}
/* A coroutine lets go of its stack: the StackLimit saved in its context block stays with it. */
static void coro__os_stack_left(coro__stack *st, const coro__ctx *ctx) {
    void **sp = (void **)ctx->sp;
    if (sp && sp[22]) st->os_note = sp[22];
}
/* Committed pages other than the guard page are the ones used. */
static long coro__os_touched(char *lo, size_t pages, size_t page) {
    char *p = lo, *end = lo + pages * page;
    while (p < end) {
        MEMORY_BASIC_INFORMATION mi;
        if (!VirtualQuery(p, &mi, sizeof mi)) return -1;
        if (mi.State == MEM_COMMIT && !(mi.Protect & PAGE_GUARD))
            return (long)((size_t)(p - lo) / page);
        p = (char *)mi.BaseAddress + mi.RegionSize;
    }
    return (long)pages;
}
#endif

/* >>stack */
static size_t coro__page(void) { return coro__os_page(); }

static size_t coro__guard_bytes(void) {
#ifdef CORO_NO_GUARD
    return 0;
#else
    return coro__round((CORO_GUARD_SIZE) > 0 ? (size_t)(CORO_GUARD_SIZE) : 1, coro__page());
#endif
}

/* Stacks are made in slabs: one mapping for several, their guards installed at once where the
   system allows it (>>os-memory), and freed stacks are kept on the thread's free list for
   reuse, most recently freed first (its pages are resident and its cache lines warm). A slab
   whose stacks are all free is unmapped in one call once the free list holds, besides it,
   CORO_POOL_SIZE stacks plus what the recent high-water mark of live coroutines still needs,
   and it has stayed so for CORO_POOL_DECAY_MS (coro__slab_idle): a
   server whose connections come and go around the same number would otherwise unmap and map
   slabs over and over, paying fresh page faults for every stack each time. Stacks of a slab
   that still has live neighbours stay cached (coro_pool_trim releases them). Unmapping single
   stacks instead would split the kernel's merged mapping for each one, which costs tens of
   microseconds per stack; on a machine where a syscall costs microseconds this is what lets
   100,000 coroutines come and go in well under a second (at most CORO__SLAB_MAX a slab). */
#define CORO__POOL_EPOCH 64 /* frees between two decays of a bin's high-water mark */

/* A region holds the guard at the bottom, the stack, and its header at the very top. */
static size_t coro__struct_room(void) { return coro__round(sizeof(coro__stack), 64); }

static coro__stack *coro__region_stack(char *map, size_t map_size) {
    /* map is page aligned and the room a multiple of 64, so the struct is aligned: the cast
       goes through void * to say so */
    return (coro__stack *)(void *)(map + map_size - coro__struct_room());
}

static void coro__bin_remove(coro__pool_bin *b, coro__stack *co) {
    if (co->prev) co->prev->next = co->next;
    else b->head = co->next;
    if (co->next) co->next->prev = co->prev;
    co->next = co->prev = NULL;
    b->n--;
}

static void coro__region_unmap(coro__stack *co) {
#if CORO__VALGRIND
    VALGRIND_STACK_DEREGISTER(co->vg_stack);
#endif
    coro__os_unmap(co->map, co->map_size);
}

/* Every stack of the slab that is still mapped is free: take them off the free list and unmap
   them. coro__pool_release may have unmapped some regions alone (never the first), leaving
   holes: only the regions slab_mapped names are read, each run of them unmapped in one call,
   from the top down so that the first region goes last (on Windows it releases the whole
   reservation, decommitted holes included). */
static void coro__slab_unmap(coro__thread *t, coro__pool_bin *b, coro__stack *first) {
    size_t map_size = first->map_size;
    uint64_t mapped = first->slab_mapped;
    unsigned i = CORO__SLAB_MAX, end;
    char *base = first->map;
    t->pooled -= first->slab_n;
    while (i > 0) {
        if (!((mapped >> (i - 1)) & 1)) {
            i--;
            continue;
        }
        for (end = i; i > 0 && ((mapped >> (i - 1)) & 1); i--) {
            coro__stack *co = coro__region_stack(base + (size_t)(i - 1) * map_size, map_size);
            coro__bin_remove(b, co);
#if CORO__VALGRIND
            VALGRIND_STACK_DEREGISTER(co->vg_stack);
#endif
        }
        coro__os_unmap(base + (size_t)i * map_size, (size_t)(end - i) * map_size);
    }
}

/* The free list for stacks of map_size; with claim, an unused bin is taken for a new size. */
static coro__pool_bin *coro__bin_for(coro__thread *t, size_t map_size, int claim) {
    unsigned i;
    coro__pool_bin *empty = NULL;
    for (i = 0; i < CORO__POOL_BINS; i++) {
        if (t->bins[i].map_size == map_size) return &t->bins[i];
        if (!empty && t->bins[i].n == 0 && t->bins[i].live == 0) empty = &t->bins[i];
    }
    if (claim && empty) {
        empty->map_size = map_size;
        empty->slab_next = 0;
        empty->high = empty->peak = empty->last = empty->frees = 0;
        return empty;
    }
    return NULL;
}

/* A slab whose stacks are all free is more than the pool needs when the free list holds,
   besides it, CORO_POOL_SIZE stacks plus what the recent high-water mark of live coroutines
   may ask for again. */
CORO__INLINE int coro__slab_surplus(coro__thread *t, coro__pool_bin *b, coro__stack *slab) {
    return t->pooled >= CORO_POOL_SIZE + slab->slab_n + (b->high > b->live ? b->high - b->live : 0);
}

/* Unmap the idle slabs that have stayed so for CORO_POOL_DECAY_MS and are still more than the
   pool needs. One taken from since, or needed again, leaves the list (it comes back when it
   is all free and surplus again). Returns the ms until the next is due, -1 when none waits. */
static long coro__pool_sweep(coro__thread *t, int64_t now) {
    coro__stack **pp = &t->idle, *slab;
    int64_t due = 0;
    while ((slab = *pp) != NULL) {
        coro__pool_bin *b = coro__bin_for(t, slab->map_size, 0);
        if (slab->slab_free != slab->slab_n || !b || !coro__slab_surplus(t, b, slab)) {
            *pp = slab->idle_next;
            slab->idle_at = 0;
        } else if (now - slab->idle_at >= CORO_POOL_DECAY_MS) {
            *pp = slab->idle_next;
            slab->idle_at = 0;
            coro__slab_unmap(t, b, slab);
        } else {
            if (!due || slab->idle_at + CORO_POOL_DECAY_MS < due) due = slab->idle_at + CORO_POOL_DECAY_MS;
            pp = &slab->idle_next;
        }
    }
    t->idle_due = due;
    return due ? (long)(due - now) : -1;
}

/* One more live coroutine of bin b, and the free stack at its head (if any) taken for it. */
CORO__INLINE void coro__bin_count_live(coro__pool_bin *b) {
    if (++b->live > b->peak) {
        b->peak = b->live;
        if (b->peak > b->high) b->high = b->peak;
    }
}
CORO__INLINE coro__stack *coro__bin_take(coro__thread *t, coro__pool_bin *b) {
    coro__stack *co = b->head;
    b->head = co->next;
    if (co->next) co->next->prev = NULL;
    co->next = NULL;
    b->n--;
    t->pooled--;
    co->slab->slab_free--;
#if CORO__ASAN
    /* frames of the previous owner may still be poisoned */
    __asan_unpoison_memory_region(co->stack_lo, co->stack_size);
#endif
    return co;
}

static CORO__NOINLINE coro__stack *coro__stack_get(coro__thread *t, size_t stack_size) {
    size_t page = coro__page(), guard = coro__guard_bytes();
    size_t map_size = guard + coro__round(stack_size + coro__struct_room(), page);
    coro__pool_bin *b = t->last_bin;
    unsigned i, k;
    char *map;
    coro__stack *co;
    if (!b || b->map_size != map_size) b = t->last_bin = coro__bin_for(t, map_size, 1);
    t->last_size = stack_size;
    if (b) coro__bin_count_live(b);
    if (b && b->head) return coro__bin_take(t, b);
    /* a new slab, twice as many stacks as the last one of this size (one for an odd size) */
    k = b ? (b->slab_next ? b->slab_next : 1) : 1;
    if ((size_t)-1 / k < map_size) k = 1;
    for (;;) { /* near a limit, a slab may fail where a single stack still fits */
        map = coro__os_map(k * map_size);
        if (map) {
            if (coro__os_stacks_prepare(map, map_size, k, guard) == 0) break;
            coro__os_unmap(map, k * map_size); /* most likely vm.max_map_count: see coro_new */
        }
        if (t->idle) { /* slabs waiting out their decay give their room first */
            (void)coro__pool_sweep(t, INT64_MAX / 2);
            continue;
        }
        if (k == 1) {
            if (b) b->live--;
            errno = ENOMEM;
            return NULL;
        }
        k = 1;
    }
#ifdef CORO_NO_GUARD
    __atomic_store_n(&coro__guard_kind, 3, __ATOMIC_RELAXED);
#endif
    if (b) b->slab_next = k * 2 > CORO__SLAB_MAX ? CORO__SLAB_MAX : k * 2;
    for (i = k; i-- > 0;) {
        co = coro__region_stack(map + i * map_size, map_size);
        co->map = map + i * map_size;
        co->map_size = map_size;
        co->stack_lo = co->map + guard;
        co->stack_size = (size_t)((char *)co - co->stack_lo);
        co->slab = coro__region_stack(map, map_size);
        co->os_note = NULL;
        co->slab_n = k;
        co->slab_free = 0;
        co->next = co->prev = NULL;
#if CORO__VALGRIND
        co->vg_stack = VALGRIND_STACK_REGISTER(co->stack_lo, (char *)co);
#endif
        if (i && b) { /* the others wait on the free list */
            co->next = b->head;
            if (b->head) b->head->prev = co;
            b->head = co;
            b->n++;
            t->pooled++;
        }
    }
    co = coro__region_stack(map, map_size);
    co->slab_free = b ? k - 1 : 0;
    co->slab_mapped = k >= 64 ? ~(uint64_t)0 : ((uint64_t)1 << k) - 1;
    return co;
}

/* The common case inline: the same stack size as the last coro_new, and a free stack of it. */
CORO__INLINE coro__stack *coro__stack_reuse(coro__thread *t, size_t stack_size) {
    coro__pool_bin *b = t->last_bin;
    if (CORO__UNLIKELY(!b || t->last_size != stack_size || !b->head))
        return coro__stack_get(t, stack_size);
    coro__bin_count_live(b);
    return coro__bin_take(t, b);
}

/* A slab all free and surplus is unmapped once it has stayed so for CORO_POOL_DECAY_MS: by a
   later free that finds another slab idle, or by coro_pool_collect (which coro_sched.h's loop
   calls before it waits). A load that returns within that time finds its stacks resident, and
   a burst of frees makes no system call: unmapping in the middle of one cost more than the
   munmap itself where a hypervisor shadows the guest's page tables (freed page tables drop its
   shadow of the slabs still in use, whose next touches then fault in the hypervisor): 100,000
   coroutines freed at once took 3.6-4.9 us each with an unmap per slab, 0.1 us without. */
static CORO__NOINLINE void coro__slab_idle(coro__thread *t, coro__pool_bin *b, coro__stack *slab) {
    int64_t now;
    if (CORO_POOL_DECAY_MS <= 0) {
        coro__slab_unmap(t, b, slab);
        return;
    }
    now = coro__os_now_ms();
    if (now < 1) now = 1; /* 0 means "not on the list" */
    if (!slab->idle_at) {
        slab->idle_next = t->idle;
        t->idle = slab;
    }
    slab->idle_at = now;
    if (now >= t->idle_due) (void)coro__pool_sweep(t, now);
}

static void coro__stack_put(coro__thread *t, coro__stack *co) {
    coro__pool_bin *b = t->last_bin;
    coro__stack *slab = co->slab;
    if (!b || b->map_size != co->map_size) b = coro__bin_for(t, co->map_size, 0);
    if (!b) { /* a size the pool has no bin for (it came alone) */
        coro__region_unmap(co);
        return;
    }
    b->live--;
    co->prev = NULL;
    co->next = b->head;
    if (b->head) b->head->prev = co;
    b->head = co;
    b->n++;
    t->pooled++;
    /* The high-water mark decays by an eighth per epoch of CORO__POOL_EPOCH frees, but never
       below the peak of this epoch or the last: a load that keeps coming back to the same number of live
       coroutines keeps the stacks it needs (and their resident pages); a large load that went
       away gives them back nearly at the pace it frees them, as the mark soon meets the
       falling peaks. Once it has gone, at most about 8 * CORO__POOL_EPOCH stacks stay besides
       CORO_POOL_SIZE (and partly used slabs). */
    if (++b->frees == CORO__POOL_EPOCH) {
        unsigned decayed = b->high - b->high / 8, peak = b->peak > b->last ? b->peak : b->last;
        b->high = peak > decayed ? peak : decayed;
        b->last = b->peak;
        b->peak = b->live;
        b->frees = 0;
    }
    if (++slab->slab_free == slab->slab_n && coro__slab_surplus(t, b, slab))
        coro__slab_idle(t, b, slab);
}

/* The converse of coro__bind: co's stack, if it has one, back to the pool. */
static void coro__unbind(coro__thread *t, struct coro *co) {
    if (!co->stack) return;
    coro__stack_put(t, co->stack);
    co->stack = NULL;
}

static size_t coro__pool_release(coro__thread *t) {
    size_t n = 0;
    unsigned i;
    coro__stack *idle;
    for (idle = t->idle; idle; idle = idle->idle_next) idle->idle_at = 0; /* all go below */
    t->idle = NULL;
    t->idle_due = 0;
    for (i = 0; i < CORO__POOL_BINS; i++) {
        coro__pool_bin *b = &t->bins[i];
        coro__stack *keep = NULL, *co;
        while ((co = b->head) != NULL) {
            if (co->slab->slab_free == co->slab->slab_n) {
                n += co->slab->slab_n;
                coro__slab_unmap(t, b, co->slab);
                continue;
            }
            coro__bin_remove(b, co);
            if (co == co->slab) { /* holds the counts its live neighbours use: stays */
                co->next = keep;
                keep = co;
                continue;
            }
            co->slab->slab_free--; /* a neighbour is alive: this stack goes alone */
            co->slab->slab_n--;
            co->slab->slab_mapped &=
                ~((uint64_t)1 << ((size_t)(co->map - co->slab->map) / co->map_size));
            t->pooled--;
            coro__region_unmap(co);
            n++;
        }
        while ((co = keep) != NULL) {
            keep = co->next;
            co->prev = NULL;
            co->next = b->head;
            if (b->head) b->head->prev = co;
            b->head = co;
            b->n++;
        }
    }
    return n;
}

/* >>handles: coroutine handles, in blocks of the thread's own */
/* A handle is apart from its stack, so that a coroutine that has not run yet costs only its
   handle: the stack is bound at the first switch to it (coro__bind). Handles sit on cache
   lines of their own (a switch reads and writes the first 48 bytes of one); blocks double from
   16 handles up to 1,024 (from CORO_MALLOC), then are huge pages of their own (2 MiB, about
   8,000 handles: a burst of 100,000 new coroutines takes 13 faults for its handles, not
   6,000); the most recently freed handle is reused first, and a block whose handles are all
   free goes back once another one is all free too. */
#define CORO__HANDLE_SIZE ((sizeof(struct coro) + 63) & ~(size_t)63)
#define CORO__HCHUNK_MAX 1024
static size_t coro__hchunk_head(void) { return coro__round(sizeof(coro__hchunk), 64); }

static void coro__hchunk_unlist(coro__thread *t, coro__hchunk *c) {
    if (c->prev) c->prev->next = c->next;
    else t->hfree = c->next;
    if (c->next) c->next->prev = c->prev;
    c->next = c->prev = NULL;
}
static void coro__hchunk_list(coro__thread *t, coro__hchunk *c) {
    c->prev = NULL;
    c->next = t->hfree;
    if (t->hfree) t->hfree->prev = c;
    t->hfree = c;
}
static void coro__hchunk_free(coro__thread *t, coro__hchunk *c) {
    coro__hchunk_unlist(t, c);
    if (c->mem) CORO_FREE(c->mem);
    else coro__os_unmap((char *)c, CORO__HUGE);
}

static CORO__NOINLINE coro__hchunk *coro__hchunk_new(coro__thread *t) {
    unsigned n = t->hnext ? t->hnext : 16, i;
    char *mem = NULL, *base;
    coro__hchunk *c;
    if (n > CORO__HCHUNK_MAX) { /* a huge page, where the memory is there */
        base = coro__os_map_huge();
        n = (unsigned)((CORO__HUGE - coro__hchunk_head()) / CORO__HANDLE_SIZE);
        if (!base) n = CORO__HCHUNK_MAX;
#if CORO__ASAN
        /* the addresses may have been a stack before: its frames' poison outlives the unmap */
        else __asan_unpoison_memory_region(base, CORO__HUGE);
#endif
    }
    if (n <= CORO__HCHUNK_MAX) {
        mem = (char *)CORO_MALLOC(coro__hchunk_head() + n * CORO__HANDLE_SIZE + 63);
        if (!mem) return NULL;
        base = (char *)(((uintptr_t)mem + 63) & ~(uintptr_t)63);
    }
    c = (coro__hchunk *)(void *)base;
    c->mem = mem;
    c->n = n;
    c->live = 0;
    c->free = NULL;
    for (i = n; i-- > 0;) { /* handed out in address order */
        char *at = base + coro__hchunk_head() + i * CORO__HANDLE_SIZE;
        struct coro *co = (struct coro *)(void *)at;
        co->magic = CORO__POOLED;
        co->thread = t;
        co->chunk = c;
        co->stack = NULL;
        co->next = c->free;
        c->free = co;
    }
    t->hnext = n * 2;
    coro__hchunk_list(t, c);
    return c;
}

CORO__INLINE struct coro *coro__handle_get(coro__thread *t) {
    coro__hchunk *c;
    struct coro *co = t->hlast;
    if (co) { /* the last one freed: still counted live in its block */
        t->hlast = NULL;
        return co;
    }
    c = t->hfree;
    if (CORO__UNLIKELY(!c) && !(c = coro__hchunk_new(t))) return NULL;
    co = c->free;
    c->free = co->next;
    if (++c->live == c->n) coro__hchunk_unlist(t, c);
    if (c == t->hspare) t->hspare = NULL;
    return co;
}

/* The handle freed last waits in t->hlast with its stack still bound (a coroutine made next
   takes both, and the pool is not touched: see coro__handle_put); the others go back to their
   blocks and their stacks to the pool. */
static void coro__handle_put_block(coro__thread *t, struct coro *co) {
    coro__hchunk *c = co->chunk;
    coro__unbind(t, co);
    co->next = c->free;
    c->free = co;
    if (c->live-- == c->n) coro__hchunk_list(t, c);
    if (c->live == 0 && c != t->hspare) {
        if (t->hspare) coro__hchunk_free(t, t->hspare);
        t->hspare = c;
    }
}
CORO__INLINE void coro__handle_put(coro__thread *t, struct coro *co) {
    struct coro *last = t->hlast;
    co->magic = CORO__POOLED;
    t->hlast = co;
    if (last) coro__handle_put_block(t, last);
}

/* Blocks whose handles are all free go back to the allocator (coro_pool_trim, thread exit). */
static void coro__handles_release(coro__thread *t) {
    coro__hchunk *c, *next;
    if (t->hlast) coro__handle_put_block(t, t->hlast);
    t->hlast = NULL;
    for (c = t->hfree; c; c = next) {
        next = c->next;
        if (c->live == 0) coro__hchunk_free(t, c);
    }
    t->hspare = NULL;
}

/* >>overflow: the report both fault blocks print, built without allocating (it runs in a fault
   handler, on little stack) */
static CORO__UNUSED void coro__write_str(char *buf, size_t *n, size_t cap, const char *s) {
    while (*s && *n < cap) buf[(*n)++] = *s++;
}
static CORO__UNUSED void coro__write_num(char *buf, size_t *n, size_t cap, uint64_t v, int hex) {
    char tmp[24];
    int k = 0;
    unsigned base = hex ? 16 : 10;
    do {
        tmp[k++] = "0123456789abcdef"[v % base];
        v /= base;
    } while (v);
    if (hex) coro__write_str(buf, n, cap, "0x");
    while (k && *n < cap) buf[(*n)++] = tmp[--k];
}

/* If addr lies below the stack of the coroutine running on t, in its guard (or, with below set,
   anywhere in its region), say so on stderr and return 1. */
static CORO__UNUSED int coro__overflow_report(coro__thread *t, const char *addr, int below) {
    struct coro *co = t ? t->current : NULL;
    char msg[256];
    size_t n = 0;
    if (!co || co == &t->main || co->magic != CORO__MAGIC || !co->stack ||
        addr < co->stack->map || addr >= (below ? (const char *)co->stack : co->stack->stack_lo))
        return 0;
    coro__write_str(msg, &n, sizeof msg, "coro: stack overflow in coroutine ");
    coro__write_num(msg, &n, sizeof msg, co->id, 0);
    if (co->name[0]) {
        coro__write_str(msg, &n, sizeof msg, " \"");
        coro__write_str(msg, &n, sizeof msg, co->name);
        coro__write_str(msg, &n, sizeof msg, "\"");
    }
    coro__write_str(msg, &n, sizeof msg, " (stack size ");
    coro__write_num(msg, &n, sizeof msg, co->stack_size, 0);
    coro__write_str(msg, &n, sizeof msg, " bytes, fault at ");
    coro__write_num(msg, &n, sizeof msg, (uintptr_t)addr, 1);
    coro__write_str(msg, &n, sizeof msg, " in its guard page)\n");
    coro__os_write_err(msg, n);
    return 1;
}

/* >>os-fault: POSIX (a SIGSEGV handler on a per-thread alternate stack) */
#if !CORO__WINDOWS
/* The overflow handler: installed once per process, run on a per-thread alternate stack. It
   recognises a fault inside the guard of the coroutine running on this thread, says so, and
   lets the process die by the signal as it would have; every other fault goes unchanged to the
   handler that was there before. */
static CORO__UNUSED struct sigaction coro__old_segv;
static CORO__UNUSED int coro__segv_installed;

static CORO__UNUSED void coro__segv(int sig, siginfo_t *si, void *uctx) {
    (void)coro__overflow_report(&coro__tls_state, (const char *)si->si_addr, 0);
    if (coro__old_segv.sa_flags & SA_SIGINFO) {
        coro__old_segv.sa_sigaction(sig, si, uctx);
    } else if (coro__old_segv.sa_handler == SIG_DFL || coro__old_segv.sa_handler == SIG_IGN) {
        /* return with the default action restored: the faulting instruction runs again and
           the process dies by SIGSEGV, core dump and all */
        signal(sig, SIG_DFL);
    } else {
        coro__old_segv.sa_handler(sig);
    }
}

static void coro__os_fault_setup(coro__thread *t) {
#ifndef CORO_NO_SIGNAL_HANDLER
    stack_t cur;
    if (sigaltstack(NULL, &cur) == 0 && (cur.ss_flags & SS_DISABLE)) {
        long min = sysconf(_SC_SIGSTKSZ);
        size_t size = 64 * 1024;
        if (min > 0 && (size_t)min * 4 > size) size = (size_t)min * 4;
        t->altstack = mmap(NULL, size, PROT_READ | PROT_WRITE,
                           MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (t->altstack != MAP_FAILED) {
            stack_t ss;
            ss.ss_sp = t->altstack;
            ss.ss_size = size;
            ss.ss_flags = 0;
            if (sigaltstack(&ss, NULL) == 0) {
                t->altstack_size = size;
            } else {
                munmap(t->altstack, size);
                t->altstack = NULL;
            }
        } else {
            t->altstack = NULL;
        }
    }
    if (__atomic_exchange_n(&coro__segv_installed, 1, __ATOMIC_ACQ_REL) == 0) {
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_sigaction = coro__segv;
        sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
        sigemptyset(&sa.sa_mask);
        sigaction(SIGSEGV, &sa, &coro__old_segv);
    }
#else
    (void)t;
#endif
}

static void coro__os_fault_teardown(coro__thread *t) {
    if (t->altstack) {
        stack_t ss;
        memset(&ss, 0, sizeof ss);
        ss.ss_flags = SS_DISABLE;
        sigaltstack(&ss, NULL);
        munmap(t->altstack, t->altstack_size);
        t->altstack = NULL;
    }
}

/* >>os-fault: Windows (a vectored exception handler) */
#else
/* Installed once per process, first in the chain. A stack overflow (the system's guard page
   reached the bottom of a coroutine's stack) or an access violation in a coroutine's guard
   region is reported naming the coroutine; the handler always continues the search, so the
   exception goes on to whatever handles it, and unhandled it ends the process as it would have
   (0xC00000FD or 0xC0000005). It runs on the faulting stack, in the page the system commits for
   that, so it does little: no allocation, one WriteFile. */
static CORO__UNUSED LONG coro__veh_installed;
static CORO__UNUSED LONG CALLBACK coro__veh(EXCEPTION_POINTERS *ep) {
    const EXCEPTION_RECORD *r = ep->ExceptionRecord;
    DWORD code = r->ExceptionCode;
    if ((code == EXCEPTION_STACK_OVERFLOW || code == EXCEPTION_ACCESS_VIOLATION) &&
        r->NumberParameters >= 2)
        (void)coro__overflow_report(coro__tls_ptr, (const char *)r->ExceptionInformation[1],
                                    code == EXCEPTION_STACK_OVERFLOW);
    return EXCEPTION_CONTINUE_SEARCH;
}
static void coro__os_fault_setup(coro__thread *t) {
    (void)t;
#ifndef CORO_NO_SIGNAL_HANDLER
    if (InterlockedExchange(&coro__veh_installed, 1) == 0)
        AddVectoredExceptionHandler(1, coro__veh);
#endif
}
static void coro__os_fault_teardown(coro__thread *t) { (void)t; }
#endif

/* >>thread: what every thread sets up the first time it uses coro.h, and its exit */
static uint64_t coro__id_counter; /* ids are handed to threads in blocks: no atomic per coro_new */

static void coro__thread_exit(coro__thread *t) {
    coro__handles_release(t);
    coro__pool_release(t);
    coro__os_fault_teardown(t);
}

static CORO__NOINLINE coro__thread *coro__thread_setup(coro__thread *t) {
    t->main.status = CORO_RUNNING;
    t->main.flags = CORO__F_STARTED;
    t->main.thread = t;
    t->main.magic = CORO__MAGIC;
#if CORO__TSAN
    t->main.tsan_fiber = __tsan_get_current_fiber();
#endif
    t->current = &t->main;
    t->shadow_stack = coro__shadow_stack_active();
#if defined(CORO__ARCH_I386)
    (void)coro__i386_sse();
#endif
    coro__os_fault_setup(t);
    coro__os_thread_register(t);
    t->ready = 1;
    return t;
}

/* >>core */
static void coro__list_remove(coro__thread *t, struct coro *co) {
    if (co->prev) co->prev->next = co->next;
    else t->all = co->next;
    if (co->next) co->next->prev = co->prev;
    co->next = co->prev = NULL;
    t->alive--;
}

/* The floating-point control words: saved from the coroutine leaving, loaded for the one
   entering only when they differ. A coroutine's first switch-in inherits the current ones.
   to_has_run: the caller knows `to` has run before (a resumer, main, a coroutine being
   killed), which spares the yield that test. */
CORO__INLINE void coro__fpu_switch(struct coro *from, struct coro *to, int to_has_run) {
    if (!to_has_run && CORO__UNLIKELY(!(to->flags & CORO__F_STARTED))) {
        to->flags |= CORO__F_STARTED;
        coro__fpu_save(&from->fpu);
        coro__fpu_inherit(&to->fpu, &from->fpu); /* nothing to load: it starts with these modes */
    } else {
        coro__fpu_swap(&from->fpu, &to->fpu);
    }
}

/* coro__finish and the functions it ends in never return, but are not declared noreturn:
   compilers call a noreturn function even in tail position, and coro__start's tail calls are
   what lets the last switch end in a predicted ret (coro__jump_final). */
static CORO__NOINLINE void coro__finish(coro__thread *t, struct coro *co, void *result);

/* A killed coroutine arrives here on its own stack: its cleanups run and it finishes. */
static CORO__START_ATTR CORO__NORETURN CORO__NOINLINE void coro__kill_entry(struct coro *co) {
    coro__finish(co->thread, co, NULL);
    abort(); /* not reached */
}
static CORO__START_ATTR CORO__UNUSED void coro__kill_entry_c(struct coro *co) {
    coro__kill_entry(co);
}

#if CORO__SWAP_FN
/* Every switch goes through here, and every caller returns its result directly: it compiles to
   a tail call, so the caller's frame is gone before the switch and no code of ours runs after
   it (which is also why the thread state read before it can never be stale). When `from` is
   continued, the call returns the value passed by whoever switched to it. */
CORO__INLINE void *coro__jump(coro__thread *t, struct coro *from, struct coro *to, void *value,
                              int to_has_run) {
    coro__fpu_switch(from, to, to_has_run);
    t->current = to;
    return coro__swap(from, to, value);
}
/* coro_transfer's: the same through coro__swap_peer. Its sides usually left through the same
   call site (a scheduler's tasks handing over to each other), where a ret is predicted; a
   resume and a yield never do. */
CORO__INLINE void *coro__jump_peer(coro__thread *t, struct coro *from, struct coro *to,
                                   void *value, int to_has_run) {
    coro__fpu_switch(from, to, to_has_run);
    t->current = to;
    return coro__swap_peer(from, to, value);
}
/* The last switch of a finished coroutine. coro__start reaches it by tail calls (with
   optimisation on), so a coroutine that never switched away since it started has its calls all
   returned, and the return stack's top is the resume address of whoever switched to it: its
   resumer, which is where this switch goes. Then coro__swap_final's ret is predicted and keeps
   the return stack in step (coro__swap's jump would leave the entry there, and the resumer's
   next ret would be mispredicted: create, resume to the end and free took 28.9 ns with the
   jump, 15.9 with the ret). A coroutine that did switch away (its ctx.sp moved) came back
   through a switch whose return-stack entries belong to others: the jump, as everywhere else. */
static void coro__jump_final(coro__thread *t, struct coro *from, struct coro *to, void *value) {
    coro__fpu_load(&to->fpu); /* a finished coroutine's own modes need no saving */
    t->current = to;
    if (from->ctx.sp == (void *)coro__ctx_first_sp((char *)from->stack))
        coro__swap_final(from, to, value);
    else (void)coro__swap(from, to, value);
}
static void coro__arm_kill(struct coro *co) { coro__ctx_arm_kill(&co->ctx); }
#else
/* The inline switch: ASan is told about the change of stacks on both sides, and a pending kill
   is noticed when the coroutine is switched back to. */
CORO__INLINE void *coro__switch_inline(coro__thread *t, struct coro *from, struct coro *to,
                                       void *value, int from_finished) {
#if CORO__ASAN
    __sanitizer_start_switch_fiber(from_finished ? NULL : &from->asan_fake, to->asan_bottom,
                                   to->asan_size);
#else
    (void)from_finished;
#endif
#if CORO__TSAN
    __tsan_switch_to_fiber(to->tsan_fiber, 0);
#endif
    t->current = to;
    {
        struct coro *f = from, *tt = to;
        void *v = value;
        CORO__SWITCH(f, tt, v);
#if CORO__ASAN
        /* f is whoever switched to us; remember main's stack bounds the first time we see it */
        {
            const void *bottom;
            size_t size;
            __sanitizer_finish_switch_fiber(tt->asan_fake, &bottom, &size);
            if (f == &f->thread->main) {
                f->asan_bottom = bottom;
                f->asan_size = size;
            }
        }
#endif
        (void)f;
        if (CORO__UNLIKELY(from->flags & CORO__F_KILL)) coro__kill_entry(from);
        return v;
    }
}
CORO__INLINE void *coro__jump(coro__thread *t, struct coro *from, struct coro *to, void *value,
                              int to_has_run) {
    coro__fpu_switch(from, to, to_has_run);
    return coro__switch_inline(t, from, to, value, 0);
}
CORO__INLINE void *coro__jump_peer(coro__thread *t, struct coro *from, struct coro *to,
                                   void *value, int to_has_run) {
    return coro__jump(t, from, to, value, to_has_run);
}
static CORO__NORETURN void coro__jump_final(coro__thread *t, struct coro *from, struct coro *to,
                                            void *value) {
    coro__fpu_load(&to->fpu);
    coro__switch_inline(t, from, to, value, 1);
    abort();
}
static void coro__arm_kill(struct coro *co) { co->flags |= CORO__F_KILL; }
#endif

/* The coroutine is dead: back to its resumer (main if none), never to return. */
CORO__INLINE void coro__finish_end(coro__thread *t, struct coro *co, void *result) {
    struct coro *to;
    co->status = CORO_DEAD;
    to = co->resumer ? co->resumer : &t->main;
    co->resumer = NULL;
    to->status = CORO_RUNNING;
    to->raised = 0;
    coro__jump_final(t, co, to, result);
}
/* Its cleanups and the runtime's exit hook first, out of line: a coroutine that has neither
   finishes without a call that returns, so without saving registers for one. */
static CORO__NOINLINE void coro__finish_cleanups(coro__thread *t, struct coro *co,
                                                 void *result) {
    while (co->ndefer) {
        coro__defer d = co->defers[--co->ndefer];
        d.fn(d.arg);
    }
    if (co->defers != co->inline_defers) {
        CORO_FREE(co->defers);
        co->defers = co->inline_defers;
        co->cap_defer = CORO__DEFER_INLINE;
    }
    if (co->runtime_exit) co->runtime_exit(co->runtime);
    coro__finish_end(t, co, result);
}

static CORO__NOINLINE void coro__finish(coro__thread *t, struct coro *co, void *result) {
    co->flags = (co->flags & ~CORO__F_KILL) | CORO__F_DYING;
    if (co->ndefer || co->defers != co->inline_defers || co->runtime_exit)
        coro__finish_cleanups(t, co, result);
    else
        coro__finish_end(t, co, result);
}

static CORO__START_ATTR void coro__start(CORO__START_PARAMS) {
#if CORO__ASAN
    {
        const void *bottom;
        size_t size;
        struct coro *f = CORO__START_FROM;
        __sanitizer_finish_switch_fiber(NULL, &bottom, &size);
        if (f && f == &f->thread->main) {
            f->asan_bottom = bottom;
            f->asan_size = size;
        }
    }
#endif
    coro__finish(self->thread, self, self->fn(value));
}

/* A switch target is valid: `owner` is the runtime data co must carry (NULL for a coroutine
   of the user's own). */
CORO__INLINE int coro__good_target(coro__thread *t, const struct coro *co, const void *owner) {
    return co && co->thread == t && co->magic == CORO__MAGIC && co->status == CORO_SUSPENDED &&
           co->runtime == owner;
}
/* Why it is not, reported (errno, and a line under CORO_DEBUG naming `what`, the calling
   function); returns NULL for the caller to return. Out of line, so that the switching
   functions' fast paths call nothing and need no stack frame of their own. */
static CORO__NOINLINE void *coro__bad_target(coro__thread *t, const struct coro *co,
                                             const void *owner, const char *what) {
    (void)owner;
    if (!co) CORO__MISUSE(what, EINVAL, "NULL coroutine");
    else if (co->thread != t || co->magic != CORO__MAGIC)
        CORO__MISUSE(what, EINVAL, "not a live coroutine of this thread");
    else if (co->status == CORO_DEAD) CORO__MISUSE(what, EINVAL, "coroutine is dead");
    else if (co->status != CORO_SUSPENDED)
        CORO__MISUSE(what, EINVAL, "coroutine is running or waiting in the resumer chain");
    else CORO__MISUSE(what, EBUSY, "coroutine belongs to a runtime (spawned: its loop runs it)");
    return NULL;
}
static CORO__NOINLINE void *coro__misuse_null(const char *what, int err, const char *why) {
    CORO__MISUSE(what, err, why);
    return NULL;
}

/* The first switch to co binds a stack to it, from the pool (a new slab when it has none),
   unless its handle came with one: 0, or -1 with errno ENOMEM and co unchanged. */
CORO__INLINE int coro__bind(coro__thread *t, struct coro *co) {
    coro__stack *st = co->stack;
    if (st) {
#if CORO__ASAN
        __asan_unpoison_memory_region(st->stack_lo, st->stack_size); /* its last user's frames */
#endif
    } else {
        st = coro__stack_reuse(t, co->stack_size);
        if (CORO__UNLIKELY(!st)) return -1;
        co->stack = st;
    }
#if CORO__ASAN
    co->asan_bottom = st->stack_lo;
    co->asan_size = st->stack_size;
#endif
    coro__ctx_init(&co->ctx, (char *)st);
    return 0;
}

/* The resume itself: co continues (or starts), the current one waits in the chain below it. */
CORO__INLINE void *coro__resume_go(coro__thread *t, struct coro *co, void *value, int err,
                                   int to_has_run) {
    struct coro *cur = t->current;
    cur->status = CORO_NORMAL;
    co->status = CORO_RUNNING;
    co->resumer = cur;
    co->raised = err;
    return coro__jump(t, cur, co, value, to_has_run);
}

/* coro__resume_raise's first switch to co: its stack first. */
static CORO__NOINLINE void *coro__resume_first(coro__thread *t, struct coro *co, void *value,
                                               int err) {
    if (coro__bind(t, co) != 0) return NULL;
    return coro__resume_go(t, co, value, err, 0);
}

CORO__INLINE void *coro__resume_raise(struct coro *co, const void *owner, void *value, int err,
                                      const char *what) {
    coro__thread *t = coro__tls();
    if (CORO__UNLIKELY(!coro__good_target(t, co, owner)))
        return coro__bad_target(t, co, owner, what);
    if (CORO__UNLIKELY(!(co->flags & CORO__F_STARTED)))
        return coro__resume_first(t, co, value, err);
    return coro__resume_go(t, co, value, err, 1);
}

/* >>public */
CORO_API coro_t *coro_new(coro_fn fn, size_t stack_size) {
    coro__thread *t = coro__tls();
    struct coro *co;
    if (!fn) {
        CORO__MISUSE("coro_new", EINVAL, "NULL function");
        return NULL;
    }
    if (stack_size > CORO_MAX_STACK_SIZE) {
        CORO__MISUSE("coro_new", EINVAL, "stack size larger than CORO_MAX_STACK_SIZE");
        return NULL;
    }
    if (CORO__UNLIKELY(!t->ready)) coro__thread_setup(t);
    if (CORO__UNLIKELY(t->shadow_stack)) {
        static int told;
        if (!__atomic_exchange_n(&told, 1, __ATOMIC_RELAXED)) {
            static const char msg[] =
                "coro: a CET shadow stack is active in this thread and coro.h does not switch "
                "shadow stacks; build without -fcf-protection=return (or =full) or run with "
                "GLIBC_TUNABLES=glibc.cpu.x86_shstk=off\n";
            coro__os_write_err(msg, sizeof msg - 1);
        }
        errno = ENOTSUP;
        return NULL;
    }
    if (stack_size == 0) stack_size = CORO_DEFAULT_STACK_SIZE;
    if (stack_size < CORO_MIN_STACK_SIZE) stack_size = CORO_MIN_STACK_SIZE;
    co = coro__handle_get(t);
    if (!co) {
        errno = ENOMEM;
        return NULL;
    }
    /* the pool's stacks of this usable size serve it (coro__bind); the last handle freed may
       come with one */
    stack_size = coro__round(stack_size + coro__struct_room(), coro__page()) - coro__struct_room();
    if (CORO__UNLIKELY(co->stack && co->stack_size != stack_size)) coro__unbind(t, co);
    co->stack_size = stack_size;
    co->resumer = NULL;
    co->thread = t;
    co->status = CORO_SUSPENDED;
    co->flags = 0;
    co->raised = 0;
    co->magic = CORO__MAGIC;
#if CORO__TSAN
    co->tsan_fiber = __tsan_create_fiber(0);
#endif
    co->fn = fn;
    co->data = NULL;
    co->runtime = NULL;
    co->runtime_exit = NULL;
    if (CORO__UNLIKELY(t->id_next == t->id_end)) {
        t->id_next = __atomic_fetch_add(&coro__id_counter, 1024, __ATOMIC_RELAXED) + 1;
        t->id_end = t->id_next + 1024;
    }
    co->id = t->id_next++;
    co->defers = co->inline_defers;
    co->ndefer = 0;
    co->cap_defer = CORO__DEFER_INLINE;
#if CORO__ASAN
    co->asan_fake = NULL;
#endif
    co->name[0] = 0;
    co->prev = NULL;
    co->next = t->all;
    if (t->all) t->all->prev = co;
    t->all = co;
    t->alive++;
    return co;
}

CORO__OPAQUE CORO_API int coro_free(coro_t *co) {
    coro__thread *t;
    if (!co) return 0;
    t = coro__tls();
    if (co->thread != t || co->magic != CORO__MAGIC) {
        CORO__MISUSE("coro_free", EINVAL, "not a live coroutine of this thread (freed twice?)");
        return -1;
    }
    if (co->status == CORO_RUNNING || co->status == CORO_NORMAL) {
        CORO__MISUSE("coro_free", EBUSY, "coroutine is running or waiting in the resumer chain");
        return -1;
    }
    if (co->runtime) {
        CORO__MISUSE("coro_free", EBUSY, "coroutine belongs to a runtime (spawned: it frees it)");
        return -1;
    }
    if (co->status == CORO_SUSPENDED && (co->flags & CORO__F_STARTED)) {
        coro_kill(co);
        if (co->status != CORO_DEAD) {
            CORO__MISUSE("coro_free", EBUSY, "its kill did not finish (a cleanup switched away)");
            return -1;
        }
    }
    if (co->defers != co->inline_defers) CORO_FREE(co->defers); /* never started */
#if CORO__TSAN
    __tsan_destroy_fiber(co->tsan_fiber);
#endif
    coro__list_remove(t, co);
    if (co->stack) coro__os_stack_left(co->stack, &co->ctx);
    coro__handle_put(t, co); /* with its stack */
    return 0;
}

CORO_API int coro_stack_release(coro_t *co) {
    coro__thread *t = coro__tls();
    if (!co || co->thread != t || co->magic != CORO__MAGIC) {
        CORO__MISUSE("coro_stack_release", EINVAL, "not a live coroutine of this thread");
        return -1;
    }
    if (co->status != CORO_DEAD || co == t->current) {
        CORO__MISUSE("coro_stack_release", EBUSY, "coroutine has not finished: its stack is in use");
        return -1;
    }
    if (co->stack) coro__os_stack_left(co->stack, &co->ctx);
    coro__unbind(t, co);
    return 0;
}

CORO__OPAQUE CORO_API void *coro_resume(coro_t *co, void *value) {
    return coro__resume_raise(co, NULL, value, 0, "coro_resume");
}

CORO__OPAQUE CORO_API void *coro_runtime_resume(coro_t *co, const void *data, void *value) {
    if (!data) {
        CORO__MISUSE("coro_runtime_resume", EINVAL, "NULL runtime data");
        return NULL;
    }
    return coro__resume_raise(co, data, value, 0, "coro_runtime_resume");
}

CORO__OPAQUE CORO_API void *coro_raise(coro_t *co, int err) {
    if (err <= 0) {
        CORO__MISUSE("coro_raise", EINVAL, "the error must be a positive errno value");
        return NULL;
    }
    /* a raise is for everybody: whoever owns co, its pending call fails with err */
    return coro__resume_raise(co, co ? co->runtime : NULL, NULL, err, "coro_raise");
}

CORO__OPAQUE CORO_API void *coro_yield(void *value) {
    coro__thread *t = coro__tls();
    struct coro *cur = t->current, *to;
    if (CORO__UNLIKELY(!cur || cur == &t->main))
        return coro__misuse_null("coro_yield", EINVAL, "called from main, not from a coroutine");
    if (CORO__UNLIKELY(cur->flags & CORO__F_DYING))
        return coro__misuse_null("coro_yield", ECANCELED, "called from a cleanup handler");
    to = cur->resumer ? cur->resumer : &t->main;
    cur->resumer = NULL;
    cur->status = CORO_SUSPENDED;
    to->status = CORO_RUNNING;
    to->raised = 0;
    return coro__jump(t, cur, to, value, 1); /* its resumer, or main: it has run */
}

CORO__OPAQUE CORO_API void *coro_transfer(coro_t *to, void *value) {
    coro__thread *t = coro__tls();
    struct coro *cur = t->current, *p;
    if (CORO__LIKELY(to && to->thread == t && to->magic == CORO__MAGIC &&
                     to->status == CORO_SUSPENDED && (to->flags & CORO__F_STARTED) &&
                     !(cur->flags & CORO__F_DYING))) {
        /* the common case, a tail call to a suspended coroutine (to->thread == t: the thread
           is set up) */
        to->resumer = cur == &t->main ? NULL : cur->resumer;
        cur->resumer = NULL;
        cur->status = CORO_SUSPENDED;
        to->status = CORO_RUNNING;
        to->raised = 0;
        return coro__jump_peer(t, cur, to, value, 1);
    }
    if (CORO__UNLIKELY(!t->ready)) coro__thread_setup(t);
    cur = t->current;
    if (!to) to = &t->main;
    if (to == cur) {
        CORO__MISUSE("coro_transfer", EINVAL, "transfer to the running coroutine itself");
        return NULL;
    }
    if (cur->flags & CORO__F_DYING) {
        CORO__MISUSE("coro_transfer", ECANCELED, "called from a cleanup handler");
        return NULL;
    }
    if (to != &t->main && (to->thread != t || to->magic != CORO__MAGIC || to->status == CORO_DEAD)) {
        CORO__MISUSE("coro_transfer", EINVAL, "target is dead or not a coroutine of this thread");
        return NULL;
    }
    if (!(to->flags & CORO__F_STARTED) && coro__bind(t, to) != 0) return NULL;
    if (to == &t->main || to->status == CORO_NORMAL) {
        /* `to` waits somewhere below us in the chain: cut the chain there. First check that
           it really is there, then suspend everything above it. */
        for (p = cur->resumer ? cur->resumer : &t->main; p != to && p != &t->main;
             p = p->resumer ? p->resumer : &t->main)
            ;
        if (p != to) {
            CORO__MISUSE("coro_transfer", EINVAL, "target is not in the resumer chain");
            return NULL;
        }
        for (p = cur->resumer; p && p != to;) {
            struct coro *up = p->resumer;
            p->status = CORO_SUSPENDED;
            p->resumer = NULL;
            p = up;
        }
    } else {
        to->resumer = cur == &t->main ? NULL : cur->resumer; /* a tail call */
    }
    cur->resumer = NULL;
    cur->status = CORO_SUSPENDED;
    to->status = CORO_RUNNING;
    to->raised = 0;
    return coro__jump_peer(t, cur, to, value, 0);
}

CORO_API coro_t *coro_current(void) {
    coro__thread *t = coro__tls();
    return t->current == &t->main ? NULL : t->current;
}

CORO_API int coro_status(const coro_t *co) {
    if (!co) {
        CORO__MISUSE("coro_status", EINVAL, "NULL coroutine");
        return -1;
    }
    return co->status;
}

CORO_API const char *coro_status_name(int status) {
    switch (status) {
    case CORO_SUSPENDED: return "suspended";
    case CORO_RUNNING: return "running";
    case CORO_NORMAL: return "normal";
    case CORO_DEAD: return "dead";
    default: return "invalid";
    }
}

CORO_API int coro_defer(void (*fn)(void *), void *arg) {
    coro__thread *t = coro__tls();
    struct coro *co = t->current;
    if (!co || co == &t->main) {
        CORO__MISUSE("coro_defer", EINVAL, "called from main, not from a coroutine");
        return -1;
    }
    if (!fn) {
        CORO__MISUSE("coro_defer", EINVAL, "NULL function");
        return -1;
    }
    if (co->ndefer == co->cap_defer) {
        unsigned cap = co->cap_defer * 2;
        coro__defer *d;
        d = (coro__defer *)CORO_MALLOC(cap * sizeof *d);
        if (!d) {
            errno = ENOMEM;
            return -1;
        }
        memcpy(d, co->defers, co->ndefer * sizeof *d);
        if (co->defers != co->inline_defers) CORO_FREE(co->defers);
        co->defers = d;
        co->cap_defer = cap;
    }
    co->defers[co->ndefer].fn = fn;
    co->defers[co->ndefer].arg = arg;
    co->ndefer++;
    return 0;
}

CORO_API int coro_defer_pop(int run) {
    coro__thread *t = coro__tls();
    struct coro *co = t->current;
    coro__defer d;
    if (!co || co == &t->main || co->ndefer == 0) {
        CORO__MISUSE("coro_defer_pop", EINVAL, "no cleanup registered in this coroutine");
        return -1;
    }
    d = co->defers[--co->ndefer];
    if (run) d.fn(d.arg);
    return 0;
}

CORO__OPAQUE CORO_API int coro_kill(coro_t *co) {
    coro__thread *t = coro__tls();
    struct coro *cur;
    if (!co || co->thread != t || co->magic != CORO__MAGIC) {
        CORO__MISUSE("coro_kill", EINVAL, "not a live coroutine of this thread");
        return -1;
    }
    cur = t->current;
    switch (co->status) {
    case CORO_DEAD: return 0;
    case CORO_NORMAL:
        CORO__MISUSE("coro_kill", EBUSY, "coroutine waits in the resumer chain");
        return -1;
    case CORO_RUNNING: /* co == cur: finish ourselves */
        coro__finish(t, co, NULL);
        abort(); /* not reached */
    default: break;
    }
    if (!(co->flags & CORO__F_STARTED)) {
        co->status = CORO_DEAD;
        return 0;
    }
    if (co->flags & CORO__F_DYING) {
        /* its cleanups were interrupted by a switch elsewhere; let them go on */
        coro__resume_raise(co, co->runtime, NULL, 0, "coro_kill");
        return 0;
    }
    coro__arm_kill(co);
    cur->status = CORO_NORMAL;
    co->status = CORO_RUNNING;
    co->resumer = cur;
    co->raised = 0;
    coro__jump(t, cur, co, NULL, 1);
    return 0;
}

CORO_API int coro_raised(void) {
    coro__thread *t = coro__tls();
    struct coro *co = t->current;
    int err;
    if (!co || co == &t->main) return 0;
    err = co->raised;
    co->raised = 0;
    return err;
}

CORO_API uint64_t coro_id(const coro_t *co) { return co ? co->id : 0; }

CORO_API int coro_set_name(coro_t *co, const char *name) {
    size_t n;
    if (!co) {
        CORO__MISUSE("coro_set_name", EINVAL, "NULL coroutine");
        return -1;
    }
    n = name ? strlen(name) : 0;
    if (n > CORO__NAME_MAX - 1) n = CORO__NAME_MAX - 1;
    if (n) memcpy(co->name, name, n);
    co->name[n] = 0;
    return 0;
}

CORO_API const char *coro_name(const coro_t *co) { return co ? co->name : "main"; }
CORO_API void coro_set_data(coro_t *co, void *data) {
    if (co) co->data = data;
}
CORO_API void *coro_data(const coro_t *co) { return co ? co->data : NULL; }
CORO_API void coro_set_runtime(coro_t *co, void *data, void (*on_exit)(void *data)) {
    if (!co) return;
    co->runtime = data;
    co->runtime_exit = on_exit;
}
CORO_API void *coro_runtime_data(const coro_t *co) { return co ? co->runtime : NULL; }
CORO_API size_t coro_stack_size(const coro_t *co) { return co ? co->stack_size : 0; }

CORO_API long coro_stack_used(const coro_t *co) {
    size_t page = coro__page(), pages;
    char *lo;
    long k;
    if (!co || co->magic != CORO__MAGIC) {
        errno = EINVAL;
        return -1;
    }
    if (!co->stack) return 0; /* it has not run: no stack yet */
    lo = (char *)((uintptr_t)co->stack->stack_lo & ~(uintptr_t)(page - 1));
    pages = (size_t)(co->stack->map + co->stack->map_size - lo) / page;
    k = coro__os_touched(lo, pages, page);
    if (k < 0) return -1;
    if ((size_t)k == pages) return 0;
    return (long)((char *)co->stack - (lo + (size_t)k * page));
}

CORO_API size_t coro_count_alive(void) { return coro__tls()->alive; }

CORO_API void coro_foreach(void (*fn)(coro_t *co, void *ud), void *ud) {
    coro__thread *t = coro__tls();
    struct coro *co, *next;
    if (!fn) return;
    for (co = t->all; co; co = next) {
        next = co->next;
        fn(co, ud);
    }
}

CORO_API size_t coro_pool_trim(void) {
    coro__thread *t = coro__tls();
    coro__handles_release(t);
    return coro__pool_release(t);
}

CORO_API long coro_pool_collect(void) {
    coro__thread *t = coro__tls();
    int64_t now;
    if (!t->idle) return -1;
    now = coro__os_now_ms();
    if (now < t->idle_due) return (long)(t->idle_due - now);
    return coro__pool_sweep(t, now);
}

CORO_API const char *coro_guard_mode(void) {
    switch (__atomic_load_n(&coro__guard_kind, __ATOMIC_RELAXED)) {
    case 1: return "madvise";
    case 2: return "mprotect";
    case 3: return "none";
    case 4: return "reserve";
    default: return "unknown";
    }
}

#endif /* CORO_IMPLEMENTATION */

/*
------------------------------------------------------------------------------
This software is available under 2 licences -- choose whichever you prefer.
------------------------------------------------------------------------------
ALTERNATIVE A - MIT License
Copyright (c) 2026 the coro.h developers
Permission is hereby granted, free of charge, to any person obtaining a copy of
this software and associated documentation files (the "Software"), to deal in
the Software without restriction, including without limitation the rights to
use, copy, modify, merge, publish, distribute, sublicense, and/or sell copies
of the Software, and to permit persons to whom the Software is furnished to do
so, subject to the following conditions:
The above copyright notice and this permission notice shall be included in all
copies or substantial portions of the Software.
THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR
IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,
FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE
AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER
LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM,
OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE
SOFTWARE.
------------------------------------------------------------------------------
ALTERNATIVE B - Public Domain (www.unlicense.org)
This is free and unencumbered software released into the public domain.
Anyone is free to copy, modify, publish, use, compile, sell, or distribute this
software, either in source code form or as a compiled binary, for any purpose,
commercial or non-commercial, and by any means.
In jurisdictions that recognize copyright laws, the author or authors of this
software dedicate any and all copyright interest in the software to the public
domain. We make this dedication in perpetuity. We believe that the existence
of this software is in the public domain and that it is an overt act of
dedication of the software to the public domain for the benefit of the public
at large and to the detriment of our heirs and successors. We intend this
dedication to be an overt act of relinquishment of all present and future
rights to this software under copyright law.
THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR
IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,
FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE
AUTHORS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER LIABILITY, WHETHER IN AN
ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM, OUT OF OR IN CONNECTION
WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE SOFTWARE.
------------------------------------------------------------------------------
*/
