/* tsan_first_use.c - threads that touch coro.h and coro_sched.h for the first time at the same
   moment, built with -fsanitize=thread by tests/tsan.sh: whatever the headers initialise
   lazily for the whole process (the page size, the guard mode, the overflow handler, the
   SIGPIPE setting, the signal pipe, the ids) must be free of data races. The coroutines are
   created, spawned and freed but never switched to: ThreadSanitizer follows stack switches only
   through its fiber API. A sync object two threads claim at once goes to exactly one of them. */
#define CORO_IMPLEMENTATION
#define CORO_SCHED_IMPLEMENTATION
#include "../coro_sched.h"
#include "check.h"

#include <pthread.h>
#include <signal.h>

enum { THREADS = 4, ROUNDS = 8 };
static pthread_barrier_t start;
static coro_sem_t shared_sem; /* claimed by whichever thread posts first */
static int claimed, refused;
static int t_passed, t_failed; /* check.h's counters are not for threads: these are atomic */
#define TCHECK(x)                                                                               \
    do {                                                                                        \
        if (x) {                                                                                \
            __atomic_add_fetch(&t_passed, 1, __ATOMIC_RELAXED);                                 \
        } else {                                                                                \
            __atomic_add_fetch(&t_failed, 1, __ATOMIC_RELAXED);                                 \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #x);               \
        }                                                                                       \
    } while (0)

static void *body(void *arg) { return arg; }

static void *first_use(void *arg) {
    coro_t *co;
    sigset_t set;
    int r, e;
    (void)arg;
    pthread_barrier_wait(&start);
    co = coro_new(body, 0);
    TCHECK(co != NULL);
    TCHECK(coro_guard_mode() != NULL);
    if (co) TCHECK(coro_free(co) == 0);
    TCHECK(coro_spawn(body, NULL, 0) != NULL); /* the scheduler's first use: SIGPIPE set-up */
    sigemptyset(&set);
    sigaddset(&set, SIGUSR2);
    TCHECK(coro_signal_watch(&set) == 0);
    errno = 0;
    r = coro_sem_post(&shared_sem);
    e = errno;
    if (r == 0) __atomic_add_fetch(&claimed, 1, __ATOMIC_RELAXED);
    else if (e == EPERM) __atomic_add_fetch(&refused, 1, __ATOMIC_RELAXED);
    coro_sched_free(); /* kills the spawned one before it ever ran */
    TCHECK(coro_count() == 0);
    coro_pool_trim();
    return NULL;
}

int main(void) {
    int round, i;
    for (round = 0; round < ROUNDS; round++) {
        pthread_t t[THREADS];
        claimed = refused = 0;
        coro_sem_init(&shared_sem, 0);
        pthread_barrier_init(&start, NULL, THREADS);
        for (i = 0; i < THREADS; i++) CHECK(pthread_create(&t[i], NULL, first_use, NULL) == 0);
        for (i = 0; i < THREADS; i++) pthread_join(t[i], NULL);
        pthread_barrier_destroy(&start);
        /* every post came from the thread that claimed the semaphore, or was refused */
        CHECK(claimed >= 1 && claimed + refused == THREADS);
        CHECK(shared_sem.count == (unsigned)claimed);
    }
    check__passed += t_passed;
    check__failed += t_failed;
    return check_done();
}
