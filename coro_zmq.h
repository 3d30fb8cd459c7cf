/* coro_zmq.h - v0.1 - ZeroMQ sockets from coro_sched.h's coroutines - MIT licence (or public
   domain, see coro.h)

   An optional header. A coroutine calls coro_zmq_send / coro_zmq_recv (or the zmq_msg_t
   forms) as blocking calls with deadlines; while it waits, the other coroutines run. This is
   how coroutines in different processes or machines talk: through ZeroMQ's sockets (REQ/REP,
   PUB/SUB, PUSH/PULL, DEALER/ROUTER over tcp://, ipc://, inproc://), with no protocol of our
   own. Including coro.h or coro_sched.h alone never pulls any of this in.

USAGE
   In exactly one file, before any #include:

       #define CORO_IMPLEMENTATION
       #define CORO_SCHED_IMPLEMENTATION
       #define CORO_ZMQ_IMPLEMENTATION
       #include "coro_zmq.h"               // includes coro_sched.h and <zmq.h>

   Build:  cc app.c $(pkg-config --cflags --libs libzmq) -pthread

EXAMPLE: a REP server coroutine (a REQ client looks the same with send and recv swapped)
       static void *server(void *ctx) {
           void *rep = zmq_socket(ctx, ZMQ_REP);
           char buf[256];
           int n;
           zmq_bind(rep, "tcp://127.0.0.1:5555");
           while ((n = coro_zmq_recv(rep, buf, sizeof buf, 0, -1)) >= 0)
               if (coro_zmq_send(rep, buf, n > 256 ? 256 : (size_t)n, 0, coro_now() + 1000) < 0)
                   break;
           coro_zmq_close(rep);
           return NULL;
       }

HOW IT WAITS
   A ZeroMQ socket has no fd of its own; ZMQ_FD is a notification fd that becomes readable when
   something may have changed, for both directions, and stays so only until the next
   operation on the socket: a send, a receive, a look at ZMQ_EVENTS, whoever makes it, may be
   the one that takes the signal in. So every wait here first reads ZMQ_EVENTS (which also lets
   ZeroMQ process its pending commands) and only if the wanted event is not there waits for the
   notification fd to be readable, then reads ZMQ_EVENTS again; and after every operation these
   calls make on a socket, if coroutines wait on it, its events are read afresh and those whose
   event is there are woken. Several messages behind one notification are never left waiting.

COROUTINES AND SOCKETS
   A ZeroMQ socket belongs to one thread (its sockets are not thread-safe); within it any
   number of coroutines may use one socket at once (a receiver and repliers on a ROUTER, a
   sender and a receiver on a DEALER, several receivers on a PULL). What is guaranteed, as long
   as every operation on the socket goes through these calls: a waiting coroutine is woken
   whenever its event is there, whichever coroutine's operation (or main's, between two runs of
   the loop) took the notification in. One of the waiters of a socket waits on its fd, the
   others on a condition variable each; when the one on the fd leaves (its message came, its
   deadline passed, it was raised into or killed), another takes its place. Who gets a message
   when several wait to receive is not defined. A raw zmq_ call on a socket that coroutines wait
   on (zmq_send, zmq_recv, zmq_getsockopt ZMQ_EVENTS, zmq_connect, zmq_poll ...) may take their
   notification in: follow it with coro_zmq_wait(sock, ZMQ_POLLIN | ZMQ_POLLOUT, 0), which
   passes the events on. Do not wait on ZMQ_FD yourself (coro_wait_fd) while these calls wait
   on it: they fail with EBUSY. A message of several parts must be sent by one coroutine without
   another sending in between: with sockets whose sends may wait (not ROUTER or PUB) keep one
   sender per socket. A coroutine that always finds messages ready does not wait, so it does
   not let others run: call coro_sched_yield() now and then in such loops. Close sockets with
   coro_zmq_close: the coroutines waiting on the socket wake with ENOTSOCK, and the scheduler
   forgets the notification fd before ZeroMQ closes it. zmq_ctx_term waits for unsent messages
   unless the sockets' ZMQ_LINGER is 0: set it, or call it outside the loop.
   Cost: with no coroutine waiting on a socket, an operation on it costs nothing more than the
   zmq_ call; with some, a look at ZMQ_EVENTS (a poll(2) inside ZeroMQ); waking the one that
   waits on the fd when another operation took its notification in makes the scheduler
   register the fd again (a few syscalls).

ERRORS
   -1 with errno as the zmq_ calls (EFSM, ETERM, ENOTSOCK, EAGAIN with ZMQ_DONTWAIT, ...),
   plus ETIMEDOUT (deadline), EINVAL (NULL socket, bad events), ENOTSOCK (the socket was
   closed with coro_zmq_close while the call waited), EBUSY (a coroutine waits on ZMQ_FD with
   coro_wait_fd), ENOMEM, and errors raised into the coroutine. zmq_strerror(errno) gives
   ZeroMQ's words for its own codes.
   Called from main (outside a spawned coroutine) the calls still work, blocking in zmq_poll.
*/
#ifndef CORO_ZMQ_H
#define CORO_ZMQ_H

#include "coro_sched.h"

#include <zmq.h>

#ifdef __cplusplus
extern "C" {
#endif

/* coro_zmq_wait: wait until sock can do events (ZMQ_POLLIN and/or ZMQ_POLLOUT); returns the
   ones that are ready, and wakes the other coroutines waiting on sock whose events are there
   (with a deadline of 0 it only looks: see COROUTINES AND SOCKETS). -1 with errno ETIMEDOUT,
   EINVAL, ETERM, ENOTSOCK, EBUSY, ENOMEM, or raised. */
CORO_API int coro_zmq_wait(void *sock, int events, int64_t deadline);

/* coro_zmq_send: zmq_send, waiting while the socket cannot take the message (its high-water
   mark is reached, a REQ socket's peer is not there yet). Returns the bytes queued, or -1 with
   errno as zmq_send (EFSM, ETERM ...), ETIMEDOUT. flags: ZMQ_SNDMORE, ZMQ_DONTWAIT (one
   attempt, EAGAIN). */
CORO_API int coro_zmq_send(void *sock, const void *buf, size_t len, int flags, int64_t deadline);

/* coro_zmq_recv: zmq_recv, waiting for a message part: returns its full size (more than len
   when it was truncated to len bytes, as zmq_recv), or -1 with errno as coro_zmq_send. */
CORO_API int coro_zmq_recv(void *sock, void *buf, size_t len, int flags, int64_t deadline);

/* coro_zmq_msg_send / coro_zmq_msg_recv: zmq_msg_send / zmq_msg_recv (messages of any size,
   no copy), waiting as above. The byte count, or -1 with errno as above. */
CORO_API int coro_zmq_msg_send(zmq_msg_t *msg, void *sock, int flags, int64_t deadline);
CORO_API int coro_zmq_msg_recv(zmq_msg_t *msg, void *sock, int flags, int64_t deadline);

/* coro_zmq_close: the coroutines waiting on sock wake and fail with ENOTSOCK, the scheduler
   forgets sock's notification fd, then zmq_close(sock). Returns zmq_close's result; -1 with
   errno EINVAL for NULL, ENOTSOCK. */
CORO_API int coro_zmq_close(void *sock);

#ifdef __cplusplus
}
#endif
#endif /* CORO_ZMQ_H */

/* ============================================================================================ */
/*                                        IMPLEMENTATION                                        */
/* ============================================================================================ */
#if defined(CORO_ZMQ_IMPLEMENTATION) && !defined(CORO_ZMQ__IMPLEMENTED)
#define CORO_ZMQ__IMPLEMENTED

/* >>config */
#include <errno.h>
#include <limits.h>

/* >>waiters: who waits on which socket, per thread. ZMQ_FD signals once per batch of ZeroMQ's
   internal commands, and whichever operation on the socket comes first reads that signal: a
   send, a receive, a look at ZMQ_EVENTS, by any coroutine. So after each operation the
   events are read afresh and passed on to the coroutines waiting on the socket. One of them
   (the watcher) waits on the fd; the others wait on a condition variable of their own. A
   waiter lives on its coroutine's stack, linked in a bucket of a small table while it waits
   (a deferred cleanup unlinks it if the coroutine is killed meanwhile). */
typedef struct coro__zmq_waiter {
    struct coro__zmq_waiter *next, *prev;
    void *sock;
    coro_cond_t cond;         /* where it waits unless it is the watcher */
    int fd, events;           /* sock's ZMQ_FD; the ZMQ_POLLIN/ZMQ_POLLOUT it waits for */
    unsigned char watcher;    /* it waits on the fd */
    unsigned char poked;      /* woken to look at the events again */
    unsigned char closed;     /* sock was closed by coro_zmq_close meanwhile */
} coro__zmq_waiter;

#define CORO__ZMQ_BUCKETS 64 /* a power of two */
#define CORO__ZMQ_UNKNOWN (-2) /* coro__zmq_notify: read the events first */
static __thread coro__zmq_waiter *coro__zmq_table[CORO__ZMQ_BUCKETS];
static __thread size_t coro__zmq_nwaiting;

static coro__zmq_waiter **coro__zmq_bucket(void *sock) {
    uintptr_t h = (uintptr_t)sock;
    return &coro__zmq_table[(size_t)((h >> 4) ^ (h >> 10) ^ (h >> 16)) & (CORO__ZMQ_BUCKETS - 1)];
}

static void coro__zmq_link(coro__zmq_waiter *w) {
    coro__zmq_waiter **b = coro__zmq_bucket(w->sock);
    w->prev = NULL;
    w->next = *b;
    if (*b) (*b)->prev = w;
    *b = w;
    coro__zmq_nwaiting++;
}

static void coro__zmq_unlink(coro__zmq_waiter *w) {
    if (w->prev) w->prev->next = w->next;
    else *coro__zmq_bucket(w->sock) = w->next;
    if (w->next) w->next->prev = w->prev;
    coro__zmq_nwaiting--;
}

static coro__zmq_waiter *coro__zmq_first(void *sock) {
    coro__zmq_waiter *w;
    if (!coro__zmq_nwaiting) return NULL;
    for (w = *coro__zmq_bucket(sock); w && w->sock != sock; w = w->next) {}
    return w;
}

/* whether a waiter of sock waits on its fd and has not been told to look again */
static int coro__zmq_watched(void *sock) {
    coro__zmq_waiter *w;
    for (w = coro__zmq_first(sock); w; w = w->next)
        if (w->sock == sock && w->watcher && !w->poked) return 1;
    return 0;
}

/* Wake w to read the events itself. The watcher waits in coro_wait_fd, which nothing but the
   fd, a deadline, a raise or a kill ends, and forgetting the fd: so it is forgotten (w sees
   EBADF, knows it was poked, and waits anew; the fd is registered again, a few syscalls). */
static void coro__zmq_poke(coro__zmq_waiter *w) {
    if (w->poked) return;
    w->poked = 1;
    if (w->watcher) coro_fd_forget(w->fd);
    else coro_cond_signal(&w->cond);
}

static int coro__zmq_events(void *sock);

/* After an operation on sock: wake its waiters whose events are there (all of them if the
   events cannot be read: each reads the error itself), and if none of those left is the
   watcher or about to look, one more, who becomes the watcher. ev: the events just read, or
   CORO__ZMQ_UNKNOWN. errno is kept. */
static void coro__zmq_notify(void *sock, int ev) {
    coro__zmq_waiter *w = coro__zmq_first(sock), *idle = NULL;
    int saved = errno, watched = 0;
    if (!w) return;
    if (ev == CORO__ZMQ_UNKNOWN) ev = coro__zmq_events(sock);
    for (; w; w = w->next) {
        if (w->sock != sock) continue;
        if (ev < 0 || (w->events & ev)) coro__zmq_poke(w);
        if (w->watcher || w->poked) watched = 1;
        else if (!idle) idle = w;
    }
    if (!watched && idle) coro__zmq_poke(idle);
    errno = saved;
}

/* w stops waiting (woken, timed out, raised into, or killed: then from its cleanup). If it was
   the watcher, or was poked to become it, another waiter of the socket takes over. */
static void coro__zmq_leave(coro__zmq_waiter *w) {
    coro__zmq_unlink(w);
    if ((w->watcher || w->poked) && !w->closed) coro__zmq_notify(w->sock, 0);
}

static void coro__zmq_leave_killed(void *w) { coro__zmq_leave((coro__zmq_waiter *)w); }

/* >>wait */

static int coro__zmq_fd(void *sock) {
    int fd;
    size_t len = sizeof fd;
    if (zmq_getsockopt(sock, ZMQ_FD, &fd, &len) != 0) return -1;
    return (int)fd;
}

static int coro__zmq_events(void *sock) {
    int ev = 0;
    size_t len = sizeof ev;
    if (zmq_getsockopt(sock, ZMQ_EVENTS, &ev, &len) != 0) return -1;
    return ev;
}

/* not a spawned coroutine: zmq_poll blocks the thread. 0 (look again), or -1 */
static int coro__zmq_poll(void *sock, int events, int64_t deadline) {
    zmq_pollitem_t item;
    int64_t left = deadline < 0 ? -1 : deadline - coro_now();
    int n;
    item.socket = sock;
    item.fd = 0;
    item.events = (short)events;
    item.revents = 0;
    if (deadline >= 0 && left < 0) left = 0;
    n = zmq_poll(&item, 1, left > LONG_MAX ? LONG_MAX : (long)left);
    coro__zmq_notify(sock, CORO__ZMQ_UNKNOWN);
    if (n < 0 && errno != EINTR) return -1;
    if (n == 0) {
        errno = ETIMEDOUT;
        return -1;
    }
    return 0;
}

CORO_API int coro_zmq_wait(void *sock, int events, int64_t deadline) {
    int fd;
    if (!sock || !events || (events & ~(ZMQ_POLLIN | ZMQ_POLLOUT))) {
        errno = EINVAL;
        return -1;
    }
    if ((fd = coro__zmq_fd(sock)) < 0) return -1;
    for (;;) {
        coro__zmq_waiter w;
        int ev = coro__zmq_events(sock), r, err;
        coro__zmq_notify(sock, ev);
        if (ev < 0) return -1;
        if (ev & events) return ev & events;
        if (!coro_current()) {
            if (coro__zmq_poll(sock, events, deadline) < 0) return -1;
            continue;
        }
        memset(&w, 0, sizeof w);
        w.sock = sock;
        w.fd = fd;
        w.events = events;
        w.watcher = !coro__zmq_watched(sock);
        if (!w.watcher) coro_cond_init(&w.cond);
        if (coro_defer(coro__zmq_leave_killed, &w) != 0) return -1;
        coro__zmq_link(&w);
        if (w.watcher) {
            r = coro_wait_fd(fd, CORO_READ, deadline);
        } else {
            r = coro_cond_wait(&w.cond, deadline);
        }
        err = errno;
        coro_defer_pop(0);
        coro__zmq_leave(&w);
        if (w.closed) {
            errno = ENOTSOCK;
            return -1;
        }
        if (r >= 0 || (w.poked && err == EBADF)) continue;
        if (err == EPERM) { /* a coroutine the scheduler does not run (a generator, say) */
            if (coro__zmq_poll(sock, events, deadline) < 0) return -1;
            continue;
        }
        errno = err;
        return -1;
    }
}

/* one attempt with ZMQ_DONTWAIT, then wait for events and try again; after the attempt, the
   waiters of sock look at the events (in coro_zmq_wait if the call waits) */
#define CORO__ZMQ_LOOP(attempt, sock, events, flags, deadline)                                    \
    for (;;) {                                                                                    \
        int r_ = (attempt);                                                                       \
        if (r_ < 0 && errno == EAGAIN && !((flags) & ZMQ_DONTWAIT)) {                             \
            if (coro_zmq_wait((sock), (events), (deadline)) < 0) return -1;                       \
            continue;                                                                             \
        }                                                                                         \
        coro__zmq_notify((sock), CORO__ZMQ_UNKNOWN);                                              \
        if (r_ >= 0 || errno != EINTR) return r_;                                                 \
    }

CORO_API int coro_zmq_send(void *sock, const void *buf, size_t len, int flags, int64_t deadline) {
    if (!sock || (!buf && len)) {
        errno = EINVAL;
        return -1;
    }
    CORO__ZMQ_LOOP(zmq_send(sock, buf, len, flags | ZMQ_DONTWAIT), sock, ZMQ_POLLOUT, flags,
                   deadline)
}

CORO_API int coro_zmq_recv(void *sock, void *buf, size_t len, int flags, int64_t deadline) {
    if (!sock || (!buf && len)) {
        errno = EINVAL;
        return -1;
    }
    CORO__ZMQ_LOOP(zmq_recv(sock, buf, len, flags | ZMQ_DONTWAIT), sock, ZMQ_POLLIN, flags,
                   deadline)
}

CORO_API int coro_zmq_msg_send(zmq_msg_t *msg, void *sock, int flags, int64_t deadline) {
    if (!sock || !msg) {
        errno = EINVAL;
        return -1;
    }
    CORO__ZMQ_LOOP(zmq_msg_send(msg, sock, flags | ZMQ_DONTWAIT), sock, ZMQ_POLLOUT, flags,
                   deadline)
}

CORO_API int coro_zmq_msg_recv(zmq_msg_t *msg, void *sock, int flags, int64_t deadline) {
    if (!sock || !msg) {
        errno = EINVAL;
        return -1;
    }
    CORO__ZMQ_LOOP(zmq_msg_recv(msg, sock, flags | ZMQ_DONTWAIT), sock, ZMQ_POLLIN, flags,
                   deadline)
}

CORO_API int coro_zmq_close(void *sock) {
    int fd;
    if (!sock) {
        errno = EINVAL;
        return -1;
    }
    if ((fd = coro__zmq_fd(sock)) >= 0) {
        coro__zmq_waiter *w;
        for (w = coro__zmq_first(sock); w; w = w->next)
            if (w->sock == sock) { /* they must not touch it again */
                w->closed = 1;
                coro__zmq_poke(w);
            }
        coro_fd_forget(fd);
    }
    return zmq_close(sock);
}

#endif /* CORO_ZMQ_IMPLEMENTATION */
