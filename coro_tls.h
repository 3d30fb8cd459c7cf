/* coro_tls.h - v0.1 - TLS for coro_sched.h's coroutines, over OpenSSL 3 - MIT licence (or public
   domain, see coro.h)

   An optional third header. A coroutine calls coro_tls_connect / coro_tls_accept and then
   coro_tls_read / coro_tls_write as plain blocking calls with deadlines, shaped like coro_read and
   coro_write; while one waits for the network the others run. OpenSSL does the cryptography
   and the certificate checks; this header only drives its non-blocking mode from the event
   loop. Including coro.h or coro_sched.h alone never pulls any of this in.

USAGE
   In exactly one file, before any #include:

       #define CORO_IMPLEMENTATION
       #define CORO_SCHED_IMPLEMENTATION
       #define CORO_TLS_IMPLEMENTATION
       #include "coro_tls.h"               // includes coro_sched.h and <openssl/ssl.h>

   Build with OpenSSL 3:  cc app.c $(pkg-config --cflags --libs openssl) -pthread
   (-lssl -lcrypto; coro-tls.pc, installed with the headers, names them too).

EXAMPLE: fetch a page over https (inside a spawned coroutine)
       SSL_CTX *ctx = coro_tls_client_ctx();       // system trust store, verification on
       int fd = coro_tcp_connect("example.org", 443, coro_now() + 5000);
       coro_tls_t *tls = coro_tls_connect(fd, "example.org", ctx, coro_now() + 5000);
       if (!tls) {                                 // fd is still yours on failure
           fprintf(stderr, "tls: %s\n", coro_tls_error(NULL));
           coro_close(fd);
       } else {
           const char req[] = "GET / HTTP/1.0\r\nHost: example.org\r\n\r\n";
           char buf[4096];
           ssize_t n;
           coro_tls_write(tls, req, sizeof req - 1, coro_now() + 5000);
           while ((n = coro_tls_read(tls, buf, sizeof buf, coro_now() + 5000)) > 0)
               fwrite(buf, 1, (size_t)n, stdout);
           coro_tls_shutdown(tls, coro_now() + 1000);
           coro_tls_close(tls);                    // frees the SSL and closes fd
       }
       SSL_CTX_free(ctx);

VERIFICATION
   A context from coro_tls_client_ctx() checks the server's certificate chain against the
   system's trust store and, in coro_tls_connect, the certificate's name against hostname (a
   DNS name or an IP address; the name also goes out as SNI unless it is an IP address).
   coro_tls_ctx_trust adds a CA file (a private CA, a test CA). Turning verification off takes an
   explicit call, coro_tls_ctx_insecure, which prints a warning on stderr each time it is called.
   Contexts made by the caller with SSL_CTX_new work as they are configured.

ERRORS
   Every call returns -1 (or NULL) and sets errno, like the calls of coro_sched.h:
     ETIMEDOUT     the deadline passed (handshake, read, write or shutdown)
     EPROTO        the TLS protocol failed: a certificate that does not verify, a handshake the
                   peer refused, a corrupted record, no shared protocol version or cipher
     ECONNRESET    the peer closed the TCP connection without TLS's close_notify (a truncated
                   stream; for data framed by its own lengths this may be harmless)
     EINVAL/ENOMEM/EBUSY/EBADF/EPERM and the errors of read(2)/write(2) as in coro_sched.h
   coro_tls_error(tls) gives OpenSSL's reason in words, for example
       "handshake: certificate verify failed: certificate has expired"
   for the last failure on that connection; coro_tls_error(NULL) for the last failed
   coro_tls_connect, coro_tls_accept or context call of the calling thread (read it before the
   coroutine blocks again: other coroutines overwrite it).
   OpenSSL keeps its error queue per thread, not per coroutine: every call here empties it
   before it starts and reads it before it can yield, so coroutines never see each other's
   errors.

COROUTINES AND ONE CONNECTION
   One SSL object is driven by one coroutine at a time, with one exception that matches
   coro_read/coro_write: while the handshake is over, one coroutine may be in coro_tls_read while
   another is in coro_tls_write on the same connection. A second reader or writer fails with
   EBUSY; connect/accept and shutdown need the connection to themselves (EBUSY otherwise).
   Never call SSL_* on the object from other coroutines while one of these calls waits.
   Threads: a connection belongs to the thread whose scheduler runs it; a context may be
   shared between threads (OpenSSL locks it).

NON-BLOCKING DETAILS (what this header takes care of)
   The fd is made non-blocking; OpenSSL's SSL_ERROR_WANT_READ / WANT_WRITE become coro_wait_fd
   for reading / writing; an interrupted write is retried with the same buffer and length, and
   SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER are set. A read that
   needs to write (or a write that needs to read) while another coroutine already waits on that
   direction polls every millisecond instead of failing. Renegotiation is refused. OpenSSL
   writes with write(2), so a peer that has gone gives SIGPIPE: coro_sched.h ignores SIGPIPE
   unless CORO_SCHED_KEEP_SIGPIPE is defined, in which case ignore it yourself.

CONFIGURATION
   CORO_TLS_ERRLEN   bytes kept for an error message [256]
   coro.h's macros (CORO_MALLOC/CORO_FREE, CORO_STATIC, ...) apply here too.
*/
#ifndef CORO_TLS_H
#define CORO_TLS_H

#include "coro_sched.h"

#include <openssl/ssl.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct coro_tls coro_tls_t;

/* ---- contexts ------------------------------------------------------------------------------ */

/* coro_tls_client_ctx: a client context, TLS 1.2 or newer, that verifies the server's
   certificate against the system's trust store (and coro_tls_connect checks its name). Free it
   with SSL_CTX_free once no connection made from it is in use. NULL with errno ENOMEM, or EPROTO
   (OpenSSL refused; coro_tls_error(NULL) says why). */
CORO_API SSL_CTX *coro_tls_client_ctx(void);

/* coro_tls_server_ctx: a server context, TLS 1.2 or newer, with the certificate chain in
   cert_file (PEM, leaf first) and the private key in key_file (PEM). NULL with errno EINVAL
   (a NULL name), ENOENT (a file missing), EPROTO (unreadable certificate or key, or a key that
   does not match; coro_tls_error(NULL) says which), ENOMEM. */
CORO_API SSL_CTX *coro_tls_server_ctx(const char *cert_file, const char *key_file);

/* coro_tls_ctx_trust: trust the CA certificates in ca_file (PEM) as well as the system's, for
   a client context (or for a server context that asks clients for certificates). 0, or -1 with
   errno EINVAL (NULL), EPROTO (unreadable file; coro_tls_error(NULL)). */
CORO_API int coro_tls_ctx_trust(SSL_CTX *ctx, const char *ca_file);

/* coro_tls_ctx_insecure: switch certificate verification OFF for ctx: any certificate, any
   name, is accepted, so anyone on the path can read and change the traffic. Prints a warning on
   stderr every time. For tests against throwaway servers only. 0, or -1 with errno EINVAL. */
CORO_API int coro_tls_ctx_insecure(SSL_CTX *ctx);

/* coro_tls_ctx_alpn: the ALPN protocols of ctx, as a comma-separated list in order of
   preference ("h2,http/1.1"). A client offers them; a server picks the first of its own list
   that the client offers (and a client offering none of them gets no ALPN, not a failure).
   coro_tls_alpn tells which was chosen. 0, or -1 with errno EINVAL (NULL, an empty name, a name
   over 255 bytes), ENOMEM. */
CORO_API int coro_tls_ctx_alpn(SSL_CTX *ctx, const char *protocols);

/* ---- connections --------------------------------------------------------------------------- */

/* coro_tls_connect: the client handshake over the connected socket fd, waiting as needed until
   deadline. hostname is checked against the server's certificate and sent as SNI; it may be
   NULL only when ctx does not verify (coro_tls_ctx_insecure). Returns the connection, which
   owns fd from then on (coro_tls_close closes both), or NULL with errno (see ERRORS above:
   EPROTO when the certificate does not verify; ECONNRESET when the peer hung up; ETIMEDOUT)
   and the reason in coro_tls_error(NULL); fd then stays the caller's to close. Also EINVAL
   (fd < 0, ctx NULL, hostname NULL with a verifying ctx). */
CORO_API coro_tls_t *coro_tls_connect(int fd, const char *hostname, SSL_CTX *ctx,
                                      int64_t deadline);

/* coro_tls_accept: the server handshake over the accepted socket fd. As coro_tls_connect. */
CORO_API coro_tls_t *coro_tls_accept(int fd, SSL_CTX *ctx, int64_t deadline);

/* coro_tls_read: like coro_read: waits until some decrypted data is there and returns it (at
   most len bytes), 0 when the peer closed the TLS stream cleanly (close_notify), or -1 with
   errno (ECONNRESET: the TCP connection ended without close_notify; EPROTO; ETIMEDOUT; EBUSY:
   another coroutine reads; EINVAL: tls NULL, or len 0 with buf NULL). */
CORO_API ssize_t coro_tls_read(coro_tls_t *tls, void *buf, size_t len, int64_t deadline);

/* coro_tls_write: like coro_write: all len bytes, or -1 with errno (what was written before the
   error is lost): EPIPE/ECONNRESET (peer gone), EPROTO, ETIMEDOUT, EBUSY (another coroutine
   writes), EINVAL. */
CORO_API ssize_t coro_tls_write(coro_tls_t *tls, const void *buf, size_t len, int64_t deadline);

/* coro_tls_writev: like coro_writev: all bytes of the iovcnt buffers of iov, in order, or -1
   (errno as coro_tls_write, or EINVAL for iovcnt < 0, iov NULL with iovcnt > 0, a total above
   SSIZE_MAX). Small buffers are gathered into one TLS record (up to 16 KiB) rather than one
   record each. iov is not modified. Returns the total. */
CORO_API ssize_t coro_tls_writev(coro_tls_t *tls, const struct iovec *iov, int iovcnt,
                                 int64_t deadline);

/* coro_tls_sendfile: like coro_sendfile, over TLS: count bytes of the file in_fd from *offset
   on (pread in 16 KiB pieces, each one record; in_fd's position is not used). *offset advances
   by every byte sent, also on failure. Returns count, or fewer if the file ended first, or -1
   with errno as coro_tls_write, as pread, or EINVAL (offset NULL or negative, count above
   SSIZE_MAX). Reads happen on the calling thread: fine for files in the page cache. */
CORO_API ssize_t coro_tls_sendfile(coro_tls_t *tls, int in_fd, off_t *offset, size_t count,
                                   int64_t deadline);

/* coro_tls_shutdown: the TLS close: send close_notify, then read (and discard) until the peer's
   close_notify or the end of the TCP stream. 0 when ours went out and the peer's arrived or
   the peer closed the connection; -1 with errno ETIMEDOUT (ours may have gone out), EPIPE or
   ECONNRESET (ours could not be sent), EBUSY, EINVAL. The connection stays open: then
   coro_tls_close. */
CORO_API int coro_tls_shutdown(coro_tls_t *tls, int64_t deadline);

/* coro_tls_close: free the connection and coro_close its fd, without a TLS close (call
   coro_tls_shutdown first for a clean one). Returns close's result; -1 with errno EINVAL for
   NULL, EBUSY if another coroutine still waits in a call on it. A coroutine killed while in a
   call on tls may close it from its cleanup (coro_defer); one killed inside coro_tls_connect or
   coro_tls_accept leaks nothing (the fd stays the caller's). */
CORO_API int coro_tls_close(coro_tls_t *tls);

/* coro_tls_error: the last failure on tls, in words ("" if none); tls NULL: the last failed
   coro_tls_connect/accept/context call of this thread. Valid until the next call on tls (or,
   for NULL, until the coroutine blocks). Never NULL. */
CORO_API const char *coro_tls_error(const coro_tls_t *tls);

/* coro_tls_alpn: the protocol ALPN chose ("h2", "http/1.1"), or "" if none. */
CORO_API const char *coro_tls_alpn(const coro_tls_t *tls);

/* coro_tls_fd, coro_tls_ssl: the connection's fd and OpenSSL object (for SSL_get_version,
   SSL_get_peer_certificate, ...), or -1 / NULL for a NULL tls. */
CORO_API int coro_tls_fd(const coro_tls_t *tls);
CORO_API SSL *coro_tls_ssl(const coro_tls_t *tls);

#ifdef __cplusplus
}
#endif
#endif /* CORO_TLS_H */

/* ============================================================================================ */
/*                                        IMPLEMENTATION                                        */
/* ============================================================================================ */
#if defined(CORO_TLS_IMPLEMENTATION) && !defined(CORO_TLS__IMPLEMENTED)
#define CORO_TLS__IMPLEMENTED

/* >>config */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>

#if !defined(OPENSSL_VERSION_MAJOR) || OPENSSL_VERSION_MAJOR < 3
#error "coro_tls.h needs OpenSSL 3 (libssl-dev)"
#endif
#ifndef CORO_TLS_ERRLEN
#define CORO_TLS_ERRLEN 256
#endif
#ifndef CORO_MALLOC
#define CORO_MALLOC(sz) malloc(sz)
#define CORO_FREE(p) free(p)
#endif
#if defined(__GNUC__) || defined(__clang__)
#define CORO__TLS_THREAD __thread
#else
#define CORO__TLS_THREAD
#endif

struct coro_tls {
    SSL *ssl;
    int fd;
    unsigned char reading, writing, exclusive; /* which calls are in progress ... */
    coro_t *reader, *writer, *excl;           /* ... and in which coroutine */
    char alpn[256];
    char err[CORO_TLS_ERRLEN];
};

/* the reason of the thread's last failed connect/accept/context call */
static CORO__TLS_THREAD char coro__tls_lasterr[CORO_TLS_ERRLEN];

/* >>errors */

/* Write "what: reason" into dst, the reason taken from OpenSSL's queue (which is emptied),
   with the certificate verification result when that is what failed. */
static void coro__tls_describe(char *dst, SSL *ssl, const char *what, const char *fallback) {
    unsigned long e, first = 0;
    const char *reason = NULL;
    long vr;
    while ((e = ERR_get_error()) != 0) /* the first one is the root cause */
        if (!first) first = e;
    if (first) reason = ERR_reason_error_string(first);
    if (!reason) reason = fallback;
    if (ssl && (vr = SSL_get_verify_result(ssl)) != X509_V_OK)
        snprintf(dst, CORO_TLS_ERRLEN, "%s: %s: %s", what, reason ? reason : "certificate",
                 X509_verify_cert_error_string(vr));
    else
        snprintf(dst, CORO_TLS_ERRLEN, "%s: %s", what, reason ? reason : "unknown error");
}

static void coro__tls_set_lasterr(const char *fmt, const char *arg) {
    unsigned long e, first = 0;
    const char *reason;
    while ((e = ERR_get_error()) != 0)
        if (!first) first = e;
    reason = first ? ERR_reason_error_string(first) : NULL;
    snprintf(coro__tls_lasterr, sizeof coro__tls_lasterr, fmt, arg ? arg : "");
    if (reason) {
        size_t n = strlen(coro__tls_lasterr);
        snprintf(coro__tls_lasterr + n, sizeof coro__tls_lasterr - n, ": %s", reason);
    }
}

/* Map a failed SSL call (ret, OpenSSL's SSL_get_error code, the errno it left) to errno and a
   message in t->err. Returns the errno chosen. Must run before anything can yield. */
static int coro__tls_fail(coro_tls_t *t, int code, int sys_errno, const char *what) {
    unsigned long e = ERR_peek_error();
    int err;
    if (code == SSL_ERROR_SYSCALL) {
        if (e == 0) {
            err = sys_errno ? sys_errno : ECONNRESET;
            snprintf(t->err, sizeof t->err, "%s: %s", what,
                     sys_errno ? strerror(sys_errno) : "connection closed by the peer");
            return err;
        }
        err = EPROTO;
    } else if (code == SSL_ERROR_ZERO_RETURN) {
        snprintf(t->err, sizeof t->err, "%s: the peer closed the TLS connection", what);
        ERR_clear_error();
        return ECONNRESET;
    } else if (code == SSL_ERROR_SSL && ERR_GET_LIB(e) == ERR_LIB_SSL &&
               ERR_GET_REASON(e) == SSL_R_UNEXPECTED_EOF_WHILE_READING) {
        err = ECONNRESET;
    } else {
        err = EPROTO;
    }
    coro__tls_describe(t->err, t->ssl, what, "protocol error");
    return err;
}

/* >>wait */

/* Wait for what OpenSSL asked for (code: SSL_ERROR_WANT_READ or _WRITE). 0, or -1 with errno. */
static int coro__tls_wait(coro_tls_t *t, int code, int64_t deadline) {
    int ev = code == SSL_ERROR_WANT_READ ? CORO_READ : CORO_WRITE;
    for (;;) {
        if (coro_wait_fd(t->fd, ev, deadline) >= 0) return 0;
        if (errno != EBUSY) return -1;
        /* the other direction's coroutine waits on this readiness: poll, politely */
        if (deadline >= 0 && coro_now() >= deadline) {
            errno = ETIMEDOUT;
            return -1;
        }
        if (coro_sleep(1) < 0) return -1;
        if (coro_wait_fd(t->fd, ev, 0) >= 0) return 0; /* one look without waiting */
        if (errno != ETIMEDOUT && errno != EBUSY) return -1;
    }
}

static const char *coro__tls_waitmsg(int err) {
    return err == ETIMEDOUT ? "deadline passed" : strerror(err);
}

/* >>connections */

static int coro__tls_nonblock(int fd) {
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0) return -1;
    if (!(fl & O_NONBLOCK) && fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) return -1;
    return 0;
}

static int coro__tls_is_ip(const char *host) {
    unsigned char buf[16];
    return inet_pton(AF_INET, host, buf) == 1 || inet_pton(AF_INET6, host, buf) == 1;
}

static coro_tls_t *coro__tls_new(int fd, SSL_CTX *ctx) {
    coro_tls_t *t;
    if (fd < 0 || !ctx) {
        snprintf(coro__tls_lasterr, sizeof coro__tls_lasterr, "%s",
                 fd < 0 ? "bad fd" : "no SSL_CTX");
        errno = EINVAL;
        return NULL;
    }
    if (coro__tls_nonblock(fd) < 0) {
        snprintf(coro__tls_lasterr, sizeof coro__tls_lasterr, "fd: %s", strerror(errno));
        return NULL;
    }
    t = (coro_tls_t *)CORO_MALLOC(sizeof *t);
    if (!t) {
        snprintf(coro__tls_lasterr, sizeof coro__tls_lasterr, "out of memory");
        errno = ENOMEM;
        return NULL;
    }
    memset(t, 0, sizeof *t);
    t->fd = fd;
    ERR_clear_error();
    if (!(t->ssl = SSL_new(ctx)) || !SSL_set_fd(t->ssl, fd)) {
        coro__tls_set_lasterr("SSL_new%s", NULL);
        if (t->ssl) SSL_free(t->ssl);
        CORO_FREE(t);
        errno = ENOMEM;
        return NULL;
    }
    SSL_set_mode(t->ssl, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    SSL_set_options(t->ssl, SSL_OP_NO_RENEGOTIATION);
    return t;
}

/* Drive the handshake to its end. 0, or -1 with errno and t->err. */
static int coro__tls_handshake(coro_tls_t *t, int64_t deadline) {
    int saved = errno;
    for (;;) {
        int r, code, sys;
        ERR_clear_error();
        errno = 0;
        r = SSL_do_handshake(t->ssl);
        if (r == 1) break;
        sys = errno;
        code = SSL_get_error(t->ssl, r);
        if (code == SSL_ERROR_WANT_READ || code == SSL_ERROR_WANT_WRITE) {
            ERR_clear_error();
            if (coro__tls_wait(t, code, deadline) < 0) {
                int err = errno;
                snprintf(t->err, sizeof t->err, "handshake: %s", coro__tls_waitmsg(err));
                errno = err;
                return -1;
            }
            continue;
        }
        errno = coro__tls_fail(t, code, sys, "handshake");
        return -1;
    }
    {
        const unsigned char *p = NULL;
        unsigned int n = 0;
        SSL_get0_alpn_selected(t->ssl, &p, &n);
        if (p && n) memcpy(t->alpn, p, n);
        t->alpn[n] = 0;
    }
    errno = saved;
    return 0;
}

/* a handshake that failed: keep its reason, give fd back to the caller */
static coro_tls_t *coro__tls_abandon(coro_tls_t *t) {
    int err = errno;
    memcpy(coro__tls_lasterr, t->err, sizeof coro__tls_lasterr);
    SSL_free(t->ssl);
    CORO_FREE(t);
    ERR_clear_error();
    errno = err;
    return NULL;
}

/* a coroutine killed in the handshake: nobody else has t yet, so free it (not the fd: the
   caller's cleanup closes that) */
static void coro__tls_killed(void *arg) {
    coro_tls_t *t = (coro_tls_t *)arg;
    SSL_free(t->ssl);
    CORO_FREE(t);
}

static coro_tls_t *coro__tls_handshake_or_abandon(coro_tls_t *t, int64_t deadline) {
    int deferred = coro_current() && coro_defer(coro__tls_killed, t) == 0, r;
    t->exclusive = 1;
    t->excl = coro_current();
    r = coro__tls_handshake(t, deadline);
    if (deferred) coro_defer_pop(0);
    t->exclusive = 0;
    return r < 0 ? coro__tls_abandon(t) : t;
}

CORO_API coro_tls_t *coro_tls_connect(int fd, const char *hostname, SSL_CTX *ctx,
                                      int64_t deadline) {
    coro_tls_t *t;
    if (ctx && !hostname && (SSL_CTX_get_verify_mode(ctx) & SSL_VERIFY_PEER)) {
        snprintf(coro__tls_lasterr, sizeof coro__tls_lasterr,
                 "connect: no hostname to verify the certificate against");
        errno = EINVAL;
        return NULL;
    }
    if (!(t = coro__tls_new(fd, ctx))) return NULL;
    SSL_set_connect_state(t->ssl);
    if (hostname) {
        if (!coro__tls_is_ip(hostname) && !SSL_set_tlsext_host_name(t->ssl, hostname)) {
            coro__tls_describe(t->err, NULL, "connect: SNI", "bad hostname");
            errno = EINVAL;
            return coro__tls_abandon(t);
        }
        if (!SSL_set1_host(t->ssl, hostname)) {
            coro__tls_describe(t->err, NULL, "connect: hostname", "bad hostname");
            errno = EINVAL;
            return coro__tls_abandon(t);
        }
    }
    return coro__tls_handshake_or_abandon(t, deadline);
}

CORO_API coro_tls_t *coro_tls_accept(int fd, SSL_CTX *ctx, int64_t deadline) {
    coro_tls_t *t = coro__tls_new(fd, ctx);
    if (!t) return NULL;
    SSL_set_accept_state(t->ssl);
    return coro__tls_handshake_or_abandon(t, deadline);
}

CORO_API ssize_t coro_tls_read(coro_tls_t *t, void *buf, size_t len, int64_t deadline) {
    int saved;
    if (!t || (!buf && len)) {
        errno = EINVAL;
        return -1;
    }
    if (t->reading || t->exclusive) {
        errno = EBUSY;
        return -1;
    }
    if (len > (size_t)SSIZE_MAX) len = (size_t)SSIZE_MAX;
    if (len == 0) return 0;
    t->reading = 1;
    t->reader = coro_current();
    saved = errno;
    for (;;) {
        size_t got = 0;
        int r, code, sys;
        ERR_clear_error();
        errno = 0;
        r = SSL_read_ex(t->ssl, buf, len, &got);
        if (r == 1) {
            t->reading = 0;
            errno = saved; /* untouched by success */
            return (ssize_t)got;
        }
        sys = errno;
        code = SSL_get_error(t->ssl, r);
        if (code == SSL_ERROR_ZERO_RETURN) { /* close_notify: the end of the stream */
            ERR_clear_error();
            t->reading = 0;
            errno = saved;
            return 0;
        }
        if (code == SSL_ERROR_WANT_READ || code == SSL_ERROR_WANT_WRITE) {
            ERR_clear_error();
            if (coro__tls_wait(t, code, deadline) == 0) continue;
            snprintf(t->err, sizeof t->err, "read: %s", coro__tls_waitmsg(errno));
        } else {
            errno = coro__tls_fail(t, code, sys, "read");
        }
        t->reading = 0;
        return -1;
    }
}

CORO_API ssize_t coro_tls_write(coro_tls_t *t, const void *buf, size_t len, int64_t deadline) {
    const char *p = (const char *)buf;
    size_t done = 0;
    int saved = errno;
    if (!t || (!buf && len) || len > (size_t)SSIZE_MAX) {
        errno = EINVAL;
        return -1;
    }
    if (t->writing || t->exclusive) {
        errno = EBUSY;
        return -1;
    }
    t->writing = 1;
    t->writer = coro_current();
    while (done < len) {
        size_t put = 0;
        int r, code, sys;
        ERR_clear_error();
        errno = 0;
        /* after WANT_*, the same call again: the same pointer and length (p + done only moves
           when OpenSSL reports bytes written) */
        r = SSL_write_ex(t->ssl, p + done, len - done, &put);
        if (r == 1) {
            done += put;
            continue;
        }
        sys = errno;
        code = SSL_get_error(t->ssl, r);
        if (code == SSL_ERROR_WANT_READ || code == SSL_ERROR_WANT_WRITE) {
            ERR_clear_error();
            if (coro__tls_wait(t, code, deadline) == 0) continue;
            snprintf(t->err, sizeof t->err, "write: %s", coro__tls_waitmsg(errno));
        } else {
            errno = coro__tls_fail(t, code, sys, "write");
        }
        t->writing = 0;
        return -1;
    }
    t->writing = 0;
    errno = saved;
    return (ssize_t)len;
}

/* the largest TLS record's payload: a write of this many bytes is one record */
#define CORO__TLS_RECORD 16384

CORO_API ssize_t coro_tls_writev(coro_tls_t *t, const struct iovec *iov, int iovcnt,
                                 int64_t deadline) {
    char buf[CORO__TLS_RECORD];
    size_t fill = 0, total = 0;
    int i;
    if (!t || iovcnt < 0 || (!iov && iovcnt > 0)) {
        errno = EINVAL;
        return -1;
    }
    for (i = 0; i < iovcnt; i++) {
        if (iov[i].iov_len > (size_t)SSIZE_MAX - total) {
            errno = EINVAL;
            return -1;
        }
        total += iov[i].iov_len;
    }
    for (i = 0; i < iovcnt; i++) {
        const char *p = (const char *)iov[i].iov_base;
        size_t n = iov[i].iov_len;
        while (n > 0) {
            size_t room = sizeof buf - fill;
            if (fill == 0 && n >= sizeof buf) { /* big: straight from the caller's memory */
                if (coro_tls_write(t, p, n, deadline) < 0) return -1;
                break;
            }
            if (room > n) room = n;
            memcpy(buf + fill, p, room);
            fill += room;
            p += room;
            n -= room;
            if (fill == sizeof buf) {
                if (coro_tls_write(t, buf, fill, deadline) < 0) return -1;
                fill = 0;
            }
        }
    }
    if (fill && coro_tls_write(t, buf, fill, deadline) < 0) return -1;
    return (ssize_t)total;
}

CORO_API ssize_t coro_tls_sendfile(coro_tls_t *t, int in_fd, off_t *offset, size_t count,
                                   int64_t deadline) {
    char buf[CORO__TLS_RECORD];
    size_t done = 0;
    if (!t || !offset || *offset < 0 || count > (size_t)SSIZE_MAX) {
        errno = EINVAL;
        return -1;
    }
    while (done < count) {
        size_t want = count - done < sizeof buf ? count - done : sizeof buf;
        ssize_t got = pread(in_fd, buf, want, *offset);
        if (got < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        if (got == 0) break; /* the file ended (it shrank) */
        if (coro_tls_write(t, buf, (size_t)got, deadline) < 0) return -1;
        *offset += (off_t)got;
        done += (size_t)got;
    }
    return (ssize_t)done;
}

CORO_API int coro_tls_shutdown(coro_tls_t *t, int64_t deadline) {
    char scratch[1024];
    int err, saved = errno;
    if (!t) {
        errno = EINVAL;
        return -1;
    }
    if (t->reading || t->writing || t->exclusive) {
        errno = EBUSY;
        return -1;
    }
    t->exclusive = 1;
    t->excl = coro_current();
    for (;;) { /* step one: our close_notify */
        int r, code, sys;
        ERR_clear_error();
        errno = 0;
        r = SSL_shutdown(t->ssl);
        if (r == 1) { /* the peer's had come already */
            t->exclusive = 0;
            errno = saved;
            return 0;
        }
        if (r == 0) break;
        sys = errno;
        code = SSL_get_error(t->ssl, r);
        if (code == SSL_ERROR_WANT_READ || code == SSL_ERROR_WANT_WRITE) {
            ERR_clear_error();
            if (coro__tls_wait(t, code, deadline) == 0) continue;
            err = errno;
            snprintf(t->err, sizeof t->err, "shutdown: %s", coro__tls_waitmsg(err));
        } else {
            err = coro__tls_fail(t, code, sys, "shutdown");
            if (err == EPROTO) err = EPIPE;
        }
        t->exclusive = 0;
        errno = err;
        return -1;
    }
    for (;;) { /* step two: read to the peer's close_notify, as OpenSSL's manual suggests */
        size_t got = 0;
        int r, code;
        ERR_clear_error();
        r = SSL_read_ex(t->ssl, scratch, sizeof scratch, &got);
        if (r == 1) continue; /* data sent before the peer saw ours: discarded */
        code = SSL_get_error(t->ssl, r);
        if (code == SSL_ERROR_WANT_READ || code == SSL_ERROR_WANT_WRITE) {
            ERR_clear_error();
            if (coro__tls_wait(t, code, deadline) == 0) continue;
            err = errno;
            snprintf(t->err, sizeof t->err, "shutdown: waiting for the peer's close: %s",
                     coro__tls_waitmsg(err));
            t->exclusive = 0;
            errno = err;
            return -1;
        }
        /* close_notify (ZERO_RETURN) or the end of the TCP stream: either way, closed */
        ERR_clear_error();
        t->exclusive = 0;
        errno = saved;
        return 0;
    }
}

CORO_API int coro_tls_close(coro_tls_t *t) {
    coro_t *me = coro_current();
    int fd;
    if (!t) {
        errno = EINVAL;
        return -1;
    }
    /* a call in progress in another coroutine: refuse. In this one it can only mean that this
       coroutine was killed inside it and its cleanup closes the connection: allowed. */
    if ((t->reading && t->reader != me) || (t->writing && t->writer != me) ||
        (t->exclusive && t->excl != me)) {
        errno = EBUSY;
        return -1;
    }
    fd = t->fd;
    SSL_free(t->ssl);
    ERR_clear_error();
    CORO_FREE(t);
    return coro_close(fd);
}

CORO_API const char *coro_tls_error(const coro_tls_t *t) {
    return t ? t->err : coro__tls_lasterr;
}

CORO_API const char *coro_tls_alpn(const coro_tls_t *t) {
    return t ? t->alpn : "";
}

CORO_API int coro_tls_fd(const coro_tls_t *t) {
    return t ? t->fd : -1;
}

CORO_API SSL *coro_tls_ssl(const coro_tls_t *t) {
    return t ? t->ssl : NULL;
}

/* >>contexts */

static SSL_CTX *coro__tls_ctx(const SSL_METHOD *m) {
    SSL_CTX *ctx;
    ERR_clear_error();
    if (!(ctx = SSL_CTX_new(m))) {
        coro__tls_set_lasterr("SSL_CTX_new%s", NULL);
        errno = ENOMEM;
        return NULL;
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION);
    SSL_CTX_set_read_ahead(ctx, 1); /* read what is there, not each record's header then body */
    return ctx;
}

CORO_API SSL_CTX *coro_tls_client_ctx(void) {
    SSL_CTX *ctx = coro__tls_ctx(TLS_client_method());
    if (!ctx) return NULL;
    if (!SSL_CTX_set_default_verify_paths(ctx)) {
        coro__tls_set_lasterr("the system's trust store%s", NULL);
        SSL_CTX_free(ctx);
        errno = EPROTO;
        return NULL;
    }
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    return ctx;
}

CORO_API SSL_CTX *coro_tls_server_ctx(const char *cert_file, const char *key_file) {
    SSL_CTX *ctx;
    FILE *f;
    if (!cert_file || !key_file) {
        snprintf(coro__tls_lasterr, sizeof coro__tls_lasterr, "server: no certificate or key");
        errno = EINVAL;
        return NULL;
    }
    if (!(f = fopen(cert_file, "r")) || fclose(f) != 0 || !(f = fopen(key_file, "r")) ||
        fclose(f) != 0) {
        int err = errno;
        snprintf(coro__tls_lasterr, sizeof coro__tls_lasterr, "server: %s", strerror(err));
        errno = err;
        return NULL;
    }
    if (!(ctx = coro__tls_ctx(TLS_server_method()))) return NULL;
    if (SSL_CTX_use_certificate_chain_file(ctx, cert_file) != 1) {
        coro__tls_set_lasterr("server: certificate %s", cert_file);
    } else if (SSL_CTX_use_PrivateKey_file(ctx, key_file, SSL_FILETYPE_PEM) != 1) {
        coro__tls_set_lasterr("server: key %s", key_file);
    } else if (SSL_CTX_check_private_key(ctx) != 1) {
        coro__tls_set_lasterr("server: key %s does not match the certificate", key_file);
    } else {
        return ctx;
    }
    SSL_CTX_free(ctx);
    errno = EPROTO;
    return NULL;
}

CORO_API int coro_tls_ctx_trust(SSL_CTX *ctx, const char *ca_file) {
    if (!ctx || !ca_file) {
        errno = EINVAL;
        return -1;
    }
    ERR_clear_error();
    if (SSL_CTX_load_verify_locations(ctx, ca_file, NULL) != 1) {
        coro__tls_set_lasterr("trust %s", ca_file);
        errno = EPROTO;
        return -1;
    }
    return 0;
}

CORO_API int coro_tls_ctx_insecure(SSL_CTX *ctx) {
    if (!ctx) {
        errno = EINVAL;
        return -1;
    }
    fprintf(stderr, "coro_tls: WARNING: certificate verification is OFF for this context: "
                    "anyone on the path can read and change the traffic\n");
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
    return 0;
}

/* >>alpn */

/* the context's list in ALPN's wire format (length-prefixed names), kept in its ex_data */
typedef struct {
    unsigned len;
    unsigned char wire[1];
} coro__tls_alpn_list;

static void coro__tls_alpn_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl,
                                void *argp) {
    (void)parent;
    (void)ad;
    (void)idx;
    (void)argl;
    (void)argp;
    CORO_FREE(ptr);
}

static int coro__tls_alpn_index(void) {
    static int idx = -1; /* set once; a race only costs an unused index */
    if (idx < 0)
        idx = SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL, coro__tls_alpn_free);
    return idx;
}

static int coro__tls_alpn_select(SSL *ssl, const unsigned char **out, unsigned char *outlen,
                                 const unsigned char *in, unsigned int inlen, void *arg) {
    coro__tls_alpn_list *l =
        (coro__tls_alpn_list *)SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), coro__tls_alpn_index());
    unsigned char *o = NULL;
    (void)arg;
    if (!l) return SSL_TLSEXT_ERR_NOACK;
    if (SSL_select_next_proto(&o, outlen, l->wire, l->len, in, inlen) != OPENSSL_NPN_NEGOTIATED)
        return SSL_TLSEXT_ERR_NOACK;
    *out = o;
    return SSL_TLSEXT_ERR_OK;
}

CORO_API int coro_tls_ctx_alpn(SSL_CTX *ctx, const char *protocols) {
    coro__tls_alpn_list *l;
    size_t n, i = 0, start = 0;
    int idx;
    if (!ctx || !protocols || !*protocols) {
        errno = EINVAL;
        return -1;
    }
    n = strlen(protocols);
    if (n > 4096 || (idx = coro__tls_alpn_index()) < 0) {
        errno = EINVAL;
        return -1;
    }
    l = (coro__tls_alpn_list *)CORO_MALLOC(sizeof *l + n + 1);
    if (!l) {
        errno = ENOMEM;
        return -1;
    }
    l->len = 0;
    for (i = 0; i <= n; i++) { /* "a,b" -> "\1a\1b" */
        if (i == n || protocols[i] == ',') {
            size_t w = i - start;
            if (w == 0 || w > 255) {
                CORO_FREE(l);
                errno = EINVAL;
                return -1;
            }
            l->wire[l->len] = (unsigned char)w;
            memcpy(l->wire + l->len + 1, protocols + start, w);
            l->len += (unsigned)(w + 1);
            start = i + 1;
        }
    }
    ERR_clear_error();
    if (SSL_CTX_set_alpn_protos(ctx, l->wire, l->len) != 0) { /* 0 is success here */
        CORO_FREE(l);
        errno = ENOMEM;
        return -1;
    }
    CORO_FREE(SSL_CTX_get_ex_data(ctx, idx));
    SSL_CTX_set_ex_data(ctx, idx, l);
    SSL_CTX_set_alpn_select_cb(ctx, coro__tls_alpn_select, NULL);
    return 0;
}

#endif /* CORO_TLS_IMPLEMENTATION */
