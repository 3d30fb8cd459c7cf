/* test_io.c - coro_sched.h's I/O: hundreds of TCP clients echoing checked bytes, refused and
   reset connections, bad fds, a deadline on every call (and past deadlines as non-blocking
   attempts), one reader and one writer per fd, close/kill/raise of coroutines blocked in I/O,
   EOF, accept backing off when the process is out of fds, coro_wait_fd's level semantics,
   offload to worker threads, signals as events, pipes, errno per coroutine, coro_sendfile, and
   calls from main. Compiled once per backend (epoll, and poll with -DCORO_SCHED_POLL). Scenarios that need
   a fresh process run this program again with the scenario's name (see run_child). */
#define CORO_IMPLEMENTATION
#define CORO_SCHED_IMPLEMENTATION
#include "../coro_sched.h"
#include "check.h"
#include "helpers.h"
#include "test_pipe.h"

#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <time.h>
#include <unistd.h>
#ifndef _WIN32
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#endif

#define P(x) ((void *)(intptr_t)(x))
#define I(p) ((intptr_t)(p))

/* The calls the tests make behind the scheduler's back, on POSIX fds or (Windows) SOCKETs;
   Windows has no AF_UNIX socketpair here: a loopback TCP pair stands in (test_pipe.h). */
#ifdef _WIN32
#define SHUT_WR SD_SEND
static SOCKET raw_s(int fd) { return (SOCKET)(unsigned)fd; }
static ssize_t raw_write(int fd, const void *b, size_t n) { return send(raw_s(fd), (const char *)b, (int)n, 0); }
static ssize_t raw_read(int fd, void *b, size_t n) { return recv(raw_s(fd), (char *)b, (int)n, 0); }
static int raw_close(int fd) { return closesocket(raw_s(fd)); }
static int raw_shutdown(int fd, int how) { return shutdown(raw_s(fd), how); }
static int raw_setsockopt(int fd, int level, int name, const void *v, int len) {
    return setsockopt(raw_s(fd), level, name, (const char *)v, len);
}
static int raw_tcp_socket(void) {
    SOCKET h = socket(AF_INET, SOCK_STREAM, 0);
    return h == INVALID_SOCKET ? -1 : (int)h;
}
static int raw_bind(int fd, const struct sockaddr *a, int len) { return bind(raw_s(fd), a, len); }
static int raw_getsockname(int fd, struct sockaddr *a, socklen_t *len) { return getsockname(raw_s(fd), a, len); }
#else
static ssize_t raw_write(int fd, const void *b, size_t n) { return write(fd, b, n); }
static ssize_t raw_read(int fd, void *b, size_t n) { return read(fd, b, n); }
static int raw_close(int fd) { return close(fd); }
static int raw_shutdown(int fd, int how) { return shutdown(fd, how); }
static int raw_setsockopt(int fd, int level, int name, const void *v, socklen_t len) {
    return setsockopt(fd, level, name, v, len);
}
static int raw_tcp_socket(void) { return socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0); }
static int raw_bind(int fd, const struct sockaddr *a, socklen_t len) { return bind(fd, a, len); }
static int raw_getsockname(int fd, struct sockaddr *a, socklen_t *len) { return getsockname(fd, a, len); }
#endif

/* ---- helpers ------------------------------------------------------------------------------- */
static int64_t in_ms(int64_t ms) { return coro_now() + ms; }

static coro_t *spawn(coro_fn fn, void *arg) {
    coro_t *co = coro_spawn(fn, arg, 0);
    CHECK(co != NULL);
    return co;
}

/* run the loop until every coroutine has ended */
static void run_all(void) {
    CHECK(coro_run() == 0);
    CHECK(coro_count() == 0);
}

/* Bytes written to one end of a socketpair are at the other end when write returns; over
   Windows' loopback TCP (its stand-in) they arrive a moment later: wait for them there. */
static void arrived(int fd) {
#ifdef _WIN32
    CHECK(coro_wait_fd(fd, CORO_READ, in_ms(5000)) == CORO_READ);
#else
    (void)fd;
#endif
}

static void unix_pair(int sv[2]) {
#ifdef _WIN32
    CHECK(test_fd_pair(sv) == 0);
#else
    CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
#endif
}

/* a connected loopback TCP pair, from a spawned coroutine: *c connected, *a accepted */
static int tcp_pair(int *c, int *a) {
    int lfd = coro_tcp_listen("127.0.0.1", 0, 16), port = coro_tcp_port(lfd);
    *c = coro_tcp_connect("127.0.0.1", port, in_ms(5000));
    *a = coro_accept(lfd, NULL, NULL, in_ms(5000));
    coro_close(lfd);
    CHECK(*c >= 0 && *a >= 0);
    return *c >= 0 && *a >= 0 ? 0 : -1;
}

/* a port nobody listens on: bound once by us, then closed */
static int unused_port(void) {
    struct sockaddr_in sa;
    socklen_t len = sizeof sa;
    int fd = raw_tcp_socket(), port = -1;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (raw_bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0 &&
        raw_getsockname(fd, (struct sockaddr *)&sa, &len) == 0)
        port = ntohs(sa.sin_port);
    raw_close(fd);
    return port;
}

static void loopback(struct sockaddr_in *sa, int port) {
    memset(sa, 0, sizeof *sa);
    sa->sin_family = AF_INET;
    sa->sin_port = htons((unsigned short)port);
    sa->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
}

/* coro_dump's table contains needle */
static char dump_buf[32768];
static int dump_has(const char *needle) {
    coro_dump(dump_buf, sizeof dump_buf);
    return strstr(dump_buf, needle) != NULL;
}
/* sleep in small steps until coro_dump shows needle (or 5 s pass) */
static int await_dump(const char *needle) {
    int64_t end = in_ms(5000);
    while (!dump_has(needle)) {
        if (coro_now() >= end) return 0;
        coro_sleep(2);
    }
    return 1;
}

/* a pseudo-random byte stream, reproducible from its seed */
static unsigned char stream_next(uint32_t *s) {
    *s = *s * 1103515245u + 12345u;
    return (unsigned char)(*s >> 23);
}
static uint32_t rnd_next(uint32_t *s) {
    *s ^= *s << 13;
    *s ^= *s >> 17;
    *s ^= *s << 5;
    return *s;
}

static int cleanups;
static void count_cleanup(void *arg) {
    (void)arg;
    cleanups++;
}
static void free_cleanup(void *p) {
    free(p);
    cleanups++;
}

/* fresh-process scenarios: run_child() from helpers.h */

static void test_backend_name(void) {
#if defined(_WIN32)
    CHECK(strcmp(coro_sched_backend(), "wsapoll") == 0);
#elif defined(CORO_SCHED_POLL)
    CHECK(strcmp(coro_sched_backend(), "poll") == 0);
#else
    CHECK(strcmp(coro_sched_backend(), "epoll") == 0);
#endif
}

/* ---- 1. hundreds of clients against an echo server in the same process ---------------------- */
#ifdef _WIN32
/* Under Wine 8 on a machine at a load average of 20, with 300 clients (600 sockets in one
   WSAPoll) the last few dozen connections were in 2 runs of 5 never reported readable within
   their reads' 10 s deadlines; at a load of 3 the 300 took 3-5 s and passed. With 100 no
   failure has been seen. Whether Wine's poll starves them under load or this library does is
   not yet known. */
enum { ECHO_CLIENTS = 100 };
#else
enum { ECHO_CLIENTS = 300 };
#endif
typedef struct {
    int fd, connect_err;
    uint32_t seed;
    size_t total, sent, got, bad_at;
    int wrote_all, read_all, saw_eof;
} echo_client;
static echo_client clients[ECHO_CLIENTS];
static int echo_lfd, echo_port, echo_accepted, echo_handled, echo_accept_err, clients_done;

static void *echo_handler(void *arg) {
    int fd = (int)I(arg);
    char buf[3001];
    ssize_t n;
    while ((n = coro_read(fd, buf, sizeof buf, in_ms(10000))) > 0)
        if (coro_write(fd, buf, (size_t)n, in_ms(10000)) != n) break;
    if (n == 0) echo_handled++;
    coro_close(fd);
    return NULL;
}
static void *echo_acceptor(void *arg) {
    int fd;
    (void)arg;
    while ((fd = coro_accept(echo_lfd, NULL, NULL, in_ms(60000))) >= 0) {
        echo_accepted++;
        spawn(echo_handler, P(fd));
    }
    echo_accept_err = errno;
    return NULL;
}
/* sends the client's stream in uneven chunks, then half-closes */
static void *client_writer(void *arg) {
    echo_client *c = (echo_client *)arg;
    uint32_t st = c->seed, chunks = c->seed ^ 0x9e3779b9u;
    unsigned char buf[5000];
    while (c->sent < c->total) {
        size_t n = 1 + rnd_next(&chunks) % sizeof buf, i;
        if (n > c->total - c->sent) n = c->total - c->sent;
        for (i = 0; i < n; i++) buf[i] = stream_next(&st);
        if (coro_write(c->fd, buf, n, in_ms(10000)) != (ssize_t)n) return NULL;
        c->sent += n;
        if (rnd_next(&chunks) % 8 == 0) coro_sched_yield(); /* vary the interleaving */
    }
    c->wrote_all = raw_shutdown(c->fd, SHUT_WR) == 0;
    return NULL;
}
/* reads the echo concurrently with uneven sizes and checks every byte */
static void *client_reader(void *arg) {
    echo_client *c = (echo_client *)arg;
    uint32_t st = c->seed, sizes = c->seed ^ 0x12345678u;
    unsigned char buf[7000];
    c->bad_at = (size_t)-1;
    while (c->got < c->total) {
        size_t want = 1 + rnd_next(&sizes) % sizeof buf, i;
        ssize_t n = coro_read(c->fd, buf, want, in_ms(10000));
        if (n <= 0) return NULL;
        for (i = 0; i < (size_t)n; i++)
            if (buf[i] != stream_next(&st) && c->bad_at == (size_t)-1) c->bad_at = c->got + i;
        c->got += (size_t)n;
    }
    c->read_all = c->got == c->total;
    c->saw_eof = coro_read(c->fd, buf, sizeof buf, in_ms(10000)) == 0;
    return NULL;
}
static void *client_main(void *arg) {
    echo_client *c = (echo_client *)arg;
    coro_t *w, *r;
    c->fd = coro_tcp_connect("127.0.0.1", echo_port, in_ms(10000));
    if (c->fd < 0) {
        c->connect_err = errno;
    } else {
        w = spawn(client_writer, c);
        r = spawn(client_reader, c);
        coro_joinable(w);
        coro_joinable(r);
        CHECK(coro_join(w, NULL, -1) == 0);
        CHECK(coro_join(r, NULL, -1) == 0);
        coro_close(c->fd);
    }
    if (++clients_done == ECHO_CLIENTS) coro_close(echo_lfd); /* the acceptor ends: EBADF */
    return NULL;
}
static void test_echo_many_clients(void) {
    uint32_t seeds = 2463534242u;
    int i, connected = 0, wrote = 0, read_ok = 0, eofs = 0, intact = 0;
    size_t bytes = 0;
    echo_lfd = coro_tcp_listen("127.0.0.1", 0, 1024);
    CHECK(echo_lfd >= 0);
    echo_port = coro_tcp_port(echo_lfd);
    CHECK(echo_port > 0);
    echo_accepted = echo_handled = clients_done = 0;
    spawn(echo_acceptor, NULL);
    for (i = 0; i < ECHO_CLIENTS; i++) {
        echo_client *c = &clients[i];
        memset(c, 0, sizeof *c);
        c->seed = rnd_next(&seeds);
        c->total = 32 * 1024 + c->seed % (32 * 1024 + 1);
        spawn(client_main, c);
    }
    run_all();
    for (i = 0; i < ECHO_CLIENTS; i++) {
        echo_client *c = &clients[i];
        connected += c->connect_err == 0;
        wrote += c->wrote_all && c->sent == c->total;
        read_ok += c->read_all;
        eofs += c->saw_eof;
        intact += c->read_all && c->bad_at == (size_t)-1;
        bytes += c->got;
        if (c->connect_err || !c->read_all || c->bad_at != (size_t)-1)
            fprintf(stderr, "client %d: connect_err %d sent %zu got %zu of %zu bad_at %ld\n", i,
                    c->connect_err, c->sent, c->got, c->total, (long)c->bad_at);
    }
    CHECK(connected == ECHO_CLIENTS);
    CHECK(wrote == ECHO_CLIENTS);
    CHECK(read_ok == ECHO_CLIENTS);
    CHECK(intact == ECHO_CLIENTS); /* every byte came back, in order */
    CHECK(eofs == ECHO_CLIENTS);
    CHECK(bytes >= (size_t)ECHO_CLIENTS * 32 * 1024);
    CHECK(echo_accepted == ECHO_CLIENTS);
    CHECK(echo_handled == ECHO_CLIENTS); /* every handler saw its client's end of file */
    CHECK(echo_accept_err == EBADF);     /* the listener was closed under the acceptor */
}

/* ---- 2. connection refused ------------------------------------------------------------------ */
static void *refused_body(void *arg) {
    int port = unused_port(), fd;
    struct sockaddr_in sa;
    (void)arg;
    CHECK(port > 0);
    CHECK_ERR(coro_tcp_connect("127.0.0.1", port, in_ms(5000)) == -1, ECONNREFUSED);
    fd = coro_socket(AF_INET, SOCK_STREAM, 0);
    CHECK(fd >= 0);
    loopback(&sa, port);
    CHECK_ERR(coro_connect(fd, (struct sockaddr *)&sa, sizeof sa, in_ms(5000)) == -1,
              ECONNREFUSED);
    coro_close(fd);
    CHECK_ERR(coro_tcp_connect("127.0.0.1", 0, in_ms(5000)) == -1, EINVAL);
    CHECK_ERR(coro_tcp_connect(NULL, port, in_ms(5000)) == -1, EINVAL);
    return NULL;
}
static void test_connection_refused(void) {
    spawn(refused_body, NULL);
    run_all();
}

/* ---- 3. bad fds ---------------------------------------------------------------------------- */
static void check_all_ebadf(int rfd, int wfd) {
    char buf[8] = {0};
    CHECK_ERR(coro_read(rfd, buf, sizeof buf, in_ms(2000)) == -1, EBADF);
    CHECK_ERR(coro_read_full(rfd, buf, sizeof buf, in_ms(2000)) == -1, EBADF);
    CHECK_ERR(coro_write(wfd, buf, sizeof buf, in_ms(2000)) == -1, EBADF);
    CHECK_ERR(coro_wait_fd(rfd, CORO_READ, in_ms(2000)) == -1, EBADF);
    CHECK_ERR(coro_wait_fd(wfd, CORO_WRITE, in_ms(2000)) == -1, EBADF);
    CHECK_ERR(coro_accept(rfd, NULL, NULL, in_ms(2000)) == -1, EBADF);
}
static void *bad_fds_body(void *arg) {
    char buf[8] = {0};
    int p[2], q[2], lfd;
    (void)arg;
    /* -1 */
    CHECK_ERR(coro_read(-1, buf, sizeof buf, in_ms(2000)) == -1, EBADF);
    CHECK_ERR(coro_read_full(-1, buf, sizeof buf, in_ms(2000)) == -1, EBADF);
    CHECK_ERR(coro_write(-1, buf, sizeof buf, in_ms(2000)) == -1, EBADF);
    CHECK_ERR(coro_accept(-1, NULL, NULL, in_ms(2000)) == -1, EBADF);
    CHECK_ERR(coro_wait_fd(-1, CORO_READ, in_ms(2000)) == -1, EBADF); /* like the others */
    /* fds the scheduler never saw, closed behind its back */
    CHECK(test_fd_pair(p) == 0);
    coro_fd_forget(p[0]);
    coro_fd_forget(p[1]);
    raw_close(p[0]);
    raw_close(p[1]);
    check_all_ebadf(p[0], p[1]);
    /* fds it knew, closed with coro_close */
    CHECK(test_fd_pair(q) == 0);
    CHECK(coro_write(q[1], "x", 1, in_ms(2000)) == 1);
    CHECK(coro_read(q[0], buf, sizeof buf, in_ms(2000)) == 1);
    CHECK(coro_close(q[0]) == 0);
    CHECK(coro_close(q[1]) == 0);
    check_all_ebadf(q[0], q[1]);
    /* a listener that was closed */
    lfd = coro_tcp_listen("127.0.0.1", 0, 4);
    CHECK(lfd >= 0);
    CHECK_ERR(coro_accept(lfd, NULL, NULL, 0) == -1, ETIMEDOUT);
    CHECK(coro_close(lfd) == 0);
    CHECK_ERR(coro_accept(lfd, NULL, NULL, in_ms(2000)) == -1, EBADF);
    /* bad event masks */
    CHECK(test_fd_pair(q) == 0);
    CHECK_ERR(coro_wait_fd(q[0], 0, in_ms(2000)) == -1, EINVAL);
    CHECK_ERR(coro_wait_fd(q[0], 4, in_ms(2000)) == -1, EINVAL);
    CHECK_ERR(coro_wait_fd(q[0], CORO_READ | 16, in_ms(2000)) == -1, EINVAL);
    CHECK_ERR(coro_wait_fd(q[0], -1, in_ms(2000)) == -1, EINVAL);
    CHECK(coro_wait_fd(q[1], CORO_WRITE, in_ms(2000)) == CORO_WRITE); /* the fd is fine */
    coro_close(q[0]);
    coro_close(q[1]);
    return NULL;
}
static void test_bad_fds(void) {
    spawn(bad_fds_body, NULL);
    run_all();
}

/* ---- 4. a peer that resets mid-write; a pipe whose reader went away ------------------------- */
enum { BIG = 16 * 1024 * 1024 };
static int reset_lfd, reset_port, reset_err;
static ssize_t reset_ret;
static void *reset_server(void *arg) {
    int fd = coro_accept(reset_lfd, NULL, NULL, in_ms(5000));
    char *big = (char *)malloc(BIG);
    (void)arg;
    CHECK(fd >= 0 && big != NULL);
    memset(big, 'r', BIG);
    reset_ret = coro_write(fd, big, BIG, in_ms(20000));
    reset_err = errno;
    free(big);
    coro_close(fd);
    return NULL;
}
static void *reset_client(void *arg) {
    struct linger lg;
    int fd = coro_tcp_connect("127.0.0.1", reset_port, in_ms(5000));
    (void)arg;
    CHECK(fd >= 0);
    CHECK(await_dump("write fd")); /* the server filled the buffers and waits in coro_write */
    lg.l_onoff = 1;
    lg.l_linger = 0;
    CHECK(raw_setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg) == 0);
    coro_close(fd); /* unread data and linger 0: the kernel sends a reset */
    return NULL;
}
static void test_reset_mid_write(void) {
    reset_lfd = coro_tcp_listen("127.0.0.1", 0, 4);
    reset_port = coro_tcp_port(reset_lfd);
    reset_ret = 0;
    spawn(reset_server, NULL);
    spawn(reset_client, NULL);
    run_all();
    coro_close(reset_lfd);
    CHECK(reset_ret == -1);
    CHECK(reset_err == ECONNRESET || reset_err == EPIPE);
    if (reset_err != ECONNRESET && reset_err != EPIPE)
        fprintf(stderr, "reset: errno %d %s\n", reset_err, strerror(reset_err));
}

#ifndef _WIN32
static int ep_pipe[2], ep_err;
static void *ep_writer(void *arg) {
    char *big = (char *)calloc(1, 1 << 20);
    (void)arg;
    ep_err = coro_write(ep_pipe[1], big, 1 << 20, in_ms(5000)) == -1 ? errno : 0;
    free(big);
    return NULL;
}
static void *ep_closer(void *arg) {
    (void)arg;
    CHECK(await_dump("write fd")); /* the writer waits on the full pipe */
    coro_close(ep_pipe[0]);         /* ... and its reader goes away */
    return NULL;
}
static void *epipe_body(void *arg) {
    int p[2];
    (void)arg;
    CHECK(test_fd_pair(p) == 0);
    CHECK(coro_close(p[0]) == 0);
    CHECK_ERR(coro_write(p[1], "x", 1, in_ms(2000)) == -1, EPIPE); /* alive: no SIGPIPE death */
    coro_close(p[1]);
    return NULL;
}
static void test_epipe_pipe(void) {
    spawn(epipe_body, NULL);
    run_all();
    CHECK(test_fd_pair(ep_pipe) == 0);
    ep_err = -1;
    spawn(ep_writer, NULL);
    spawn(ep_closer, NULL);
    run_all();
    CHECK(ep_err == EPIPE);
    coro_close(ep_pipe[1]);
}

/* In a fresh program (SIGPIPE at its default), the first call into the scheduler is a
   coro_write from main to a pipe whose reader is gone: EPIPE, not death. */
static void sigpipe_from_main_child(void) {
    int p[2];
    ssize_t r;
    signal(SIGPIPE, SIG_DFL); /* ignored signals stay ignored across exec: reset it */
    if (test_fd_pair(p) != 0) _exit(10);
    coro_close(p[0]);
    errno = 0;
    r = coro_write(p[1], "x", 1, -1);
    if (r != -1 || errno != EPIPE) _exit(11);
    _exit(0);
}
static void test_sigpipe_from_main_fresh_process(void) {
    char out[1024];
    int status = run_child(sigpipe_from_main_child, out, sizeof out);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    if (WIFSIGNALED(status)) fprintf(stderr, "child died by signal %d\n", WTERMSIG(status));
    else if (WEXITSTATUS(status)) fprintf(stderr, "child exit %d: %s\n", WEXITSTATUS(status), out);
}

#endif /* !_WIN32 */
/* ---- 5. deadlines on every call ------------------------------------------------------------ */
static void *deadlines_body(void *arg) {
    int sv[2], lfd, c, a;
    char buf[64], *big;
    int64_t t0, d;
    (void)arg;
    unix_pair(sv);
    /* coro_read, nothing to read */
    t0 = coro_now();
    d = t0 + 100;
    CHECK_ERR(coro_read(sv[0], buf, sizeof buf, d) == -1, ETIMEDOUT);
    CHECK(coro_now() >= d);
    CHECK(coro_now() - t0 < 5000);
    /* coro_read_full, part of the data */
    CHECK(raw_write(sv[1], "12345", 5) == 5);
    d = in_ms(100);
    CHECK_ERR(coro_read_full(sv[0], buf, 10, d) == -1, ETIMEDOUT);
    CHECK(coro_now() >= d);
    /* coro_wait_fd */
    d = in_ms(100);
    CHECK_ERR(coro_wait_fd(sv[0], CORO_READ, d) == -1, ETIMEDOUT);
    CHECK(coro_now() >= d);
    coro_close(sv[0]);
    coro_close(sv[1]);

    if (tcp_pair(&c, &a) != 0) return NULL;
    /* coro_write to a peer that never reads */
    big = (char *)malloc(BIG);
    CHECK(big != NULL);
    memset(big, 'w', BIG);
    d = in_ms(200);
    CHECK_ERR(coro_write(c, big, BIG, d) == -1, ETIMEDOUT);
    CHECK(coro_now() >= d);
    free(big);
    coro_close(c);
    coro_close(a);

    /* coro_accept with no client */
    lfd = coro_tcp_listen("127.0.0.1", 0, 4);
    CHECK(lfd >= 0);
    d = in_ms(100);
    CHECK_ERR(coro_accept(lfd, NULL, NULL, d) == -1, ETIMEDOUT);
    CHECK(coro_now() >= d);
    coro_close(lfd);

    /* coro_signal_wait and coro_connect have their own tests below */
    return NULL;
}
static void test_deadlines(void) {
    spawn(deadlines_body, NULL);
    run_all();
}

/* A deadline already past makes each call a non-blocking attempt: what is there now is
   returned, and only what would have to wait fails with ETIMEDOUT. */
static void *deadline_zero_body(void *arg) {
    int sv[2], lfd, port, c1, c2, a;
    char buf[64];
    (void)arg;
    unix_pair(sv);
    CHECK(raw_write(sv[1], "abc", 3) == 3);
    arrived(sv[0]);
    CHECK(coro_read(sv[0], buf, sizeof buf, 0) == 3);
    CHECK_ERR(coro_read(sv[0], buf, sizeof buf, 0) == -1, ETIMEDOUT); /* empty */
    CHECK(coro_write(sv[0], "xyz", 3, 0) == 3);
    CHECK(coro_wait_fd(sv[0], CORO_WRITE, 0) == CORO_WRITE);
    /* data that arrives after an attempt found the fd empty is read by the next attempt */
    CHECK(raw_write(sv[1], "defg", 4) == 4);
    arrived(sv[0]);
    CHECK(coro_read(sv[0], buf, sizeof buf, 0) == 4);
    while (raw_read(sv[0], buf, sizeof buf) > 0) /* drained either way */
        ;
    /* the same for coro_wait_fd */
    CHECK_ERR(coro_wait_fd(sv[0], CORO_READ, 0) == -1, ETIMEDOUT);
    CHECK(raw_write(sv[1], "h", 1) == 1);
    arrived(sv[0]);
    CHECK(coro_wait_fd(sv[0], CORO_READ, 0) == CORO_READ);
    coro_close(sv[0]);
    coro_close(sv[1]);

    /* coro_accept: a pending connection is accepted, none pending is ETIMEDOUT */
    lfd = coro_tcp_listen("127.0.0.1", 0, 16);
    port = coro_tcp_port(lfd);
    c1 = coro_tcp_connect("127.0.0.1", port, in_ms(5000));
    CHECK(c1 >= 0);
    a = coro_accept(lfd, NULL, NULL, 0);
    CHECK(a >= 0);
    if (a >= 0) coro_close(a);
    CHECK_ERR(coro_accept(lfd, NULL, NULL, 0) == -1, ETIMEDOUT);
    c2 = coro_tcp_connect("127.0.0.1", port, in_ms(5000)); /* arrives after the failed attempt */
    CHECK(c2 >= 0);
    a = coro_accept(lfd, NULL, NULL, 0);
    CHECK(a >= 0);
    if (a >= 0) coro_close(a);
    coro_close(c1);
    coro_close(c2);
    coro_close(lfd);
    return NULL;
}
static void test_deadline_zero_is_nonblocking_attempt(void) {
    spawn(deadline_zero_body, NULL);
    run_all();
}

/* coro_connect's deadline: a listener with backlog 1 that never accepts holds two connections
   in its queue; the kernel drops further SYNs (and retransmits only after a second), so the
   next connect stays in progress until its deadline. */
static void *connect_timeout_body(void *arg) {
    enum { MAXC = 16 };
    int lfd = coro_tcp_listen("127.0.0.1", 0, 1), port = coro_tcp_port(lfd), fds[MAXC], n = 0;
    int err = 0, fd, i, a;
    int64_t d = 0;
    struct sockaddr_in sa;
    (void)arg;
    CHECK(lfd >= 0);
    while (n < MAXC) {
        d = in_ms(300);
        fd = coro_tcp_connect("127.0.0.1", port, d);
        if (fd < 0) {
            err = errno;
            break;
        }
        fds[n++] = fd;
    }
    CHECK(n >= 1 && n < MAXC); /* the queue filled up */
    if (getenv("CHECK_VERBOSE")) fprintf(stderr, "   %d connections fit in the queue\n", n);
    CHECK(err == ETIMEDOUT);
    if (err == ETIMEDOUT) CHECK(coro_now() >= d);
    /* coro_connect on a coro_socket times out the same way */
    fd = coro_socket(AF_INET, SOCK_STREAM, 0);
    loopback(&sa, port);
    d = in_ms(200);
    CHECK_ERR(coro_connect(fd, (struct sockaddr *)&sa, sizeof sa, d) == -1, ETIMEDOUT);
    CHECK(coro_now() >= d);
    coro_close(fd);
    /* make room: a new connection gets in */
    a = coro_accept(lfd, NULL, NULL, in_ms(2000));
    CHECK(a >= 0);
    fd = coro_tcp_connect("127.0.0.1", port, in_ms(5000));
    CHECK(fd >= 0);
    if (fd >= 0) coro_close(fd);
    if (a >= 0) coro_close(a);
    for (i = 0; i < n; i++) coro_close(fds[i]);
    coro_close(lfd);
    return NULL;
}
static void test_connect_timeout(void) {
    spawn(connect_timeout_body, NULL);
    run_all();
}

/* ---- 6. one reader and one writer per fd ---------------------------------------------------- */
static int busy_sv[2], busy_fd_w, busy_fd_peer;
static ssize_t first_read;
static void *first_reader(void *arg) {
    char buf[16];
    (void)arg;
    first_read = coro_read(busy_sv[0], buf, sizeof buf, in_ms(5000));
    return NULL;
}
static void *first_writer(void *arg) {
    char *big = (char *)calloc(1, 4 << 20);
    (void)arg;
    CHECK(coro_write(busy_fd_w, big, 4 << 20, in_ms(10000)) == 4 << 20);
    free(big);
    return NULL;
}
static void *second_caller(void *arg) {
    static char sink[65536];
    char buf[16] = {0};
    ssize_t n;
    size_t total = 0;
    (void)arg;
    /* first_reader waits on busy_sv[0]: a second reader fails at once */
    CHECK_ERR(coro_read(busy_sv[0], buf, sizeof buf, in_ms(3000)) == -1, EBUSY);
    CHECK_ERR(coro_read_full(busy_sv[0], buf, sizeof buf, in_ms(3000)) == -1, EBUSY);
    CHECK_ERR(coro_wait_fd(busy_sv[0], CORO_READ, in_ms(3000)) == -1, EBUSY);
    CHECK(coro_wait_fd(busy_sv[0], CORO_WRITE, in_ms(3000)) == CORO_WRITE); /* slot is free */
    /* first_writer waits on the full busy_fd_w: a second writer fails at once */
    CHECK_ERR(coro_write(busy_fd_w, buf, sizeof buf, in_ms(3000)) == -1, EBUSY);
    CHECK_ERR(coro_wait_fd(busy_fd_w, CORO_WRITE, in_ms(3000)) == -1, EBUSY);
    /* the first ones still complete */
    CHECK(raw_write(busy_sv[1], "hi", 2) == 2);
    while (total < (4u << 20) &&
           (n = coro_read(busy_fd_peer, sink, sizeof sink, in_ms(10000))) > 0)
        total += (size_t)n;
    CHECK(total == 4u << 20);
    return NULL;
}
static void test_second_reader_and_writer_busy(void) {
    int wp[2];
    unix_pair(busy_sv);
    unix_pair(wp);
    busy_fd_w = wp[0];
    busy_fd_peer = wp[1];
    first_read = 0;
    spawn(first_reader, NULL);
    spawn(first_writer, NULL);
    spawn(second_caller, NULL);
    run_all();
    CHECK(first_read == 2);
    coro_close(busy_sv[0]);
    coro_close(busy_sv[1]);
    coro_close(wp[0]);
    coro_close(wp[1]);
}

/* a reader and a writer on the same socket at once, both blocked at the same time */
enum { RW_OUT = 4 << 20, RW_IN = 1 << 20 };
static int rw_sv[2], rw_both_seen;
static void *rw_reader(void *arg) {
    char *in = (char *)malloc(RW_IN);
    size_t i, bad = 0;
    (void)arg;
    CHECK(coro_read_full(rw_sv[0], in, RW_IN, in_ms(10000)) == RW_IN);
    for (i = 0; i < RW_IN; i++) bad += in[i] != (char)(i * 7);
    CHECK(bad == 0);
    free(in);
    return NULL;
}
static void *rw_writer(void *arg) {
    char *out = (char *)malloc(RW_OUT);
    size_t i;
    (void)arg;
    for (i = 0; i < RW_OUT; i++) out[i] = (char)(i * 3);
    CHECK(coro_write(rw_sv[0], out, RW_OUT, in_ms(10000)) == RW_OUT);
    free(out);
    return NULL;
}
static void *rw_peer(void *arg) {
    char *buf = (char *)malloc(RW_OUT);
    size_t i, bad = 0;
    char want[32];
    (void)arg;
    snprintf(want, sizeof want, "write fd %d", rw_sv[0]);
    rw_both_seen = await_dump(want);
    snprintf(want, sizeof want, "read fd %d", rw_sv[0]);
    rw_both_seen = rw_both_seen && dump_has(want); /* both wait on the same fd now */
    CHECK(coro_read_full(rw_sv[1], buf, RW_OUT, in_ms(10000)) == RW_OUT);
    for (i = 0; i < RW_OUT; i++) bad += buf[i] != (char)(i * 3);
    CHECK(bad == 0);
    for (i = 0; i < RW_IN; i++) buf[i] = (char)(i * 7);
    CHECK(coro_write(rw_sv[1], buf, RW_IN, in_ms(10000)) == RW_IN);
    free(buf);
    return NULL;
}
static void test_reader_and_writer_at_once(void) {
    unix_pair(rw_sv);
    rw_both_seen = 0;
    spawn(rw_reader, NULL);
    spawn(rw_writer, NULL);
    spawn(rw_peer, NULL);
    run_all();
    CHECK(rw_both_seen);
    coro_close(rw_sv[0]);
    coro_close(rw_sv[1]);
}

/* ---- 7. close, kill and raise of coroutines blocked in I/O ---------------------------------- */
static int cl_sv[2], cl_full[2], cl_lfd;
static int cl_read_err, cl_write_err, cl_accept_err, cl_rw_read_err;
static void *cl_reader(void *arg) {
    char buf[8];
    (void)arg;
    cl_read_err = coro_read(cl_sv[0], buf, sizeof buf, in_ms(5000)) == -1 ? errno : 0;
    return NULL;
}
static void *cl_writer(void *arg) {
    char *big = (char *)calloc(1, 4 << 20);
    (void)arg;
    cl_write_err = coro_write(cl_full[0], big, 4 << 20, in_ms(5000)) == -1 ? errno : 0;
    free(big);
    return NULL;
}
static void *cl_rw_reader(void *arg) { /* reads cl_full[0] while cl_writer writes it */
    char buf[8];
    (void)arg;
    cl_rw_read_err = coro_read(cl_full[0], buf, sizeof buf, in_ms(5000)) == -1 ? errno : 0;
    return NULL;
}
static void *cl_acceptor(void *arg) {
    (void)arg;
    cl_accept_err = coro_accept(cl_lfd, NULL, NULL, in_ms(5000)) == -1 ? errno : 0;
    return NULL;
}
static void *cl_closer(void *arg) {
    (void)arg;
    CHECK(await_dump("write fd"));
    CHECK(coro_close(cl_sv[0]) == 0);
    CHECK(coro_close(cl_full[0]) == 0); /* a reader and a writer wait on it */
    CHECK(coro_close(cl_lfd) == 0);
    return NULL;
}
static void test_close_wakes_blocked(void) {
    unix_pair(cl_sv);
    unix_pair(cl_full);
    cl_lfd = coro_tcp_listen("127.0.0.1", 0, 4);
    cl_read_err = cl_write_err = cl_accept_err = cl_rw_read_err = -1;
    spawn(cl_reader, NULL);
    spawn(cl_writer, NULL);
    spawn(cl_rw_reader, NULL);
    spawn(cl_acceptor, NULL);
    spawn(cl_closer, NULL);
    run_all();
    CHECK(cl_read_err == EBADF);
    CHECK(cl_write_err == EBADF);
    CHECK(cl_rw_read_err == EBADF);
    CHECK(cl_accept_err == EBADF);
    coro_close(cl_sv[1]);
    coro_close(cl_full[1]);
}

/* kill: the victim's cleanups run, coro_count drops, and its fd slot is free again */
enum { K_READ, K_WRITE, K_ACCEPT };
static int k_fd, k_peer, k_lfd, k_port, k_continued;
static size_t k_drained;
static char k_tail[4];
static void *k_victim(void *arg) {
    char buf[8];
    (void)coro_defer(count_cleanup, NULL);
    switch (I(arg)) {
    case K_READ: coro_read(k_fd, buf, sizeof buf, in_ms(10000)); break;
    case K_WRITE: {
        char *big = (char *)calloc(1, 4 << 20);
        coro_defer(free_cleanup, big); /* freed by the kill, or valgrind sees a leak */
        coro_write(k_fd, big, 4 << 20, in_ms(10000));
        break;
    }
    case K_ACCEPT: coro_accept(k_lfd, NULL, NULL, in_ms(10000)); break;
    }
    k_continued = 1; /* never: killed while blocked */
    return NULL;
}
static void *k_drainer(void *arg) {
    char buf[4096];
    ssize_t n;
    (void)arg;
    while ((n = coro_read(k_peer, buf, sizeof buf, in_ms(5000))) > 0) {
        k_drained += (size_t)n;
        if (n >= 4) {
            memcpy(k_tail, buf + n - 4, 4);
        } else { /* keep the last 4 bytes seen */
            memmove(k_tail, k_tail + n, (size_t)(4 - n));
            memcpy(k_tail + 4 - n, buf, (size_t)n);
        }
    }
    CHECK(n == 0);
    return NULL;
}
static void *k_killer(void *arg) {
    coro_t *victim = (coro_t *)arg;
    size_t before = coro_count();
    int kind = (int)I(coro_data(victim)), c, a;
    char buf[8];
    CHECK(await_dump(kind == K_WRITE ? "write fd" : "read fd"));
    CHECK(coro_kill(victim) == 0);
    CHECK(cleanups == (kind == K_WRITE ? 2 : 1));
    CHECK(coro_count() == before - 1);
    CHECK(!dump_has("read fd") && !dump_has("write fd"));
    switch (kind) {
    case K_READ: /* another coroutine can read the fd now */
        CHECK(raw_write(k_peer, "z", 1) == 1);
        CHECK(coro_read(k_fd, buf, sizeof buf, in_ms(2000)) == 1);
        break;
    case K_WRITE: /* ... or write it: we wait for room while the drainer reads */
        spawn(k_drainer, NULL);
        CHECK(coro_write(k_fd, "tail", 4, in_ms(10000)) == 4);
        coro_close(k_fd);
        k_fd = -1;
        break;
    case K_ACCEPT: /* ... or accept on it */
        c = coro_tcp_connect("127.0.0.1", k_port, in_ms(5000));
        CHECK(c >= 0);
        a = coro_accept(k_lfd, NULL, NULL, in_ms(2000));
        CHECK(a >= 0);
        coro_close(c);
        coro_close(a);
        break;
    }
    return NULL;
}
/* the fds a kill or raise case blocks on: a socket pair (k_fd, k_peer) and a listener */
static void k_open(void) {
    int sv[2];
    unix_pair(sv);
    k_fd = sv[0];
    k_peer = sv[1];
    k_lfd = coro_tcp_listen("127.0.0.1", 0, 4);
    k_port = coro_tcp_port(k_lfd);
    k_drained = 0;
    memset(k_tail, 0, sizeof k_tail);
}
static void k_close(void) {
    if (k_fd >= 0) coro_close(k_fd); /* (the write cases close it themselves) */
    coro_close(k_peer);
    coro_close(k_lfd);
}
static void kill_case(int kind) {
    coro_t *v;
    k_open();
    k_continued = 0;
    cleanups = 0;
    v = spawn(k_victim, P(kind));
    coro_set_data(v, P(kind));
    spawn(k_killer, v);
    run_all();
    CHECK(!k_continued);
    if (kind == K_WRITE) {
        CHECK(k_drained >= 4);
        CHECK(memcmp(k_tail, "tail", 4) == 0);
    }
    k_close();
}
static void test_kill_blocked_io(void) {
    kill_case(K_READ);
    kill_case(K_WRITE);
    kill_case(K_ACCEPT);
}

/* raise: the blocked call fails with ECANCELED and the coroutine carries on */
static int r_first_err, r_second_ok;
static void *r_victim(void *arg) {
    char buf[8];
    int kind = (int)I(arg), a;
    switch (kind) {
    case K_READ:
        r_first_err = coro_read(k_fd, buf, sizeof buf, in_ms(10000)) == -1 ? errno : 0;
        r_second_ok = coro_read(k_fd, buf, sizeof buf, in_ms(10000)) == 1 && buf[0] == 'q';
        break;
    case K_WRITE: {
        char *big = (char *)calloc(1, 4 << 20);
        r_first_err = coro_write(k_fd, big, 4 << 20, in_ms(10000)) == -1 ? errno : 0;
        free(big);
        r_second_ok = coro_write(k_fd, "tail", 4, in_ms(10000)) == 4;
        coro_close(k_fd); /* the drainer sees the end */
        k_fd = -1;
        break;
    }
    case K_ACCEPT:
        r_first_err = coro_accept(k_lfd, NULL, NULL, in_ms(10000)) == -1 ? errno : 0;
        a = coro_accept(k_lfd, NULL, NULL, in_ms(10000));
        r_second_ok = a >= 0;
        if (a >= 0) coro_close(a);
        break;
    }
    return NULL;
}
static void *r_raiser(void *arg) {
    coro_t *victim = (coro_t *)arg;
    int kind = (int)I(coro_data(victim)), c;
    CHECK(await_dump(kind == K_WRITE ? "write fd" : "read fd"));
    coro_raise(victim, ECANCELED); /* returns once the victim blocks again */
    CHECK(r_first_err == ECANCELED);
    CHECK(coro_count() == 2); /* it carries on */
    CHECK(dump_has(kind == K_WRITE ? "write fd" : "read fd")); /* in its second call */
    switch (kind) {
    case K_READ: CHECK(raw_write(k_peer, "q", 1) == 1); break;
    case K_WRITE: spawn(k_drainer, NULL); break;
    case K_ACCEPT:
        c = coro_tcp_connect("127.0.0.1", k_port, in_ms(5000));
        CHECK(c >= 0);
        coro_sleep(20); /* let the victim accept before closing our end */
        if (c >= 0) coro_close(c);
        break;
    }
    return NULL;
}
static void raise_case(int kind) {
    coro_t *v;
    k_open();
    r_first_err = -1;
    r_second_ok = 0;
    v = spawn(r_victim, P(kind));
    coro_set_data(v, P(kind));
    spawn(r_raiser, v);
    run_all();
    CHECK(r_second_ok);
    if (kind == K_WRITE) CHECK(memcmp(k_tail, "tail", 4) == 0);
    k_close();
}
static void test_raise_blocked_io(void) {
    raise_case(K_READ);
    raise_case(K_WRITE);
    raise_case(K_ACCEPT);
}

/* ---- 8. end of file ------------------------------------------------------------------------ */
static int eof_sv[2];
static void *eof_waiting_reader(void *arg) {
    char buf[16];
    (void)arg;
    CHECK(coro_read(eof_sv[0], buf, sizeof buf, in_ms(5000)) == 0); /* woken by the close */
    CHECK(coro_read(eof_sv[0], buf, sizeof buf, in_ms(5000)) == 0);
    return NULL;
}
static void *eof_closer(void *arg) {
    (void)arg;
    CHECK(await_dump("read fd"));
    coro_close(eof_sv[1]);
    return NULL;
}
static void *eof_body(void *arg) {
    int sv[2], p[2], c, a;
    char buf[16];
    (void)arg;
    /* data, then the end: coro_read returns what is there, then 0, again and again */
    unix_pair(sv);
    CHECK(raw_write(sv[1], "hello", 5) == 5);
    CHECK(raw_shutdown(sv[1], SHUT_WR) == 0);
    CHECK(coro_read(sv[0], buf, sizeof buf, in_ms(2000)) == 5);
    CHECK(coro_read(sv[0], buf, sizeof buf, in_ms(2000)) == 0);
    CHECK(coro_read(sv[0], buf, sizeof buf, in_ms(2000)) == 0);
    coro_close(sv[0]);
    coro_close(sv[1]);
    /* coro_read_full: the end before len bytes is EPIPE */
    unix_pair(sv);
    CHECK(raw_write(sv[1], "hello", 5) == 5);
    coro_close(sv[1]);
    CHECK_ERR(coro_read_full(sv[0], buf, 10, in_ms(2000)) == -1, EPIPE);
    coro_close(sv[0]);
    unix_pair(sv);
    CHECK(raw_write(sv[1], "hello", 5) == 5);
    coro_close(sv[1]);
    CHECK(coro_read_full(sv[0], buf, 5, in_ms(2000)) == 5); /* exactly what was there */
    CHECK_ERR(coro_read_full(sv[0], buf, 1, in_ms(2000)) == -1, EPIPE);
    coro_close(sv[0]);
    /* a pipe */
    CHECK(test_fd_pair(p) == 0);
    CHECK(coro_write(p[1], "abc", 3, in_ms(2000)) == 3);
    coro_close(p[1]);
    CHECK_ERR(coro_read_full(p[0], buf, 4, in_ms(2000)) == -1, EPIPE);
    CHECK(coro_read(p[0], buf, sizeof buf, in_ms(2000)) == 0);
    coro_close(p[0]);
    /* TCP: the peer closes */
    if (tcp_pair(&c, &a) != 0) return NULL;
    CHECK(coro_write(a, "tcp", 3, in_ms(2000)) == 3);
    coro_close(a);
    CHECK(coro_read_full(c, buf, 3, in_ms(2000)) == 3);
    CHECK(coro_read(c, buf, sizeof buf, in_ms(2000)) == 0);
    coro_close(c);
    return NULL;
}
static void test_eof(void) {
    spawn(eof_body, NULL);
    run_all();
    unix_pair(eof_sv);
    spawn(eof_waiting_reader, NULL);
    spawn(eof_closer, NULL);
    run_all();
    coro_close(eof_sv[0]);
}

#ifndef _WIN32
/* ---- 9. accept when the process is out of fds: backs off instead of spinning ---------------- */
enum { EMFILE_FILLERS = 4 };
static int em_lfd, em_fillers[64], em_nfill, em_fail, em_accepted = -1;
static long em_cpu_us;
static int64_t em_window_ms;
static long cpu_us(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (long)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000L + ru.ru_utime.tv_usec +
           ru.ru_stime.tv_usec;
}
static void *em_setup(void *arg) {
    struct rlimit rl;
    int lowest, f;
    (void)arg;
    lowest = fcntl(em_lfd, F_DUPFD, 0); /* the lowest free fd */
    raw_close(lowest);
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0) em_fail |= 1;
    rl.rlim_cur = (rlim_t)(lowest + EMFILE_FILLERS);
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0) em_fail |= 2;
    while (em_nfill < 64 && (f = dup(em_lfd)) >= 0) em_fillers[em_nfill++] = f;
    if (errno != EMFILE || em_nfill == 0) em_fail |= 4;
    return NULL;
}
static void *em_acceptor(void *arg) {
    char buf[8];
    (void)arg;
    em_accepted = coro_accept(em_lfd, NULL, NULL, in_ms(10000));
    if (em_accepted < 0) {
        fprintf(stderr, "emfile: coro_accept: %s\n", strerror(errno));
        em_fail |= 8;
        return NULL;
    }
    if (coro_read_full(em_accepted, buf, 5, in_ms(5000)) != 5 || memcmp(buf, "hello", 5) != 0)
        em_fail |= 16;
    coro_close(em_accepted);
    return NULL;
}
static void *em_monitor(void *arg) {
    long c0;
    int64_t t0;
    int i, backoff_seen = 0;
    (void)arg;
    coro_sleep(20);
    c0 = cpu_us();
    t0 = coro_now();
    /* it sleeps between attempts: seen so at least once in 30 looks (a single look can find
       it just woken, "ready", on a loaded machine) */
    for (i = 0; i < 30; i++) {
        coro_sleep(10);
        if (!backoff_seen && dump_has("accept backoff")) backoff_seen = 1;
    }
    em_cpu_us = cpu_us() - c0;
    em_window_ms = coro_now() - t0;
    if (em_accepted != -1) em_fail |= 32; /* it cannot have accepted: no fd */
    if (!backoff_seen) em_fail |= 64;
    if (em_cpu_us > em_window_ms * 1000 / 3) em_fail |= 128; /* a spinning loop burns it all */
    raw_close(em_fillers[--em_nfill]); /* one fd free: the next attempt succeeds */
    return NULL;
}
static void emfile_child(void) {
    struct sockaddr_in sa;
    int client, i;
    em_lfd = coro_tcp_listen("127.0.0.1", 0, 16);
    if (em_lfd < 0) _exit(100);
    /* a client that connects before the limit: it waits in the listener's queue */
    client = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    loopback(&sa, coro_tcp_port(em_lfd));
    if (connect(client, (struct sockaddr *)&sa, sizeof sa) != 0) _exit(101);
    if (raw_write(client, "hello", 5) != 5) _exit(102);
    spawn(em_setup, NULL); /* inside the loop: the poller already has its fd */
    spawn(em_acceptor, NULL);
    spawn(em_monitor, NULL);
    if (coro_run() != 0) _exit(103);
    fprintf(stderr, "emfile: cpu %ld us over %lld ms, fillers %d, fail 0x%x\n%s", em_cpu_us,
            (long long)em_window_ms, em_nfill + 1, (unsigned)em_fail, dump_buf);
    for (i = 0; i < em_nfill; i++) raw_close(em_fillers[i]);
    raw_close(client);
    coro_close(em_lfd);
    coro_sched_free();
    _exit(em_fail ? 1 : 0);
}
static void test_accept_emfile_backoff(void) {
    char out[4096];
    int status = run_child(emfile_child, out, sizeof out);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        fprintf(stderr, "child status 0x%x said: %s\n", status, out);
}

#endif /* !_WIN32 */
/* ---- 10. coro_wait_fd is level-triggered --------------------------------------------------- */
static int lv_sv[2], lv_phase;
static void *lv_waiter(void *arg) {
    char buf[64];
    int64_t d;
    (void)arg;
    /* woken by the first data: it stays unread, so every later wait reports it at once */
    CHECK(coro_wait_fd(lv_sv[0], CORO_READ, in_ms(5000)) == CORO_READ);
    CHECK(coro_wait_fd(lv_sv[0], CORO_READ, in_ms(5000)) == CORO_READ);
    CHECK(coro_wait_fd(lv_sv[0], CORO_READ, 0) == CORO_READ);
    CHECK(raw_read(lv_sv[0], buf, 2) == 2); /* a part, behind the scheduler's back */
    CHECK(coro_wait_fd(lv_sv[0], CORO_READ, in_ms(5000)) == CORO_READ);
    CHECK(coro_read(lv_sv[0], buf, 3, in_ms(5000)) == 3); /* exactly what was asked */
    CHECK(coro_wait_fd(lv_sv[0], CORO_READ, in_ms(5000)) == CORO_READ);
    CHECK(coro_read(lv_sv[0], buf, sizeof buf, in_ms(5000)) == 5); /* the rest */
    d = in_ms(50);
    CHECK_ERR(coro_wait_fd(lv_sv[0], CORO_READ, d) == -1, ETIMEDOUT); /* nothing left */
    CHECK(coro_now() >= d);
    /* all of it read plainly: the next wait sleeps until new data */
    lv_phase = 1;
    CHECK(coro_wait_fd(lv_sv[0], CORO_READ, in_ms(5000)) == CORO_READ);
    CHECK(raw_read(lv_sv[0], buf, sizeof buf) == 4);
    lv_phase = 2;
    CHECK(coro_wait_fd(lv_sv[0], CORO_READ, in_ms(5000)) == CORO_READ);
    CHECK(coro_read(lv_sv[0], buf, sizeof buf, in_ms(5000)) == 3);
    /* writable stays writable */
    CHECK(coro_wait_fd(lv_sv[0], CORO_WRITE, in_ms(5000)) == CORO_WRITE);
    CHECK(coro_wait_fd(lv_sv[0], CORO_WRITE, in_ms(5000)) == CORO_WRITE);
    /* a hangup counts as both, every time */
    lv_phase = 3;
    CHECK(coro_wait_fd(lv_sv[0], CORO_READ, in_ms(5000)) == CORO_READ);
    CHECK(coro_wait_fd(lv_sv[0], CORO_READ | CORO_WRITE, in_ms(5000)) == (CORO_READ | CORO_WRITE));
    CHECK(coro_wait_fd(lv_sv[0], CORO_READ | CORO_WRITE, in_ms(5000)) == (CORO_READ | CORO_WRITE));
    CHECK(coro_read(lv_sv[0], buf, sizeof buf, in_ms(5000)) == 0);
    return NULL;
}
static void *lv_feeder(void *arg) {
    int64_t end = in_ms(10000);
    (void)arg;
    CHECK(await_dump("read fd"));
    CHECK(raw_write(lv_sv[1], "0123456789", 10) == 10);
    while (lv_phase < 1 && coro_now() < end) coro_sleep(2);
    coro_sleep(10);
    CHECK(raw_write(lv_sv[1], "abcd", 4) == 4);
    while (lv_phase < 2 && coro_now() < end) coro_sleep(2);
    coro_sleep(10);
    CHECK(raw_write(lv_sv[1], "xyz", 3) == 3);
    while (lv_phase < 3 && coro_now() < end) coro_sleep(2);
    coro_sleep(10);
    coro_close(lv_sv[1]);
    return NULL;
}
static void test_wait_fd_level(void) {
    unix_pair(lv_sv);
    lv_phase = 0;
    spawn(lv_waiter, NULL);
    spawn(lv_feeder, NULL);
    run_all();
    coro_close(lv_sv[0]);
}

/* ---- 11. offload to worker threads --------------------------------------------------------- */
/* Four offloaded naps meet at a barrier: each waits (up to 20 s) until all four have started.
   If the workers ran them one after another, the first would give up alone. No timing is
   compared, so a slow machine or valgrind cannot fail this; only serialised jobs can. */
typedef struct {
    int met; /* saw all four naps started */
} nap_t;
static nap_t naps[4];
static int naps_started; /* atomic */
static int64_t mono_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}
static void sleep_ms(long ms) {
    struct timespec ts;
    ts.tv_sec = ms / 1000;
    ts.tv_nsec = (ms % 1000) * 1000000L;
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}
static void *nap(void *arg) {
    nap_t *n = (nap_t *)arg;
    int64_t give_up = mono_us() + 20 * 1000000;
    __atomic_add_fetch(&naps_started, 1, __ATOMIC_ACQ_REL);
    while (__atomic_load_n(&naps_started, __ATOMIC_ACQUIRE) < 4 && mono_us() < give_up)
        sleep_ms(1);
    n->met = __atomic_load_n(&naps_started, __ATOMIC_ACQUIRE) >= 4;
    return arg;
}
static void *napper(void *arg) {
    void *res = NULL;
    CHECK(coro_offload(nap, arg, &res) == 0);
    CHECK(res == arg);
    return NULL;
}
static void *whoami(void *arg) {
    *(pthread_t *)arg = pthread_self();
    return P(42);
}
static void spawn_nappers(void) {
    int i;
    memset(naps, 0, sizeof naps);
    __atomic_store_n(&naps_started, 0, __ATOMIC_RELEASE);
    for (i = 0; i < 4; i++) spawn(napper, &naps[i]);
}
/* all four ran at the same time: each saw the other three started while it still ran */
static int naps_overlap(void) {
    int i, all = 1;
    for (i = 0; i < 4; i++)
        if (!naps[i].met) {
            fprintf(stderr, "nap %d gave up waiting for the others\n", i);
            all = 0;
        }
    return all;
}
static void *offload_body(void *arg) {
    pthread_t th = pthread_self();
    void *res = NULL;
    (void)arg;
    CHECK(coro_offload(whoami, &th, &res) == 0);
    CHECK(res == P(42));
    CHECK(!pthread_equal(th, pthread_self())); /* fn ran on another thread */
    CHECK(coro_offload(whoami, &th, NULL) == 0); /* result NULL: not stored */
    CHECK_ERR(coro_offload(NULL, NULL, NULL) == -1, EINVAL);
    spawn_nappers(); /* now with a worker already idle */
    return NULL;
}
static void test_offload(void) {
    CHECK_ERR(coro_offload(whoami, NULL, NULL) == -1, EPERM); /* main is not spawned */
    spawn_nappers(); /* no worker yet */
    run_all();
    CHECK(naps_overlap());
    spawn(offload_body, NULL);
    run_all();
    CHECK(naps_overlap());
}

/* raised while fn runs: the call returns ECANCELED, but only after fn finished */
static int slow_started; /* a worker has started slow_set (atomic) */
static void *slow_set(void *arg) {
    __atomic_store_n(&slow_started, 1, __ATOMIC_RELEASE);
    sleep_ms(100);
    *(int *)arg = 1;
    return NULL;
}
static int of_err, of_done_at_return;
static void *of_victim(void *arg) {
    int done = 0;
    (void)arg;
    of_err = coro_offload(slow_set, &done, NULL) == -1 ? errno : 0;
    of_done_at_return = done;
    return NULL;
}
static void *of_raiser(void *arg) {
    int64_t end = in_ms(5000);
    CHECK(await_dump("offload"));
    /* a job no worker has started would be dropped: raise once slow_set runs */
    while (!__atomic_load_n(&slow_started, __ATOMIC_ACQUIRE) && coro_now() < end) coro_sleep(1);
    coro_raise((coro_t *)arg, ECANCELED);
    CHECK(of_err == -1); /* still waiting for fn */
    return NULL;
}
static void test_offload_raised(void) {
    coro_t *v;
    of_err = -1;
    of_done_at_return = slow_started = 0;
    v = spawn(of_victim, NULL);
    spawn(of_raiser, v);
    run_all();
    CHECK(of_err == ECANCELED);
    CHECK(of_done_at_return == 1);
}

/* names are resolved on a worker thread */
static int lh_lfd, lh_port, lh_saw_offload, lh_ok;
static void *lh_connector(void *arg) {
    char buf[4];
    int fd = coro_tcp_connect("localhost", lh_port, in_ms(10000));
    (void)arg;
    CHECK(fd >= 0);
    if (fd < 0) return NULL;
    CHECK(coro_write(fd, "ping", 4, in_ms(5000)) == 4);
    CHECK(coro_read_full(fd, buf, 4, in_ms(5000)) == 4);
    lh_ok = memcmp(buf, "pong", 4) == 0;
    coro_close(fd);
    return NULL;
}
static void *lh_observer(void *arg) {
    (void)arg;
    lh_saw_offload = dump_has("offload"); /* the connector waits for the resolver */
    return NULL;
}
static void *lh_server(void *arg) {
    char buf[4];
    int fd = coro_accept(lh_lfd, NULL, NULL, in_ms(10000));
    (void)arg;
    CHECK(fd >= 0);
    if (fd < 0) return NULL;
    CHECK(coro_read_full(fd, buf, 4, in_ms(5000)) == 4 && memcmp(buf, "ping", 4) == 0);
    CHECK(coro_write(fd, "pong", 4, in_ms(5000)) == 4);
    coro_close(fd);
    return NULL;
}
static void test_tcp_connect_localhost(void) {
    lh_lfd = coro_tcp_listen("127.0.0.1", 0, 16);
    lh_port = coro_tcp_port(lh_lfd);
    lh_saw_offload = lh_ok = 0;
    spawn(lh_connector, NULL);
    spawn(lh_observer, NULL);
    spawn(lh_server, NULL);
    run_all();
    CHECK(lh_saw_offload);
    CHECK(lh_ok);
    coro_close(lh_lfd);
}

#ifndef _WIN32
/* ---- 12. signals --------------------------------------------------------------------------- */
static int sig_got[2];
static void *sig_waiter(void *arg) {
    sigset_t set;
    (void)arg;
    sigemptyset(&set);
    sigaddset(&set, SIGUSR1);
    sig_got[0] = coro_signal_wait(&set, in_ms(5000)); /* raise() */
    sig_got[1] = coro_signal_wait(&set, in_ms(5000)); /* kill() */
    return NULL;
}
static void *sig_sender(void *arg) {
    (void)arg;
    CHECK(await_dump("signal"));
    CHECK(raise(SIGUSR1) == 0);
    coro_sleep(10);
    CHECK(await_dump("signal"));
    CHECK(kill(getpid(), SIGUSR1) == 0);
    return NULL;
}
static void *sig_misc(void *arg) {
    sigset_t set;
    int64_t d;
    (void)arg;
    sigemptyset(&set);
    CHECK_ERR(coro_signal_wait(&set, in_ms(1000)) == -1, EINVAL); /* empty */
    CHECK_ERR(coro_signal_wait(NULL, in_ms(1000)) == -1, EINVAL);
    sigaddset(&set, SIGKILL);
    CHECK_ERR(coro_signal_wait(&set, in_ms(1000)) == -1, EINVAL);
    sigemptyset(&set);
    sigaddset(&set, SIGUSR1);
    d = in_ms(100);
    CHECK_ERR(coro_signal_wait(&set, d) == -1, ETIMEDOUT);
    CHECK(coro_now() >= d);
    /* a signal that came while nobody waited is recorded for the next wait */
    CHECK(raise(SIGUSR1) == 0);
    CHECK(coro_signal_wait(&set, in_ms(5000)) == SIGUSR1);
    return NULL;
}

/* A signal recorded for an earlier set, outside this wait's set, is not reported to it: the
   wait times out (and the signal is kept for a wait that asks for it). Run in a fresh process
   with an alarm, as a failure here means a loop that never returns. */
static void *sig_other_body(void *arg) {
    sigset_t set;
    (void)arg;
    sigemptyset(&set);
    sigaddset(&set, SIGUSR1);
    sigaddset(&set, SIGUSR2);
    if (coro_signal_wait(&set, 0) != -1 || errno != ETIMEDOUT) _exit(20); /* installs both */
    if (raise(SIGUSR2) != 0) _exit(21);
    sigdelset(&set, SIGUSR2);
    if (coro_signal_wait(&set, in_ms(50)) != -1 || errno != ETIMEDOUT) _exit(22);
    sigaddset(&set, SIGUSR2);
    if (coro_signal_wait(&set, in_ms(5000)) != SIGUSR2) _exit(23);
    return NULL;
}
static void signal_other_pending_child(void) {
    alarm(3); /* SIGALRM ends a wait that never returns */
    coro_spawn(sig_other_body, NULL, 0);
    if (coro_run() != 0) _exit(24);
    coro_sched_free();
    _exit(0);
}
/* Under qemu-i386 (qemu-user 7.2), a process that mixes signals with worker threads loses, in
   some runs, the errno the C library sets (raw_close(-1) leaves errno 0 afterwards): the emulator's
   view of the main thread's thread pointer goes astray. It does not happen natively or under
   qemu-aarch64, so only there are these checks skipped, visibly. */
static int under_qemu_i386(void) {
    const char *e = getenv("CORO_TEST_EMULATOR");
    return e && strstr(e, "qemu-i386") != NULL;
}
static void test_signal_wait(void) {
    sigset_t set;
    if (under_qemu_i386()) {
        printf("SKIPPED test_signal_wait: qemu-i386 loses errno after signals with threads\n");
        return;
    }
    sigemptyset(&set);
    sigaddset(&set, SIGUSR1);
    CHECK_ERR(coro_signal_wait(&set, 0) == -1, EPERM); /* from main */
    sig_got[0] = sig_got[1] = 0;
    spawn(sig_waiter, NULL);
    spawn(sig_sender, NULL);
    run_all();
    CHECK(sig_got[0] == SIGUSR1);
    CHECK(sig_got[1] == SIGUSR1);
    spawn(sig_misc, NULL);
    run_all();
}
static void test_signal_other_pending(void) {
    char out[1024];
    int status = run_child(signal_other_pending_child, out, sizeof out);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    if (WIFSIGNALED(status)) fprintf(stderr, "child died by signal %d\n", WTERMSIG(status));
    else if (WEXITSTATUS(status)) fprintf(stderr, "child exit %d: %s\n", WEXITSTATUS(status), out);
}

/* ---- 13. coro_pipe ------------------------------------------------------------------------- */
enum { PIPE_BYTES = 1 << 20 };
static int pp[2];
static size_t pp_got, pp_bad = (size_t)-1;
static void *pipe_writer(void *arg) {
    static unsigned char buf[70000];
    uint32_t st = 777, sizes = 4242;
    size_t sent = 0;
    (void)arg;
    while (sent < PIPE_BYTES) {
        size_t n = 1 + rnd_next(&sizes) % sizeof buf, i;
        if (n > PIPE_BYTES - sent) n = PIPE_BYTES - sent;
        for (i = 0; i < n; i++) buf[i] = stream_next(&st);
        if (coro_write(pp[1], buf, n, in_ms(5000)) != (ssize_t)n) break;
        sent += n;
    }
    CHECK(sent == PIPE_BYTES);
    coro_close(pp[1]);
    return NULL;
}
static void *pipe_reader(void *arg) {
    unsigned char buf[10000];
    uint32_t st = 777, sizes = 99;
    ssize_t n;
    (void)arg;
    while ((n = coro_read(pp[0], buf, 1 + rnd_next(&sizes) % sizeof buf, in_ms(5000))) > 0) {
        ssize_t i;
        for (i = 0; i < n; i++)
            if (buf[i] != stream_next(&st) && pp_bad == (size_t)-1) pp_bad = pp_got + (size_t)i;
        pp_got += (size_t)n;
    }
    CHECK(n == 0);
    coro_close(pp[0]);
    return NULL;
}
static void test_pipe(void) {
    CHECK(coro_pipe(pp) == 0);
    CHECK(fcntl(pp[0], F_GETFL) & O_NONBLOCK);
    CHECK(fcntl(pp[1], F_GETFL) & O_NONBLOCK);
    CHECK(fcntl(pp[0], F_GETFD) & FD_CLOEXEC);
    CHECK(fcntl(pp[1], F_GETFD) & FD_CLOEXEC);
    pp_got = 0;
    spawn(pipe_reader, NULL);
    spawn(pipe_writer, NULL);
    run_all();
    CHECK(pp_got == PIPE_BYTES);
    CHECK(pp_bad == (size_t)-1);
}

#endif /* !_WIN32 */
/* ---- 14. errno is per coroutine across blocking I/O ----------------------------------------- */
static int er_sv[2], er_full[2], er_lfd, er_port, er_stop;
static int er_errno[4];
static void *er_read_waiter(void *arg) {
    char buf[8];
    ssize_t n;
    (void)arg;
    errno = 1234;
    n = coro_read(er_sv[0], buf, sizeof buf, in_ms(5000));
    er_errno[0] = errno;
    CHECK(n == 3);
    return NULL;
}
static void *er_wait_waiter(void *arg) {
    int r;
    (void)arg;
    errno = 2345;
    r = coro_wait_fd(er_sv[1], CORO_READ, in_ms(5000));
    er_errno[1] = errno;
    CHECK(r == CORO_READ);
    return NULL;
}
static void *er_write_waiter(void *arg) {
    char *big = (char *)calloc(1, 1 << 20);
    ssize_t n;
    (void)arg;
    errno = 3456;
    n = coro_write(er_full[0], big, 1 << 20, in_ms(5000));
    er_errno[2] = errno;
    CHECK(n == 1 << 20);
    free(big);
    return NULL;
}
static void *er_accept_waiter(void *arg) {
    int fd;
    (void)arg;
    errno = 4567;
    fd = coro_accept(er_lfd, NULL, NULL, in_ms(5000));
    er_errno[3] = errno;
    CHECK(fd >= 0);
    if (fd >= 0) coro_close(fd);
    return NULL;
}
/* fails calls with other errnos all the time, switching in between */
static int er_noise_wrong;
static void *er_noise(void *arg) {
    char buf[4];
    (void)arg;
    while (!er_stop) {
        er_noise_wrong += coro_read(-1, buf, 1, in_ms(100)) != -1 || errno != EBADF;
        coro_sched_yield();
        er_noise_wrong += coro_wait_fd(er_sv[0], 0, in_ms(100)) != -1 || errno != EINVAL;
        coro_sleep(1);
        er_noise_wrong += coro_sleep(-1) != -1 || errno != EINVAL;
        coro_sched_yield();
    }
    return NULL;
}
static void *er_driver(void *arg) {
    char *buf = (char *)malloc(1 << 16);
    size_t got = 0;
    ssize_t n;
    int c;
    (void)arg;
    coro_sleep(30);
    CHECK(raw_write(er_sv[1], "abc", 3) == 3);
    CHECK(raw_write(er_sv[0], "x", 1) == 1);
    c = coro_tcp_connect("127.0.0.1", er_port, in_ms(5000));
    while (got < (1u << 20) && (n = coro_read(er_full[1], buf, 1 << 16, in_ms(5000))) > 0)
        got += (size_t)n;
    CHECK(got == 1u << 20);
    coro_sleep(10);
    if (c >= 0) coro_close(c);
    er_stop = 1;
    free(buf);
    return NULL;
}
static void test_errno_per_coroutine(void) {
    int i;
    unix_pair(er_sv);
    unix_pair(er_full);
    er_lfd = coro_tcp_listen("127.0.0.1", 0, 4);
    er_port = coro_tcp_port(er_lfd);
    er_stop = er_noise_wrong = 0;
    spawn(er_read_waiter, NULL);
    spawn(er_wait_waiter, NULL);
    spawn(er_write_waiter, NULL);
    spawn(er_accept_waiter, NULL);
    for (i = 0; i < 3; i++) spawn(er_noise, NULL);
    spawn(er_driver, NULL);
    run_all();
    CHECK(er_noise_wrong == 0);
    /* no other coroutine's errno leaked in across the wait ... */
    for (i = 0; i < 4; i++) CHECK(er_errno[i] != EBADF && er_errno[i] != EINVAL);
    /* ... and a call that succeeded left errno as it found it */
    CHECK(er_errno[0] == 1234); /* coro_read */
    CHECK(er_errno[1] == 2345); /* coro_wait_fd */
    CHECK(er_errno[2] == 3456); /* coro_write */
    CHECK(er_errno[3] == 4567); /* coro_accept */
    for (i = 0; i < 4; i++)
        if (er_errno[i] != 1234 + 1111 * i)
            fprintf(stderr, "errno after call %d: %d (%s)\n", i, er_errno[i],
                    strerror(er_errno[i]));
    coro_close(er_sv[0]);
    coro_close(er_sv[1]);
    coro_close(er_full[0]);
    coro_close(er_full[1]);
    coro_close(er_lfd);
}

#ifndef _WIN32
/* ---- 15. calls from main, outside coro_run -------------------------------------------------- */
static void test_main_caller(void) {
    int p[2], q[2], lfd, client, a;
    char buf[64], *big;
    struct sockaddr_in sa;
    CHECK(pipe2(p, O_CLOEXEC) == 0); /* blocking, from outside the scheduler */
    CHECK(raw_write(p[1], "abc", 3) == 3);
    CHECK(coro_read(p[0], buf, sizeof buf, -1) == 3);
    CHECK(fcntl(p[0], F_GETFL) & O_NONBLOCK); /* made non-blocking on first use */
    CHECK_ERR(coro_read(p[0], buf, sizeof buf, -1) == -1, EPERM); /* would wait */
    CHECK_ERR(coro_read(p[0], buf, sizeof buf, in_ms(1000)) == -1, EPERM);
    CHECK_ERR(coro_wait_fd(p[0], CORO_READ, -1) == -1, EPERM);
    CHECK(coro_write(p[1], "hello", 5, -1) == 5);
    /* data that came after a read found the pipe empty */
    CHECK(coro_read(p[0], buf, sizeof buf, -1) == 5);
    coro_close(p[0]);
    coro_close(p[1]);
    /* read_full with enough data; write until full */
    CHECK(pipe2(q, O_CLOEXEC) == 0);
    CHECK(raw_write(q[1], "0123456789", 10) == 10);
    CHECK(coro_read_full(q[0], buf, 10, -1) == 10 && memcmp(buf, "0123456789", 10) == 0);
    big = (char *)calloc(1, 1 << 20);
    CHECK_ERR(coro_write(q[1], big, 1 << 20, -1) == -1, EPERM); /* the pipe filled up */
    free(big);
    coro_close(q[0]);
    coro_close(q[1]);
    /* accept: a pending connection is taken, none pending is EPERM */
    lfd = coro_tcp_listen("127.0.0.1", 0, 4);
    client = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    loopback(&sa, coro_tcp_port(lfd));
    CHECK(connect(client, (struct sockaddr *)&sa, sizeof sa) == 0);
    a = coro_accept(lfd, NULL, NULL, -1);
    CHECK(a >= 0);
    if (a >= 0) coro_close(a);
    CHECK_ERR(coro_accept(lfd, NULL, NULL, -1) == -1, EPERM);
    raw_close(client);
    client = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    CHECK(connect(client, (struct sockaddr *)&sa, sizeof sa) == 0);
    a = coro_accept(lfd, NULL, NULL, -1); /* came after an attempt found none */
    CHECK(a >= 0);
    if (a >= 0) coro_close(a);
    raw_close(client);
    coro_close(lfd);
}

#endif /* !_WIN32 */
/* ---- 15. coro_writev ------------------------------------------------------------------------ */
/* Hundreds of buffers of random sizes (zero-length ones among them) through a pipe and a TCP
   connection, far more than the kernel buffers at once and more than one window of buffers per
   syscall: every byte arrives in order, and the caller's array is left as it was. */
enum { WV_BUFS = 700, WV_ROUNDS = 4 };
static int wv_fds[2];
static size_t wv_total, wv_got, wv_bad = (size_t)-1;
static unsigned char *wv_data;
static void *wv_writer(void *arg) {
    static struct iovec iov[WV_BUFS], copy[WV_BUFS];
    uint32_t sizes = 31337;
    size_t off = 0;
    int i, r;
    (void)arg;
    for (r = 0; r < WV_ROUNDS; r++) {
        size_t sum = 0;
        for (i = 0; i < WV_BUFS; i++) {
            size_t n = rnd_next(&sizes) % 5 == 0 ? 0 : rnd_next(&sizes) % 3000;
            iov[i].iov_base = wv_data + off + sum;
            iov[i].iov_len = n;
            sum += n;
        }
        memcpy(copy, iov, sizeof iov);
        CHECK(coro_writev(wv_fds[1], iov, WV_BUFS, in_ms(5000)) == (ssize_t)sum);
        CHECK(memcmp(copy, iov, sizeof iov) == 0);
        off += sum;
    }
    wv_total = off;
    coro_close(wv_fds[1]);
    return NULL;
}
static void *wv_reader(void *arg) {
    unsigned char buf[4096];
    uint32_t sizes = 5;
    ssize_t n;
    (void)arg;
    coro_sleep(5); /* let the writer fill the kernel's buffer first */
    while ((n = coro_read(wv_fds[0], buf, 1 + rnd_next(&sizes) % sizeof buf, in_ms(5000))) > 0) {
        ssize_t i;
        for (i = 0; i < n; i++)
            if (buf[i] != wv_data[wv_got + (size_t)i] && wv_bad == (size_t)-1) wv_bad = wv_got + (size_t)i;
        wv_got += (size_t)n;
    }
    CHECK(n == 0);
    coro_close(wv_fds[0]);
    return NULL;
}
static void *wv_tcp_setup(void *arg) {
    (void)arg;
    if (tcp_pair(&wv_fds[1], &wv_fds[0]) != 0) return NULL;
    spawn(wv_reader, NULL);
    spawn(wv_writer, NULL);
    return NULL;
}
static void wv_check(void) {
    CHECK(wv_total > WV_ROUNDS * WV_BUFS * 1000);
    CHECK(wv_got == wv_total);
    CHECK(wv_bad == (size_t)-1);
}
static void *wv_edges(void *arg) {
    int sv[2];
    char a[3] = "ab", b[3] = "cd", got[8];
    struct iovec iov[3];
    (void)arg;
    unix_pair(sv);
    iov[0].iov_base = a;
    iov[0].iov_len = 2;
    iov[1].iov_base = NULL;
    iov[1].iov_len = 0;
    iov[2].iov_base = b;
    iov[2].iov_len = 2;
    CHECK(coro_writev(sv[0], iov, 3, in_ms(1000)) == 4);
    CHECK(coro_read_full(sv[1], got, 4, in_ms(1000)) == 4 && memcmp(got, "abcd", 4) == 0);
    CHECK(coro_writev(sv[0], iov, 0, in_ms(1000)) == 0);
    CHECK(coro_writev(sv[0], NULL, 0, in_ms(1000)) == 0);
    errno = 0;
    CHECK(coro_writev(sv[0], NULL, 1, in_ms(1000)) == -1 && errno == EINVAL);
    errno = 0;
    CHECK(coro_writev(sv[0], iov, -1, in_ms(1000)) == -1 && errno == EINVAL);
    iov[1].iov_base = a;
    iov[1].iov_len = (size_t)SSIZE_MAX; /* with the others: more than ssize_t can count */
    errno = 0;
    CHECK(coro_writev(sv[0], iov, 3, in_ms(1000)) == -1 && errno == EINVAL);
    errno = 0;
    CHECK(coro_writev(-1, iov, 1, in_ms(1000)) == -1 && errno == EBADF);
    coro_close(sv[0]);
    iov[1].iov_len = 0;
    errno = 0;
#ifdef _WIN32
    { /* TCP: the first writes may go out before the peer's reset comes back */
        int k = 0;
        while (k < 200 && coro_writev(sv[1], iov, 3, in_ms(1000)) >= 0) {
            coro_sleep(5);
            k++;
        }
        CHECK(k < 200 && (errno == ECONNRESET || errno == ECONNABORTED || errno == EPIPE));
    }
#else
    CHECK(coro_writev(sv[1], iov, 3, in_ms(1000)) == -1 && errno == EPIPE); /* peer closed */
#endif
    coro_close(sv[1]);
    return NULL;
}
static void test_writev(void) {
    size_t cap = (size_t)WV_ROUNDS * WV_BUFS * 3000, i;
    uint32_t st = 99;
    wv_data = (unsigned char *)malloc(cap);
    CHECK(wv_data != NULL);
    if (!wv_data) return;
    for (i = 0; i < cap; i++) wv_data[i] = stream_next(&st);
    /* a pipe (writev) */
    CHECK(test_fd_pair(wv_fds) == 0);
    wv_got = wv_total = 0;
    wv_bad = (size_t)-1;
    spawn(wv_reader, NULL);
    spawn(wv_writer, NULL);
    run_all();
    wv_check();
    /* a TCP connection (sendmsg) */
    wv_got = wv_total = 0;
    wv_bad = (size_t)-1;
    spawn(wv_tcp_setup, NULL);
    run_all();
    wv_check();
    spawn(wv_edges, NULL);
    run_all();
    free(wv_data);
}

#ifndef _WIN32
/* ---- 16. coro_tcp_listen_opt --------------------------------------------------------------- */
static void *rp_body(void *arg) {
    int a, b, c, port, i, seen_a = 0, seen_b = 0;
    (void)arg;
    errno = 0;
    CHECK(coro_tcp_listen_opt("127.0.0.1", 0, 16, 4) == -1 && errno == EINVAL);
    a = coro_tcp_listen_opt("127.0.0.1", 0, 16, CORO_TCP_REUSEPORT);
    CHECK(a >= 0);
    port = coro_tcp_port(a);
    /* a second socket on the same port: with the flag it may listen too, without it not */
    b = coro_tcp_listen_opt("127.0.0.1", port, 16, CORO_TCP_REUSEPORT);
    CHECK(b >= 0);
    errno = 0;
    CHECK(coro_tcp_listen("127.0.0.1", port, 16) == -1 && errno == EADDRINUSE);
    /* connections reach both (the kernel hashes each connection's address to one of them) */
    for (i = 0; i < 64 && !(seen_a && seen_b); i++) {
        int got;
        c = coro_tcp_connect("127.0.0.1", port, in_ms(2000));
        CHECK(c >= 0);
        if ((got = coro_accept(a, NULL, NULL, 0)) >= 0) {
            seen_a = 1;
            coro_close(got);
        } else if ((got = coro_accept(b, NULL, NULL, in_ms(2000))) >= 0) {
            seen_b = 1;
            coro_close(got);
        }
        coro_close(c);
    }
    CHECK(seen_a && seen_b);
    coro_close(a);
    coro_close(b);
    return NULL;
}
static void test_tcp_listen_reuseport(void) {
    spawn(rp_body, NULL);
    run_all();
}

#endif /* !_WIN32 */
/* ---- 17. a coroutine that only yields does not starve timers or fds -------------------------- */
/* While one coroutine keeps yielding (the ready queue never empties), a sleeper still wakes and
   a reader still gets what another thread writes to its pipe. */
static int yl_pipe[2];
static volatile int yl_slept, yl_read;
static void *yl_spinner(void *arg) {
    int64_t end = in_ms(5000);
    (void)arg;
    while (!(yl_slept && yl_read) && coro_now() < end) coro_sched_yield();
    CHECK(yl_slept && yl_read);
    return NULL;
}
static void *yl_sleeper(void *arg) {
    (void)arg;
    CHECK(coro_sleep(20) == 0);
    yl_slept = 1;
    return NULL;
}
static void *yl_reader(void *arg) {
    char c = 0;
    (void)arg;
    CHECK(coro_read(yl_pipe[0], &c, 1, in_ms(5000)) == 1 && c == 'y');
    yl_read = 1;
    return NULL;
}
static void *yl_thread(void *arg) {
    struct timespec ts = {0, 30 * 1000000};
    (void)arg;
    nanosleep(&ts, NULL);
    if (raw_write(yl_pipe[1], "y", 1) != 1) return NULL;
    return NULL;
}
static void test_yielder_does_not_starve(void) {
    pthread_t th;
    yl_slept = yl_read = 0;
    CHECK(test_fd_pair(yl_pipe) == 0);
    spawn(yl_spinner, NULL);
    spawn(yl_sleeper, NULL);
    spawn(yl_reader, NULL);
    CHECK(pthread_create(&th, NULL, yl_thread, NULL) == 0);
    run_all();
    pthread_join(th, NULL);
    coro_close(yl_pipe[0]);
    coro_close(yl_pipe[1]);
}

#ifndef _WIN32
/* ---- 18. coro_sendfile ------------------------------------------------------------------- */
/* A file of 3 MB (far more than a socket buffers) to a TCP reader that reads slowly at first,
   and to a pipe: every byte arrives, *offset advances to the end; a count past the file's end
   returns what there was; the errors of coro_write (EPIPE, ETIMEDOUT, EBADF) and EINVAL. */
enum { SF_SIZE = 3 * 1024 * 1024 + 123 };
static unsigned char *sf_data;
static int sf_file, sf_fds[2];
static size_t sf_got, sf_bad = (size_t)-1;
static off_t sf_from;
static void *sf_reader(void *arg) {
    unsigned char buf[8192];
    ssize_t n;
    (void)arg;
    coro_sleep(5); /* the sender fills the kernel's buffer and waits */
    while ((n = coro_read(sf_fds[0], buf, sizeof buf, in_ms(5000))) > 0) {
        ssize_t i;
        for (i = 0; i < n; i++)
            if (buf[i] != sf_data[(size_t)sf_from + sf_got + (size_t)i] && sf_bad == (size_t)-1)
                sf_bad = sf_got + (size_t)i;
        sf_got += (size_t)n;
    }
    CHECK(n == 0);
    coro_close(sf_fds[0]);
    return NULL;
}
static void *sf_sender(void *arg) {
    off_t off = sf_from;
    (void)arg;
    CHECK(coro_sendfile(sf_fds[1], sf_file, &off, SF_SIZE - (size_t)sf_from, in_ms(5000)) ==
          (ssize_t)(SF_SIZE - (size_t)sf_from));
    CHECK(off == SF_SIZE);
    CHECK(lseek(sf_file, 0, SEEK_CUR) == 0); /* the file position is not used */
    coro_close(sf_fds[1]);
    return NULL;
}
static void *sf_tcp_setup(void *arg) {
    (void)arg;
    if (tcp_pair(&sf_fds[1], &sf_fds[0]) != 0) return NULL;
    spawn(sf_reader, NULL);
    spawn(sf_sender, NULL);
    return NULL;
}
static void *sf_edges(void *arg) {
    int sv[2];
    off_t off;
    char got[16];
    (void)arg;
    unix_pair(sv);
    /* past the end: what there is, *offset at the end */
    off = SF_SIZE - 5;
    CHECK(coro_sendfile(sv[0], sf_file, &off, 100, in_ms(1000)) == 5);
    CHECK(off == SF_SIZE);
    CHECK(coro_read_full(sv[1], got, 5, in_ms(1000)) == 5 && memcmp(got, sf_data + SF_SIZE - 5, 5) == 0);
    CHECK(coro_sendfile(sv[0], sf_file, &off, 10, in_ms(1000)) == 0); /* at the end */
    off = 7;
    CHECK(coro_sendfile(sv[0], sf_file, &off, 0, in_ms(1000)) == 0 && off == 7);
    errno = 0;
    CHECK(coro_sendfile(sv[0], sf_file, NULL, 10, in_ms(1000)) == -1 && errno == EINVAL);
    off = -1;
    errno = 0;
    CHECK(coro_sendfile(sv[0], sf_file, &off, 10, in_ms(1000)) == -1 && errno == EINVAL);
    off = 0;
    errno = 0;
    CHECK(coro_sendfile(sv[0], sf_file, &off, (size_t)SSIZE_MAX + 1, in_ms(1000)) == -1 && errno == EINVAL);
    errno = 0;
    CHECK(coro_sendfile(sv[0], -1, &off, 10, in_ms(1000)) == -1 && errno == EBADF);
    errno = 0;
    CHECK(coro_sendfile(-1, sf_file, &off, 10, in_ms(1000)) == -1 && errno == EBADF);
    /* nobody reads: the deadline; what went out is counted in *offset */
    off = 0;
    errno = 0;
    CHECK(coro_sendfile(sv[0], sf_file, &off, SF_SIZE, in_ms(50)) == -1 && errno == ETIMEDOUT);
    CHECK(off > 0 && off < SF_SIZE);
    coro_close(sv[1]);
    off = 0;
    errno = 0;
    CHECK(coro_sendfile(sv[0], sf_file, &off, 10, in_ms(1000)) == -1 &&
          (errno == EPIPE || errno == ECONNRESET)); /* peer closed */
    coro_close(sv[0]);
    return NULL;
}
static void test_sendfile(void) {
    char path[] = "/tmp/coro_test_sendfile.XXXXXX";
    uint32_t st = 7;
    size_t i;
    sf_data = (unsigned char *)malloc(SF_SIZE);
    CHECK(sf_data != NULL);
    if (!sf_data) return;
    for (i = 0; i < SF_SIZE; i++) sf_data[i] = stream_next(&st);
    sf_file = mkstemp(path);
    CHECK(sf_file >= 0);
    if (sf_file < 0) return;
    unlink(path);
    CHECK(raw_write(sf_file, sf_data, SF_SIZE) == SF_SIZE);
    CHECK(lseek(sf_file, 0, SEEK_SET) == 0);
    /* a TCP connection, whole file */
    sf_got = 0;
    sf_from = 0;
    sf_bad = (size_t)-1;
    spawn(sf_tcp_setup, NULL);
    run_all();
    CHECK(sf_got == SF_SIZE && sf_bad == (size_t)-1);
    /* a pipe, from an offset */
    CHECK(test_fd_pair(sf_fds) == 0);
    sf_got = 0;
    sf_from = 1000001;
    sf_bad = (size_t)-1;
    spawn(sf_reader, NULL);
    spawn(sf_sender, NULL);
    run_all();
    CHECK(sf_got == SF_SIZE - 1000001 && sf_bad == (size_t)-1);
    spawn(sf_edges, NULL);
    run_all();
    raw_close(sf_file);
    free(sf_data);
}

#endif /* !_WIN32 */
#ifdef _WIN32
/* Windows: what does not exist there fails with ENOSYS (or ENOPROTOOPT), never silently */
static void *win_nosys_body(void *arg) {
    int fds[2] = {-1, -1}, s[2];
    sigset_t set = 0;
    off_t off = 0;
    (void)arg;
    CHECK_ERR(coro_pipe(fds) == -1, ENOSYS);
    CHECK_ERR(coro_signal_watch(&set) == -1, ENOSYS);
    CHECK_ERR(coro_signal_wait(&set, in_ms(100)) == -1, ENOSYS);
    CHECK_ERR(coro_tcp_listen_opt("127.0.0.1", 0, 16, CORO_TCP_REUSEPORT) == -1, ENOPROTOOPT);
    CHECK(test_fd_pair(s) == 0);
    CHECK_ERR(coro_sendfile(s[1], 0, &off, 10, in_ms(100)) == -1, ENOSYS);
    coro_close(s[0]);
    coro_close(s[1]);
    return NULL;
}
static void test_windows_nosys(void) {
    spawn(win_nosys_body, NULL);
    run_all();
}
#endif

static const struct helpers_scenario scenarios[] = {
#ifndef _WIN32
    {"sigpipe_from_main_child", sigpipe_from_main_child},
    {"emfile_child", emfile_child},
    {"signal_other_pending_child", signal_other_pending_child},
#else
    {"none", NULL},
#endif
};

/* CHECK_ONLY=substring runs only the tests whose names contain it; CHECK_VERBOSE=1 prints
   each test's time */
#define RUN_TIMED(fn)                                                                            \
    do {                                                                                         \
        int64_t run__t0 = coro_now();                                                            \
        if (getenv("CHECK_ONLY") && !strstr(#fn, getenv("CHECK_ONLY"))) break;                 \
        RUN(fn);                                                                                 \
        if (getenv("CHECK_VERBOSE"))                                                             \
            fprintf(stderr, "   %s: %lld ms\n", #fn, (long long)(coro_now() - run__t0));          \
    } while (0)

int main(int argc, char **argv) {
    helpers_child_dispatch(argc, argv, scenarios, HELPERS_COUNT(scenarios));
    RUN_TIMED(test_backend_name);
#ifdef _WIN32
    printf("SKIPPED test_main_caller: needs pipes and fcntl flags, which Windows lacks\n");
#else
    RUN_TIMED(test_main_caller); /* first: nothing has touched the scheduler yet */
#endif
    RUN_TIMED(test_echo_many_clients);
    RUN_TIMED(test_connection_refused);
    RUN_TIMED(test_bad_fds);
    RUN_TIMED(test_reset_mid_write);
#ifdef _WIN32
    printf("SKIPPED test_epipe_pipe: Windows has no pipes (test_windows_nosys checks the ENOSYS)\n");
#else
    RUN_TIMED(test_epipe_pipe);
#endif
#ifdef _WIN32
    printf("SKIPPED test_sigpipe_from_main_fresh_process: Windows has no SIGPIPE\n");
#else
    RUN_TIMED(test_sigpipe_from_main_fresh_process);
#endif
    RUN_TIMED(test_deadlines);
    RUN_TIMED(test_deadline_zero_is_nonblocking_attempt);
    RUN_TIMED(test_connect_timeout);
    RUN_TIMED(test_second_reader_and_writer_busy);
    RUN_TIMED(test_reader_and_writer_at_once);
    RUN_TIMED(test_close_wakes_blocked);
    RUN_TIMED(test_kill_blocked_io);
    RUN_TIMED(test_raise_blocked_io);
    RUN_TIMED(test_eof);
#ifdef _WIN32
    printf("SKIPPED test_accept_emfile_backoff: Windows has no RLIMIT_NOFILE to run out of\n");
#else
    RUN_TIMED(test_accept_emfile_backoff);
#endif
    RUN_TIMED(test_wait_fd_level);
    RUN_TIMED(test_offload);
    RUN_TIMED(test_offload_raised);
    RUN_TIMED(test_tcp_connect_localhost);
#ifdef _WIN32
    printf("SKIPPED test_signal_wait: Windows has no POSIX signals (test_windows_nosys checks the ENOSYS)\n");
#else
    RUN_TIMED(test_signal_wait);
#endif
#ifdef _WIN32
    printf("SKIPPED test_signal_other_pending: Windows has no POSIX signals (test_windows_nosys checks the ENOSYS)\n");
#else
    RUN_TIMED(test_signal_other_pending);
#endif
#ifdef _WIN32
    printf("SKIPPED test_pipe: Windows has no pipes (test_windows_nosys checks the ENOSYS)\n");
#else
    RUN_TIMED(test_pipe);
#endif
    RUN_TIMED(test_errno_per_coroutine);
    RUN_TIMED(test_writev);
#ifdef _WIN32
    printf("SKIPPED test_tcp_listen_reuseport: Windows has no SO_REUSEPORT (test_windows_nosys checks the ENOPROTOOPT)\n");
#else
    RUN_TIMED(test_tcp_listen_reuseport);
#endif
    RUN_TIMED(test_yielder_does_not_starve);
#ifdef _WIN32
    printf("SKIPPED test_sendfile: Windows has no sendfile (test_windows_nosys checks the ENOSYS)\n");
#else
    RUN_TIMED(test_sendfile);
#endif
#ifdef _WIN32
    RUN_TIMED(test_windows_nosys);
#endif
    coro_sched_free();
    CHECK(coro_count() == 0);
    CHECK(coro_count_alive() == 0);
    return check_done();
}
