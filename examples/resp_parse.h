/* resp_parse.h - parse one command of the Redis protocol (RESP) from a buffer: the multibulk
   form clients send ("*2\r\n$3\r\nGET\r\n$1\r\nk\r\n") and the inline form people type
   ("GET k\r\n", with "..." and '...' quoting). No allocation, never a read outside buf[0, len).
   Used by examples/kv.c and fuzzed by fuzz/fuzz_resp.c.

       struct resp_arg argv[16];
       size_t argc;
       const char *err;
       long r = resp_parse(buf, len, argv, 16, &argc, &err);
       if (r > 0)                 a command of argc arguments was buf[0, r) (argc 0: an empty one,
                                  which is skipped); arguments point into buf
       if (r == RESP_INCOMPLETE)  read more and call again with the longer buffer
       if (r == RESP_NEED_ARGS)   the command has argc arguments, more than the 16 given: call
                                  again with an array that large
       if (r == RESP_ERROR)       answer "-ERR <err>\r\n" and close the connection

   It follows what redis-server 7 accepts and rejects, with its error texts, so that a client
   sees the same answers: "invalid multibulk length" (a count that is not a strict decimal
   integer, or over RESP_MAX_ARGS), "expected '$', got 'x'",
   "invalid bulk length" (over RESP_MAX_BULK), "too big inline request" / "too big mbulk count
   string" / "too big bulk count string" (no line end within RESP_MAX_INLINE bytes), "unbalanced
   quotes in request". Like Redis it does not check the two bytes after a bulk argument, treats
   a count of 0 or less as an empty command, and does not see a line end behind a NUL byte (it
   searches as strchr does). An inline command is decoded in place (a quoted argument's
   escapes: \n \r \t \b \a \xHH, \" and \'), so buf is not const. */
#ifndef RESP_PARSE_H
#define RESP_PARSE_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define RESP_MAX_INLINE (64 * 1024)        /* a line without its end beyond this is an error */
#define RESP_MAX_ARGS 2147483647ll         /* Redis 7: INT_MAX arguments per command */
#define RESP_MAX_BULK (512ll * 1024 * 1024) /* Redis's proto-max-bulk-len default */

enum { RESP_INCOMPLETE = 0, RESP_ERROR = -1, RESP_NEED_ARGS = -2 };

struct resp_arg {
    char *p; /* into the parsed buffer; not NUL-terminated */
    size_t len;
};

/* Redis's string2ll: an optional '-', then digits without a leading zero (or just "0"), in
   range. 0, or -1 if p[0, n) is not one. */
static inline int resp_strict_ll(const char *p, size_t n, long long *out) {
    unsigned long long v = 0, limit;
    size_t i = 0;
    int neg = 0;
    if (n == 0 || n > 20) return -1;
    if (n == 1 && p[0] == '0') {
        *out = 0;
        return 0;
    }
    if (p[0] == '-') {
        neg = 1;
        i = 1;
        if (n == 1) return -1;
    }
    if (p[i] < '1' || p[i] > '9') return -1;
    limit = neg ? (unsigned long long)9223372036854775807ll + 1 : 9223372036854775807ull;
    for (; i < n; i++) {
        if (p[i] < '0' || p[i] > '9') return -1;
        if (v > (limit - (unsigned long long)(p[i] - '0')) / 10) return -1;
        v = v * 10 + (unsigned long long)(p[i] - '0');
    }
    if (neg) *out = v == limit ? (-9223372036854775807ll - 1) : -(long long)v;
    else *out = (long long)v;
    return 0;
}

static inline int resp__fail(const char **err, const char *why) {
    *err = why;
    return RESP_ERROR;
}

static inline int resp__space(char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

static inline int resp__hex(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Redis's sdssplitargs over line[0, n), decoding into the same bytes. Returns the number of
   arguments (only the first cap are stored), or -1 for unbalanced quotes. */
static inline long resp__split(char *line, size_t n, struct resp_arg *argv, size_t cap) {
    size_t i = 0, count = 0;
    for (;;) {
        size_t o;
        int inq = 0, insq = 0, done = 0;
        char *start;
        while (i < n && line[i] && resp__space(line[i])) i++;
        if (i == n || !line[i]) return (long)count;
        start = line + i;
        o = i;
        while (!done) {
            char c = i < n ? line[i] : 0;
            if (inq) {
                if (c == '\\' && i + 3 < n && line[i + 1] == 'x' && resp__hex(line[i + 2]) >= 0 &&
                    resp__hex(line[i + 3]) >= 0) {
                    line[o++] = (char)(resp__hex(line[i + 2]) * 16 + resp__hex(line[i + 3]));
                    i += 3;
                } else if (c == '\\' && i + 1 < n && line[i + 1]) {
                    char e = line[++i];
                    line[o++] = e == 'n' ? '\n' : e == 'r' ? '\r' : e == 't' ? '\t'
                              : e == 'b' ? '\b' : e == 'a' ? '\a' : e;
                } else if (c == '"') {
                    if (i + 1 < n && line[i + 1] && !resp__space(line[i + 1])) return -1;
                    done = 1;
                } else if (!c) {
                    return -1;
                } else {
                    line[o++] = c;
                }
            } else if (insq) {
                if (c == '\\' && i + 1 < n && line[i + 1] == '\'') {
                    line[o++] = '\'';
                    i++;
                } else if (c == '\'') {
                    if (i + 1 < n && line[i + 1] && !resp__space(line[i + 1])) return -1;
                    done = 1;
                } else if (!c) {
                    return -1;
                } else {
                    line[o++] = c;
                }
            } else {
                if (!c || resp__space(c)) {
                    done = 1;
                    continue; /* the separator is not consumed twice: i stays on it */
                } else if (c == '"') {
                    inq = 1;
                } else if (c == '\'') {
                    insq = 1;
                } else {
                    line[o++] = c;
                }
            }
            if (i < n) i++;
        }
        if (count < cap) {
            argv[count].p = start;
            argv[count].len = (size_t)(line + o - start);
        }
        count++;
    }
}

/* Redis looks for line ends with strchr on a NUL-terminated buffer: a NUL before the end means
   "no line end yet". The first c in p[0, n) before any NUL, or NULL. */
static inline char *resp__find(char *p, size_t n, char c) {
    char *hit = (char *)memchr(p, c, n);
    return hit && !memchr(p, 0, (size_t)(hit - p)) ? hit : NULL;
}

static inline long resp__inline(char *buf, size_t len, struct resp_arg *argv, size_t cap,
                                size_t *argc, const char **err) {
    char *nl = resp__find(buf, len, '\n');
    size_t n, used;
    long c;
    if (!nl) return len > RESP_MAX_INLINE ? resp__fail(err, "Protocol error: too big inline request")
                                          : RESP_INCOMPLETE;
    used = (size_t)(nl - buf) + 1;
    n = (size_t)(nl - buf);
    if (n > 0 && buf[n - 1] == '\r') n--;
    if ((c = resp__split(buf, n, argv, cap)) < 0)
        return resp__fail(err, "Protocol error: unbalanced quotes in request");
    *argc = (size_t)c;
    return (size_t)c > cap ? RESP_NEED_ARGS : (long)used;
}

/* resp_parse: see the top of this file. Returns the bytes of the command (> 0),
   RESP_INCOMPLETE, RESP_NEED_ARGS (*argc says how many) or RESP_ERROR (*err says why). */
static inline long resp_parse(char *buf, size_t len, struct resp_arg *argv, size_t cap,
                              size_t *argc, const char **err) {
    size_t pos, k;
    long long count;
    char *cr;
    *argc = 0;
    *err = NULL;
    if (len == 0) return RESP_INCOMPLETE;
    if (buf[0] != '*') return resp__inline(buf, len, argv, cap, argc, err);
    if (!(cr = resp__find(buf, len, '\r')))
        return len > RESP_MAX_INLINE ? resp__fail(err, "Protocol error: too big mbulk count string")
                                     : RESP_INCOMPLETE;
    if ((size_t)(cr - buf) > len - 2) return RESP_INCOMPLETE; /* room for the '\n' */
    if (resp_strict_ll(buf + 1, (size_t)(cr - buf - 1), &count) != 0 || count > RESP_MAX_ARGS)
        return resp__fail(err, "Protocol error: invalid multibulk length");
    pos = (size_t)(cr - buf) + 2;
    if (count <= 0) return (long)pos;
    if ((unsigned long long)count > cap) { /* only the count matters until there is room */
        *argc = (size_t)count;
        return RESP_NEED_ARGS;
    }
    for (k = 0; k < (size_t)count; k++) {
        long long blen;
        if (pos == len) return RESP_INCOMPLETE;
        if (!(cr = resp__find(buf + pos, len - pos, '\r')))
            return len - pos > RESP_MAX_INLINE
                       ? resp__fail(err, "Protocol error: too big bulk count string")
                       : RESP_INCOMPLETE;
        if ((size_t)(cr - buf) > len - 2) return RESP_INCOMPLETE;
        if (buf[pos] != '$') { /* (a line end in it would end the error line: a space, as Redis) */
            static char msg[40];
            memcpy(msg, "Protocol error: expected '$', got ' '", 38);
            msg[35] = buf[pos] == '\r' || buf[pos] == '\n' ? ' ' : buf[pos];
            return resp__fail(err, msg);
        }
        if (resp_strict_ll(buf + pos + 1, (size_t)(cr - buf) - pos - 1, &blen) != 0 || blen < 0 ||
            blen > RESP_MAX_BULK)
            return resp__fail(err, "Protocol error: invalid bulk length");
        pos = (size_t)(cr - buf) + 2;
        if ((unsigned long long)blen + 2 > len - pos) return RESP_INCOMPLETE;
        argv[k].p = buf + pos;
        argv[k].len = (size_t)blen;
        pos += (size_t)blen + 2; /* the CRLF is not checked, as in Redis */
        if (pos > (size_t)LONG_MAX) /* only a 32-bit build can hold that much and get here */
            return resp__fail(err, "Protocol error: invalid bulk length");
    }
    *argc = (size_t)count;
    return (long)pos;
}

#endif /* RESP_PARSE_H */
