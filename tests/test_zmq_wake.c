/* test_zmq_wake.c - coro_zmq.h when several coroutines use one ZeroMQ socket: no wake-up is
   lost. ZMQ_FD signals once per batch of ZeroMQ's internal commands, and any operation on the
   socket (a send, a receive, a look at ZMQ_EVENTS) may be the one that reads that signal. Each
   case here makes a coroutine wait to receive, puts a message on its way, and has another
   operation on the same socket take the signal before the loop sees it: the waiter must get
   the message anyway. Every wait has a deadline of seconds, so a lost wake-up fails the check
   instead of hanging. Also: the watch of the fd passes on when its waiter leaves (message,
   timeout, kill), and closing the socket wakes every waiter. */
#define CORO_IMPLEMENTATION
#define CORO_SCHED_IMPLEMENTATION
#define CORO_ZMQ_IMPLEMENTATION
#include "../coro_zmq.h"
#include "check.h"

#include <stdint.h>

#ifndef ZMQ_ROUTING_ID
#define ZMQ_ROUTING_ID ZMQ_IDENTITY /* (libzmq before 4.2.3) */
#endif

#define WAIT 5000 /* ms: a deadline only a lost wake-up reaches */
#define ROUNDS 50

static void *ctx;
static int endpoints;

static int64_t in_ms(int64_t ms) { return coro_now() + ms; }

static void *sock(int type) {
    void *s = zmq_socket(ctx, type);
    int zero = 0;
    CHECK(s != NULL);
    CHECK(zmq_setsockopt(s, ZMQ_LINGER, &zero, sizeof zero) == 0);
    return s;
}

/* a bound and a connected socket over inproc://: a send on one signals the other's ZMQ_FD at
   once, from this thread, so the order of events below is exact. hwm: the bound socket's send
   and the other's receive high-water mark (0: ZeroMQ's); id: the connected one's routing id */
static void pair_opt(int bind_type, int conn_type, int hwm, const char *id, void **b, void **c) {
    char ep[64];
    snprintf(ep, sizeof ep, "inproc://wake-%d", endpoints++);
    *b = sock(bind_type);
    *c = sock(conn_type);
    if (hwm) {
        CHECK(zmq_setsockopt(*b, ZMQ_SNDHWM, &hwm, sizeof hwm) == 0);
        CHECK(zmq_setsockopt(*c, ZMQ_RCVHWM, &hwm, sizeof hwm) == 0);
    }
    if (id) CHECK(zmq_setsockopt(*c, ZMQ_ROUTING_ID, id, strlen(id)) == 0);
    CHECK(zmq_bind(*b, ep) == 0);
    CHECK(zmq_connect(*c, ep) == 0);
}

static void pair_inproc(int bind_type, int conn_type, void **b, void **c) {
    pair_opt(bind_type, conn_type, 0, NULL, b, c);
}

/* a coroutine receiving one single-part message of one byte into *got (-1 on failure) */
struct one {
    void *s;
    int64_t deadline;
    int n, err;
    char c;
};

static void *recv_one(void *arg) {
    struct one *o = (struct one *)arg;
    o->n = coro_zmq_recv(o->s, &o->c, 1, 0, o->deadline);
    o->err = o->n < 0 ? errno : 0;
    return NULL;
}

static coro_t *spawn_joinable(coro_fn fn, void *arg) {
    coro_t *co = coro_spawn(fn, arg, 0);
    CHECK(co != NULL && coro_joinable(co) == 0);
    return co;
}

/* ---- a look at ZMQ_EVENTS by another coroutine takes the signal ------------------------------ */
/* (what a coroutine waiting to send on the socket does while one waits to receive on it; every
   other round a raw zmq_getsockopt does it, followed by the look coro_zmq.h asks for then) */
static void *events_take_the_signal(void *arg) {
    int i;
    (void)arg;
    for (i = 0; i < ROUNDS; i++) {
        void *s, *p;
        struct one o;
        coro_t *r;
        pair_inproc(ZMQ_PAIR, ZMQ_PAIR, &s, &p);
        memset(&o, 0, sizeof o);
        o.s = s;
        o.deadline = in_ms(WAIT);
        r = spawn_joinable(recv_one, &o);
        CHECK(coro_sched_yield() == 0); /* r runs: nothing there, it waits on s's fd */
        CHECK(coro_zmq_send(p, "x", 1, 0, in_ms(WAIT)) == 1); /* signals s's fd */
        if (i % 2 == 0) {
            CHECK(coro_zmq_wait(s, ZMQ_POLLOUT, 0) == ZMQ_POLLOUT); /* reads that signal */
        } else { /* a raw call reads it; a look with a deadline of 0 passes the events on */
            int ev = 0;
            size_t len = sizeof ev;
            CHECK(zmq_getsockopt(s, ZMQ_EVENTS, &ev, &len) == 0);
            CHECK(ev == (ZMQ_POLLIN | ZMQ_POLLOUT));
            CHECK(coro_zmq_wait(s, ZMQ_POLLIN | ZMQ_POLLOUT, 0) == (ZMQ_POLLIN | ZMQ_POLLOUT));
        }
        CHECK(coro_join(r, NULL, in_ms(2 * WAIT)) == 0);
        CHECK(o.n == 1 && o.c == 'x');
        CHECK(coro_zmq_close(s) == 0 && coro_zmq_close(p) == 0);
        if (o.n != 1) break; /* one lost wake-up is enough: do not wait out 50 deadlines */
    }
    return NULL;
}

static void test_events_take_the_signal(void) {
    CHECK(coro_spawn(events_take_the_signal, NULL, 0) != NULL);
    CHECK(coro_run() == 0);
}

/* ---- a send by another coroutine takes the signal: a ROUTER server's replier ----------------- */
/* One coroutine waits for requests on a ROUTER while another sends a reply on it; ZeroMQ looks
   at its commands in a send only when about a millisecond has passed since it last looked in
   one, so the replier sleeps 10 ms first: then its send always reads the signal of the request
   that has just come in. */
struct request {
    void *router;
    int64_t deadline;
    int id_n, body_n;
    char id[16], body[16];
};

static void *recv_request(void *arg) {
    struct request *q = (struct request *)arg;
    q->id_n = coro_zmq_recv(q->router, q->id, sizeof q->id, 0, q->deadline);
    if (q->id_n > 0) q->body_n = coro_zmq_recv(q->router, q->body, sizeof q->body, 0, q->deadline);
    return NULL;
}

static void *send_takes_the_signal(void *arg) {
    void *router, *dealer;
    char buf[16];
    int i;
    (void)arg;
    pair_opt(ZMQ_ROUTER, ZMQ_DEALER, 0, "peer", &router, &dealer);
    for (i = 0; i < ROUNDS; i++) {
        struct request q;
        coro_t *r;
        memset(&q, 0, sizeof q);
        q.router = router;
        q.deadline = in_ms(WAIT);
        r = spawn_joinable(recv_request, &q);
        CHECK(coro_sleep(10) == 0); /* r waits on the ROUTER's fd meanwhile */
        CHECK(coro_zmq_send(dealer, "ask", 3, 0, in_ms(WAIT)) == 3);
        if (i > 0) { /* the reply to the previous request, sent right after this one came in */
            CHECK(coro_zmq_send(router, "peer", 4, ZMQ_SNDMORE, in_ms(WAIT)) == 4);
            CHECK(coro_zmq_send(router, "ANSWER", 6, 0, in_ms(WAIT)) == 6);
        }
        CHECK(coro_join(r, NULL, in_ms(2 * WAIT)) == 0);
        CHECK(q.id_n == 4 && memcmp(q.id, "peer", 4) == 0);
        CHECK(q.body_n == 3 && memcmp(q.body, "ask", 3) == 0);
        if (i > 0) CHECK(coro_zmq_recv(dealer, buf, sizeof buf, 0, in_ms(WAIT)) == 6);
        if (q.body_n != 3) break;
    }
    CHECK(coro_zmq_close(router) == 0 && coro_zmq_close(dealer) == 0);
    return NULL;
}

static void test_send_takes_the_signal(void) {
    CHECK(coro_spawn(send_takes_the_signal, NULL, 0) != NULL);
    CHECK(coro_run() == 0);
}

/* ---- the same socket from main, between two runs of the loop --------------------------------- */
static void *stopper(void *arg) {
    (void)arg;
    coro_stop();
    return NULL;
}

static void test_main_takes_the_signal(void) {
    void *s, *p;
    struct one o;
    coro_t *r;
    pair_inproc(ZMQ_PAIR, ZMQ_PAIR, &s, &p);
    memset(&o, 0, sizeof o);
    o.s = s;
    o.deadline = in_ms(WAIT);
    CHECK((r = coro_spawn(recv_one, &o, 0)) != NULL);
    CHECK(coro_spawn(stopper, NULL, 0) != NULL);
    CHECK(coro_run() == 0); /* r waits on s's fd; the loop stops */
    CHECK(coro_zmq_send(p, "m", 1, 0, in_ms(WAIT)) == 1);
    CHECK(coro_zmq_wait(s, ZMQ_POLLOUT, 0) == ZMQ_POLLOUT); /* from main: reads the signal */
    CHECK(coro_run() == 0);
    CHECK(o.n == 1 && o.c == 'm');
    CHECK(coro_zmq_close(s) == 0 && coro_zmq_close(p) == 0);
}

/* ---- one coroutine waits to receive, another to send, on one socket -------------------------- */
struct both {
    void *s;
    int sent, got;
};

static void *both_send(void *arg) {
    struct both *b = (struct both *)arg;
    b->sent = coro_zmq_send(b->s, "out", 3, 0, in_ms(WAIT));
    return NULL;
}

static void *both_recv(void *arg) {
    struct both *b = (struct both *)arg;
    char c;
    b->got = coro_zmq_recv(b->s, &c, 1, 0, in_ms(WAIT));
    return NULL;
}

static void *two_directions(void *arg) {
    int order, i;
    (void)arg;
    for (order = 0; order < 2; order++)
        for (i = 0; i < ROUNDS / 5; i++) {
            void *s, *p;
            struct both b;
            coro_t *x, *y;
            char buf[8];
            int queued = 0;
            pair_opt(ZMQ_PAIR, ZMQ_PAIR, 1, NULL, &s, &p);
            while (queued < 100 && coro_zmq_send(s, "fill", 4, ZMQ_DONTWAIT, -1) == 4) queued++;
            CHECK(queued > 0 && queued < 100 && errno == EAGAIN); /* s cannot send now */
            memset(&b, 0, sizeof b);
            b.s = s;
            b.sent = b.got = -2;
            /* either may be the one that waits on the fd */
            x = spawn_joinable(order ? both_send : both_recv, &b);
            y = spawn_joinable(order ? both_recv : both_send, &b);
            CHECK(coro_sched_yield() == 0); /* both wait */
            CHECK(coro_zmq_send(p, "i", 1, 0, in_ms(WAIT)) == 1);
            while (queued-- > 0) CHECK(coro_zmq_recv(p, buf, sizeof buf, 0, in_ms(WAIT)) == 4);
            CHECK(coro_join(x, NULL, in_ms(2 * WAIT)) == 0);
            CHECK(coro_join(y, NULL, in_ms(2 * WAIT)) == 0);
            CHECK(b.sent == 3 && b.got == 1);
            CHECK(coro_zmq_recv(p, buf, sizeof buf, 0, in_ms(WAIT)) == 3);
            CHECK(coro_zmq_close(s) == 0 && coro_zmq_close(p) == 0);
        }
    return NULL;
}

static void test_two_directions(void) {
    CHECK(coro_spawn(two_directions, NULL, 0) != NULL);
    CHECK(coro_run() == 0);
}

/* ---- the waiter on the fd leaves: the next one takes over ------------------------------------ */
static void *hand_over(void *arg) {
    void *s, *p;
    struct one a, b, c;
    coro_t *ra, *rb, *rc;
    int k;
    (void)arg;
    pair_inproc(ZMQ_PULL, ZMQ_PUSH, &s, &p);
    memset(&a, 0, sizeof a);
    memset(&b, 0, sizeof b);
    memset(&c, 0, sizeof c);
    a.s = b.s = c.s = s;
    a.deadline = in_ms(50); /* a waits first (on the fd) and times out */
    b.deadline = c.deadline = in_ms(WAIT);
    ra = spawn_joinable(recv_one, &a);
    rb = spawn_joinable(recv_one, &b);
    rc = spawn_joinable(recv_one, &c);
    CHECK(coro_join(ra, NULL, in_ms(WAIT)) == 0);
    CHECK(a.n == -1 && a.err == ETIMEDOUT);
    CHECK(coro_zmq_send(p, "1", 1, 0, in_ms(WAIT)) == 1); /* b or c: the other one waits on */
    for (k = 0; k < WAIT && b.n != 1 && c.n != 1; k++) coro_sleep(1);
    CHECK((b.n == 1) + (c.n == 1) == 1);
    if (b.n == 1) { /* the one left is killed: nothing of it may stay behind */
        CHECK(coro_kill(rc) == 0 && coro_join(rc, NULL, in_ms(WAIT)) == 0);
        CHECK(coro_join(rb, NULL, in_ms(WAIT)) == 0);
    } else {
        CHECK(coro_kill(rb) == 0 && coro_join(rb, NULL, in_ms(WAIT)) == 0);
        CHECK(coro_join(rc, NULL, in_ms(WAIT)) == 0);
    }
    /* killed while waiting on the fd, with another waiting behind it */
    memset(&a, 0, sizeof a);
    memset(&b, 0, sizeof b);
    a.s = b.s = s;
    a.deadline = b.deadline = in_ms(WAIT);
    ra = spawn_joinable(recv_one, &a);
    rb = spawn_joinable(recv_one, &b);
    CHECK(coro_sched_yield() == 0);
    CHECK(coro_kill(ra) == 0 && coro_join(ra, NULL, in_ms(WAIT)) == 0);
    CHECK(coro_zmq_send(p, "2", 1, 0, in_ms(WAIT)) == 1);
    CHECK(coro_join(rb, NULL, in_ms(2 * WAIT)) == 0);
    CHECK(b.n == 1 && b.c == '2');
    CHECK(coro_zmq_close(s) == 0 && coro_zmq_close(p) == 0);
    return NULL;
}

static void test_hand_over(void) {
    CHECK(coro_spawn(hand_over, NULL, 0) != NULL);
    CHECK(coro_run() == 0);
}

/* ---- closing the socket wakes every waiter --------------------------------------------------- */
static void *close_wakes(void *arg) {
    void *s, *p;
    struct one a, b;
    coro_t *ra, *rb;
    int64_t t0 = coro_now();
    (void)arg;
    pair_inproc(ZMQ_PULL, ZMQ_PUSH, &s, &p);
    memset(&a, 0, sizeof a);
    memset(&b, 0, sizeof b);
    a.s = b.s = s;
    a.deadline = b.deadline = in_ms(WAIT);
    ra = spawn_joinable(recv_one, &a);
    rb = spawn_joinable(recv_one, &b);
    CHECK(coro_sched_yield() == 0);
    CHECK(coro_zmq_close(s) == 0);
    CHECK(coro_join(ra, NULL, in_ms(2 * WAIT)) == 0 && coro_join(rb, NULL, in_ms(2 * WAIT)) == 0);
    CHECK(a.n == -1 && a.err == ENOTSOCK && b.n == -1 && b.err == ENOTSOCK);
    CHECK(coro_now() - t0 < WAIT);
    CHECK(coro_zmq_close(p) == 0);
    return NULL;
}

static void test_close_wakes(void) {
    CHECK(coro_spawn(close_wakes, NULL, 0) != NULL);
    CHECK(coro_run() == 0);
}

int main(void) {
    ctx = zmq_ctx_new();
    CHECK(ctx != NULL);
    RUN(test_events_take_the_signal);
    RUN(test_send_takes_the_signal);
    RUN(test_main_takes_the_signal);
    RUN(test_two_directions);
    RUN(test_hand_over);
    RUN(test_close_wakes);
    coro_sched_free();
    CHECK(zmq_ctx_term(ctx) == 0);
    return check_done();
}
