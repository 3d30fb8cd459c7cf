/* fetch.c - fetch many http:// URLs at once with a pool of worker coroutines.

   What it shows: the client side of the eGroups case. A producer coroutine feeds URLs into a
   channel; -c workers pull from it, each one a plain loop (connect, send a GET, read the head,
   read the body by Content-Length, by chunks or until close), with one deadline per request
   covering all of it. A name that is not a numeric address is resolved by coro_tcp_connect on
   a worker thread, so a slow DNS server never stalls the loop (the seed's corodns). A worker
   keeps its connection when the next URL has the same host and port and the server agreed to
   keep it (HTTP/1.1 keep-alive), and retries once on a fresh connection if a kept one turns out
   to have been closed by the server meanwhile.
   An interim response (100 Continue, 103 Early Hints, any 1xx but 101) is skipped: the final
   one that follows is the answer. Status and header lines may be up to 32 KiB long
   (RESPONSE_LINE_MAX); a longer one fails the request with "response line too long".
   It reports one line per URL (status, bytes of body, milliseconds) and a summary line
       requests N errors E rps R peak_coroutines P rss_kb K
   where an error is a request that got no complete response or a status of 400 or more, peak
   coroutines is the highest coro_count() seen, and rss_kb the peak resident set (VmHWM).
   SIGINT or SIGTERM stops it: in-flight requests are cancelled (not counted), the summary is
   printed, and it exits 0.

   After corourl.py (fetch an HTTP URL with a coroutine) and crawler.py (a pool of worker
   threads, asynchronous DNS) of the eGroups coroutine library.

   Build and run, from the repository root:
       cc -O2 -I. examples/fetch.c -o fetch -pthread
       ./fetch http://127.0.0.1:8080/ http://localhost:8080/hello
       ./fetch -q -c 200 -n 5000 http://127.0.0.1:8080/      # 5000 requests, 200 at a time
       printf 'http://127.0.0.1:8080/\n' | ./fetch              # URLs from stdin
   Options: -c WORKERS (10), -T MS per request (10000), -n REPEAT the URL list (1), -q (summary
   only), -h. Only http:// (no TLS). Exit status 0 if every request succeeded, 1 if any failed,
   2 for bad usage. */
#define CORO_IMPLEMENTATION
#define CORO_SCHED_IMPLEMENTATION
#include "coro_sched.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

struct url {
    char *text; /* as given */
    char host[256];
    int port;
    const char *path; /* into text, or "/" */
};

static struct {
    struct url *urls;
    size_t nurls, cap;
    long workers, repeat;
    int64_t timeout_ms;
    int quiet, stopping;
    coro_chan_t *jobs;   /* of size_t: an index into urls */
    coro_t *signals;     /* the coroutine in coro_signal_wait; raised when all work is done */
    coro_t **pool;
    long alive;
    unsigned long long requests, errors, bytes, cancelled;
    size_t peak;
} g;

static void usage(FILE *f) {
    fprintf(f, "usage: fetch [-c WORKERS] [-T MS] [-n REPEAT] [-q] [-h] [URL...]\n"
               "  URLs are http://host[:port][/path]; without URL arguments they are read from stdin,\n"
               "  one per line. -c workers fetching at once (default 10), -T deadline of each\n"
               "  request in milliseconds (default 10000), -n fetch the list this many times\n"
               "  (default 1), -q print only the summary.\n");
}

/* >>urls */
static int parse_url(const char *text, struct url *u, const char **why) {
    const char *p = text, *h, *he;
    size_t hl;
    memset(u, 0, sizeof u[0]);
    if (strncasecmp(p, "https://", 8) == 0) return *why = "https is not supported (no TLS)", -1;
    if (strncasecmp(p, "http://", 7) != 0) return *why = "not an http:// URL", -1;
    p += 7;
    if (*p == '[') { /* an IPv6 literal */
        h = p + 1;
        if (!(he = strchr(h, ']'))) return *why = "unterminated [IPv6 address]", -1;
        p = he + 1;
    } else {
        h = p;
        while (*p && *p != ':' && *p != '/' && *p != '?' && *p != '#') p++;
        he = p;
    }
    hl = (size_t)(he - h);
    if (hl == 0 || hl >= sizeof u->host) return *why = "bad host", -1;
    memcpy(u->host, h, hl);
    u->host[hl] = 0;
    u->port = 80;
    if (*p == ':') {
        long port = 0;
        p++;
        if (!isdigit((unsigned char)*p)) return *why = "bad port", -1;
        while (isdigit((unsigned char)*p) && port <= 65535) port = port * 10 + (*p++ - '0');
        if (port < 1 || port > 65535) return *why = "bad port", -1;
        u->port = (int)port;
    }
    if (*p && *p != '/') return *why = "bad URL after the host", -1;
    if (!(u->text = strdup(text))) return *why = "out of memory", -1;
    u->path = *p ? u->text + (p - text) : "/";
    {   /* no fragment, no spaces or control characters in the request line */
        char *hash = strchr(u->text + (p - text), '#'), *c;
        if (*p && hash) *hash = 0;
        for (c = u->text; *c; c++)
            if ((unsigned char)*c <= ' ' || *c == 0x7f) {
                free(u->text);
                u->text = NULL;
                return *why = "space or control character in URL", -1;
            }
    }
    return 0;
}

static int add_url(const char *text) {
    const char *why = "";
    struct url u;
    if (parse_url(text, &u, &why) != 0) {
        fprintf(stderr, "fetch: %s: %s\n", text, why);
        return -1;
    }
    if (g.nurls == g.cap) {
        size_t cap = g.cap ? g.cap * 2 : 16;
        struct url *n = (struct url *)realloc(g.urls, cap * sizeof *n);
        if (!n) {
            free(u.text);
            fprintf(stderr, "fetch: out of memory\n");
            return -1;
        }
        g.urls = n;
        g.cap = cap;
    }
    g.urls[g.nurls++] = u;
    return 0;
}

/* The longest status or header line accepted (without its CRLF). Real servers send long
   Set-Cookie and Content-Security-Policy lines; nginx and Apache accept 8 KiB per request line,
   curl 100 KiB per response header. */
#define RESPONSE_LINE_MAX 32768

/* >>reader: a small buffered reader over a socket, one per worker (it outlives requests on a
   kept connection) */
struct reader {
    int fd;
    size_t pos, len;
    char buf[4096];
};

static ssize_t rd_fill(struct reader *r, int64_t deadline) {
    ssize_t n;
    if (r->pos == r->len) r->pos = r->len = 0;
    if (r->len == sizeof r->buf) return -1;
    n = coro_read(r->fd, r->buf + r->len, sizeof r->buf - r->len, deadline);
    if (n > 0) r->len += (size_t)n;
    return n;
}

/* One line without its CR LF into line (cap bytes, so at most cap - 1 of them). 0, or -1 with
   *why. */
static int rd_line(struct reader *r, char *line, size_t cap, int64_t deadline, const char **why) {
    size_t used = 0;
    for (;;) {
        char *nl = (char *)memchr(r->buf + r->pos, '\n', r->len - r->pos);
        size_t take = nl ? (size_t)(nl - (r->buf + r->pos)) : r->len - r->pos;
        ssize_t n;
        if (used + take >= cap) return *why = "response line too long", -1;
        memcpy(line + used, r->buf + r->pos, take);
        used += take;
        r->pos += take;
        if (nl) {
            r->pos++;
            if (used > 0 && line[used - 1] == '\r') used--;
            line[used] = 0;
            return 0;
        }
        if ((n = rd_fill(r, deadline)) <= 0) return *why = n == 0 ? "connection closed" : strerror(errno), -1;
    }
}

/* Read and count n bytes of body (n < 0: until end of file). Returns the count, or -1. */
static long long rd_skip(struct reader *r, long long n, int64_t deadline, const char **why) {
    long long got = 0;
    for (;;) {
        size_t avail = r->len - r->pos, take = avail;
        ssize_t k;
        if (n >= 0 && (long long)take > n - got) take = (size_t)(n - got);
        r->pos += take;
        got += (long long)take;
        if (n >= 0 && got == n) return got;
        if ((k = rd_fill(r, deadline)) < 0) return *why = strerror(errno), -1;
        if (k == 0) {
            if (n < 0) return got;
            return *why = "connection closed in the body", -1;
        }
    }
}

/* >>http */
struct result {
    int status;
    long long bytes;
    int keep;           /* the connection may be used again */
    int got_any;        /* some byte of a response arrived (a retry would not be safe to hide) */
    const char *why;    /* on failure */
};

static long long chunked_body(struct reader *r, int64_t deadline, const char **why) {
    char line[512];
    long long total = 0;
    for (;;) {
        char *end;
        unsigned long long size;
        long long got;
        if (rd_line(r, line, sizeof line, deadline, why) != 0) return -1;
        errno = 0;
        size = strtoull(line, &end, 16);
        if (end == line || errno || (*end && *end != ';' && *end != ' ') || size > (1ull << 40))
            return *why = "bad chunk size", -1;
        if (size == 0) break;
        if ((got = rd_skip(r, (long long)size, deadline, why)) < 0) return -1;
        total += got;
        if (rd_line(r, line, sizeof line, deadline, why) != 0) return -1;
        if (line[0]) return *why = "no CRLF after a chunk", -1;
    }
    do /* trailer fields, up to the empty line */
        if (rd_line(r, line, sizeof line, deadline, why) != 0) return -1;
    while (line[0]);
    return total;
}

static int request(struct reader *r, const struct url *u, int64_t deadline, struct result *res) {
    char req[2048], line[RESPONSE_LINE_MAX + 1], port[8] = "";
    int n, http10, conn_close = 0, conn_keep = 0, chunked = 0, interim = 0, v6 = strchr(u->host, ':') != NULL;
    long long length = -1;
    if (u->port != 80) snprintf(port, sizeof port, ":%d", u->port);
    n = snprintf(req, sizeof req,
                 "GET %s HTTP/1.1\r\nHost: %s%s%s%s\r\nUser-Agent: coro-fetch/0.1\r\n"
                 "Accept: */*\r\n\r\n",
                 u->path, v6 ? "[" : "", u->host, v6 ? "]" : "", port);
    if (n < 0 || (size_t)n >= sizeof req) return res->why = "URL too long", -1;
    if (coro_write(r->fd, req, (size_t)n, deadline) < 0) return res->why = strerror(errno), -1;
next_response: /* after an interim (1xx) response, the final one follows */
    if (rd_line(r, line, sizeof line, deadline, &res->why) != 0) return -1;
    res->got_any = 1;
    if (strncmp(line, "HTTP/1.", 7) != 0 || !isdigit((unsigned char)line[7]) || line[8] != ' ' ||
        !isdigit((unsigned char)line[9]) || !isdigit((unsigned char)line[10]) ||
        !isdigit((unsigned char)line[11]) || (line[12] && line[12] != ' '))
        return res->why = "not an HTTP/1.x response", -1;
    http10 = line[7] == '0';
    res->status = atoi(line + 9);
    if (res->status == 101) return res->why = "101 Switching Protocols, which was not asked for", -1;
    for (;;) { /* header fields */
        char *colon, *v;
        if (rd_line(r, line, sizeof line, deadline, &res->why) != 0) return -1;
        if (!line[0]) break;
        if (!(colon = strchr(line, ':'))) return res->why = "bad header line", -1;
        *colon = 0;
        for (v = colon + 1; *v == ' ' || *v == '\t'; v++)
            ;
        if (strcasecmp(line, "content-length") == 0) {
            char *end;
            errno = 0;
            length = strtoll(v, &end, 10);
            if (errno || end == v || length < 0) return res->why = "bad Content-Length", -1;
        } else if (strcasecmp(line, "transfer-encoding") == 0) {
            chunked = 1;
        } else if (strcasecmp(line, "connection") == 0) {
            if (strstr(v, "close") || strstr(v, "Close")) conn_close = 1;
            if (strstr(v, "keep-alive") || strstr(v, "Keep-Alive")) conn_keep = 1;
        }
    }
    if (res->status < 200) { /* 100 Continue, 103 Early Hints, ...: no body, not the answer */
        if (++interim > 100) return res->why = "more than 100 interim responses", -1;
        conn_close = conn_keep = chunked = 0;
        length = -1;
        goto next_response;
    }
    res->keep = !conn_close && (!http10 || conn_keep);
    if (res->status == 204 || res->status == 304) {
        res->bytes = 0; /* no body */
    } else if (chunked) {
        if ((res->bytes = chunked_body(r, deadline, &res->why)) < 0) return -1;
    } else if (length >= 0) {
        if ((res->bytes = rd_skip(r, length, deadline, &res->why)) < 0) return -1;
    } else {
        res->keep = 0;
        if ((res->bytes = rd_skip(r, -1, deadline, &res->why)) < 0) return -1;
    }
    if (r->pos != r->len) res->keep = 0; /* bytes nobody asked for: do not trust the connection */
    return 0;
}

/* >>workers */
struct conn_state {
    struct reader rd; /* rd.fd = -1: no connection */
    const struct url *peer;
};

static void drop_connection(struct conn_state *c) {
    if (c->rd.fd >= 0) coro_close(c->rd.fd);
    c->rd.fd = -1;
    c->rd.pos = c->rd.len = 0;
    c->peer = NULL;
}

static int same_peer(const struct url *a, const struct url *b) {
    return a && b && a->port == b->port && strcmp(a->host, b->host) == 0;
}

static int fetch_one(struct conn_state *c, const struct url *u, int64_t deadline, struct result *res) {
    int attempt;
    for (attempt = 0; attempt < 2; attempt++) {
        int reused = c->rd.fd >= 0 && same_peer(c->peer, u);
        memset(res, 0, sizeof *res);
        if (!reused) {
            drop_connection(c);
            if ((c->rd.fd = coro_tcp_connect(u->host, u->port, deadline)) < 0) {
                res->why = errno == EHOSTUNREACH ? "cannot resolve host" : strerror(errno);
                return -1;
            }
            c->peer = u;
        }
        if (request(&c->rd, u, deadline, res) == 0) {
            if (!res->keep) drop_connection(c);
            return 0;
        }
        drop_connection(c);
        /* a kept connection the server closed in the meantime: one more try on a new one */
        if (!reused || res->got_any || g.stopping || coro_now() >= deadline) return -1;
    }
    return -1;
}

static void note_peak(void) {
    size_t n = coro_count();
    if (n > g.peak) g.peak = n;
}

static void *worker(void *arg) {
    long self = (long)(intptr_t)arg;
    struct conn_state c;
    size_t idx;
    c.rd.fd = -1;
    c.rd.pos = c.rd.len = 0;
    c.peer = NULL;
    while (!g.stopping && coro_chan_recv(g.jobs, &idx, -1) == 0) {
        const struct url *u = &g.urls[idx];
        int64_t t0 = coro_now();
        struct result res;
        int ok;
        note_peak();
        ok = fetch_one(&c, u, t0 + g.timeout_ms, &res) == 0;
        if (g.stopping && !ok) {
            g.cancelled++;
            break;
        }
        g.requests++;
        if (ok) g.bytes += (unsigned long long)res.bytes;
        if (!ok || res.status >= 400) g.errors++;
        if (g.quiet) continue;
        if (ok)
            printf("%d bytes=%lld ms=%lld %s\n", res.status, res.bytes, (long long)(coro_now() - t0),
                   u->text);
        else
            printf("ERR ms=%lld %s (%s)\n", (long long)(coro_now() - t0), u->text, res.why);
    }
    drop_connection(&c);
    g.pool[self] = NULL; /* for signals(): this coroutine is about to be freed */
    if (--g.alive == 0 && g.signals) coro_raise(g.signals, ECANCELED); /* all done */
    return NULL;
}

static void *producer(void *arg) {
    long rep;
    size_t i;
    (void)arg;
    for (rep = 0; rep < g.repeat && !g.stopping; rep++)
        for (i = 0; i < g.nurls && !g.stopping; i++)
            if (coro_chan_send(g.jobs, &i, -1) != 0) goto out; /* closed by a signal */
out:
    coro_chan_close(g.jobs); /* workers drain what is queued, then their recv fails */
    return NULL;
}

/* Ends when a signal comes (then stops the others) or when the last worker raises ECANCELED. */
static void *signals(void *arg) {
    sigset_t set;
    long i;
    (void)arg;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    if (coro_signal_wait(&set, -1) < 0) { /* ECANCELED: the work is done */
        g.signals = NULL;
        return NULL;
    }
    g.signals = NULL;
    fprintf(stderr, "fetch: interrupted, cancelling %ld workers\n", g.alive);
    g.stopping = 1;
    coro_chan_close(g.jobs);
    for (i = 0; i < g.workers; i++) /* a busy one's request fails; an idle one's recv fails */
        if (g.pool[i]) coro_raise(g.pool[i], ECANCELED);
    return NULL;
}

static double seconds_now(void) { /* finer than coro_now()'s milliseconds, for the rate */
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static long peak_rss_kb(void) {
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kb = -1, rss = -1;
    if (!f) return -1;
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "VmHWM:", 6) == 0) kb = strtol(line + 6, NULL, 10);
        if (strncmp(line, "VmRSS:", 6) == 0) rss = strtol(line + 6, NULL, 10);
    }
    fclose(f);
    return kb >= 0 ? kb : rss;
}

static int parse_long(const char *opt, const char *s, long lo, long hi, long *out) {
    char *end;
    long v;
    errno = 0;
    v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi) {
        fprintf(stderr, "fetch: %s: '%s' is not a number in %ld..%ld\n", opt, s, lo, hi);
        return -1;
    }
    *out = v;
    return 0;
}

int main(int argc, char **argv) {
    int opt, i, bad = 0;
    long v;
    double t0, elapsed;
    size_t k;
    g.workers = 10;
    g.repeat = 1;
    g.timeout_ms = 10000;
    while ((opt = getopt(argc, argv, "c:T:n:qh")) != -1) {
        switch (opt) {
        case 'c':
            if (parse_long("-c", optarg, 1, 100000, &g.workers) != 0) return 2;
            break;
        case 'T':
            if (parse_long("-T", optarg, 1, 86400000, &v) != 0) return 2;
            g.timeout_ms = v;
            break;
        case 'n':
            if (parse_long("-n", optarg, 1, 100000000, &g.repeat) != 0) return 2;
            break;
        case 'q': g.quiet = 1; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    for (i = optind; i < argc; i++) bad |= add_url(argv[i]) != 0;
    if (optind == argc) { /* URLs from stdin, read before the loop starts */
        char line[4096];
        while (fgets(line, sizeof line, stdin)) {
            size_t n = strlen(line);
            char *s = line;
            while (n && (line[n - 1] == '\n' || line[n - 1] == '\r' || line[n - 1] == ' ')) line[--n] = 0;
            while (*s == ' ' || *s == '\t') s++;
            if (*s && *s != '#') bad |= add_url(s) != 0;
        }
    }
    if (bad) return 2;
    if (!g.nurls) {
        fprintf(stderr, "fetch: no URLs\n");
        usage(stderr);
        return 2;
    }
    if (!(g.jobs = coro_chan_new(sizeof(size_t), (size_t)g.workers)) ||
        !(g.pool = (coro_t **)calloc((size_t)g.workers, sizeof *g.pool))) {
        fprintf(stderr, "fetch: out of memory\n");
        return 1;
    }
    g.signals = coro_spawn(signals, NULL, 0);
    coro_set_name(g.signals, "signals");
    coro_set_name(coro_spawn(producer, NULL, 0), "producer");
    for (v = 0; v < g.workers; v++) {
        if (!(g.pool[v] = coro_spawn(worker, (void *)(intptr_t)v, 0))) {
            fprintf(stderr, "fetch: cannot start worker %ld: %s\n", v, strerror(errno));
            break;
        }
        coro_set_name(g.pool[v], "worker");
        g.alive++;
    }
    g.workers = g.alive;
    if (!g.signals || !g.alive) return 1;
    t0 = seconds_now();
    if (coro_run() != 0) fprintf(stderr, "fetch: coro_run: %s\n", strerror(errno));
    elapsed = seconds_now() - t0;
    coro_sched_free();
    fflush(stdout);
    printf("requests %llu errors %llu rps %.0f peak_coroutines %zu rss_kb %ld\n", g.requests,
           g.errors, elapsed > 0 ? (double)g.requests / elapsed : 0.0,
           g.peak, peak_rss_kb());
    coro_chan_free(g.jobs);
    free(g.pool);
    for (k = 0; k < g.nurls; k++) free(g.urls[k].text);
    free(g.urls);
    return g.errors ? 1 : 0;
}
