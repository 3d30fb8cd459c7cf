#!/usr/bin/env python3
"""zmq_peer.py - a ZeroMQ peer written with pyzmq, for examples/zmq_demo.c's protocol.

  zmq_peer.py serve                      ROUTER answering "hello I" with "HELLO I" and PUB
                                         sending "tick N" every 10 ms; prints "rep EP" and
                                         "pub EP"; exits on SIGTERM (or after 60 s)
  zmq_peer.py client REP_EP PUB_EP N C   N requests over C REQ sockets at once, every reply
                                         checked, and 3 ticks from the PUB; exits 0 if all
                                         were right, within 30 s
"""
import signal
import sys
import time

import zmq


def serve():
    ctx = zmq.Context()
    router = ctx.socket(zmq.ROUTER)
    pub = ctx.socket(zmq.PUB)
    for s in (router, pub):
        s.setsockopt(zmq.LINGER, 0)
        s.bind("tcp://127.0.0.1:*")
    print("rep", router.getsockopt_string(zmq.LAST_ENDPOINT))
    print("pub", pub.getsockopt_string(zmq.LAST_ENDPOINT), flush=True)
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    poller = zmq.Poller()
    poller.register(router, zmq.POLLIN)
    end = time.monotonic() + 60
    next_tick, tick = time.monotonic(), 0
    served = 0
    while not stop and time.monotonic() < end:
        now = time.monotonic()
        if now >= next_tick:
            pub.send_string("tick %d" % tick)
            tick += 1
            next_tick = now + 0.01
        for sock, _ in poller.poll(10):
            ident, empty, body = sock.recv_multipart()
            sock.send_multipart([ident, empty, body.upper()])
            served += 1
    print("served", served, flush=True)
    ctx.destroy(linger=0)


def client(rep_ep, pub_ep, n, c):
    ctx = zmq.Context()
    sub = ctx.socket(zmq.SUB)
    sub.setsockopt(zmq.LINGER, 0)
    sub.setsockopt(zmq.SUBSCRIBE, b"tick")
    sub.connect(pub_ep)
    reqs = []
    poller = zmq.Poller()
    for _ in range(c):
        s = ctx.socket(zmq.REQ)
        s.setsockopt(zmq.LINGER, 0)
        s.connect(rep_ep)
        reqs.append(s)
        poller.register(s, zmq.POLLIN)
    poller.register(sub, zmq.POLLIN)
    pending = {}  # socket -> expected reply
    nxt = right = wrong = ticks = 0
    end = time.monotonic() + 30
    while (right + wrong < n or ticks < 3) and time.monotonic() < end:
        for s in reqs:
            if s not in pending and nxt < n:
                msg = "hello %d" % nxt
                nxt += 1
                s.send_string(msg)
                pending[s] = msg.upper()
        for sock, _ in poller.poll(100):
            if sock is sub:
                ticks += sub.recv_string().startswith("tick")
                continue
            got = sock.recv_string()
            if got == pending.pop(sock):
                right += 1
            else:
                wrong += 1
    print("%d requests from %d sockets: %d right, %d wrong; %d ticks" % (n, c, right, wrong, ticks))
    ctx.destroy(linger=0)
    return 0 if right == n and ticks >= 3 else 1


if __name__ == "__main__":
    if len(sys.argv) == 2 and sys.argv[1] == "serve":
        serve()
    elif len(sys.argv) == 6 and sys.argv[1] == "client":
        sys.exit(client(sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])))
    else:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
