/* test_threads.c - coroutines belong to their thread: four threads run their own coroutines at
   once, another thread's coroutine is refused, each thread keeps its own rounding mode, and a
   thread's stack pool is returned when it exits (on Windows also for threads made by
   CreateThread). */
#define CORO_IMPLEMENTATION
#include "../coro.h"
#include "check.h"
#include "helpers.h"

#include <fenv.h>
#include <pthread.h>
#include <stdint.h>

#define P(x) ((void *)(intptr_t)(x))
#define I(p) ((intptr_t)(p))
#define THREADS 4
#define COROS 50
#define ROUNDS 20000

static void *accumulate(void *arg) {
    intptr_t sum = I(arg), v;
    while ((v = I(coro_yield(P(sum)))) != 0) sum += v;
    return P(sum);
}

typedef struct {
    int index, errors, rounding;
    coro_t *sample; /* one of this thread's coroutines, for the cross-thread checks */
} worker;

static pthread_barrier_t barrier;
static worker workers[THREADS];

static void *worker_main(void *arg) {
    worker *w = (worker *)arg;
    static const int modes[THREADS] = {FE_TONEAREST, FE_UPWARD, FE_DOWNWARD, FE_TOWARDZERO};
    coro_t *cos[COROS];
    intptr_t expect[COROS];
    int i, r;
    w->rounding = modes[w->index];
    fesetround(w->rounding);
    errno = 777; /* the thread's first coro_new sets up its state: errno must survive that */
    for (i = 0; i < COROS; i++) {
        cos[i] = coro_new(accumulate, 0);
        if (i == 0 && errno != 777) w->errors++;
        expect[i] = w->index * 1000 + i;
        if (I(coro_resume(cos[i], P(expect[i]))) != expect[i]) w->errors++;
    }
    if (coro_count_alive() != COROS) w->errors++;
    w->sample = cos[0];
    pthread_barrier_wait(&barrier); /* everyone has coroutines; now cross-thread checks */
    {
        coro_t *other = workers[(w->index + 1) % THREADS].sample;
        errno = 0;
        if (coro_resume(other, P(1)) != NULL || errno != EINVAL) w->errors++;
        errno = 0;
        if (coro_kill(other) != -1 || errno != EINVAL) w->errors++;
        errno = 0;
        if (coro_free(other) != -1 || errno != EINVAL) w->errors++;
    }
    pthread_barrier_wait(&barrier);
    for (r = 1; r <= ROUNDS; r++)
        for (i = 0; i < COROS; i++) {
            expect[i] += r;
            if (I(coro_resume(cos[i], P(r))) != expect[i]) w->errors++;
        }
    if (fegetround() != w->rounding) w->errors++;
    for (i = 0; i < COROS; i++) {
        if (I(coro_resume(cos[i], P(0))) != expect[i]) w->errors++;
        coro_free(cos[i]);
    }
    if (coro_count_alive() != 0) w->errors++;
    return NULL;
}

static void test_four_threads(void) {
    pthread_t th[THREADS];
    int i;
    pthread_barrier_init(&barrier, NULL, THREADS);
    for (i = 0; i < THREADS; i++) {
        workers[i].index = i;
        CHECK(pthread_create(&th[i], NULL, worker_main, &workers[i]) == 0);
    }
    for (i = 0; i < THREADS; i++) pthread_join(th[i], NULL);
    for (i = 0; i < THREADS; i++) CHECK(workers[i].errors == 0);
    pthread_barrier_destroy(&barrier);
}

/* ---- the pool goes away with its thread ---------------------------------------------------- */
static void *ret_arg(void *arg) { return arg; }
static void *fill_pool(void *arg) {
    coro_t *cos[CORO_POOL_SIZE];
    int i;
    (void)arg;
    for (i = 0; i < CORO_POOL_SIZE; i++) cos[i] = coro_new(ret_arg, 4u << 20); /* 4 MiB each */
    for (i = 0; i < CORO_POOL_SIZE; i++) coro_free(cos[i]); /* all pooled: 256 MiB virtual */
    return NULL;
}
static void test_pool_released_at_thread_exit(void) {
    long before = vm_size_kb(), after;
    int i;
    for (i = 0; i < 4; i++) {
        pthread_t th;
        pthread_create(&th, NULL, fill_pool, NULL);
        pthread_join(th, NULL);
    }
    after = vm_size_kb();
    /* 4 threads x 64 x 4 MiB = 1 GiB if the pools leaked; glibc caches a few thread stacks */
    CHECK(after - before < 128 * 1024);
    if (after - before >= 128 * 1024) fprintf(stderr, "VmSize grew by %ld kB\n", after - before);
}

#ifdef _WIN32
/* the same with threads Windows makes itself (CreateThread; the pthreads above are winpthreads) */
static DWORD WINAPI win_thread(LPVOID arg) {
    int *ok = (int *)arg;
    coro_t *co = coro_new(accumulate, 0);
    *ok = co && I(coro_resume(co, P(5))) == 5 && I(coro_resume(co, P(0))) == 5 &&
          coro_free(co) == 0 && coro_count_alive() == 0;
    fill_pool(NULL);
    return 0;
}
static void test_windows_threads(void) {
    long before = vm_size_kb(), after;
    int i, ok[4] = {0, 0, 0, 0};
    for (i = 0; i < 4; i++) {
        HANDLE h = CreateThread(NULL, 0, win_thread, &ok[i], 0, NULL);
        CHECK(h != NULL);
        if (!h) continue;
        WaitForSingleObject(h, INFINITE);
        CloseHandle(h);
        CHECK(ok[i]);
    }
    after = vm_size_kb();
    CHECK(after - before < 128 * 1024); /* the pools went with their threads */
    if (after - before >= 128 * 1024) fprintf(stderr, "VM size grew by %ld kB\n", after - before);
}
#endif

int main(void) {
    RUN(test_four_threads);
    RUN(test_pool_released_at_thread_exit);
#ifdef _WIN32
    RUN(test_windows_threads);
#endif
    return check_done();
}
