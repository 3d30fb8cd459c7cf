/* checksum.c - a parallel checksum of many files: work spread over N schedulers, results
   gathered through one channel.

   What it shows: the share-nothing, message-passing way to use every core. coro_threads_start
   runs N threads, each with its own scheduler serving posts. The main thread (no coroutine of
   its own) hands out one job per file with coro_sched_post, round-robin; each job runs as a
   coroutine on the thread it was posted to, reads its file through coro_offload (file reads
   would block the loop) and sends its result into a channel that every thread shares. Main
   receives the results as a plain thread blocked on that channel (its receives wait, since
   coroutines elsewhere fill it), prints them in the order given, then stops and joins the
   threads.

   Build and run, from the repository root:
       cc -O2 -I. examples/checksum.c -o checksum -pthread
       ./checksum -t 4 coro.h coro_sched.h README.md
   Output: one line per file, "<adler32 hex> <bytes> <name>" (as a line of "cksum"-like
   tools), in the order of the arguments; a file that cannot be read prints "error: <reason>"
   and makes the exit status 1. -t THREADS (1..64, default 2). */
#define CORO_IMPLEMENTATION
#define CORO_SCHED_IMPLEMENTATION
#include "coro_sched.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* One file's job: posted to a scheduler, answered through the results channel. */
struct job {
    int index;
    const char *path;
    uint32_t sum;
    unsigned long long bytes;
    int err;
};

static coro_chan_t *results; /* of struct job *: every thread sends, main receives */

/* Runs on a worker thread of the scheduler (blocking reads are fine there). */
static void *read_and_sum(void *arg) {
    struct job *j = (struct job *)arg;
    unsigned char buf[1 << 16];
    uint32_t a = 1, b = 0;
    ssize_t n;
    int fd = open(j->path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        j->err = errno;
        return NULL;
    }
    while ((n = read(fd, buf, sizeof buf)) > 0) {
        ssize_t i;
        for (i = 0; i < n; i++) { /* Adler-32 */
            a = (a + buf[i]) % 65521u;
            b = (b + a) % 65521u;
        }
        j->bytes += (unsigned long long)n;
    }
    if (n < 0) j->err = errno;
    close(fd);
    j->sum = (b << 16) | a;
    return NULL;
}

/* The posted coroutine: one per file, on whichever thread it was posted to. */
static void *job_main(void *arg) {
    struct job *j = (struct job *)arg;
    if (coro_offload(read_and_sum, j, NULL) != 0) j->err = errno;
    if (coro_chan_send(results, &j, -1) != 0)
        fprintf(stderr, "checksum: send: %s\n", strerror(errno));
    return NULL;
}

int main(int argc, char **argv) {
    coro_threads_t *g;
    struct job *jobs, *j;
    int nthreads = 2, opt, i, n, status = 0;
    while ((opt = getopt(argc, argv, "t:h")) != -1) {
        if (opt == 't' && atoi(optarg) >= 1 && atoi(optarg) <= 64) {
            nthreads = atoi(optarg);
        } else {
            fprintf(opt == 'h' ? stdout : stderr, "usage: checksum [-t THREADS] FILE...\n");
            return opt == 'h' ? 0 : 2;
        }
    }
    n = argc - optind;
    if (n < 1) {
        fprintf(stderr, "usage: checksum [-t THREADS] FILE...\n");
        return 2;
    }
    if (!(jobs = (struct job *)calloc((size_t)n, sizeof *jobs)) ||
        !(results = coro_chan_new(sizeof(struct job *), 0)) ||
        !(g = coro_threads_start(nthreads, NULL, NULL))) {
        perror("checksum");
        return 1;
    }
    for (i = 0; i < n; i++) {
        jobs[i].index = i;
        jobs[i].path = argv[optind + i];
        if (coro_sched_post(coro_threads_sched(g, i % nthreads), job_main, &jobs[i], 0) != 0) {
            perror("checksum: post");
            return 1;
        }
    }
    for (i = 0; i < n; i++) { /* results come in any order; they are printed in the given one */
        if (coro_chan_recv(results, &j, -1) != 0) {
            perror("checksum: recv");
            return 1;
        }
    }
    for (i = 0; i < n; i++) {
        j = &jobs[i];
        if (j->err) {
            printf("error: %s: %s\n", j->path, strerror(j->err));
            status = 1;
        } else {
            printf("%08x %llu %s\n", (unsigned)j->sum, j->bytes, j->path);
        }
    }
    coro_threads_stop(g);
    coro_threads_join(g);
    coro_chan_free(results);
    free(jobs);
    return status;
}
