/* httpd.c - a small HTTP/1.1 server: one coroutine per connection, keep-alive, static files.

   What it shows: a request/response server written as plain sequential code per connection
   (read a head, answer, repeat while the client keeps the connection) with every limit a
   server on the open network needs: a deadline for each request (a client that sends nothing,
   or half a request, for -T seconds is closed), a bounded head (8 KiB, then 431), at most 32
   header lines, no path escaping the document root, lingering close so an error answer is not
   lost to a reset, and a clean stop on SIGINT/SIGTERM. The parser is a separate function over
   bytes (examples/http_parse.h) so that it can be fuzzed (fuzz/fuzz_http.c).

   Files: open(), stat() and read() of a regular file never return EAGAIN (epoll refuses regular
   files), so on a cold cache or a network file system each of them would stall every
   connection of the thread. They run on coro_sched.h's worker threads with coro_offload: one
   job resolves and opens the file (realpath, then a check that the result is still under the
   root, so neither ".." nor a symlink can leave it), then one job per 16 KiB chunk reads it
   with pread. Chunks keep a big file from holding a connection's memory or a worker for long;
   the first chunk goes out in the same write as the head.

   Answers: GET and HEAD (200, with Content-Length, Content-Type, Date, Server); 400 for a
   malformed request, 403, 404, 405 with "Allow: GET, HEAD" for any other method, 408 when a
   started request times out, 414, 431 for a head over 8 KiB or too many header lines, 505 for
   HTTP/2+. HTTP/1.1 keeps the connection unless "Connection: close"; HTTP/1.0 closes unless
   "Connection: keep-alive". A request body of up to 64 KiB is read and discarded (the
   connection stays usable); a larger or chunked one gets its answer and a closed connection.

   After coro_ehttpd.py, the medusa-like web server of the eGroups coroutine library.

   Build and run, from the repository root:
       cc -O2 -I. examples/httpd.c -o httpd -pthread
       ./httpd -p 8080 -d examples        # then: curl -v http://127.0.0.1:8080/fringe.c
   Options: -p PORT (0 = any free port, the default), -b ADDR (127.0.0.1), -d DIR (serve files;
   without it only the built-in page at / and /hello), -T SECONDS per request (10), -v (log
   each request on stderr), -h. Prints "listening on ADDR:PORT", and at exit
   "httpd: R requests on C connections". */
#define _FILE_OFFSET_BITS 64 /* files over 2 GiB on 32-bit systems too */
#define CORO_IMPLEMENTATION
#define CORO_SCHED_IMPLEMENTATION
#include "coro_sched.h"

#include "http_parse.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define HEAD_MAX 8192          /* bytes of request head a connection buffers */
#define FILE_CHUNK 16384       /* bytes read from a file per offloaded job */
#define BODY_DISCARD_MAX 65536 /* request bodies up to this are read and dropped */
#define LINGER_MS 2000         /* lingering close: how long to drain what the client still sends */

struct conn {
    coro_t *co;
    int fd, file_fd; /* file_fd: a file being sent, -1 if none */
    struct conn *prev, *next;
};

static struct {
    int lfd, stopping, verbose;
    const char *addr;
    char root[PATH_MAX]; /* realpath of -d DIR, "" if none */
    size_t root_len;
    int64_t timeout_ms;
    struct conn *conns;
    unsigned long long requests, connections;
} srv;

static void usage(FILE *f) {
    fprintf(f, "usage: httpd [-p PORT] [-b ADDR] [-d DIR] [-T SECONDS] [-v] [-h]\n"
               "  -p PORT     port to listen on, 0 = any free port (default 0)\n"
               "  -b ADDR     address to bind (default 127.0.0.1)\n"
               "  -d DIR      serve the files under DIR (default: only the built-in page)\n"
               "  -T SECONDS  time a client has to send each request (default 10)\n"
               "  -v          log every request on stderr\n");
}

/* >>responses */
static const char *status_text(int status) {
    switch (status) {
    case 200: return "OK";
    case 400: return "Bad Request";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 414: return "URI Too Long";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 505: return "HTTP Version Not Supported";
    default: return "Unknown";
    }
}

/* The Date header, formatted at most once a second. */
static const char *http_date(void) {
    static char buf[64];
    static time_t last = (time_t)-1;
    time_t now = time(NULL);
    if (now != last) {
        struct tm tm;
        gmtime_r(&now, &tm);
        strftime(buf, sizeof buf, "%a, %d %b %Y %H:%M:%S GMT", &tm);
        last = now;
    }
    return buf;
}

/* Format a response head into out (cap bytes); returns its length, or 0 if it does not fit. */
static size_t format_head(char *out, size_t cap, int status, const char *type,
                          unsigned long long length, int keep, int http10, const char *extra) {
    int n = snprintf(out, cap,
                     "HTTP/1.1 %d %s\r\nServer: coro-httpd\r\nDate: %s\r\n"
                     "Content-Type: %s\r\nContent-Length: %llu\r\n%s%s\r\n",
                     status, status_text(status), http_date(), type, length,
                     !keep ? "Connection: close\r\n" : http10 ? "Connection: keep-alive\r\n" : "",
                     extra ? extra : "");
    return n > 0 && (size_t)n < cap ? (size_t)n : 0;
}

/* A whole response with a small body, in one write. 0, or -1 if the write failed. */
static int send_small(struct conn *c, int status, const char *type, const char *body, int head_only,
                      int keep, int http10, const char *extra) {
    char out[2048];
    size_t blen = strlen(body), hl = format_head(out, sizeof out, status, type, blen, keep, http10, extra);
    if (!hl || hl + blen > sizeof out) return -1;
    if (!head_only) {
        memcpy(out + hl, body, blen);
        hl += blen;
    }
    return coro_write(c->fd, out, hl, coro_now() + srv.timeout_ms) < 0 ? -1 : 0;
}

static int send_error(struct conn *c, int status, int head_only, int keep, int http10) {
    char body[64];
    snprintf(body, sizeof body, "%d %s\n", status, status_text(status));
    return send_small(c, status, "text/plain", body, head_only, keep, http10,
                      status == 405 ? "Allow: GET, HEAD\r\n" : NULL);
}

/* Half-close, then read and drop what the client still sends (for a short while), so the
   answer just written is not destroyed by the reset that closing with unread data causes. */
static void linger_close(struct conn *c) {
    char junk[512];
    int64_t deadline = coro_now() + LINGER_MS;
    size_t total = 0;
    ssize_t n;
    if (srv.stopping) return;
    shutdown(c->fd, SHUT_WR);
    while (total < BODY_DISCARD_MAX && (n = coro_read(c->fd, junk, sizeof junk, deadline)) > 0)
        total += (size_t)n;
}

/* >>files */
struct open_job {
    const char *path; /* decoded, starts with '/' */
    int fd, status;
    long long size;
    char real[PATH_MAX];
};

static int under_root(const char *real) {
    return strncmp(real, srv.root, srv.root_len) == 0 &&
           (real[srv.root_len] == '/' || real[srv.root_len] == 0 ||
            (srv.root_len == 1 && srv.root[0] == '/'));
}

/* Runs on a worker thread: resolve the path, check it stays under the root, open it. */
static void *open_job(void *arg) {
    struct open_job *j = (struct open_job *)arg;
    char full[PATH_MAX];
    struct stat st;
    int n = snprintf(full, sizeof full, "%s%s", srv.root, j->path);
    j->fd = -1;
    j->status = 404;
    if (n < 0 || (size_t)n >= sizeof full) {
        j->status = 414;
        return NULL;
    }
    if (!realpath(full, j->real)) {
        if (errno == EACCES) j->status = 403;
        return NULL;
    }
    if (!under_root(j->real) || stat(j->real, &st) != 0) return NULL;
    if (S_ISDIR(st.st_mode)) {
        n = snprintf(full, sizeof full, "%s/index.html", j->real);
        if (n < 0 || (size_t)n >= sizeof full || !realpath(full, j->real) || !under_root(j->real))
            return NULL;
    }
    j->fd = open(j->real, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (j->fd < 0) {
        if (errno == EACCES) j->status = 403;
        return NULL;
    }
    if (fstat(j->fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(j->fd);
        j->fd = -1;
        return NULL;
    }
    j->size = (long long)st.st_size;
    j->status = 200;
    return NULL;
}

struct read_job {
    int fd;
    char *buf;
    size_t len;
    off_t off;
    ssize_t n;
};

static void *read_job(void *arg) {
    struct read_job *j = (struct read_job *)arg;
    do j->n = pread(j->fd, j->buf, j->len, j->off);
    while (j->n < 0 && errno == EINTR);
    return NULL;
}

static const char *content_type(const char *path) {
    static const char *const map[][2] = {
        {".html", "text/html; charset=utf-8"}, {".htm", "text/html; charset=utf-8"},
        {".txt", "text/plain; charset=utf-8"}, {".c", "text/plain; charset=utf-8"},
        {".h", "text/plain; charset=utf-8"},   {".md", "text/plain; charset=utf-8"},
        {".css", "text/css"},                  {".js", "text/javascript"},
        {".json", "application/json"},         {".png", "image/png"},
        {".jpg", "image/jpeg"},                {".gif", "image/gif"},
        {".svg", "image/svg+xml"},             {".ico", "image/x-icon"}};
    const char *dot = strrchr(path, '.');
    size_t i;
    if (dot && !strchr(dot, '/'))
        for (i = 0; i < sizeof map / sizeof map[0]; i++)
            if (strcmp(dot, map[i][0]) == 0) return map[i][1];
    return "application/octet-stream";
}

/* Percent-decode the request path into out. 0, or the status to answer: 400 for a bad escape,
   a NUL, or a ".." segment; 414 when it does not fit. */
static int decode_path(struct http_str p, char *out, size_t cap) {
    size_t i, o = 0, seg = 0;
    for (i = 0; i < p.len; i++) {
        int c = (unsigned char)p.p[i];
        if (c == '%') {
            int k, v = 0;
            if (p.len - i < 3) return 400;
            for (k = 1; k <= 2; k++) {
                int h = (unsigned char)p.p[i + (size_t)k];
                v <<= 4;
                if (h >= '0' && h <= '9') v |= h - '0';
                else if (h >= 'a' && h <= 'f') v |= h - 'a' + 10;
                else if (h >= 'A' && h <= 'F') v |= h - 'A' + 10;
                else return 400;
            }
            c = v;
            i += 2;
        }
        if (c == 0) return 400;
        if (o + 1 >= cap) return 414;
        if (c == '/') {
            if (o - seg == 2 && out[seg] == '.' && out[seg + 1] == '.') return 400;
            seg = o + 1;
        }
        out[o++] = (char)c;
    }
    if (o - seg == 2 && out[seg] == '.' && out[seg + 1] == '.') return 400;
    out[o] = 0;
    return 0;
}

/* Send the file, the first chunk together with the head. 0, or -1: the connection must close
   (a write failed, or the file shrank under us so Content-Length cannot be kept). */
static int send_file(struct conn *c, struct open_job *oj, int head_only, int keep, int http10) {
    char out[FILE_CHUNK + 512];
    size_t hl = format_head(out, 512, 200, content_type(oj->real), (unsigned long long)oj->size,
                            keep, http10, NULL);
    long long off = 0;
    if (!hl) return -1;
    if (head_only || oj->size == 0)
        return coro_write(c->fd, out, hl, coro_now() + srv.timeout_ms) < 0 ? -1 : 0;
    while (off < oj->size) {
        struct read_job rj;
        rj.fd = c->file_fd;
        rj.buf = out + hl;
        rj.len = oj->size - off < FILE_CHUNK ? (size_t)(oj->size - off) : FILE_CHUNK;
        rj.off = (off_t)off;
        if (coro_offload(read_job, &rj, NULL) != 0 || rj.n <= 0) return -1;
        if (coro_write(c->fd, out, hl + (size_t)rj.n, coro_now() + srv.timeout_ms) < 0) return -1;
        off += rj.n;
        hl = 0;
    }
    return 0;
}

/* >>requests */
static const char hello_page[] =
    "<!doctype html>\n<html><head><title>coro httpd</title></head><body>\n"
    "<h1>Hello from coro_sched.h</h1>\n"
    "<p>This page was served by one coroutine among many, on one thread.</p>\n"
    "</body></html>\n";

/* Answer one request. Returns 1 to keep the connection, 0 to close it (after a lingering
   close), -1 to drop it (the connection failed). */
static int respond(struct conn *c, const struct http_request *req) {
    int get = req->method.len == 3 && memcmp(req->method.p, "GET", 3) == 0;
    int head_only = req->method.len == 4 && memcmp(req->method.p, "HEAD", 4) == 0;
    int http10 = req->minor == 0;
    int keep = req->keep_alive && !srv.stopping && !req->chunked &&
               req->content_length <= BODY_DISCARD_MAX;
    int status;
    char path[PATH_MAX];
    struct open_job oj;

    if (!get && !head_only) return send_error(c, 405, 0, keep, http10) < 0 ? -1 : keep;
    if (req->path.p[0] != '/') return send_error(c, 400, head_only, 0, http10) < 0 ? -1 : 0; /* "*" */
    if ((status = decode_path(req->path, path, sizeof path)) != 0)
        return send_error(c, status, head_only, 0, http10) < 0 ? -1 : 0;
    if (strcmp(path, "/hello") == 0 || (!srv.root[0] && strcmp(path, "/") == 0))
        return send_small(c, 200, "text/html; charset=utf-8", hello_page, head_only, keep, http10,
                          NULL) < 0 ? -1 : keep;
    if (!srv.root[0]) return send_error(c, 404, head_only, keep, http10) < 0 ? -1 : keep;

    memset(&oj, 0, sizeof oj);
    oj.path = path;
    oj.fd = -1;
    if (coro_offload(open_job, &oj, NULL) != 0) {
        if (oj.fd >= 0) close(oj.fd); /* raised while the job ran: it may have opened it */
        return -1;
    }
    if (oj.status != 200) return send_error(c, oj.status, head_only, keep, http10) < 0 ? -1 : keep;
    c->file_fd = oj.fd;
    status = send_file(c, &oj, head_only, keep, http10);
    close(c->file_fd);
    c->file_fd = -1;
    return status < 0 ? -1 : keep;
}

/* Read and drop a request body of n bytes, of which have - head bytes are already buffered;
   returns the bytes of the buffer that follow the body, or -1. */
static ssize_t discard_body(struct conn *c, char *buf, size_t have, size_t head,
                            unsigned long long n, int64_t deadline) {
    size_t in_buf = have - head;
    if (n <= in_buf) {
        memmove(buf, buf + head + n, in_buf - (size_t)n);
        return (ssize_t)(in_buf - (size_t)n);
    }
    n -= in_buf;
    while (n > 0) {
        ssize_t r = coro_read(c->fd, buf, n < HEAD_MAX ? (size_t)n : HEAD_MAX, deadline);
        if (r <= 0) return -1;
        n -= (unsigned long long)r;
    }
    return 0;
}

static void conn_cleanup(void *arg) {
    struct conn *c = (struct conn *)arg;
    if (c->prev) c->prev->next = c->next;
    else srv.conns = c->next;
    if (c->next) c->next->prev = c->prev;
    if (c->file_fd >= 0) close(c->file_fd);
    coro_close(c->fd);
}

/* The requests of one connection, until it is to be closed. */
static void serve(struct conn *c) {
    char buf[HEAD_MAX];
    size_t have = 0;
    for (;;) {
        struct http_request req;
        int64_t deadline = coro_now() + srv.timeout_ms; /* for the whole head */
        int r = have ? http_parse_request(buf, have, &req) : HTTP_INCOMPLETE, keep;
        ssize_t rest;
        while (r == HTTP_INCOMPLETE) {
            ssize_t n;
            if (have == sizeof buf) {
                req.status = 431;
                req.reason = "request head over 8 KiB";
                r = HTTP_ERROR;
                break;
            }
            n = coro_read(c->fd, buf + have, sizeof buf - have, deadline);
            if (n == 0) return; /* the client closed (maybe mid-request: nobody to answer) */
            if (n < 0) {
                if (errno == ETIMEDOUT && have > 0 && send_error(c, 408, 0, 0, 0) == 0)
                    linger_close(c);
                return; /* timed out idle, raised at shutdown, or a failed connection */
            }
            /* only a new line can complete a line: skip parsing until one arrives */
            if (memchr(buf + have, '\n', (size_t)n)) r = http_parse_request(buf, have + (size_t)n, &req);
            have += (size_t)n;
        }
        srv.requests++;
        if (r == HTTP_ERROR) {
            if (srv.verbose) fprintf(stderr, "httpd: fd %d: %d %s\n", c->fd, req.status, req.reason);
            if (send_error(c, req.status, 0, 0, 0) == 0) linger_close(c);
            return;
        }
        keep = respond(c, &req);
        if (srv.verbose)
            fprintf(stderr, "httpd: fd %d: %.*s %.*s -> %s\n", c->fd, (int)req.method.len,
                    req.method.p, (int)req.target.len, req.target.p,
                    keep > 0 ? "keep-alive" : keep == 0 ? "close" : "failed");
        if (keep < 0) return;
        if (keep == 0) {
            linger_close(c);
            return;
        }
        rest = discard_body(c, buf, have, (size_t)r, req.content_length, deadline);
        if (rest < 0) return;
        have = (size_t)rest;
    }
}

static void *http_conn(void *arg) {
    struct conn self;
    int one = 1;
    self.fd = (int)(intptr_t)arg;
    self.file_fd = -1;
    if (srv.stopping) {
        coro_close(self.fd);
        return NULL;
    }
    self.co = coro_current();
    self.prev = NULL;
    self.next = srv.conns;
    if (srv.conns) srv.conns->prev = &self;
    srv.conns = &self;
    if (coro_defer(conn_cleanup, &self) != 0) {
        conn_cleanup(&self);
        return NULL;
    }
    srv.connections++;
    setsockopt(self.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    serve(&self);
    /* Run the cleanup while `self` is alive: left to run at the return, it would run after this
       frame is gone. (When the coroutine is killed it runs from inside the blocking call, with
       the frame intact.) */
    coro_defer_pop(1);
    return NULL;
}

static void *acceptor(void *arg) {
    int fd;
    (void)arg;
    while ((fd = coro_accept(srv.lfd, NULL, NULL, -1)) >= 0) {
        coro_t *co = coro_spawn(http_conn, (void *)(intptr_t)fd, 0);
        if (!co) {
            fprintf(stderr, "httpd: cannot start a coroutine: %s\n", strerror(errno));
            coro_close(fd);
            continue;
        }
        coro_set_name(co, "http-conn");
    }
    if (!srv.stopping) fprintf(stderr, "httpd: accept: %s\n", strerror(errno));
    return NULL;
}

/* Waits for SIGINT/SIGTERM, then: no new connections, and every connection's blocking call
   fails with ECANCELED, after which it closes and ends (one busy in a file job finishes the
   job first). coro_run returns when the last one has gone. */
static void *signals(void *arg) {
    sigset_t set;
    struct conn *c, *next;
    int sig;
    (void)arg;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sig = coro_signal_wait(&set, -1);
    if (sig < 0) fprintf(stderr, "httpd: coro_signal_wait: %s\n", strerror(errno));
    else fprintf(stderr, "httpd: %s, stopping\n", sig == SIGINT ? "SIGINT" : "SIGTERM");
    srv.stopping = 1;
    coro_close(srv.lfd);
    for (c = srv.conns; c; c = next) {
        next = c->next; /* only c runs during the raise: next stays valid */
        coro_raise(c->co, ECANCELED);
    }
    return NULL;
}

/* Runs after signals() has installed its handlers: a SIGTERM sent by whoever reads this line
   is always handled. */
static void *announce(void *arg) {
    (void)arg;
    printf("listening on %s:%d\n", srv.addr, coro_tcp_port(srv.lfd));
    fflush(stdout);
    return NULL;
}

int main(int argc, char **argv) {
    const char *dir = NULL;
    int opt, port = 0;
    srv.addr = "127.0.0.1";
    srv.timeout_ms = 10000;
    while ((opt = getopt(argc, argv, "p:b:d:T:vh")) != -1) {
        char *end;
        long v;
        switch (opt) {
        case 'p':
            errno = 0;
            v = strtol(optarg, &end, 10);
            if (errno || end == optarg || *end || v < 0 || v > 65535) {
                fprintf(stderr, "httpd: -p: '%s' is not a port (0..65535)\n", optarg);
                return 2;
            }
            port = (int)v;
            break;
        case 'b': srv.addr = optarg; break;
        case 'd': dir = optarg; break;
        case 'T':
            errno = 0;
            v = strtol(optarg, &end, 10);
            if (errno || end == optarg || *end || v < 1 || v > 86400) {
                fprintf(stderr, "httpd: -T: '%s' is not a number of seconds (1..86400)\n", optarg);
                return 2;
            }
            srv.timeout_ms = (int64_t)v * 1000;
            break;
        case 'v': srv.verbose = 1; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "httpd: unexpected argument '%s'\n", argv[optind]);
        usage(stderr);
        return 2;
    }
    if (dir) {
        struct stat st;
        if (!realpath(dir, srv.root) || stat(srv.root, &st) != 0) {
            fprintf(stderr, "httpd: -d: '%s': %s\n", dir, strerror(errno));
            return 2;
        }
        if (!S_ISDIR(st.st_mode)) {
            fprintf(stderr, "httpd: -d: '%s' is not a directory\n", dir);
            return 2;
        }
        srv.root_len = strlen(srv.root);
    }
    if ((srv.lfd = coro_tcp_listen(srv.addr, port, 1024)) < 0) {
        fprintf(stderr, "httpd: listen on %s:%d: %s\n", srv.addr, port, strerror(errno));
        return 1;
    }
    {
        coro_t *s = coro_spawn(signals, NULL, 0), *a = coro_spawn(acceptor, NULL, 0),
               *n = coro_spawn(announce, NULL, 0);
        if (!s || !a || !n) {
            fprintf(stderr, "httpd: cannot start: %s\n", strerror(errno));
            return 1;
        }
        coro_set_name(s, "signals");
        coro_set_name(a, "acceptor");
        coro_set_name(n, "announce");
    }
    if (coro_run() != 0) fprintf(stderr, "httpd: coro_run: %s\n", strerror(errno));
    coro_sched_free();
    printf("httpd: %llu requests on %llu connections\n", srv.requests, srv.connections);
    return 0;
}
