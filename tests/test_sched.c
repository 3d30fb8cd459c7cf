/* test_sched.c - coro_sched.h semantics: sleep order, deadlines, cond/mutex/semaphore/channel,
   join, suspend/wake, kill and raise of coroutines blocked in each kind of wait, errno per
   coroutine, bare yields, generators inside spawned coroutines, deadlock detection. Compiled
   once per backend (epoll, and poll with -DCORO_SCHED_POLL). */
#define CORO_IMPLEMENTATION
#define CORO_SCHED_IMPLEMENTATION
#include "../coro_sched.h"
#include "check.h"
#include "test_pipe.h"

#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>
#ifndef _WIN32
#include <sys/resource.h>
#include <sys/wait.h>
#endif
#include "helpers.h"

/* Waits that another coroutine must observe in progress last longer under an emulator (qemu
   on a loaded machine can delay the observer by tens of milliseconds). */
static unsigned slow_factor(void) { return getenv("CORO_TEST_EMULATOR") ? 10u : 1u; }

#define P(x) ((void *)(intptr_t)(x))
#define I(p) ((intptr_t)(p))

static unsigned rng = 12345;
static unsigned rnd(void) {
    rng = rng * 1103515245u + 12345u;
    return (rng >> 8) & 0xffffff;
}

/* ---- spawn order, run, count --------------------------------------------------------------- */
static char order[64];
static size_t norder;
static void *append_char(void *arg) {
    order[norder++] = (char)I(arg);
    order[norder] = 0;
    return arg;
}
static void test_spawn_fifo(void) {
    const char *s = "abcdef";
    norder = 0;
    while (*s) CHECK(coro_spawn(append_char, P(*s++), 0) != NULL);
    CHECK(coro_count() == 6);
    CHECK(norder == 0); /* queued, not run yet */
    CHECK(coro_run() == 0);
    CHECK(strcmp(order, "abcdef") == 0);
    CHECK(coro_count() == 0);
    CHECK(coro_run() == 0); /* nothing left: returns at once */
    CHECK_ERR(coro_spawn(NULL, NULL, 0) == NULL, EINVAL);
    CHECK_ERR(coro_spawn(append_char, NULL, (size_t)-1) == NULL, EINVAL);
}

/* ---- sleep order with thousands of sleepers ------------------------------------------------ */
enum { SLEEPERS = 3000 };
static int64_t sleep_start, woke_at[SLEEPERS], wanted[SLEEPERS];
static int wake_seq[SLEEPERS], nwoken, early;
static void *sleeper(void *arg) {
    intptr_t i = I(arg);
    CHECK(coro_sleep_until(sleep_start + wanted[i]) == 0);
    woke_at[i] = coro_now();
    if (woke_at[i] < sleep_start + wanted[i]) early++;
    wake_seq[nwoken++] = (int)i;
    return NULL;
}
static void test_sleep_order(void) {
    int i, ordered = 1;
    nwoken = early = 0;
    sleep_start = coro_now();
    for (i = 0; i < SLEEPERS; i++) {
        wanted[i] = rnd() % 300;
        coro_spawn(sleeper, P(i), 0);
    }
    CHECK(coro_run() == 0);
    CHECK(nwoken == SLEEPERS);
    CHECK(early == 0); /* nobody woke before its deadline */
    for (i = 1; i < nwoken; i++) {
        int a = wake_seq[i - 1], b = wake_seq[i];
        /* by deadline; equal deadlines in the order they went to sleep */
        if (wanted[a] > wanted[b] || (wanted[a] == wanted[b] && a > b)) ordered = 0;
    }
    CHECK(ordered);
}

static void *sleep_misuse(void *arg) {
    (void)arg;
    CHECK_ERR(coro_sleep(-1) == -1, EINVAL);
    CHECK_ERR(coro_sleep_until(-5) == -1, EINVAL);
    CHECK(coro_sleep(0) == 0);
    CHECK(coro_sleep_until(0) == 0); /* already past */
    return NULL;
}
static void test_sleep_misuse(void) {
    CHECK_ERR(coro_sleep(10) == -1, EPERM); /* main is not a spawned coroutine */
    CHECK_ERR(coro_sched_yield() == -1, EPERM);
    coro_spawn(sleep_misuse, NULL, 0);
    CHECK(coro_run() == 0);
}

/* ---- yields: coro_sched_yield and a bare coro_yield ---------------------------------------- */
static char trace[256];
static size_t ntrace;
static void mark(char c) {
    if (ntrace < sizeof trace - 1) trace[ntrace++] = c;
    trace[ntrace] = 0;
}
static void *yielder(void *arg) {
    int i;
    for (i = 0; i < 3; i++) {
        mark((char)I(arg));
        if (I(arg) == 'b') CHECK(coro_yield(P(99)) == NULL); /* bare yield = sched_yield */
        else CHECK(coro_sched_yield() == 0);
    }
    return NULL;
}
static void test_yields_round_robin(void) {
    ntrace = 0;
    coro_spawn(yielder, P('a'), 0);
    coro_spawn(yielder, P('b'), 0);
    coro_spawn(yielder, P('c'), 0);
    CHECK(coro_run() == 0);
    CHECK(strcmp(trace, "abcabcabc") == 0);
}

/* A yielding task hands control straight to the next ready one; the loop still gets it back
   for coro_stop, and a cleanup handler (which cannot switch away) keeps running. */
static int spin_stop;
static void *spin_yield(void *arg) {
    (void)arg;
    while (!spin_stop) CHECK(coro_sched_yield() == 0);
    return NULL;
}
static void *stop_after(void *arg) {
    int i;
    for (i = 0; i < I(arg); i++) coro_sched_yield();
    coro_stop();
    return NULL;
}
static void yield_in_cleanup(void *arg) {
    (void)arg;
    mark('x');
    CHECK(coro_sched_yield() == 0); /* does not switch: 'y' follows 'x' at once */
    mark('y');
}
static void *ends_with_cleanup(void *arg) {
    (void)arg;
    coro_defer(yield_in_cleanup, NULL);
    coro_sched_yield();
    return NULL;
}
static void *marks_o(void *arg) {
    int i;
    (void)arg;
    for (i = 0; i < 3; i++) {
        mark('o');
        coro_sched_yield();
    }
    return NULL;
}
static void test_hand_off(void) {
    spin_stop = 0;
    coro_spawn(spin_yield, NULL, 0);
    coro_spawn(spin_yield, NULL, 0);
    coro_spawn(stop_after, P(1000), 0);
    CHECK(coro_run() == 0); /* returns although two tasks are always ready */
    CHECK(coro_count() == 2);
    spin_stop = 1;
    CHECK(coro_run() == 0);
    CHECK(coro_count() == 0);

    ntrace = 0;
    coro_spawn(ends_with_cleanup, NULL, 0);
    coro_spawn(marks_o, NULL, 0);
    CHECK(coro_run() == 0);
    CHECK(strcmp(trace, "oxyoo") == 0);
}

/* Hand-offs among tasks that only yield go on from round to round while the loop has nothing
   else to do, and stop at a round's end once it has: a timer that comes due, or one added by
   a task that joins them, still fires although two tasks are always ready. */
static long spin_rounds;
static void *spin_count(void *arg) {
    (void)arg;
    while (!spin_stop) {
        spin_rounds++;
        CHECK(coro_sched_yield() == 0);
    }
    return NULL;
}
static void *sleep_then_stop(void *arg) {
    int i;
    for (i = 0; i < I(arg); i++) coro_sched_yield(); /* the spinners hand off meanwhile */
    CHECK(coro_sleep(1) == 0);
    spin_stop = 1;
    return NULL;
}
static void test_hand_off_rounds(void) {
    spin_stop = 0;
    spin_rounds = 0;
    coro_spawn(spin_count, NULL, 0);
    coro_spawn(spin_count, NULL, 0);
    coro_spawn(sleep_then_stop, P(100), 0);
    CHECK(coro_run() == 0);
    CHECK(spin_stop == 1 && spin_rounds > 200);
    CHECK(coro_count() == 0);
}

/* Coroutines that end while the others keep handing off to each other are still freed: the
   loop frees ended ones between rounds, and hand-offs must let a round end for that. */
static size_t churn_max_alive;
static void *churn_child(void *arg) {
    (void)arg;
    return NULL;
}
static void *churn_spawner(void *arg) {
    int i;
    (void)arg;
    for (i = 0; i < 5000; i++) {
        CHECK(coro_spawn(churn_child, NULL, 0) != NULL);
        if (i % 10 == 9) {
            size_t alive = coro_count_alive();
            if (alive > churn_max_alive) churn_max_alive = alive;
            coro_sched_yield();
        }
    }
    return NULL;
}
static void *churn_other(void *arg) {
    int i;
    (void)arg;
    for (i = 0; i < 1000; i++) coro_sched_yield();
    return NULL;
}
static void test_hand_offs_free_ended(void) {
    churn_max_alive = 0;
    coro_spawn(churn_spawner, NULL, 0);
    coro_spawn(churn_other, NULL, 0);
    CHECK(coro_run() == 0);
    CHECK(churn_max_alive > 10 && churn_max_alive < 100); /* not 5,000 */
    if (churn_max_alive >= 100) printf("  %zu coroutines alive at once\n", churn_max_alive);
    CHECK(coro_count() == 0);
}

/* A burst of coroutines that end leaves their stacks in the pool, idle; a loop that then only
   waits for a timer gives back those beyond the pool's need once they have stayed idle for
   CORO_POOL_DECAY_MS, without another free: it wakes for them before the timer. The burst runs
   first, on its own, so that every slab is idle before the timer starts however slow the
   machine (or Valgrind) is. The timer is 2 s after the slabs are due. A process stalled for all
   of that time (a loaded machine under Valgrind: stalls of 1.7 s were seen) wakes once for
   both, runs the sleeper first and proves nothing; its sleeper mostly wakes late, so a sleeper
   250 ms or more late has the case run again (at most 3 times). */
static size_t burst_kept;
static int64_t burst_late_ms;
static void *burst_child(void *arg) { return arg; }
static void *burst_late_trim(void *arg) {
    int64_t t0 = coro_now();
    CHECK(coro_sleep(CORO_POOL_DECAY_MS + 2000) == 0);
    burst_late_ms = coro_now() - (t0 + CORO_POOL_DECAY_MS + 2000);
    burst_kept = coro_pool_trim();
    return arg;
}
#ifndef _WIN32
/* A coroutine gets its stack at its first run. A task whose first run finds no memory for one
   waits until others end and give theirs back: under an address-space limit with room for a
   few dozen stacks, 300 tasks that each hold theirs for a while all run and can be joined. In
   a child process (the limit stays there); its exit code says what went wrong. */
static int starve_running, starve_peak, starve_done;
static void *hold_stack(void *arg) {
    int64_t t0 = coro_now();
    if (++starve_running > starve_peak) starve_peak = starve_running;
    if (coro_sleep(5) != 0 || coro_now() - t0 < 5) _exit(16); /* a sleep cut short */
    starve_running--;
    starve_done++;
    return arg;
}
static void *starve_joiner(void *arg) {
    coro_t **cos = (coro_t **)arg;
    int i;
    void *r;
    for (i = 0; i < 300; i++)
        if (coro_join(cos[i], &r, -1) != 0 || r != P(i)) _exit(14);
    return NULL;
}
static void starved_child(void) {
    enum { N = 300 };
    static coro_t *cos[N];
    struct rlimit rl;
    int i;
    coro_spawn(hold_stack, NULL, 64 * 1024); /* the loop set up before the limit */
    if (coro_run() != 0) _exit(9);
    coro_pool_trim();
    starve_peak = starve_done = 0;
    rl.rlim_cur = rl.rlim_max = (rlim_t)(vm_size_kb() + 6 * 1024) * 1024;
    if (setrlimit(RLIMIT_AS, &rl) != 0) _exit(10);
    /* the joiner last: it starts only once joinable tasks that ended, still waiting for it,
       have given their stacks back (kept with theirs, they would starve it for ever) */
    alarm(60);
    for (i = 0; i < N; i++) {
        if (!(cos[i] = coro_spawn(hold_stack, P(i), 64 * 1024))) _exit(11);
        coro_joinable(cos[i]);
    }
    if (!coro_spawn(starve_joiner, cos, 64 * 1024)) _exit(11);
    if (coro_run() != 0) _exit(12);
    if (starve_done != N) _exit(13);
    if (starve_peak >= N) _exit(15); /* the limit did not bite: nothing was tested */
    _exit(0);
}
static void test_starved_tasks_wait_for_stacks(void) {
    int status = -1;
    pid_t pid;
    if (getenv("CORO_TEST_EMULATOR")) {
        printf("SKIPPED test_starved_tasks_wait_for_stacks: RLIMIT_AS under an emulator\n");
        return;
    }
#if CORO__ASAN || CORO__TSAN
    printf("SKIPPED test_starved_tasks_wait_for_stacks: the sanitizer maps its own memory under the limit\n");
    return;
#endif
#if CORO__VALGRIND
    if (RUNNING_ON_VALGRIND) { /* it manages the address space itself and dies under the limit */
        printf("SKIPPED test_starved_tasks_wait_for_stacks: RLIMIT_AS under Valgrind\n");
        return;
    }
#endif
    fflush(NULL);
    pid = fork();
    if (pid == 0) starved_child();
    CHECK(pid > 0 && waitpid(pid, &status, 0) == pid);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status)) /* killed by SIGALRM (14): a deadlock */
        fprintf(stderr, "starved_child: wait status %x\n", status);
}
#endif

static void test_idle_loop_gives_stacks_back(void) {
    int i, attempt;
    for (attempt = 1; attempt <= 3; attempt++) {
        coro_pool_trim();
        for (i = 0; i < 3000; i++) CHECK(coro_spawn(burst_child, NULL, 0) != NULL);
        CHECK(coro_run() == 0);
        coro_spawn(burst_late_trim, NULL, 0);
        CHECK(coro_run() == 0);
        if (burst_late_ms < 250) break;
        printf("  the sleeper woke %lld ms late: the process stalled; running the case again\n",
               (long long)burst_late_ms);
    }
    /* what trim found left: the pool's bound (CORO_POOL_SIZE, a slab, what the decaying
       high-water mark held: see coro__stack_put) and the rest of the sleeper's slab */
    CHECK(burst_kept <= CORO_POOL_SIZE + 64 + 8 * 64 + 64);
    if (burst_kept > CORO_POOL_SIZE + 64 + 8 * 64 + 64) printf("  %zu stacks still pooled\n", burst_kept);
}

/* ---- cond ---------------------------------------------------------------------------------- */
static coro_cond_t cond = CORO_COND_INIT;
static int cond_woken;
static void *cond_waiter(void *arg) {
    CHECK(coro_cond_wait(&cond, -1) == 0);
    cond_woken++;
    mark((char)I(arg));
    return NULL;
}
static void *cond_signaller(void *arg) {
    (void)arg;
    coro_sleep(5);
    CHECK(cond_woken == 0);
    coro_cond_signal(&cond); /* wakes the longest waiter: 1 */
    coro_sleep(5);
    CHECK(cond_woken == 1);
    coro_cond_broadcast(&cond); /* the other three */
    coro_sleep(5);
    CHECK(cond_woken == 4);
    coro_cond_signal(&cond); /* nobody waits: nothing happens */
    return NULL;
}
static void *cond_timed(void *arg) {
    int64_t t0 = coro_now();
    (void)arg;
    CHECK_ERR(coro_cond_wait(&cond, t0 + 30) == -1, ETIMEDOUT);
    CHECK(coro_now() >= t0 + 30);
    CHECK_ERR(coro_cond_wait(&cond, 0) == -1, ETIMEDOUT); /* past deadline: no wait */
    return NULL;
}
static void test_cond(void) {
    int i;
    ntrace = 0;
    cond_woken = 0;
    coro_cond_init(&cond);
    for (i = 0; i < 4; i++) coro_spawn(cond_waiter, P('1' + i), 0);
    coro_spawn(cond_signaller, NULL, 0);
    CHECK(coro_run() == 0);
    CHECK(strcmp(trace, "1234") == 0);
    coro_spawn(cond_timed, NULL, 0);
    CHECK(coro_run() == 0);
    CHECK(cond.waiters.head == NULL);
    CHECK_ERR(coro_cond_wait(&cond, -1) == -1, EPERM);
}

/* ---- mutex under contention with yields inside --------------------------------------------- */
static coro_mutex_t mutex = CORO_MUTEX_INIT;
static int inside, max_inside, shared_counter;
static void *locker(void *arg) {
    int i;
    (void)arg;
    for (i = 0; i < 50; i++) {
        int v;
        CHECK(coro_mutex_lock(&mutex, -1) == 0);
        inside++;
        if (inside > max_inside) max_inside = inside;
        v = shared_counter;
        coro_sched_yield(); /* everybody else gets to run while we hold it */
        if (i % 7 == 0) coro_sleep(1);
        shared_counter = v + 1;
        inside--;
        CHECK(coro_mutex_unlock(&mutex) == 0);
    }
    return NULL;
}
static void *mutex_misuse(void *arg) {
    (void)arg;
    CHECK_ERR(coro_mutex_unlock(&mutex) == -1, EPERM); /* not held */
    CHECK(coro_mutex_lock(&mutex, -1) == 0);
    CHECK_ERR(coro_mutex_lock(&mutex, -1) == -1, EDEADLK);
    coro_sleep(30 * (int64_t)slow_factor());
    CHECK(coro_mutex_unlock(&mutex) == 0);
    return NULL;
}
static void *mutex_timed(void *arg) {
    (void)arg;
    coro_sleep(1);
    CHECK_ERR(coro_mutex_lock(&mutex, coro_now() + 10) == -1, ETIMEDOUT);
    CHECK_ERR(coro_mutex_unlock(&mutex) == -1, EPERM); /* the holder is someone else */
    CHECK(coro_mutex_lock(&mutex, coro_now() + 5000) == 0);
    CHECK(coro_mutex_unlock(&mutex) == 0);
    return NULL;
}
static void test_mutex(void) {
    int i;
    coro_mutex_init(&mutex);
    inside = max_inside = shared_counter = 0;
    for (i = 0; i < 10; i++) coro_spawn(locker, NULL, 0);
    CHECK(coro_run() == 0);
    CHECK(shared_counter == 500); /* no lost update */
    CHECK(max_inside == 1);
    CHECK(mutex.owner == NULL);
    coro_spawn(mutex_misuse, NULL, 0);
    coro_spawn(mutex_timed, NULL, 0);
    CHECK(coro_run() == 0);
    CHECK(mutex.owner == NULL && mutex.waiters.head == NULL);
}

/* ---- semaphore bound ----------------------------------------------------------------------- */
static coro_sem_t sem;
static void *sem_user(void *arg) {
    (void)arg;
    CHECK(coro_sem_wait(&sem, -1) == 0);
    inside++;
    if (inside > max_inside) max_inside = inside;
    coro_sleep(2 + rnd() % 5);
    inside--;
    CHECK(coro_sem_post(&sem) == 0);
    return NULL;
}
static void *sem_timed(void *arg) {
    coro_sem_t *s = (coro_sem_t *)arg;
    CHECK_ERR(coro_sem_wait(s, coro_now() + 10) == -1, ETIMEDOUT);
    CHECK(coro_sem_post(s) == 0);
    CHECK(coro_sem_wait(s, 0) == 0); /* available: a past deadline still succeeds */
    return NULL;
}
static void test_semaphore(void) {
    int i;
    coro_sem_t zero, full;
    coro_sem_init(&sem, 3);
    inside = max_inside = 0;
    for (i = 0; i < 20; i++) coro_spawn(sem_user, NULL, 0);
    CHECK(coro_run() == 0);
    CHECK(max_inside == 3);
    CHECK(sem.count == 3);
    coro_sem_init(&zero, 0);
    coro_spawn(sem_timed, &zero, 0);
    CHECK(coro_run() == 0);
    coro_sem_init(&full, UINT_MAX);
    CHECK_ERR(coro_sem_post(&full) == -1, EOVERFLOW);
}

/* ---- channels ------------------------------------------------------------------------------ */
typedef struct {
    int a;
    double b;
    char s[20];
} msg;
static coro_chan_t *chan;
static int received[1000], nreceived;
static void *producer(void *arg) {
    int i, n = (int)I(arg);
    for (i = 0; i < n; i++) {
        msg m;
        memset(&m, 0, sizeof m);
        m.a = i;
        m.b = i * 0.5;
        snprintf(m.s, sizeof m.s, "m%d", i);
        CHECK(coro_chan_send(chan, &m, -1) == 0);
    }
    coro_chan_close(chan);
    return NULL;
}
static void *consumer(void *arg) {
    msg m;
    int ok = 1;
    (void)arg;
    while (coro_chan_recv(chan, &m, -1) == 0) {
        char want[20];
        snprintf(want, sizeof want, "m%d", m.a);
        if (m.b != m.a * 0.5 || strcmp(m.s, want) != 0) ok = 0;
        received[nreceived++] = m.a;
    }
    CHECK(errno == EPIPE); /* closed and drained */
    CHECK(ok);
    return NULL;
}
static void run_channel(size_t capacity, int n) {
    int i, inorder = 1;
    chan = coro_chan_new(sizeof(msg), capacity);
    CHECK(chan != NULL);
    nreceived = 0;
    coro_spawn(consumer, NULL, 0);
    coro_spawn(producer, P(n), 0);
    CHECK(coro_run() == 0);
    CHECK(nreceived == n);
    for (i = 0; i < nreceived; i++)
        if (received[i] != i) inorder = 0;
    CHECK(inorder);
    coro_chan_free(chan);
}
static void *rendezvous_sender(void *arg) {
    int v = 7;
    (void)arg;
    mark('s');
    CHECK(coro_chan_send(chan, &v, -1) == 0); /* waits for the receiver */
    mark('S');
    return NULL;
}
static void *rendezvous_receiver(void *arg) {
    int v = 0;
    (void)arg;
    coro_sleep(10);
    mark('r');
    CHECK(coro_chan_recv(chan, &v, -1) == 0);
    CHECK(v == 7);
    return NULL;
}
static void *chan_timeouts(void *arg) {
    int v = 1;
    (void)arg;
    CHECK_ERR(coro_chan_recv(chan, &v, coro_now() + 10) == -1, ETIMEDOUT);
    CHECK_ERR(coro_chan_send(chan, &v, coro_now() + 10) == -1, ETIMEDOUT); /* rendezvous */
    CHECK_ERR(coro_chan_send(chan, &v, 0) == -1, ETIMEDOUT);
    return NULL;
}
static void *blocked_sender(void *arg) {
    int v = 1;
    (void)arg;
    CHECK_ERR(coro_chan_send(chan, &v, -1) == -1, EPIPE); /* woken by close */
    return NULL;
}
static void *blocked_receiver(void *arg) {
    int v;
    (void)arg;
    CHECK_ERR(coro_chan_recv(chan, &v, -1) == -1, EPIPE);
    return NULL;
}
static void *closer(void *arg) {
    (void)arg;
    coro_sleep(5);
    coro_chan_close((coro_chan_t *)arg);
    return NULL;
}
static void *waits_a_bit(void *arg) {
    (void)arg;
    coro_sleep(1);
    return NULL;
}
/* Elements of every size come out as they went in, in order, while the ring's head goes round
   (capacity 3, two in flight at a time); sizes 4, 8 and 16 are copied by one move each. */
static void test_chan_elem_sizes(void) {
    static const size_t sizes[] = {1, 4, 8, 16, 24};
    unsigned char in[2][24], out[24];
    size_t k, i, j, b;
    for (k = 0; k < sizeof sizes / sizeof *sizes; k++) {
        coro_chan_t *ch = coro_chan_new(sizes[k], 3);
        int ok = 1;
        CHECK(ch != NULL);
        for (i = 0; i < 10; i++) {
            for (j = 0; j < 2; j++) {
                for (b = 0; b < sizes[k]; b++) in[j][b] = (unsigned char)(i * 31 + j * 7 + b + 1);
                CHECK(coro_chan_send(ch, in[j], 0) == 0); /* room: no wait, from a plain thread */
            }
            CHECK(coro_chan_len(ch) == 2);
            for (j = 0; j < 2; j++) {
                memset(out, 0, sizeof out);
                CHECK(coro_chan_recv(ch, out, 0) == 0);
                if (memcmp(out, in[j], sizes[k]) != 0) ok = 0;
                for (b = sizes[k]; b < sizeof out; b++)
                    if (out[b]) ok = 0; /* nothing beyond the element is written */
            }
        }
        CHECK(ok);
        CHECK_ERR(coro_chan_recv(ch, out, 0) == -1, ETIMEDOUT);
        coro_chan_free(ch);
    }
}

static void test_channels(void) {
    coro_chan_t *c2;
    int v = 3, w = 0;
    run_channel(0, 200);  /* rendezvous */
    run_channel(1, 200);
    run_channel(16, 1000); /* buffered */

    chan = coro_chan_new(sizeof(int), 0);
    ntrace = 0;
    coro_spawn(rendezvous_sender, NULL, 0);
    coro_spawn(rendezvous_receiver, NULL, 0);
    CHECK(coro_run() == 0);
    CHECK(strcmp(trace, "srS") == 0); /* the sender waited for the receiver */
    coro_spawn(chan_timeouts, NULL, 0);
    CHECK(coro_run() == 0);
    coro_spawn(blocked_sender, NULL, 0);
    coro_spawn(blocked_sender, NULL, 0);
    coro_spawn(closer, chan, 0);
    CHECK(coro_run() == 0);
    CHECK_ERR(coro_chan_send(chan, &v, -1) == -1, EPIPE);
    coro_chan_free(chan);

    chan = coro_chan_new(sizeof(int), 0);
    coro_spawn(blocked_receiver, NULL, 0);
    coro_spawn(closer, chan, 0);
    CHECK(coro_run() == 0);
    coro_chan_free(chan);

    /* main may use a channel when it need not wait */
    c2 = coro_chan_new(sizeof(int), 2);
    CHECK(coro_chan_send(c2, &v, -1) == 0);
    CHECK(coro_chan_len(c2) == 1);
    CHECK(coro_chan_recv(c2, &w, -1) == 0 && w == 3);
    /* with no coroutine of its own, main blocks like a plain thread (here until the deadline) */
    CHECK_ERR(coro_chan_recv(c2, &w, coro_now() + 20) == -1, ETIMEDOUT);
    CHECK_ERR(coro_chan_recv(c2, &w, 0) == -1, ETIMEDOUT);
    coro_spawn(waits_a_bit, NULL, 0); /* a thread with coroutines of its own may not block */
    CHECK_ERR(coro_chan_recv(c2, &w, -1) == -1, EPERM);
    CHECK(coro_run() == 0);
    coro_chan_close(c2);
    CHECK_ERR(coro_chan_recv(c2, &w, -1) == -1, EPIPE);
    coro_chan_free(c2);
    CHECK_ERR(coro_chan_new(0, 4) == NULL, EINVAL);
    CHECK_ERR(coro_chan_new((size_t)-1 / 2, (size_t)-1 / 2) == NULL, EINVAL);
    CHECK_ERR(coro_chan_send(NULL, &v, -1) == -1, EINVAL);
    CHECK_ERR(coro_chan_recv(NULL, &v, -1) == -1, EINVAL);
    /* NULL sync objects: EINVAL from the calls that return int, nothing from the void ones */
    CHECK_ERR(coro_cond_wait(NULL, 0) == -1, EINVAL);
    CHECK_ERR(coro_mutex_lock(NULL, 0) == -1, EINVAL);
    CHECK_ERR(coro_mutex_unlock(NULL) == -1, EINVAL);
    CHECK_ERR(coro_sem_wait(NULL, 0) == -1, EINVAL);
    CHECK_ERR(coro_sem_post(NULL) == -1, EINVAL);
    coro_cond_init(NULL);
    coro_cond_signal(NULL);
    coro_cond_broadcast(NULL);
    coro_mutex_init(NULL);
    coro_sem_init(NULL, 1);
    coro_chan_close(NULL);
    coro_chan_free(NULL);
    CHECK(coro_chan_len(NULL) == 0);
}

/* ---- join ---------------------------------------------------------------------------------- */
static void *slow_result(void *arg) {
    coro_sleep(I(arg));
    return P(I(arg) + 1000);
}
static void *joiner(void *arg) {
    coro_t *a = coro_spawn(slow_result, P(20), 0), *b, *c, *d;
    void *res = NULL;
    (void)arg;
    CHECK(coro_join(a, &res, -1) == 0); /* without a deadline */
    CHECK(I(res) == 1020);
    CHECK_ERR(coro_join(a, &res, -1) == -1, ESRCH); /* ended and freed */

    b = coro_spawn(slow_result, P(200), 0);
    CHECK_ERR(coro_join(b, &res, coro_now() + 10) == -1, ETIMEDOUT); /* with one */
    CHECK(coro_join(b, &res, coro_now() + 5000) == 0);
    CHECK(I(res) == 1200);

    c = coro_spawn(slow_result, P(1), 0);
    CHECK(coro_joinable(c) == 0);
    coro_sleep(20); /* c ends meanwhile and is kept */
    CHECK(coro_count() == 1); /* only us */
    CHECK(coro_status(c) == CORO_DEAD);
    CHECK(coro_stack_used(c) == 0); /* kept without its stack */
    CHECK(coro_join(c, &res, 0) == 0);
    CHECK(I(res) == 1001);
    CHECK_ERR(coro_join(c, &res, -1) == -1, ESRCH); /* collected */

    CHECK_ERR(coro_join(coro_current(), &res, -1) == -1, EDEADLK);
    CHECK_ERR(coro_join(NULL, &res, -1) == -1, ESRCH);
    d = coro_new(slow_result, 0); /* not spawned */
    CHECK_ERR(coro_join(d, &res, -1) == -1, ESRCH);
    coro_free(d);
    return NULL;
}
static coro_t *shared_target;
static void *multi_joiner(void *arg) {
    void *res;
    (void)arg;
    CHECK(coro_join(shared_target, &res, -1) == 0);
    CHECK(I(res) == 1030);
    return NULL;
}
static void test_join(void) {
    coro_spawn(joiner, NULL, 0);
    CHECK(coro_run() == 0);
    shared_target = coro_spawn(slow_result, P(30), 0);
    coro_spawn(multi_joiner, NULL, 0);
    coro_spawn(multi_joiner, NULL, 0);
    CHECK(coro_run() == 0);
    CHECK_ERR(coro_join(shared_target, NULL, -1) == -1, EPERM);
}

/* ---- suspend / wake ------------------------------------------------------------------------ */
static coro_t *parked;
static void *parker(void *arg) {
    (void)arg;
    CHECK(I(coro_suspend()) == 11);
    CHECK(I(coro_suspend()) == 22); /* woken before it suspended: not lost */
    return NULL;
}
static void *waker(void *arg) {
    (void)arg;
    coro_sleep(5);
    CHECK(coro_wake(parked, P(11)) == 0);
    CHECK(coro_wake(parked, P(22)) == 0);        /* kept pending */
    CHECK_ERR(coro_wake(parked, P(33)) == -1, EBUSY); /* one pending at most */
    return NULL;
}
static void test_suspend_wake(void) {
    coro_t *plain;
    parked = coro_spawn(parker, NULL, 0);
    coro_spawn(waker, NULL, 0);
    CHECK(coro_run() == 0);
    CHECK_ERR(coro_wake(parked, NULL) == -1, ESRCH); /* ended */
    plain = coro_new(parker, 0);
    CHECK_ERR(coro_wake(plain, NULL) == -1, ESRCH);
    coro_free(plain);
    errno = 0;
    CHECK(coro_suspend() == NULL && errno == EPERM);
}

/* ---- kill and raise of coroutines blocked in each kind of wait ----------------------------- */
enum { WAIT_SLEEP, WAIT_COND, WAIT_MUTEX, WAIT_SEM, WAIT_SEND, WAIT_RECV, WAIT_JOIN, WAIT_SUSPEND,
       WAIT_FD, WAIT_OFFLOAD, WAIT_KINDS };
static const char *wait_names[WAIT_KINDS] = {"sleep", "cond", "mutex", "sem", "send", "recv",
                                             "join", "suspend", "fd", "offload"};
static coro_cond_t k_cond;
static coro_mutex_t k_mutex;
static coro_sem_t k_sem;
static coro_chan_t *k_chan;
static coro_t *k_forever;
static int k_pipe[2];
static int cleanups, returned_err, continued;

static void cleanup_count(void *arg) {
    (void)arg;
    cleanups++;
}
static void *sleep_forever(void *arg) {
    (void)arg;
    coro_sleep(1000000);
    return NULL;
}
static int nap_started; /* a worker has started offloaded_nap (atomic) */
static int nap_release; /* the killer has killed or raised: offloaded_nap may end (atomic) */
static void *offloaded_nap(void *arg) {
    int i;
    __atomic_store_n(&nap_started, 1, __ATOMIC_RELEASE);
    /* until the killer is done (at most 5 s): a fixed nap (it was 20 ms) can end first on a
       loaded machine, and then there is no waiting coroutine left to kill or raise into */
    for (i = 0; i < 5000 && !__atomic_load_n(&nap_release, __ATOMIC_ACQUIRE); i++) usleep(1000);
    *(int *)arg = 42; /* writes into the waiting coroutine's stack: must still be there */
    return arg;
}
static void *blocked_victim(void *arg) {
    int kind = (int)I(arg), r = 0, v = 0;
    void *res;
    coro_defer(cleanup_count, NULL);
    errno = 0;
    switch (kind) {
    case WAIT_SLEEP: r = coro_sleep(1000000); break;
    case WAIT_COND: r = coro_cond_wait(&k_cond, -1); break;
    case WAIT_MUTEX: r = coro_mutex_lock(&k_mutex, -1); break;
    case WAIT_SEM: r = coro_sem_wait(&k_sem, -1); break;
    case WAIT_SEND: r = coro_chan_send(k_chan, &v, -1); break;
    case WAIT_RECV: r = coro_chan_recv(k_chan, &v, -1); break;
    case WAIT_JOIN: r = coro_join(k_forever, &res, -1); break;
    case WAIT_SUSPEND: r = coro_suspend() == NULL ? -1 : 0; break;
    case WAIT_FD: r = coro_wait_fd(k_pipe[0], CORO_READ, -1); break;
    case WAIT_OFFLOAD: {
        /* On the coroutine's own stack even under ASan's detect_stack_use_after_return, which
           moves addressable locals to a "fake stack" that it frees when the coroutine dies:
           a killed coroutine's stack is kept for the worker, ASan's fake frames are not. */
        int *vp = (int *)__builtin_alloca(sizeof *vp);
        *vp = 0;
        r = coro_offload(offloaded_nap, vp, &res);
        if (r == -1) CHECK(*vp == 42); /* returned only after fn finished */
        break;
    }
    }
    CHECK(r == -1);
    returned_err = errno;
    continued++;
    return NULL;
}
static coro_t *k_victim;
static int k_mode; /* 0 kill, 1 raise */
static int k_kind;
static void *killer(void *arg) {
    (void)arg;
    coro_sleep(5);
    if (k_kind == WAIT_OFFLOAD) { /* a raise drops a job no worker has started: wait for it */
        int64_t end = coro_now() + 5000;
        while (!__atomic_load_n(&nap_started, __ATOMIC_ACQUIRE) && coro_now() < end) coro_sleep(1);
        __atomic_store_n(&nap_started, 0, __ATOMIC_RELAXED);
    }
    CHECK(coro_status(k_victim) == CORO_SUSPENDED);
    if (k_mode == 0) {
        CHECK(coro_kill(k_victim) == 0);
        CHECK(cleanups == 1); /* its cleanup ran, on its stack, before coro_kill returned */
        __atomic_store_n(&nap_release, 1, __ATOMIC_RELEASE);
    } else {
        coro_raise(k_victim, ECANCELED);
        /* coro_raise returns when the victim blocks again or ends; an offloaded call goes on
           waiting for its worker first */
        if (k_kind == WAIT_OFFLOAD) {
            int64_t end = coro_now() + 5000;
            CHECK(continued == 0);
            __atomic_store_n(&nap_release, 1, __ATOMIC_RELEASE);
            while (continued == 0 && coro_now() < end) coro_sleep(1);
        }
        CHECK(returned_err == ECANCELED);
        CHECK(continued == 1);
    }
    coro_kill(k_forever);
    return NULL;
}
static void *mutex_holder(void *arg) {
    (void)arg;
    CHECK(coro_mutex_lock(&k_mutex, -1) == 0);
    coro_sleep(30);
    return NULL; /* ends holding it; coro_mutex_init resets it for the next round */
}
static void test_kill_and_raise_in_each_wait(void) {
    int kind;
    for (k_mode = 0; k_mode < 2; k_mode++)
        for (kind = 0; kind < WAIT_KINDS; kind++) {
            int before_cleanups;
            check__test = wait_names[kind];
            k_kind = kind;
            coro_cond_init(&k_cond);
            coro_mutex_init(&k_mutex);
            coro_sem_init(&k_sem, 0);
            k_chan = coro_chan_new(sizeof(int), 0);
            CHECK(test_fd_pair(k_pipe) == 0);
            cleanups = continued = 0;
            returned_err = 0;
            __atomic_store_n(&nap_release, 0, __ATOMIC_RELAXED);
            if (kind == WAIT_MUTEX) coro_spawn(mutex_holder, NULL, 0);
            k_forever = coro_spawn(sleep_forever, NULL, 0);
            k_victim = coro_spawn(blocked_victim, P(kind), 0);
            coro_spawn(killer, NULL, 0);
            before_cleanups = cleanups;
            CHECK(coro_run() == 0); /* a killed coroutine never leaves the loop waiting */
            CHECK(coro_count() == 0);
            CHECK(cleanups == before_cleanups + 1);
            if (k_mode == 0) CHECK(continued == 0); /* killed: its body did not go on */
            /* the structures it waited in are empty again */
            CHECK(k_cond.waiters.head == NULL);
            CHECK(k_mutex.waiters.head == NULL);
            CHECK(k_sem.waiters.head == NULL);
            coro_chan_free(k_chan);
            coro_close(k_pipe[0]);
            coro_close(k_pipe[1]);
        }
    check__test = "test_kill_and_raise_in_each_wait";
}

/* the fd slot is free again after a kill: another coroutine can wait on it (the second reader
   is spawned after the kill: ordered by the kill, not by two sleeps, which a loaded emulator
   ran in the wrong order) */
static void *second_reader(void *arg) {
    char c;
    (void)arg;
    CHECK(coro_read(k_pipe[0], &c, 1, coro_now() + 2000) == 1);
    CHECK(c == 'x');
    return NULL;
}
static void *kill_first_reader(void *arg) {
    (void)arg;
    coro_sleep(5);
    CHECK(coro_kill(k_victim) == 0);
    coro_spawn(second_reader, NULL, 0); /* EBUSY if the slot were still taken */
    coro_sleep(10);
    CHECK(coro_write(k_pipe[1], "x", 1, -1) == 1);
    return NULL;
}
static void test_fd_slot_freed_by_kill(void) {
    CHECK(test_fd_pair(k_pipe) == 0);
    cleanups = 0;
    k_victim = coro_spawn(blocked_victim, P(WAIT_FD), 0);
    coro_spawn(kill_first_reader, NULL, 0);
    CHECK(coro_run() == 0);
    CHECK(cleanups == 1);
    coro_close(k_pipe[0]);
    coro_close(k_pipe[1]);
}

/* killed before it ever ran */
static void *never_runs(void *arg) {
    (void)arg;
    CHECK(0);
    return NULL;
}
static void *kill_unstarted(void *arg) {
    coro_t *v = coro_spawn(never_runs, NULL, 0);
    void *res = P(1);
    (void)arg;
    CHECK(coro_count() == 2);
    CHECK(coro_kill(v) == 0);
    CHECK(coro_join(v, &res, coro_now() + 1000) == 0); /* the joiner is not left waiting */
    CHECK(res == NULL);
    return NULL;
}
static void test_kill_unstarted(void) {
    coro_spawn(kill_unstarted, NULL, 0);
    CHECK(coro_run() == 0);
    CHECK(coro_count() == 0);
}

/* a raise into a spawned coroutine that has not run yet fails its first blocking call */
static coro_t *unstarted_victim;
static void *sleeps_once(void *arg) {
    (void)arg;
    CHECK_ERR(coro_sleep(200) == -1, ECANCELED);
    CHECK(coro_sleep(1) == 0);
    return NULL;
}
static void *raises_first(void *arg) {
    (void)arg;
    coro_raise(unstarted_victim, ECANCELED);
    return NULL;
}
static void test_raise_unstarted_task(void) {
    coro_spawn(raises_first, NULL, 0);
    unstarted_victim = coro_spawn(sleeps_once, NULL, 0);
    CHECK(coro_run() == 0);
}

/* coro_defer_pop cannot take the scheduler's own exit hook */
static void *over_popper(void *arg) {
    (void)arg;
    CHECK_ERR(coro_defer_pop(0) == -1, EINVAL);
    return NULL;
}
static void test_defer_pop_in_task(void) {
    coro_spawn(over_popper, NULL, 0);
    CHECK(coro_run() == 0);
    CHECK(coro_count() == 0);
}

/* a raise that arrives after the call completed is delivered by the next blocking call */
static coro_t *late;
static void *late_victim(void *arg) {
    (void)arg;
    CHECK(coro_sem_wait(&k_sem, -1) == 0); /* completed by the post before the raise */
    CHECK_ERR(coro_sleep(1000) == -1, ECANCELED);
    return NULL;
}
static void *post_then_raise(void *arg) {
    (void)arg;
    coro_sleep(5);
    coro_sem_post(&k_sem); /* late is now ready ... */
    coro_raise(late, ECANCELED); /* ... and raised before it ran */
    return NULL;
}
static void test_late_raise(void) {
    coro_sem_init(&k_sem, 0);
    late = coro_spawn(late_victim, NULL, 0);
    coro_spawn(post_then_raise, NULL, 0);
    CHECK(coro_run() == 0);
}

/* ---- errno is per coroutine ---------------------------------------------------------------- */
static void *errno_keeper(void *arg) {
    errno = (int)I(arg);
    coro_sleep(1 + rnd() % 5);
    CHECK(errno == I(arg));
    coro_sched_yield();
    CHECK(errno == I(arg));
    return NULL;
}
static void *errno_spoiler(void *arg) {
    int i;
    (void)arg;
    for (i = 0; i < 20; i++) {
        errno = EIO;
        coro_sched_yield();
    }
    return NULL;
}
static void test_errno_per_coroutine(void) {
    int i;
    for (i = 1; i <= 20; i++) coro_spawn(errno_keeper, P(1000 + i), 0);
    coro_spawn(errno_spoiler, NULL, 0);
    CHECK(coro_run() == 0);
}

/* ---- generators inside a spawned coroutine ------------------------------------------------- */
static void *gen_squares(void *arg) {
    intptr_t i;
    for (i = 1; i <= I(arg); i++) {
        if (i == 2) CHECK_ERR(coro_sleep(1) == -1, EPERM); /* a generator cannot block */
        coro_yield(P(i * i));
    }
    return P(-1);
}
static void *uses_generator(void *arg) {
    coro_t *g = coro_new(gen_squares, 0);
    intptr_t v, sum = 0;
    (void)arg;
    for (v = I(coro_resume(g, P(5))); v != -1; v = I(coro_resume(g, NULL))) {
        sum += v;
        coro_sched_yield(); /* the generator stays put while we let others run */
    }
    CHECK(sum == 55);
    coro_free(g);
    return NULL;
}
static void test_generators_inside(void) {
    coro_spawn(uses_generator, NULL, 0);
    coro_spawn(uses_generator, NULL, 0);
    CHECK(coro_run() == 0);
}

/* ---- loop misuse, stop, deadlock, dump ----------------------------------------------------- */
static void *nested_run(void *arg) {
    (void)arg;
    CHECK_ERR(coro_run() == -1, EBUSY);
    return NULL;
}
static void *stopper(void *arg) {
    (void)arg;
    coro_stop();
    coro_sleep(1); /* still alive after coro_run returned */
    return NULL;
}
static coro_cond_t never;
static void *waits_forever(void *arg) {
    (void)arg;
    CHECK_ERR(coro_cond_wait(&never, -1) == -1, ECANCELED);
    return NULL;
}
static void test_loop_misuse_stop_deadlock(void) {
    coro_t *w;
    coro_spawn(nested_run, NULL, 0);
    CHECK(coro_run() == 0);
    coro_spawn(stopper, NULL, 0);
    CHECK(coro_run() == 0);
    CHECK(coro_count() == 1); /* stopped with the stopper still asleep */
    CHECK(coro_run() == 0);
    CHECK(coro_count() == 0);
    w = coro_spawn(waits_forever, NULL, 0);
    CHECK_ERR(coro_run() == -1, EDEADLK); /* nothing can ever wake it */
    CHECK(coro_count() == 1);
    coro_raise(w, ECANCELED);
    CHECK(coro_run() == 0);
}

static void *named_sleeper(void *arg) {
    (void)arg;
    coro_set_name(coro_current(), "dreamer");
    coro_sleep(50);
    return NULL;
}
static void *dumper(void *arg) {
    char buf[2048];
    size_t need;
    (void)arg;
    coro_sleep(5);
    need = coro_dump(buf, sizeof buf);
    CHECK(need > 0 && need < sizeof buf);
    CHECK(strstr(buf, "dreamer") != NULL);
    CHECK(strstr(buf, "sleep") != NULL);
    CHECK(strstr(buf, "running") != NULL); /* us */
    CHECK(coro_dump(buf, 10) == need);    /* truncated, same length reported */
    CHECK(strlen(buf) == 9);
    CHECK(coro_find(coro_id(coro_current())) == coro_current());
    CHECK(coro_find(0) == NULL);
    return NULL;
}
static void test_dump(void) {
    coro_spawn(named_sleeper, NULL, 0);
    coro_spawn(dumper, NULL, 0);
    CHECK(coro_run() == 0);
#if defined(_WIN32)
    CHECK(strcmp(coro_sched_backend(), "wsapoll") == 0);
#elif defined(CORO_SCHED_POLL)
    CHECK(strcmp(coro_sched_backend(), "poll") == 0);
#else
    CHECK(strcmp(coro_sched_backend(), "epoll") == 0);
#endif
}

/* signals watched from main before the loop are recorded; one pending signal outside the set
   does not keep the waiter busy */
#ifdef _WIN32
/* Windows: no POSIX signals to wait for; both calls say so */
static void *signal_nosys(void *arg) {
    sigset_t set = 0;
    (void)arg;
    CHECK_ERR(coro_signal_wait(&set, coro_now() + 10) == -1, ENOSYS);
    return NULL;
}
static void test_signal_watch(void) {
    sigset_t set = 0;
    CHECK_ERR(coro_signal_watch(&set) == -1, ENOSYS);
    coro_spawn(signal_nosys, NULL, 0);
    CHECK(coro_run() == 0);
    printf("SKIPPED test_signal_watch: no POSIX signals on Windows (ENOSYS checked instead)\n");
}
#else
static double cpu_ms(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec * 1e3 + (double)ru.ru_utime.tv_usec / 1e3 +
           (double)ru.ru_stime.tv_sec * 1e3 + (double)ru.ru_stime.tv_usec / 1e3;
}
static void *signal_waiter(void *arg) {
    sigset_t one, two;
    double cpu0;
    (void)arg;
    sigemptyset(&one);
    sigaddset(&one, SIGUSR1);
    sigemptyset(&two);
    sigaddset(&two, SIGUSR2);
    cpu0 = cpu_ms();
    CHECK_ERR(coro_signal_wait(&one, coro_now() + 200) == -1, ETIMEDOUT); /* SIGUSR2 pending */
    CHECK(cpu_ms() - cpu0 < 100); /* waited, did not spin on the other signal */
    raise(SIGUSR1);
    CHECK(coro_signal_wait(&one, coro_now() + 1000) == SIGUSR1);
    CHECK(coro_signal_wait(&two, 0) == SIGUSR2); /* recorded before the loop ran */
    return NULL;
}
/* Under qemu-i386 (qemu-user 7.2), a process that mixes signals with worker threads loses, in
   some runs, the errno the C library sets (close(-1) leaves errno 0 afterwards): the emulator's
   view of the main thread's thread pointer goes astray. It does not happen natively or under
   qemu-aarch64, so only there are these checks skipped, visibly. */
static int under_qemu_i386(void) {
    const char *e = getenv("CORO_TEST_EMULATOR");
    return e && strstr(e, "qemu-i386") != NULL;
}
static void test_signal_watch(void) {
    sigset_t both;
    if (under_qemu_i386()) {
        printf("SKIPPED test_signal_watch: qemu-i386 loses errno after signals with threads\n");
        return;
    }
    sigemptyset(&both);
    sigaddset(&both, SIGUSR1);
    sigaddset(&both, SIGUSR2);
    CHECK(coro_signal_watch(&both) == 0);
    raise(SIGUSR2); /* would kill the process without the watch */
    coro_spawn(signal_waiter, NULL, 0);
    CHECK(coro_run() == 0);
    sigemptyset(&both);
    CHECK_ERR(coro_signal_watch(&both) == -1, EINVAL);
    sigaddset(&both, SIGKILL);
    CHECK_ERR(coro_signal_watch(&both) == -1, EINVAL);
}
#endif

/* a spawned coroutine cannot be freed by hand */
static void *idle_task(void *arg) { return arg; }
static void test_spawned_not_freeable(void) {
    coro_t *co = coro_spawn(idle_task, NULL, 0);
    CHECK_ERR(coro_free(co) == -1, EBUSY);
    CHECK(coro_run() == 0);
}

int main(void) {
    RUN(test_spawn_fifo);
    RUN(test_sleep_order);
    RUN(test_sleep_misuse);
    RUN(test_yields_round_robin);
    RUN(test_hand_off);
    RUN(test_hand_off_rounds);
    RUN(test_hand_offs_free_ended);
    RUN(test_idle_loop_gives_stacks_back);
#ifndef _WIN32
    RUN(test_starved_tasks_wait_for_stacks);
#endif
    RUN(test_cond);
    RUN(test_mutex);
    RUN(test_semaphore);
    RUN(test_channels);
    RUN(test_chan_elem_sizes);
    RUN(test_join);
    RUN(test_suspend_wake);
    RUN(test_kill_and_raise_in_each_wait);
    RUN(test_fd_slot_freed_by_kill);
    RUN(test_kill_unstarted);
    RUN(test_late_raise);
    RUN(test_raise_unstarted_task);
    RUN(test_defer_pop_in_task);
    RUN(test_errno_per_coroutine);
    RUN(test_generators_inside);
    RUN(test_loop_misuse_stop_deadlock);
    RUN(test_dump);
    RUN(test_spawned_not_freeable);
    RUN(test_signal_watch);
    coro_sched_free();
    CHECK(coro_count_alive() == 0);
    return check_done();
}
