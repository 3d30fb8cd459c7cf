/* test_zmq.c - coro_zmq.h in one process: bursts of messages behind one edge of ZMQ_FD (all of
   them received), back-pressure at a small high-water mark (the sender waits, the loop keeps
   running), deadlines, ZMQ_DONTWAIT, a REQ socket's state machine error, two coroutines
   receiving from one socket, sockets opened and closed in a row (the scheduler forgets each
   notification fd), a context shut down under a waiting coroutine (ETERM), calls from main and
   misuse. The two-process tests against pyzmq are in tests/zmq_test.sh. */
#define CORO_IMPLEMENTATION
#define CORO_SCHED_IMPLEMENTATION
#define CORO_ZMQ_IMPLEMENTATION
#include "../coro_zmq.h"
#include "check.h"

#include <stdint.h>

#define P(x) ((void *)(intptr_t)(x))

static void *ctx;
static int ticks;

static int64_t in_ms(int64_t ms) { return coro_now() + ms; }

static void *sock(int type, int hwm) {
    void *s = zmq_socket(ctx, type);
    int zero = 0;
    CHECK(s != NULL);
    CHECK(zmq_setsockopt(s, ZMQ_LINGER, &zero, sizeof zero) == 0);
    if (hwm) { /* with small kernel buffers too, so that the high-water marks are what bites */
        int buf = 16 * 1024;
        CHECK(zmq_setsockopt(s, ZMQ_SNDHWM, &hwm, sizeof hwm) == 0);
        CHECK(zmq_setsockopt(s, ZMQ_RCVHWM, &hwm, sizeof hwm) == 0);
        CHECK(zmq_setsockopt(s, ZMQ_SNDBUF, &buf, sizeof buf) == 0);
        CHECK(zmq_setsockopt(s, ZMQ_RCVBUF, &buf, sizeof buf) == 0);
    }
    return s;
}

/* a bound and a connected socket over tcp on loopback */
static void pair_tcp(int bind_type, int conn_type, int hwm, void **b, void **c) {
    char ep[128];
    size_t len = sizeof ep;
    *b = sock(bind_type, hwm);
    *c = sock(conn_type, hwm);
    CHECK(zmq_bind(*b, "tcp://127.0.0.1:*") == 0);
    CHECK(zmq_getsockopt(*b, ZMQ_LAST_ENDPOINT, ep, &len) == 0);
    CHECK(zmq_connect(*c, ep) == 0);
}

static void *ticker(void *arg) {
    (void)arg;
    while (coro_sleep(2) == 0) ticks++;
    return NULL;
}

/* ---- a burst, then back-pressure ----------------------------------------------------------- */
#define BURST 2000
struct flow {
    void *push, *pull;
    int sent, got, in_order, waits_seen;
    int size; /* each message padded to this many bytes (at most MSG_MAX), if longer */
};
#define MSG_MAX 4096

/* message i: "m<i>", padded with 'x' to f->size bytes */
static int flow_msg(const struct flow *f, char *msg, int i) {
    int len = snprintf(msg, 32, "m%d", i);
    if (f->size > len) {
        memset(msg + len, 'x', (size_t)(f->size - len));
        len = f->size;
    }
    return len;
}

static void *sender(void *arg) {
    struct flow *f = (struct flow *)arg;
    char msg[MSG_MAX];
    int i;
    for (i = 0; i < BURST; i++) {
        int len = flow_msg(f, msg, i);
        if (coro_zmq_send(f->push, msg, (size_t)len, 0, in_ms(10000)) != len) break;
        f->sent++;
    }
    return NULL;
}

static void *receiver(void *arg) {
    struct flow *f = (struct flow *)arg;
    char msg[MSG_MAX], want[MSG_MAX];
    int i;
    f->in_order = 1;
    for (i = 0; i < BURST; i++) {
        int n = coro_zmq_recv(f->pull, msg, sizeof msg, 0, in_ms(10000));
        int len = flow_msg(f, want, i);
        if (n < 0) break;
        f->got++;
        if (n != len || memcmp(msg, want, (size_t)len) != 0) f->in_order = 0;
    }
    return NULL;
}

/* all sent before the receiver first looks: many messages behind few notifications */
static void *burst_then_drain(void *arg) {
    struct flow *f = (struct flow *)arg;
    coro_t *s = coro_spawn(sender, f, 0);
    CHECK(s && coro_joinable(s) == 0 && coro_join(s, NULL, in_ms(10000)) == 0);
    CHECK(f->sent == BURST);
    coro_sleep(50); /* let the I/O threads deliver */
    receiver(f);
    return NULL;
}

static void test_burst(void) {
    struct flow f;
    memset(&f, 0, sizeof f);
    pair_tcp(ZMQ_PULL, ZMQ_PUSH, 0, &f.pull, &f.push);
    CHECK(coro_spawn(burst_then_drain, &f, 0) != NULL);
    CHECK(coro_run() == 0);
    CHECK(f.got == BURST && f.in_order);
    CHECK(coro_zmq_close(f.push) == 0 && coro_zmq_close(f.pull) == 0);
}

/* high-water mark 5 on both sides: the sender waits for the receiver again and again, and
   the loop keeps running other coroutines meanwhile. The messages are 4 KiB, 8 MB in all, far
   beyond what the high-water marks and the kernel's buffers hold: with short ones, all 2,000
   fitted in the kernel's buffers once, and the sender never waited. */
static void *backpressure(void *arg) {
    struct flow *f = (struct flow *)arg;
    coro_t *t = coro_spawn(ticker, NULL, 0), *s = coro_spawn(sender, f, 0), *r;
    CHECK(s && coro_joinable(s) == 0);
    coro_sleep(20); /* the sender fills the queues and waits */
    CHECK(f->sent < BURST);
    r = coro_spawn(receiver, f, 0);
    CHECK(r && coro_joinable(r) == 0);
    CHECK(coro_join(s, NULL, in_ms(20000)) == 0 && coro_join(r, NULL, in_ms(20000)) == 0);
    CHECK(ticks > 0);
    coro_kill(t);
    return NULL;
}

static void test_backpressure(void) {
    struct flow f;
    memset(&f, 0, sizeof f);
    f.size = MSG_MAX;
    pair_tcp(ZMQ_PULL, ZMQ_PUSH, 5, &f.pull, &f.push);
    CHECK(coro_spawn(backpressure, &f, 0) != NULL);
    CHECK(coro_run() == 0);
    CHECK(f.sent == BURST && f.got == BURST && f.in_order);
    CHECK(coro_zmq_close(f.push) == 0 && coro_zmq_close(f.pull) == 0);
}

/* ---- deadlines, DONTWAIT, state errors ------------------------------------------------------ */
static void *timeouts(void *arg) {
    void *pull = sock(ZMQ_PULL, 0), *req = sock(ZMQ_REQ, 0);
    char c;
    int64_t t0 = coro_now();
    (void)arg;
    CHECK(zmq_bind(pull, "inproc://nobody-sends") == 0);
    CHECK_ERR(coro_zmq_recv(pull, &c, 1, 0, in_ms(200)) < 0, ETIMEDOUT);
    CHECK(coro_now() - t0 >= 190);
    CHECK_ERR(coro_zmq_recv(pull, &c, 1, ZMQ_DONTWAIT, -1) < 0, EAGAIN);
    CHECK_ERR(coro_zmq_recv(pull, &c, 1, 0, 0) < 0, ETIMEDOUT); /* a past deadline: one look */
    CHECK_ERR(coro_zmq_wait(pull, ZMQ_POLLIN, in_ms(50)) < 0, ETIMEDOUT);
    CHECK_ERR(coro_zmq_recv(req, &c, 1, 0, in_ms(100)) < 0, EFSM); /* REQ must send first */
    /* a PUSH socket with no peer: the send waits (ZeroMQ queues nothing without a pipe) */
    {
        void *push = sock(ZMQ_PUSH, 0);
        CHECK_ERR(coro_zmq_send(push, "x", 1, 0, in_ms(100)) < 0, ETIMEDOUT);
        CHECK(coro_zmq_close(push) == 0);
    }
    CHECK(coro_zmq_close(pull) == 0 && coro_zmq_close(req) == 0);
    return NULL;
}

static void test_timeouts(void) {
    CHECK(coro_spawn(timeouts, NULL, 0) != NULL);
    CHECK(coro_run() == 0);
}

/* ---- two receivers on one socket (one waits on the fd, the other on its condition variable) */
static int shared_got;

static void *shared_recv(void *pull) {
    char msg[16];
    while (coro_zmq_recv(pull, msg, sizeof msg, 0, in_ms(300)) >= 0) shared_got++;
    CHECK(errno == ETIMEDOUT);
    return NULL;
}

static void *shared_send(void *push) {
    int i;
    for (i = 0; i < 100; i++) {
        CHECK(coro_zmq_send(push, "x", 1, 0, in_ms(1000)) == 1);
        if (i % 10 == 0) coro_sleep(5);
    }
    return NULL;
}

static void test_shared(void) {
    void *pull, *push;
    pair_tcp(ZMQ_PULL, ZMQ_PUSH, 0, &pull, &push);
    CHECK(coro_spawn(shared_recv, pull, 0) != NULL);
    CHECK(coro_spawn(shared_recv, pull, 0) != NULL);
    CHECK(coro_spawn(shared_send, push, 0) != NULL);
    CHECK(coro_run() == 0);
    CHECK(shared_got == 100);
    CHECK(coro_zmq_close(push) == 0 && coro_zmq_close(pull) == 0);
}

/* ---- sockets opened and closed in a row: fd numbers come back; nothing waits forever -------- */
static void *churn(void *arg) {
    int i, ok = 0;
    (void)arg;
    for (i = 0; i < 30; i++) {
        void *a, *b;
        char c;
        pair_tcp(ZMQ_PAIR, ZMQ_PAIR, 0, &a, &b);
        if (coro_zmq_send(b, "y", 1, 0, in_ms(2000)) == 1 &&
            coro_zmq_recv(a, &c, 1, 0, in_ms(2000)) == 1 && c == 'y')
            ok++;
        CHECK(coro_zmq_close(a) == 0 && coro_zmq_close(b) == 0);
    }
    CHECK(ok == 30);
    return NULL;
}

static void test_churn(void) {
    CHECK(coro_spawn(churn, NULL, 0) != NULL);
    CHECK(coro_run() == 0);
}

/* ---- the context goes away under a waiting coroutine ---------------------------------------- */
static void *ctx2;

static void *waits_forever(void *s) {
    char c;
    CHECK_ERR(coro_zmq_recv(s, &c, 1, 0, in_ms(5000)) < 0, ETERM);
    CHECK(coro_zmq_close(s) == 0);
    return NULL;
}

static void *terminator(void *arg) {
    (void)arg;
    coro_sleep(100);
    CHECK(zmq_ctx_shutdown(ctx2) == 0);
    return NULL;
}

static void test_term(void) {
    void *s;
    int zero = 0;
    int64_t t0 = coro_now();
    ctx2 = zmq_ctx_new();
    s = zmq_socket(ctx2, ZMQ_PULL);
    CHECK(s && zmq_setsockopt(s, ZMQ_LINGER, &zero, sizeof zero) == 0);
    CHECK(zmq_bind(s, "inproc://term") == 0);
    CHECK(coro_spawn(waits_forever, s, 0) != NULL);
    CHECK(coro_spawn(terminator, NULL, 0) != NULL);
    CHECK(coro_run() == 0);
    CHECK(coro_now() - t0 < 4000);
    CHECK(zmq_ctx_term(ctx2) == 0);
}

/* ---- from main; misuse ---------------------------------------------------------------------- */
static void test_main_and_misuse(void) {
    void *a, *b;
    char buf[8];
    zmq_msg_t m;
    pair_tcp(ZMQ_PAIR, ZMQ_PAIR, 0, &a, &b);
    CHECK(coro_zmq_send(a, "main", 4, 0, in_ms(2000)) == 4); /* blocks in zmq_poll */
    CHECK(coro_zmq_recv(b, buf, sizeof buf, 0, in_ms(2000)) == 4 && memcmp(buf, "main", 4) == 0);
    CHECK_ERR(coro_zmq_recv(b, buf, sizeof buf, 0, in_ms(100)) < 0, ETIMEDOUT);
    CHECK(zmq_msg_init_size(&m, 3) == 0);
    memcpy(zmq_msg_data(&m), "msg", 3);
    CHECK(coro_zmq_msg_send(&m, a, 0, in_ms(2000)) == 3);
    CHECK(zmq_msg_init(&m) == 0);
    CHECK(coro_zmq_msg_recv(&m, b, 0, in_ms(2000)) == 3 && memcmp(zmq_msg_data(&m), "msg", 3) == 0);
    CHECK(zmq_msg_close(&m) == 0);
    CHECK_ERR(coro_zmq_send(NULL, "x", 1, 0, 0) < 0, EINVAL);
    CHECK_ERR(coro_zmq_recv(NULL, buf, 1, 0, 0) < 0, EINVAL);
    CHECK_ERR(coro_zmq_recv(a, NULL, 1, 0, 0) < 0, EINVAL);
    CHECK_ERR(coro_zmq_msg_send(NULL, a, 0, 0) < 0, EINVAL);
    CHECK_ERR(coro_zmq_msg_recv(&m, NULL, 0, 0) < 0, EINVAL);
    CHECK_ERR(coro_zmq_wait(a, 0, 0) < 0, EINVAL);
    CHECK_ERR(coro_zmq_wait(a, 64, 0) < 0, EINVAL);
    CHECK_ERR(coro_zmq_close(NULL) < 0, EINVAL);
    CHECK(coro_zmq_wait(a, ZMQ_POLLOUT, 0) == ZMQ_POLLOUT);
    CHECK(coro_zmq_close(a) == 0 && coro_zmq_close(b) == 0);
}

int main(void) {
    ctx = zmq_ctx_new();
    CHECK(ctx != NULL);
    RUN(test_burst);
    RUN(test_backpressure);
    RUN(test_timeouts);
    RUN(test_shared);
    RUN(test_churn);
    RUN(test_term);
    RUN(test_main_and_misuse);
    coro_sched_free();
    CHECK(zmq_ctx_term(ctx) == 0);
    return check_done();
}
