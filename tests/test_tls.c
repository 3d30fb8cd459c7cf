/* test_tls.c - coro_tls.h between our own coroutine server and client: a megabyte each way with
   one coroutine reading and another writing the same connection, ALPN, a clean close, and the
   failures that must be clear: a wrong hostname, an expired certificate, a self-signed one, a
   peer that is not TLS, a peer that stalls in the handshake (both sides hit the deadline), a
   peer that hangs up without close_notify, misuse. tests/tls_test.sh makes the certificates with
   `openssl req`/`openssl ca` and runs this with their directory; it also runs the checks
   against peers nobody here wrote (openssl s_server/s_client, curl).
       usage: test_tls CERTDIR   (ca.pem, leaf.{pem,key}, old.*, self.*, other.*) */
#define CORO_IMPLEMENTATION
#define CORO_SCHED_IMPLEMENTATION
#define CORO_TLS_IMPLEMENTATION
#include "../coro_tls.h"
#include "check.h"

#include <stdint.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#define P(x) ((void *)(intptr_t)(x))
#define I(p) ((intptr_t)(p))
#define BULK (1u << 20)

static char dir[512];
static SSL_CTX *client_ctx; /* verifies, trusts the test CA, ALPN "x-none,http/1.1" */

static const char *path(const char *name) {
    static char buf[4][600];
    static unsigned k;
    char *p = buf[k++ % 4];
    snprintf(p, sizeof buf[0], "%s/%s", dir, name);
    return p;
}

static int64_t in_ms(int64_t ms) { return coro_now() + ms; }

static SSL_CTX *server_ctx(const char *name) {
    char cert[64], key[64];
    SSL_CTX *ctx;
    snprintf(cert, sizeof cert, "%s.pem", name);
    snprintf(key, sizeof key, "%s.key", name);
    ctx = coro_tls_server_ctx(path(cert), path(key));
    if (!ctx) fprintf(stderr, "server ctx %s: %s\n", name, coro_tls_error(NULL));
    CHECK(ctx != NULL);
    return ctx;
}

static unsigned char pattern(size_t i) { return (unsigned char)((i * 7u + (i >> 9)) & 0xff); }

/* ---- a server coroutine: accepts one connection and echoes it -------------------------------- */
struct server {
    SSL_CTX *ctx;
    int lfd, port;
    int64_t accept_ms;  /* handshake deadline, from now */
    int accepted;       /* the handshake succeeded */
    int accept_errno;
    int eof_clean;      /* the client's close_notify was read as 0 */
    int hangup;         /* after the handshake, close without close_notify */
    const char *host;   /* the name the client asks for */
    char alpn[256];
    char err[256];
};

static void *serve_one(void *arg) {
    struct server *s = (struct server *)arg;
    char buf[16384];
    ssize_t n;
    int fd = coro_accept(s->lfd, NULL, NULL, in_ms(5000));
    coro_tls_t *t;
    CHECK(fd >= 0);
    if (fd < 0) return NULL;
    t = coro_tls_accept(fd, s->ctx, in_ms(s->accept_ms ? s->accept_ms : 5000));
    if (!t) {
        s->accept_errno = errno;
        snprintf(s->err, sizeof s->err, "%s", coro_tls_error(NULL));
        coro_close(fd);
        return NULL;
    }
    s->accepted = 1;
    snprintf(s->alpn, sizeof s->alpn, "%s", coro_tls_alpn(t));
    if (s->hangup) {
        coro_tls_close(t); /* no close_notify */
        return NULL;
    }
    while ((n = coro_tls_read(t, buf, sizeof buf, in_ms(10000))) > 0)
        if (coro_tls_write(t, buf, (size_t)n, in_ms(10000)) != n) break;
    s->eof_clean = n == 0;
    if (n == 0) CHECK(coro_tls_shutdown(t, in_ms(2000)) == 0); /* after the client's close */
    CHECK(coro_tls_close(t) == 0);
    return NULL;
}

static void server_start(struct server *s, SSL_CTX *ctx) {
    memset(s, 0, sizeof *s);
    s->ctx = ctx;
    s->lfd = coro_tcp_listen("127.0.0.1", 0, 16);
    s->port = coro_tcp_port(s->lfd);
    CHECK(s->lfd >= 0 && s->port > 0);
    CHECK(coro_spawn(serve_one, s, 0) != NULL);
}

/* ---- a megabyte each way, read and written by two coroutines at once ------------------------- */
struct bulk {
    coro_tls_t *t;
    int ok;
};

static void *bulk_writer(void *arg) {
    struct bulk *b = (struct bulk *)arg;
    unsigned char *data = (unsigned char *)malloc(BULK);
    size_t i;
    for (i = 0; i < BULK; i++) data[i] = pattern(i);
    b->ok = coro_tls_write(b->t, data, BULK, in_ms(20000)) == (ssize_t)BULK;
    free(data);
    return NULL;
}

static void *client_roundtrip(void *arg) {
    struct server *s = (struct server *)arg;
    const char *host = s->host;
    int fd = coro_tcp_connect("127.0.0.1", s->port, in_ms(5000));
    coro_tls_t *t;
    struct bulk b;
    coro_t *w;
    size_t got = 0, bad = 0;
    char buf[20000];
    ssize_t n;
    CHECK(fd >= 0);
    t = coro_tls_connect(fd, host, client_ctx, in_ms(5000));
    if (!t) fprintf(stderr, "connect: %s\n", coro_tls_error(NULL));
    CHECK(t != NULL);
    if (!t) {
        coro_close(fd);
        return NULL;
    }
    CHECK(strcmp(coro_tls_alpn(t), "http/1.1") == 0);
    CHECK(coro_tls_fd(t) == fd && coro_tls_ssl(t) != NULL);
    CHECK(SSL_version(coro_tls_ssl(t)) >= TLS1_2_VERSION);
    b.t = t;
    b.ok = 0;
    w = coro_spawn(bulk_writer, &b, 0);
    CHECK(w != NULL && coro_joinable(w) == 0);
    /* a second reader on the same connection is refused, not interleaved */
    while (got < BULK && (n = coro_tls_read(t, buf, sizeof buf, in_ms(20000))) > 0) {
        ssize_t i;
        for (i = 0; i < n; i++) bad += (unsigned char)buf[i] != pattern(got + (size_t)i);
        got += (size_t)n;
    }
    CHECK(coro_join(w, NULL, in_ms(20000)) == 0);
    CHECK(b.ok);
    CHECK(got == BULK);
    CHECK(bad == 0);
    CHECK(coro_tls_shutdown(t, in_ms(5000)) == 0);
    CHECK(coro_tls_close(t) == 0);
    return NULL;
}

static void test_roundtrip(void) {
    const char *hosts[] = {"localhost", "127.0.0.1"};
    size_t i;
    SSL_CTX *sctx = server_ctx("leaf");
    CHECK(coro_tls_ctx_alpn(sctx, "h2,http/1.1") == 0);
    for (i = 0; i < 2; i++) {
        struct server s;
        server_start(&s, sctx);
        s.host = hosts[i];
        CHECK(coro_spawn(client_roundtrip, &s, 0) != NULL);
        CHECK(coro_run() == 0);
        CHECK(s.accepted);
        CHECK(strcmp(s.alpn, "http/1.1") == 0);
        CHECK(s.eof_clean);
        coro_close(s.lfd);
    }
    SSL_CTX_free(sctx);
}

/* ---- verification failures --------------------------------------------------------------- */
struct refused {
    struct server *s;
    const char *host;
    SSL_CTX *ctx;
    int err;
    char msg[256];
};

static void *client_refused(void *arg) {
    struct refused *r = (struct refused *)arg;
    int fd = coro_tcp_connect("127.0.0.1", r->s->port, in_ms(5000));
    coro_tls_t *t;
    CHECK(fd >= 0);
    t = coro_tls_connect(fd, r->host, r->ctx ? r->ctx : client_ctx, in_ms(5000));
    r->err = t ? 0 : errno;
    snprintf(r->msg, sizeof r->msg, "%s", coro_tls_error(NULL));
    if (t) coro_tls_close(t);
    else coro_close(fd);
    return NULL;
}

/* the server presents cert; a client asking for host must fail with EPROTO and say want */
static void refuse(const char *cert, const char *host, const char *want) {
    SSL_CTX *sctx = server_ctx(cert);
    struct server s;
    struct refused r;
    server_start(&s, sctx);
    memset(&r, 0, sizeof r);
    r.s = &s;
    r.host = host;
    CHECK(coro_spawn(client_refused, &r, 0) != NULL);
    CHECK(coro_run() == 0);
    CHECK(r.err == EPROTO);
    if (!strstr(r.msg, want)) fprintf(stderr, "%s/%s: message '%s' lacks '%s'\n", cert, host,
                                      r.msg, want);
    CHECK(strstr(r.msg, want) != NULL);
    CHECK(strstr(r.msg, "certificate verify failed") != NULL);
    CHECK(!s.accepted && s.accept_errno != 0); /* the server sees the client's alert */
    coro_close(s.lfd);
    SSL_CTX_free(sctx);
}

static void test_wrong_hostname(void) { refuse("other", "localhost", "ostname mismatch"); }
static void test_wrong_ip(void) { refuse("leaf", "127.0.0.2", "IP address mismatch"); }
static void test_expired(void) { refuse("old", "localhost", "certificate has expired"); }
static void test_self_signed(void) { refuse("self", "localhost", "self-signed certificate"); }

/* verification off: explicit, and then the self-signed server is accepted (hostname optional) */
static void test_insecure(void) {
    SSL_CTX *sctx = server_ctx("self"), *ictx = coro_tls_client_ctx();
    struct server s;
    struct refused r;
    CHECK(ictx != NULL);
    CHECK(coro_tls_ctx_insecure(ictx) == 0);
    server_start(&s, sctx);
    memset(&r, 0, sizeof r);
    r.s = &s;
    r.host = NULL;
    r.ctx = ictx;
    CHECK(coro_spawn(client_refused, &r, 0) != NULL);
    CHECK(coro_run() == 0);
    CHECK(r.err == 0);
    CHECK(s.accepted);
    coro_close(s.lfd);
    SSL_CTX_free(ictx);
    SSL_CTX_free(sctx);
}

/* ---- a peer that is not TLS ---------------------------------------------------------------- */
static void *plain_server(void *arg) {
    int lfd = (int)I(arg), fd = coro_accept(lfd, NULL, NULL, in_ms(5000));
    const char resp[] = "HTTP/1.0 400 Bad Request\r\nContent-Length: 0\r\n\r\n";
    char buf[512];
    CHECK(fd >= 0);
    (void)coro_read(fd, buf, sizeof buf, in_ms(5000));
    (void)coro_write(fd, resp, sizeof resp - 1, in_ms(5000));
    coro_close(fd);
    return NULL;
}

static void test_not_tls(void) {
    struct server s;
    struct refused r;
    memset(&s, 0, sizeof s);
    s.lfd = coro_tcp_listen("127.0.0.1", 0, 16);
    s.port = coro_tcp_port(s.lfd);
    CHECK(coro_spawn(plain_server, P(s.lfd), 0) != NULL);
    memset(&r, 0, sizeof r);
    r.s = &s;
    r.host = "localhost";
    CHECK(coro_spawn(client_refused, &r, 0) != NULL);
    CHECK(coro_run() == 0);
    CHECK(r.err == EPROTO);
    CHECK(strstr(r.msg, "handshake: ") == r.msg && strstr(r.msg, "wrong version number"));
    coro_close(s.lfd);
}

/* ---- stalls: both sides hit their deadline ---------------------------------------------------- */
struct stall {
    int port, err;
    int64_t took;
    char msg[256];
};

/* the server side never answers: the kernel completes TCP, nobody accepts */
static void *client_stalled(void *arg) {
    struct stall *st = (struct stall *)arg;
    int fd = coro_tcp_connect("127.0.0.1", st->port, in_ms(5000));
    int64_t t0 = coro_now();
    coro_tls_t *t = coro_tls_connect(fd, "localhost", client_ctx, in_ms(300));
    st->took = coro_now() - t0;
    st->err = t ? 0 : errno;
    snprintf(st->msg, sizeof st->msg, "%s", coro_tls_error(NULL));
    if (t) coro_tls_close(t);
    else coro_close(fd);
    return NULL;
}

/* the client side sends half a record header, then nothing */
static void *half_hello(void *arg) {
    struct stall *st = (struct stall *)arg;
    int fd = coro_tcp_connect("127.0.0.1", st->port, in_ms(5000));
    char c;
    CHECK(fd >= 0);
    CHECK(coro_write(fd, "\x16\x03\x01", 3, in_ms(1000)) == 3);
    (void)coro_read(fd, &c, 1, in_ms(3000)); /* until the server gives up */
    coro_close(fd);
    return NULL;
}

static void test_stall(void) {
    struct stall st;
    struct server s;
    SSL_CTX *sctx = server_ctx("leaf");
    int lfd = coro_tcp_listen("127.0.0.1", 0, 16);
    memset(&st, 0, sizeof st);
    st.port = coro_tcp_port(lfd);
    CHECK(coro_spawn(client_stalled, &st, 0) != NULL);
    CHECK(coro_run() == 0);
    CHECK(st.err == ETIMEDOUT);
    CHECK(st.took >= 290 && st.took < 3000);
    CHECK(strcmp(st.msg, "handshake: deadline passed") == 0);
    coro_close(lfd);

    server_start(&s, sctx);
    s.accept_ms = 300;
    st.port = s.port;
    CHECK(coro_spawn(half_hello, &st, 0) != NULL);
    CHECK(coro_run() == 0);
    CHECK(!s.accepted && s.accept_errno == ETIMEDOUT);
    coro_close(s.lfd);
    SSL_CTX_free(sctx);
}

/* ---- the server hangs up without close_notify: the client's read says ECONNRESET ------------- */
static void *client_truncated(void *arg) {
    struct server *s = (struct server *)arg;
    int fd = coro_tcp_connect("127.0.0.1", s->port, in_ms(5000));
    coro_tls_t *t = coro_tls_connect(fd, "localhost", client_ctx, in_ms(5000));
    char buf[64];
    CHECK(t != NULL);
    if (!t) return NULL;
    CHECK_ERR(coro_tls_read(t, buf, sizeof buf, in_ms(5000)) < 0, ECONNRESET);
    CHECK(strncmp(coro_tls_error(t), "read: ", 6) == 0);
    CHECK(coro_tls_close(t) == 0);
    return NULL;
}

static void test_truncated(void) {
    SSL_CTX *sctx = server_ctx("leaf");
    struct server s;
    server_start(&s, sctx);
    s.hangup = 1;
    CHECK(coro_spawn(client_truncated, &s, 0) != NULL);
    CHECK(coro_run() == 0);
    CHECK(s.accepted);
    coro_close(s.lfd);
    SSL_CTX_free(sctx);
}

/* ---- one reader at a time; a read deadline -------------------------------------------------- */
static void *second_reader(void *arg) {
    char c;
    CHECK_ERR(coro_tls_read((coro_tls_t *)arg, &c, 1, in_ms(1000)) < 0, EBUSY);
    CHECK_ERR(coro_tls_shutdown((coro_tls_t *)arg, in_ms(1000)) < 0, EBUSY);
    CHECK_ERR(coro_tls_close((coro_tls_t *)arg) < 0, EBUSY);
    return NULL;
}

static void *client_busy(void *arg) {
    struct server *s = (struct server *)arg;
    int fd = coro_tcp_connect("127.0.0.1", s->port, in_ms(5000));
    coro_tls_t *t = coro_tls_connect(fd, "localhost", client_ctx, in_ms(5000));
    char c;
    int64_t t0;
    CHECK(t != NULL);
    if (!t) return NULL;
    CHECK(coro_spawn(second_reader, t, 0) != NULL);
    t0 = coro_now();
    CHECK_ERR(coro_tls_read(t, &c, 1, in_ms(200)) < 0, ETIMEDOUT); /* the echo server waits */
    CHECK(coro_now() - t0 >= 190);
    CHECK(strcmp(coro_tls_error(t), "read: deadline passed") == 0);
    errno = 1234;
    CHECK(coro_tls_write(t, "x", 1, in_ms(1000)) == 1); /* still usable after a timeout */
    CHECK(coro_tls_read(t, &c, 1, in_ms(5000)) == 1 && c == 'x');
    CHECK(errno == 1234); /* untouched by calls that succeed, even after waiting */
    CHECK(coro_tls_shutdown(t, in_ms(5000)) == 0);
    CHECK(coro_tls_close(t) == 0);
    return NULL;
}

static void test_busy(void) {
    SSL_CTX *sctx = server_ctx("leaf");
    struct server s;
    server_start(&s, sctx);
    CHECK(coro_spawn(client_busy, &s, 0) != NULL);
    CHECK(coro_run() == 0);
    CHECK(s.eof_clean);
    coro_close(s.lfd);
    SSL_CTX_free(sctx);
}

/* ---- writev and sendfile through the echo server ---------------------------------------------- */
#define FILE_BYTES 300000u

static void *gather_writer(void *arg) {
    struct bulk *b = (struct bulk *)arg;
    static unsigned char data[FILE_BYTES];
    struct iovec iov[70];
    size_t i, off = 0;
    char path_buf[] = "/tmp/test_tls.XXXXXX";
    int fd = mkstemp(path_buf);
    off_t pos = 10;
    CHECK(fd >= 0);
    for (i = 0; i < FILE_BYTES; i++) data[i] = pattern(i);
    /* 64 small pieces (gathered), one of 40000 bytes (written straight), then empty ones */
    for (i = 0; i < 64; i++) {
        iov[i].iov_base = data + off;
        iov[i].iov_len = 100 + i;
        off += 100 + i;
    }
    iov[64].iov_base = data + off;
    iov[64].iov_len = 40000;
    off += 40000;
    for (i = 65; i < 70; i++) {
        iov[i].iov_base = NULL;
        iov[i].iov_len = 0;
    }
    b->ok = coro_tls_writev(b->t, iov, 70, in_ms(20000)) == (ssize_t)off;
    /* the rest from a file, written at offset 10 of it */
    CHECK(write(fd, "0123456789", 10) == 10);
    CHECK(write(fd, data + off, FILE_BYTES - off) == (ssize_t)(FILE_BYTES - off));
    b->ok = b->ok && coro_tls_sendfile(b->t, fd, &pos, FILE_BYTES, in_ms(20000)) ==
                         (ssize_t)(FILE_BYTES - off); /* short: the file ends first */
    CHECK(pos == (off_t)(10 + FILE_BYTES - off));
    close(fd);
    unlink(path_buf);
    return NULL;
}

static void *client_gather(void *arg) {
    struct server *s = (struct server *)arg;
    int fd = coro_tcp_connect("127.0.0.1", s->port, in_ms(5000));
    coro_tls_t *t = coro_tls_connect(fd, "localhost", client_ctx, in_ms(5000));
    struct bulk b;
    coro_t *w;
    size_t got = 0, bad = 0;
    char buf[20000];
    ssize_t n;
    off_t neg = -1;
    CHECK(t != NULL);
    if (!t) return NULL;
    CHECK_ERR(coro_tls_writev(t, NULL, 1, 0) < 0, EINVAL);
    CHECK_ERR(coro_tls_writev(t, NULL, -1, 0) < 0, EINVAL);
    CHECK_ERR(coro_tls_sendfile(t, 0, NULL, 1, 0) < 0, EINVAL);
    CHECK_ERR(coro_tls_sendfile(t, 0, &neg, 1, 0) < 0, EINVAL);
    CHECK(coro_tls_writev(t, NULL, 0, 0) == 0);
    b.t = t;
    b.ok = 0;
    w = coro_spawn(gather_writer, &b, 0);
    CHECK(w != NULL && coro_joinable(w) == 0);
    while (got < FILE_BYTES && (n = coro_tls_read(t, buf, sizeof buf, in_ms(20000))) > 0) {
        ssize_t i;
        for (i = 0; i < n; i++) bad += (unsigned char)buf[i] != pattern(got + (size_t)i);
        got += (size_t)n;
    }
    CHECK(coro_join(w, NULL, in_ms(20000)) == 0);
    CHECK(b.ok);
    CHECK(got == FILE_BYTES && bad == 0);
    CHECK(coro_tls_shutdown(t, in_ms(5000)) == 0);
    CHECK(coro_tls_close(t) == 0);
    return NULL;
}

static void test_writev_sendfile(void) {
    SSL_CTX *sctx = server_ctx("leaf");
    struct server s;
    server_start(&s, sctx);
    CHECK(coro_spawn(client_gather, &s, 0) != NULL);
    CHECK(coro_run() == 0);
    CHECK(s.eof_clean);
    coro_close(s.lfd);
    SSL_CTX_free(sctx);
}

/* ---- coroutines killed inside a handshake or a read: their cleanups free everything ---------- */
static coro_tls_t *victim_tls;
static int victim_fd = -1, victim_cleanups;

static void victim_cleanup(void *arg) {
    (void)arg;
    victim_cleanups++;
    if (victim_tls) CHECK(coro_tls_close(victim_tls) == 0); /* killed inside coro_tls_read */
    else if (victim_fd >= 0) CHECK(coro_close(victim_fd) == 0); /* inside the handshake */
    victim_tls = NULL;
    victim_fd = -1;
}

static void *victim(void *arg) {
    int port = (int)(intptr_t)arg;
    char c;
    victim_fd = coro_tcp_connect("127.0.0.1", port, in_ms(5000));
    CHECK(victim_fd >= 0);
    CHECK(coro_defer(victim_cleanup, NULL) == 0);
    victim_tls = coro_tls_connect(victim_fd, "localhost", client_ctx, -1);
    CHECK(victim_tls != NULL); /* (only reached when the server answers) */
    (void)coro_tls_read(victim_tls, &c, 1, -1);
    CHECK(victim_tls == NULL); /* not reached: killed while reading */
    return NULL;
}

static void *killer(void *arg) {
    coro_sleep(200);
    CHECK(coro_kill((coro_t *)arg) == 0);
    return NULL;
}

static void test_killed(void) {
    SSL_CTX *sctx = server_ctx("leaf");
    struct server s;
    int lfd = coro_tcp_listen("127.0.0.1", 0, 16);
    coro_t *v;
    /* in the handshake: nobody accepts */
    v = coro_spawn(victim, (void *)(intptr_t)coro_tcp_port(lfd), 0);
    CHECK(v && coro_spawn(killer, v, 0));
    CHECK(coro_run() == 0);
    CHECK(victim_cleanups == 1);
    coro_close(lfd);
    /* in a read: the echo server waits for data that never comes */
    server_start(&s, sctx);
    v = coro_spawn(victim, (void *)(intptr_t)s.port, 0);
    CHECK(v && coro_spawn(killer, v, 0));
    CHECK(coro_run() == 0);
    CHECK(victim_cleanups == 2);
    CHECK(s.accepted && !s.eof_clean);
    coro_close(s.lfd);
    SSL_CTX_free(sctx);
}

/* ---- misuse ------------------------------------------------------------------------------- */
static void test_misuse(void) {
    char c;
    SSL_CTX *v = coro_tls_client_ctx();
    CHECK(v != NULL);
    CHECK(coro_tls_connect(-1, "localhost", v, 0) == NULL && errno == EINVAL);
    CHECK(coro_tls_connect(0, "localhost", NULL, 0) == NULL && errno == EINVAL);
    CHECK(coro_tls_connect(0, NULL, v, 0) == NULL && errno == EINVAL);
    CHECK(strstr(coro_tls_error(NULL), "hostname") != NULL);
    CHECK(coro_tls_accept(-1, v, 0) == NULL && errno == EINVAL);
    CHECK_ERR(coro_tls_read(NULL, &c, 1, 0) < 0, EINVAL);
    CHECK_ERR(coro_tls_write(NULL, &c, 1, 0) < 0, EINVAL);
    CHECK_ERR(coro_tls_shutdown(NULL, 0) < 0, EINVAL);
    CHECK_ERR(coro_tls_close(NULL) < 0, EINVAL);
    CHECK(strcmp(coro_tls_alpn(NULL), "") == 0);
    CHECK(coro_tls_fd(NULL) == -1 && coro_tls_ssl(NULL) == NULL);
    CHECK_ERR(coro_tls_ctx_alpn(v, "h2,,x") < 0, EINVAL);
    CHECK_ERR(coro_tls_ctx_alpn(v, "") < 0, EINVAL);
    CHECK_ERR(coro_tls_ctx_alpn(NULL, "h2") < 0, EINVAL);
    CHECK(coro_tls_ctx_alpn(v, "h2") == 0 && coro_tls_ctx_alpn(v, "http/1.1") == 0); /* replaced */
    CHECK_ERR(coro_tls_ctx_trust(v, path("missing.pem")) < 0, EPROTO);
    CHECK_ERR(coro_tls_ctx_trust(NULL, "x") < 0, EINVAL);
    CHECK_ERR(coro_tls_ctx_insecure(NULL) < 0, EINVAL);
    CHECK(coro_tls_server_ctx(path("missing.pem"), path("leaf.key")) == NULL && errno == ENOENT);
    CHECK(coro_tls_server_ctx(NULL, NULL) == NULL && errno == EINVAL);
    /* a key that is not the certificate's */
    CHECK(coro_tls_server_ctx(path("leaf.pem"), path("other.key")) == NULL && errno == EPROTO);
    CHECK(strstr(coro_tls_error(NULL), "mismatch") != NULL);
    /* the key where the certificate should be */
    CHECK(coro_tls_server_ctx(path("leaf.key"), path("leaf.key")) == NULL && errno == EPROTO);
    CHECK(strstr(coro_tls_error(NULL), "certificate") != NULL);
    SSL_CTX_free(v);
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s CERTDIR\n", argv[0]);
        return 2;
    }
    snprintf(dir, sizeof dir, "%s", argv[1]);
    client_ctx = coro_tls_client_ctx();
    CHECK(client_ctx != NULL);
    if (!client_ctx) return check_done();
    CHECK(coro_tls_ctx_trust(client_ctx, path("ca.pem")) == 0);
    CHECK(coro_tls_ctx_alpn(client_ctx, "x-none,http/1.1") == 0);
    RUN(test_roundtrip);
    RUN(test_wrong_hostname);
    RUN(test_wrong_ip);
    RUN(test_expired);
    RUN(test_self_signed);
    RUN(test_insecure);
    RUN(test_not_tls);
    RUN(test_stall);
    RUN(test_truncated);
    RUN(test_busy);
    RUN(test_writev_sendfile);
    RUN(test_killed);
    RUN(test_misuse);
    SSL_CTX_free(client_ctx);
    coro_sched_free();
    return check_done();
}
