/* generators.c - generators and consumer pipelines with coro_resume and coro_yield.

   What it shows, in four parts:
   1. The examples of the seed's low-level `coroutine` module, translated line for line:
      my_coro(n) hands n+10 back to main, so resuming it with 34 returns 44; counter() hands
      back 1, 2, 3, 4 on successive resumes. coroutine.resume(c, v) is coro_resume(c, v) and
      coroutine.main(v) is coro_yield(v). The counter never ends: coro_free kills it.
   2. Values flowing both ways: a running average that receives a number with each coro_resume
      and gives back the average so far through coro_yield (Beazley's `avg = yield avg`).
   3. Coroutines as consumers (Beazley's pipelines): a source pushes the lines of a built-in text
      with coro_resume (Python's send) through a grep filter and an upper-casing transform into
      a broadcast that feeds two sinks, a printer and a word counter. A NULL line is the end of
      the stream: every stage passes it on and returns, and the counter's totals come back up
      the pipeline as return values.
   4. The limitation Beazley points out: a pipeline cannot contain a cycle. A stage that tries to
      send to a coroutine that is itself waiting for a send to return (CORO_NORMAL) gets NULL and
      errno EINVAL from coro_resume, the C form of Python's "generator already executing".

   After the examples of the eGroups `coroutine` module and David Beazley's course on
   generators and coroutines (its parts on pipelines and dataflow, and on their limitations).

   Build and run, from the repository root:
       cc -O2 -I. examples/generators.c -o generators && ./generators
   Exits 0 when every value is the expected one, 1 otherwise. */
#define CORO_IMPLEMENTATION
#include "coro.h"

#include <ctype.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int failures;

static void expect(int ok, const char *what) {
    if (!ok) {
        printf("unexpected: %s\n", what);
        failures++;
    }
}

/* Small integers travel through the void * of resume and yield. */
#define INT2PTR(i) ((void *)(intptr_t)(i))
#define PTR2INT(p) ((long)(intptr_t)(p))

static coro_t *new_or_die(coro_fn fn) {
    coro_t *co = coro_new(fn, 0);
    if (!co) {
        printf("coro_new failed: %s\n", strerror(errno));
        exit(1);
    }
    return co;
}

/* ---- 1. the seed's examples ------------------------------------------------------------- */

/* >>> def my_coro (n):
   ...     coroutine.main (n+10) */
static void *my_coro(void *arg) {
    long n = PTR2INT(arg);
    coro_yield(INT2PTR(n + 10));
    return NULL;
}

/* >>> def counter():
   ...     i = 0
   ...     while 1:
   ...         i = i + 1
   ...         coroutine.main (i) */
static void *counter(void *arg) {
    long i = 0;
    (void)arg;
    for (;;) {
        i = i + 1;
        coro_yield(INT2PTR(i));
    }
    return NULL;
}

static void seed_examples(void) {
    coro_t *c;
    long v;
    int k;

    printf("== the coroutine module's examples ==\n");
    c = new_or_die(my_coro);                  /* c = coroutine.new (my_coro) */
    v = PTR2INT(coro_resume(c, INT2PTR(34))); /* coroutine.resume (c, (34,)) */
    printf("my_coro: coro_resume(c, 34) returned %ld\n", v);
    expect(v == 44, "my_coro should return 44");
    coro_free(c); /* still suspended inside coroutine.main: freeing kills it */

    c = new_or_die(counter);
    printf("counter:");
    for (k = 1; k <= 4; k++) {
        v = PTR2INT(coro_resume(c, NULL)); /* coroutine.resume (c, ()) */
        printf(" %ld", v);
        expect(v == k, "counter should count 1 2 3 4");
    }
    printf("\n");
    coro_free(c);
}

/* ---- 2. values both ways ---------------------------------------------------------------- */

/* Each resume brings a number; each yield gives back the average of all numbers so far. The
   first number arrives as the function's argument, the next ones as coro_yield's result. */
static void *averager(void *arg) {
    const double *x = (const double *)arg;
    double total = 0, average;
    long count = 0;
    while (x) {
        total += *x;
        count++;
        average = total / (double)count;
        x = (const double *)coro_yield(&average);
    }
    return NULL;
}

static void both_ways(void) {
    static const double numbers[] = {10, 20, 30, 40};
    static const double want[] = {10, 15, 20, 25};
    coro_t *avg = new_or_die(averager);
    size_t i;

    printf("\n== values both ways: a running average ==\n");
    for (i = 0; i < sizeof numbers / sizeof numbers[0]; i++) {
        const double *a = (const double *)coro_resume(avg, (void *)&numbers[i]);
        printf("averager: sent %g, got back %g\n", numbers[i], a ? *a : -1.0);
        expect(a && *a == want[i], "running average");
    }
    coro_resume(avg, NULL); /* end of input: averager returns */
    expect(coro_status(avg) == CORO_DEAD, "averager should have ended");
    coro_free(avg);
}

/* ---- 3. pipelines ----------------------------------------------------------------------- */

/* A consumer is a coroutine parked in coro_yield, waiting for the next item. Beazley's
   @coroutine decorator "primes" a generator by advancing it to its first yield; here the first
   coro_resume both passes the stage its arguments and runs it to its first coro_yield. */
static coro_t *start(coro_fn fn, void *args) {
    coro_t *co = new_or_die(fn);
    coro_resume(co, args);
    return co;
}

/* Python's target.send(item): returns what the target gives back when it yields again. */
static void *send_to(coro_t *target, const char *item) { return coro_resume(target, (void *)item); }

/* Every stage below loops on item = coro_yield(reply) until it receives the end of the stream,
   NULL, which it passes on before returning. */

struct grep_args {
    const char *pattern;
    coro_t *target;
};

/* Passes on the lines that contain the pattern; answers each send with how many lines it has
   let through so far, and returns that count at the end. */
static void *grep(void *arg) {
    struct grep_args *a = (struct grep_args *)arg;
    long passed = 0;
    const char *line;
    while ((line = (const char *)coro_yield(INT2PTR(passed))) != NULL) {
        if (strstr(line, a->pattern)) {
            send_to(a->target, line);
            passed++;
        }
    }
    send_to(a->target, NULL);
    return INT2PTR(passed);
}

/* Upper-cases each line into a buffer on its own stack: the item is only borrowed, which is
   safe because a send does not return until the whole rest of the pipeline has used it. */
static void *upper(void *arg) {
    coro_t *target = (coro_t *)arg;
    char buf[128];
    const char *line;
    while ((line = (const char *)coro_yield(NULL)) != NULL) {
        size_t i;
        for (i = 0; line[i] && i < sizeof buf - 1; i++)
            buf[i] = (char)toupper((unsigned char)line[i]);
        buf[i] = 0;
        send_to(target, buf);
    }
    return send_to(target, NULL);
}

struct broadcast_args {
    coro_t **targets;
    size_t n;
};

/* Sends every item to each of its targets in turn. */
static void *broadcast(void *arg) {
    struct broadcast_args *a = (struct broadcast_args *)arg;
    const char *line;
    size_t i;
    while ((line = (const char *)coro_yield(NULL)) != NULL)
        for (i = 0; i < a->n; i++) send_to(a->targets[i], line);
    for (i = 0; i < a->n; i++) send_to(a->targets[i], NULL);
    return NULL;
}

static void *printer(void *arg) {
    const char *prefix = (const char *)arg;
    const char *line;
    while ((line = (const char *)coro_yield(NULL)) != NULL) printf("%s%s\n", prefix, line);
    return NULL;
}

struct totals {
    long lines, words, chars;
};

/* Counts lines, words and characters like wc(1) and prints the totals at the end; the caller
   reads them from the struct it passed in. */
static void *word_counter(void *arg) {
    struct totals *t = (struct totals *)arg;
    const char *line;
    while ((line = (const char *)coro_yield(NULL)) != NULL) {
        const char *p;
        int in_word = 0;
        t->lines++;
        for (p = line; *p; p++) {
            t->chars++;
            if (isspace((unsigned char)*p)) in_word = 0;
            else if (!in_word) in_word = 1, t->words++;
        }
    }
    printf("counter: %ld lines, %ld words, %ld characters\n", t->lines, t->words, t->chars);
    return NULL;
}

/* Knuth on coroutines, as the eGroups library's README quoted him, and what it said next. */
static const char *const text[] = {
    "Subroutines are special cases of more general program",
    "components, called coroutines.  In contrast to the unsymmetric",
    "relationship between a main routine and a subroutine, there is",
    "complete symmetry between coroutines, which call on each other.",
    "Coroutines can be used to implement 'cooperative multitasking'",
    "(as opposed to 'preemptive multitasking').  Coroutines are very",
    "lightweight (on Win32, they are called 'fibers'), and when combined",
    "with an I/O-based scheduling system, they can be used to build highly",
    "scalable network servers.",
};

static void pipeline(void) {
    struct totals totals = {0, 0, 0};
    coro_t *sinks[2], *bcast, *up, *filter;
    struct broadcast_args bargs;
    struct grep_args gargs;
    size_t i, n = sizeof text / sizeof text[0];
    long passed = 0;

    printf("\n== a pipeline: source -> grep(\"oroutine\") -> upper -> broadcast -> printer, "
           "counter ==\n");
    /* built from the sink back to the source, as in Beazley's examples */
    sinks[0] = start(printer, "printer: ");
    sinks[1] = start(word_counter, &totals);
    bargs.targets = sinks;
    bargs.n = 2;
    bcast = start(broadcast, &bargs);
    up = start(upper, bcast);
    gargs.pattern = "oroutine";
    gargs.target = up;
    filter = start(grep, &gargs);

    /* the source: push each line into the pipeline; grep answers with its running count */
    for (i = 0; i < n; i++) passed = PTR2INT(send_to(filter, text[i]));
    printf("source: sent %zu lines, grep let %ld through\n", n, passed);
    passed = PTR2INT(send_to(filter, NULL)); /* end of stream: every stage returns */
    printf("source: at the end of the stream grep returned %ld\n", passed);

    expect(passed == 4, "grep should let 4 lines through");
    expect(totals.lines == 4 && totals.words == 33 && totals.chars == 250, "counter totals");
    expect(coro_status(filter) == CORO_DEAD && coro_status(up) == CORO_DEAD &&
               coro_status(bcast) == CORO_DEAD && coro_status(sinks[0]) == CORO_DEAD &&
               coro_status(sinks[1]) == CORO_DEAD,
           "every stage should have ended");
    coro_free(filter);
    coro_free(up);
    coro_free(bcast);
    coro_free(sinks[0]);
    coro_free(sinks[1]);
}

/* ---- 4. no cycles ----------------------------------------------------------------------- */

static coro_t *ping_co;

static void *pong(void *arg) {
    void *r;
    (void)arg;
    errno = 0;
    r = coro_resume(ping_co, "back to ping");
    printf("pong: sending back to ping: coro_resume returned %s, errno %s (ping is %s, "
           "waiting for its send to pong to return)\n",
           r ? "a value" : "NULL", errno == EINVAL ? "EINVAL" : strerror(errno),
           coro_status_name(coro_status(ping_co)));
    expect(!r && errno == EINVAL, "a send into a cycle should fail with EINVAL");
    return NULL;
}

static void *ping(void *arg) {
    return coro_resume((coro_t *)arg, "hello pong");
}

static void no_cycles(void) {
    coro_t *pong_co = new_or_die(pong);
    printf("\n== no cycles: ping sends to pong, pong sends back to ping ==\n");
    ping_co = new_or_die(ping);
    coro_resume(ping_co, pong_co);
    coro_free(ping_co);
    coro_free(pong_co);
}

int main(void) {
    seed_examples();
    both_ways();
    pipeline();
    no_cycles();
    printf("\ncoroutines still alive: %zu\n", coro_count_alive());
    expect(coro_count_alive() == 0, "every coroutine freed");
    printf("%s\n", failures ? "FAILED" : "all values as expected");
    return failures ? 1 : 0;
}
