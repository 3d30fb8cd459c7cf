/* chat.c - a line-based chat server on N threads: a broadcast and a select per client.

   What it shows: coro_bcast_t (one-to-many message passing across threads, with an explicit
   policy for whoever falls behind) and coro_chan_select. Each thread has its own scheduler and
   its own listening socket on the shared port (SO_REUSEPORT spreads the clients); a client's
   two coroutines live on the thread that accepted it. The room is one broadcast: every client
   is a subscriber with a queue of its own, on whichever thread. A client's reader turns its
   bytes into lines and publishes each line to the room (the sender gets it back too, so every
   client sees the room's order); its writer selects between its room queue and a private
   queue of server notices, and writes whatever it finds, many lines per writev. Nobody but the
   writer ever writes to the socket.

   Fan-out keeps up and nobody is dropped for being merely busy: a publish that finds a queue
   full waits for room (the reader, and through it the sender's socket, is held back) instead
   of giving up. Only a client whose queue stays full for 10 seconds (its socket stays
   unwritable that long) is dropped, and told, rather than skipped: a client that silently
   misses lines sees a conversation that never happened. (IRC servers do the same: "SendQ
   exceeded".) A write that has not finished in 10 seconds disconnects its client too.
   A message is allocated once and reference-counted (atomically: its readers may be on any
   thread); the queues carry pointers to it.

   Protocol: the first line is your nickname (1-16 of A-Z a-z 0-9 _ -, unique). Then each line
   is said to the room as "<nick> text"; "/nick NAME" renames, "/who" lists who is here,
   "/quit" leaves. Server notices start with "* ".

   After asyncoro's Channel, its one-to-many, subscription-based message passing.

   Build and run, from the repository root:
       cc -O2 -I. examples/chat.c -o chat -pthread
       ./chat -p 7001 -t 2   # then, in two terminals: nc 127.0.0.1 7001
   Options: -p PORT (0 = any free port, the default), -b ADDR (127.0.0.1), -t THREADS (1),
   -h. Prints "listening on ADDR:PORT", and at exit (SIGINT or SIGTERM)
   "chat: N clients, M lines". */
#define CORO_IMPLEMENTATION
#define CORO_SCHED_IMPLEMENTATION
#include "coro_sched.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define NICK_MAX 16
#define LINE_MAX_BYTES 512  /* longer input lines are refused */
#define ROOM_QUEUE 256      /* room messages waiting for a client's writer */
#define NOTICE_QUEUE 64     /* server notices waiting for a client's writer */
#define SLOW_MS 10000       /* a queue full this long, or a write this long: disconnected */
#define WRITE_BATCH 64      /* messages per writev */
#define MAX_THREADS 64
#define REF_UNKNOWN (1 << 30) /* a message's references before its publish has counted them */

struct msg {
    int refs;        /* atomic */
    unsigned not_to; /* a client this notice is about, who is not sent it (0: none) */
    size_t len;
    char text[]; /* ends in "\n" */
};

struct worker;
struct client {
    unsigned id;
    int fd, named, kicked, write_failed;
    char nick[NICK_MAX + 1]; /* written under g.lock */
    coro_t *reader, *writer;
    coro_chan_t *notices;   /* of struct msg *: for this client only */
    coro_bcast_sub_t *sub;  /* the room, once named */
    struct worker *w;
    struct client *prev, *next;   /* every client (g.lock) */
    struct client *tprev, *tnext; /* this thread's clients */
};

struct worker {
    int index, lfd, stopping;
    struct client *clients;
    long nclients;
};

static struct {
    const char *addr;
    int nthreads;
    coro_bcast_t *room;       /* of struct msg * */
    coro_chan_t *stopped;     /* a worker's index when its clients are gone */
    pthread_mutex_t lock;     /* clients, nicknames */
    struct client *clients;
    unsigned next_id;         /* atomic */
    unsigned long long nclients, lines; /* atomic */
    struct worker workers[MAX_THREADS];
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
    m->not_to = 0;
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

static void msg_unref_n(struct msg *m, int n) {
    if (m && __atomic_sub_fetch(&m->refs, n, __ATOMIC_ACQ_REL) == 0) free(m);
}
static void msg_unref(struct msg *m) { msg_unref_n(m, 1); }

/* Disconnect c: both directions of its socket shut down, so its reader sees the end of file
   and its writer's next write fails. Never switches coroutines. */
static void kick(struct client *c, const char *why) {
    if (c->kicked) return;
    c->kicked = 1;
    fprintf(stderr, "chat: disconnecting client %u (%s): %s\n", c->id, c->named ? c->nick : "-", why);
    shutdown(c->fd, SHUT_RDWR);
}

/* To one client, from the server, without waiting: a client that lets 64 notices pile up is
   not reading, and is disconnected. */
static void tell(struct client *c, const char *fmt, ...) {
    va_list ap;
    struct msg *m;
    va_start(ap, fmt);
    m = msg_vnew(fmt, ap);
    va_end(ap);
    if (!m || c->kicked) {
        free(m);
        return;
    }
    if (coro_chan_send(c->notices, &m, 0) == 0) return;
    free(m);
    if (errno == ETIMEDOUT) kick(c, "its notice queue is full (not reading)");
}

/* To the whole room but not_to. Until the publish returns, nobody knows how many queues m went
   into: it starts with REF_UNKNOWN references, and those not handed out are dropped after. */
static int publish(struct msg *m, unsigned not_to) {
    int n;
    if (!m) return -1;
    m->not_to = not_to;
    m->refs = REF_UNKNOWN;
    n = coro_bcast_publish(g.room, &m, coro_now() + SLOW_MS);
    msg_unref_n(m, REF_UNKNOWN - (n > 0 ? n : 0));
    return n;
}

/* >>coroutines */
/* The writer: one select over the room and the notices, then as many more messages as are
   already there (without waiting), all in one writev. Ends when both queues are closed and
   drained; a failed write only stops the writing (the messages are still taken and released). */
static void *writer(void *arg) {
    struct client *c = (struct client *)arg;
    struct msg *batch[WRITE_BATCH], *m = NULL;
    struct iovec iov[WRITE_BATCH];
    coro_chan_op ops[2];
    int n, i, r, room = 0; /* room: 1 once subscribed, 2 once its queue is closed */
    ops[0].ch = c->notices;
    ops[0].op = CORO_CHAN_RECV;
    ops[0].elem = &m;
    ops[1].ch = NULL;
    ops[1].op = CORO_CHAN_CLOSED; /* until the client has a name */
    ops[1].elem = &m;
    for (;;) {
        if (!room && c->sub) {
            room = 1;
            ops[1].ch = coro_bcast_chan(c->sub);
            ops[1].op = CORO_CHAN_RECV;
        }
        if (room == 1 && ops[1].op == CORO_CHAN_CLOSED) { /* closed, or dropped? */
            room = 2;
            if (coro_bcast_recv(c->sub, &m, 0) < 0 && errno == ENOBUFS)
                kick(c, "its queue stayed full for 10 s (too slow)");
        }
        n = 0;
        while (n < WRITE_BATCH && (r = coro_chan_select(ops, 2, n ? 0 : -1)) >= 0) {
            if (m->not_to == c->id) {
                msg_unref(m);
                continue;
            }
            batch[n] = m;
            iov[n].iov_base = m->text;
            iov[n].iov_len = m->len;
            n++;
        }
        if (n == 0) {
            if (errno != EPIPE) break;
            if (ops[0].op == CORO_CHAN_CLOSED && ops[1].op == CORO_CHAN_CLOSED && (room || !c->sub))
                break; /* both closed and drained */
            continue;
        }
        if (!c->kicked && !c->write_failed && coro_writev(c->fd, iov, n, coro_now() + SLOW_MS) < 0) {
            c->write_failed = 1;
            if (errno == ETIMEDOUT) kick(c, "a write took more than 10 s");
            else shutdown(c->fd, SHUT_RDWR); /* wake the reader: the client is gone */
        }
        for (i = 0; i < n; i++) msg_unref(batch[i]);
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

/* Sets c's nickname from s[0, n), or tells the client why not. 0 on success. */
static int set_nick(struct client *c, const char *s, size_t n) {
    char old[NICK_MAX + 1];
    struct client *o;
    int taken = 0;
    if (!valid_nick(s, n)) {
        tell(c, "* a nickname is 1-16 of A-Z a-z 0-9 _ -");
        return -1;
    }
    pthread_mutex_lock(&g.lock);
    for (o = g.clients; o && !taken; o = o->next)
        taken = o->named && strlen(o->nick) == n && memcmp(o->nick, s, n) == 0;
    if (!taken) {
        memcpy(old, c->nick, sizeof old);
        memcpy(c->nick, s, n);
        c->nick[n] = 0;
    }
    pthread_mutex_unlock(&g.lock);
    if (taken) {
        tell(c, "* that nickname is taken, pick another");
        return -1;
    }
    if (!c->named) {
        if (!(c->sub = coro_bcast_subscribe(g.room))) {
            tell(c, "* the room is closed");
            return -1;
        }
        c->named = 1;
        tell(c, "* hello %s; commands: /who /nick NAME /quit", c->nick);
        publish(msg_new("* %s joined", c->nick), c->id);
    } else {
        publish(msg_new("* %s is now known as %s", old, c->nick), 0);
    }
    return 0;
}

static void who(struct client *c) {
    char list[1024];
    size_t len = 0;
    struct client *o;
    list[0] = 0;
    pthread_mutex_lock(&g.lock);
    for (o = g.clients; o; o = o->next) {
        int n;
        if (!o->named) continue;
        n = snprintf(list + len, sizeof list - len, "%s%s", len ? " " : "", o->nick);
        if (n < 0 || (size_t)n >= sizeof list - len) break;
        len += (size_t)n;
    }
    pthread_mutex_unlock(&g.lock);
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
        __atomic_add_fetch(&g.lines, 1, __ATOMIC_RELAXED);
        publish(msg_new("<%s> %s", c->nick, line), 0);
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
    struct worker *w = c->w;
    char in[LINE_MAX_BYTES + 2];
    size_t have = 0;
    int discarding = 0, quit = 0;
    ssize_t n;
    pthread_mutex_lock(&g.lock);
    c->next = g.clients;
    if (g.clients) g.clients->prev = c;
    g.clients = c;
    pthread_mutex_unlock(&g.lock);
    c->tnext = w->clients;
    if (w->clients) w->clients->tprev = c;
    w->clients = c;
    w->nclients++;
    tell(c, "* welcome to coro chat; your nickname?");
    while (!quit && !w->stopping &&
           (n = coro_read(c->fd, in + have, sizeof in - 1 - have, -1)) > 0) {
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
    pthread_mutex_lock(&g.lock);
    if (c->prev) c->prev->next = c->next;
    else g.clients = c->next;
    if (c->next) c->next->prev = c->prev;
    pthread_mutex_unlock(&g.lock);
    if (c->tprev) c->tprev->tnext = c->tnext;
    else w->clients = c->tnext;
    if (c->tnext) c->tnext->tprev = c->tprev;
    if (c->named && !w->stopping) publish(msg_new("* %s left", c->nick), c->id);
    /* no more messages in; the writer sends what is queued, then ends */
    if (c->sub) coro_chan_close(coro_bcast_chan(c->sub));
    coro_chan_close(c->notices);
    while (coro_join(c->writer, NULL, -1) != 0 && errno != ESRCH)
        ; /* raised at shutdown: keep waiting, the writer ends within its write timeout */
    if (c->sub) coro_bcast_unsubscribe(c->sub);
    coro_close(c->fd);
    coro_chan_free(c->notices);
    free(c);
    w->nclients--;
    return NULL;
}

static void *acceptor(void *arg) {
    struct worker *w = (struct worker *)arg;
    int fd;
    while ((fd = coro_accept(w->lfd, NULL, NULL, -1)) >= 0) {
        struct client *c = (struct client *)calloc(1, sizeof *c);
        if (c) {
            c->fd = fd;
            c->w = w;
            c->id = __atomic_add_fetch(&g.next_id, 1, __ATOMIC_RELAXED);
        }
        if (!c || !(c->notices = coro_chan_new(sizeof(struct msg *), NOTICE_QUEUE)) ||
            !(c->writer = coro_spawn(writer, c, 0)) || coro_joinable(c->writer) != 0 ||
            !(c->reader = coro_spawn(reader, c, 0))) {
            /* a writer already spawned has not run yet: kill it before freeing what it uses */
            fprintf(stderr, "chat: cannot take a client: %s\n", strerror(errno));
            if (c && c->writer) coro_kill(c->writer);
            if (c) coro_chan_free(c->notices);
            free(c);
            coro_close(fd);
            continue;
        }
        coro_set_name(c->reader, "chat-reader");
        coro_set_name(c->writer, "chat-writer");
        __atomic_add_fetch(&g.nclients, 1, __ATOMIC_RELAXED);
    }
    if (!w->stopping) fprintf(stderr, "chat: accept: %s\n", strerror(errno));
    return NULL;
}

static void start_worker(int index, void *arg) {
    struct worker *w = &g.workers[index];
    (void)arg;
    w->index = index;
    coro_set_name(coro_spawn(acceptor, w, 0), "acceptor");
}

/* Posted to each thread at shutdown: no new clients, every reader's read fails with ECANCELED
   (it then leaves as usual: its writer sends what is queued and ends); tells main once this
   thread's clients are gone. */
static void *stop_worker(void *arg) {
    struct worker *w = (struct worker *)arg;
    struct client *c, *next;
    w->stopping = 1;
    coro_close(w->lfd);
    for (c = w->clients; c; c = next) {
        next = c->tnext; /* only c runs during the raise, and it unlinks only itself */
        coro_raise(c->reader, ECANCELED);
    }
    while (w->nclients > 0) coro_sleep(5);
    coro_chan_send(g.stopped, &w->index, -1);
    return NULL;
}

/* On the main thread: waits for SIGINT or SIGTERM, says goodbye to the room, stops every
   thread's clients and waits until they are gone. */
static void *shutdown_all(void *arg) {
    coro_threads_t *threads = (coro_threads_t *)arg;
    sigset_t set;
    int sig, i, index;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sig = coro_signal_wait(&set, -1);
    fprintf(stderr, "chat: %s, stopping\n", sig == SIGINT ? "SIGINT" : sig == SIGTERM ? "SIGTERM" : strerror(errno));
    publish(msg_new("* the server is shutting down"), 0); /* waits for room like any other */
    coro_bcast_close(g.room);
    for (i = 0; i < g.nthreads; i++)
        if (coro_sched_post(coro_threads_sched(threads, i), stop_worker, &g.workers[i], 0) != 0)
            fprintf(stderr, "chat: thread %d: %s\n", i, strerror(errno));
    for (i = 0; i < g.nthreads; i++) coro_chan_recv(g.stopped, &index, -1);
    return NULL;
}

static void usage(FILE *f) {
    fprintf(f, "usage: chat [-p PORT] [-b ADDR] [-t THREADS] [-h]\n"
               "  -p PORT     port to listen on, 0 = any free port (default 0)\n"
               "  -b ADDR     address to bind (default 127.0.0.1)\n"
               "  -t THREADS  threads, each with its own scheduler and listener (1..%d, default 1)\n",
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

int main(int argc, char **argv) {
    coro_threads_t *threads;
    sigset_t set;
    int opt, port = 0, i;
    long v;
    g.addr = "127.0.0.1";
    g.nthreads = 1;
    while ((opt = getopt(argc, argv, "p:b:t:h")) != -1) {
        switch (opt) {
        case 'p':
            if (parse_int(optarg, 0, 65535, &v) != 0) {
                fprintf(stderr, "chat: -p: '%s' is not a port (0..65535)\n", optarg);
                return 2;
            }
            port = (int)v;
            break;
        case 'b': g.addr = optarg; break;
        case 't':
            if (parse_int(optarg, 1, MAX_THREADS, &v) != 0) {
                fprintf(stderr, "chat: -t: '%s' is not a thread count (1..%d)\n", optarg, MAX_THREADS);
                return 2;
            }
            g.nthreads = (int)v;
            break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "chat: unexpected argument '%s'\n", argv[optind]);
        usage(stderr);
        return 2;
    }
    /* the first listener picks the port (port 0: any free one) that the others then share */
    for (i = 0; i < g.nthreads; i++) {
        if ((g.workers[i].lfd = coro_tcp_listen_opt(g.addr, port, 1024, CORO_TCP_REUSEPORT)) < 0) {
            fprintf(stderr, "chat: listen on %s:%d: %s\n", g.addr, port, strerror(errno));
            return 1;
        }
        port = coro_tcp_port(g.workers[i].lfd);
    }
    pthread_mutex_init(&g.lock, NULL);
    if (!(g.room = coro_bcast_new(sizeof(struct msg *), ROOM_QUEUE)) ||
        !(g.stopped = coro_chan_new(sizeof(int), (size_t)g.nthreads))) {
        fprintf(stderr, "chat: %s\n", strerror(errno));
        return 1;
    }
    /* the handlers first, so that a signal sent by whoever read the "listening" line is seen */
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    if (coro_signal_watch(&set) != 0 || !(threads = coro_threads_start(g.nthreads, start_worker, NULL)) ||
        !coro_spawn(shutdown_all, threads, 0)) {
        fprintf(stderr, "chat: cannot start: %s\n", strerror(errno));
        return 1;
    }
    printf("listening on %s:%d\n", g.addr, port);
    fflush(stdout);
    if (coro_run() != 0) fprintf(stderr, "chat: coro_run: %s\n", strerror(errno));
    coro_threads_stop(threads);
    coro_threads_join(threads);
    coro_bcast_free(g.room);
    coro_chan_free(g.stopped);
    coro_sched_free();
    pthread_mutex_destroy(&g.lock);
    printf("chat: %llu clients, %llu lines\n", g.nclients, g.lines);
    return 0;
}
