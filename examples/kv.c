/* kv.c - an in-memory key-value server speaking the Redis protocol (RESP2), one coroutine per
   connection.

   What it shows: a database-style server written the obvious way. Each connection is a loop:
   read what the client sent, run every complete command in it (clients pipeline), append the
   replies to one output buffer, write it, repeat. The protocol parser is a function over bytes
   (examples/resp_parse.h), fuzzed by fuzz/fuzz_resp.c. redis-cli and redis-benchmark work
   against it unmodified; bench/servers/kv.sh holds it against redis-server.

   Commands (names in any case), with redis-server 7's replies byte for byte, errors included:
       PING [msg]  ECHO msg  GET k  SET k v [NX|XX] [GET] [EX s|PX ms|EXAT t|PXAT t|KEEPTTL]
       DEL k...  EXISTS k...  INCR k  DECR k  INCRBY k n  EXPIRE k s [NX|XX|GT|LT]
       PEXPIRE k ms [...]  TTL k  PTTL k  PERSIST k  MGET k...  MSET k v...  DBSIZE
       FLUSHALL [ASYNC|SYNC]  SELECT 0  QUIT
   and, so that clients' start-up queries succeed, COMMAND (an empty list) and CONFIG GET
   (of "save" and "appendonly": persistence is off). Malformed input gets Redis's "-ERR Protocol error: ..." and the connection is closed
   after it, as Redis does; an unknown command or a wrong argument count gets Redis's error and
   the connection stays. Keys expire lazily when touched and actively (a sweep every 100 ms).

   Limits: a client's unanswered input is bounded by RESP's own (a bulk argument up to 512 MB,
   as in Redis); there is no persistence, no other data type, no AUTH. The hash table uses a
   random per-process seed so that chosen keys cannot all land in one chain.

   Build and run, from the repository root:
       cc -O2 -I. examples/kv.c -o kv -pthread
       ./kv -p 6380          # then: redis-cli -p 6380 set a 1; redis-benchmark -p 6380 -t get,set
   Options: -p PORT (0 = any free port, the default), -b ADDR (127.0.0.1), -h. Prints
   "listening on ADDR:PORT"; on SIGINT/SIGTERM closes every connection and prints
   "kv: C commands on N connections, K keys". */
#define CORO_POOL_SIZE 1024 /* keep stacks for reuse as clients come and go (see httpd.c) */
#define CORO_IMPLEMENTATION
#define CORO_SCHED_IMPLEMENTATION
#include "coro_sched.h"

#include "resp_parse.h"

#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define READ_CHUNK 16384   /* the input buffer grows by at least this */
#define ARGS_INLINE 16     /* arguments a connection has room for before it allocates */

/* >>store: one hash table of strings; expire is wall-clock milliseconds (0: never), as Redis
   keeps it, so that EXAT/PXAT mean what they say */
struct entry {
    struct entry *next;
    uint64_t hash;
    long long expire;
    size_t klen, vlen;
    char *val;    /* points just after the key, or to its own allocation once it outgrew it */
    size_t vcap;
    char key[];
};

static struct {
    struct entry **b;
    size_t nb, count, sweep;
    uint64_t seed;
} db;

static struct {
    int lfd, stopping;
    const char *addr;
    unsigned long long commands, connections;
    struct client *clients;
} srv;

static long long now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static uint64_t hash_bytes(const char *p, size_t n) {
    uint64_t h = db.seed ^ (n * 0x9e3779b97f4a7c15ull);
    size_t i;
    for (i = 0; i < n; i++) h = (h ^ (unsigned char)p[i]) * 0x100000001b3ull;
    h ^= h >> 31;
    h *= 0xbf58476d1ce4e5b9ull;
    return h ^ (h >> 29);
}

static void entry_free(struct entry *e) {
    if (e->val != e->key + e->klen) free(e->val);
    free(e);
}

/* The slot that points at the entry for key (or at the NULL ending its chain). Drops the entry
   if it has expired. */
static struct entry **find_slot(const char *k, size_t n, uint64_t h) {
    struct entry **pp = &db.b[h & (db.nb - 1)], *e;
    while ((e = *pp) != NULL) {
        if (e->hash == h && e->klen == n && memcmp(e->key, k, n) == 0) {
            if (e->expire && e->expire <= now_ms()) {
                *pp = e->next;
                entry_free(e);
                db.count--;
                continue; /* keys are unique: the chain's end is the slot for it now */
            }
            return pp;
        }
        pp = &e->next;
    }
    return pp;
}

static struct entry *lookup(const struct resp_arg *k) {
    return *find_slot(k->p, k->len, hash_bytes(k->p, k->len));
}

static void grow_table(void) {
    size_t nb = db.nb * 2, i;
    struct entry **b = (struct entry **)calloc(nb, sizeof *b);
    if (!b) return; /* stay at this size: chains get longer, nothing breaks */
    for (i = 0; i < db.nb; i++) {
        struct entry *e = db.b[i], *next;
        for (; e; e = next) {
            next = e->next;
            e->next = b[e->hash & (nb - 1)];
            b[e->hash & (nb - 1)] = e;
        }
    }
    free(db.b);
    db.b = b;
    db.nb = nb;
    db.sweep = 0;
}

/* Set key to val (expire: 0, or when). The old value's TTL is kept if keep_ttl. 0, or -1 (out
   of memory). */
static int store(const struct resp_arg *k, const char *v, size_t vlen, long long expire, int keep_ttl) {
    uint64_t h = hash_bytes(k->p, k->len);
    struct entry **pp = find_slot(k->p, k->len, h), *e = *pp, *n;
    if (e) {
        if (vlen <= e->vcap) { /* in place: the common SET of a same-sized value */
            memcpy(e->val, v, vlen);
            e->vlen = vlen;
            if (!keep_ttl) e->expire = expire;
            return 0;
        }
        {
            char *nv = (char *)malloc(vlen ? vlen : 1);
            if (!nv) return -1;
            memcpy(nv, v, vlen);
            if (e->val != e->key + e->klen) free(e->val);
            e->val = nv;
            e->vlen = e->vcap = vlen;
            if (!keep_ttl) e->expire = expire;
            return 0;
        }
    }
    if (!(n = (struct entry *)malloc(sizeof *n + k->len + vlen))) return -1;
    n->hash = h;
    n->expire = expire;
    n->klen = k->len;
    n->vlen = n->vcap = vlen;
    memcpy(n->key, k->p, k->len);
    n->val = n->key + k->len;
    memcpy(n->val, v, vlen);
    n->next = NULL;
    *pp = n;
    if (++db.count > db.nb) grow_table();
    return 0;
}

static int delete_key(const struct resp_arg *k) {
    struct entry **pp = find_slot(k->p, k->len, hash_bytes(k->p, k->len)), *e = *pp;
    if (!e) return 0;
    *pp = e->next;
    entry_free(e);
    db.count--;
    return 1;
}

static void flush_all(void) {
    size_t i;
    for (i = 0; i < db.nb; i++) {
        struct entry *e = db.b[i], *next;
        for (; e; e = next) {
            next = e->next;
            entry_free(e);
        }
        db.b[i] = NULL;
    }
    db.count = 0;
}

/* Active expiry: every 100 ms look at a slice of the table and drop what has expired, so keys
   nobody touches again do not stay forever. */
static void *sweeper(void *arg) {
    (void)arg;
    while (coro_sleep(100) == 0) {
        long long now = now_ms();
        size_t n = db.nb < 1024 ? db.nb : 1024;
        while (n--) {
            struct entry **pp = &db.b[db.sweep], *e;
            while ((e = *pp) != NULL) {
                if (e->expire && e->expire <= now) {
                    *pp = e->next;
                    entry_free(e);
                    db.count--;
                } else {
                    pp = &e->next;
                }
            }
            db.sweep = (db.sweep + 1) & (db.nb - 1);
        }
    }
    return NULL;
}

/* >>replies: appended to the connection's output buffer */
struct client {
    coro_t *co;
    int fd, close_after; /* close_after: QUIT or a protocol error: write, then close */
    char *in, *out;
    size_t in_len, in_cap, out_len, out_cap;
    struct resp_arg *argv, inline_args[ARGS_INLINE];
    size_t argv_cap;
    struct client *prev, *next;
};

static int reserve(struct client *c, size_t n) {
    if (n > c->out_cap - c->out_len) {
        size_t cap = c->out_cap ? c->out_cap : 16384;
        char *p;
        while (cap - c->out_len < n) cap *= 2;
        if (!(p = (char *)realloc(c->out, cap))) return -1;
        c->out = p;
        c->out_cap = cap;
    }
    return 0;
}

static void reply_raw(struct client *c, const char *s, size_t n) {
    if (reserve(c, n) == 0) {
        memcpy(c->out + c->out_len, s, n);
        c->out_len += n;
    } else {
        c->close_after = 1; /* out of memory: the client cannot be answered correctly */
    }
}
#define REPLY_LIT(c, lit) reply_raw((c), (lit), sizeof(lit) - 1)

static size_t fmt_ll(char *t, long long v) { /* decimal into t[0, 21) */
    char tmp[24];
    size_t i = sizeof tmp, n;
    unsigned long long u = v < 0 ? 0ull - (unsigned long long)v : (unsigned long long)v;
    do tmp[--i] = (char)('0' + u % 10);
    while ((u /= 10) != 0);
    if (v < 0) tmp[--i] = '-';
    n = sizeof tmp - i;
    memcpy(t, tmp + i, n);
    return n;
}

static void reply_int(struct client *c, long long v) {
    char t[32];
    size_t n = 1;
    t[0] = ':';
    n += fmt_ll(t + 1, v);
    t[n++] = '\r';
    t[n++] = '\n';
    reply_raw(c, t, n);
}

static void reply_bulk(struct client *c, const char *p, size_t len) {
    char t[32];
    size_t n = 1;
    t[0] = '$';
    n += fmt_ll(t + 1, (long long)len);
    t[n++] = '\r';
    t[n++] = '\n';
    if (reserve(c, n + len + 2) != 0) {
        c->close_after = 1;
        return;
    }
    memcpy(c->out + c->out_len, t, n);
    memcpy(c->out + c->out_len + n, p, len);
    memcpy(c->out + c->out_len + n + len, "\r\n", 2);
    c->out_len += n + len + 2;
}

static void reply_array(struct client *c, size_t count) {
    char t[32];
    size_t n = 1;
    t[0] = '*';
    n += fmt_ll(t + 1, (long long)count);
    t[n++] = '\r';
    t[n++] = '\n';
    reply_raw(c, t, n);
}

/* "-ERR " + msg, with CR and LF in msg turned into spaces, as Redis does */
static void reply_err(struct client *c, const char *msg, size_t len) {
    size_t i, start;
    REPLY_LIT(c, "-ERR ");
    start = c->out_len;
    reply_raw(c, msg, len);
    if (c->out_len == start + len)
        for (i = start; i < c->out_len; i++)
            if (c->out[i] == '\r' || c->out[i] == '\n') c->out[i] = ' ';
    REPLY_LIT(c, "\r\n");
}
static void reply_err_str(struct client *c, const char *msg) { reply_err(c, msg, strlen(msg)); }

static void reply_arity(struct client *c, const char *name) {
    char m[128];
    int n = snprintf(m, sizeof m, "wrong number of arguments for '%s' command", name);
    reply_err(c, m, (size_t)n);
}

#define ERR_NOT_INT "value is not an integer or out of range"
#define ERR_SYNTAX "syntax error"

/* >>commands */
static int arg_is(const struct resp_arg *a, const char *lit) { /* ASCII case-insensitive */
    size_t i;
    for (i = 0; i < a->len; i++) {
        unsigned char x = (unsigned char)a->p[i], y = (unsigned char)lit[i];
        if (!y) return 0;
        if (x >= 'A' && x <= 'Z') x = (unsigned char)(x + 32);
        if (x != y) return 0;
    }
    return lit[a->len] == 0;
}

static int arg_ll(const struct resp_arg *a, long long *v) { return resp_strict_ll(a->p, a->len, v); }

static long long ttl_left(const struct entry *e, long long now) {
    return e->expire - now < 0 ? 0 : e->expire - now;
}

static void cmd_set(struct client *c, struct resp_arg *a, size_t argc) {
    enum { NX = 1, XX = 2, GET = 4, KEEPTTL = 8 };
    int flags = 0;
    size_t j, expire_at = 0;
    int unit = 0; /* 'e' EX, 'p' PX, 'E' EXAT, 'P' PXAT */
    long long ms = 0, when = 0;
    struct entry *e;
    for (j = 3; j < argc; j++) {
        struct resp_arg *o = &a[j];
        int has_next = j + 1 < argc;
        if (arg_is(o, "nx") && !(flags & XX)) flags |= NX;
        else if (arg_is(o, "xx") && !(flags & NX)) flags |= XX;
        else if (arg_is(o, "get")) flags |= GET;
        else if (arg_is(o, "keepttl") && !unit) flags |= KEEPTTL;
        else if (has_next && !unit && !(flags & KEEPTTL) &&
                 (arg_is(o, "ex") || arg_is(o, "px") || arg_is(o, "exat") || arg_is(o, "pxat"))) {
            unit = arg_is(o, "ex") ? 'e' : arg_is(o, "px") ? 'p' : arg_is(o, "exat") ? 'E' : 'P';
            expire_at = ++j;
        } else {
            reply_err_str(c, ERR_SYNTAX);
            return;
        }
    }
    if (unit) {
        if (arg_ll(&a[expire_at], &ms) != 0) {
            reply_err_str(c, ERR_NOT_INT);
            return;
        }
        if (ms <= 0 || ((unit == 'e' || unit == 'E') && ms > LLONG_MAX / 1000)) {
            reply_err_str(c, "invalid expire time in 'set' command");
            return;
        }
        if (unit == 'e' || unit == 'E') ms *= 1000;
        when = unit == 'e' || unit == 'p' ? (ms > LLONG_MAX - now_ms() ? LLONG_MAX : ms + now_ms()) : ms;
    }
    e = lookup(&a[1]);
    if (flags & GET) {
        if (e) reply_bulk(c, e->val, e->vlen);
        else REPLY_LIT(c, "$-1\r\n");
    }
    if (((flags & NX) && e) || ((flags & XX) && !e)) {
        if (!(flags & GET)) REPLY_LIT(c, "$-1\r\n");
        return;
    }
    if (store(&a[1], a[2].p, a[2].len, when, flags & KEEPTTL) != 0) {
        reply_err_str(c, "out of memory");
        return;
    }
    if (unit && when <= now_ms()) delete_key(&a[1]); /* EXAT/PXAT in the past */
    if (!(flags & GET)) REPLY_LIT(c, "+OK\r\n");
}

static void cmd_incr(struct client *c, struct resp_arg *key, long long by) {
    struct entry *e = lookup(key);
    long long v = 0;
    char t[24];
    size_t n;
    if (e && resp_strict_ll(e->val, e->vlen, &v) != 0) {
        reply_err_str(c, ERR_NOT_INT);
        return;
    }
    if ((by < 0 && v < LLONG_MIN - by) || (by > 0 && v > LLONG_MAX - by)) {
        reply_err_str(c, "increment or decrement would overflow");
        return;
    }
    v += by;
    n = fmt_ll(t, v);
    if (store(key, t, n, 0, 1) != 0) {
        reply_err_str(c, "out of memory");
        return;
    }
    reply_int(c, v);
}

static void cmd_expire(struct client *c, struct resp_arg *a, size_t argc, int seconds) {
    enum { NX = 1, XX = 2, GT = 4, LT = 8 };
    int flags = 0;
    size_t j;
    long long v, when, now;
    struct entry *e;
    for (j = 3; j < argc; j++) {
        if (arg_is(&a[j], "nx")) flags |= NX;
        else if (arg_is(&a[j], "xx")) flags |= XX;
        else if (arg_is(&a[j], "gt")) flags |= GT;
        else if (arg_is(&a[j], "lt")) flags |= LT;
        else {
            char m[200];
            int n = snprintf(m, sizeof m, "Unsupported option %.*s", (int)(a[j].len > 128 ? 128 : a[j].len), a[j].p);
            reply_err(c, m, (size_t)n);
            return;
        }
    }
    if ((flags & NX) && (flags & (XX | GT | LT))) {
        reply_err_str(c, "NX and XX, GT or LT options at the same time are not compatible");
        return;
    }
    if ((flags & GT) && (flags & LT)) {
        reply_err_str(c, "GT and LT options at the same time are not compatible");
        return;
    }
    if (arg_ll(&a[2], &v) != 0) {
        reply_err_str(c, ERR_NOT_INT);
        return;
    }
    now = now_ms();
    if (seconds && (v > LLONG_MAX / 1000 || v < LLONG_MIN / 1000)) {
        reply_err_str(c, seconds ? "invalid expire time in 'expire' command" : "invalid expire time in 'pexpire' command");
        return;
    }
    if (seconds) v *= 1000;
    if (v > 0 && v > LLONG_MAX - now) { /* (now > 0: a negative v cannot underflow) */
        reply_err_str(c, seconds ? "invalid expire time in 'expire' command" : "invalid expire time in 'pexpire' command");
        return;
    }
    when = v + now;
    if (!(e = lookup(&a[1]))) {
        REPLY_LIT(c, ":0\r\n");
        return;
    }
    if (((flags & NX) && e->expire) || ((flags & XX) && !e->expire) ||
        ((flags & GT) && (!e->expire || when <= e->expire)) ||
        ((flags & LT) && e->expire && when >= e->expire)) {
        REPLY_LIT(c, ":0\r\n");
        return;
    }
    if (when <= now) delete_key(&a[1]);
    else e->expire = when;
    REPLY_LIT(c, ":1\r\n");
}

static void cmd_unknown(struct client *c, struct resp_arg *a, size_t argc) {
    /* Redis: "unknown command '<name, up to 128 bytes>', with args beginning with: " then
       "'<arg>' " for arguments while what was added stays under 128 bytes */
    char m[600];
    size_t n, args = 0, j;
    n = (size_t)snprintf(m, sizeof m, "unknown command '%.*s', with args beginning with: ",
                         (int)(a[0].len > 128 ? 128 : a[0].len), a[0].p);
    for (j = 1; j < argc && args < 128; j++) {
        size_t take = a[j].len < 128 - args ? a[j].len : 128 - args;
        m[n++] = '\'';
        memcpy(m + n, a[j].p, take);
        n += take;
        m[n++] = '\'';
        m[n++] = ' ';
        args += take + 3;
    }
    reply_err(c, m, n);
}

struct command {
    const char *name;
    int arity; /* as Redis: n exactly, -n at least */
};
static const struct command commands[] = {
    {"get", 2},      {"set", -3},    {"ping", -1},   {"del", -2},     {"incr", 2},
    {"decr", 2},     {"incrby", 3},  {"expire", -3}, {"pexpire", -3}, {"ttl", 2},
    {"pttl", 2},     {"persist", 2}, {"mget", -2},   {"mset", -3},    {"exists", -2},
    {"echo", 2},     {"dbsize", 1},  {"flushall", -1}, {"select", 2}, {"quit", -1},
    {"command", -1}, {"config", -2}};

static void run(struct client *c, struct resp_arg *a, size_t argc) {
    const struct command *cmd = NULL;
    size_t i;
    long long v;
    srv.commands++;
    for (i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (arg_is(&a[0], commands[i].name)) {
            cmd = &commands[i];
            break;
        }
    if (!cmd) {
        cmd_unknown(c, a, argc);
        return;
    }
    if ((cmd->arity > 0 && (size_t)cmd->arity != argc) || (cmd->arity < 0 && argc < (size_t)-cmd->arity) ||
        (i == 2 && argc > 2) || (i == 13 && argc % 2 == 0)) { /* PING takes at most one; MSET pairs */
        reply_arity(c, cmd->name);
        return;
    }
    switch (i) {
    case 0: { /* get */
        struct entry *e = lookup(&a[1]);
        if (e) reply_bulk(c, e->val, e->vlen);
        else REPLY_LIT(c, "$-1\r\n");
        break;
    }
    case 1: cmd_set(c, a, argc); break;
    case 2: /* ping */
        if (argc == 2) reply_bulk(c, a[1].p, a[1].len);
        else REPLY_LIT(c, "+PONG\r\n");
        break;
    case 3: { /* del */
        long long n = 0;
        for (i = 1; i < argc; i++) n += delete_key(&a[i]);
        reply_int(c, n);
        break;
    }
    case 4: cmd_incr(c, &a[1], 1); break;
    case 5: cmd_incr(c, &a[1], -1); break;
    case 6:
        if (arg_ll(&a[2], &v) != 0) reply_err_str(c, ERR_NOT_INT);
        else cmd_incr(c, &a[1], v);
        break;
    case 7: cmd_expire(c, a, argc, 1); break;
    case 8: cmd_expire(c, a, argc, 0); break;
    case 9:
    case 10: { /* ttl, pttl */
        struct entry *e = lookup(&a[1]);
        long long left;
        if (!e) REPLY_LIT(c, ":-2\r\n");
        else if (!e->expire) REPLY_LIT(c, ":-1\r\n");
        else {
            left = ttl_left(e, now_ms());
            reply_int(c, i == 9 ? (left + 500) / 1000 : left);
        }
        break;
    }
    case 11: { /* persist */
        struct entry *e = lookup(&a[1]);
        if (e && e->expire) {
            e->expire = 0;
            REPLY_LIT(c, ":1\r\n");
        } else {
            REPLY_LIT(c, ":0\r\n");
        }
        break;
    }
    case 12: /* mget */
        reply_array(c, argc - 1);
        for (i = 1; i < argc; i++) {
            struct entry *e = lookup(&a[i]);
            if (e) reply_bulk(c, e->val, e->vlen);
            else REPLY_LIT(c, "$-1\r\n");
        }
        break;
    case 13: /* mset */
        for (i = 1; i + 1 < argc; i += 2)
            if (store(&a[i], a[i + 1].p, a[i + 1].len, 0, 0) != 0) {
                reply_err_str(c, "out of memory");
                return;
            }
        REPLY_LIT(c, "+OK\r\n");
        break;
    case 14: { /* exists */
        long long n = 0;
        for (i = 1; i < argc; i++) n += lookup(&a[i]) != NULL;
        reply_int(c, n);
        break;
    }
    case 15: reply_bulk(c, a[1].p, a[1].len); break;
    case 16: reply_int(c, (long long)db.count); break;
    case 17: /* flushall */
        if (argc > 2 || (argc == 2 && !arg_is(&a[1], "async") && !arg_is(&a[1], "sync"))) {
            reply_err_str(c, ERR_SYNTAX);
            break;
        }
        flush_all();
        REPLY_LIT(c, "+OK\r\n");
        break;
    case 18: /* select: this server has database 0 only */
        if (arg_ll(&a[1], &v) != 0) reply_err_str(c, "value is not an integer or out of range");
        else if (v != 0) reply_err_str(c, "DB index is out of range");
        else REPLY_LIT(c, "+OK\r\n");
        break;
    case 19: /* quit */
        REPLY_LIT(c, "+OK\r\n");
        c->close_after = 1;
        break;
    case 21: /* config: GET of the two settings clients ask about (no persistence here) */
        if (!arg_is(&a[1], "get") || argc < 3) {
            REPLY_LIT(c, "*0\r\n");
            break;
        }
        {
            int save = 0, aof = 0;
            for (i = 2; i < argc; i++) {
                save |= arg_is(&a[i], "save");
                aof |= arg_is(&a[i], "appendonly");
            }
            reply_array(c, (size_t)(save + aof) * 2);
            if (save) REPLY_LIT(c, "$4\r\nsave\r\n$0\r\n\r\n");
            if (aof) REPLY_LIT(c, "$10\r\nappendonly\r\n$2\r\nno\r\n");
        }
        break;
    default: /* command: nothing to tell */
        REPLY_LIT(c, "*0\r\n");
        break;
    }
}

/* >>connections */
static void client_cleanup(void *arg) {
    struct client *c = (struct client *)arg;
    if (c->prev) c->prev->next = c->next;
    else srv.clients = c->next;
    if (c->next) c->next->prev = c->prev;
    coro_close(c->fd);
    free(c->in);
    free(c->out);
    if (c->argv != c->inline_args) free(c->argv);
}

/* Run every complete command in the input, then drop the bytes they used. 0, or -1 when the
   connection is to be closed after the replies are written. */
static int run_input(struct client *c) {
    size_t pos = 0;
    int rc = 0;
    while (pos < c->in_len && !c->close_after) {
        size_t argc;
        const char *err;
        long r = resp_parse(c->in + pos, c->in_len - pos, c->argv, c->argv_cap, &argc, &err);
        if (r == RESP_NEED_ARGS) {
            /* grow to what the command announces, but only as its arguments arrive (a client
               cannot make us allocate for a billion arguments with one line) */
            size_t want = argc, have_bytes = c->in_len - pos;
            struct resp_arg *n;
            if (want > have_bytes / 4 + ARGS_INLINE) break; /* each argument is at least "$0\r\n\r\n" */
            n = (struct resp_arg *)malloc(want * sizeof *n);
            if (!n) {
                reply_err_str(c, "out of memory");
                rc = -1;
                break;
            }
            if (c->argv != c->inline_args) free(c->argv);
            c->argv = n;
            c->argv_cap = want;
            continue;
        }
        if (r == RESP_INCOMPLETE) break;
        if (r == RESP_ERROR) {
            reply_err_str(c, err);
            rc = -1;
            break;
        }
        pos += (size_t)r;
        if (argc > 0) run(c, c->argv, argc);
    }
    if (pos) {
        memmove(c->in, c->in + pos, c->in_len - pos);
        c->in_len -= pos;
    }
    if (c->argv != c->inline_args && c->argv_cap > 1024 && c->in_len == 0) { /* a huge one passed */
        free(c->argv);
        c->argv = c->inline_args;
        c->argv_cap = ARGS_INLINE;
    }
    return c->close_after ? -1 : rc;
}

static void serve(struct client *c) {
    for (;;) {
        ssize_t n;
        int rc;
        if (c->in_cap - c->in_len < READ_CHUNK / 2) {
            size_t cap = c->in_cap ? c->in_cap * 2 : READ_CHUNK;
            char *p = (char *)realloc(c->in, cap);
            if (!p) return;
            c->in = p;
            c->in_cap = cap;
        }
        n = coro_read(c->fd, c->in + c->in_len, c->in_cap - c->in_len, -1);
        if (n <= 0) return; /* closed, failed, or cancelled at shutdown */
        c->in_len += (size_t)n;
        rc = run_input(c);
        if (c->out_len) {
            if (coro_write(c->fd, c->out, c->out_len, -1) < 0) return;
            c->out_len = 0;
            if (c->out_cap > (1u << 20)) { /* a big reply passed: give its memory back */
                free(c->out);
                c->out = NULL;
                c->out_cap = 0;
            }
        }
        if (rc < 0) return;
        if (c->in_len == 0 && c->in_cap > (1u << 20)) { /* likewise a big request */
            free(c->in);
            c->in = NULL;
            c->in_cap = 0;
        }
    }
}

static void *kv_conn(void *arg) {
    struct client self;
    memset(&self, 0, sizeof self);
    self.fd = (int)(intptr_t)arg;
    self.argv = self.inline_args;
    self.argv_cap = ARGS_INLINE;
    if (srv.stopping) {
        coro_close(self.fd);
        return NULL;
    }
    self.co = coro_current();
    self.next = srv.clients;
    if (srv.clients) srv.clients->prev = &self;
    srv.clients = &self;
    if (coro_defer(client_cleanup, &self) != 0) {
        client_cleanup(&self);
        return NULL;
    }
    srv.connections++;
    {
        int one = 1;
        setsockopt(self.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }
    serve(&self);
    coro_defer_pop(1); /* run the cleanup while `self` is alive */
    return NULL;
}

static void *acceptor(void *arg) {
    int fd;
    (void)arg;
    while ((fd = coro_accept(srv.lfd, NULL, NULL, -1)) >= 0) {
        coro_t *co = coro_spawn(kv_conn, (void *)(intptr_t)fd, 0);
        if (!co) {
            fprintf(stderr, "kv: cannot start a coroutine: %s\n", strerror(errno));
            coro_close(fd);
            continue;
        }
        coro_set_name(co, "kv-conn");
    }
    if (!srv.stopping) fprintf(stderr, "kv: accept: %s\n", strerror(errno));
    return NULL;
}

static void *signals(void *arg) {
    sigset_t set;
    struct client *c, *next;
    coro_t *sweep = (coro_t *)arg;
    int sig;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sig = coro_signal_wait(&set, -1);
    if (sig > 0) fprintf(stderr, "kv: %s, stopping\n", sig == SIGINT ? "SIGINT" : "SIGTERM");
    srv.stopping = 1;
    coro_close(srv.lfd);
    for (c = srv.clients; c; c = next) {
        next = c->next;
        coro_raise(c->co, ECANCELED);
    }
    coro_raise(sweep, ECANCELED);
    return NULL;
}

static void *announce(void *arg) {
    (void)arg;
    printf("listening on %s:%d\n", srv.addr, coro_tcp_port(srv.lfd));
    fflush(stdout);
    return NULL;
}

int main(int argc, char **argv) {
    int opt, port = 0;
    coro_t *sweep;
    struct timespec ts;
    srv.addr = "127.0.0.1";
    while ((opt = getopt(argc, argv, "p:b:h")) != -1) {
        char *end;
        long v;
        switch (opt) {
        case 'p':
            errno = 0;
            v = strtol(optarg, &end, 10);
            if (errno || end == optarg || *end || v < 0 || v > 65535) {
                fprintf(stderr, "kv: -p: '%s' is not a port (0..65535)\n", optarg);
                return 2;
            }
            port = (int)v;
            break;
        case 'b': srv.addr = optarg; break;
        case 'h':
            printf("usage: kv [-p PORT] [-b ADDR] [-h]\n"
                   "  -p PORT  port to listen on, 0 = any free port (default 0)\n"
                   "  -b ADDR  address to bind (default 127.0.0.1)\n");
            return 0;
        default: fprintf(stderr, "usage: kv [-p PORT] [-b ADDR] [-h]\n"); return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "kv: unexpected argument '%s'\n", argv[optind]);
        return 2;
    }
    clock_gettime(CLOCK_MONOTONIC, &ts);
    db.seed = ((uint64_t)ts.tv_nsec << 20) ^ (uint64_t)ts.tv_sec ^ ((uint64_t)getpid() << 40);
    db.nb = 1024;
    if (!(db.b = (struct entry **)calloc(db.nb, sizeof *db.b))) return 1;
    if ((srv.lfd = coro_tcp_listen(srv.addr, port, 1024)) < 0) {
        fprintf(stderr, "kv: listen on %s:%d: %s\n", srv.addr, port, strerror(errno));
        return 1;
    }
    if (!(sweep = coro_spawn(sweeper, NULL, 0)) || !coro_spawn(signals, sweep, 0) ||
        !coro_spawn(acceptor, NULL, 0) || !coro_spawn(announce, NULL, 0)) {
        fprintf(stderr, "kv: cannot start: %s\n", strerror(errno));
        return 1;
    }
    if (coro_run() != 0) fprintf(stderr, "kv: coro_run: %s\n", strerror(errno));
    coro_sched_free();
    printf("kv: %llu commands on %llu connections, %zu keys\n", srv.commands, srv.connections, db.count);
    flush_all();
    free(db.b);
    return 0;
}
