/* chat.c - a line-based chat server built from channels: message passing between coroutines.

   What it shows: asyncoro's Channel (broadcast message passing) with coro_chan_t. Each client
   has two coroutines: a reader, which turns the client's bytes into lines and commands, and a
   writer, which owns the socket's sending side and writes whatever arrives on the client's own
   channel. Every chat line goes through one central channel to a broadcaster coroutine, which
   puts it on every other client's channel. Nobody but the writer ever writes to a socket, so a
   client that reads slowly delays only itself.
   A message is allocated once and reference-counted; the channels carry pointers to it.

   Slow clients: each client's channel holds 64 messages. The broadcaster never waits on a client
   (it sends with a deadline that has already passed, a non-blocking attempt). When a client's
   channel is full, that client is disconnected rather than skipped: a client that silently
   misses lines sees a conversation that never happened, and waiting for it would let one stalled
   reader stop the room. (IRC servers do the same: "SendQ exceeded".) A writer whose write has
   not finished in 10 seconds disconnects its client too.

   Protocol: the first line is your nickname (1-16 of A-Z a-z 0-9 _ -, unique). Then each line
   is said to the room as "<nick> text"; "/nick NAME" renames, "/who" lists who is here,
   "/quit" leaves. Server notices start with "* ".

   After asyncoro's Channel, its one-to-many, subscription-based message passing.

   Build and run, from the repository root:
       cc -O2 -I. examples/chat.c -o chat -pthread
       ./chat -p 7001        # then, in two terminals: nc 127.0.0.1 7001
   Options: -p PORT (0 = any free port, the default), -b ADDR (127.0.0.1), -h. Prints
   "listening on ADDR:PORT", and at exit "chat: N clients, M lines". */
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

#define NICK_MAX 16
#define LINE_MAX_BYTES 512  /* longer input lines are refused */
#define CLIENT_QUEUE 64     /* messages waiting for a client's writer */
#define HUB_QUEUE 256       /* lines waiting for the broadcaster */
#define WRITE_TIMEOUT_MS 10000

struct msg {
    int refs;
    size_t len;
    char text[]; /* ends in "\n" */
};

struct client {
    unsigned id;
    int fd, named, kicked, write_failed;
    char nick[NICK_MAX + 1];
    coro_t *reader, *writer;
    coro_chan_t *out; /* of struct msg *, read by the writer */
    struct client *prev, *next;
};

struct hub_item {
    struct msg *m;
    unsigned from; /* the sender's id (0: the server): it does not get its own line back */
};

static struct {
    int lfd, stopping;
    const char *addr;
    coro_chan_t *hub; /* of struct hub_item, read by the broadcaster */
    struct client *clients;
    unsigned next_id;
    unsigned long long nclients, lines;
} g;

/* >>messages */
#define PRINTF_LIKE(f, a) __attribute__((format(printf, f, a)))
static struct msg *msg_vnew(const char *fmt, va_list ap) PRINTF_LIKE(1, 0);
static struct msg *msg_new(const char *fmt, ...) PRINTF_LIKE(1, 2);
static void tell(struct client *c, const char *fmt, ...) PRINTF_LIKE(2, 3);

static struct msg *msg_vnew(const char *fmt, va_list ap) {
    va_list ap2;
    struct msg *m;
    int n;
    va_copy(ap2, ap);
    n = vsnprintf(NULL, 0, fmt, ap2);
    va_end(ap2);
    if (n < 0 || !(m = (struct msg *)malloc(sizeof *m + (size_t)n + 2))) return NULL;
    vsnprintf(m->text, (size_t)n + 1, fmt, ap);
    m->text[n] = '\n';
    m->text[n + 1] = 0;
    m->len = (size_t)n + 1;
    m->refs = 1;
    return m;
}

static struct msg *msg_new(const char *fmt, ...) {
    va_list ap;
    struct msg *m;
    va_start(ap, fmt);
    m = msg_vnew(fmt, ap);
    va_end(ap);
    return m;
}

static void msg_unref(struct msg *m) {
    if (m && --m->refs == 0) free(m);
}

/* Disconnect c: both directions of its socket shut down, so its reader sees the end of file
   and its writer's next write fails. Never switches coroutines. */
static void kick(struct client *c, const char *why) {
    if (c->kicked) return;
    c->kicked = 1;
    fprintf(stderr, "chat: disconnecting client %u (%s): %s\n", c->id, c->named ? c->nick : "-", why);
    shutdown(c->fd, SHUT_RDWR);
}

/* Queue m for c without waiting (deadline 0): a full queue means a client that does not keep
   up, and it is disconnected. Never switches coroutines, so callers may walk the client list. */
static void deliver(struct client *c, struct msg *m) {
    if (!m || c->kicked) return;
    m->refs++;
    if (coro_chan_send(c->out, &m, 0) == 0) return;
    m->refs--;
    if (errno == ETIMEDOUT) kick(c, "its queue is full (too slow)");
}

/* To one client, from the server. */
static void tell(struct client *c, const char *fmt, ...) {
    va_list ap;
    struct msg *m;
    va_start(ap, fmt);
    m = msg_vnew(fmt, ap);
    va_end(ap);
    deliver(c, m);
    msg_unref(m);
}

/* To everyone named but `from`, through the broadcaster (m's reference passes to it). */
static void announce_msg(struct msg *m, unsigned from) {
    struct hub_item it;
    if (!m) return;
    it.m = m;
    it.from = from;
    if (coro_chan_send(g.hub, &it, -1) != 0) msg_unref(m); /* closed at shutdown, or raised */
}

/* >>coroutines */
static void *broadcaster(void *arg) {
    struct hub_item it;
    (void)arg;
    while (coro_chan_recv(g.hub, &it, -1) == 0) {
        struct client *c;
        for (c = g.clients; c; c = c->next)
            if (c->named && c->id != it.from) deliver(c, it.m);
        msg_unref(it.m);
    }
    return NULL;
}

static void *writer(void *arg) {
    struct client *c = (struct client *)arg;
    struct msg *m;
    while (coro_chan_recv(c->out, &m, -1) == 0) { /* until closed and drained */
        if (!c->kicked && !c->write_failed &&
            coro_write(c->fd, m->text, m->len, coro_now() + WRITE_TIMEOUT_MS) < 0) {
            c->write_failed = 1;
            if (errno == ETIMEDOUT) kick(c, "a write took more than 10 s");
            else shutdown(c->fd, SHUT_RDWR); /* wake the reader: the client is gone */
        }
        msg_unref(m);
    }
    return NULL;
}

static int valid_nick(const char *s, size_t n) {
    size_t i;
    if (n == 0 || n > NICK_MAX) return 0;
    for (i = 0; i < n; i++) {
        char ch = s[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              ch == '_' || ch == '-'))
            return 0;
    }
    return 1;
}

static int nick_taken(const char *s, size_t n) {
    struct client *c;
    for (c = g.clients; c; c = c->next)
        if (c->named && strlen(c->nick) == n && memcmp(c->nick, s, n) == 0) return 1;
    return 0;
}

/* Sets c's nickname from s[0, n), or tells the client why not. 0 on success. */
static int set_nick(struct client *c, const char *s, size_t n) {
    char old[NICK_MAX + 1];
    if (!valid_nick(s, n)) {
        tell(c, "* a nickname is 1-16 of A-Z a-z 0-9 _ -");
        return -1;
    }
    if (nick_taken(s, n)) {
        tell(c, "* that nickname is taken, pick another");
        return -1;
    }
    memcpy(old, c->nick, sizeof old);
    memcpy(c->nick, s, n);
    c->nick[n] = 0;
    if (!c->named) {
        c->named = 1;
        tell(c, "* hello %s; commands: /who /nick NAME /quit", c->nick);
        announce_msg(msg_new("* %s joined", c->nick), c->id);
    } else {
        announce_msg(msg_new("* %s is now known as %s", old, c->nick), 0);
    }
    return 0;
}

static void who(struct client *c) {
    char list[1024];
    size_t len = 0;
    struct client *o;
    list[0] = 0;
    for (o = g.clients; o; o = o->next) {
        int n;
        if (!o->named) continue;
        n = snprintf(list + len, sizeof list - len, "%s%s", len ? " " : "", o->nick);
        if (n < 0 || (size_t)n >= sizeof list - len) break;
        len += (size_t)n;
    }
    tell(c, "* here: %s", list);
}

/* One line from c (without its newline). Returns 1 when the client asked to leave. */
static int handle_line(struct client *c, char *line, size_t n) {
    size_t i;
    if (n > 0 && line[n - 1] == '\r') n--;
    line[n] = 0;
    for (i = 0; i < n; i++) /* no terminal escapes for the others */
        if ((unsigned char)line[i] < 0x20 && line[i] != '\t') line[i] = '?';
    if (n == 0) return 0;
    if (!c->named) {
        set_nick(c, line, n);
        return 0;
    }
    if (line[0] != '/') {
        g.lines++;
        announce_msg(msg_new("<%s> %s", c->nick, line), c->id);
        return 0;
    }
    if (strcmp(line, "/quit") == 0) {
        tell(c, "* bye %s", c->nick);
        return 1;
    }
    if (strcmp(line, "/who") == 0) who(c);
    else if (strncmp(line, "/nick ", 6) == 0) set_nick(c, line + 6, n - 6);
    else tell(c, "* unknown command %s; try /who, /nick NAME, /quit", line);
    return 0;
}

static void *reader(void *arg) {
    struct client *c = (struct client *)arg;
    char in[LINE_MAX_BYTES + 2];
    size_t have = 0;
    int discarding = 0, quit = 0;
    ssize_t n;
    if (g.stopping) goto out;
    c->prev = NULL;
    c->next = g.clients;
    if (g.clients) g.clients->prev = c;
    g.clients = c;
    tell(c, "* welcome to coro chat; your nickname?");
    while (!quit && (n = coro_read(c->fd, in + have, sizeof in - 1 - have, -1)) > 0) {
        char *start = in, *nl;
        have += (size_t)n;
        while (!quit && (nl = (char *)memchr(start, '\n', have - (size_t)(start - in))) != NULL) {
            if (!discarding) quit = handle_line(c, start, (size_t)(nl - start));
            discarding = 0;
            start = nl + 1;
        }
        have -= (size_t)(start - in);
        memmove(in, start, have);
        if (have == sizeof in - 1) { /* no newline in LINE_MAX_BYTES: refuse the line */
            if (!discarding) tell(c, "* line too long (at most 512 bytes)");
            discarding = 1;
            have = 0;
        }
    }
    if (c->prev) c->prev->next = c->next;
    else g.clients = c->next;
    if (c->next) c->next->prev = c->prev;
    if (c->named && !g.stopping) announce_msg(msg_new("* %s left", c->nick), c->id);
out:
    coro_chan_close(c->out); /* the writer sends what is queued, then ends */
    while (coro_join(c->writer, NULL, -1) != 0 && errno != ESRCH)
        ; /* raised at shutdown: keep waiting, the writer ends within its write timeout */
    coro_close(c->fd);
    coro_chan_free(c->out);
    free(c);
    return NULL;
}

static void *acceptor(void *arg) {
    int fd;
    (void)arg;
    while ((fd = coro_accept(g.lfd, NULL, NULL, -1)) >= 0) {
        struct client *c = (struct client *)calloc(1, sizeof *c);
        if (c) {
            c->fd = fd;
            c->id = ++g.next_id;
        }
        if (!c || !(c->out = coro_chan_new(sizeof(struct msg *), CLIENT_QUEUE)) ||
            !(c->writer = coro_spawn(writer, c, 0)) || coro_joinable(c->writer) != 0 ||
            !(c->reader = coro_spawn(reader, c, 0))) {
            /* a writer already spawned has not run yet: kill it before freeing what it uses */
            fprintf(stderr, "chat: cannot take a client: %s\n", strerror(errno));
            if (c && c->writer) coro_kill(c->writer);
            if (c) coro_chan_free(c->out);
            free(c);
            coro_close(fd);
            continue;
        }
        coro_set_name(c->reader, "chat-reader");
        coro_set_name(c->writer, "chat-writer");
        g.nclients++;
    }
    if (!g.stopping) fprintf(stderr, "chat: accept: %s\n", strerror(errno));
    return NULL;
}

/* On SIGINT/SIGTERM: no new clients, a notice to everyone, every reader's read fails with
   ECANCELED (it then leaves as usual: its writer sends what is queued and ends), and the
   broadcaster ends once the central channel is closed and drained. */
static void *signals(void *arg) {
    sigset_t set;
    struct client *c, *next;
    struct msg *m;
    int sig;
    (void)arg;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sig = coro_signal_wait(&set, -1);
    fprintf(stderr, "chat: %s, stopping\n", sig == SIGINT ? "SIGINT" : sig == SIGTERM ? "SIGTERM" : strerror(errno));
    g.stopping = 1;
    coro_close(g.lfd);
    m = msg_new("* the server is shutting down");
    for (c = g.clients; c; c = c->next) deliver(c, m);
    msg_unref(m);
    for (c = g.clients; c; c = next) {
        next = c->next; /* only c runs during the raise, and it unlinks only itself */
        coro_raise(c->reader, ECANCELED);
    }
    coro_chan_close(g.hub);
    return NULL;
}

static void *ready(void *arg) {
    (void)arg;
    printf("listening on %s:%d\n", g.addr, coro_tcp_port(g.lfd));
    fflush(stdout);
    return NULL;
}

int main(int argc, char **argv) {
    int opt, port = 0;
    coro_t *s, *b, *a, *r;
    g.addr = "127.0.0.1";
    while ((opt = getopt(argc, argv, "p:b:h")) != -1) {
        char *end;
        long v;
        switch (opt) {
        case 'p':
            errno = 0;
            v = strtol(optarg, &end, 10);
            if (errno || end == optarg || *end || v < 0 || v > 65535) {
                fprintf(stderr, "chat: -p: '%s' is not a port (0..65535)\n", optarg);
                return 2;
            }
            port = (int)v;
            break;
        case 'b': g.addr = optarg; break;
        case 'h':
            printf("usage: chat [-p PORT] [-b ADDR] [-h]\n"
                   "  -p PORT  port to listen on, 0 = any free port (default 0)\n"
                   "  -b ADDR  address to bind (default 127.0.0.1)\n");
            return 0;
        default: fprintf(stderr, "usage: chat [-p PORT] [-b ADDR] [-h]\n"); return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "chat: unexpected argument '%s'\nusage: chat [-p PORT] [-b ADDR] [-h]\n",
                argv[optind]);
        return 2;
    }
    if ((g.lfd = coro_tcp_listen(g.addr, port, 1024)) < 0) {
        fprintf(stderr, "chat: listen on %s:%d: %s\n", g.addr, port, strerror(errno));
        return 1;
    }
    if (!(g.hub = coro_chan_new(sizeof(struct hub_item), HUB_QUEUE))) {
        fprintf(stderr, "chat: %s\n", strerror(errno));
        return 1;
    }
    s = coro_spawn(signals, NULL, 0);
    b = coro_spawn(broadcaster, NULL, 0);
    a = coro_spawn(acceptor, NULL, 0);
    r = coro_spawn(ready, NULL, 0);
    if (!s || !b || !a || !r) {
        fprintf(stderr, "chat: cannot start: %s\n", strerror(errno));
        return 1;
    }
    coro_set_name(s, "signals");
    coro_set_name(b, "broadcaster");
    coro_set_name(a, "acceptor");
    if (coro_run() != 0) fprintf(stderr, "chat: coro_run: %s\n", strerror(errno));
    coro_sched_free();
    coro_chan_free(g.hub);
    printf("chat: %llu clients, %llu lines\n", g.nclients, g.lines);
    return 0;
}
