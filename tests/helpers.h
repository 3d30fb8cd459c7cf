/* helpers.h - what several test binaries need besides check.h: a fresh-process runner, the
   process's virtual size, and an allocator that fails the n-th call. Include after the
   implementation (it needs POSIX declarations). */
#ifndef TEST_HELPERS_H
#define TEST_HELPERS_H

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* Run a scenario in a fresh process (this program again, with the scenario's name as its only
   argument) and capture its stderr; returns the wait status. Under an emulator (qemu-aarch64:
   no binfmt_misc here) CORO_TEST_EMULATOR names the program to run it with. */
static const char *helpers_self_exe;
#define run_child(body, out, cap) run_child_named(#body, out, cap)
static __attribute__((unused)) int run_child_named(const char *name, char *out, size_t cap) {
    const char *wrapper = getenv("CORO_TEST_EMULATOR");
    int fds[2], status = 0;
    size_t n = 0;
    ssize_t r;
    pid_t pid;
    if (pipe2(fds, O_CLOEXEC) != 0) return -1;
    pid = fork();
    if (pid == 0) {
        dup2(fds[1], 2);
        if (wrapper && *wrapper)
            execlp(wrapper, wrapper, helpers_self_exe, name, (char *)NULL);
        else
            execl(helpers_self_exe, helpers_self_exe, name, (char *)NULL);
        _exit(127);
    }
    close(fds[1]);
    while (n + 1 < cap && (r = read(fds[0], out + n, cap - 1 - n)) > 0) n += (size_t)r;
    out[n] = 0;
    close(fds[0]);
    waitpid(pid, &status, 0);
    return status;
}

/* The scenarios a test binary can run in a fresh process, by name. */
struct helpers_scenario {
    const char *name;
    void (*body)(void);
};
#define HELPERS_COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* First thing in main: remembers argv[0] for run_child and, when this process is such a child
   (one argument: a scenario's name), runs that scenario and exits 0 (126 for an unknown name).
   Returns only in the parent. */
static __attribute__((unused)) void helpers_child_dispatch(int argc, char **argv,
                                                           const struct helpers_scenario *s, size_t n) {
    size_t i;
    helpers_self_exe = argv[0];
    if (argc != 2) return;
    for (i = 0; i < n; i++)
        if (strcmp(argv[1], s[i].name) == 0) {
            s[i].body();
            _exit(0);
        }
    _exit(126);
}

/* VmSize of this process in kB, -1 if /proc says nothing */
static __attribute__((unused)) long vm_size_kb(void) {
    char line[256];
    long kb = -1;
    FILE *f = fopen("/proc/self/status", "r");
    if (!f) return -1;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "VmSize: %ld kB", &kb) == 1) break;
    fclose(f);
    return kb;
}

#endif

/* The failing allocator: define TEST_FAILING_ALLOC before including this file, before the
   implementation (the CORO_MALLOC/CORO_FREE pair must be seen by it). alloc_fail_at = n makes
   the n-th call fail (0: none); live_blocks counts what is not freed. */
#if defined(TEST_FAILING_ALLOC) && !defined(TEST_FAILING_ALLOC_DONE)
#define TEST_FAILING_ALLOC_DONE
#include <stdlib.h>
static long alloc_calls, alloc_fail_at, live_blocks;
static void *test_malloc(size_t n) {
    if (++alloc_calls == alloc_fail_at) return NULL;
    live_blocks++;
    return malloc(n);
}
static void test_free(void *p) {
    if (p) live_blocks--;
    free(p);
}
#define CORO_MALLOC(n) test_malloc(n)
#define CORO_FREE(p) test_free(p)
#endif
