/* bench/corun/corun.c - three small programs that a Python coroutine library (corun) published
   timings for, against threads and gevent, rewritten for coro_sched.h; bench/corun/run.sh prints
   our times beside those published figures.

     tasks   10,000 concurrent tasks, each sleeps 1 s then increments a counter; seconds until
             all have finished (the sleep itself makes 1.0 s the floor)
     io      100 concurrent tasks, each writes 100 blocks of 32 KiB to a file of its own,
             yielding after each write; seconds until all are done (files in a fresh directory
             under $TMPDIR or /tmp, removed afterwards)
     fetch   1,000 concurrent HTTP/1.0 GETs against a local server (a thread with its own loop,
             one coroutine per connection, a canned response), each connecting, sending the
             request and reading to EOF; seconds from the first connect to the last EOF. The
             descriptor limit is raised to 2,048 concurrent connections at least (soft limit
             4,096 when the hard limit allows: both ends are in this process).

   Output: one line, "s=<seconds> count=<tasks that completed>". */
#define CORO_IMPLEMENTATION
#define CORO_SCHED_IMPLEMENTATION
#include "../../coro_sched.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static long counter;

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}
static void fail(const char *what) {
    printf("error=%s\n", what);
    exit(1);
}

/* ---- tasks ---- */
static void *sleep_then_count(void *arg) {
    (void)arg;
    coro_sleep(1000);
    counter++;
    return NULL;
}
static double run_tasks(void) {
    long i;
    double t = now_s();
    for (i = 0; i < 10000; i++)
        if (!coro_spawn(sleep_then_count, NULL, 32 * 1024)) fail("spawn");
    if (coro_run() != 0) fail("run");
    return now_s() - t;
}

/* ---- io ---- */
static char io_dir[256], io_block[32 * 1024];
static void *write_file(void *arg) {
    char path[300];
    int fd, i;
    snprintf(path, sizeof path, "%s/somefile-%ld", io_dir, (long)(intptr_t)arg);
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0) fail("open");
    for (i = 0; i < 100; i++) {
        if (coro_write(fd, io_block, sizeof io_block, -1) != (ssize_t)sizeof io_block)
            fail("write");
        coro_sched_yield();
    }
    coro_close(fd);
    counter++;
    return NULL;
}
static double run_io(void) {
    const char *tmp = getenv("TMPDIR");
    long i;
    double t;
    snprintf(io_dir, sizeof io_dir, "%s/corun-io-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(io_dir)) fail("mkdtemp");
    memset(io_block, 'X', sizeof io_block);
    t = now_s();
    for (i = 0; i < 100; i++)
        if (!coro_spawn(write_file, (void *)(intptr_t)i, 64 * 1024)) fail("spawn");
    if (coro_run() != 0) fail("run");
    t = now_s() - t;
    for (i = 0; i < 100; i++) {
        char path[300];
        snprintf(path, sizeof path, "%s/somefile-%ld", io_dir, i);
        unlink(path);
    }
    rmdir(io_dir);
    return t;
}

/* ---- fetch ---- */
enum { FETCHES = 1000 };
static int port;
static const char request[] = "GET / HTTP/1.0\r\nHost: localhost\r\n\r\n";
static const char response[] = "HTTP/1.0 200 OK\r\nServer: coro\r\nContent-Length: 0\r\n\r\n";

static void *serve_one(void *arg) {
    int fd = (int)(intptr_t)arg;
    char buf[1024];
    if (coro_read(fd, buf, sizeof buf, coro_now() + 10000) > 0)
        coro_write(fd, response, sizeof response - 1, coro_now() + 10000);
    coro_close(fd);
    return NULL;
}
static void *acceptor(void *arg) {
    int lfd = (int)(intptr_t)arg, n;
    for (n = 0; n < FETCHES; n++) {
        int fd = coro_accept(lfd, NULL, NULL, coro_now() + 30000);
        if (fd < 0) fail("accept");
        if (!coro_spawn(serve_one, (void *)(intptr_t)fd, 32 * 1024)) fail("spawn");
    }
    coro_close(lfd);
    return NULL;
}
static void *server_thread(void *arg) {
    (void)arg;
    if (coro_run() != 0) fail("server run");
    coro_sched_free();
    return NULL;
}
static void *fetch_one(void *arg) {
    char buf[1024];
    ssize_t r;
    int fd = coro_tcp_connect("127.0.0.1", port, coro_now() + 30000);
    (void)arg;
    if (fd < 0) fail("connect");
    if (coro_write(fd, request, sizeof request - 1, coro_now() + 30000) != (ssize_t)sizeof request - 1)
        fail("send");
    while ((r = coro_read(fd, buf, sizeof buf, coro_now() + 30000)) > 0)
        ;
    if (r < 0) fail("recv");
    coro_close(fd);
    counter++;
    return NULL;
}
static pthread_mutex_t ready_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t ready_cond = PTHREAD_COND_INITIALIZER;
static void *server_main(void *arg) {
    int lfd = coro_tcp_listen("127.0.0.1", 0, 1024);
    (void)arg;
    if (lfd < 0) fail("listen");
    pthread_mutex_lock(&ready_lock);
    port = coro_tcp_port(lfd);
    pthread_cond_signal(&ready_cond);
    pthread_mutex_unlock(&ready_lock);
    if (!coro_spawn(acceptor, (void *)(intptr_t)lfd, 64 * 1024)) fail("spawn");
    return server_thread(NULL);
}
static double run_fetch(void) {
    struct rlimit rl;
    pthread_t th;
    long i;
    double t;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < 4096) {
        rl.rlim_cur = rl.rlim_max < 4096 ? rl.rlim_max : 4096;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur < 2 * FETCHES + 64) fail("nofile_limit");
    if (pthread_create(&th, NULL, server_main, NULL) != 0) fail("thread");
    pthread_mutex_lock(&ready_lock);
    while (!port) pthread_cond_wait(&ready_cond, &ready_lock);
    pthread_mutex_unlock(&ready_lock);
    t = now_s();
    for (i = 0; i < FETCHES; i++)
        if (!coro_spawn(fetch_one, NULL, 32 * 1024)) fail("spawn");
    if (coro_run() != 0) fail("run");
    t = now_s() - t;
    pthread_join(th, NULL);
    return t;
}

int main(int argc, char **argv) {
    const char *mode = argc > 1 ? argv[1] : "tasks";
    double t;
    if (!strcmp(mode, "tasks")) t = run_tasks();
    else if (!strcmp(mode, "io")) t = run_io();
    else if (!strcmp(mode, "fetch")) t = run_fetch();
    else fail("mode");
    printf("s=%.6f count=%ld\n", t, counter);
    return 0;
}
