/* gdb_demo.c - coroutines parked in known places, for tools/coro-gdb.py and tests/gdb_test.sh.

   The program stops (calls gdb_stop_here) with every kind of coroutine alive at once:

     ./gdb_demo          plain coro.h coroutines, gdb_stop_here called from "runner":
       walker  suspended: a generator inside a recursive tree walk, 5 calls of walk() deep
       chain   suspended: chain_entry -> chain_a -> chain_b -> chain_c -> coro_yield
       parent  normal:    it resumed "runner" and waits in coro_resume
       runner  running:   it calls gdb_stop_here(), then pipe2(2) (a syscall for the test)
       fresh   suspended, not started
       done    dead (returned, not freed yet)
       (none)  an unnamed generator suspended in coro_transfer
     main itself is normal: it resumed "parent".

     ./gdb_demo sched    coro_sched.h tasks, gdb_stop_here called from the "boss" task:
       sleeper waits on sleep, reader on "read fd N", consumer on "chan recv", joiner on
       "join <reader's id>", locked on "mutex", late is ready and not started; boss runs.

   After the stop everything is driven to its end and checked: the exit status is 0 only if
   every coroutine produced what it should, so a debugger that left a register changed after
   inspecting a coroutine makes the program fail (or crash).

   Build: cc -O0 -g -I. tests/gdb_demo.c -o gdb_demo      (also -O2 -g, clang, -m32)
   Use:   gdb -x tools/coro-gdb.py -ex 'break gdb_stop_here' -ex run -ex 'coro list' ./gdb_demo */
#define CORO_IMPLEMENTATION
#define CORO_SCHED_IMPLEMENTATION
#include "coro_sched.h"

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#if defined(__clang__)
#define DEMO_NOINLINE __attribute__((noinline))
#else
#define DEMO_NOINLINE __attribute__((noinline, noclone))
#endif

static int failures;
#define EXPECT(x)                                                                     \
    do {                                                                              \
        if (!(x)) {                                                                   \
            fprintf(stderr, "gdb_demo.c:%d: expected %s\n", __LINE__, #x);           \
            failures++;                                                               \
        }                                                                             \
    } while (0)

/* The breakpoint target. The volatile sink keeps the call and its argument. */
static volatile long stop_sink;
DEMO_NOINLINE long gdb_stop_here(long tag) {
    stop_sink += tag;
    __asm__ volatile("" ::: "memory");
    return stop_sink * 2;
}

/* ---- plain coroutines ------------------------------------------------------------------------ */

/* a full binary tree of depth 4: 16 leaves numbered 1..16, walked in order */
struct node {
    struct node *left, *right;
    long value;
};
static struct node nodes[31];
static struct node *build(int *next_leaf, int *next_node, int depth) {
    struct node *n = &nodes[(*next_node)++];
    if (depth == 4) {
        n->left = n->right = NULL;
        n->value = ++*next_leaf;
    } else {
        n->left = build(next_leaf, next_node, depth + 1);
        n->right = build(next_leaf, next_node, depth + 1);
        n->value = 0;
    }
    return n;
}

/* The empty asm after a call keeps it from being a tail call (or, for walk, from being turned
   into a loop with an accumulator), so that every level keeps its frame even at -O2: the
   backtraces the test expects are the same at every optimisation level. */
#define NO_TAIL_CALL() __asm__ volatile("" ::: "memory")

DEMO_NOINLINE static long walk(const struct node *n, int depth) {
    volatile int here = depth; /* a local worth printing in "bt full" */
    long sum;
    if (!n->left) {
        coro_yield((void *)n->value);
        return n->value + here - depth;
    }
    sum = walk(n->left, depth + 1);
    sum += walk(n->right, depth + 1);
    NO_TAIL_CALL();
    return sum;
}
static void *walker(void *root) {
    long sum = walk((const struct node *)root, 0);
    NO_TAIL_CALL();
    return (void *)sum;
}

DEMO_NOINLINE static long chain_c(long x) {
    long back = (long)coro_yield((void *)(x * 3));
    return back + x;
}
DEMO_NOINLINE static long chain_b(long x) { return chain_c(x + 1) * 2; }
DEMO_NOINLINE static long chain_a(long x) { return chain_b(x + 1) + 1; }
static void *chain_entry(void *arg) {
    long r = chain_a((long)arg);
    NO_TAIL_CALL();
    return (void *)r;
}

static void *never_run(void *arg) { return arg; }
static void *finishes(void *arg) { return (void *)((long)arg + 1); }

/* an unnamed coroutine that parks itself with coro_transfer back to main */
static void *transferrer(void *arg) {
    long v = (long)coro_transfer(NULL, (void *)((long)arg + 100));
    return (void *)(v + 1);
}

/* for the debugger: "coro bt demo_chain" (an address), "coro bt demo_chain_id" (an id) */
coro_t *demo_chain;
unsigned long long demo_chain_id;

static int pipe_ok;
static void *runner_fn(void *arg) {
    int fds[2];
    long r = gdb_stop_here((long)arg);
    /* a syscall right after the stop: the test catches its entry, inspects coroutines there
       and checks that the kernel still runs it (gdb changes orig_rax when $pc is written) */
    if (pipe2(fds, O_CLOEXEC) == 0) {
        pipe_ok = 1;
        close(fds[0]);
        close(fds[1]);
    } else {
        perror("gdb_demo: pipe2");
    }
    return (void *)r;
}
static void *parent_fn(void *arg) {
    coro_t *runner = coro_new(runner_fn, 0);
    void *r;
    coro_set_name(runner, "runner");
    r = coro_resume(runner, arg);
    EXPECT(coro_status(runner) == CORO_DEAD);
    coro_free(runner);
    return r;
}

static int plain_demo(void) {
    int leaves = 0, ninner = 0;
    struct node *root = build(&leaves, &ninner, 0);
    coro_t *walker_co = coro_new(walker, 64 * 1024);
    coro_t *chain = coro_new(chain_entry, 0);
    coro_t *fresh = coro_new(never_run, 0);
    coro_t *done = coro_new(finishes, 32 * 1024);
    coro_t *anon = coro_new(transferrer, 0);
    coro_t *parent = coro_new(parent_fn, 0);
    long v, expect, total;

    coro_set_name(walker_co, "walker");
    coro_set_name(chain, "chain");
    coro_set_name(fresh, "fresh");
    coro_set_name(done, "done");
    coro_set_name(parent, "parent");
    demo_chain = chain;
    demo_chain_id = coro_id(chain);

    /* walker: five leaves out, parked at leaf 5, five walk() frames deep */
    v = (long)coro_resume(walker_co, root);
    for (expect = 1; expect < 5; expect++) {
        EXPECT(v == expect);
        v = (long)coro_resume(walker_co, NULL);
    }
    EXPECT(v == 5);
    EXPECT((long)coro_resume(chain, (void *)10) == 36); /* chain_c(12) yields 36 */
    EXPECT((long)coro_resume(done, (void *)41) == 42);
    EXPECT(coro_status(done) == CORO_DEAD);
    EXPECT((long)coro_resume(anon, (void *)1) == 101);

    /* the stop: main -> parent -> runner -> gdb_stop_here */
    v = (long)coro_resume(parent, (void *)21);
    EXPECT(v == 42);
    EXPECT(pipe_ok);
    EXPECT(coro_status(parent) == CORO_DEAD);

    /* drive the others to their end */
    total = 1 + 2 + 3 + 4 + 5;
    for (expect = 6; coro_status(walker_co) != CORO_DEAD; expect++) {
        v = (long)coro_resume(walker_co, NULL);
        if (coro_status(walker_co) == CORO_DEAD) break;
        EXPECT(v == expect);
        total += v;
    }
    EXPECT(total == 16 * 17 / 2);
    EXPECT(v == 16 * 17 / 2); /* the walk returns the sum of the leaves */
    EXPECT((long)coro_resume(chain, (void *)4) == ((4 + 12) * 2) + 1);
    EXPECT((long)coro_resume(anon, (void *)7) == 8);
    EXPECT(coro_free(walker_co) == 0);
    EXPECT(coro_free(chain) == 0);
    EXPECT(coro_free(fresh) == 0);
    EXPECT(coro_free(done) == 0);
    EXPECT(coro_free(anon) == 0);
    EXPECT(coro_free(parent) == 0);
    EXPECT(coro_count_alive() == 0);
    return failures;
}

/* ---- coro_sched.h tasks ---------------------------------------------------------------------- */

static int rd_fd, wr_fd;
static coro_chan_t *chan;
static coro_mutex_t mutex;
static coro_t *reader_co, *sleeper_co;
static long got_read, got_chan, got_join, got_lock, late_ran, sleeper_killed;

static void on_kill(void *arg) { *(long *)arg = 1; }
static void *sleeper(void *arg) {
    (void)arg;
    coro_defer(on_kill, &sleeper_killed);
    coro_sleep(60000); /* killed long before */
    return NULL;
}
static void *reader(void *arg) {
    char c = 0;
    (void)arg;
    if (coro_read(rd_fd, &c, 1, -1) == 1) got_read = c;
    return (void *)7L;
}
static void *consumer(void *arg) {
    long x = 0;
    (void)arg;
    if (coro_chan_recv(chan, &x, -1) == 0) got_chan = x;
    return NULL;
}
static void *joiner(void *arg) {
    void *r = NULL;
    (void)arg;
    if (coro_join(reader_co, &r, -1) == 0) got_join = (long)r;
    return NULL;
}
static void *locked(void *arg) {
    (void)arg;
    if (coro_mutex_lock(&mutex, -1) == 0) {
        got_lock = 1;
        coro_mutex_unlock(&mutex);
    }
    return NULL;
}
static void *late(void *arg) {
    (void)arg;
    late_ran = 1;
    return NULL;
}
static void *boss(void *arg) {
    long x = 9;
    (void)arg;
    coro_mutex_lock(&mutex, -1);
    coro_sched_yield(); /* let every other task block */
    coro_set_name(coro_spawn(late, NULL, 0), "late");
    gdb_stop_here(2);
    coro_kill(sleeper_co);
    EXPECT(coro_write(wr_fd, "x", 1, -1) == 1);
    EXPECT(coro_chan_send(chan, &x, -1) == 0);
    coro_mutex_unlock(&mutex);
    return NULL;
}

static int sched_demo(void) {
    int fds[2];
    EXPECT(coro_pipe(fds) == 0);
    rd_fd = fds[0];
    wr_fd = fds[1];
    chan = coro_chan_new(sizeof(long), 0);
    coro_mutex_init(&mutex);
    coro_set_name(coro_spawn(boss, NULL, 0), "boss");
    coro_set_name(sleeper_co = coro_spawn(sleeper, NULL, 0), "sleeper");
    coro_set_name(reader_co = coro_spawn(reader, NULL, 0), "reader");
    coro_set_name(coro_spawn(consumer, NULL, 0), "consumer");
    coro_set_name(coro_spawn(joiner, NULL, 0), "joiner");
    coro_set_name(coro_spawn(locked, NULL, 0), "locked");
    EXPECT(coro_run() == 0);
    EXPECT(got_read == 'x');
    EXPECT(got_chan == 9);
    EXPECT(got_join == 7);
    EXPECT(got_lock == 1);
    EXPECT(late_ran == 1);
    EXPECT(sleeper_killed == 1);
    coro_close(rd_fd);
    coro_close(wr_fd);
    coro_chan_free(chan);
    coro_sched_free();
    return failures;
}

int main(int argc, char **argv) {
    int f = argc > 1 && strcmp(argv[1], "sched") == 0 ? sched_demo() : plain_demo();
    printf("gdb_demo: %s\n", f ? "FAILED" : "ok");
    return f ? 1 : 0;
}
