/* chat_burst.c - a load client for examples/chat: NCLIENTS clients connect and take a
   nickname each (c0, c1, ...); once all are in the room, every client sends NLINES lines at
   once ("0".."NLINES-1") and reads as fast as it can until it has seen every client's every
   line, checking that each sender's lines arrive in order, none missing, none twice.
   usage: chat_burst PORT NCLIENTS NLINES SECONDS
   Exit 0 when every client got all NCLIENTS * NLINES lines; else 1, with a line per client
   that did not (how many it got, and the first fault) - also when SECONDS pass first or a
   client is disconnected. */
#define CORO_IMPLEMENTATION
#define CORO_SCHED_IMPLEMENTATION
#include "../coro_sched.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int port, nclients, nlines, named, failed, finished;
static int64_t deadline;
static coro_cond_t all_named;

struct client {
    int id, fd;
    long got;
    int *next; /* per sender: the line expected next */
    char fault[128];
    char buf[65536];
    size_t have;
};

/* Read one line into *line (NUL-terminated, without "\n"); 0 at the end or on an error. */
static int read_line(struct client *c, char **line, size_t *consumed) {
    char *nl;
    for (;;) {
        ssize_t n;
        if ((nl = (char *)memchr(c->buf + *consumed, '\n', c->have - *consumed)) != NULL) {
            *nl = 0;
            *line = c->buf + *consumed;
            *consumed = (size_t)(nl - c->buf) + 1;
            return 1;
        }
        memmove(c->buf, c->buf + *consumed, c->have - *consumed);
        c->have -= *consumed;
        *consumed = 0;
        if (c->have == sizeof c->buf) return 0; /* a line longer than the buffer */
        n = coro_read(c->fd, c->buf + c->have, sizeof c->buf - c->have, deadline);
        if (n <= 0) {
            snprintf(c->fault, sizeof c->fault, "%s", n == 0 ? "disconnected" : strerror(errno));
            return 0;
        }
        c->have += (size_t)n;
    }
}

static void *client(void *arg) {
    struct client *c = (struct client *)arg;
    char nick[32], *line, *out;
    size_t consumed = 0, len = 0, cap = (size_t)nlines * 12 + 1;
    long want = (long)nclients * nlines;
    int i;
    c->fd = coro_tcp_connect("127.0.0.1", port, deadline);
    if (c->fd < 0) {
        snprintf(c->fault, sizeof c->fault, "connect: %s", strerror(errno));
        goto out;
    }
    snprintf(nick, sizeof nick, "c%d\n", c->id);
    if (coro_write(c->fd, nick, strlen(nick), deadline) < 0) goto out;
    while (read_line(c, &line, &consumed))
        if (strncmp(line, "* hello ", 8) == 0) break;
    if (c->fault[0]) goto out;
    if (++named == nclients) coro_cond_broadcast(&all_named);
    while (named < nclients)
        if (coro_cond_wait(&all_named, deadline) != 0) {
            snprintf(c->fault, sizeof c->fault, "waiting for the others: %s", strerror(errno));
            goto out;
        }
    if (!(out = (char *)malloc(cap))) goto out;
    for (i = 0; i < nlines; i++) len += (size_t)snprintf(out + len, cap - len, "%d\n", i);
    i = (int)coro_write(c->fd, out, len, deadline);
    free(out);
    if (i < 0) {
        snprintf(c->fault, sizeof c->fault, "write: %s", strerror(errno));
        goto out;
    }
    while (c->got < want && read_line(c, &line, &consumed)) {
        int from, n, k;
        if (line[0] != '<') continue;
        if (sscanf(line, "<c%d> %d%n", &from, &n, &k) != 2 || from < 0 || from >= nclients) {
            snprintf(c->fault, sizeof c->fault, "a line not from a client: '%.60s'", line);
            break;
        }
        if (n != c->next[from]) {
            snprintf(c->fault, sizeof c->fault, "from c%d: line %d where %d was due", from, n,
                     c->next[from]);
            break;
        }
        c->next[from]++;
        c->got++;
    }
out:
    if (c->got != want) failed++;
    if (c->fd >= 0) coro_close(c->fd);
    finished++;
    return NULL;
}

int main(int argc, char **argv) {
    struct client *cs;
    int i, seconds;
    if (argc != 5 || (port = atoi(argv[1])) <= 0 || (nclients = atoi(argv[2])) <= 0 ||
        (nlines = atoi(argv[3])) <= 0 || (seconds = atoi(argv[4])) <= 0) {
        fprintf(stderr, "usage: chat_burst PORT NCLIENTS NLINES SECONDS\n");
        return 2;
    }
    deadline = coro_now() + (int64_t)seconds * 1000;
    coro_cond_init(&all_named);
    cs = (struct client *)calloc((size_t)nclients, sizeof *cs);
    if (!cs) return 1;
    for (i = 0; i < nclients; i++) {
        cs[i].id = i;
        cs[i].fd = -1;
        cs[i].next = (int *)calloc((size_t)nclients, sizeof(int));
        if (!cs[i].next || !coro_spawn(client, &cs[i], 0)) return 1;
    }
    coro_run();
    for (i = 0; i < nclients; i++) {
        if (cs[i].got != (long)nclients * nlines)
            printf("client c%d: %ld of %ld lines%s%s\n", i, cs[i].got, (long)nclients * nlines,
                   cs[i].fault[0] ? ": " : "", cs[i].fault);
        free(cs[i].next);
    }
    printf("chat_burst: %d clients x %d lines: %d of %d clients got every line in order\n",
           nclients, nlines, nclients - failed, nclients);
    free(cs);
    coro_sched_free();
    return failed || finished != nclients ? 1 : 0;
}
