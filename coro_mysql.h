/* coro_mysql.h - v0.1 - MariaDB/MySQL queries from coro_sched.h's coroutines, over MariaDB
   Connector/C's non-blocking API - MIT licence (or public domain, see coro.h)

   An optional header. A coroutine calls coro_mysql_real_connect, coro_mysql_query,
   coro_mysql_store_result, coro_mysql_fetch_row ... as the plain blocking calls of the C API,
   each with a deadline; while it waits for the server, the other coroutines run. Underneath,
   each call is the library's mysql_*_start / mysql_*_cont pair: the MYSQL_WAIT_READ / WRITE /
   EXCEPT it reports become coro_wait_fd on the connection's socket, MYSQL_WAIT_TIMEOUT (the
   library's own timeouts, such as MYSQL_OPT_CONNECT_TIMEOUT) a wait with that time limit.
   Including coro.h or coro_sched.h alone never pulls any of this in.

USAGE
   In exactly one file, before any #include:

       #define CORO_IMPLEMENTATION
       #define CORO_SCHED_IMPLEMENTATION
       #define CORO_MYSQL_IMPLEMENTATION
       #include "coro_mysql.h"             // includes coro_sched.h and <mysql.h>

   Build:  cc app.c $(pkg-config --cflags --libs libmariadb) -pthread
   Call mysql_library_init(0, NULL, NULL) in main before any thread starts (coro_offload's
   workers are threads), and mysql_library_end() at the end.

EXAMPLE (inside a spawned coroutine)
       MYSQL *db = mysql_init(NULL);
       int64_t deadline = coro_now() + 5000;
       if (!coro_mysql_real_connect(db, "127.0.0.1", "app", "secret", "shop", 3306, NULL, 0,
                                    deadline) ||
           coro_mysql_query(db, "SELECT id, name FROM items", deadline) != 0) {
           fprintf(stderr, "db: %s\n", mysql_error(db));
       } else {
           MYSQL_RES *res = coro_mysql_store_result(db, deadline);
           MYSQL_ROW row;
           while (res && (row = coro_mysql_fetch_row(res, deadline)))
               printf("%s %s\n", row[0], row[1]);
           if (res) coro_mysql_free_result(res, deadline);
       }
       coro_mysql_close(db, coro_now() + 1000);

THE CALLS
   Each has the arguments of the call it wraps plus a deadline (coro_now()'s clock, -1 for
   none) and returns what that call returns. mysql_init, mysql_options, mysql_error,
   mysql_errno, mysql_num_fields, mysql_real_escape_string ... never wait: call them directly.
   Called from main (outside a spawned coroutine) they still work, blocking the thread in poll().

ERRORS
   As the wrapped calls: nonzero or NULL, with the reason in mysql_error() and mysql_errno().
   errno is set too: ETIMEDOUT when the deadline passed, EIO for a failure the library reports
   (the server refused, lost the connection: CR_SERVER_LOST, 2013, when the server dies
   mid-query), or the error raised into the coroutine (coro_raise). A call can not be abandoned
   half-way inside the library: at the deadline (or when raised into) the connection's socket is
   shut down, the library fails the call as a lost connection, and the connection is broken from
   then on: coro_mysql_close it (and connect again). Killing a coroutine (coro_kill) while it is
   inside one of these calls leaves the library in the middle of it: raise it instead.

COROUTINES AND ONE CONNECTION
   A MYSQL is driven by one coroutine at a time, start to finish of each call (including
   fetching the rows of an unbuffered result). For many coroutines, keep a pool of connections
   (examples/mysql_pool.c does it with a channel). Do not set MYSQL_OPT_RECONNECT: the library
   would replace the socket behind the scheduler's back. Host names in coro_mysql_real_connect
   are resolved by the library with a blocking getaddrinfo: use an address or a unix socket, or
   resolve first.

CONFIGURATION
   CORO_MYSQL_STACK  stack size the library's own context uses for each connection [0: its
                     default] (MYSQL_OPT_NONBLOCK's argument)
   coro.h's macros (CORO_STATIC, ...) apply here too.
*/
#ifndef CORO_MYSQL_H
#define CORO_MYSQL_H

#include "coro_sched.h"

#include <mysql.h>

#ifdef __cplusplus
extern "C" {
#endif

/* coro_mysql_real_connect: mysql_real_connect, non-blocking (it sets MYSQL_OPT_NONBLOCK on
   mysql, which must come from mysql_init). Returns mysql, or NULL (mysql_error says why; errno
   ETIMEDOUT, EIO, EINVAL for a NULL mysql, ENOMEM if the option could not be set). */
CORO_API MYSQL *coro_mysql_real_connect(MYSQL *mysql, const char *host, const char *user,
                                        const char *passwd, const char *db, unsigned int port,
                                        const char *unix_socket, unsigned long clientflag,
                                        int64_t deadline);

/* coro_mysql_real_query / coro_mysql_query: send a statement and read the server's answer
   (not the rows: coro_mysql_store_result). 0, or nonzero with errno as above. */
CORO_API int coro_mysql_real_query(MYSQL *mysql, const char *stmt, unsigned long length,
                                   int64_t deadline);
CORO_API int coro_mysql_query(MYSQL *mysql, const char *stmt, int64_t deadline);

/* coro_mysql_store_result: read every row of the result. The result, or NULL: a statement
   without rows (mysql_field_count(mysql) == 0) or an error (mysql_errno(mysql) != 0). */
CORO_API MYSQL_RES *coro_mysql_store_result(MYSQL *mysql, int64_t deadline);

/* coro_mysql_fetch_row: the next row, or NULL at the end or on an error (mysql_errno). Waits
   only for unbuffered results (mysql_use_result). */
CORO_API MYSQL_ROW coro_mysql_fetch_row(MYSQL_RES *result, int64_t deadline);

/* coro_mysql_free_result: mysql_free_result (which reads and discards the rest of an
   unbuffered result). */
CORO_API void coro_mysql_free_result(MYSQL_RES *result, int64_t deadline);

/* coro_mysql_next_result: the next result of a multi-statement query: 0 there is one, -1
   none, >0 an error. */
CORO_API int coro_mysql_next_result(MYSQL *mysql, int64_t deadline);

/* coro_mysql_ping: 0 if the server answers, nonzero otherwise. */
CORO_API int coro_mysql_ping(MYSQL *mysql, int64_t deadline);

/* coro_mysql_close: mysql_close (tells the server, then frees mysql). At the deadline the
   socket is shut down and mysql freed all the same. NULL: nothing. */
CORO_API void coro_mysql_close(MYSQL *mysql, int64_t deadline);

#ifdef __cplusplus
}
#endif
#endif /* CORO_MYSQL_H */

/* ============================================================================================ */
/*                                        IMPLEMENTATION                                        */
/* ============================================================================================ */
#if defined(CORO_MYSQL_IMPLEMENTATION) && !defined(CORO_MYSQL__IMPLEMENTED)
#define CORO_MYSQL__IMPLEMENTED

/* >>config */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>

#ifndef CORO_MYSQL_STACK
#define CORO_MYSQL_STACK 0
#endif

/* >>wait */

/* one call in progress */
typedef struct {
    int64_t deadline;
    int err;     /* why it was cut short: ETIMEDOUT, a raised error; 0 */
    int fd;      /* the socket waited on last, -1 */
    int aborted; /* the socket was shut down */
} coro__mysql_op;

/* outside a spawned coroutine: poll() with the deadline. Events ready, 0 at the deadline. */
static int coro__mysql_poll(int fd, int events, int64_t until) {
    struct pollfd p;
    int r;
    p.fd = fd;
    p.events = (short)(((events & CORO_READ) ? POLLIN : 0) | ((events & CORO_WRITE) ? POLLOUT : 0));
    do {
        int64_t left = until < 0 ? -1 : until - coro_now();
        p.revents = 0;
        if (until >= 0 && left < 0) left = 0;
        r = poll(&p, 1, left > INT_MAX ? INT_MAX : (int)left);
    } while (r < 0 && errno == EINTR);
    if (r <= 0) return 0;
    return ((p.revents & (POLLIN | POLLHUP | POLLERR)) ? CORO_READ : 0) |
           ((p.revents & (POLLOUT | POLLHUP | POLLERR)) ? CORO_WRITE : 0);
}

/* Wait for what the library asked for (status: MYSQL_WAIT_* bits); returns the status to pass
   to its _cont call. At the caller's deadline, or when raised into, shut the socket down so
   that the library fails the call (as a lost connection) at once. */
static int coro__mysql_wait(MYSQL *m, coro__mysql_op *op, int status) {
    int fd = m ? (int)mysql_get_socket(m) : -1, ev = 0, r;
    int64_t until = op->deadline;
    int lib_timeout = 0;
    if (status & MYSQL_WAIT_TIMEOUT) {
        int64_t t = coro_now() + (int64_t)mysql_get_timeout_value_ms(m);
        if (until < 0 || t < until) {
            until = t;
            lib_timeout = 1;
        }
    }
    if (status & (MYSQL_WAIT_READ | MYSQL_WAIT_EXCEPT)) ev |= CORO_READ;
    if (status & MYSQL_WAIT_WRITE) ev |= CORO_WRITE;
    if (op->aborted || fd < 0) /* nothing to wait for any more: let the library fail */
        return status & (MYSQL_WAIT_READ | MYSQL_WAIT_WRITE | MYSQL_WAIT_EXCEPT)
                   ? status & (MYSQL_WAIT_READ | MYSQL_WAIT_WRITE | MYSQL_WAIT_EXCEPT)
                   : MYSQL_WAIT_TIMEOUT;
    op->fd = fd;
    if (!ev) { /* only a timeout */
        if (coro_sleep_until(until < 0 ? 0 : until) == 0 && lib_timeout) return MYSQL_WAIT_TIMEOUT;
        if (errno == EPERM) {
            (void)coro__mysql_poll(-1, 0, until);
            if (lib_timeout) return MYSQL_WAIT_TIMEOUT;
            errno = ETIMEDOUT;
        }
        r = -1;
    } else {
        r = coro_wait_fd(fd, ev, until);
        if (r < 0 && errno == EPERM) { /* not a spawned coroutine: block the thread */
            r = coro__mysql_poll(fd, ev, until);
            if (r == 0) {
                r = -1;
                errno = ETIMEDOUT;
            }
        }
    }
    if (r >= 0)
        return ((r & CORO_READ) && (status & MYSQL_WAIT_READ) ? MYSQL_WAIT_READ : 0) |
               ((r & CORO_READ) && (status & MYSQL_WAIT_EXCEPT) ? MYSQL_WAIT_EXCEPT : 0) |
               ((r & CORO_WRITE) ? MYSQL_WAIT_WRITE : 0);
    if (errno == ETIMEDOUT && lib_timeout) return MYSQL_WAIT_TIMEOUT;
    op->err = errno;
    op->aborted = 1;
    shutdown(fd, SHUT_RDWR);
    return status & (MYSQL_WAIT_READ | MYSQL_WAIT_WRITE | MYSQL_WAIT_EXCEPT)
               ? status & (MYSQL_WAIT_READ | MYSQL_WAIT_WRITE | MYSQL_WAIT_EXCEPT)
               : MYSQL_WAIT_TIMEOUT;
}

/* After a call: errno for the caller; the scheduler forgets a socket the library may have
   closed (after a failure, or for good after close), so a new fd with its number is not
   mistaken for it. */
static void coro__mysql_end(coro__mysql_op *op, int failed, int closed) {
    if ((failed || closed || op->aborted) && op->fd >= 0) coro_fd_forget(op->fd);
    if (op->err) errno = op->err;
    else if (failed) errno = EIO;
}

static void coro__mysql_begin(coro__mysql_op *op, int64_t deadline) {
    op->deadline = deadline;
    op->err = 0;
    op->fd = -1;
    op->aborted = 0;
}

/* run a _start/_cont pair to its end; cont uses the status variable st_ */
#define CORO__MYSQL_RUN(handle, op, start, cont)                                                  \
    do {                                                                                          \
        int st_ = (start);                                                                        \
        while (st_) {                                                                             \
            st_ = coro__mysql_wait((handle), (op), st_);                                          \
            st_ = (cont);                                                                         \
        }                                                                                         \
    } while (0)

/* >>calls */

CORO_API MYSQL *coro_mysql_real_connect(MYSQL *mysql, const char *host, const char *user,
                                        const char *passwd, const char *db, unsigned int port,
                                        const char *unix_socket, unsigned long clientflag,
                                        int64_t deadline) {
    coro__mysql_op op;
    MYSQL *ret = NULL;
    if (!mysql) {
        errno = EINVAL;
        return NULL;
    }
    if (mysql_options(mysql, MYSQL_OPT_NONBLOCK, 0) != 0) {
        errno = ENOMEM;
        return NULL;
    }
#if CORO_MYSQL_STACK > 0
    {
        size_t stack = CORO_MYSQL_STACK;
        mysql_options(mysql, MYSQL_OPT_NONBLOCK, &stack);
    }
#endif
    coro__mysql_begin(&op, deadline);
    CORO__MYSQL_RUN(mysql, &op,
                    mysql_real_connect_start(&ret, mysql, host, user, passwd, db, port,
                                             unix_socket, clientflag),
                    mysql_real_connect_cont(&ret, mysql, st_));
    coro__mysql_end(&op, ret == NULL, 0);
    return ret;
}

CORO_API int coro_mysql_real_query(MYSQL *mysql, const char *stmt, unsigned long length,
                                   int64_t deadline) {
    coro__mysql_op op;
    int ret = 1;
    if (!mysql || !stmt) {
        errno = EINVAL;
        return 1;
    }
    coro__mysql_begin(&op, deadline);
    CORO__MYSQL_RUN(mysql, &op, mysql_real_query_start(&ret, mysql, stmt, length),
                    mysql_real_query_cont(&ret, mysql, st_));
    coro__mysql_end(&op, ret != 0, 0);
    return ret;
}

CORO_API int coro_mysql_query(MYSQL *mysql, const char *stmt, int64_t deadline) {
    if (!stmt) {
        errno = EINVAL;
        return 1;
    }
    return coro_mysql_real_query(mysql, stmt, (unsigned long)strlen(stmt), deadline);
}

CORO_API MYSQL_RES *coro_mysql_store_result(MYSQL *mysql, int64_t deadline) {
    coro__mysql_op op;
    MYSQL_RES *ret = NULL;
    if (!mysql) {
        errno = EINVAL;
        return NULL;
    }
    coro__mysql_begin(&op, deadline);
    CORO__MYSQL_RUN(mysql, &op, mysql_store_result_start(&ret, mysql),
                    mysql_store_result_cont(&ret, mysql, st_));
    coro__mysql_end(&op, ret == NULL && mysql_errno(mysql) != 0, 0);
    return ret;
}

CORO_API MYSQL_ROW coro_mysql_fetch_row(MYSQL_RES *result, int64_t deadline) {
    coro__mysql_op op;
    MYSQL_ROW ret = NULL;
    if (!result) {
        errno = EINVAL;
        return NULL;
    }
    coro__mysql_begin(&op, deadline);
    CORO__MYSQL_RUN(result->handle, &op, mysql_fetch_row_start(&ret, result),
                    mysql_fetch_row_cont(&ret, result, st_));
    coro__mysql_end(&op, ret == NULL && result->handle && mysql_errno(result->handle) != 0, 0);
    return ret;
}

CORO_API void coro_mysql_free_result(MYSQL_RES *result, int64_t deadline) {
    coro__mysql_op op;
    MYSQL *h;
    if (!result) return;
    h = result->handle; /* result is gone after the call */
    coro__mysql_begin(&op, deadline);
    CORO__MYSQL_RUN(h, &op, mysql_free_result_start(result), mysql_free_result_cont(result, st_));
    coro__mysql_end(&op, 0, 0);
}

CORO_API int coro_mysql_next_result(MYSQL *mysql, int64_t deadline) {
    coro__mysql_op op;
    int ret = 1;
    if (!mysql) {
        errno = EINVAL;
        return 1;
    }
    coro__mysql_begin(&op, deadline);
    CORO__MYSQL_RUN(mysql, &op, mysql_next_result_start(&ret, mysql),
                    mysql_next_result_cont(&ret, mysql, st_));
    coro__mysql_end(&op, ret > 0, 0);
    return ret;
}

CORO_API int coro_mysql_ping(MYSQL *mysql, int64_t deadline) {
    coro__mysql_op op;
    int ret = 1;
    if (!mysql) {
        errno = EINVAL;
        return 1;
    }
    coro__mysql_begin(&op, deadline);
    CORO__MYSQL_RUN(mysql, &op, mysql_ping_start(&ret, mysql), mysql_ping_cont(&ret, mysql, st_));
    coro__mysql_end(&op, ret != 0, 0);
    return ret;
}

CORO_API void coro_mysql_close(MYSQL *mysql, int64_t deadline) {
    coro__mysql_op op;
    int fd;
    if (!mysql) return;
    fd = (int)mysql_get_socket(mysql);
    coro__mysql_begin(&op, deadline);
    CORO__MYSQL_RUN(mysql, &op, mysql_close_start(mysql), mysql_close_cont(mysql, st_));
    if (op.fd < 0) op.fd = fd;
    coro__mysql_end(&op, 0, 1);
}

#endif /* CORO_MYSQL_IMPLEMENTATION */
