/* tls_hello.c - a TLS server and client with coro_tls.h, one coroutine per connection.

   What it shows: coro_tls_accept / coro_tls_connect with deadlines, verification on by default
   (the client checks the server's certificate and name), ALPN, a clean TLS close, and errors
   printed in OpenSSL's words. The server answers every connection with a one-line HTTP/1.0
   response, so curl and `openssl s_client` can talk to it; the client sends an HTTP/1.0 GET, so
   it can talk to `openssl s_server -www` or any https server.

   Build and run, from the repository root (needs OpenSSL 3, Debian's libssl-dev):
       cc -O2 -I. examples/tls_hello.c -o tls_hello $(pkg-config --cflags --libs openssl) -pthread
       openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 \
           -keyout key.pem -out cert.pem -subj /CN=localhost -addext subjectAltName=DNS:localhost
       ./tls_hello serve cert.pem key.pem -p 8443 &
       curl --cacert cert.pem https://localhost:8443/hi
       ./tls_hello get localhost 8443 /hi cert.pem
   serve CERT KEY [-p PORT]: listens on 127.0.0.1 (port 0: any; prints "listening on ADDR:PORT"),
   exits 0 on SIGINT/SIGTERM. get HOST PORT PATH [CAFILE]: prints the response, exits 0, or 1
   with the reason when the connection or the certificate check fails. */
#define CORO_IMPLEMENTATION
#define CORO_SCHED_IMPLEMENTATION
#define CORO_TLS_IMPLEMENTATION
#include "coro_tls.h"

#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static SSL_CTX *ctx;
static int lfd = -1;

/* ---- server ------------------------------------------------------------------------------ */
static void close_conn(void *arg) { /* also runs if the coroutine is killed at shutdown */
    coro_tls_t **t = (coro_tls_t **)arg;
    if (*t) coro_tls_close(*t);
    free(t);
}

static void *conn(void *arg) {
    int fd = (int)(intptr_t)arg;
    coro_tls_t **t = (coro_tls_t **)calloc(1, sizeof *t);
    char req[8192], body[512], head[256], path[256] = "/";
    size_t have = 0;
    ssize_t n;
    int blen, hlen;
    if (!t || coro_defer(close_conn, t) != 0) {
        free(t);
        coro_close(fd);
        return NULL;
    }
    if (!(*t = coro_tls_accept(fd, ctx, coro_now() + 10000))) {
        fprintf(stderr, "tls_hello: accept: %s\n", coro_tls_error(NULL));
        coro_close(fd);
        return NULL;
    }
    while (have < sizeof req - 1) { /* the request head, up to its blank line */
        n = coro_tls_read(*t, req + have, sizeof req - 1 - have, coro_now() + 10000);
        if (n <= 0) return NULL;
        have += (size_t)n;
        req[have] = 0;
        if (strstr(req, "\r\n\r\n")) break;
    }
    sscanf(req, "%*s %255s", path);
    blen = snprintf(body, sizeof body, "hello over TLS (%s, alpn %s), path %s\n",
                    SSL_get_version(coro_tls_ssl(*t)),
                    *coro_tls_alpn(*t) ? coro_tls_alpn(*t) : "none", path);
    hlen = snprintf(head, sizeof head, "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n"
                    "Content-Length: %d\r\nConnection: close\r\n\r\n", blen);
    if (coro_tls_write(*t, head, (size_t)hlen, coro_now() + 10000) < 0 ||
        coro_tls_write(*t, body, (size_t)blen, coro_now() + 10000) < 0) {
        fprintf(stderr, "tls_hello: write: %s\n", coro_tls_error(*t));
        return NULL;
    }
    coro_tls_shutdown(*t, coro_now() + 2000);
    return NULL;
}

static void *acceptor(void *arg) {
    int fd;
    (void)arg;
    while ((fd = coro_accept(lfd, NULL, NULL, -1)) >= 0)
        if (!coro_spawn(conn, (void *)(intptr_t)fd, 0)) coro_close(fd);
    return NULL;
}

static void *on_signal(void *arg) {
    sigset_t set;
    (void)arg;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    if (coro_signal_wait(&set, -1) > 0) coro_stop();
    return NULL;
}

static int serve(const char *cert, const char *key, int port) {
    sigset_t set;
    if (!(ctx = coro_tls_server_ctx(cert, key))) {
        fprintf(stderr, "tls_hello: %s\n", coro_tls_error(NULL));
        return 1;
    }
    coro_tls_ctx_alpn(ctx, "http/1.1");
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    if ((lfd = coro_tcp_listen("127.0.0.1", port, 128)) < 0 || coro_signal_watch(&set) < 0) {
        perror("tls_hello: listen");
        return 1;
    }
    printf("listening on 127.0.0.1:%d\n", coro_tcp_port(lfd));
    fflush(stdout);
    coro_spawn(acceptor, NULL, 0);
    coro_spawn(on_signal, NULL, 0);
    coro_run();
    coro_sched_free(); /* kills what is left: their cleanups close the connections */
    SSL_CTX_free(ctx);
    return 0;
}

/* ---- client ------------------------------------------------------------------------------ */
static const char *g_host, *g_path, *g_ca;
static int g_port, g_status = 1;

static void *get(void *arg) {
    char buf[16384];
    ssize_t n;
    int len, fd;
    coro_tls_t *t;
    int64_t deadline = coro_now() + 10000;
    (void)arg;
    if ((fd = coro_tcp_connect(g_host, g_port, deadline)) < 0) {
        fprintf(stderr, "tls_hello: connect %s:%d: %s\n", g_host, g_port, strerror(errno));
        return NULL;
    }
    if (!(t = coro_tls_connect(fd, g_host, ctx, deadline))) {
        fprintf(stderr, "tls_hello: %s:%d: %s\n", g_host, g_port, coro_tls_error(NULL));
        coro_close(fd);
        return NULL;
    }
    len = snprintf(buf, sizeof buf, "GET %s HTTP/1.0\r\nHost: %s\r\n\r\n", g_path, g_host);
    if (coro_tls_write(t, buf, (size_t)len, deadline) < 0) {
        fprintf(stderr, "tls_hello: %s\n", coro_tls_error(t));
        coro_tls_close(t);
        return NULL;
    }
    while ((n = coro_tls_read(t, buf, sizeof buf, deadline)) > 0) fwrite(buf, 1, (size_t)n, stdout);
    if (n < 0) /* HTTP/1.0 ends at the close, so a close without close_notify is a truncation */
        fprintf(stderr, "tls_hello: %s\n", coro_tls_error(t));
    else if (coro_tls_shutdown(t, coro_now() + 1000) == 0)
        g_status = 0;
    coro_tls_close(t);
    return NULL;
}

static int client(const char *host, const char *port, const char *path, const char *ca) {
    g_host = host;
    g_port = atoi(port);
    g_path = path;
    g_ca = ca;
    if (!(ctx = coro_tls_client_ctx()) || (g_ca && coro_tls_ctx_trust(ctx, g_ca) < 0)) {
        fprintf(stderr, "tls_hello: %s\n", coro_tls_error(NULL));
        SSL_CTX_free(ctx);
        return 1;
    }
    coro_tls_ctx_alpn(ctx, "http/1.1");
    coro_spawn(get, NULL, 0);
    coro_run();
    coro_sched_free();
    SSL_CTX_free(ctx);
    return g_status;
}

int main(int argc, char **argv) {
    if (argc >= 4 && strcmp(argv[1], "serve") == 0) {
        int port = argc >= 6 && strcmp(argv[4], "-p") == 0 ? atoi(argv[5]) : 0;
        return serve(argv[2], argv[3], port);
    }
    if ((argc == 5 || argc == 6) && strcmp(argv[1], "get") == 0)
        return client(argv[2], argv[3], argv[4], argc == 6 ? argv[5] : NULL);
    fprintf(stderr, "usage: %s serve CERT KEY [-p PORT] | get HOST PORT PATH [CAFILE]\n", argv[0]);
    return 2;
}
