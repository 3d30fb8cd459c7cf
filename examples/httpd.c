/* httpd.c - a small HTTP/1.1 static file server: one coroutine per connection, keep-alive.

   What it shows: a request/response server written as plain sequential code per connection
   (read a head, answer, repeat while the client keeps the connection) that costs about what a
   hand-written event-loop server costs (bench/servers/http.sh holds it against nginx and
   lighttpd), with every limit a server on the open network needs: a deadline for each request
   (a client that sends nothing, or half a request, for -T seconds is closed; a 408 if it had
   begun), a bounded head (8 KiB, then 431), at most 32 header lines, no path escaping the
   document root, lingering close so an error answer is not lost to a reset, and a graceful stop
   on SIGINT/SIGTERM. The parser is a separate function over bytes (examples/http_parse.h) so
   that it can be fuzzed (fuzz/fuzz_http.c).

   Files: open() and stat() of a file never return EAGAIN, so on a cold cache or a network file
   system each of them would stall every connection of the thread: they run on coro_sched.h's
   worker threads (coro_offload), which resolve the path (realpath, then a check that the result
   is still under the root, so neither ".." nor a symlink can leave it), open it and read its
   first 16 KiB. The open file is then shared by the requests for that path for a second (a
   small cache, like nginx's open_file_cache), so a busy file costs no thread hop at all: a
   small one is answered with one writev (head and body), a larger one with a writev (head and
   the first 16 KiB) and coro_sendfile for the rest, which the kernel copies from the page cache.
   All socket I/O goes through three functions (>>io below), the place to plug in TLS.

   HTTPS: built with -DHTTPD_TLS and OpenSSL 3 (make builds it as httpd_tls where OpenSSL is
   installed), `--tls CERT KEY` serves TLS 1.2/1.3 with that certificate chain and key, ALPN
   "http/1.1", through coro_tls.h: the >>io functions, the handshake at the start of a
   connection (within -T) and close_notify at its end are all that change.

   Answers: GET and HEAD with Content-Length, Content-Type (by extension, any case), Date,
   Last-Modified, ETag and Accept-Ranges; 304 when If-None-Match (or, without it,
   If-Modified-Since) says the client's copy is current; 206 for one byte range (Range, with
   If-Range), 416 when it cannot be satisfied; several ranges are answered with the whole file;
   301 to DIR/ for a directory named without its slash (then DIR/index.html); 400 for a
   malformed request, 403, 404, 405 with "Allow: GET, HEAD" for any other method, 408, 414,
   431, 505 for HTTP/2+. Request targets may be origin-form or absolute-form
   ("GET http://host/path", as proxies send). HTTP/1.1 keeps the connection unless
   "Connection: close"; HTTP/1.0 closes unless "Connection: keep-alive". A request body of up
   to 64 KiB is read and discarded (the connection stays usable); a larger or chunked one gets
   its answer and a closed connection.

   Stopping: on SIGINT/SIGTERM it stops accepting, closes idle connections, and lets requests
   in progress finish (a download in flight completes) for up to -g seconds; then whatever is
   left is cancelled. A second signal cancels at once.

   After coro_ehttpd.py, the medusa-like web server of the eGroups coroutine library.

   Build and run, from the repository root:
       cc -O2 -I. examples/httpd.c -o httpd -pthread
       ./httpd -p 8080 -d examples        # then: curl -v http://127.0.0.1:8080/fringe.c
   Options: -p PORT (0 = any free port, the default), -b ADDR (127.0.0.1), -d DIR (serve files;
   without it only the built-in page at / and /hello), -T SECONDS per request (10), -g SECONDS
   to drain at a stop (10), -l FILE access log in the common log format ("-" = stderr), -v (log
   each request on stderr), -h. Prints "listening on ADDR:PORT", and at exit
   "httpd: R requests on C connections".
       cc -O2 -I. -DHTTPD_TLS examples/httpd.c -o httpd_tls $(pkg-config --cflags --libs openssl) -pthread
       ./httpd_tls --tls cert.pem key.pem -p 8443 -d examples
                                           # then: curl --cacert cert.pem https://localhost:8443/fringe.c */
#define _FILE_OFFSET_BITS 64 /* files over 2 GiB on 32-bit systems too */
/* Keep up to this many free stacks for reuse (coro.h's default is 64): connections come and go
   by the thousand, and a stack unmapped at every dip in their number would be mapped and its
   pages faulted in again for the next connection. */
#define CORO_POOL_SIZE 1024
#define CORO_IMPLEMENTATION
#define CORO_SCHED_IMPLEMENTATION
#ifdef HTTPD_TLS
#define CORO_TLS_IMPLEMENTATION
#include "coro_tls.h"
#else
#include "coro_sched.h"
#endif

#include "http_parse.h"

#include <arpa/inet.h>
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
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#define HEAD_MAX 8192            /* bytes of request head a connection buffers */
#define HEAD_SMALL 1024          /* of which on the coroutine's stack; a longer head moves to the heap */
#define PREFIX_MAX 16384         /* bytes of each open file kept in memory */
#define SENDFILE_CHUNK (1 << 20) /* -T applies to each chunk of this size */
#define CACHE_SLOTS 256          /* open files kept (a power of two) */
#define CACHE_VALID_MS 1000      /* how long an open file answers for its path */
#define BODY_DISCARD_MAX 65536   /* request bodies up to this are read and dropped */
#define LINGER_MS 2000           /* lingering close: how long to drain what the client still sends */

struct conn {
    coro_t *co;
    int fd;
#ifdef HTTPD_TLS
    coro_tls_t *tls; /* NULL: plain TCP */
#endif
    int busy;                 /* a request is being read or answered (a graceful stop waits) */
    int nodelay;              /* TCP_NODELAY is set */
    int status;               /* of the last answer, for the log */
    char *big;                /* HEAD_MAX bytes for heads over HEAD_SMALL, or NULL */
    unsigned long long sent;  /* body bytes of the last answer, for the log */
    char peer[48];            /* the client's address, for the log */
    struct conn *prev, *next;
};

static struct {
    int lfd, stopping, verbose;
    const char *addr;
    char root[PATH_MAX]; /* realpath of -d DIR, "" if none */
    size_t root_len;
    int64_t timeout_ms, drain_ms;
    FILE *log;
    coro_t *log_co;
    struct conn *conns;
    unsigned long long requests, connections;
#ifdef HTTPD_TLS
    SSL_CTX *tls; /* --tls CERT KEY */
#endif
} srv;

static void usage(FILE *f) {
    fprintf(f, "usage: httpd [-p PORT] [-b ADDR] [-d DIR] [-T SECONDS] [-g SECONDS] [-l FILE] [-v] [-h]\n"
               "  -p PORT     port to listen on, 0 = any free port (default 0)\n"
               "  -b ADDR     address to bind (default 127.0.0.1)\n"
               "  -d DIR      serve the files under DIR (default: only the built-in page)\n"
               "  -T SECONDS  time a client has to send each request (default 10)\n"
               "  -g SECONDS  at SIGINT/SIGTERM, time to let requests in progress finish (default 10)\n"
               "  -l FILE     access log in the common log format, '-' for stderr (default none)\n"
               "  -v          log every request on stderr\n");
#ifdef HTTPD_TLS
    fprintf(f, "  --tls CERT KEY  HTTPS with this certificate chain and private key (PEM files)\n");
#endif
}

/* >>io: every byte to and from a client goes through these, so that a connection can carry
   another transport (TLS, with -DHTTPD_TLS) by changing them alone */
static ssize_t conn_read(struct conn *c, void *buf, size_t len, int64_t deadline) {
#ifdef HTTPD_TLS
    if (c->tls) return coro_tls_read(c->tls, buf, len, deadline);
#endif
    return coro_read(c->fd, buf, len, deadline);
}

static ssize_t conn_writev(struct conn *c, const struct iovec *iov, int n, int64_t deadline) {
#ifdef HTTPD_TLS
    if (c->tls) return coro_tls_writev(c->tls, iov, n, deadline);
#endif
    return coro_writev(c->fd, iov, n, deadline);
}

/* count bytes of file_fd from *off on; short only if the file ended first */
static ssize_t conn_sendfile(struct conn *c, int file_fd, off_t *off, size_t count, int64_t deadline) {
#ifdef HTTPD_TLS
    if (c->tls) return coro_tls_sendfile(c->tls, file_fd, off, count, deadline);
#endif
    return coro_sendfile(c->fd, file_fd, off, count, deadline);
}

/* the end of what this side sends: TLS's close_notify (sent if the socket takes it at once,
   without waiting for the client's), then TCP's FIN */
static void conn_shutdown_write(struct conn *c) {
#ifdef HTTPD_TLS
    if (c->tls) coro_tls_shutdown(c->tls, 0);
#endif
    shutdown(c->fd, SHUT_WR);
}

static void conn_close(struct conn *c) {
#ifdef HTTPD_TLS
    if (c->tls) {
        coro_tls_shutdown(c->tls, 0); /* (refused if the coroutine was killed mid-call) */
        coro_tls_close(c->tls);       /* closes c->fd too */
        c->tls = NULL;
        return;
    }
#endif
    coro_close(c->fd);
}

static ssize_t conn_write(struct conn *c, const void *buf, size_t len, int64_t deadline) {
    struct iovec v;
    v.iov_base = (void *)(uintptr_t)buf;
    v.iov_len = len;
    return conn_writev(c, &v, 1, deadline);
}

/* >>responses */
static const char *status_text(int status) {
    switch (status) {
    case 200: return "OK";
    case 206: return "Partial Content";
    case 301: return "Moved Permanently";
    case 304: return "Not Modified";
    case 400: return "Bad Request";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 414: return "URI Too Long";
    case 416: return "Range Not Satisfiable";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 505: return "HTTP Version Not Supported";
    default: return "Unknown";
    }
}

static void format_date(time_t t, char *buf, size_t cap) {
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, cap, "%a, %d %b %Y %H:%M:%S GMT", &tm);
}

/* The Date header, formatted at most once a second. */
static const char *http_date(void) {
    static char buf[64];
    static time_t last = (time_t)-1;
    time_t now = time(NULL);
    if (now != last) {
        format_date(now, buf, sizeof buf);
        last = now;
    }
    return buf;
}

/* Appending to a bounded buffer; over is set (and nothing more written) once it would not fit. */
struct out {
    char *p;
    size_t len, cap;
    int over;
};
static void put(struct out *o, const char *s, size_t n) {
    if (o->over || n > o->cap - o->len) {
        o->over = 1;
        return;
    }
    memcpy(o->p + o->len, s, n);
    o->len += n;
}
static void put_str(struct out *o, const char *s) { put(o, s, strlen(s)); }
static void put_num(struct out *o, unsigned long long v) {
    char t[24];
    size_t i = sizeof t;
    do t[--i] = (char)('0' + v % 10);
    while ((v /= 10) != 0);
    put(o, t + i, sizeof t - i);
}

#define NO_LENGTH ((unsigned long long)-1)
/* Format a response head into out (cap bytes); returns its length, or 0 if it does not fit.
   type NULL: no Content-Type; length NO_LENGTH: no Content-Length (both for a 304). extra:
   more header lines, each ending in CRLF. (By hand rather than snprintf: this is most of the
   user-space work of answering a request.) */
static size_t format_head(char *buf, size_t cap, int status, const char *type,
                          unsigned long long length, int keep, int http10, const char *extra) {
    struct out o;
    o.p = buf;
    o.len = 0;
    o.cap = cap;
    o.over = 0;
    put(&o, "HTTP/1.1 ", 9);
    put_num(&o, (unsigned long long)status);
    put(&o, " ", 1);
    put_str(&o, status_text(status));
    put(&o, "\r\nServer: coro-httpd\r\nDate: ", 28);
    put_str(&o, http_date());
    if (type) {
        put(&o, "\r\nContent-Type: ", 16);
        put_str(&o, type);
    }
    if (length != NO_LENGTH) {
        put(&o, "\r\nContent-Length: ", 18);
        put_num(&o, length);
    }
    put(&o, "\r\n", 2);
    if (!keep) put(&o, "Connection: close\r\n", 19);
    else if (http10) put(&o, "Connection: keep-alive\r\n", 24);
    if (extra) put_str(&o, extra);
    put(&o, "\r\n", 2);
    return o.over ? 0 : o.len;
}

/* A whole response with a small body, in one write. 0, or -1 if the write failed. */
static int send_small(struct conn *c, int status, const char *type, const char *body, int head_only,
                      int keep, int http10, const char *extra) {
    char out[2048];
    size_t blen = strlen(body), hl = format_head(out, sizeof out, status, type, blen, keep, http10, extra);
    c->status = status;
    if (!hl || hl + blen > sizeof out) return -1;
    if (!head_only) {
        memcpy(out + hl, body, blen);
        hl += blen;
        c->sent = blen;
    }
    return conn_write(c, out, hl, coro_now() + srv.timeout_ms) < 0 ? -1 : 0;
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
    c->busy = 0;
    if (srv.stopping) return;
    conn_shutdown_write(c);
    while (total < BODY_DISCARD_MAX && (n = conn_read(c, junk, sizeof junk, deadline)) > 0)
        total += (size_t)n;
}

/* >>files */
static int under_root(const char *real) {
    return strncmp(real, srv.root, srv.root_len) == 0 &&
           (real[srv.root_len] == '/' || real[srv.root_len] == 0 ||
            (srv.root_len == 1 && srv.root[0] == '/'));
}

/* The web's types, matched on the extension ignoring case. */
static const char *content_type(const char *path) {
    static const char *const map[][2] = {
        {"html", "text/html; charset=utf-8"}, {"htm", "text/html; charset=utf-8"},
        {"txt", "text/plain; charset=utf-8"}, {"c", "text/plain; charset=utf-8"},
        {"h", "text/plain; charset=utf-8"},   {"md", "text/markdown; charset=utf-8"},
        {"css", "text/css; charset=utf-8"},   {"js", "text/javascript; charset=utf-8"},
        {"mjs", "text/javascript; charset=utf-8"}, {"json", "application/json"},
        {"map", "application/json"},          {"xml", "application/xml"},
        {"wasm", "application/wasm"},         {"pdf", "application/pdf"},
        {"zip", "application/zip"},           {"gz", "application/gzip"},
        {"tar", "application/x-tar"},         {"csv", "text/csv; charset=utf-8"},
        {"png", "image/png"},                 {"jpg", "image/jpeg"},
        {"jpeg", "image/jpeg"},               {"gif", "image/gif"},
        {"webp", "image/webp"},               {"avif", "image/avif"},
        {"svg", "image/svg+xml"},             {"ico", "image/x-icon"},
        {"bmp", "image/bmp"},                 {"woff", "font/woff"},
        {"woff2", "font/woff2"},              {"ttf", "font/ttf"},
        {"otf", "font/otf"},                  {"mp4", "video/mp4"},
        {"webm", "video/webm"},               {"ogg", "audio/ogg"},
        {"mp3", "audio/mpeg"},                {"wav", "audio/wav"},
        {"m4a", "audio/mp4"},                 {"webmanifest", "application/manifest+json"},
        {"rss", "application/rss+xml"},       {"atom", "application/atom+xml"},
        {"epub", "application/epub+zip"},     {"rtf", "application/rtf"}};
    const char *dot = strrchr(path, '.');
    size_t i;
    if (dot && !strchr(dot, '/')) {
        struct http_str ext;
        ext.p = dot + 1;
        ext.len = strlen(dot + 1);
        for (i = 0; i < sizeof map / sizeof map[0]; i++)
            if (http_str_ieq(ext, map[i][0])) return map[i][1];
    }
    return "application/octet-stream";
}

/* An open file and what its responses need, shared by the requests for its path for up to
   CACHE_VALID_MS: then the next request for it resolves and opens it again. The first
   PREFIX_MAX bytes are kept in memory, so that a small file is answered with one writev and a
   large one with a writev (head + prefix) and one sendfile. A file replaced by rename is seen
   at once after that; one rewritten in place may be seen half-old for up to that time. */
struct fentry {
    char *key;        /* the decoded request path */
    unsigned hash;
    int fd, refs;     /* refs: the cache's own, plus one per response being sent */
    int refreshing;   /* a request is opening the path again: the others use this meanwhile */
    off_t size;
    int64_t checked;  /* coro_now() when it was opened */
    const char *type;
    char etag[48], lastmod[40];
    char meta[160];   /* the header lines every 200/206 for it carries */
    time_t mtime;
    char *prefix;
    size_t prefix_len;
};

static struct fentry *cache[CACHE_SLOTS];

static void fentry_put(struct fentry *f) {
    if (!f || --f->refs > 0) return;
    if (f->fd >= 0) close(f->fd);
    free(f->prefix);
    free(f->key);
    free(f);
}

static unsigned path_hash(const char *p) {
    unsigned h = 2166136261u;
    while (*p) h = (h ^ (unsigned char)*p++) * 16777619u;
    return h;
}

/* A file-resolving job, run on a worker thread: realpath, then a check that the result is still
   under the root (so neither ".." nor a symlink can leave it), open, fstat, read the prefix. */
struct open_job {
    const char *path; /* decoded, starts with '/' */
    int status;       /* 200, or the status to answer (301: a directory without its slash) */
    struct fentry *f; /* on 200 */
    /* on the loop's side: requests for a path being opened wait for that job, not make more */
    unsigned hash;
    int users, finished;
    coro_cond_t done;
    struct open_job *next;
};

static struct open_job *openings; /* the jobs in flight */

static void *open_job(void *arg) {
    struct open_job *j = (struct open_job *)arg;
    char full[PATH_MAX], real[PATH_MAX];
    struct stat st;
    struct fentry *f;
    size_t plen = strlen(j->path);
    int n = snprintf(full, sizeof full, "%s%s", srv.root, j->path), fd;
    ssize_t got;
    j->status = 404;
    j->f = NULL;
    if (n < 0 || (size_t)n >= sizeof full) {
        j->status = 414;
        return NULL;
    }
    if (!realpath(full, real)) {
        if (errno == EACCES) j->status = 403;
        return NULL;
    }
    if (!under_root(real) || stat(real, &st) != 0) return NULL;
    if (S_ISDIR(st.st_mode)) {
        if (j->path[plen - 1] != '/') {
            j->status = 301;
            return NULL;
        }
        n = snprintf(full, sizeof full, "%s/index.html", real);
        if (n < 0 || (size_t)n >= sizeof full || !realpath(full, real) || !under_root(real))
            return NULL;
    }
    fd = open(real, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
        if (errno == EACCES) j->status = 403;
        return NULL;
    }
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) ||
        !(f = (struct fentry *)calloc(1, sizeof *f))) {
        close(fd);
        return NULL;
    }
    f->fd = fd;
    f->size = st.st_size;
    f->mtime = st.st_mtime;
    f->type = content_type(real);
    snprintf(f->etag, sizeof f->etag, "\"%llx-%llx\"", (unsigned long long)st.st_mtime,
             (unsigned long long)st.st_size);
    format_date(st.st_mtime, f->lastmod, sizeof f->lastmod);
    snprintf(f->meta, sizeof f->meta, "Last-Modified: %s\r\nETag: %s\r\nAccept-Ranges: bytes\r\n",
             f->lastmod, f->etag);
    f->prefix_len = st.st_size < PREFIX_MAX ? (size_t)st.st_size : PREFIX_MAX;
    f->key = strdup(j->path);
    f->prefix = (char *)malloc(f->prefix_len ? f->prefix_len : 1);
    if (!f->key || !f->prefix) {
        f->refs = 1;
        fentry_put(f);
        j->status = 500;
        return NULL;
    }
    do got = pread(fd, f->prefix, f->prefix_len, 0);
    while (got < 0 && errno == EINTR);
    if (got < 0 || (size_t)got != f->prefix_len) { /* changed under us: the next request retries */
        f->refs = 1;
        fentry_put(f);
        j->status = 500;
        return NULL;
    }
    f->hash = path_hash(f->key);
    j->f = f;
    j->status = 200;
    return NULL;
}

static void job_put(struct open_job *j) {
    if (--j->users == 0) free(j);
}

/* The file for a decoded path, with a reference the caller puts back; or NULL and *status
   (-1: this coroutine was cancelled). path need only stay valid until the first wait: after
   waiting for another request's job, the job's copy of it is used (*held keeps that job). */
static struct fentry *file_get_held(const char *path, int *status, struct open_job **held) {
    unsigned h = path_hash(path);
    struct fentry **slot = &cache[h & (CACHE_SLOTS - 1)], *f, *old = NULL;
    struct open_job *j, **pp;
    int r;
again:
    f = *slot;
    for (j = openings; !f && j; j = j->next)
        if (j->hash == h && strcmp(j->path, path) == 0) { /* being opened: wait for that */
            j->users++;
            while (!j->finished)
                if (coro_cond_wait(&j->done, coro_now() + srv.timeout_ms) != 0) {
                    job_put(j);
                    *status = -1;
                    return NULL;
                }
            *status = j->status;
            if (*held) job_put(*held);
            *held = j; /* path may have changed while we waited: the job's copy has not */
            path = j->path;
            if (*status != 200) return NULL;
            goto again;
        }
    if (f && f->hash == h && strcmp(f->key, path) == 0) {
        if (f->refreshing || coro_now() - f->checked < CACHE_VALID_MS) {
            f->refs++;
            return f;
        }
        /* expired: this request opens it again; the ones arriving meanwhile (hundreds, on a
           busy server) are answered from the old entry instead of each making a job */
        old = f;
        old->refreshing = 1;
        old->refs++;
    }
    /* on the heap: if this coroutine is killed during the job, the job still finishes with it */
    if (!(j = (struct open_job *)malloc(sizeof *j + strlen(path) + 1))) {
        *status = 500;
        return NULL;
    }
    j->path = strcpy((char *)(j + 1), path);
    j->f = NULL;
    j->hash = h;
    j->users = 1;
    j->finished = 0;
    coro_cond_init(&j->done);
    j->next = openings;
    openings = j;
    r = coro_offload(open_job, j, NULL);
    for (pp = &openings; *pp != j; pp = &(*pp)->next)
        ;
    *pp = j->next;
    j->finished = 1;
    coro_cond_broadcast(&j->done);
    if (r != 0) {
        if (j->f) { /* raised while the job ran: it may have opened it */
            j->f->refs = 1;
            fentry_put(j->f);
        }
        j->status = 500;
        job_put(j);
        if (old) {
            old->refreshing = 0;
            fentry_put(old);
        }
        *status = -1;
        return NULL;
    }
    *status = j->status;
    f = j->f;
    job_put(j);
    if (old) {
        old->refreshing = 0;
        if (*slot == old && !f) { /* gone or changed into something else: forget it */
            *slot = NULL;
            old->refs--; /* the cache's reference; ours still holds it */
        }
        fentry_put(old);
    }
    if (!f) return NULL;
    f->checked = coro_now();
    f->refs = 2; /* the cache's and the caller's */
    fentry_put(*slot);
    *slot = f;
    return f;
}

static struct fentry *file_get(const char *path, int *status) {
    struct open_job *held = NULL;
    struct fentry *f = file_get_held(path, status, &held);
    if (held) job_put(held);
    return f;
}

static void cache_free(void) {
    size_t i;
    for (i = 0; i < CACHE_SLOTS; i++) {
        fentry_put(cache[i]);
        cache[i] = NULL;
    }
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

/* Does the request's validator say the client's copy is current (a 304)? If-None-Match wins
   over If-Modified-Since (RFC 9110 13.2.2). */
static int not_modified(const struct http_request *req, const struct fentry *f) {
    const struct http_header *h = http_header_get(req, "if-none-match");
    long long t;
    if (h) return http_etag_match(h->value, f->etag);
    h = http_header_get(req, "if-modified-since");
    return h && http_parse_date(h->value, &t) == 0 && (long long)f->mtime <= t;
}

/* Send the file (or the range of it the request asks for): the head and the bytes of the
   prefix in one writev, the rest with sendfile, a chunk at a time so that -T bounds the time
   the client may take per chunk. 0, or -1: the connection must close (a write failed, or the
   file shrank so that Content-Length cannot be kept). */
static int send_file(struct conn *c, const struct http_request *req, struct fentry *f,
                     int head_only, int keep, int http10) {
    char head[768], extra[256];
    unsigned long long first = 0, last = 0, size = (unsigned long long)f->size, len = size;
    const struct http_header *range = http_header_get(req, "range");
    int status = 200, n;
    size_t hl;
    struct iovec iov[2];
    off_t off;

    if (not_modified(req, f)) {
        n = snprintf(extra, sizeof extra, "ETag: %s\r\nLast-Modified: %s\r\n", f->etag, f->lastmod);
        /* no Content-Length: a 304's would describe the 200's body */
        if (n < 0 || (size_t)n >= sizeof extra ||
            !(hl = format_head(head, sizeof head, 304, NULL, NO_LENGTH, keep, http10, extra)))
            return -1;
        c->status = 304;
        return conn_write(c, head, hl, coro_now() + srv.timeout_ms) < 0 ? -1 : 0;
    }
    if (range) {
        const struct http_header *ifr = http_header_get(req, "if-range");
        int r = ifr && !http_str_ieq(ifr->value, f->etag) && !http_str_ieq(ifr->value, f->lastmod)
                    ? 0 : http_parse_range(range->value, size, &first, &last);
        if (r < 0) {
            n = snprintf(extra, sizeof extra, "Content-Range: bytes */%llu\r\n", size);
            if (n < 0 || (size_t)n >= sizeof extra) return -1;
            c->status = 416;
            return send_small(c, 416, "text/plain", "416 Range Not Satisfiable\n", head_only, keep,
                              http10, extra);
        }
        if (r > 0) {
            status = 206;
            len = last - first + 1;
        }
    }
    n = status == 206 ? snprintf(extra, sizeof extra, "%sContent-Range: bytes %llu-%llu/%llu\r\n",
                                 f->meta, first, last, size)
                      : 0;
    if (n < 0 || (size_t)n >= sizeof extra ||
        !(hl = format_head(head, sizeof head, status, f->type, len, keep, http10,
                           status == 206 ? extra : f->meta)))
        return -1;
    c->status = status;
    iov[0].iov_base = head;
    iov[0].iov_len = hl;
    iov[1].iov_base = f->prefix + (first < f->prefix_len ? (size_t)first : 0);
    iov[1].iov_len = head_only || first >= f->prefix_len ? 0
                     : (size_t)(len < f->prefix_len - first ? len : f->prefix_len - first);
    if (conn_writev(c, iov, 2, coro_now() + srv.timeout_ms) < 0) return -1;
    if (head_only) return 0;
    c->sent = iov[1].iov_len;
    off = (off_t)(first + iov[1].iov_len);
    while (c->sent < len) {
        size_t want = len - c->sent < SENDFILE_CHUNK ? (size_t)(len - c->sent) : SENDFILE_CHUNK;
        ssize_t got = conn_sendfile(c, f->fd, &off, want, coro_now() + srv.timeout_ms);
        if (got <= 0) return -1;
        c->sent += (unsigned long long)got;
        if ((size_t)got < want) return -1; /* the file shrank */
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
    static char path[PATH_MAX]; /* used only before the first wait: one for all connections */
    struct fentry *f;

    if (!get && !head_only) return send_error(c, 405, 0, keep, http10) < 0 ? -1 : keep;
    if (req->path.p[0] != '/') return send_error(c, 400, head_only, 0, http10) < 0 ? -1 : 0; /* "*" */
    if ((status = decode_path(req->path, path, sizeof path)) != 0)
        return send_error(c, status, head_only, 0, http10) < 0 ? -1 : 0;
    if (strcmp(path, "/hello") == 0 || (!srv.root[0] && strcmp(path, "/") == 0))
        return send_small(c, 200, "text/html; charset=utf-8", hello_page, head_only, keep, http10,
                          NULL) < 0 ? -1 : keep;
    if (!srv.root[0]) return send_error(c, 404, head_only, keep, http10) < 0 ? -1 : keep;

    if (!(f = file_get(path, &status))) {
        static char loc[PATH_MAX + 64]; /* (used only before the first wait, as path) */
        int n;
        if (status < 0) return -1;
        if (status != 301) return send_error(c, status, head_only, keep, http10) < 0 ? -1 : keep;
        /* a directory named without its slash: relative links in its index need the slash */
        n = snprintf(loc, sizeof loc, "Location: %.*s/%s%.*s\r\n", (int)req->path.len, req->path.p,
                     req->query.p ? "?" : "", req->query.p ? (int)req->query.len : 0,
                     req->query.p ? req->query.p : "");
        if (n < 0 || (size_t)n >= sizeof loc) return send_error(c, 414, head_only, 0, http10) < 0 ? -1 : 0;
        return send_small(c, 301, "text/plain", "301 Moved Permanently\n", head_only, keep, http10,
                          loc) < 0 ? -1 : keep;
    }
    status = send_file(c, req, f, head_only, keep, http10);
    fentry_put(f);
    return status < 0 ? -1 : keep;
}

/* Read and drop a request body of n bytes, of which have - head bytes are already buffered in
   buf (cap bytes); returns the bytes of the buffer that follow the body, or -1. */
static ssize_t discard_body(struct conn *c, char *buf, size_t cap, size_t have, size_t head,
                            unsigned long long n, int64_t deadline) {
    size_t in_buf = have - head;
    if (n <= in_buf) {
        memmove(buf, buf + head + n, in_buf - (size_t)n);
        return (ssize_t)(in_buf - (size_t)n);
    }
    n -= in_buf;
    while (n > 0) {
        ssize_t r = conn_read(c, buf, n < cap ? (size_t)n : cap, deadline);
        if (r <= 0) return -1;
        n -= (unsigned long long)r;
    }
    return 0;
}

/* >>log: the common log format, buffered, flushed once a second and at exit */
static void access_log(const struct conn *c, const struct http_request *req, int ok) {
    char when[40];
    struct tm tm;
    time_t now;
    if (!srv.log) return;
    now = time(NULL);
    localtime_r(&now, &tm);
    strftime(when, sizeof when, "%d/%b/%Y:%H:%M:%S %z", &tm);
    if (ok) /* the request line as sent, which the parser has checked holds no control bytes */
        fprintf(srv.log, "%s - - [%s] \"%.*s %.*s HTTP/%d.%d\" %d %llu\n", c->peer, when,
                (int)req->method.len, req->method.p, (int)req->target.len, req->target.p,
                req->major, req->minor, c->status, c->sent);
    else
        fprintf(srv.log, "%s - - [%s] \"-\" %d %llu\n", c->peer, when, c->status, c->sent);
}

static void *log_flusher(void *arg) {
    (void)arg;
    while (coro_sleep(1000) == 0) fflush(srv.log);
    fflush(srv.log);
    return NULL;
}

static void conn_cleanup(void *arg) {
    struct conn *c = (struct conn *)arg;
    if (c->prev) c->prev->next = c->next;
    else srv.conns = c->next;
    if (c->next) c->next->prev = c->prev;
    conn_close(c);
    free(c->big);
}

/* The requests of one connection, until it is to be closed. The head is read into a small
   buffer on the stack, moved to HEAD_MAX bytes on the heap only for a longer one: what a
   connection touches of its stack (each page of it a page fault the first time, microseconds
   on a virtual machine) stays within a few pages. */
static void serve(struct conn *c) {
    char small[HEAD_SMALL], *buf = small;
    size_t have = 0, cap = sizeof small;
    for (;;) {
        struct http_request req;
        int64_t deadline = coro_now() + srv.timeout_ms; /* for the whole head */
        int r = have ? http_parse_request(buf, have, &req) : HTTP_INCOMPLETE, keep;
        ssize_t rest;
        c->busy = have > 0;
        while (r == HTTP_INCOMPLETE) {
            ssize_t n;
            if (have == cap && cap < HEAD_MAX) {
                if (!c->big && !(c->big = (char *)malloc(HEAD_MAX))) return;
                buf = (char *)memcpy(c->big, small, have);
                cap = HEAD_MAX;
            }
            if (have == cap) {
                req.status = 431;
                req.reason = "request head over 8 KiB";
                r = HTTP_ERROR;
                break;
            }
            n = conn_read(c, buf + have, cap - have, deadline);
            if (n == 0) return; /* the client closed (maybe mid-request: nobody to answer) */
            if (n < 0) {
                if (errno == ETIMEDOUT && have > 0) {
                    c->sent = 0;
                    if (send_error(c, 408, 0, 0, 0) == 0) {
                        access_log(c, &req, 0);
                        linger_close(c);
                    }
                }
                return; /* timed out idle, raised at shutdown, or a failed connection */
            }
            c->busy = 1; /* a request has begun: a graceful stop lets it finish */
            /* only a new line can complete a line: skip parsing until one arrives */
            if (memchr(buf + have, '\n', (size_t)n)) r = http_parse_request(buf, have + (size_t)n, &req);
            have += (size_t)n;
        }
        srv.requests++;
        c->sent = 0;
        c->status = 0;
        if (r == HTTP_ERROR) {
            if (srv.verbose) fprintf(stderr, "httpd: fd %d: %d %s\n", c->fd, req.status, req.reason);
            if (send_error(c, req.status, 0, 0, 0) == 0) {
                access_log(c, &req, 0);
                linger_close(c);
            }
            return;
        }
        keep = respond(c, &req);
        access_log(c, &req, 1);
        if (srv.verbose)
            fprintf(stderr, "httpd: fd %d: %.*s %.*s -> %d, %s\n", c->fd, (int)req.method.len,
                    req.method.p, (int)req.target.len, req.target.p, c->status,
                    keep > 0 ? "keep-alive" : keep == 0 ? "close" : "failed");
        if (keep < 0) return;
        if (keep == 0 || srv.stopping) {
            /* only when the client may still be sending: a body, or requests after this one
               (as nginx does; closing with nothing unread needs no lingering) */
            if (req.chunked || req.content_length > 0 || have > (size_t)r) linger_close(c);
            return;
        }
        if (!c->nodelay) {
            /* Kept: from now on a response's last small segment must not wait for the ACK of
               the one before (Nagle). Set here rather than at accept, as nginx does: a
               connection that ends after one answer never needs it, its close pushes. */
            int one = 1;
            setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
            c->nodelay = 1;
        }
        rest = discard_body(c, buf, cap, have, (size_t)r, req.content_length, deadline);
        if (rest < 0) return;
        have = (size_t)rest;
    }
}

static void *http_conn(void *arg) {
    struct conn self;
    struct sockaddr_storage sa;
    socklen_t salen = sizeof sa;
    memset(&self, 0, sizeof self);
    self.fd = (int)(intptr_t)arg;
    if (srv.stopping) {
        coro_close(self.fd);
        return NULL;
    }
    self.co = coro_current();
    self.next = srv.conns;
    if (srv.conns) srv.conns->prev = &self;
    srv.conns = &self;
    if (coro_defer(conn_cleanup, &self) != 0) {
        conn_cleanup(&self);
        return NULL;
    }
    srv.connections++;
    strcpy(self.peer, "-");
    if (srv.log && getpeername(self.fd, (struct sockaddr *)&sa, &salen) == 0) {
        if (sa.ss_family == AF_INET)
            inet_ntop(AF_INET, &((struct sockaddr_in *)(void *)&sa)->sin_addr, self.peer, sizeof self.peer);
        else if (sa.ss_family == AF_INET6)
            inet_ntop(AF_INET6, &((struct sockaddr_in6 *)(void *)&sa)->sin6_addr, self.peer, sizeof self.peer);
    }
#ifdef HTTPD_TLS
    if (srv.tls && !(self.tls = coro_tls_accept(self.fd, srv.tls, coro_now() + srv.timeout_ms))) {
        if (srv.verbose) fprintf(stderr, "httpd: fd %d: %s\n", self.fd, coro_tls_error(NULL));
        coro_defer_pop(1);
        return NULL;
    }
#endif
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

/* Waits for SIGINT/SIGTERM, then drains: no new connections; idle ones close now; those in the
   middle of a request finish it (and then close) for up to -g seconds, after which their
   blocking call fails with ECANCELED and they close too. coro_run returns when the last one
   has gone. A second signal ends the drain at once. */
static void *signals(void *arg) {
    sigset_t set;
    struct conn *c, *next;
    int sig;
    int64_t end;
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
        if (!c->busy) coro_raise(c->co, ECANCELED);
    }
    end = coro_now() + srv.drain_ms;
    while (srv.conns && coro_now() < end) { /* a look every 50 ms: no hook in every cleanup */
        int64_t until = coro_now() + 50;
        if (coro_signal_wait(&set, until < end ? until : end) > 0) {
            fprintf(stderr, "httpd: second signal, not waiting for responses in flight\n");
            break;
        }
    }
    for (c = srv.conns; c; c = next) {
        next = c->next;
        coro_raise(c->co, ECANCELED);
    }
    if (srv.log_co) coro_raise(srv.log_co, ECANCELED);
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

static int seconds_arg(int opt, const char *arg, int64_t *ms) {
    char *end;
    long v;
    errno = 0;
    v = strtol(arg, &end, 10);
    if (errno || end == arg || *end || v < 1 || v > 86400) {
        fprintf(stderr, "httpd: -%c: '%s' is not a number of seconds (1..86400)\n", opt, arg);
        return -1;
    }
    *ms = (int64_t)v * 1000;
    return 0;
}

int main(int argc, char **argv) {
    const char *dir = NULL, *log = NULL;
    int opt, port = 0;
    srv.addr = "127.0.0.1";
    srv.timeout_ms = 10000;
    srv.drain_ms = 10000;
#ifdef HTTPD_TLS
    { /* --tls CERT KEY, taken out of argv before getopt sees the rest */
        int i, j;
        for (i = 1; i < argc && strcmp(argv[i], "--") != 0; i++) {
            if (strcmp(argv[i], "--tls") != 0) continue;
            if (i + 2 >= argc) {
                fprintf(stderr, "httpd: --tls needs a certificate file and a key file\n");
                return 2;
            }
            if (srv.tls) SSL_CTX_free(srv.tls);
            if (!(srv.tls = coro_tls_server_ctx(argv[i + 1], argv[i + 2])) ||
                coro_tls_ctx_alpn(srv.tls, "http/1.1") != 0) {
                fprintf(stderr, "httpd: --tls: %s\n", coro_tls_error(NULL));
                return 2;
            }
            for (j = i; j + 3 <= argc; j++) argv[j] = argv[j + 3]; /* with the final NULL */
            argc -= 3;
            i--;
        }
    }
#endif
    while ((opt = getopt(argc, argv, "p:b:d:T:g:l:vh")) != -1) {
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
            if (seconds_arg('T', optarg, &srv.timeout_ms) != 0) return 2;
            break;
        case 'g':
            if (seconds_arg('g', optarg, &srv.drain_ms) != 0) return 2;
            break;
        case 'l': log = optarg; break;
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
    if (log) {
        srv.log = strcmp(log, "-") == 0 ? stderr : fopen(log, "a");
        if (!srv.log) {
            fprintf(stderr, "httpd: -l: '%s': %s\n", log, strerror(errno));
            return 2;
        }
        setvbuf(srv.log, NULL, _IOFBF, 65536);
    }
    if ((srv.lfd = coro_tcp_listen(srv.addr, port, 1024)) < 0) {
        fprintf(stderr, "httpd: listen on %s:%d: %s\n", srv.addr, port, strerror(errno));
        return 1;
    }
    {
        coro_t *s = coro_spawn(signals, NULL, 0), *a = coro_spawn(acceptor, NULL, 0),
               *n = coro_spawn(announce, NULL, 0);
        if (!s || !a || !n || (srv.log && !(srv.log_co = coro_spawn(log_flusher, NULL, 0)))) {
            fprintf(stderr, "httpd: cannot start: %s\n", strerror(errno));
            return 1;
        }
        coro_set_name(s, "signals");
        coro_set_name(a, "acceptor");
        coro_set_name(n, "announce");
    }
    if (coro_run() != 0) fprintf(stderr, "httpd: coro_run: %s\n", strerror(errno));
    coro_sched_free();
    cache_free();
#ifdef HTTPD_TLS
    SSL_CTX_free(srv.tls);
#endif
    if (srv.log) {
        fflush(srv.log);
        if (srv.log != stderr) fclose(srv.log);
    }
    printf("httpd: %llu requests on %llu connections\n", srv.requests, srv.connections);
    return 0;
}
