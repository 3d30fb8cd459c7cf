/* bench/core/bench_core.c - the core benchmark of coro.h: what a context switch, a coroutine's
   whole life and an idle coroutine cost, next to the baselines a reader would compare it with,
   all measured in one run on one machine. A benchmark, not a test: it checks only that every
   loop computed what it should.

   Rows:
     coro.h                  compiled in its own file (coro_impl.c), as a user calls it
     floor (push/pop, ret)   floor_x86_64.S: saves only what the x86-64 ABI forces; returns
     floor (push/pop, jmp)   with ret (the classic shape) or with a predicted indirect jmp
     floor + FPU words (jmp) the jmp floor plus coro.h's handling of MXCSR and the x87 control
                             word: what keeping them costs on this CPU, and the floor of any
                             switch that keeps them
     glibc ucontext          swapcontext, one sigprocmask system call per switch
     Boost fcontext          jump_fcontext (fcontext.cc), which keeps MXCSR and x87 CW too
     pthreads futex          two threads hand a token through a futex, on one CPU and on two
   Columns:
     ns/switch       a generator yields to its resumer; total time / (2 * iterations), i.e.
                     one resume or one yield. The best of BENCH_REPS short runs.
     x floor         ns/switch over the faster of the two floors.
     create+free     ns for the whole life of a coroutine whose function returns at once:
                     coro_new + coro_resume + coro_free (the stack comes from coro.h's pool);
                     the baselines take their stack from a free list the same way.
     RSS/coro        (VmRSS after - VmRSS before) / N with N = 10,000 and 1,000,000 coroutines
                     alive, each resumed once and waiting in a yield. coro.h uses its defaults
                     (256 KiB stacks, guard pages); the baselines a 16 KiB slot each in one
                     mmap'd slab, no guard, their context at the top of their slot. 1M runs in
                     a forked child so that its memory goes back and a failure is contained.
     +PTE/coro 1M    page tables the 1M coroutines added (VmPTE), which VmRSS does not count.

   Build and run from the repository root:
       make -f bench/core/Makefile.inc core-bench-bins BUILD=build
       build/bench/bench_core [out.tsv]          (default build/bench/core.tsv)
   The main thread is pinned to one CPU. A run takes 15-60 seconds, most of it the kernel
   faulting in the 1M coroutines' pages. Timings are only as good as the machine is quiet: the
   load average is printed with them. */
#define _GNU_SOURCE 1
#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>
#include <gnu/libc-version.h>

#include "coro.h"
#ifdef BENCH_HAVE_BOOST
#include "fcontext_bench.h"
#endif

#if !defined(__x86_64__)
#error "bench_core: the floor is x86-64 assembly; this benchmark runs on x86-64 only"
#endif

/* Many short repetitions: the best of them is the one least disturbed by other processes. */
#define BENCH_REPS 101
#define BENCH_REP_SECONDS 0.002
#define BENCH_STACK (64 * 1024)  /* stacks of the baselines' switch and create loops */
#define BENCH_SLOT (16 * 1024)   /* per idle baseline coroutine: context at top, stack below */
#define BENCH_MAX_ROWS 16
#define BENCH_SMALL_N 10000L
#define BENCH_LARGE_N 1000000L
#define BENCH_SAME_FRAME \
    "skipped to keep the run short; its idle frame is the ret floor's within 8 bytes"

/* >>common */
static double bench_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static char bench_why[200]; /* why the last idle_make failed */

/* A free list of stacks, the baselines' equivalent of coro.h's pool. */
static void *bench_free_stacks;
static void *bench_stack_get(void) {
    void *s = bench_free_stacks;
    if (s) {
        bench_free_stacks = *(void **)s;
        return s;
    }
    return malloc(BENCH_STACK);
}
static void bench_stack_put(void *s) {
    *(void **)s = bench_free_stacks;
    bench_free_stacks = s;
}

/* One slab of n slots for the idle baselines: mapped untouched before the first VmRSS reading,
   so only what the coroutines touch is counted. */
static char *bench_slab;
static size_t bench_slab_size;
static int bench_slab_map(long n) {
    bench_slab_size = (size_t)n * BENCH_SLOT;
    bench_slab = (char *)mmap(NULL, bench_slab_size, PROT_READ | PROT_WRITE,
                              MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (bench_slab == MAP_FAILED) {
        bench_slab = NULL;
        snprintf(bench_why, sizeof bench_why, "mmap of %zu bytes: %s", bench_slab_size,
                 strerror(errno));
        return -1;
    }
    madvise(bench_slab, bench_slab_size, MADV_NOHUGEPAGE); /* with THP "always": 4 KiB pages */
    return 0;
}
static void bench_slab_unmap(long n) {
    (void)n;
    if (bench_slab) munmap(bench_slab, bench_slab_size);
    bench_slab = NULL;
}

/* >>coro.h */
static void *cb_generator(void *arg) {
    long i = (long)(intptr_t)arg;
    for (;;) coro_yield((void *)(intptr_t)i++);
    return NULL;
}

static double cb_switch_run(long iters, long *sum) {
    coro_t *co = coro_new(cb_generator, 0);
    long s = 0, k;
    double t;
    if (!co) return -1;
    t = bench_now();
    for (k = 0; k < iters; k++) s += (long)(intptr_t)coro_resume(co, NULL);
    t = bench_now() - t;
    coro_free(co);
    *sum = s;
    return t;
}

static void *cb_return_now(void *arg) { return arg; }

static double cb_create_run(long iters, long *sum) {
    long s = 0, k;
    double t = bench_now();
    for (k = 0; k < iters; k++) {
        coro_t *co = coro_new(cb_return_now, 0);
        if (!co) return -1;
        s += (long)(intptr_t)coro_resume(co, (void *)(intptr_t)k);
        coro_free(co);
    }
    *sum = s;
    return bench_now() - t;
}

static coro_t **cb_idle;
static long cb_idle_made;

static void *cb_idle_fn(void *arg) {
    for (;;) coro_yield(arg);
    return NULL;
}

static int cb_idle_prepare(long n) {
    cb_idle = (coro_t **)malloc((size_t)n * sizeof *cb_idle);
    if (!cb_idle) return -1;
    memset(cb_idle, 0, (size_t)n * sizeof *cb_idle); /* touched now, not counted later */
    cb_idle_made = 0;
    coro_pool_trim(); /* pooled stacks are resident and would be reused for free */
    return 0;
}

static int cb_idle_make(long n) {
    for (cb_idle_made = 0; cb_idle_made < n; cb_idle_made++) {
        coro_t *co = coro_new(cb_idle_fn, 0);
        if (!co) {
            snprintf(bench_why, sizeof bench_why, "coro_new failed after %ld: %s", cb_idle_made,
                     strerror(errno));
            return -1;
        }
        cb_idle[cb_idle_made] = co;
        coro_resume(co, NULL);
    }
    return 0;
}

static void cb_idle_drop(long n) {
    long k;
    (void)n;
    for (k = 0; k < cb_idle_made; k++) coro_free(cb_idle[k]);
    free(cb_idle);
    cb_idle = NULL;
    coro_pool_trim();
}

/* >>coro.h with cheaper floating-point settings (bench/core/coro_keep.c) */
double keep1_switch_run(long iters, long *sum);
double keep1_create_run(long iters, long *sum);
double keep0_switch_run(long iters, long *sum);
double keep0_create_run(long iters, long *sum);

/* >>floor */
void *floor_switch_ret(void **save_sp, void *load_sp, void *value);
void *floor_switch_jmp(void **save_sp, void *load_sp, void *value);
void *floor_switch_fpu(void **save_sp, void *load_sp, void *value);
void floor_entry(void);

typedef struct fl_co {
    void *sp;      /* the coroutine's saved stack pointer */
    void *main_sp; /* its resumer's */
} fl_co;

/* The frame floor_entry starts from (see floor_x86_64.S): 7 words, or 8 with the FPU control
   words, which a new context takes from its creator. */
static void *fl_ctx_init(char *top, void (*fn)(fl_co *, void *), fl_co *c, int fpu) {
    void **sp = (void **)((uintptr_t)top & ~(uintptr_t)15) - 7 - fpu;
    sp[0] = sp[1] = 0;             /* r15 r14 */
    sp[2] = c;                     /* r13: fn's first argument */
    sp[3] = (void *)(uintptr_t)fn; /* r12 */
    sp[4] = sp[5] = 0;             /* rbx rbp */
    if (fpu) {
        uint32_t mxcsr;
        uint16_t cw;
        __asm__ volatile("stmxcsr %0\n\tfnstcw %1" : "=m"(mxcsr), "=m"(cw));
        sp[6] = 0;
        memcpy(&sp[6], &mxcsr, 4);
        memcpy((char *)&sp[6] + 4, &cw, 2);
    }
    sp[6 + fpu] = (void *)(uintptr_t)&floor_entry;
    return sp;
}

/* Each function exists once per variant so that every switch is a direct call. */
#define FL_VARIANT(V, FPU)                                                                         \
    static void fl_generator_##V(fl_co *c, void *value) {                                          \
        long i = (long)(intptr_t)value;                                                            \
        for (;;) floor_switch_##V(&c->sp, c->main_sp, (void *)(intptr_t)i++);                      \
    }                                                                                              \
    static double fl_switch_run_##V(long iters, long *sum) {                                       \
        char *stack = (char *)bench_stack_get();                                                   \
        fl_co c;                                                                                   \
        long s = 0, k;                                                                             \
        double t;                                                                                  \
        if (!stack) return -1;                                                                     \
        c.sp = fl_ctx_init(stack + BENCH_STACK, fl_generator_##V, &c, FPU);                        \
        t = bench_now();                                                                           \
        for (k = 0; k < iters; k++) s += (long)(intptr_t)floor_switch_##V(&c.main_sp, c.sp, 0);    \
        t = bench_now() - t;                                                                       \
        bench_stack_put(stack);                                                                    \
        *sum = s;                                                                                  \
        return t;                                                                                  \
    }                                                                                              \
    static void fl_return_now_##V(fl_co *c, void *value) {                                         \
        floor_switch_##V(&c->sp, c->main_sp, value); /* never resumed again */                     \
        abort();                                                                                   \
    }                                                                                              \
    static double fl_create_run_##V(long iters, long *sum) {                                       \
        long s = 0, k;                                                                             \
        double t = bench_now();                                                                    \
        for (k = 0; k < iters; k++) {                                                              \
            char *stack = (char *)bench_stack_get();                                               \
            fl_co c;                                                                               \
            if (!stack) return -1;                                                                 \
            c.sp = fl_ctx_init(stack + BENCH_STACK, fl_return_now_##V, &c, FPU);                   \
            s += (long)(intptr_t)floor_switch_##V(&c.main_sp, c.sp, (void *)(intptr_t)k);          \
            bench_stack_put(stack);                                                                \
        }                                                                                          \
        *sum = s;                                                                                  \
        return bench_now() - t;                                                                    \
    }                                                                                              \
    static void fl_idle_fn_##V(fl_co *c, void *value) {                                            \
        for (;;) floor_switch_##V(&c->sp, c->main_sp, value);                                      \
    }                                                                                              \
    static int fl_idle_make_##V(long n) {                                                          \
        long k;                                                                                    \
        for (k = 0; k < n; k++) {                                                                  \
            char *top = bench_slab + (size_t)(k + 1) * BENCH_SLOT - 64;                            \
            fl_co *c = (fl_co *)(void *)top; /* the slot top is 64-byte aligned */              \
            c->sp = fl_ctx_init(top, fl_idle_fn_##V, c, FPU);                                      \
            floor_switch_##V(&c->main_sp, c->sp, 0);                                               \
        }                                                                                          \
        return 0;                                                                                  \
    }
FL_VARIANT(ret, 0)
FL_VARIANT(jmp, 0)
FL_VARIANT(fpu, 1)

/* >>ucontext */
static ucontext_t uc_main;
static ucontext_t *uc_cur; /* the context being started: makecontext passes only ints */
static long uc_value;      /* the value a switch passes */

/* getcontext is returns_twice to the compiler, which then warns about every variable live across
   it; here it returns once (makecontext rewrites the context before anyone jumps to it), so it
   is called from a function with nothing live. */
static __attribute__((noinline)) int uc_getcontext(ucontext_t *uc) { return getcontext(uc); }

static void uc_generator(void) {
    ucontext_t *self = uc_cur;
    long i = 0;
    for (;;) {
        uc_value = i++;
        swapcontext(self, &uc_main);
    }
}

static double uc_switch_run(long iters, long *sum) {
    char *stack = (char *)bench_stack_get();
    ucontext_t uc;
    long s = 0, k;
    double t;
    if (!stack || uc_getcontext(&uc) != 0) return -1;
    uc.uc_stack.ss_sp = stack;
    uc.uc_stack.ss_size = BENCH_STACK;
    uc.uc_link = NULL;
    makecontext(&uc, uc_generator, 0);
    uc_cur = &uc;
    t = bench_now();
    for (k = 0; k < iters; k++) {
        swapcontext(&uc_main, &uc);
        s += uc_value;
    }
    t = bench_now() - t;
    bench_stack_put(stack);
    *sum = s;
    return t;
}

static void uc_return_now(void) { /* uc_value already holds the argument: return it */ }

static double uc_create_run(long iters, long *sum) {
    long s = 0, k;
    double t = bench_now();
    for (k = 0; k < iters; k++) {
        char *stack = (char *)bench_stack_get();
        ucontext_t uc;
        if (!stack || uc_getcontext(&uc) != 0) return -1;
        uc.uc_stack.ss_sp = stack;
        uc.uc_stack.ss_size = BENCH_STACK;
        uc.uc_link = &uc_main; /* where it goes when uc_return_now returns */
        makecontext(&uc, uc_return_now, 0);
        uc_value = k;
        swapcontext(&uc_main, &uc);
        s += uc_value;
        bench_stack_put(stack);
    }
    *sum = s;
    return bench_now() - t;
}

static void uc_idle_fn(void) {
    ucontext_t *self = uc_cur;
    for (;;) swapcontext(self, &uc_main);
}

static int uc_idle_make(long n) {
    size_t room = (sizeof(ucontext_t) + 63) & ~(size_t)63;
    long k;
    for (k = 0; k < n; k++) {
        char *top = bench_slab + (size_t)(k + 1) * BENCH_SLOT - room;
        ucontext_t *uc = (ucontext_t *)(void *)top; /* 64-byte aligned */
        if (uc_getcontext(uc) != 0) {
            snprintf(bench_why, sizeof bench_why, "getcontext: %s", strerror(errno));
            return -1;
        }
        uc->uc_stack.ss_sp = top - (BENCH_SLOT - room);
        uc->uc_stack.ss_size = BENCH_SLOT - room;
        uc->uc_link = NULL;
        makecontext(uc, uc_idle_fn, 0);
        uc_cur = uc;
        swapcontext(&uc_main, uc);
    }
    return 0;
}

/* >>fcontext */
#ifdef BENCH_HAVE_BOOST
static double fc_switch_run(long iters, long *sum) {
    double t = bench_now();
    *sum = fctx_switch_run(iters);
    return *sum < 0 ? -1 : bench_now() - t;
}
static double fc_create_run(long iters, long *sum) {
    double t = bench_now();
    *sum = fctx_create_run(iters);
    return *sum < 0 ? -1 : bench_now() - t;
}
static int fc_idle_make(long n) { return fctx_idle_make(bench_slab, BENCH_SLOT, n); }
#endif

/* >>pthreads */
static int bench_cpu[2] = {-1, -1}; /* the CPU the run is pinned to, and a second one */

static int pin_to(int cpu) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET((size_t)cpu, &set);
    return pthread_setaffinity_np(pthread_self(), sizeof set, &set);
}
static void futex_wait(int *addr, int expect) {
    syscall(SYS_futex, addr, FUTEX_WAIT_PRIVATE, expect, NULL, NULL, 0);
}
static void futex_wake(int *addr, int n) {
    syscall(SYS_futex, addr, FUTEX_WAKE_PRIVATE, n, NULL, NULL, 0);
}

/* The token: 0 = main's turn, 1 = the partner's. Every handoff is a store, a FUTEX_WAKE and,
   on the other side, a return from FUTEX_WAIT: no spinning. */
static int pt_turn, pt_started;
static long pt_iters, pt_value;
static int pt_partner_cpu;

static void *pt_partner(void *arg) {
    long k;
    (void)arg;
    pin_to(pt_partner_cpu);
    __atomic_store_n(&pt_started, 1, __ATOMIC_RELEASE);
    futex_wake(&pt_started, 1);
    for (k = 0; k < pt_iters; k++) {
        while (__atomic_load_n(&pt_turn, __ATOMIC_ACQUIRE) != 1) futex_wait(&pt_turn, 0);
        pt_value = k;
        __atomic_store_n(&pt_turn, 0, __ATOMIC_RELEASE);
        futex_wake(&pt_turn, 1);
    }
    return NULL;
}

static double pt_switch_run(long iters, long *sum, int partner_cpu) {
    pthread_t th;
    long s = 0, k;
    double t;
    pt_iters = iters;
    pt_turn = pt_started = 0;
    pt_partner_cpu = partner_cpu;
    if (pthread_create(&th, NULL, pt_partner, NULL) != 0) return -1;
    while (!__atomic_load_n(&pt_started, __ATOMIC_ACQUIRE)) futex_wait(&pt_started, 0);
    t = bench_now();
    for (k = 0; k < iters; k++) {
        __atomic_store_n(&pt_turn, 1, __ATOMIC_RELEASE);
        futex_wake(&pt_turn, 1);
        while (__atomic_load_n(&pt_turn, __ATOMIC_ACQUIRE) != 0) futex_wait(&pt_turn, 1);
        s += pt_value;
    }
    t = bench_now() - t;
    pthread_join(th, NULL);
    *sum = s;
    return t;
}
static double pt_switch_run_same(long iters, long *sum) {
    return pt_switch_run(iters, sum, bench_cpu[0]);
}
static double pt_switch_run_other(long iters, long *sum) {
    return pt_switch_run(iters, sum, bench_cpu[1]);
}

static void *pt_return_now(void *arg) { return arg; }

static double pt_create_run(long iters, long *sum) {
    long s = 0, k;
    double t = bench_now();
    for (k = 0; k < iters; k++) {
        pthread_t th;
        void *r;
        if (pthread_create(&th, NULL, pt_return_now, (void *)(intptr_t)k) != 0) return -1;
        pthread_join(th, &r);
        s += (long)(intptr_t)r;
    }
    *sum = s;
    return bench_now() - t;
}

static pthread_t *pt_idle;
static long pt_idle_made;
static int pt_idle_started, pt_release;

static void *pt_idle_fn(void *arg) {
    __atomic_add_fetch(&pt_idle_started, 1, __ATOMIC_RELEASE);
    while (!__atomic_load_n(&pt_release, __ATOMIC_ACQUIRE)) futex_wait(&pt_release, 0);
    return arg;
}

static int pt_idle_prepare(long n) {
    pt_idle = (pthread_t *)calloc((size_t)n, sizeof *pt_idle);
    if (!pt_idle) return -1;
    memset(pt_idle, 0, (size_t)n * sizeof *pt_idle); /* touched now, not counted later */
    pt_idle_made = 0;
    pt_idle_started = pt_release = 0;
    return 0;
}

static int pt_idle_make(long n) {
    int err = 0;
    for (pt_idle_made = 0; pt_idle_made < n; pt_idle_made++) {
        err = pthread_create(&pt_idle[pt_idle_made], NULL, pt_idle_fn, NULL);
        if (err) break;
    }
    while (__atomic_load_n(&pt_idle_started, __ATOMIC_ACQUIRE) < pt_idle_made) {
        struct timespec ms = {0, 1000000};
        nanosleep(&ms, NULL);
    }
    if (err) {
        snprintf(bench_why, sizeof bench_why, "pthread_create failed after %ld: %s",
                 pt_idle_made, strerror(err));
        return -1;
    }
    return 0;
}

static void pt_idle_drop(long n) {
    long k;
    (void)n;
    __atomic_store_n(&pt_release, 1, __ATOMIC_RELEASE);
    futex_wake(&pt_release, INT_MAX);
    for (k = 0; k < pt_idle_made; k++) pthread_join(pt_idle[k], NULL);
    free(pt_idle);
    pt_idle = NULL;
}

/* >>driver */
typedef double (*bench_run)(long iters, long *sum);

typedef struct bench_impl {
    const char *name;
    const char *skip;      /* non-NULL: the whole row is n/a, and why */
    bench_run switch_run;  /* iters resume+yield pairs: 2 * iters switches */
    bench_run create_run;  /* NULL: n/a (create_why) */
    const char *create_why;
    int (*idle_prepare)(long n); /* bookkeeping, touched before the first VmRSS reading */
    int (*idle_make)(long n);    /* n idle coroutines; -1 with bench_why */
    void (*idle_drop)(long n);   /* everything idle_prepare and idle_make took */
    const char *idle_why;        /* idle_make NULL: why */
    const char *large_why;       /* non-NULL: no 1M measurement, and why */
} bench_impl;

typedef struct bench_row {
    double sw, create, rss_small, rss_large, pte_large; /* < 0: n/a */
    char sw_why[160], create_why[160], small_why[200], large_why[200];
    long large_maps;
    char large_guard[16];
} bench_row;

static volatile long bench_sink;

/* One timed loop of one implementation: its calibrated size and its best time so far. */
typedef struct bench_loop {
    bench_run run;
    double ops_per_iter; /* switches or lives per iteration */
    long n;              /* iterations per repetition; <= 0: not measured */
    double best;         /* seconds */
    char *why;           /* where to say why it failed */
    size_t whylen;
} bench_loop;

/* One run of n iterations; -1 if it failed or computed the wrong sum 0 + 1 + ... + (n - 1). */
static double bench_once(bench_loop *l, long n) {
    long sum = 0;
    double t = l->run(n, &sum);
    if (t < 0) {
        snprintf(l->why, l->whylen, "failed: %s", strerror(errno));
        return -1;
    }
    if (sum != n * (n - 1) / 2) {
        snprintf(l->why, l->whylen, "wrong checksum %ld, expected %ld", sum, n * (n - 1) / 2);
        return -1;
    }
    bench_sink += sum;
    return t;
}

/* Grow n until a run takes BENCH_REP_SECONDS; the calibration runs double as warm-up. */
static void bench_calibrate(bench_loop *l) {
    long n = 16;
    double t;
    for (;;) {
        t = bench_once(l, n);
        if (t < 0) {
            l->n = -1;
            return;
        }
        if (t >= BENCH_REP_SECONDS / 4 || n >= (1L << 40)) break;
        n *= t < BENCH_REP_SECONDS / 100 ? 8 : 2;
    }
    l->n = (long)((double)n * (BENCH_REP_SECONDS / t)) + 1;
    l->best = 1e300;
}

/* The repetitions go round all loops in turn, so that a burst of activity elsewhere on the
   machine does not fall on one implementation only; each keeps its best. */
static void bench_time_all(bench_loop *loops, size_t nloops) {
    size_t i;
    int r;
    for (i = 0; i < nloops; i++)
        if (loops[i].n > 0) bench_calibrate(&loops[i]);
    for (r = 0; r < BENCH_REPS; r++) {
        for (i = 0; i < nloops; i++) {
            double t;
            if (loops[i].n <= 0) continue;
            t = bench_once(&loops[i], loops[i].n);
            if (t < 0) loops[i].n = -1;
            else if (t < loops[i].best) loops[i].best = t;
        }
    }
}

static double bench_ns(const bench_loop *l) {
    return l->n > 0 ? l->best * 1e9 / ((double)l->n * l->ops_per_iter) : -1;
}

/* VmRSS and VmPTE of this process, in kB. */
static int bench_status(long *rss_kb, long *pte_kb) {
    char buf[8192], *p;
    ssize_t len;
    FILE *f = fopen("/proc/self/status", "r");
    if (!f) return -1;
    len = (ssize_t)fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    if (len <= 0) return -1;
    buf[len] = 0;
    p = strstr(buf, "\nVmRSS:");
    if (!p) return -1;
    *rss_kb = strtol(p + 7, NULL, 10);
    p = strstr(buf, "\nVmPTE:");
    *pte_kb = p ? strtol(p + 7, NULL, 10) : 0;
    return 0;
}

static long bench_map_count(void) {
    char buf[65536];
    long lines = 0;
    size_t len, i;
    FILE *f = fopen("/proc/self/maps", "r");
    if (!f) return -1;
    while ((len = fread(buf, 1, sizeof buf, f)) > 0)
        for (i = 0; i < len; i++) lines += buf[i] == '\n';
    fclose(f);
    return lines;
}

/* n idle coroutines: bytes of RSS and of page tables each. drop = 0 leaves them to _exit. */
static int bench_idle(const bench_impl *im, long n, int drop, double *rss, double *pte,
                      char *why, size_t whylen) {
    long r0, p0, r1, p1;
    if (im->idle_prepare(n) != 0) {
        snprintf(why, whylen, "%s", bench_why[0] ? bench_why : "out of memory for bookkeeping");
        return -1;
    }
    if (bench_status(&r0, &p0) != 0) {
        snprintf(why, whylen, "cannot read /proc/self/status");
        if (drop) im->idle_drop(n);
        return -1;
    }
    bench_why[0] = 0;
    if (im->idle_make(n) != 0) {
        snprintf(why, whylen, "%s", bench_why);
        if (drop) im->idle_drop(n);
        return -1;
    }
    bench_status(&r1, &p1);
    *rss = (double)(r1 - r0) * 1024.0 / (double)n;
    *pte = (double)(p1 - p0) * 1024.0 / (double)n;
    if (drop) im->idle_drop(n);
    return 0;
}

typedef struct bench_child_result {
    int ok;
    double rss, pte;
    long maps;
    char guard[16];
    char why[200];
} bench_child_result;

/* The 1M measurement in a forked child: its memory goes back at _exit, a crash stays there. */
static void bench_idle_large(const bench_impl *im, bench_row *row) {
    int fd[2], status;
    pid_t pid;
    bench_child_result res;
    ssize_t got;
    if (pipe(fd) != 0) {
        snprintf(row->large_why, sizeof row->large_why, "pipe: %s", strerror(errno));
        return;
    }
    fflush(stdout);
    pid = fork();
    if (pid < 0) {
        snprintf(row->large_why, sizeof row->large_why, "fork: %s", strerror(errno));
        close(fd[0]);
        close(fd[1]);
        return;
    }
    if (pid == 0) {
        memset(&res, 0, sizeof res);
        close(fd[0]);
        res.ok = bench_idle(im, BENCH_LARGE_N, 0, &res.rss, &res.pte, res.why, sizeof res.why) == 0;
        res.maps = bench_map_count();
        snprintf(res.guard, sizeof res.guard, "%s", coro_guard_mode());
        if (write(fd[1], &res, sizeof res) != (ssize_t)sizeof res) _exit(2);
        _exit(0);
    }
    close(fd[1]);
    got = read(fd[0], &res, sizeof res);
    close(fd[0]);
    waitpid(pid, &status, 0);
    if (got != (ssize_t)sizeof res) {
        if (WIFSIGNALED(status))
            snprintf(row->large_why, sizeof row->large_why, "child killed by signal %d (%s)",
                     WTERMSIG(status), strsignal(WTERMSIG(status)));
        else
            snprintf(row->large_why, sizeof row->large_why, "child exited with status %d",
                     WIFEXITED(status) ? WEXITSTATUS(status) : -1);
        return;
    }
    if (!res.ok) {
        snprintf(row->large_why, sizeof row->large_why, "%s", res.why);
        return;
    }
    row->rss_large = res.rss;
    row->pte_large = res.pte;
    row->large_maps = res.maps;
    snprintf(row->large_guard, sizeof row->large_guard, "%s", res.guard);
}

/* Both timed loops of every implementation, interleaved. */
static void bench_timings(const bench_impl *impls, bench_row *rows, size_t nimpl) {
    bench_loop loops[2 * BENCH_MAX_ROWS];
    size_t i;
    for (i = 0; i < nimpl; i++) {
        bench_loop *sw = &loops[2 * i], *cr = &loops[2 * i + 1];
        const bench_impl *im = &impls[i];
        sw->run = im->switch_run;
        sw->ops_per_iter = 2.0; /* a resume and a yield */
        sw->n = im->skip ? 0 : 1;
        sw->why = rows[i].sw_why;
        sw->whylen = sizeof rows[i].sw_why;
        cr->run = im->create_run;
        cr->ops_per_iter = 1.0;
        cr->n = im->skip || !im->create_run ? 0 : 1;
        cr->why = rows[i].create_why;
        cr->whylen = sizeof rows[i].create_why;
        if (im->skip) snprintf(rows[i].sw_why, sizeof rows[i].sw_why, "%s", im->skip);
        if (!im->create_run && im->create_why)
            snprintf(rows[i].create_why, sizeof rows[i].create_why, "%s", im->create_why);
    }
    bench_time_all(loops, 2 * nimpl);
    for (i = 0; i < nimpl; i++) {
        rows[i].sw = bench_ns(&loops[2 * i]);
        rows[i].create = bench_ns(&loops[2 * i + 1]);
    }
}

/* Idle memory at 10k, in this process, and at 1M, in a child. */
static void bench_memory(const bench_impl *im, bench_row *row) {
    double pte;
    if (im->skip) return;
    if (!im->idle_make) {
        snprintf(row->small_why, sizeof row->small_why, "%s", im->idle_why);
        snprintf(row->large_why, sizeof row->large_why, "%s", im->idle_why);
        return;
    }
    if (bench_idle(im, BENCH_SMALL_N, 1, &row->rss_small, &pte, row->small_why,
                   sizeof row->small_why) != 0)
        row->rss_small = -1;
    if (im->large_why) snprintf(row->large_why, sizeof row->large_why, "%s", im->large_why);
    else bench_idle_large(im, row);
}

/* >>report */
static void bench_cpu_model(char *out, size_t len) {
    char line[512];
    int family = -1, model = -1;
    FILE *f = fopen("/proc/cpuinfo", "r");
    snprintf(out, len, "unknown CPU");
    if (!f) return;
    while (fgets(line, sizeof line, f)) {
        char *v = strchr(line, ':');
        if (!v) continue;
        v += 1 + (v[1] == ' ');
        v[strcspn(v, "\n")] = 0;
        if (!strncmp(line, "model name", 10)) snprintf(out, len, "%s", v);
        else if (!strncmp(line, "cpu family", 10) && family < 0) family = atoi(v);
        else if (!strncmp(line, "model\t", 6) && model < 0) model = atoi(v);
        if (!strncmp(line, "processor", 9) && atoi(v) > 0) break; /* the first CPU is enough */
    }
    fclose(f);
    if (family >= 0) {
        size_t n = strlen(out);
        snprintf(out + n, len - n, " (family %d model %d)", family, model);
    }
}

static long bench_sysctl(const char *path) {
    long v = -1;
    FILE *f = fopen(path, "r");
    if (f) {
        if (fscanf(f, "%ld", &v) != 1) v = -1;
        fclose(f);
    }
    return v;
}

static void bench_loadavg(char *out, size_t len) {
    FILE *f = fopen("/proc/loadavg", "r");
    double a = -1, b = -1, c = -1;
    if (f) {
        if (fscanf(f, "%lf %lf %lf", &a, &b, &c) != 3) a = b = c = -1;
        fclose(f);
    }
    snprintf(out, len, "%.2f/%.2f/%.2f", a, b, c);
}

static void bench_pin(void) {
    cpu_set_t set;
    int cpu, found = 0;
    if (sched_getaffinity(0, sizeof set, &set) != 0) return;
    for (cpu = 0; cpu < CPU_SETSIZE && found < 2; cpu++)
        if (CPU_ISSET((size_t)cpu, &set)) bench_cpu[found++] = cpu;
    if (bench_cpu[0] >= 0) pin_to(bench_cpu[0]);
}

static void bench_fmt(char *out, size_t len, double v, int digits) {
    if (v < 0) snprintf(out, len, "n/a");
    else if (v < 100 && digits) snprintf(out, len, "%.*f", digits, v);
    else snprintf(out, len, "%.0f", v);
}

static void bench_target(const char *what, double v, double target, const char *unit) {
    printf("  %-35s %.2f %s  ", what, v, unit);
    if (v <= target) printf("met\n");
    else printf("MISSED by %.2f %s (%.1fx the target)\n", v - target, unit, v / target);
}

static void bench_fmt_tsv(char *out, size_t len, double v) {
    if (v < 0) snprintf(out, len, "n/a");
    else snprintf(out, len, "%.3f", v);
}

static int bench_mkdirs(const char *path) {
    char dir[4096], *p;
    snprintf(dir, sizeof dir, "%s", path);
    for (p = dir + 1; *p; p++) {
        if (*p != '/') continue;
        *p = 0;
        if (mkdir(dir, 0777) != 0 && errno != EEXIST) return -1;
        *p = '/';
    }
    return 0;
}

int main(int argc, char **argv) {
    const char *tsv_path = argc > 1 ? argv[1] : "build/bench/core.tsv";
    char cpu[256], cxx[128], boost[32], load0[64], load1[64], pt_large_why[160];
    struct utsname un;
    double t0 = bench_now(), floor_sw = -1;
    size_t i, nimpl;
    FILE *tsv;
    const char *guard;
    bench_impl impls[] = {
        {"coro.h", NULL, cb_switch_run, cb_create_run, NULL, cb_idle_prepare, cb_idle_make,
         cb_idle_drop, NULL, NULL},
        {"coro.h, CORO_FPU_KEEP=1", NULL, keep1_switch_run, keep1_create_run, NULL, NULL, NULL,
         NULL, "same stacks as coro.h", NULL},
        {"coro.h, CORO_FPU_KEEP=0", NULL, keep0_switch_run, keep0_create_run, NULL, NULL, NULL,
         NULL, "same stacks as coro.h", NULL},
        {"floor (push/pop, ret)", NULL, fl_switch_run_ret, fl_create_run_ret, NULL,
         bench_slab_map, fl_idle_make_ret, bench_slab_unmap, NULL, NULL},
        {"floor (push/pop, jmp)", NULL, fl_switch_run_jmp, fl_create_run_jmp, NULL,
         bench_slab_map, fl_idle_make_jmp, bench_slab_unmap, NULL, BENCH_SAME_FRAME},
        {"floor + FPU words (jmp)", NULL, fl_switch_run_fpu, fl_create_run_fpu, NULL,
         bench_slab_map, fl_idle_make_fpu, bench_slab_unmap, NULL, BENCH_SAME_FRAME},
        {"glibc ucontext", NULL, uc_switch_run, uc_create_run, NULL, bench_slab_map,
         uc_idle_make, bench_slab_unmap, NULL, NULL},
#ifdef BENCH_HAVE_BOOST
        {"Boost fcontext", NULL, fc_switch_run, fc_create_run, NULL, bench_slab_map,
         fc_idle_make, bench_slab_unmap, NULL, NULL},
#else
        {"Boost fcontext", "libboost-context-dev not installed", NULL, NULL, NULL, NULL, NULL,
         NULL, NULL, NULL},
#endif
        {"pthreads futex, 1 CPU", NULL, pt_switch_run_same, pt_create_run, NULL,
         pt_idle_prepare, pt_idle_make, pt_idle_drop, NULL,
         pt_large_why},
        {"pthreads futex, 2 CPUs", NULL, pt_switch_run_other, NULL, "as on 1 CPU", NULL, NULL,
         NULL, "as on 1 CPU", NULL},
    };
    bench_row rows[BENCH_MAX_ROWS];
    nimpl = sizeof impls / sizeof impls[0];
    if (nimpl > BENCH_MAX_ROWS) {
        fprintf(stderr, "bench_core: raise BENCH_MAX_ROWS to %zu\n", nimpl);
        return 1;
    }

    bench_pin();
    snprintf(pt_large_why, sizeof pt_large_why,
             "a million threads: kernel.threads-max is %ld, pid_max %ld, and each thread has a "
             "16 KiB kernel stack",
             bench_sysctl("/proc/sys/kernel/threads-max"),
             bench_sysctl("/proc/sys/kernel/pid_max"));
    if (bench_cpu[1] < 0) impls[nimpl - 1].skip = "only one CPU available";

    /* one coroutine run first, so that the guard mode is known (its stack is made then) */
    {
        coro_t *first = coro_new(cb_return_now, 0);
        coro_resume(first, NULL);
        coro_free(first);
    }
    guard = coro_guard_mode();

    bench_loadavg(load0, sizeof load0);
    for (i = 0; i < nimpl; i++) {
        memset(&rows[i], 0, sizeof rows[i]);
        rows[i].sw = rows[i].create = rows[i].rss_small = rows[i].rss_large = -1;
        rows[i].pte_large = -1;
        rows[i].large_maps = -1;
    }
    {
        double t = bench_now();
        fprintf(stderr, "bench_core: switch and create+free, all rows in turn ...");
        bench_timings(impls, rows, nimpl);
        fprintf(stderr, " %.1f s\n", bench_now() - t);
    }
    for (i = 0; i < nimpl; i++) {
        double t = bench_now();
        fprintf(stderr, "bench_core: memory, %-24s", impls[i].name);
        bench_memory(&impls[i], &rows[i]);
        fprintf(stderr, " %5.1f s\n", bench_now() - t);
    }
    bench_loadavg(load1, sizeof load1);
    for (i = 1; i < nimpl; i++)
        if (!strncmp(impls[i].name, "floor (", 7) && rows[i].sw > 0 &&
            (floor_sw < 0 || rows[i].sw < floor_sw))
            floor_sw = rows[i].sw;

    bench_cpu_model(cpu, sizeof cpu);
    if (uname(&un) != 0) snprintf(un.release, sizeof un.release, "?");
#ifdef BENCH_HAVE_BOOST
    snprintf(cxx, sizeof cxx, "%s", fctx_compiler());
    snprintf(boost, sizeof boost, "%s", fctx_boost_version());
#else
    snprintf(cxx, sizeof cxx, "n/a");
    snprintf(boost, sizeof boost, "n/a");
#endif

    printf("coro.h core benchmark\n");
    printf("machine: %s, %ld CPUs online, pinned to CPU %d; kernel %s; cc %s; c++ %s; "
           "glibc %s; Boost %s\n",
           cpu, sysconf(_SC_NPROCESSORS_ONLN), bench_cpu[0], un.release, __VERSION__, cxx,
           gnu_get_libc_version(), boost);
    printf("load average (1/5/15 min) at start %s, at end %s: other processes on these CPUs "
           "disturb the timings, the best repetition is reported\n",
           load0, load1);
    printf("coro.h: guard mode %s, default stacks (%u KiB + guard); baselines' idle coroutines: "
           "%d KiB slots, no guard\n\n",
           guard, 256u, BENCH_SLOT / 1024);
    printf("%-24s %10s %8s %12s %13s %12s %13s\n", "implementation", "ns/switch", "x floor",
           "ns create", "RSS/coro 10k", "RSS/coro 1M", "+PTE/coro 1M");
    printf("%-24s %10s %8s %12s %13s %12s %13s\n", "", "", "", "+free", "(bytes)", "(bytes)",
           "(bytes)");
    for (i = 0; i < nimpl; i++) {
        bench_row *r = &rows[i];
        char sw[32], ratio[32], cr[32], s10[32], s1m[32], pte[32];
        bench_fmt(sw, sizeof sw, r->sw, 2);
        if (r->sw > 0 && floor_sw > 0) snprintf(ratio, sizeof ratio, "%.2fx", r->sw / floor_sw);
        else snprintf(ratio, sizeof ratio, "n/a");
        bench_fmt(cr, sizeof cr, r->create, 1);
        bench_fmt(s10, sizeof s10, r->rss_small, 0);
        bench_fmt(s1m, sizeof s1m, r->rss_large, 0);
        bench_fmt(pte, sizeof pte, r->pte_large, 0);
        printf("%-24s %10s %8s %12s %13s %12s %13s\n", impls[i].name, sw, ratio, cr, s10, s1m,
               pte);
    }
    printf("\nnotes:\n");
    for (i = 0; i < nimpl; i++) {
        bench_row *r = &rows[i];
        if (impls[i].skip) {
            printf("  %s: n/a (%s)\n", impls[i].name, impls[i].skip);
            continue;
        }
        if (r->sw < 0) printf("  %s, switch: n/a (%s)\n", impls[i].name, r->sw_why);
        if (r->sw >= 0 && r->create < 0)
            printf("  %s, create+free: n/a (%s)\n", impls[i].name, r->create_why);
        if (r->sw >= 0 && r->rss_small < 0)
            printf("  %s, RSS 10k: n/a (%s)\n", impls[i].name, r->small_why);
        if (r->sw >= 0 && r->rss_large < 0)
            printf("  %s, RSS 1M: n/a (%s)\n", impls[i].name, r->large_why);
        if (r->rss_large >= 0)
            printf("  %s, 1M alive: %ld mappings in /proc/self/maps%s%s\n", impls[i].name,
                   r->large_maps, i == 0 ? ", guard mode " : "", i == 0 ? r->large_guard : "");
    }
    printf("  pthreads rows: ns per handoff (store + FUTEX_WAKE, the other thread returns from "
           "FUTEX_WAIT); create = pthread_create + pthread_join; RSS with default 8 MiB stacks, "
           "kernel stacks not counted\n");

    {
        bench_row *c = &rows[0];
        double fc = -1, fpu_sw = -1;
        for (i = 0; i < nimpl; i++) {
            if (!strcmp(impls[i].name, "Boost fcontext")) fc = rows[i].sw;
            if (!strncmp(impls[i].name, "floor + FPU", 11)) fpu_sw = rows[i].sw;
        }
        printf("\ntargets (coro.h, this run):\n");
        if (c->sw > 0) {
            bench_target("switch <= 1.5 ns", c->sw, 1.5, "ns");
            if (floor_sw > 0)
                printf("  switch about 2x the floor:          %.2fx the floor (%.2f ns)\n",
                       c->sw / floor_sw, floor_sw);
            if (fc > 0)
                printf("  switch >= 2x faster than fcontext:  fcontext %.2f ns / coro.h = %.2f  "
                       "%s\n",
                       fc, fc / c->sw, fc / c->sw >= 2 ? "met" : "MISSED");
            if (fpu_sw > 0 && floor_sw > 0)
                printf("  (keeping MXCSR and the x87 control word costs %.2f ns per switch on this "
                       "CPU: floor + FPU words - floor)\n",
                       fpu_sw - floor_sw);
            if (fpu_sw > 0 && fc > 0)
                printf("  switch <= 0.9x fcontext:            %.2fx fcontext  %s (floor + FPU words: "
                       "%.2fx, the least a switch that keeps both takes here)\n",
                       c->sw / fc, c->sw / fc <= 0.9 ? "met" : "MISSED", fpu_sw / fc);
        }
        if (c->create > 0) bench_target("create+free <= 20 ns (guards on)", c->create, 20, "ns");
        if (c->rss_small >= 0) {
            int met = c->rss_small <= 4608 && (c->rss_large < 0 || c->rss_large <= 4608);
            printf("  %-35s %.0f B at 10k", "RSS <= 4.5 KiB (4608 B) per idle", c->rss_small);
            if (c->rss_large >= 0)
                printf(", %.0f B at 1M (%.0f B counting its page tables)", c->rss_large,
                       c->rss_large + c->pte_large);
            printf("  %s\n", met ? "met" : "MISSED");
        }
        printf("  %-35s %s\n", "1,000,000 guarded coroutines alive",
               c->rss_large >= 0 ? "yes" : c->large_why);
    }

    tsv = NULL;
    if (argc > 1 || bench_mkdirs(tsv_path) == 0) tsv = fopen(tsv_path, "w");
    if (!tsv) {
        fprintf(stderr, "bench_core: cannot write %s: %s\n", tsv_path, strerror(errno));
    } else {
        fprintf(tsv, "# machine: %s; kernel %s; cc %s; c++ %s; glibc %s; Boost %s; guard %s; "
                     "load average %s to %s\n",
                cpu, un.release, __VERSION__, cxx, gnu_get_libc_version(), boost, guard, load0,
                load1);
        fprintf(tsv, "implementation\tns_per_switch\tx_floor\tns_create_free\trss_per_coro_10k"
                     "\trss_per_coro_1m\tpte_per_coro_1m\n");
        for (i = 0; i < nimpl; i++) {
            bench_row *r = &rows[i];
            char sw[32], ratio[32], cr[32], s10[32], s1m[32], pte[32];
            bench_fmt_tsv(sw, sizeof sw, r->sw);
            bench_fmt_tsv(ratio, sizeof ratio, r->sw > 0 && floor_sw > 0 ? r->sw / floor_sw : -1);
            bench_fmt_tsv(cr, sizeof cr, r->create);
            bench_fmt_tsv(s10, sizeof s10, r->rss_small);
            bench_fmt_tsv(s1m, sizeof s1m, r->rss_large);
            bench_fmt_tsv(pte, sizeof pte, r->pte_large);
            fprintf(tsv, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", impls[i].name, sw, ratio, cr, s10, s1m,
                    pte);
        }
        fclose(tsv);
        printf("\nwrote %s; run took %.1f s\n", tsv_path, bench_now() - t0);
    }
    return (int)(bench_sink & 0);
}
