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
   bare LF. The target must be origin-form ("/path?query") or "*". A line that is complete is
   checked at once, so a bad request line is rejected before the rest of the head arrives.
   Bounding the head's size is the caller's job: a buffer that fills up while the result is
   still HTTP_INCOMPLETE is a 431. More than HTTP_MAX_HEADERS header lines is a 431 here. */
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
    if (req->target.p[0] != '/') return http__fail(req, 400, "target is not origin-form");
    req->path = req->target;
    {
        const char *q = (const char *)memchr(req->target.p, '?', req->target.len);
        if (q) {
            req->path.len = (size_t)(q - req->target.p);
            req->query.p = q + 1;
            req->query.len = req->target.len - req->path.len - 1;
        }
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

#endif /* HTTP_PARSE_H */
