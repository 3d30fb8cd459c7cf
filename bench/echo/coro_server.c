/* coro_server.c - the coro_sched.h echo server of the echo benchmark: one coroutine per
 * connection, written the obvious way, on one thread.
 *
 *   ./echo_coro PORT      (PORT 0 picks a free port; prints "PORT <n>" once listening)
 *
 * Same contract as the hand-written servers beside it: 127.0.0.1, SIGTERM/SIGINT end it with
 * status 0. A 1 KiB buffer on the coroutine's stack keeps an idle connection to one stack page.
 */
#define CORO_IMPLEMENTATION
#define CORO_SCHED_IMPLEMENTATION
#include "../../coro_sched.h"

#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>

static void *echo(void *arg) {
    int fd = (int)(intptr_t)arg;
    char buf[1024];
    ssize_t n;
    while ((n = coro_read(fd, buf, sizeof buf, -1)) > 0)
        if (coro_write(fd, buf, (size_t)n, -1) < 0) break;
    coro_close(fd);
    return NULL;
}

static void *acceptor(void *arg) {
    int lfd = (int)(intptr_t)arg, fd;
    while ((fd = coro_accept(lfd, NULL, NULL, -1)) >= 0)
        if (!coro_spawn(echo, (void *)(intptr_t)fd, 0)) coro_close(fd);
    return NULL;
}

static void *on_signal(void *arg) {
    sigset_t set;
    (void)arg;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    if (coro_signal_wait(&set, -1) > 0) coro_stop();
    return NULL;
}

int main(int argc, char **argv) {
    struct rlimit rl;
    int lfd, port = argc > 1 ? atoi(argv[1]) : 0;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    lfd = coro_tcp_listen("127.0.0.1", port, 65535);
    if (lfd < 0) {
        perror("echo_coro: listen");
        return 1;
    }
    printf("PORT %d\n", coro_tcp_port(lfd));
    fflush(stdout);
    coro_spawn(acceptor, (void *)(intptr_t)lfd, 0);
    coro_spawn(on_signal, NULL, 0);
    if (coro_run() != 0) {
        perror("echo_coro: coro_run");
        return 1;
    }
    return 0;
}
