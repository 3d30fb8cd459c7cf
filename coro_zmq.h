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
   something may have changed, edge-triggered, for both directions. So every wait here first
   reads ZMQ_EVENTS (which also lets ZeroMQ process its pending commands) and only if the
   wanted event is not there waits for the notification fd to be readable, then reads
   ZMQ_EVENTS again. After every send or receive the events are read afresh before any wait:
   several messages behind one notification are never left waiting.

COROUTINES AND SOCKETS
   A ZeroMQ socket belongs to one thread; within it several coroutines may use one socket (a
   receiver and repliers on a ROUTER, say), but only one of them at a time waits on the
   notification fd: the others look at ZMQ_EVENTS every millisecond while they wait. A message
   of several parts must be sent by one coroutine without another sending in between: with
   sockets whose sends may wait (not ROUTER or PUB) keep one sender per socket. For many
   concurrent waiters, use one socket per coroutine (they are cheap; inproc:// connects them
   inside a process). A coroutine that always finds
   messages ready does not wait, so it does not let others run: call coro_sched_yield() now and
   then in such loops. Close sockets with coro_zmq_close (the scheduler must forget the
   notification fd before ZeroMQ closes it). zmq_ctx_term waits for unsent messages unless the
   sockets' ZMQ_LINGER is 0: set it, or call it outside the loop.

ERRORS
   -1 with errno as the zmq_ calls (EFSM, ETERM, ENOTSOCK, EAGAIN with ZMQ_DONTWAIT, ...),
   plus ETIMEDOUT (deadline), EINVAL (NULL socket, bad events), and errors
   raised into the coroutine. zmq_strerror(errno) gives ZeroMQ's words for its own codes.
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
   ones that are ready. -1 with errno ETIMEDOUT, EINVAL, ETERM, ENOTSOCK, or raised. */
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

/* coro_zmq_close: the scheduler forgets sock's notification fd, then zmq_close(sock). Returns
   zmq_close's result; -1 with errno EINVAL for NULL, ENOTSOCK. */
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

CORO_API int coro_zmq_wait(void *sock, int events, int64_t deadline) {
    int fd;
    if (!sock || !events || (events & ~(ZMQ_POLLIN | ZMQ_POLLOUT))) {
        errno = EINVAL;
        return -1;
    }
    if ((fd = coro__zmq_fd(sock)) < 0) return -1;
    for (;;) {
        int ev = coro__zmq_events(sock);
        if (ev < 0) return -1;
        if (ev & events) return ev & events;
        if (coro_wait_fd(fd, CORO_READ, deadline) >= 0) continue;
        if (errno == EBUSY) { /* another coroutine waits on this socket: look every 1 ms */
            if (deadline >= 0 && coro_now() >= deadline) {
                errno = ETIMEDOUT;
                return -1;
            }
            if (coro_sleep(1) < 0) return -1;
            continue;
        }
        if (errno != EPERM) return -1;
        { /* not a spawned coroutine: zmq_poll blocks the thread */
            zmq_pollitem_t item;
            int64_t left = deadline < 0 ? -1 : deadline - coro_now();
            int n;
            item.socket = sock;
            item.fd = 0;
            item.events = (short)events;
            item.revents = 0;
            if (deadline >= 0 && left < 0) left = 0;
            n = zmq_poll(&item, 1, left > LONG_MAX ? LONG_MAX : (long)left);
            if (n < 0 && errno != EINTR) return -1;
            if (n == 0) {
                errno = ETIMEDOUT;
                return -1;
            }
        }
    }
}

/* one attempt with ZMQ_DONTWAIT, then wait for events and try again */
#define CORO__ZMQ_LOOP(attempt, sock, events, flags, deadline)                                    \
    for (;;) {                                                                                    \
        int r_ = (attempt);                                                                       \
        if (r_ >= 0) return r_;                                                                   \
        if (errno == EINTR) continue;                                                             \
        if (errno != EAGAIN || ((flags) & ZMQ_DONTWAIT)) return -1;                               \
        if (coro_zmq_wait((sock), (events), (deadline)) < 0) return -1;                           \
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
    if ((fd = coro__zmq_fd(sock)) >= 0) coro_fd_forget(fd);
    return zmq_close(sock);
}

#endif /* CORO_ZMQ_IMPLEMENTATION */
