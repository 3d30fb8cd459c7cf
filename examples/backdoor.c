/* backdoor.c - a console inside a running program: list its coroutines, kill one, stop it.

   What it shows: introspection of a live scheduler. The program keeps a few coroutines of its
   own busy (sleepers, a ticker, a coroutine waiting on a semaphore the ticker posts, one that
   keeps a worker thread busy through coro_offload, and an echo service with its connections),
   all named with coro_set_name. A console on a loopback port lets you look inside while it
   runs:
       list          coro_dump: every coroutine, its state, what it waits on (fd, sleep,
                     semaphore, offload, ...), its stack size and how much of it was touched;
                     then coro_count() and coro.h's coro_count_alive()
       kill ID       coro_find(ID) then coro_kill: the coroutine's cleanups run (an echo
                     connection closes its socket) and it is gone from the next list
       stats         the program's own counters
       help, quit    (quit closes this console connection)
       shutdown      stop the whole program, as SIGINT/SIGTERM do
   Shutdown: a "signals" coroutine turns SIGINT/SIGTERM into a post on a semaphore, as does the
   console's shutdown command; the "supervisor" coroutine waiting on it lists every coroutine
   (coro_foreach), finds each spawned one by id (coro_find) and kills it, itself excepted. Every
   cleanup runs, coro_run returns, and the program exits 0.

   After backdoor.py of the eGroups coroutine library, a console reached with telnet to
   examine, control and debug long-running servers, and thread_list() of its coro module.

   Build and run, from the repository root:
       cc -O2 -I. examples/backdoor.c -o backdoor -pthread
       ./backdoor -p 7002        # then: nc 127.0.0.1 7002, and type list
   Options: -p PORT of the console (0 = any free port, the default), -b ADDR of the console
   (127.0.0.1; anything else lets the network kill your coroutines), -e PORT of the echo
   service (0), -h. Prints "listening on ADDR:PORT" (the console) and
   "echo service on 127.0.0.1:PORT". */
#define CORO_IMPLEMENTATION
#define CORO_SCHED_IMPLEMENTATION
#include "coro_sched.h"

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static struct {
    const char *addr;
    int console_fd, echo_fd;
    coro_sem_t shutdown; /* posted by a signal or the shutdown command */
    coro_sem_t tick;     /* posted by the ticker every second */
    coro_t *supervisor;
    unsigned long long ticks, naps, tick_waits, offloads, echo_bytes, sessions, echo_conns;
} g;

/* >>busy: the program's own work */
static void *sleeper(void *arg) {
    long ms = (long)(intptr_t)arg;
    for (;;) {
        if (coro_sleep(ms) != 0) return NULL;
        g.naps++;
    }
}

static void *ticker(void *arg) {
    (void)arg;
    while (coro_sleep(1000) == 0) {
        g.ticks++;
        coro_sem_post(&g.tick);
    }
    return NULL;
}

static void *tick_waiter(void *arg) {
    (void)arg;
    while (coro_sem_wait(&g.tick, -1) == 0) g.tick_waits++;
    return NULL;
}

static void *slow_job(void *arg) { /* runs on a worker thread */
    (void)arg;
    usleep(300 * 1000);
    return NULL;
}

static void *offloader(void *arg) {
    (void)arg;
    for (;;) {
        if (coro_offload(slow_job, NULL, NULL) != 0) return NULL;
        g.offloads++;
        if (coro_sleep(700) != 0) return NULL;
    }
}

static void *session(void *arg); /* a console connection, below */

static void close_fd(void *arg) { coro_close((int)(intptr_t)arg); }

static void *echo_conn(void *arg) {
    int fd = (int)(intptr_t)arg;
    char buf[512];
    ssize_t n;
    coro_defer(close_fd, arg); /* runs when it ends, also when killed from the console */
    while ((n = coro_read(fd, buf, sizeof buf, -1)) > 0) {
        if (coro_write(fd, buf, (size_t)n, -1) < 0) break;
        g.echo_bytes += (unsigned long long)n;
    }
    return NULL;
}

static void *listener(void *arg) {
    int lfd = *(int *)arg, fd;
    int console = &g.console_fd == (int *)arg;
    coro_defer(close_fd, (void *)(intptr_t)lfd);
    while ((fd = coro_accept(lfd, NULL, NULL, -1)) >= 0) {
        coro_t *co = coro_spawn(console ? session : echo_conn, (void *)(intptr_t)fd, 0);
        if (!co) {
            coro_close(fd);
            continue;
        }
        coro_set_name(co, console ? "console-session" : "echo-conn");
        if (console) g.sessions++;
        else g.echo_conns++;
    }
    return NULL;
}

/* >>console */
static int say(int fd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int say(int fd, const char *fmt, ...) {
    char buf[512];
    va_list ap;
    int n;
    va_start(ap, fmt);
    n = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (n < 0) return -1;
    if ((size_t)n >= sizeof buf) n = (int)sizeof buf - 1;
    return coro_write(fd, buf, (size_t)n, coro_now() + 5000) < 0 ? -1 : 0;
}

static int cmd_list(int fd) {
    size_t need = coro_dump(NULL, 0) + 1;
    char *table = (char *)malloc(need);
    int r;
    if (!table) return say(fd, "list: out of memory\n");
    coro_dump(table, need); /* nothing ran in between: the size still holds */
    r = coro_write(fd, table, strlen(table), coro_now() + 5000) < 0 ? -1 : 0;
    free(table);
    if (r == 0)
        r = say(fd, "%zu coroutines in the scheduler, %zu coro.h coroutines alive\n", coro_count(),
                coro_count_alive());
    return r;
}

static int cmd_kill(int fd, const char *arg) {
    char *end;
    unsigned long long id;
    coro_t *co;
    char name[32];
    errno = 0;
    id = strtoull(arg, &end, 10);
    if (errno || end == arg || *end) return say(fd, "kill: '%s' is not a coroutine id (see list)\n", arg);
    if (!(co = coro_find((uint64_t)id))) return say(fd, "kill: no coroutine %llu\n", id);
    if (co == coro_current()) return say(fd, "kill: %llu is this console session; use quit\n", id);
    if (co == g.supervisor) return say(fd, "kill: %llu is the supervisor (it stops the program); use shutdown\n", id);
    snprintf(name, sizeof name, "%s", coro_name(co));
    if (coro_kill(co) != 0) return say(fd, "kill %llu: %s\n", id, strerror(errno));
    return say(fd, "killed %llu (%s)\n", id, name);
}

static int cmd_stats(int fd) {
    return say(fd,
               "ticks %llu, sleeper naps %llu, semaphore waits %llu, offloaded jobs %llu,\n"
               "echo connections %llu (%llu bytes), console sessions %llu, coroutines %zu\n",
               g.ticks, g.naps, g.tick_waits, g.offloads, g.echo_conns, g.echo_bytes, g.sessions,
               coro_count());
}

static const char help[] = "commands:\n"
                           "  list      every coroutine: id, name, state, what it waits on, stack\n"
                           "  kill ID   kill coroutine ID (its cleanups run)\n"
                           "  stats     the program's counters\n"
                           "  help      this text\n"
                           "  quit      close this console\n"
                           "  shutdown  stop the program\n";

/* One command line. Returns 0 to go on, 1 to close the session, -1 if the connection failed. */
static int command(int fd, char *line) {
    char *cmd, *arg, *save = NULL;
    cmd = strtok_r(line, " \t\r", &save);
    arg = strtok_r(NULL, " \t\r", &save);
    if (!cmd) return 0;
    if (strcmp(cmd, "list") == 0 || strcmp(cmd, "ps") == 0) return cmd_list(fd);
    if (strcmp(cmd, "kill") == 0) return arg ? cmd_kill(fd, arg) : say(fd, "usage: kill ID\n");
    if (strcmp(cmd, "stats") == 0) return cmd_stats(fd);
    if (strcmp(cmd, "help") == 0 || strcmp(cmd, "?") == 0) return say(fd, "%s", help);
    if (strcmp(cmd, "quit") == 0 || strcmp(cmd, "exit") == 0) return say(fd, "bye\n") < 0 ? -1 : 1;
    if (strcmp(cmd, "shutdown") == 0) {
        if (say(fd, "shutting down\n") < 0) return -1;
        coro_sem_post(&g.shutdown);
        return 1;
    }
    return say(fd, "unknown command '%s'; try help\n", cmd);
}

static void *session(void *arg) {
    int fd = (int)(intptr_t)arg;
    char in[512];
    size_t have = 0;
    ssize_t n;
    coro_defer(close_fd, arg);
    if (say(fd, "coro backdoor, pid %ld; type help\n> ", (long)getpid()) < 0) return NULL;
    while ((n = coro_read(fd, in + have, sizeof in - 1 - have, -1)) > 0) {
        char *start = in, *nl;
        have += (size_t)n;
        while ((nl = (char *)memchr(start, '\n', have - (size_t)(start - in))) != NULL) {
            int r;
            *nl = 0;
            r = command(fd, start);
            if (r != 0) return NULL;
            if (say(fd, "> ") < 0) return NULL;
            start = nl + 1;
        }
        have -= (size_t)(start - in);
        memmove(in, start, have);
        if (have == sizeof in - 1) {
            say(fd, "line too long\n> ");
            have = 0;
        }
    }
    return NULL;
}

/* >>shutdown */
static void *signals(void *arg) {
    sigset_t set;
    int sig;
    (void)arg;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sig = coro_signal_wait(&set, -1);
    if (sig > 0) {
        fprintf(stderr, "backdoor: %s, stopping\n", sig == SIGINT ? "SIGINT" : "SIGTERM");
        coro_sem_post(&g.shutdown);
    }
    return NULL;
}

struct ids {
    uint64_t *v;
    size_t n, cap;
};

static void collect(coro_t *co, void *ud) { /* coro_foreach: no switching, no freeing here */
    struct ids *ids = (struct ids *)ud;
    if (ids->n < ids->cap) ids->v[ids->n++] = coro_id(co);
}

static void *supervisor(void *arg) {
    struct ids ids;
    size_t i;
    (void)arg;
    if (coro_sem_wait(&g.shutdown, -1) != 0) return NULL;
    ids.cap = coro_count_alive();
    ids.n = 0;
    ids.v = (uint64_t *)malloc((ids.cap ? ids.cap : 1) * sizeof *ids.v);
    if (!ids.v) {
        coro_stop(); /* coro_sched_free kills the rest */
        return NULL;
    }
    coro_foreach(collect, &ids);
    for (i = 0; i < ids.n; i++) {
        coro_t *co = coro_find(ids.v[i]); /* NULL if it ended meanwhile or is not spawned */
        if (co && co != coro_current()) coro_kill(co);
    }
    free(ids.v);
    fprintf(stderr, "backdoor: every coroutine stopped\n");
    return NULL;
}

static void *ready(void *arg) {
    (void)arg;
    printf("listening on %s:%d\necho service on 127.0.0.1:%d\n", g.addr, coro_tcp_port(g.console_fd),
           coro_tcp_port(g.echo_fd));
    fflush(stdout);
    return NULL;
}

static int spawn_named(coro_fn fn, void *arg, const char *name) {
    coro_t *co = coro_spawn(fn, arg, 0);
    if (!co) return -1;
    coro_set_name(co, name);
    if (fn == supervisor) g.supervisor = co;
    return 0;
}

static int parse_port(const char *opt, const char *s, int *out) {
    char *end;
    long v;
    errno = 0;
    v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < 0 || v > 65535) {
        fprintf(stderr, "backdoor: %s: '%s' is not a port (0..65535)\n", opt, s);
        return -1;
    }
    *out = (int)v;
    return 0;
}

int main(int argc, char **argv) {
    int opt, port = 0, echo_port = 0, bad = 0;
    g.addr = "127.0.0.1";
    while ((opt = getopt(argc, argv, "p:b:e:h")) != -1) {
        switch (opt) {
        case 'p':
            if (parse_port("-p", optarg, &port) != 0) return 2;
            break;
        case 'e':
            if (parse_port("-e", optarg, &echo_port) != 0) return 2;
            break;
        case 'b': g.addr = optarg; break;
        case 'h':
            printf("usage: backdoor [-p CONSOLE_PORT] [-b CONSOLE_ADDR] [-e ECHO_PORT] [-h]\n"
                   "  a program with busy coroutines and a console to inspect them (type help)\n");
            return 0;
        default:
            fprintf(stderr, "usage: backdoor [-p CONSOLE_PORT] [-b CONSOLE_ADDR] [-e ECHO_PORT] [-h]\n");
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "backdoor: unexpected argument '%s'\n", argv[optind]);
        return 2;
    }
    if ((g.console_fd = coro_tcp_listen(g.addr, port, 64)) < 0) {
        fprintf(stderr, "backdoor: console: listen on %s:%d: %s\n", g.addr, port, strerror(errno));
        return 1;
    }
    if ((g.echo_fd = coro_tcp_listen("127.0.0.1", echo_port, 64)) < 0) {
        fprintf(stderr, "backdoor: echo: listen on 127.0.0.1:%d: %s\n", echo_port, strerror(errno));
        return 1;
    }
    coro_sem_init(&g.shutdown, 0);
    coro_sem_init(&g.tick, 0);
    bad |= spawn_named(signals, NULL, "signals");
    bad |= spawn_named(supervisor, NULL, "supervisor");
    bad |= spawn_named(sleeper, (void *)(intptr_t)500, "sleeper-fast");
    bad |= spawn_named(sleeper, (void *)(intptr_t)1500, "sleeper-slow");
    bad |= spawn_named(sleeper, (void *)(intptr_t)60000, "sleeper-minute");
    bad |= spawn_named(ticker, NULL, "ticker");
    bad |= spawn_named(tick_waiter, NULL, "tick-waiter");
    bad |= spawn_named(offloader, NULL, "offloader");
    bad |= spawn_named(listener, &g.echo_fd, "echo-listener");
    bad |= spawn_named(listener, &g.console_fd, "console-listener");
    bad |= spawn_named(ready, NULL, "ready");
    if (bad) {
        fprintf(stderr, "backdoor: cannot start: %s\n", strerror(errno));
        return 1;
    }
    if (coro_run() != 0) fprintf(stderr, "backdoor: coro_run: %s\n", strerror(errno));
    coro_sched_free();
    printf("backdoor: %llu ticks, %llu console sessions, %llu echo connections\n", g.ticks,
           g.sessions, g.echo_conns);
    return 0;
}
