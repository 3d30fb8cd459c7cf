/* zmq_demo.c - coroutines in two processes talking through ZeroMQ, with coro_zmq.h.

   What it shows: asyncoro's remote coroutines without a protocol of our own. The server
   process has a ROUTER socket for requests and a PUB socket for news: one coroutine receives
   requests and spawns a coroutine per request (each takes its time, so replies go out in a
   different order than the requests came in), another publishes a "tick N" every 10 ms. The
   client process runs -c coroutines, each with its own REQ socket, sending -n requests in all
   ("hello I" must come back as "HELLO I"), and a SUB coroutine that counts ticks. Any ZeroMQ
   peer speaking the same few strings can stand in for either side (tests/zmq_peer.py is one,
   in Python).

   Build and run, from the repository root (needs libzmq, Debian's libzmq3-dev):
       cc -O2 -I. examples/zmq_demo.c -o zmq_demo $(pkg-config --cflags --libs libzmq) -pthread
       ./zmq_demo serve &                   # prints "rep tcp://127.0.0.1:P1" and "pub tcp://..."
       ./zmq_demo client tcp://127.0.0.1:P1 tcp://127.0.0.1:P2 -c 10 -n 1000
   serve [-r ENDPOINT] [-p ENDPOINT]: binds (default tcp://127.0.0.1:*, any free port), prints
   both endpoints, exits 0 on SIGINT or SIGTERM. client REQ_ENDPOINT PUB_ENDPOINT [-c N] [-n N]
   [-t TICKS]: prints "N requests from C coroutines: R right, W wrong, F failed; T ticks" and
   exits 0 if every reply was right and at least -t ticks (3) arrived, within 30 s. */
#define CORO_IMPLEMENTATION
#define CORO_SCHED_IMPLEMENTATION
#define CORO_ZMQ_IMPLEMENTATION
#include "coro_zmq.h"

#include <ctype.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void *zctx;

static void *new_socket(int type) {
    void *s = zmq_socket(zctx, type);
    int zero = 0;
    if (s) zmq_setsockopt(s, ZMQ_LINGER, &zero, sizeof zero); /* zmq_ctx_term must not wait */
    return s;
}

/* ---- server ------------------------------------------------------------------------------ */
struct request {
    void *router;
    unsigned char id[256];
    size_t idlen;
    char body[256];
    int len;
};

/* one request: take a little time (0-9 ms), answer in capitals. A ROUTER's send never waits
   (a reply to a peer that is gone is dropped), so the parts of two replies cannot interleave. */
static void *handle(void *arg) {
    struct request *r = (struct request *)arg;
    int i;
    if (coro_defer(free, r) != 0) { /* freed when this coroutine ends, even if killed */
        free(r);
        return NULL;
    }
    coro_sleep((int64_t)(r->body[r->len - 1] % 10));
    for (i = 0; i < r->len; i++) r->body[i] = (char)toupper((unsigned char)r->body[i]);
    if (coro_zmq_send(r->router, r->id, r->idlen, ZMQ_SNDMORE, coro_now() + 1000) < 0 ||
        coro_zmq_send(r->router, "", 0, ZMQ_SNDMORE, coro_now() + 1000) < 0 ||
        coro_zmq_send(r->router, r->body, (size_t)r->len, 0, coro_now() + 1000) < 0)
        fprintf(stderr, "zmq_demo: reply: %s\n", zmq_strerror(errno));
    return NULL;
}

static void *receiver(void *router) {
    struct request in; /* on this stack until complete: nothing to leak if killed while waiting */
    in.router = router;
    for (;;) { /* a REQ peer's request: [identity][empty][body] */
        struct request *r;
        char empty[8];
        int n;
        if ((n = coro_zmq_recv(router, in.id, sizeof in.id, 0, -1)) < 0) return NULL; /* stopping */
        if (coro_zmq_recv(router, empty, sizeof empty, 0, coro_now() + 1000) != 0 ||
            (in.len = coro_zmq_recv(router, in.body, sizeof in.body - 1, 0, coro_now() + 1000)) <= 0 ||
            in.len >= (int)sizeof in.body || n > (int)sizeof in.id)
            continue; /* a malformed request: dropped */
        in.idlen = (size_t)n;
        if (!(r = (struct request *)malloc(sizeof *r))) continue;
        *r = in;
        if (!coro_spawn(handle, r, 0)) free(r);
    }
}

static void *publisher(void *pub) {
    char msg[64];
    long n;
    for (n = 0; coro_sleep(10) == 0; n++) {
        int len = snprintf(msg, sizeof msg, "tick %ld", n);
        if (coro_zmq_send(pub, msg, (size_t)len, 0, coro_now() + 1000) < 0) break;
    }
    return NULL;
}

static void *on_signal(void *arg) {
    sigset_t set;
    (void)arg;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    if (coro_signal_wait(&set, -1) > 0) coro_stop();
    return NULL;
}

static int serve(const char *rep_ep, const char *pub_ep) {
    void *router = new_socket(ZMQ_ROUTER), *pub = new_socket(ZMQ_PUB);
    char ep[256];
    size_t len;
    sigset_t set;
    if (!router || !pub || zmq_bind(router, rep_ep) != 0 || zmq_bind(pub, pub_ep) != 0) {
        fprintf(stderr, "zmq_demo: bind: %s\n", zmq_strerror(errno));
        return 1;
    }
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    coro_signal_watch(&set);
    len = sizeof ep;
    zmq_getsockopt(router, ZMQ_LAST_ENDPOINT, ep, &len);
    printf("rep %s\n", ep);
    len = sizeof ep;
    zmq_getsockopt(pub, ZMQ_LAST_ENDPOINT, ep, &len);
    printf("pub %s\n", ep);
    fflush(stdout);
    coro_spawn(receiver, router, 0);
    coro_spawn(publisher, pub, 0);
    coro_spawn(on_signal, NULL, 0);
    coro_run();
    coro_sched_free(); /* the receiver and publisher are killed here; then the sockets go */
    coro_zmq_close(router);
    coro_zmq_close(pub);
    return 0;
}

/* ---- client ------------------------------------------------------------------------------ */
static struct {
    const char *rep_ep, *pub_ep;
    long coroutines, requests, want_ticks;
    long next, right, wrong, failed, ticks, busy;
} c = {NULL, NULL, 10, 1000, 3, 0, 0, 0, 0, 0, 0};

static void *requester(void *arg) {
    void *req = new_socket(ZMQ_REQ);
    char msg[64], want[64], got[64];
    (void)arg;
    if (!req || zmq_connect(req, c.rep_ep) != 0) {
        c.busy--;
        return NULL;
    }
    while (c.next < c.requests) {
        long i = c.next++;
        int len = snprintf(msg, sizeof msg, "hello %ld", i), n, k;
        for (k = 0; k < len; k++) want[k] = (char)toupper((unsigned char)msg[k]);
        if (coro_zmq_send(req, msg, (size_t)len, 0, coro_now() + 10000) < 0 ||
            (n = coro_zmq_recv(req, got, sizeof got, 0, coro_now() + 10000)) < 0) {
            fprintf(stderr, "zmq_demo: request %ld: %s\n", i, zmq_strerror(errno));
            c.failed++;
            break; /* a REQ socket that missed its reply is stuck: stop this one */
        }
        if (n == len && memcmp(got, want, (size_t)len) == 0) c.right++;
        else c.wrong++;
    }
    coro_zmq_close(req);
    c.busy--;
    return NULL;
}

static void *subscriber(void *arg) {
    void *sub = new_socket(ZMQ_SUB);
    char msg[64];
    (void)arg;
    if (!sub || zmq_connect(sub, c.pub_ep) != 0 || zmq_setsockopt(sub, ZMQ_SUBSCRIBE, "tick", 4) != 0)
        return NULL;
    while (c.ticks < c.want_ticks && coro_zmq_recv(sub, msg, sizeof msg, 0, coro_now() + 10000) >= 4)
        c.ticks += memcmp(msg, "tick", 4) == 0;
    coro_zmq_close(sub);
    return NULL;
}

/* starts the others and stops everything at 30 s if they are not done by then */
static void *client_main(void *arg) {
    long i;
    int64_t deadline = coro_now() + 30000;
    coro_t *sub = coro_spawn(subscriber, NULL, 0);
    (void)arg;
    if (sub) coro_joinable(sub);
    c.busy = c.coroutines;
    for (i = 0; i < c.coroutines; i++)
        if (!coro_spawn(requester, NULL, 0)) c.busy--;
    if (sub && coro_join(sub, NULL, deadline) != 0) coro_stop();
    while (c.busy > 0 && coro_now() < deadline) coro_sleep(5);
    if (c.busy > 0) coro_stop();
    return NULL;
}

static int client(void) {
    coro_spawn(client_main, NULL, 0);
    coro_run();
    printf("%ld requests from %ld coroutines: %ld right, %ld wrong, %ld failed; %ld ticks\n",
           c.requests, c.coroutines, c.right, c.wrong, c.failed, c.ticks);
    return c.right == c.requests && c.ticks >= c.want_ticks ? 0 : 1;
}

int main(int argc, char **argv) {
    int r, i;
    if (!(zctx = zmq_ctx_new())) return 1;
    if (argc >= 2 && strcmp(argv[1], "serve") == 0) {
        const char *rep_ep = "tcp://127.0.0.1:*", *pub_ep = "tcp://127.0.0.1:*";
        for (i = 2; i + 1 < argc; i += 2) {
            if (strcmp(argv[i], "-r") == 0) rep_ep = argv[i + 1];
            else if (strcmp(argv[i], "-p") == 0) pub_ep = argv[i + 1];
        }
        r = serve(rep_ep, pub_ep);
    } else if (argc >= 4 && strcmp(argv[1], "client") == 0) {
        c.rep_ep = argv[2];
        c.pub_ep = argv[3];
        for (i = 4; i + 1 < argc; i += 2) {
            if (strcmp(argv[i], "-c") == 0) c.coroutines = atol(argv[i + 1]);
            else if (strcmp(argv[i], "-n") == 0) c.requests = atol(argv[i + 1]);
            else if (strcmp(argv[i], "-t") == 0) c.want_ticks = atol(argv[i + 1]);
        }
        r = c.coroutines > 0 && c.requests >= 0 ? client() : 2;
    } else {
        fprintf(stderr, "usage: %s serve [-r ENDPOINT] [-p ENDPOINT] | client REQ_ENDPOINT "
                        "PUB_ENDPOINT [-c N] [-n N] [-t TICKS]\n", argv[0]);
        r = 2;
    }
    coro_sched_free();
    zmq_ctx_term(zctx);
    return r;
}
