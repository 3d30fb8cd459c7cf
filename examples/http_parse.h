/* http_parse.h - parse the head of an HTTP/1.x request: no allocation, no copying, and never a
   read outside buf[0, len). Used by examples/httpd.c and fuzzed by fuzz/fuzz_http.c.

   What it shows: the part of a server that touches untrusted bytes kept apart from the I/O, as
   one function of (buffer, length) that can be run on every prefix a socket delivers and fed to
   a fuzzer. Everything it returns points into buf.

       struct http_request req;
       int r = http_parse_request(buf, have, &req);
       if (r > 0)                  the head is complete: it is buf[0, r); a body (if any) follows
       if (r == HTTP_INCOMPLETE)   read more and call again with the longer buffer
       if (r == HTTP_ERROR)        answer req.status (400, 431, 505) and close; req.reason says why

   The parser is strict where leniency is how requests get smuggled (RFC 9112): one space between
   the parts of the request line, no whitespace before a header's colon, no folded header lines,
   no control characters, Content-Length all digits and never contradicted, not both
   Content-Length and Transfer-Encoding, exactly one Host in HTTP/1.1. Lines may end in CRLF or a
   bare LF. The target must be origin-form ("/path?query"), absolute-form
   ("http://host:port/path?query", which RFC 9112 requires servers to accept; req.authority is
   then the host:port part and the path "/" when the target has none) or "*". A line that is complete is
   checked at once, so a bad request line is rejected before the rest of the head arrives.
   Bounding the head's size is the caller's job: a buffer that fills up while the result is
   still HTTP_INCOMPLETE is a 431. More than HTTP_MAX_HEADERS header lines is a 431 here.

   Helpers for header values (also fuzzed): http_parse_range (a Range header against a file
   size), http_parse_date (an IMF-fixdate, as in If-Modified-Since), http_etag_match (an
   If-None-Match list against an entity tag). */
#ifndef HTTP_PARSE_H
#define HTTP_PARSE_H

#include <stddef.h>
#include <string.h>

#ifndef HTTP_MAX_HEADERS
#define HTTP_MAX_HEADERS 32
#endif
#define HTTP_MAX_CONTENT_LENGTH 1000000000000000ull /* 10^15: larger is a 400, not an overflow */

enum { HTTP_INCOMPLETE = 0, HTTP_ERROR = -1 };

struct http_str {
    const char *p; /* into the parsed buffer; not NUL-terminated */
    size_t len;
};

struct http_header {
    struct http_str name, value; /* value without surrounding spaces and tabs */
};

struct http_request {
    struct http_str method, target; /* target = path + ("?" query) */
    struct http_str path, query;    /* query.p is NULL when the target has no '?' */
    struct http_str authority;      /* host[:port] of an absolute-form target, else p NULL */
    int major, minor;               /* HTTP/major.minor; major is always 1 on success */
    size_t nheaders;
    struct http_header headers[HTTP_MAX_HEADERS];
    int keep_alive;                 /* what the client asked for: 1.1 unless "close", 1.0 if "keep-alive" */
    int has_length;                 /* a Content-Length header was present ... */
    unsigned long long content_length; /* ... with this value (else 0) */
    int chunked;                    /* a Transfer-Encoding header was present (body length unknown) */
    size_t head_len;                /* on success: the bytes of the head, the return value */
    int status;                     /* on HTTP_ERROR: the status to answer with */
    const char *reason;             /* on HTTP_ERROR: a short explanation (a string literal) */
};

/* http_str_ieq: s equals the NUL-terminated lit, ignoring ASCII case. */
static inline int http_str_ieq(struct http_str s, const char *lit) {
    size_t i;
    for (i = 0; i < s.len; i++) {
        unsigned char a = (unsigned char)s.p[i], b = (unsigned char)lit[i];
        if (b == 0) return 0;
        if (a >= 'A' && a <= 'Z') a = (unsigned char)(a + 32);
        if (b >= 'A' && b <= 'Z') b = (unsigned char)(b + 32);
        if (a != b) return 0;
    }
    return lit[s.len] == 0;
}

/* http_header_get: the first header named name (any case), or NULL. */
static inline const struct http_header *http_header_get(const struct http_request *req,
                                                        const char *name) {
    size_t i;
    for (i = 0; i < req->nheaders; i++)
        if (http_str_ieq(req->headers[i].name, name)) return &req->headers[i];
    return NULL;
}

/* tchar of RFC 9110: the characters of a method or a header name */
static inline int http__is_tchar(unsigned char c) {
    if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) return 1;
    return c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static inline int http__fail(struct http_request *req, int status, const char *reason) {
    req->status = status;
    req->reason = reason;
    return HTTP_ERROR;
}

/* The request line, without its line ending. */
static inline int http__request_line(const char *p, size_t n, struct http_request *req) {
    size_t i = 0, start;
    while (i < n && http__is_tchar((unsigned char)p[i])) i++;
    if (i == 0 || (i < n && p[i] != ' ')) return http__fail(req, 400, "bad method");
    if (i == n) return http__fail(req, 400, "request line without a target");
    req->method.p = p;
    req->method.len = i;
    start = ++i;
    while (i < n && (unsigned char)p[i] > 0x20 && (unsigned char)p[i] < 0x7f) i++;
    if (i == start || i == n || p[i] != ' ') return http__fail(req, 400, "bad request target");
    req->target.p = p + start;
    req->target.len = i - start;
    i++;
    if (n - i != 8 || memcmp(p + i, "HTTP/", 5) != 0 || p[i + 5] < '0' || p[i + 5] > '9' ||
        p[i + 6] != '.' || p[i + 7] < '0' || p[i + 7] > '9')
        return http__fail(req, 400, "bad HTTP version");
    req->major = p[i + 5] - '0';
    req->minor = p[i + 7] - '0';
    if (req->major != 1) return http__fail(req, 505, "only HTTP/1.x is spoken here");
    if (req->target.p[0] == '*') {
        if (req->target.len != 1) return http__fail(req, 400, "bad request target");
        req->path = req->target;
        return 0;
    }
    req->path = req->target;
    if (req->target.p[0] != '/') { /* absolute-form: scheme "://" authority [path] */
        struct http_str t = req->target, scheme;
        size_t k = 0, a;
        while (k < t.len && t.p[k] != ':') k++;
        scheme.p = t.p;
        scheme.len = k;
        if (!(http_str_ieq(scheme, "http") || http_str_ieq(scheme, "https")) || t.len - k < 3 ||
            t.p[k + 1] != '/' || t.p[k + 2] != '/')
            return http__fail(req, 400, "target is neither origin-form nor absolute-form");
        a = k += 3;
        while (k < t.len && t.p[k] != '/' && t.p[k] != '?' && t.p[k] != '#') k++;
        if (k == a || memchr(t.p + a, '@', k - a) || (k < t.len && t.p[k] == '#'))
            return http__fail(req, 400, "bad authority in absolute-form target");
        req->authority.p = t.p + a;
        req->authority.len = k - a;
        req->path.p = t.p + k;
        req->path.len = t.len - k;
    }
    {
        const char *q = (const char *)memchr(req->path.p, '?', req->path.len);
        if (q) {
            req->query.p = q + 1;
            req->query.len = req->path.len - (size_t)(q - req->path.p) - 1;
            req->path.len = (size_t)(q - req->path.p);
        }
    }
    if (req->path.len == 0) { /* "http://host" or "http://host?q" means "/" */
        req->path.p = "/";
        req->path.len = 1;
    }
    return 0;
}

/* Connection: a comma-separated list of tokens; only "close" and "keep-alive" matter. */
static inline void http__connection(struct http_str v, int *close, int *keep) {
    size_t i = 0;
    while (i < v.len) {
        struct http_str tok;
        while (i < v.len && (v.p[i] == ' ' || v.p[i] == '\t' || v.p[i] == ',')) i++;
        tok.p = v.p + i;
        while (i < v.len && v.p[i] != ',' && v.p[i] != ' ' && v.p[i] != '\t') i++;
        tok.len = (size_t)(v.p + i - tok.p);
        if (http_str_ieq(tok, "close")) *close = 1;
        else if (http_str_ieq(tok, "keep-alive")) *keep = 1;
    }
}

/* One header line, without its line ending; n > 0. */
static inline int http__header_line(const char *p, size_t n, struct http_request *req,
                                    int *close, int *keep, int *hosts) {
    struct http_header *h;
    size_t i = 0, name_len, vs, ve;
    if (p[0] == ' ' || p[0] == '\t') return http__fail(req, 400, "folded header line");
    while (i < n && http__is_tchar((unsigned char)p[i])) i++;
    if (i == 0 || i == n || p[i] != ':') return http__fail(req, 400, "bad header name");
    name_len = i;
    vs = i + 1;
    while (vs < n && (p[vs] == ' ' || p[vs] == '\t')) vs++;
    ve = n;
    while (ve > vs && (p[ve - 1] == ' ' || p[ve - 1] == '\t')) ve--;
    for (i = vs; i < ve; i++) {
        unsigned char c = (unsigned char)p[i];
        if ((c < 0x20 && c != '\t') || c == 0x7f) return http__fail(req, 400, "control character in header");
    }
    if (req->nheaders == HTTP_MAX_HEADERS) return http__fail(req, 431, "too many header lines");
    h = &req->headers[req->nheaders++];
    h->name.p = p;
    h->name.len = name_len;
    h->value.p = p + vs;
    h->value.len = ve - vs;
    if (http_str_ieq(h->name, "content-length")) {
        unsigned long long v = 0;
        if (h->value.len == 0) return http__fail(req, 400, "empty Content-Length");
        for (i = 0; i < h->value.len; i++) {
            char c = h->value.p[i];
            if (c < '0' || c > '9') return http__fail(req, 400, "bad Content-Length");
            v = v * 10 + (unsigned long long)(c - '0');
            if (v > HTTP_MAX_CONTENT_LENGTH) return http__fail(req, 400, "Content-Length too large");
        }
        if (req->has_length && req->content_length != v)
            return http__fail(req, 400, "conflicting Content-Length");
        req->has_length = 1;
        req->content_length = v;
    } else if (http_str_ieq(h->name, "transfer-encoding")) {
        req->chunked = 1;
    } else if (http_str_ieq(h->name, "connection")) {
        http__connection(h->value, close, keep);
    } else if (http_str_ieq(h->name, "host")) {
        ++*hosts;
    }
    return 0;
}

/* http_parse_request: see the top of this file. Returns the length of the head (> 0),
   HTTP_INCOMPLETE (0) or HTTP_ERROR (-1, with req->status and req->reason). req is
   overwritten in every case. */
static inline int http_parse_request(const char *buf, size_t len, struct http_request *req) {
    size_t pos = 0;
    int close = 0, keep = 0, hosts = 0;
    memset(req, 0, sizeof *req);
    if (len == 0) return HTTP_INCOMPLETE;
    if (len > (size_t)0x7fffffff) return http__fail(req, 431, "head too large");
    for (;;) {
        const char *nl = (const char *)memchr(buf + pos, '\n', len - pos);
        size_t n, i;
        if (!nl) return HTTP_INCOMPLETE;
        n = (size_t)(nl - (buf + pos));
        if (n > 0 && buf[pos + n - 1] == '\r') n--;
        for (i = 0; i < n; i++) /* a CR or NUL anywhere else is never valid */
            if (buf[pos + i] == '\r' || buf[pos + i] == 0)
                return http__fail(req, 400, "stray CR or NUL");
        if (pos == 0) {
            if (n == 0) return http__fail(req, 400, "empty request line");
            if (http__request_line(buf, n, req) != 0) return HTTP_ERROR;
        } else if (n == 0) {
            req->head_len = (size_t)(nl - buf) + 1; /* the empty line ends the head */
            break;
        } else if (http__header_line(buf + pos, n, req, &close, &keep, &hosts) != 0) {
            return HTTP_ERROR;
        }
        pos = (size_t)(nl - buf) + 1;
    }
    if (req->has_length && req->chunked)
        return http__fail(req, 400, "both Content-Length and Transfer-Encoding");
    if (req->minor >= 1 && hosts != 1) return http__fail(req, 400, "HTTP/1.1 needs exactly one Host");
    if (hosts > 1) return http__fail(req, 400, "more than one Host");
    req->keep_alive = req->minor >= 1 ? !close : (keep && !close);
    return (int)req->head_len;
}

/* A decimal number of at most 18 digits (so it cannot overflow); 0, or -1 if there is none. */
static inline int http__number(const char *p, size_t n, size_t *i, unsigned long long *v) {
    size_t start = *i;
    *v = 0;
    while (*i < n && p[*i] >= '0' && p[*i] <= '9' && *i - start < 18)
        *v = *v * 10 + (unsigned long long)(p[(*i)++] - '0');
    return *i > start && !(*i < n && p[*i] >= '0' && p[*i] <= '9') ? 0 : -1;
}

/* http_parse_range: a Range header value against a representation of size bytes. Returns 1 and
   the inclusive byte range [*first, *last] for one satisfiable range ("bytes=A-B", "bytes=A-",
   "bytes=-N"); -1 when it is valid but cannot be satisfied (A at or past the end, or "-0"),
   which is a 416; 0 when it is to be ignored and the whole representation sent: a syntax
   error, another unit, or several ranges (RFC 9110 allows a server to ignore Range). */
static inline int http_parse_range(struct http_str v, unsigned long long size,
                                   unsigned long long *first, unsigned long long *last) {
    size_t i = 6, n = v.len;
    unsigned long long a = 0, b = 0;
    int has_a = 0, has_b = 0;
    struct http_str unit;
    unit.p = v.p;
    unit.len = 6;
    if (n < 7 || !http_str_ieq(unit, "bytes=")) return 0;
    while (i < n && (v.p[i] == ' ' || v.p[i] == '\t')) i++;
    if (i < n && v.p[i] != '-') {
        if (http__number(v.p, n, &i, &a) != 0) return 0;
        has_a = 1;
    }
    if (i == n || v.p[i] != '-') return 0;
    i++;
    if (i < n && v.p[i] >= '0' && v.p[i] <= '9') {
        if (http__number(v.p, n, &i, &b) != 0) return 0;
        has_b = 1;
    }
    while (i < n && (v.p[i] == ' ' || v.p[i] == '\t')) i++;
    if (i != n) return 0; /* several ranges, or junk */
    if (!has_a && !has_b) return 0;
    if (has_a && has_b && b < a) return 0; /* invalid, so ignored */
    if (!has_a) { /* the last b bytes */
        if (b == 0 || size == 0) return -1;
        *first = b >= size ? 0 : size - b;
        *last = size - 1;
        return 1;
    }
    if (a >= size) return -1;
    *first = a;
    *last = has_b && b < size - 1 ? b : size - 1;
    return 1;
}

/* http_parse_date: an IMF-fixdate ("Sun, 06 Nov 1994 08:49:37 GMT") into seconds since 1970.
   0, or -1 if v is not one (the obsolete RFC 850 and asctime forms included: a cache
   validator that cannot be read is ignored). */
static inline int http_parse_date(struct http_str v, long long *t) {
    static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
    const char *p = v.p;
    int d, mo, y, hh, mm, ss, k;
    long long days, yy;
    if (v.len != 29 || p[3] != ',' || p[4] != ' ' || p[7] != ' ' || p[11] != ' ' || p[16] != ' ' ||
        p[19] != ':' || p[22] != ':' || p[25] != ' ' || memcmp(p + 26, "GMT", 3) != 0)
        return -1;
    for (k = 0; k < 29; k++)
        if ((k == 5 || k == 6 || (k >= 12 && k <= 15) || k == 17 || k == 18 || k == 20 || k == 21 ||
             k == 23 || k == 24) && (p[k] < '0' || p[k] > '9'))
            return -1;
    for (mo = 0; mo < 12; mo++)
        if (memcmp(p + 8, months + 3 * mo, 3) == 0) break;
    if (mo == 12) return -1;
    d = (p[5] - '0') * 10 + p[6] - '0';
    y = (p[12] - '0') * 1000 + (p[13] - '0') * 100 + (p[14] - '0') * 10 + p[15] - '0';
    hh = (p[17] - '0') * 10 + p[18] - '0';
    mm = (p[20] - '0') * 10 + p[21] - '0';
    ss = (p[23] - '0') * 10 + p[24] - '0';
    if (d < 1 || d > 31 || hh > 23 || mm > 59 || ss > 60) return -1;
    /* days from 1970-01-01 to y-(mo+1)-d (civil calendar, proleptic Gregorian) */
    yy = mo < 2 ? y - 1 : y;
    {
        long long era = (yy >= 0 ? yy : yy - 399) / 400, yoe = yy - era * 400;
        long long mp = (mo + 10) % 12, doy = (153 * mp + 2) / 5 + d - 1;
        long long doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        days = era * 146097 + doe - 719468;
    }
    *t = days * 86400 + hh * 3600 + mm * 60 + ss;
    return 0;
}

/* http_etag_match: does the If-None-Match value list (entity tags separated by commas, or "*")
   name etag (a quoted entity tag such as "\"5f1-2a\"")? Weak comparison: a W/ prefix on
   either side is ignored, as RFC 9110 prescribes for If-None-Match. */
static inline int http_etag_match(struct http_str list, const char *etag) {
    size_t i = 0, elen;
    if (etag[0] == 'W' && etag[1] == '/') etag += 2;
    elen = strlen(etag);
    while (i < list.len) {
        size_t s, e;
        while (i < list.len && (list.p[i] == ' ' || list.p[i] == '\t' || list.p[i] == ',')) i++;
        if (i == list.len) break;
        if (list.p[i] == '*') return 1;
        if (list.len - i >= 2 && list.p[i] == 'W' && list.p[i + 1] == '/') i += 2;
        if (i == list.len || list.p[i] != '"') return 0; /* malformed: no match */
        s = i++;
        while (i < list.len && list.p[i] != '"') i++;
        if (i == list.len) return 0;
        e = ++i;
        if (e - s == elen && memcmp(list.p + s, etag, elen) == 0) return 1;
    }
    return 0;
}

#endif /* HTTP_PARSE_H */
