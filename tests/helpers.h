/* helpers.h - what several test binaries need besides check.h: a fresh-process runner, the
   process's virtual size, and an allocator that fails the n-th call. Include after the
   implementation (it needs POSIX declarations). */
#ifndef TEST_HELPERS_H
#define TEST_HELPERS_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Run a scenario in a fresh process (this program again, with the scenario's name as its only
   argument) and capture its stderr. Returns the wait status on POSIX (under an emulator,
   qemu-aarch64: no binfmt_misc here, CORO_TEST_EMULATOR names the program to run it with) and
   the process's exit code on Windows (an exception code such as 0xC00000FD when it died of
   one); child_exited(status, code) and child_faulted(status) read either. */
static const char *helpers_self_exe;
#define run_child(body, out, cap) run_child_named(#body, out, cap)
#ifdef _WIN32
#include <winsock2.h> /* before windows.h, for the tests that include coro_sched.h after this */
#include <windows.h>
static char helpers_exe_buf[MAX_PATH];
static LONG WINAPI helpers_no_debugger(EXCEPTION_POINTERS *ep) {
    TerminateProcess(GetCurrentProcess(), ep->ExceptionRecord->ExceptionCode);
    return EXCEPTION_CONTINUE_SEARCH;
}
static __attribute__((unused)) int run_child_named(const char *name, char *out, size_t cap) {
    SECURITY_ATTRIBUTES sa;
    STARTUPINFOA si;
    PROCESS_INFORMATION pi;
    HANDLE rd, wr;
    char cmd[MAX_PATH + 128];
    size_t n = 0;
    DWORD got, code = 0;
    sa.nLength = sizeof sa;
    sa.lpSecurityDescriptor = NULL;
    sa.bInheritHandle = TRUE;
    if (!CreatePipe(&rd, &wr, &sa, 0)) return -1;
    SetHandleInformation(rd, HANDLE_FLAG_INHERIT, 0);
    memset(&si, 0, sizeof si);
    si.cb = sizeof si;
    si.dwFlags = STARTF_USESTDHANDLES;
    si.hStdInput = GetStdHandle(STD_INPUT_HANDLE);
    si.hStdOutput = GetStdHandle(STD_OUTPUT_HANDLE);
    si.hStdError = wr;
    snprintf(cmd, sizeof cmd, "\"%s\" %s", helpers_self_exe, name);
    if (!CreateProcessA(NULL, cmd, NULL, NULL, TRUE, 0, NULL, NULL, &si, &pi)) {
        CloseHandle(rd);
        CloseHandle(wr);
        return -1;
    }
    CloseHandle(wr);
    while (n + 1 < cap && ReadFile(rd, out + n, (DWORD)(cap - 1 - n), &got, NULL) && got > 0)
        n += got;
    out[n] = 0;
    CloseHandle(rd);
    WaitForSingleObject(pi.hProcess, INFINITE);
    GetExitCodeProcess(pi.hProcess, &code);
    CloseHandle(pi.hProcess);
    CloseHandle(pi.hThread);
    return (int)code;
}
#define child_exited(status, code) ((unsigned)(status) == (unsigned)(code))
#define child_faulted(status)                                                                   \
    ((unsigned)(status) == 0xC00000FDu /* stack overflow */ ||                                  \
     (unsigned)(status) == 0xC0000005u /* access violation */)
#else
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>
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
#define child_exited(status, code) (WIFEXITED(status) && WEXITSTATUS(status) == (code))
#define child_faulted(status) (WIFSIGNALED(status) && WTERMSIG(status) == SIGSEGV)
#endif

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
#ifdef _WIN32
    /* the path Windows knows us by (under Wine argv[0] may be the Unix one) */
    if (GetModuleFileNameA(NULL, helpers_exe_buf, sizeof helpers_exe_buf))
        helpers_self_exe = helpers_exe_buf;
#endif
    if (argc != 2) return;
#ifdef _WIN32
    /* a child that dies of an exception just ends, with the exception's code as its exit code,
       without an error box or a just-in-time debugger (Wine starts winedbg otherwise, even
       under SEM_NOGPFAULTERRORBOX) */
    SetErrorMode(SEM_FAILCRITICALERRORS | SEM_NOGPFAULTERRORBOX);
    SetUnhandledExceptionFilter(helpers_no_debugger);
#endif
    for (i = 0; i < n; i++)
        if (strcmp(argv[1], s[i].name) == 0) {
            s[i].body();
            _exit(0);
        }
    _exit(126);
}

/* The process's virtual size in kB (VmSize; on Windows every reserved or committed region),
   -1 if the system says nothing */
#ifdef _WIN32
static __attribute__((unused)) long vm_size_kb(void) {
    MEMORY_BASIC_INFORMATION mi;
    char *p = NULL;
    size_t total = 0;
    while (VirtualQuery(p, &mi, sizeof mi)) {
        if (mi.State != MEM_FREE) total += mi.RegionSize;
        p = (char *)mi.BaseAddress + mi.RegionSize;
    }
    return (long)(total / 1024);
}
#else
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
