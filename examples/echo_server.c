/* echo_server.c - a TCP echo server: thousands of connections on one core, one coroutine each.

   What it shows: the eGroups README's case for coroutines in servers: each connection is
   straight-line code (read, write back, repeat) on its own small stack, and one thread serves
   thousands of them through coro_sched.h's epoll loop. A connection costs a coroutine record,
   the stack pages it touches (its 512-byte buffer lives there) and a socket: measure it with
   bench/ or watch RSS while a load generator holds 10,000 connections open.
   With -t N the same program runs N threads, each with its own scheduler and its own listening
   socket on the same port (SO_REUSEPORT: the kernel spreads new connections over them), the
   way to use more cores: one scheduler per core, nothing shared but the port.
   Shutdown: a coroutine waits in coro_signal_wait for SIGINT/SIGTERM and closes the write end
   of a pipe; every thread has a "stopper" coroutine reading the other end, which wakes at the
   end of file, closes its listener and raises ECANCELED into each of its connections, which
   then finish like any other (their blocking call fails, they close their socket and return).
   coro_run returns when the last one has ended, and the program prints its totals and exits 0.

   After the servers of the eGroups coroutine library, built to handle thousands of concurrent
   TCP connections efficiently.

   Build and run, from the repository root:
       cc -O2 -I. examples/echo_server.c -o echo_server -pthread
       ./echo_server -p 7000 -t 2          # then: nc 127.0.0.1 7000; ^C the server to stop
   Options: -p PORT (0 = any free port, the default), -b ADDR (127.0.0.1), -t THREADS (1),
   -i IDLE_SECONDS a connection may stay silent (0 = forever, the default), -h. It prints
   "listening on ADDR:PORT" once every listener is up, and at exit
   "echo_server: N connections, B bytes echoed, T threads". */
#define CORO_IMPLEMENTATION
#define CORO_SCHED_IMPLEMENTATION
#include "coro_sched.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_THREADS 64
#define CONN_STACK (64 * 1024) /* plenty for a 512-byte buffer and the libc calls under it */

/* One connection; it lives on its own coroutine's stack and is linked into its thread's list
   so that the stopper can reach it. */
struct conn {
    coro_t *co;
    int fd;
    struct conn *prev, *next;
};

/* One scheduler: a thread (index 0 is the main thread). Only its own thread touches it until
   that thread has been joined. */
struct worker {
    int index, lfd, stopping, failed;
    pthread_t thread;
    struct conn *conns;
    unsigned long long connections, bytes;
};

static struct {
    const char *addr;
    int port, nthreads;
    int64_t idle_ms;
    int stop_rd, stop_wr; /* closing stop_wr tells every thread to stop */
    pthread_barrier_t up;  /* every listener bound (or failed) before "listening on" */
    struct worker workers[MAX_THREADS];
} g;

static void usage(FILE *f) {
    fprintf(f, "usage: echo_server [-p PORT] [-b ADDR] [-t THREADS] [-i IDLE_SECONDS] [-h]\n"
               "  -p PORT     port to listen on, 0 = any free port (default 0)\n"
               "  -b ADDR     IPv4 address to bind (default 127.0.0.1)\n"
               "  -t THREADS  threads, each with its own scheduler and SO_REUSEPORT listener (1..%d, default 1)\n"
               "  -i SECONDS  close a connection silent this long (default 0: never)\n",
            MAX_THREADS);
}

static int parse_int(const char *s, long lo, long hi, long *out) {
    char *end;
    long v;
    errno = 0;
    v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi) return -1;
    *out = v;
    return 0;
}

/* Every thread listens on a socket of its own on the same port: SO_REUSEPORT lets the kernel
   spread new connections over them. */
static int listen_reuseport(const char *addr, int port) {
    return coro_tcp_listen_opt(addr, port, 1024, CORO_TCP_REUSEPORT);
}

/* The worker of the running thread: coroutines never move between threads, so each may read
   it at any time. */
static __thread struct worker *this_worker;

/* Registered with coro_defer: runs when the connection's coroutine ends, whether it returned
   or was killed. */
static void conn_cleanup(void *arg) {
    struct conn *c = (struct conn *)arg;
    struct worker *w = this_worker;
    if (c->prev) c->prev->next = c->next;
    else w->conns = c->next;
    if (c->next) c->next->prev = c->prev;
    coro_close(c->fd);
}

static void *echo(void *arg) {
    struct worker *w = this_worker;
    struct conn self;
    char buf[512];
    ssize_t n;
    int one = 1;
    self.fd = (int)(intptr_t)arg;
    if (w->stopping) { /* spawned just before the stop: never started talking */
        coro_close(self.fd);
        return NULL;
    }
    self.co = coro_current();
    self.prev = NULL;
    self.next = w->conns;
    if (w->conns) w->conns->prev = &self;
    w->conns = &self;
    if (coro_defer(conn_cleanup, &self) != 0) {
        conn_cleanup(&self);
        return NULL;
    }
    w->connections++;
    setsockopt(self.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    for (;;) {
        int64_t deadline = g.idle_ms > 0 ? coro_now() + g.idle_ms : -1;
        if ((n = coro_read(self.fd, buf, sizeof buf, deadline)) <= 0) break;
        if (coro_write(self.fd, buf, (size_t)n, deadline) < 0) break;
        w->bytes += (unsigned long long)n;
    }
    /* Run the cleanup now, while `self` is alive: a cleanup that is left to run when the
       function returns would run after this frame is gone. (Killed, it runs from inside the
       blocking call, with the frame intact.) */
    coro_defer_pop(1);
    return NULL;
}

static void *acceptor(void *arg) {
    struct worker *w = (struct worker *)arg;
    int fd;
    while ((fd = coro_accept(w->lfd, NULL, NULL, -1)) >= 0) {
        coro_t *co = coro_spawn(echo, (void *)(intptr_t)fd, CONN_STACK);
        if (!co) {
            fprintf(stderr, "echo_server: cannot start a coroutine: %s\n", strerror(errno));
            coro_close(fd);
            continue;
        }
        coro_set_name(co, "echo");
    }
    if (!w->stopping) fprintf(stderr, "echo_server: accept: %s\n", strerror(errno));
    return NULL;
}

/* Wakes when stop_wr is closed (end of file on the pipe), then stops this thread's work. */
static void *stopper(void *arg) {
    struct worker *w = (struct worker *)arg;
    char c;
    if (coro_read(g.stop_rd, &c, 1, -1) < 0)
        fprintf(stderr, "echo_server: thread %d: stop pipe: %s\n", w->index, strerror(errno));
    w->stopping = 1;
    coro_fd_forget(g.stop_rd); /* shared by every thread: the main thread closes it */
    coro_close(w->lfd);        /* the acceptor wakes with EBADF and returns */
    while (w->conns) {
        struct conn *c0 = w->conns;
        coro_raise(c0->co, ECANCELED); /* its read or write fails, it returns, cleanup unlinks */
        if (w->conns == c0) coro_kill(c0->co); /* still there (blocked again): cleanup runs now */
    }
    return NULL;
}

static void *signals(void *arg) {
    sigset_t set;
    int sig;
    (void)arg;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sig = coro_signal_wait(&set, -1);
    if (sig > 0) fprintf(stderr, "echo_server: %s, stopping\n", sig == SIGINT ? "SIGINT" : "SIGTERM");
    else fprintf(stderr, "echo_server: coro_signal_wait: %s; stopping\n", strerror(errno));
    close(g.stop_wr);
    g.stop_wr = -1;
    return NULL;
}

/* The handler of coro_signal_wait is installed when it first waits: announce the port only
   after that, so a SIGTERM sent by whoever read the line is always handled. */
static void *announce(void *arg) {
    (void)arg;
    printf("listening on %s:%d\n", g.addr, g.port);
    fflush(stdout);
    return NULL;
}

static int start_worker(struct worker *w) {
    coro_t *a = coro_spawn(acceptor, w, 0), *s = coro_spawn(stopper, w, 0);
    if (!a || !s) return -1;
    coro_set_name(a, "acceptor");
    coro_set_name(s, "stopper");
    return 0;
}

static void *thread_main(void *arg) {
    struct worker *w = (struct worker *)arg;
    this_worker = w;
    w->lfd = listen_reuseport(g.addr, g.port);
    if (w->lfd < 0) {
        fprintf(stderr, "echo_server: thread %d: listen on %s:%d: %s\n", w->index, g.addr, g.port,
                strerror(errno));
        w->failed = 1;
    }
    pthread_barrier_wait(&g.up);
    if (!w->failed && start_worker(w) == 0 && coro_run() != 0)
        fprintf(stderr, "echo_server: thread %d: coro_run: %s\n", w->index, strerror(errno));
    coro_sched_free();
    return NULL;
}

int main(int argc, char **argv) {
    struct worker *w0 = &g.workers[0];
    unsigned long long conns = 0, bytes = 0;
    int i, opt, fds[2], failed = 0;
    long v;
    g.addr = "127.0.0.1";
    g.nthreads = 1;
    while ((opt = getopt(argc, argv, "p:b:t:i:h")) != -1) {
        switch (opt) {
        case 'p':
            if (parse_int(optarg, 0, 65535, &v) != 0) {
                fprintf(stderr, "echo_server: -p: '%s' is not a port (0..65535)\n", optarg);
                return 2;
            }
            g.port = (int)v;
            break;
        case 'b': g.addr = optarg; break;
        case 't':
            if (parse_int(optarg, 1, MAX_THREADS, &v) != 0) {
                fprintf(stderr, "echo_server: -t: '%s' is not a thread count (1..%d)\n", optarg,
                        MAX_THREADS);
                return 2;
            }
            g.nthreads = (int)v;
            break;
        case 'i':
            if (parse_int(optarg, 0, INT_MAX / 1000, &v) != 0) {
                fprintf(stderr, "echo_server: -i: '%s' is not a number of seconds\n", optarg);
                return 2;
            }
            g.idle_ms = (int64_t)v * 1000;
            break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "echo_server: unexpected argument '%s'\n", argv[optind]);
        usage(stderr);
        return 2;
    }
    {
        struct in_addr a;
        if (inet_pton(AF_INET, g.addr, &a) != 1) {
            fprintf(stderr, "echo_server: -b: '%s' is not an IPv4 address\n", g.addr);
            return 2;
        }
    }

    /* The main thread's listener first: with port 0 it picks the port the others then share. */
    w0->lfd = listen_reuseport(g.addr, g.port);
    if (w0->lfd < 0) {
        fprintf(stderr, "echo_server: listen on %s:%d: %s\n", g.addr, g.port, strerror(errno));
        return 1;
    }
    g.port = coro_tcp_port(w0->lfd);
    this_worker = w0;
    if (pipe(fds) != 0) {
        perror("echo_server: pipe");
        return 1;
    }
    g.stop_rd = fds[0];
    g.stop_wr = fds[1];
    pthread_barrier_init(&g.up, NULL, (unsigned)g.nthreads);
    for (i = 1; i < g.nthreads; i++) {
        struct worker *w = &g.workers[i];
        int err;
        w->index = i;
        if ((err = pthread_create(&w->thread, NULL, thread_main, w)) != 0) {
            /* the threads already started wait at the barrier for this one: give up */
            fprintf(stderr, "echo_server: pthread_create: %s\n", strerror(err));
            exit(1);
        }
    }
    pthread_barrier_wait(&g.up);
    for (i = 1; i < g.nthreads; i++) failed |= g.workers[i].failed;
    if (failed) {
        close(g.stop_wr); /* threads that did start their loop stop at once */
        g.stop_wr = -1;
    }
    if (start_worker(w0) != 0) {
        fprintf(stderr, "echo_server: cannot start: %s\n", strerror(errno));
        return 1;
    }
    if (!failed) {
        coro_set_name(coro_spawn(signals, NULL, 0), "signals");
        coro_set_name(coro_spawn(announce, NULL, 0), "announce");
    }
    if (coro_run() != 0) fprintf(stderr, "echo_server: coro_run: %s\n", strerror(errno));
    coro_sched_free();
    for (i = 1; i < g.nthreads; i++) pthread_join(g.workers[i].thread, NULL);
    pthread_barrier_destroy(&g.up);
    close(g.stop_rd);
    if (g.stop_wr >= 0) close(g.stop_wr);
    for (i = 0; i < g.nthreads; i++) {
        conns += g.workers[i].connections;
        bytes += g.workers[i].bytes;
    }
    printf("echo_server: %llu connections, %llu bytes echoed, %d thread%s\n", conns, bytes,
           g.nthreads, g.nthreads == 1 ? "" : "s");
    return failed ? 1 : 0;
}
