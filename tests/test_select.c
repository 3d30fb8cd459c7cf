/* test_select.c - coro_chan_select: misuse, a fair pick among ready ops, send and recv mixed,
   deadlines, close and free while a select waits (and which op reports EPIPE), kill and raise
   of a waiting select (nothing left on any channel), the same channel twice, two selects
   completing each other, a plain thread's select, and four threads hammering selects whose
   values are all accounted for while deadlines race completions.
   And coro_bcast_*: every subscriber gets every message in order, a full queue makes the
   publisher wait, a subscriber still full at the deadline is dropped and told (ENOBUFS after
   what was queued), unsubscribe and raise while a publisher waits, close, free before the
   subscriptions end, and four threads publishing to subscribers on every thread.
   CORO_TEST_QUICK=1 (set by the slow variants) divides the message counts by 20. */
#define CORO_IMPLEMENTATION
#define CORO_SCHED_IMPLEMENTATION
#include "../coro_sched.h"
#include "check.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#define P(x) ((void *)(intptr_t)(x))
#define I(p) ((long)(intptr_t)(p))

static long scale(long n) { return getenv("CORO_TEST_QUICK") ? n / 20 : n; }

static coro_chan_op op(coro_chan_t *ch, int kind, void *elem) {
    coro_chan_op o;
    o.ch = ch;
    o.op = kind;
    o.elem = elem;
    return o;
}

/* nothing waits on ch: a send (rendezvous) or recv with a past deadline times out */
static int no_receiver(coro_chan_t *ch) {
    long v = 0;
    return coro_chan_send(ch, &v, 0) == -1 && errno == ETIMEDOUT;
}
static int no_sender(coro_chan_t *ch) {
    long v = 0;
    return coro_chan_recv(ch, &v, 0) == -1 && errno == ETIMEDOUT;
}

/* ---- misuse ---------------------------------------------------------------------------------- */
static void test_misuse(void) {
    coro_chan_t *a = coro_chan_new(sizeof(long), 1);
    long v = 1;
    coro_chan_op ops[2];
    CHECK_ERR(coro_chan_select(NULL, 1, 0) == -1, EINVAL);
    ops[0] = op(a, CORO_CHAN_RECV, &v);
    CHECK_ERR(coro_chan_select(ops, 0, 0) == -1, EINVAL);
    CHECK_ERR(coro_chan_select(ops, -1, 0) == -1, EINVAL);
    ops[0] = op(NULL, CORO_CHAN_RECV, &v);
    CHECK_ERR(coro_chan_select(ops, 1, 0) == -1, EINVAL);
    ops[0] = op(a, CORO_CHAN_RECV, NULL);
    CHECK_ERR(coro_chan_select(ops, 1, 0) == -1, EINVAL);
    ops[0] = op(a, 7, &v);
    CHECK_ERR(coro_chan_select(ops, 1, 0) == -1, EINVAL);
    ops[0] = op(a, 0, &v);
    CHECK_ERR(coro_chan_select(ops, 1, 0) == -1, EINVAL);
    /* a bad op anywhere fails the call and completes nothing */
    ops[0] = op(a, CORO_CHAN_SEND, &v);
    ops[1] = op(a, CORO_CHAN_RECV, NULL);
    CHECK_ERR(coro_chan_select(ops, 2, 0) == -1, EINVAL);
    CHECK(coro_chan_len(a) == 0);
    /* switched-off ops are skipped, even with NULL fields; all switched off: EPIPE at once */
    ops[0] = op(NULL, CORO_CHAN_CLOSED, NULL);
    ops[1] = op(a, CORO_CHAN_SEND, &v);
    CHECK(coro_chan_select(ops, 2, 0) == 1);
    CHECK(coro_chan_len(a) == 1);
    ops[1].op = CORO_CHAN_CLOSED;
    CHECK_ERR(coro_chan_select(ops, 2, -1) == -1, EPIPE);
    /* nothing ready and a past deadline: ETIMEDOUT, nothing done */
    ops[0] = op(a, CORO_CHAN_SEND, &v); /* full */
    CHECK_ERR(coro_chan_select(ops, 1, 0) == -1, ETIMEDOUT);
    CHECK(coro_chan_len(a) == 1);
    CHECK(ops[0].op == CORO_CHAN_SEND);
    coro_chan_free(a);
}

/* ---- a fair pick among ready ops ------------------------------------------------------------- */
static void test_fairness(void) {
    coro_chan_t *a = coro_chan_new(sizeof(long), 4), *b = coro_chan_new(sizeof(long), 4);
    coro_chan_t *out = coro_chan_new(sizeof(long), 1);
    long va = 1, vb = 2, got = 0, x, count[3] = {0, 0, 0};
    int i, r;
    coro_chan_op ops[3];
    CHECK(coro_chan_send(a, &va, 0) == 0 && coro_chan_send(b, &vb, 0) == 0);
    /* two always-ready receives */
    ops[0] = op(a, CORO_CHAN_RECV, &got);
    ops[1] = op(b, CORO_CHAN_RECV, &got);
    for (i = 0; i < 10000; i++) {
        r = coro_chan_select(ops, 2, 0);
        CHECK(r == 0 || r == 1);
        if (r < 0) break;
        count[r]++;
        CHECK(got == (r == 0 ? va : vb));
        CHECK(coro_chan_send(r == 0 ? a : b, &got, 0) == 0); /* ready again */
    }
    CHECK(count[0] >= 4000 && count[1] >= 4000);
    /* a ready send, a ready receive and one that never is: the pick is among the first two */
    count[0] = count[1] = 0;
    ops[0] = op(out, CORO_CHAN_SEND, &va);
    ops[1] = op(a, CORO_CHAN_RECV, &got);
    ops[2] = op(b, CORO_CHAN_SEND, &vb); /* b holds 1 of 4: ready too, switched off below */
    ops[2].op = CORO_CHAN_CLOSED;
    for (i = 0; i < 10000; i++) {
        r = coro_chan_select(ops, 3, 0);
        CHECK(r == 0 || r == 1);
        if (r < 0) break;
        count[r]++;
        if (r == 0) CHECK(coro_chan_recv(out, &x, 0) == 0 && x == va);
        else CHECK(got == va && coro_chan_send(a, &got, 0) == 0);
    }
    CHECK(count[0] >= 4000 && count[1] >= 4000);
    coro_chan_free(a);
    coro_chan_free(b);
    coro_chan_free(out);
}

/* ---- blocking selects in coroutines: send and recv mixed, deadlines -------------------------- */
static coro_chan_t *ra, *rb, *rc; /* rendezvous */
static int sel_result, sel_errno;
static long sel_got;
static coro_chan_op sel_ops[3];

static void *selecter(void *arg) {
    sel_result = coro_chan_select(sel_ops, (int)I(arg), -1);
    sel_errno = errno;
    return NULL;
}
static void *recv_one(void *arg) {
    CHECK(coro_chan_recv((coro_chan_t *)arg, &sel_got, -1) == 0);
    return NULL;
}
static void *send_one(void *arg) {
    long v = 42;
    CHECK(coro_chan_send((coro_chan_t *)arg, &v, -1) == 0);
    return NULL;
}

static void test_mixed(void) {
    long out = 7, in = 0;
    ra = coro_chan_new(sizeof(long), 0);
    rb = coro_chan_new(sizeof(long), 0);
    /* the send completes: a receiver comes to ra; rb has no sender left waiting afterwards */
    sel_ops[0] = op(ra, CORO_CHAN_SEND, &out);
    sel_ops[1] = op(rb, CORO_CHAN_RECV, &in);
    sel_result = -2;
    coro_spawn(selecter, P(2), 0);
    coro_spawn(recv_one, ra, 0);
    CHECK(coro_run() == 0);
    CHECK(sel_result == 0 && sel_got == 7 && in == 0);
    CHECK(no_sender(rb) && no_receiver(rb) && no_sender(ra));
    /* the receive completes: a sender comes to rb */
    sel_result = -2;
    coro_spawn(selecter, P(2), 0);
    coro_spawn(send_one, rb, 0);
    CHECK(coro_run() == 0);
    CHECK(sel_result == 1 && in == 42);
    CHECK(no_receiver(ra) && no_sender(ra) && no_sender(rb));
    coro_chan_free(ra);
    coro_chan_free(rb);
}

static void *timed_selecter(void *arg) {
    long v = 1, w = 0;
    coro_chan_op ops[2];
    int64_t t0 = coro_now();
    (void)arg;
    ops[0] = op(ra, CORO_CHAN_SEND, &v);
    ops[1] = op(rb, CORO_CHAN_RECV, &w);
    CHECK_ERR(coro_chan_select(ops, 2, coro_now() + 30) == -1, ETIMEDOUT);
    CHECK(coro_now() >= t0 + 30);
    CHECK(ops[0].op == CORO_CHAN_SEND && ops[1].op == CORO_CHAN_RECV && w == 0);
    /* nothing of it is left on the channels */
    CHECK(no_sender(ra) && no_receiver(rb));
    CHECK_ERR(coro_chan_select(ops, 2, 0) == -1, ETIMEDOUT);
    return NULL;
}
static void test_deadlines(void) {
    ra = coro_chan_new(sizeof(long), 0);
    rb = coro_chan_new(sizeof(long), 0);
    coro_spawn(timed_selecter, NULL, 0);
    CHECK(coro_run() == 0);
    coro_chan_free(ra);
    coro_chan_free(rb);
}

/* ---- close and free while a select waits ----------------------------------------------------- */
static void *close_later(void *arg) {
    coro_sleep(5);
    coro_chan_close((coro_chan_t *)arg);
    return NULL;
}
static void *free_later(void *arg) {
    coro_sleep(5);
    coro_chan_free((coro_chan_t *)arg);
    return NULL;
}
static void *closing_selecter(void *arg) {
    long a = 0, b = 0, c = 9;
    coro_chan_op ops[3];
    (void)arg;
    ops[0] = op(ra, CORO_CHAN_RECV, &a);
    ops[1] = op(rb, CORO_CHAN_RECV, &b);
    ops[2] = op(rc, CORO_CHAN_SEND, &c);
    coro_spawn(close_later, rb, 0);
    CHECK_ERR(coro_chan_select(ops, 3, -1) == -1, EPIPE);
    CHECK(ops[0].op == CORO_CHAN_RECV && ops[1].op == CORO_CHAN_CLOSED &&
          ops[2].op == CORO_CHAN_SEND);
    CHECK(no_sender(ra) && no_receiver(rc));
    /* the same array again: the others go on */
    coro_spawn(send_one, ra, 0);
    CHECK(coro_chan_select(ops, 3, -1) == 0 && a == 42);
    /* rc is freed (by another coroutine) while we wait on it and ra */
    coro_spawn(free_later, rc, 0);
    CHECK_ERR(coro_chan_select(ops, 3, -1) == -1, EPIPE);
    CHECK(ops[2].op == CORO_CHAN_CLOSED && ops[0].op == CORO_CHAN_RECV);
    CHECK(no_sender(ra));
    coro_spawn(close_later, ra, 0);
    CHECK_ERR(coro_chan_select(ops, 3, -1) == -1, EPIPE);
    CHECK(ops[0].op == CORO_CHAN_CLOSED);
    CHECK_ERR(coro_chan_select(ops, 3, -1) == -1, EPIPE); /* all closed: at once */
    return NULL;
}
static void test_close_and_free(void) {
    ra = coro_chan_new(sizeof(long), 2);
    rb = coro_chan_new(sizeof(long), 0);
    rc = coro_chan_new(sizeof(long), 0);
    coro_spawn(closing_selecter, NULL, 0);
    CHECK(coro_run() == 0);
    coro_chan_free(ra);
    coro_chan_free(rb);
}

/* a recv drains what was buffered before the close reports EPIPE */
static void test_close_drains(void) {
    coro_chan_t *a = coro_chan_new(sizeof(long), 2);
    long v = 5, got = 0;
    coro_chan_op ops[1];
    CHECK(coro_chan_send(a, &v, 0) == 0);
    coro_chan_close(a);
    ops[0] = op(a, CORO_CHAN_RECV, &got);
    CHECK(coro_chan_select(ops, 1, -1) == 0 && got == 5);
    CHECK_ERR(coro_chan_select(ops, 1, -1) == -1, EPIPE);
    CHECK(ops[0].op == CORO_CHAN_CLOSED);
    ops[0] = op(a, CORO_CHAN_SEND, &v);
    CHECK_ERR(coro_chan_select(ops, 1, -1) == -1, EPIPE);
    coro_chan_free(a);
}

/* ---- kill and raise of a waiting select (with stand-ins on the heap too: 6 ops) --------------- */
static coro_chan_t *kch[6];
static int kill_started;
static void *kill_victim(void *arg) {
    long v[6] = {0, 0, 0, 0, 0, 0};
    coro_chan_op ops[6];
    int i, n = (int)I(arg);
    for (i = 0; i < n; i++) ops[i] = op(kch[i], i % 2 ? CORO_CHAN_SEND : CORO_CHAN_RECV, &v[i]);
    kill_started++;
    sel_result = coro_chan_select(ops, n, -1);
    sel_errno = errno;
    return NULL;
}
static void *killer(void *arg) {
    coro_t *co = (coro_t *)arg;
    int i;
    coro_sleep(2);
    CHECK(kill_started == 1);
    CHECK(coro_kill(co) == 0);
    for (i = 0; i < 6; i++) CHECK(no_sender(kch[i]) && no_receiver(kch[i]));
    return NULL;
}
static void *raiser(void *arg) {
    coro_t *co = (coro_t *)arg;
    int i;
    coro_sleep(2);
    (void)coro_raise(co, ECANCELED); /* it runs until its select fails and it ends */
    CHECK(sel_result == -1 && sel_errno == ECANCELED);
    for (i = 0; i < 6; i++) CHECK(no_sender(kch[i]) && no_receiver(kch[i]));
    return NULL;
}
static void test_kill_and_raise(void) {
    int i, n;
    for (i = 0; i < 6; i++) kch[i] = coro_chan_new(sizeof(long), 0);
    for (n = 2; n <= 6; n += 4) {
        coro_t *co;
        kill_started = 0;
        sel_result = -2;
        co = coro_spawn(kill_victim, P(n), 0);
        coro_spawn(killer, co, 0);
        CHECK(coro_run() == 0);
        CHECK(sel_result == -2); /* killed: select never returned */
        sel_result = -2;
        kill_started = 0;
        co = coro_spawn(kill_victim, P(n), 0);
        coro_spawn(raiser, co, 0);
        CHECK(coro_run() == 0);
    }
    for (i = 0; i < 6; i++) coro_chan_free(kch[i]);
}

/* ---- the same channel twice; two selects completing each other ------------------------------- */
static long twice_sent, twice_got;
static void *twin(void *arg) {
    long mine = I(arg), in = -1;
    coro_chan_op ops[2];
    int r;
    ops[0] = op(ra, CORO_CHAN_SEND, &mine);
    ops[1] = op(ra, CORO_CHAN_RECV, &in);
    r = coro_chan_select(ops, 2, -1);
    CHECK(r == 0 || r == 1);
    if (r == 0) twice_sent += mine;
    if (r == 1) twice_got += in;
    return NULL;
}
static void test_same_channel(void) {
    coro_chan_t *b = coro_chan_new(sizeof(long), 4);
    long v = 3, got = 0, x;
    coro_chan_op ops[2];
    int r;
    /* twice in one select: one op completes, one element moves */
    ops[0] = op(b, CORO_CHAN_RECV, &got);
    ops[1] = op(b, CORO_CHAN_RECV, &got);
    CHECK(coro_chan_send(b, &v, 0) == 0 && coro_chan_send(b, &v, 0) == 0);
    r = coro_chan_select(ops, 2, 0);
    CHECK((r == 0 || r == 1) && got == 3 && coro_chan_len(b) == 1);
    CHECK(coro_chan_recv(b, &x, 0) == 0);
    coro_chan_free(b);
    /* two coroutines each offering to send or receive on one rendezvous channel: one sends to
       the other (neither matches itself) */
    ra = coro_chan_new(sizeof(long), 0);
    twice_sent = twice_got = 0;
    coro_spawn(twin, P(11), 0);
    coro_spawn(twin, P(22), 0);
    CHECK(coro_run() == 0);
    CHECK(twice_sent == twice_got && (twice_sent == 11 || twice_sent == 22));
    CHECK(no_sender(ra) && no_receiver(ra));
    coro_chan_free(ra);
}

/* ---- a plain thread selects while coroutines of another thread send -------------------------- */
static void *late_sender(void *arg) {
    long v = I(arg);
    coro_sleep(5);
    CHECK(coro_chan_send(v == 1 ? ra : rb, &v, -1) == 0);
    return NULL;
}
static void post_late_sender(int index, void *arg) {
    (void)index;
    coro_spawn(late_sender, arg, 0);
}
static void test_plain_thread(void) {
    coro_threads_t *g;
    long a = 0, b = 0;
    coro_chan_op ops[2];
    int r;
    ra = coro_chan_new(sizeof(long), 0);
    rb = coro_chan_new(sizeof(long), 0);
    ops[0] = op(ra, CORO_CHAN_RECV, &a);
    ops[1] = op(rb, CORO_CHAN_RECV, &b);
    g = coro_threads_start(1, post_late_sender, P(2));
    CHECK(g != NULL);
    r = coro_chan_select(ops, 2, -1); /* blocks this thread */
    CHECK(r == 1 && b == 2 && a == 0);
    CHECK_ERR(coro_chan_select(ops, 2, coro_now() + 20) == -1, ETIMEDOUT);
    CHECK(no_sender(ra) && no_sender(rb));
    CHECK(coro_threads_stop(g) == 0);
    CHECK(coro_threads_join(g) == 0);
    coro_chan_free(ra);
    coro_chan_free(rb);
}

/* ---- four threads hammering: every value accounted for ---------------------------------------
   Senders select between sending on a rendezvous and a buffered channel (some with deadlines
   that race completions, retried until sent); receivers select between receiving from both and
   from a third channel nobody sends on, some with deadlines too; a plain thread receives by
   select as well. Every value sent is received exactly once. */
#define HT 4
#define HCO 50 /* senders and receivers per thread */
static coro_chan_t *h_rv, *h_buf, *h_idle, *h_done;
static long h_per, h_total;
static unsigned char *h_seen;
static int h_senders_left;

static void h_record(long v) {
    if (v >= 0 && v < h_total) __atomic_add_fetch(&h_seen[v], 1, __ATOMIC_RELAXED);
}
static void *h_sender(void *arg) {
    long first = I(arg), v, x;
    coro_chan_op ops[2];
    ops[0] = op(h_rv, CORO_CHAN_SEND, &x);
    ops[1] = op(h_buf, CORO_CHAN_SEND, &x);
    for (v = first; v < first + h_per; v++) {
        int r;
        x = v;
        while ((r = coro_chan_select(ops, 2, v % 4 ? -1 : coro_now() + (v % 3))) < 0)
            if (errno != ETIMEDOUT) break;
        CHECK(r == 0 || r == 1);
    }
    if (__atomic_sub_fetch(&h_senders_left, 1, __ATOMIC_ACQ_REL) == 0) {
        coro_chan_close(h_rv);
        coro_chan_close(h_buf);
    }
    return NULL;
}
static long h_receive(int timed) {
    long x = -1, got = 0;
    coro_chan_op ops[3];
    int closed = 0;
    ops[0] = op(h_rv, CORO_CHAN_RECV, &x);
    ops[1] = op(h_buf, CORO_CHAN_RECV, &x);
    ops[2] = op(h_idle, CORO_CHAN_RECV, &x);
    while (closed < 2) {
        int r = coro_chan_select(ops, 3, timed ? coro_now() + 1 : -1);
        if (r >= 0) {
            CHECK(r < 2);
            h_record(x);
            got++;
        } else if (errno == EPIPE) {
            closed++;
        } else {
            CHECK(errno == ETIMEDOUT && timed);
            if (errno != ETIMEDOUT) break;
        }
    }
    return got;
}
static void *h_receiver(void *arg) {
    long got = h_receive((int)I(arg));
    CHECK(coro_chan_send(h_done, &got, -1) == 0);
    return NULL;
}
static void *h_plain(void *arg) {
    long got = h_receive(0);
    (void)arg;
    CHECK(coro_chan_send(h_done, &got, -1) == 0);
    return NULL;
}
static void h_init(int index, void *arg) {
    int i;
    (void)arg;
    for (i = 0; i < HCO; i++) {
        long n = (long)index * HCO + i;
        CHECK(coro_spawn(h_sender, P(n * h_per), 64 * 1024) != NULL);
        CHECK(coro_spawn(h_receiver, P(i % 3 == 0), 64 * 1024) != NULL);
    }
}
static void test_threads_hammer(void) {
    coro_threads_t *g;
    pthread_t th;
    long i, sum = 0, got, bad = 0;
    h_per = scale(400);
    h_total = h_per * HT * HCO;
    h_seen = (unsigned char *)calloc((size_t)h_total, 1);
    h_rv = coro_chan_new(sizeof(long), 0);
    h_buf = coro_chan_new(sizeof(long), 16);
    h_idle = coro_chan_new(sizeof(long), 0);
    h_done = coro_chan_new(sizeof(long), HT * HCO + 1);
    h_senders_left = HT * HCO;
    CHECK(h_seen && h_rv && h_buf && h_idle && h_done);
    CHECK(pthread_create(&th, NULL, h_plain, NULL) == 0);
    g = coro_threads_start(HT, h_init, NULL);
    CHECK(g != NULL);
    for (i = 0; i < HT * HCO + 1; i++) {
        CHECK(coro_chan_recv(h_done, &got, -1) == 0);
        sum += got;
    }
    pthread_join(th, NULL);
    CHECK(sum == h_total);
    for (i = 0; i < h_total; i++)
        if (h_seen[i] != 1) bad++;
    CHECK(bad == 0);
    CHECK(coro_threads_stop(g) == 0);
    CHECK(coro_threads_join(g) == 0);
    coro_chan_free(h_rv);
    coro_chan_free(h_buf);
    coro_chan_free(h_idle);
    coro_chan_free(h_done);
    free(h_seen);
}

/* ---- broadcast ------------------------------------------------------------------------------- */
static void test_bcast_basic(void) {
    coro_bcast_t *b;
    coro_bcast_sub_t *sub[3];
    long v, i;
    int k;
    CHECK_ERR(coro_bcast_new(0, 4) == NULL, EINVAL);
    CHECK_ERR(coro_bcast_new(sizeof(long), 0) == NULL, EINVAL);
    CHECK_ERR(coro_bcast_subscribe(NULL) == NULL, EINVAL);
    CHECK_ERR(coro_bcast_publish(NULL, &v, 0) == -1, EINVAL);
    CHECK_ERR(coro_bcast_recv(NULL, &v, 0) == -1, EINVAL);
    CHECK_ERR(coro_bcast_unsubscribe(NULL) == -1, EINVAL);
    CHECK_ERR(coro_bcast_chan(NULL) == NULL, EINVAL);
    b = coro_bcast_new(sizeof(long), 16);
    CHECK(b != NULL);
    CHECK(coro_bcast_publish(b, &v, 0) == 0); /* nobody listens */
    for (k = 0; k < 3; k++) CHECK((sub[k] = coro_bcast_subscribe(b)) != NULL);
    CHECK_ERR(coro_bcast_publish(b, NULL, 0) == -1, EINVAL);
    for (i = 0; i < 10; i++) CHECK(coro_bcast_publish(b, &i, 0) == 3);
    for (k = 0; k < 3; k++) {
        for (i = 0; i < 10; i++) CHECK(coro_bcast_recv(sub[k], &v, 0) == 0 && v == i);
        CHECK_ERR(coro_bcast_recv(sub[k], &v, 0) == -1, ETIMEDOUT);
    }
    /* unsubscribed: no longer counted */
    CHECK(coro_bcast_unsubscribe(sub[1]) == 0);
    CHECK(coro_bcast_publish(b, &i, 0) == 2);
    /* close: what is queued, then EPIPE; no more publishes or subscriptions */
    coro_bcast_close(b);
    CHECK_ERR(coro_bcast_publish(b, &i, 0) == -1, EPIPE);
    CHECK_ERR(coro_bcast_subscribe(b) == NULL, EPIPE);
    CHECK(coro_bcast_recv(sub[0], &v, 0) == 0 && v == 10);
    CHECK_ERR(coro_bcast_recv(sub[0], &v, -1) == -1, EPIPE);
    /* freed while subscriptions live: they stay usable until unsubscribed */
    coro_bcast_free(b);
    CHECK(coro_bcast_recv(sub[2], &v, 0) == 0 && v == 10);
    CHECK_ERR(coro_bcast_recv(sub[2], &v, 0) == -1, EPIPE);
    CHECK(coro_bcast_unsubscribe(sub[0]) == 0);
    CHECK(coro_bcast_unsubscribe(sub[2]) == 0);
}

static coro_bcast_t *bc;
static coro_bcast_sub_t *bsub[3];
static long b_got[3];
static int b_err[3];

static void *b_reader(void *arg) { /* receives until an error; checks the order */
    int k = (int)I(arg);
    long v, want = 0;
    while (coro_bcast_recv(bsub[k], &v, -1) == 0) {
        CHECK(v == want);
        want++;
        if (k == 0) coro_sleep(1); /* a reader slower than the publisher */
    }
    b_got[k] = want;
    b_err[k] = errno;
    return NULL;
}
static void *b_publisher(void *arg) {
    long i, n = I(arg);
    for (i = 0; i < n; i++) CHECK(coro_bcast_publish(bc, &i, -1) >= 1);
    coro_bcast_close(bc);
    return NULL;
}
/* a full queue makes the publisher wait (no deadline): nobody is dropped */
static void test_bcast_waits(void) {
    int k;
    bc = coro_bcast_new(sizeof(long), 2);
    for (k = 0; k < 2; k++) bsub[k] = coro_bcast_subscribe(bc);
    coro_spawn(b_reader, P(0), 0);
    coro_spawn(b_reader, P(1), 0);
    coro_spawn(b_publisher, P(50), 0);
    CHECK(coro_run() == 0);
    for (k = 0; k < 2; k++) {
        CHECK(b_got[k] == 50 && b_err[k] == EPIPE);
        coro_bcast_unsubscribe(bsub[k]);
    }
    coro_bcast_free(bc);
}

/* a subscriber still full at the deadline is dropped: it gets what was queued, then ENOBUFS */
static void test_bcast_drop(void) {
    long i, v;
    int64_t t0;
    bc = coro_bcast_new(sizeof(long), 2);
    bsub[0] = coro_bcast_subscribe(bc);
    bsub[1] = coro_bcast_subscribe(bc); /* never read until the end */
    CHECK(coro_bcast_publish(bc, (i = 0, &i), 0) == 2);
    CHECK(coro_bcast_publish(bc, (i = 1, &i), 0) == 2);
    CHECK(coro_bcast_recv(bsub[0], &v, 0) == 0 && v == 0);
    t0 = coro_now();
    CHECK(coro_bcast_publish(bc, (i = 2, &i), coro_now() + 20) == 1); /* a plain thread waits */
    CHECK(coro_now() >= t0 + 20);
    for (i = 1; i <= 2; i++) CHECK(coro_bcast_recv(bsub[0], &v, 0) == 0 && v == i);
    CHECK(coro_bcast_publish(bc, (i = 3, &i), -1) == 1); /* the dropped one no longer counts */
    CHECK(coro_bcast_recv(bsub[1], &v, 0) == 0 && v == 0);
    CHECK(coro_bcast_recv(bsub[1], &v, 0) == 0 && v == 1);
    CHECK_ERR(coro_bcast_recv(bsub[1], &v, -1) == -1, ENOBUFS);
    CHECK_ERR(coro_bcast_recv(bsub[1], &v, -1) == -1, ENOBUFS);
    CHECK(coro_bcast_recv(bsub[0], &v, 0) == 0 && v == 3);
    /* a past deadline drops a full one at once */
    CHECK(coro_bcast_publish(bc, (i = 4, &i), 0) == 1);
    CHECK(coro_bcast_publish(bc, (i = 5, &i), 0) == 1);
    bsub[2] = coro_bcast_subscribe(bc);
    CHECK(coro_bcast_publish(bc, (i = 6, &i), 0) == 1); /* bsub[0] full: dropped */
    CHECK(coro_bcast_recv(bsub[0], &v, 0) == 0 && v == 4);
    CHECK(coro_bcast_recv(bsub[0], &v, 0) == 0 && v == 5);
    CHECK_ERR(coro_bcast_recv(bsub[0], &v, 0) == -1, ENOBUFS);
    CHECK(coro_bcast_recv(bsub[2], &v, 0) == 0 && v == 6);
    for (i = 0; i < 3; i++) coro_bcast_unsubscribe(bsub[i]);
    coro_bcast_free(bc);
}

/* unsubscribe, and raise, while a publisher waits for room */
static int pub_result, pub_errno;
static void *b_waiting_publisher(void *arg) {
    long v = I(arg);
    pub_result = coro_bcast_publish(bc, &v, -1);
    errno = 0;
    CHECK(coro_sleep(0) == -1 || pub_result != 1); /* a raise during the publish comes now */
    pub_errno = errno;
    return NULL;
}
static void *b_unsubscriber(void *arg) {
    (void)arg;
    CHECK(pub_result == -2); /* still waiting for room in bsub[1] */
    CHECK(coro_bcast_unsubscribe(bsub[1]) == 0);
    return NULL;
}
static void *b_raiser(void *arg) {
    (void)coro_raise((coro_t *)arg, ECANCELED);
    return NULL;
}
static void test_bcast_unsubscribe_raise(void) {
    long v;
    int k;
    coro_t *co;
    bc = coro_bcast_new(sizeof(long), 1);
    for (k = 0; k < 3; k++) bsub[k] = coro_bcast_subscribe(bc);
    v = 0;
    CHECK(coro_bcast_publish(bc, &v, 0) == 3);
    CHECK(coro_bcast_recv(bsub[0], &v, 0) == 0 && coro_bcast_recv(bsub[2], &v, 0) == 0);
    pub_result = -2;
    coro_spawn(b_waiting_publisher, P(1), 0); /* reaches bsub[0], waits on bsub[1] */
    coro_spawn(b_unsubscriber, NULL, 0);      /* which goes away: freed by the publisher */
    CHECK(coro_run() == 0);
    CHECK(pub_result == 2);
    CHECK(coro_bcast_recv(bsub[0], &v, 0) == 0 && v == 1);
    CHECK(coro_bcast_recv(bsub[2], &v, 0) == 0 && v == 1);
    /* now bsub[0] is full and bsub[2] has room... */
    v = 2;
    CHECK(coro_bcast_publish(bc, &v, 0) == 2);
    CHECK(coro_bcast_recv(bsub[2], &v, 0) == 0 && v == 2);
    /* ...the publisher waits on bsub[0] and is raised: it stops waiting, bsub[0] is dropped,
       bsub[2] still served; the raise fails the publisher's next blocking call */
    pub_result = -2;
    co = coro_spawn(b_waiting_publisher, P(3), 0);
    coro_spawn(b_raiser, co, 0);
    CHECK(coro_run() == 0);
    CHECK(pub_result == 1 && pub_errno == ECANCELED);
    CHECK(coro_bcast_recv(bsub[0], &v, 0) == 0 && v == 2);
    CHECK_ERR(coro_bcast_recv(bsub[0], &v, 0) == -1, ENOBUFS);
    CHECK(coro_bcast_recv(bsub[2], &v, 0) == 0 && v == 3);
    coro_bcast_unsubscribe(bsub[0]);
    coro_bcast_unsubscribe(bsub[2]);
    coro_bcast_free(bc);
}

/* ---- four threads: a publisher and two subscribers on each, and a plain thread subscribing;
   every subscriber gets every message, each publisher's in order ------------------------------ */
#define BT 4
static long bt_n;
static int bt_publishers;
static coro_chan_t *bt_done;

static long bt_receive(coro_bcast_sub_t *sub, int via_select) {
    long next[BT] = {0, 0, 0, 0}, v, got = 0, idle;
    coro_chan_t *never = coro_chan_new(sizeof(long), 0);
    coro_chan_op ops[2];
    ops[0] = op(coro_bcast_chan(sub), CORO_CHAN_RECV, &v);
    ops[1] = op(never, CORO_CHAN_RECV, &idle);
    for (;;) {
        int r = via_select ? coro_chan_select(ops, 2, -1) : coro_bcast_recv(sub, &v, -1);
        if (r < 0) break;
        CHECK(r == 0);
        if (v / bt_n >= 0 && v / bt_n < BT) {
            CHECK(v % bt_n == next[v / bt_n]);
            next[v / bt_n] = v % bt_n + 1;
        }
        got++;
    }
    CHECK(errno == EPIPE);
    CHECK_ERR(coro_bcast_recv(sub, &v, 0) == -1, EPIPE); /* closed, not dropped */
    coro_bcast_unsubscribe(sub);
    coro_chan_free(never);
    return got;
}
static void *bt_subscriber(void *arg) {
    long got = bt_receive((coro_bcast_sub_t *)arg, coro_now() % 2 == 0);
    CHECK(coro_chan_send(bt_done, &got, -1) == 0);
    return NULL;
}
static void *bt_publisher(void *arg) {
    long base = I(arg) * bt_n, i, v;
    for (i = 0; i < bt_n; i++) {
        v = base + i;
        CHECK(coro_bcast_publish(bc, &v, -1) == 2 * BT + 1);
    }
    if (__atomic_sub_fetch(&bt_publishers, 1, __ATOMIC_ACQ_REL) == 0) coro_bcast_close(bc);
    return NULL;
}
static coro_bcast_sub_t *bt_subs[2 * BT + 1];
static void bt_init(int index, void *arg) {
    (void)arg;
    coro_spawn(bt_subscriber, bt_subs[2 * index], 0);
    coro_spawn(bt_subscriber, bt_subs[2 * index + 1], 0);
    coro_spawn(bt_publisher, P(index), 0);
}
static void *bt_plain(void *arg) {
    long got = bt_receive((coro_bcast_sub_t *)arg, 1);
    CHECK(coro_chan_send(bt_done, &got, -1) == 0);
    return NULL;
}
static void test_bcast_threads(void) {
    coro_threads_t *g;
    pthread_t th;
    long got, i;
    bt_n = scale(2000);
    bt_publishers = BT;
    bc = coro_bcast_new(sizeof(long), 8);
    bt_done = coro_chan_new(sizeof(long), 2 * BT + 1);
    for (i = 0; i < 2 * BT + 1; i++) CHECK((bt_subs[i] = coro_bcast_subscribe(bc)) != NULL);
    CHECK(pthread_create(&th, NULL, bt_plain, bt_subs[2 * BT]) == 0);
    g = coro_threads_start(BT, bt_init, NULL);
    CHECK(g != NULL);
    for (i = 0; i < 2 * BT + 1; i++) {
        CHECK(coro_chan_recv(bt_done, &got, -1) == 0);
        CHECK(got == BT * bt_n);
    }
    pthread_join(th, NULL);
    CHECK(coro_threads_stop(g) == 0);
    CHECK(coro_threads_join(g) == 0);
    coro_bcast_free(bc);
    coro_chan_free(bt_done);
}

/* ---- kills racing completions from another thread: selecters on one thread are killed while
   senders on the other complete their ops; a killed select leaves nothing behind (sanitizers and
   valgrind watch), and nothing is received twice or out of thin air ---------------------------- */
static coro_chan_t *kr_a, *kr_b;
static long kr_sent, kr_got, kr_rounds;
static int kr_stop;
static void *kr_selecter(void *arg) {
    long v = -1, w = -1;
    coro_chan_op ops[2];
    (void)arg;
    ops[0] = op(kr_a, CORO_CHAN_RECV, &v);
    ops[1] = op(kr_b, CORO_CHAN_RECV, &w);
    for (;;) {
        int r = coro_chan_select(ops, 2, -1);
        if (r < 0) break;
        __atomic_add_fetch(&kr_got, 1, __ATOMIC_RELAXED);
    }
    return NULL;
}
static void *kr_killer(void *arg) {
    coro_t *co[8];
    long i;
    int k;
    (void)arg;
    for (k = 0; k < 8; k++) co[k] = coro_spawn(kr_selecter, NULL, 0);
    for (i = 0; i < kr_rounds; i++) {
        k = (int)(i % 8);
        coro_sleep(0);
        if (i % 3 == 0) coro_sleep(1);
        CHECK(coro_kill(co[k]) == 0);
        co[k] = coro_spawn(kr_selecter, NULL, 0);
    }
    __atomic_store_n(&kr_stop, 1, __ATOMIC_RELEASE);
    coro_chan_close(kr_a);
    coro_chan_close(kr_b);
    return NULL;
}
static void *kr_sender(void *arg) {
    long v = 0;
    coro_chan_t *ch = arg ? kr_a : kr_b;
    while (!__atomic_load_n(&kr_stop, __ATOMIC_ACQUIRE)) {
        if (coro_chan_send(ch, &v, coro_now() + 1) == 0) __atomic_add_fetch(&kr_sent, 1, __ATOMIC_RELAXED);
        else if (errno == EPIPE) break;
        v++;
    }
    return NULL;
}
static void kr_init(int index, void *arg) {
    (void)arg;
    if (index == 0) coro_spawn(kr_killer, NULL, 0);
    else {
        coro_spawn(kr_sender, P(1), 0);
        coro_spawn(kr_sender, NULL, 0);
    }
}
static void test_kill_races(void) {
    coro_threads_t *g;
    kr_a = coro_chan_new(sizeof(long), 0);
    kr_b = coro_chan_new(sizeof(long), 0);
    kr_rounds = scale(2000);
    kr_sent = kr_got = 0;
    kr_stop = 0;
    g = coro_threads_start(2, kr_init, NULL);
    CHECK(g != NULL);
    while (!__atomic_load_n(&kr_stop, __ATOMIC_ACQUIRE)) usleep(1000);
    CHECK(coro_threads_stop(g) == 0);
    CHECK(coro_threads_join(g) == 0);
    CHECK(kr_got <= kr_sent); /* a killed select may take its value with it */
    coro_chan_free(kr_a);
    coro_chan_free(kr_b);
}

int main(void) {
    RUN(test_misuse);
    RUN(test_fairness);
    RUN(test_mixed);
    RUN(test_deadlines);
    RUN(test_close_and_free);
    RUN(test_close_drains);
    RUN(test_kill_and_raise);
    RUN(test_same_channel);
    RUN(test_plain_thread);
    RUN(test_threads_hammer);
    RUN(test_kill_races);
    RUN(test_bcast_basic);
    RUN(test_bcast_waits);
    RUN(test_bcast_drop);
    RUN(test_bcast_unsubscribe_raise);
    RUN(test_bcast_threads);
    coro_sched_free();
    return check_done();
}
