/* test_stack.c - stacks: many alive, many created and freed, the pool, overflow detection in a
   forked child, chaining to a handler the program already had, clean ENOMEM when mmap or the
   mapping count runs out. Compiled twice: as is, and with -DCORO_GUARD_MPROTECT (the fallback
   used by kernels before 6.13). */
#define CORO_IMPLEMENTATION
#include "../coro.h"
#include "check.h"
#include "helpers.h"

#include <stdint.h>
#include <time.h>
#ifndef _WIN32
#include <signal.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>
#endif

#define P(x) ((void *)(intptr_t)(x))
#define I(p) ((intptr_t)(p))

static void *add_one_then_yield(void *arg) {
    intptr_t v = I(arg);
    v = I(coro_yield(P(v + 1)));
    return P(v + 2);
}

static void test_10k_alive(void) {
    enum { N = 10000 };
    static coro_t *cos[N];
    int i, ok = 1;
    size_t base = coro_count_alive();
    for (i = 0; i < N; i++) {
        cos[i] = coro_new(add_one_then_yield, 0);
        if (!cos[i] || I(coro_resume(cos[i], P(i))) != i + 1) ok = 0;
    }
    CHECK(ok);
    CHECK(coro_count_alive() == base + N);
    for (i = N - 1; i >= 0; i--)
        if (I(coro_resume(cos[i], P(i))) != i + 2 || coro_status(cos[i]) != CORO_DEAD) ok = 0;
    CHECK(ok);
    for (i = 0; i < N; i++) coro_free(cos[i]);
    CHECK(coro_count_alive() == base);
}

static void *ret_arg(void *arg) { return arg; }

/* A coroutine gets its stack when it first runs: a new one that has run (it returned, and its
   stack stays with it until it is freed), or NULL with errno from coro_new or from that first
   resume (then it is freed). */
static coro_t *new_run(size_t stack_size) {
    coro_t *co = coro_new(ret_arg, stack_size);
    if (co && coro_resume(co, P(1)) != P(1)) {
        int err = errno;
        coro_free(co);
        errno = err;
        return NULL;
    }
    return co;
}

static void test_200k_created_and_freed(void) {
    int i, ok = 1;
    uintptr_t first = 0, reused = 0;
    coro_pool_trim(); /* what earlier tests left decays meanwhile: start from an empty pool */
    for (i = 0; i < 200000; i++) {
        coro_t *co = coro_new(ret_arg, 0);
        if (!co) {
            ok = 0;
            break;
        }
        if (i == 0) first = (uintptr_t)co;
        else if ((uintptr_t)co == first) reused++;
        if (I(coro_resume(co, P(i))) != i) ok = 0;
        coro_free(co);
    }
    CHECK(ok);
    CHECK(reused == 199999); /* the pool hands the same stack back: no syscall per coroutine */
    CHECK(coro_count_alive() == 0);
}

#if defined(__has_include)
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#endif
#endif
static int under_valgrind_or_emulator(void) {
#ifdef RUNNING_ON_VALGRIND
    if (RUNNING_ON_VALGRIND) return 1;
#endif
    return getenv("CORO_TEST_EMULATOR") != NULL;
}
static void sleep_ms(long ms) {
#ifdef _WIN32
    Sleep((DWORD)ms);
#else
    struct timespec ts;
    ts.tv_sec = ms / 1000;
    ts.tv_nsec = (ms % 1000) * 1000000L;
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
#endif
}
static long now_ms(void) {
#ifdef _WIN32
    return (long)GetTickCount64();
#else
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long)(ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
#endif
}
/* Wait, as a quiet program would, until coro_pool_collect has unmapped every slab it holds
   idle; returns its last answer (-1 when none waits any more). */
static long collect_until_done(void) {
    long due, waited = 0;
    while ((due = coro_pool_collect()) >= 0 && waited < 20 * (CORO_POOL_DECAY_MS + 10)) {
        sleep_ms(due + 1);
        waited += due + 1;
    }
    return due;
}
#define POOL_BOUND (CORO_POOL_SIZE + 64 + 8 * 64) /* see coro__stack_put */

static void test_pool_bounded_and_trim(void) {
    enum { N = 5000 };
    static coro_t *cos[N];
    int i;
    long before, peak, after;
    size_t kept;
    coro_pool_trim();
    before = vm_size_kb();
    for (i = 0; i < N; i++) cos[i] = new_run(0);
    peak = vm_size_kb();
    for (i = 0; i < N; i++) coro_free(cos[i]);
    /* the slabs beyond the pool's need stay mapped for CORO_POOL_DECAY_MS, then go back; the
       pool then keeps about its bound, plus what its decaying high-water mark still held when
       the last one was freed (at most 8 epochs of 64 frees' worth) */
    CHECK(collect_until_done() == -1);
    kept = coro_pool_trim();
    CHECK(kept >= 1 && kept <= POOL_BOUND);
    CHECK(coro_pool_trim() == 0);
    CHECK(coro_pool_collect() == -1);
    after = vm_size_kb();
    if (!under_valgrind_or_emulator()) { /* both manage the address space their own way */
        CHECK(peak - before > 5000L * 256); /* 5000 stacks of 256+ KiB were mapped ... */
        CHECK(after - before < 4 * 1024);  /* ... and are all unmapped now */
    }

    /* a slab with a live coroutine keeps its first region; trim frees the rest */
    for (i = 0; i < 200; i++) {
        cos[i] = coro_new(add_one_then_yield, 0);
        CHECK(I(coro_resume(cos[i], P(i))) == i + 1);
    }
    for (i = 1; i < 200; i++) coro_free(cos[i]);
    coro_pool_trim();
    CHECK(I(coro_resume(cos[0], P(7))) == 9);
    coro_free(cos[0]);
    for (i = 0; i < 200; i++) cos[i] = coro_new(ret_arg, 0); /* the cached ones still work */
    for (i = 0; i < 200; i++) CHECK(I(coro_resume(cos[i], P(i))) == i);
    for (i = 0; i < 200; i++) coro_free(cos[i]);
    coro_pool_trim();
}

/* Stacks taken again before their slab's decay ran out are not unmapped under their new
   owners (they would fault here), and a slab idle long enough goes back at a later free even
   when nobody calls coro_pool_collect. */
static void test_pool_decay(void) {
    enum { N = 3000 };
    static coro_t *cos[N];
    int i, ok = 1;
    long t0;
    coro_pool_trim();
    t0 = now_ms();
    for (i = 0; i < N; i++) cos[i] = new_run(0);
    for (i = 0; i < N; i++) coro_free(cos[i]);
    if (now_ms() - t0 < CORO_POOL_DECAY_MS / 2) /* (a slow emulator may take a whole decay) */
        CHECK(coro_pool_collect() > 0);         /* idle slabs wait */
    for (i = 0; i < N; i++) { /* the same stacks, taken at the first resume */
        cos[i] = coro_new(add_one_then_yield, 0);
        if (I(coro_resume(cos[i], P(i))) != i + 1) ok = 0;
    }
    sleep_ms(CORO_POOL_DECAY_MS + 20);
    CHECK(coro_pool_collect() == -1); /* none idle any more: nothing unmapped, none waits */
    for (i = 0; i < N; i++)
        if (I(coro_resume(cos[i], P(i))) != i + 2) ok = 0;
    CHECK(ok);
    /* all but the last 100 freed: their slabs go idle; after the decay, freeing the last ones
       idles one more slab, and that free unmaps the others */
    for (i = 0; i < N - 100; i++) coro_free(cos[i]);
    sleep_ms(CORO_POOL_DECAY_MS + 20);
    for (i = N - 100; i < N; i++) coro_free(cos[i]);
    CHECK(coro_pool_trim() <= POOL_BOUND + 100);
}

/* A load whose live count keeps returning to the same level (a server whose connections come
   and go) reuses the stacks it had, resident pages and all: none is unmapped and mapped again.
   coro_stack_used reads residency, so a stack that went back to the kernel reports one page. */

/* coro_pool_trim unmaps the free stacks of a slab that has a live neighbour one by one, and
   keeps the slab's first region (it holds the counts). When the live one, not the first region,
   is freed and the pool trimmed again, the slab goes back without touching the regions already
   unmapped. Run in a fresh process: the pool is empty there, so the counts are exact, and a
   fault does not take the test binary down. Exits non-zero, with a message, on a wrong count. */
static void slab_hole_fail(const char *what) {
    fprintf(stderr, "slab_hole_child: %s\n", what);
    exit(3);
}
static void slab_hole_child(void) {
    enum { N = 15 }; /* slabs of 1, 2, 4 and 8 stacks for a new size */
    coro_t *cos[N], *keep = NULL;
    int i;
    for (i = 0; i < N; i++) /* each gets its stack when it first runs */
        if ((cos[i] = coro_new(add_one_then_yield, 96 * 1024)) == NULL ||
            I(coro_resume(cos[i], P(i))) != i + 1)
            slab_hole_fail("coro_new");
    for (i = 0; i < N; i++) { /* the last region of a slab of three or more */
        coro__stack *st = cos[i]->stack, *s = st->slab;
        if (s->slab_n >= 3 && st->map == s->map + (size_t)(s->slab_n - 1) * s->map_size)
            keep = cos[i];
    }
    if (!keep) slab_hole_fail("no slab of three stacks or more");
    for (i = 0; i < N; i++)
        if (cos[i] != keep) coro_free(cos[i]);
    if (coro_pool_trim() != N - 2) slab_hole_fail("first trim: all but the live one and its first region");
    if (I(coro_resume(keep, P(5))) != 7) slab_hole_fail("the live one after the trim");
    coro_free(keep);
    if (coro_pool_trim() != 2) slab_hole_fail("second trim: the live one and its first region");
    if (coro_pool_trim() != 0) slab_hole_fail("third trim");
    keep = coro_new(ret_arg, 96 * 1024);
    if (!keep || I(coro_resume(keep, P(6))) != 6) slab_hole_fail("a new coroutine after");
    coro_free(keep);
}
static void test_trim_slab_with_holes(void) {
    char out[512];
    int status = run_child(slab_hole_child, out, sizeof out);
    CHECK(child_exited(status, 0));
    if (!child_exited(status, 0)) fprintf(stderr, "status %x: %s\n", (unsigned)status, out);
}

/* ---- overflow ------------------------------------------------------------------------------ */
static volatile int recurse_limit = 1 << 30; /* never reached: the stack ends first */
static int recurse(int n) {
    volatile char buf[256];
    buf[0] = (char)n;
    if (n >= recurse_limit) return 0;
    return recurse(n + 1) + buf[0];
}
static void *overflow(void *arg) {
    (void)arg;
    return P(recurse(0));
}
static void *yield_then_overflow(void *arg) {
    coro_yield(arg);
    return overflow(arg);
}

/* fresh-process scenarios: run_child() from helpers.h */

static size_t expected_size;
static void overflow_child(void) {
    coro_t *co = coro_new(overflow, 64 * 1024);
    coro_set_name(co, "deep");
    coro_resume(co, NULL);
}
static void test_overflow_dies_with_message(void) {
    char out[1024], want[128];
    int status;
    coro_t *probe = coro_new(ret_arg, 64 * 1024);
    expected_size = coro_stack_size(probe);
    coro_free(probe);
    status = run_child(overflow_child, out, sizeof out);
    CHECK(child_faulted(status)); /* SIGSEGV; on Windows EXCEPTION_STACK_OVERFLOW */
    if (!child_faulted(status)) fprintf(stderr, "child status %x\n", (unsigned)status);
    CHECK(strstr(out, "coro: stack overflow in coroutine ") != NULL);
    CHECK(strstr(out, "\"deep\"") != NULL);
    snprintf(want, sizeof want, "(stack size %zu bytes", expected_size);
    CHECK(strstr(out, want) != NULL);
    if (!strstr(out, want)) fprintf(stderr, "child said: %s\n", out);
}

/* Every region of a slab has its guard, not only the first: the last stack made from a slab
   of 32 (a new size: its slabs hold 1, 2, 4, 8, 16 then 32 stacks) overflows into its own guard
   and the report names it, instead of writing over its neighbour's struct below. */
static void overflow_in_slab_child(void) {
    enum { N = 63 };
    static coro_t *cos[N];
    int i;
    for (i = 0; i < N; i++) /* each gets its stack when it first runs */
        if ((cos[i] = coro_new(yield_then_overflow, 80 * 1024)) == NULL ||
            coro_resume(cos[i], P(1)) != P(1))
            _exit(3);
    if (cos[N - 1]->stack->slab->slab_n != 32 || cos[N - 1]->stack->map == cos[N - 1]->stack->slab->map)
        _exit(4);
    coro_set_name(cos[N - 1], "deep in a slab");
    coro_resume(cos[N - 1], NULL);
}
static void test_overflow_in_a_slab_dies_with_message(void) {
    char out[1024];
    int status = run_child(overflow_in_slab_child, out, sizeof out);
    CHECK(child_faulted(status));
    if (!child_faulted(status)) fprintf(stderr, "child status %x: %s\n", (unsigned)status, out);
    CHECK(strstr(out, "coro: stack overflow in coroutine ") != NULL);
    CHECK(strstr(out, "\"deep in a slab\"") != NULL);
}

#ifdef _WIN32
/* a program with its own exception filter: faults elsewhere reach it unchanged, and after an
   overflow report it still runs */
static volatile char *fault_addr;
static LONG WINAPI user_filter(EXCEPTION_POINTERS *ep) {
    static const char msg[] = "user handler\n";
    const EXCEPTION_RECORD *r = ep->ExceptionRecord;
    DWORD w;
    WriteFile(GetStdHandle(STD_ERROR_HANDLE), msg, sizeof msg - 1, &w, NULL);
    if (r->ExceptionCode == EXCEPTION_ACCESS_VIOLATION && r->NumberParameters >= 2 &&
        r->ExceptionInformation[1] == (ULONG_PTR)fault_addr)
        ExitProcess(43);
    ExitProcess(42);
    return EXCEPTION_CONTINUE_SEARCH;
}
static void other_fault_child(void) {
    SetUnhandledExceptionFilter(user_filter);
    fault_addr = (volatile char *)VirtualAlloc(NULL, 4096, MEM_RESERVE, PAGE_NOACCESS);
    coro_free(coro_new(ret_arg, 0)); /* coro.h installs its handler now, after the user's */
    (void)fault_addr[0];
}
static void overflow_with_user_handler_child(void) {
    SetUnhandledExceptionFilter(user_filter);
    overflow_child();
}
static void test_handler_chains(void) {
    char out[1024];
    int status = run_child(other_fault_child, out, sizeof out);
    CHECK(child_exited(status, 43)); /* the same exception, the same address */
    CHECK(strstr(out, "user handler") != NULL);
    CHECK(strstr(out, "stack overflow") == NULL);
    status = run_child(overflow_with_user_handler_child, out, sizeof out);
    CHECK(child_exited(status, 42));
    CHECK(strstr(out, "coro: stack overflow in coroutine") != NULL);
    CHECK(strstr(out, "user handler") != NULL);
}
/* A stack from the pool that its last user grew: the new user goes as deep without touching a
   guard page, and the TEB's StackLimit must still be at or below its frames (the exception
   dispatcher rejects frames below it). */
static volatile char *deep_local;
static volatile uintptr_t deep_limit;
static int dig(int n) {
    volatile char buf[1024];
    buf[0] = (char)n;
    if (n == 0) {
        uintptr_t limit;
        deep_local = buf;
        __asm__ volatile("movq %%gs:0x10, %0" : "=r"(limit)); /* the TEB's StackLimit */
        deep_limit = limit;
        return buf[0];
    }
    return dig(n - 1) + buf[0];
}
static void *dig_150(void *arg) {
    (void)arg;
    return P(dig(150));
}
static void test_reused_stack_keeps_its_limit(void) {
    coro_t *a = coro_new(dig_150, 256 * 1024), *b;
    coro_resume(a, NULL);
    CHECK((uintptr_t)deep_local >= deep_limit); /* grown through the guard page */
    coro_free(a);
    b = coro_new(dig_150, 256 * 1024);
    CHECK(b == a); /* the same stack, from the pool */
    deep_local = NULL;
    coro_resume(b, NULL);
    CHECK(deep_local != NULL && (uintptr_t)deep_local >= deep_limit);
    coro_free(b);
}
static void test_enomem_when_address_space_runs_out(void) {
    printf("SKIPPED test_enomem_when_address_space_runs_out: Windows has no RLIMIT_AS\n");
}
static void test_guards_cost_no_mapping(void) {
    printf("SKIPPED test_guards_cost_no_mapping: Linux madvise guards (Windows guards are reserved address space)\n");
}
#else
/* a program with its own SIGSEGV handler: faults elsewhere reach it unchanged */
static volatile char *fault_addr;
static void user_handler(int sig) {
    static const char msg[] = "user handler\n";
    ssize_t w = write(2, msg, sizeof msg - 1);
    (void)w;
    (void)sig;
    _exit(42);
}
static void user_siginfo_handler(int sig, siginfo_t *si, void *ctx) {
    (void)sig;
    (void)ctx;
    _exit(si->si_addr == (void *)fault_addr ? 43 : 44);
}
static void install_user_handler(int siginfo) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    if (siginfo) {
        sa.sa_sigaction = user_siginfo_handler;
        sa.sa_flags = SA_SIGINFO;
    } else {
        sa.sa_handler = user_handler;
    }
    sigaction(SIGSEGV, &sa, NULL);
}
static void touch_protected(void) {
    fault_addr = (volatile char *)mmap(NULL, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    coro_free(coro_new(ret_arg, 0)); /* coro.h installs its handler now, after the user's */
    (void)fault_addr[0];
}
static void other_fault_child(void) {
    install_user_handler(0);
    touch_protected();
}
static void other_fault_siginfo_child(void) {
    install_user_handler(1);
    touch_protected();
}
static void overflow_with_user_handler_child(void) {
    install_user_handler(0);
    overflow_child();
}
static void test_handler_chains(void) {
    char out[1024];
    int status = run_child(other_fault_child, out, sizeof out);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 42);
    CHECK(strstr(out, "stack overflow") == NULL);
    status = run_child(other_fault_siginfo_child, out, sizeof out);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 43); /* same siginfo, same address */
    status = run_child(overflow_with_user_handler_child, out, sizeof out);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 42);
    CHECK(strstr(out, "coro: stack overflow in coroutine") != NULL);
    CHECK(strstr(out, "user handler") != NULL);
}

/* ---- running out --------------------------------------------------------------------------- */
static void address_space_child(void) {
    enum { MAX = 4096 };
    static coro_t *cos[MAX];
    struct rlimit rl;
    int n = 0, err = 0, i;
    coro_free(coro_new(ret_arg, 0)); /* thread set up before the limit */
    coro_pool_trim();
    rl.rlim_cur = rl.rlim_max = (rlim_t)(vm_size_kb() + 8 * 1024) * 1024; /* room for ~30 */
    if (setrlimit(RLIMIT_AS, &rl) != 0) _exit(10);
    while (n < MAX) {
        errno = 0;
        cos[n] = coro_new(ret_arg, 0);
        if (!cos[n]) {
            err = errno;
            break;
        }
        errno = 0;
        if (coro_resume(cos[n], P(1)) != P(1)) { /* no stack for its first run */
            err = errno;
            if (coro_status(cos[n]) != CORO_SUSPENDED || coro_stack_used(cos[n]) != 0) _exit(16);
            if (coro_free(cos[n]) != 0) _exit(17);
            break;
        }
        n++;
    }
    if (n == 0 || n == MAX) _exit(11);
    if (err != ENOMEM) _exit(12);
    if (coro_count_alive() != (size_t)n) _exit(13);
    for (i = 0; i < n; i++) coro_free(cos[i]);
    if (coro_count_alive() != 0) _exit(14);
    /* memory is back: creating works again */
    cos[0] = coro_new(ret_arg, 0);
    if (!cos[0] || I(coro_resume(cos[0], P(5))) != 5) _exit(15);
    _exit(0);
}
static void test_enomem_when_address_space_runs_out(void) {
    char out[256];
    int status;
    if (getenv("CORO_TEST_EMULATOR")) {
        printf("SKIPPED test_enomem_when_address_space_runs_out: RLIMIT_AS under an emulator\n");
        return;
    }
    status = run_child(address_space_child, out, sizeof out);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status)) fprintf(stderr, "status %x\n", status);
}

#ifdef CORO_GUARD_MPROTECT
/* With mprotect guards every stack costs two mappings: vm.max_map_count (65530 by default)
   ends at about 32,000 coroutines with ENOMEM, and freeing one makes room again. */
static void map_count_child(void) {
    enum { MAX = 400000 };
    static coro_t *cos[MAX];
    int n = 0, i, k;
    /* Natively freeing one stack makes room for one. Under qemu-user the emulator shares the
       process's map count and maps memory of its own (translating the code that runs next),
       so it can take the slot first: there, free a few. */
    int room = getenv("CORO_TEST_EMULATOR") ? 32 : 1;
    while (n < MAX && (cos[n] = new_run(CORO_MIN_STACK_SIZE)) != NULL) n++;
    if (n == MAX) _exit(20); /* the limit was raised: nothing to test here */
    if (errno != ENOMEM) _exit(21);
    if (n < 1000) _exit(22);
    for (k = 1; k <= room; k++) coro_free(cos[n - k]);
    coro_pool_trim();
    if (!(cos[n - 1] = new_run(CORO_MIN_STACK_SIZE))) _exit(23);
    for (k = 2; k <= room; k++) cos[n - k] = NULL;
    for (i = 0; i < n; i++) coro_free(cos[i]);
    if (strcmp(coro_guard_mode(), "mprotect") != 0) _exit(24);
    _exit(0);
}
static void test_enomem_at_max_map_count(void) {
    char out[256];
    int status = run_child(map_count_child, out, sizeof out);
    const char *emu = getenv("CORO_TEST_EMULATOR");
    if (WIFEXITED(status) && WEXITSTATUS(status) == 20) {
        printf("SKIPPED test_enomem_at_max_map_count: vm.max_map_count is raised\n");
        return;
    }
    /* a 32-bit guest under qemu-user (qemu-i386, qemu-arm), in about half the runs: allocating
       again fails even after freeing hundreds of stacks, and so does a plain mmap (the
       emulator's own mappings count against the same limit) */
    if (emu && sizeof(void *) == 4 && WIFEXITED(status) && WEXITSTATUS(status) == 23) {
        printf("SKIPPED test_enomem_at_max_map_count: under %s the freed slots were taken\n", emu);
        return;
    }
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status)) fprintf(stderr, "status %x\n", status);
}
#else
/* With MADV_GUARD_INSTALL guards cost no mapping: far more guarded coroutines than
   vm.max_map_count / 2 fit (the benchmark shows a million). */
static void test_guards_cost_no_mapping(void) {
    enum { N = 40000 };
    static coro_t *cos[N];
    int n = 0, i;
    if (strcmp(coro_guard_mode(), "madvise") != 0) {
        printf("SKIPPED test_guards_cost_no_mapping: guard mode is %s (kernel before 6.13, or an emulator)\n",
               coro_guard_mode());
        return;
    }
    if (under_valgrind_or_emulator()) { /* each first switch searches every registered stack */
        printf("SKIPPED test_guards_cost_no_mapping: 40,000 stacks under Valgrind take too long\n");
        return;
    }
    while (n < N && (cos[n] = new_run(CORO_MIN_STACK_SIZE)) != NULL) n++;
    CHECK(n == N);
    for (i = 0; i < n; i++) coro_free(cos[i]);
}
#endif

#endif /* _WIN32 */

static const struct helpers_scenario scenarios[] = {
    {"overflow_child", overflow_child},
    {"other_fault_child", other_fault_child},
    {"overflow_with_user_handler_child", overflow_with_user_handler_child},
    {"slab_hole_child", slab_hole_child},
    {"overflow_in_slab_child", overflow_in_slab_child},
#ifndef _WIN32
    {"other_fault_siginfo_child", other_fault_siginfo_child},
    {"address_space_child", address_space_child},
#endif
#ifdef CORO_GUARD_MPROTECT
    {"map_count_child", map_count_child},
#endif
};

int main(int argc, char **argv) {
    helpers_child_dispatch(argc, argv, scenarios, HELPERS_COUNT(scenarios));
    RUN(test_10k_alive);
    RUN(test_200k_created_and_freed);
    RUN(test_pool_bounded_and_trim);
    RUN(test_pool_decay);
    RUN(test_trim_slab_with_holes);
    RUN(test_overflow_dies_with_message);
    RUN(test_overflow_in_a_slab_dies_with_message);
    RUN(test_handler_chains);
#ifdef _WIN32
    RUN(test_reused_stack_keeps_its_limit);
#endif
    RUN(test_enomem_when_address_space_runs_out);
#ifdef CORO_GUARD_MPROTECT
    RUN(test_enomem_at_max_map_count);
    CHECK(strcmp(coro_guard_mode(), "mprotect") == 0);
#else
    RUN(test_guards_cost_no_mapping);
#endif
    return check_done();
}
