/* check.h - the tiny test runner shared by every test binary.

   CHECK(x) counts a pass or prints "file:line: CHECK failed: x" and counts a failure; it works
   under -DNDEBUG. CHECK_ERR(call_fails, err) checks that an expression fails with errno == err.
   The counters are atomic: checks may run on several threads at once. RUN(fn) runs one test
   function and names it. check_done() prints "N passed, M failed" and
   returns the exit status. */
#ifndef CHECK_H
#define CHECK_H

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int check__passed, check__failed;
static const char *check__test = "";

#define CHECK(x)                                                                                \
    do {                                                                                        \
        if (x) {                                                                                \
            __atomic_add_fetch(&check__passed, 1, __ATOMIC_RELAXED);                                                                    \
        } else {                                                                                \
            __atomic_add_fetch(&check__failed, 1, __ATOMIC_RELAXED);                                                                    \
            fprintf(stderr, "%s:%d: %s: CHECK failed: %s\n", __FILE__, __LINE__, check__test, \
                    #x);                                                                        \
        }                                                                                       \
    } while (0)

/* the expression must evaluate to "failed" (nonzero) with errno set to err */
#define CHECK_ERR(failed, err)                                                                 \
    do {                                                                                       \
        int check__f;                                                                          \
        errno = 0;                                                                             \
        check__f = (failed);                                                                   \
        if (check__f && errno == (err)) {                                                      \
            __atomic_add_fetch(&check__passed, 1, __ATOMIC_RELAXED);                                                                   \
        } else {                                                                               \
            __atomic_add_fetch(&check__failed, 1, __ATOMIC_RELAXED);                                                                   \
            fprintf(stderr, "%s:%d: %s: CHECK_ERR failed: %s (failed=%d, errno=%d %s, want %s)\n", \
                    __FILE__, __LINE__, check__test, #failed, check__f, errno, strerror(errno), \
                    #err);                                                                     \
        }                                                                                      \
    } while (0)

#define RUN(fn)                                                                                \
    do {                                                                                       \
        int check__before = check__failed;                                                     \
        check__test = #fn;                                                                     \
        fn();                                                                                  \
        if (check__failed != check__before) fprintf(stderr, "FAILED %s\n", #fn);               \
        else if (getenv("CHECK_VERBOSE")) fprintf(stderr, "ok %s\n", #fn);                     \
    } while (0)

static int check_done(void) {
    printf("%d passed, %d failed\n", check__passed, check__failed);
    fflush(stdout);
    return check__failed != 0;
}

#endif
