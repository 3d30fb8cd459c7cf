/* fuzz_http.c - libFuzzer target for examples/http_parse.h, the request parser of httpd.c.

   What it checks, besides what AddressSanitizer and UBSan catch (any read outside the input,
   which libFuzzer hands over in a buffer of exactly its size):
   - the result is HTTP_ERROR, HTTP_INCOMPLETE or a head length in (0, len], ending in '\n';
   - on error, a status of 400, 431 or 505 and a reason;
   - on success every returned string lies inside the head, method and header names are
     non-empty tokens, header values carry no control characters and no surrounding blanks,
     path and query lie inside the target, and the flags are 0 or 1;
   - an absolute-form target ("http://host/path") has a non-empty authority and a path inside
     the target (or the literal "/" when it has none);
   - the parser is a function of the bytes it was given: parsing the head alone gives the same
     answer, and a shorter prefix of a complete head is never complete (nor an error: every line
     of it was valid); a prefix of an incomplete input is incomplete too;
   - the header-value helpers, run on every header value of a complete head: http_parse_range
     returns -1, 0, or 1 with first <= last < size (for several sizes), http_parse_date a time
     within years 0..9999, http_etag_match 0 or 1.

   Build and run, from the repository root (make fuzz-run does the same with a time limit):
       clang -g -O1 -fsanitize=fuzzer,address,undefined -I. fuzz/fuzz_http.c -o fuzz_http
       ./fuzz_http -max_total_time=60 fuzz/corpus */
#include "examples/http_parse.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#define CHECK(x)                                                                                   \
    do {                                                                                           \
        if (!(x)) {                                                                                \
            fprintf(stderr, "fuzz_http.c:%d: invariant failed: %s\n", __LINE__, #x);               \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

static int inside(struct http_str s, const char *lo, const char *hi) {
    return s.p != NULL && s.p >= lo && s.len <= (size_t)(hi - s.p);
}

static int is_tchar_str(struct http_str s) {
    size_t i;
    if (s.len == 0) return 0;
    for (i = 0; i < s.len; i++)
        if (!http__is_tchar((unsigned char)s.p[i])) return 0;
    return 1;
}

static void check_complete(const char *buf, size_t r, const struct http_request *req) {
    const char *end = buf + r;
    size_t i;
    CHECK(req->head_len == r);
    CHECK(buf[r - 1] == '\n');
    CHECK(inside(req->method, buf, end) && is_tchar_str(req->method));
    CHECK(req->method.p == buf);
    CHECK(inside(req->target, buf, end) && req->target.len > 0);
    if (req->target.p[0] == '/' || req->target.p[0] == '*') {
        CHECK(req->target.p[0] == '/' || req->target.len == 1);
        CHECK(req->authority.p == NULL);
        CHECK(inside(req->path, req->target.p, req->target.p + req->target.len));
        CHECK(req->path.p == req->target.p);
        if (req->query.p) {
            CHECK(inside(req->query, req->target.p, req->target.p + req->target.len));
            CHECK(req->path.len + 1 + req->query.len == req->target.len);
            CHECK(req->query.p[-1] == '?');
        } else {
            CHECK(req->path.len == req->target.len);
        }
    } else { /* absolute-form */
        CHECK(inside(req->authority, req->target.p, req->target.p + req->target.len));
        CHECK(req->authority.len > 0 && req->authority.p[-1] == '/' && req->authority.p[-2] == '/');
        CHECK(memchr(req->authority.p, '/', req->authority.len) == NULL);
        CHECK(req->path.len > 0 && req->path.p[0] == '/');
        CHECK(inside(req->path, req->target.p, req->target.p + req->target.len) ||
              (req->path.len == 1 && req->path.p[0] == '/'));
        if (req->query.p) {
            CHECK(inside(req->query, req->target.p, req->target.p + req->target.len));
            CHECK(req->query.p[-1] == '?');
        }
    }
    CHECK(req->major == 1 && req->minor >= 0 && req->minor <= 9);
    CHECK(req->nheaders <= HTTP_MAX_HEADERS);
    for (i = 0; i < req->nheaders; i++) {
        const struct http_header *h = &req->headers[i];
        size_t k;
        CHECK(inside(h->name, buf, end) && is_tchar_str(h->name));
        CHECK(inside(h->value, buf, end));
        CHECK(h->value.p > h->name.p + h->name.len - 1);
        CHECK(h->name.p[h->name.len] == ':');
        for (k = 0; k < h->value.len; k++) {
            unsigned char c = (unsigned char)h->value.p[k];
            CHECK(c >= 0x20 || c == '\t');
            CHECK(c != 0x7f);
        }
        if (h->value.len) {
            CHECK(h->value.p[0] != ' ' && h->value.p[0] != '\t');
            CHECK(h->value.p[h->value.len - 1] != ' ' && h->value.p[h->value.len - 1] != '\t');
        }
        if (i > 0) CHECK(h->name.p > req->headers[i - 1].value.p);
    }
    CHECK(req->keep_alive == 0 || req->keep_alive == 1);
    CHECK(req->has_length == 0 || req->has_length == 1);
    CHECK(req->chunked == 0 || req->chunked == 1);
    CHECK(!(req->has_length && req->chunked));
    CHECK(req->has_length || req->content_length == 0);
    CHECK(req->content_length <= HTTP_MAX_CONTENT_LENGTH);
    CHECK(req->minor == 0 || http_header_get(req, "host") != NULL);
    for (i = 0; i < req->nheaders; i++) {
        static const unsigned long long sizes[] = {0, 1, 2, 100, 16384, 1ull << 40};
        struct http_str v = req->headers[i].value;
        size_t k;
        long long t;
        int m;
        for (k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
            unsigned long long first = 7, last = 7;
            int r = http_parse_range(v, sizes[k], &first, &last);
            CHECK(r == -1 || r == 0 || r == 1);
            if (r == 1) CHECK(first <= last && last < sizes[k]);
        }
        if (http_parse_date(v, &t) == 0) CHECK(t >= -62167219200ll && t < 253402387200ll);
        m = http_etag_match(v, "\"5f-1a\"");
        CHECK(m == 0 || m == 1);
        m = http_etag_match(v, "W/\"x\"");
        CHECK(m == 0 || m == 1);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static struct http_request req, again; /* 1 KiB each: keep them off the fuzzer's stack */
    const char *buf = (const char *)data;
    int r = http_parse_request(buf, size, &req);

    CHECK(r == HTTP_ERROR || r == HTTP_INCOMPLETE || (r > 0 && (size_t)r <= size));
    if (r == HTTP_ERROR) {
        CHECK(req.status == 400 || req.status == 431 || req.status == 505);
        CHECK(req.reason != NULL && req.reason[0] != 0);
        return 0;
    }
    if (r == HTTP_INCOMPLETE) {
        if (size > 0) CHECK(http_parse_request(buf, size - 1, &again) == HTTP_INCOMPLETE);
        if (size > 1) CHECK(http_parse_request(buf, size / 2, &again) == HTTP_INCOMPLETE);
        return 0;
    }
    check_complete(buf, (size_t)r, &req);
    /* the head alone parses the same */
    CHECK(http_parse_request(buf, (size_t)r, &again) == r);
    CHECK(again.nheaders == req.nheaders && again.keep_alive == req.keep_alive);
    CHECK(again.content_length == req.content_length && again.target.p == req.target.p);
    /* a prefix of a complete head is incomplete: each of its complete lines was valid */
    CHECK(http_parse_request(buf, (size_t)r - 1, &again) == HTTP_INCOMPLETE);
    CHECK(http_parse_request(buf, (size_t)r / 2, &again) == HTTP_INCOMPLETE);
    return 0;
}
