/* mysql_pool.c - many concurrent MariaDB/MySQL queries over a few connections, with coro_mysql.h.

   What it shows: the eGroups coromysql idea with MariaDB's own client library. A pool of -c
   connections is a channel holding the idle ones: a query coroutine receives a connection
   (waiting while all are busy), runs its statement with a deadline as a plain blocking call,
   and sends the connection back. -n coroutines are spawned at once; while some wait on the
   server, others run. Every answer is checked (query i asks for i, i*i and a string built from
   i). A connection whose query failed or timed out is replaced by a new one, so one broken
   connection does not poison the pool.

   Build and run, from the repository root (needs MariaDB Connector/C, Debian's libmariadb-dev):
       cc -O2 -I. examples/mysql_pool.c -o mysql_pool $(pkg-config --cflags --libs libmariadb) -pthread
       ./mysql_pool -S /run/mysqld/mysqld.sock -u root -c 4 -n 1000
       ./mysql_pool -H 127.0.0.1 -P 3306 -u app -p secret -c 8 -n 20000
   Prints "N queries over C connections in T ms (Q/s), W wrong, E failed"; exits 0 if every
   query returned the right row. Options: -S SOCKET | -H ADDRESS -P PORT, -u USER, -p PASSWORD,
   -c CONNECTIONS (4), -n QUERIES (1000), -T MS deadline per query (10000). */
#define CORO_IMPLEMENTATION
#define CORO_SCHED_IMPLEMENTATION
#define CORO_MYSQL_IMPLEMENTATION
#include "coro_mysql.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static struct {
    const char *sock, *host, *user, *pass;
    unsigned port;
    long conns, queries;
    int64_t timeout;
    coro_chan_t *pool; /* of MYSQL *: the idle connections */
    long right, wrong, failed, done;
} g = {NULL, NULL, "root", NULL, 0, 4, 1000, 10000, NULL, 0, 0, 0, 0};

static MYSQL *connect_one(void) {
    MYSQL *m = mysql_init(NULL);
    if (!m) return NULL;
    if (!coro_mysql_real_connect(m, g.host, g.user, g.pass, NULL, g.port, g.sock, 0,
                                 coro_now() + g.timeout)) {
        fprintf(stderr, "mysql_pool: connect: %s\n", mysql_error(m));
        coro_mysql_close(m, coro_now() + 1000);
        return NULL;
    }
    return m;
}

/* query i on a pooled connection: 1 right, 0 wrong, -1 failed */
static int ask(MYSQL *m, long i) {
    char q[160], want[40];
    MYSQL_RES *res;
    MYSQL_ROW row;
    int64_t deadline = coro_now() + g.timeout;
    int r = 0;
    snprintf(q, sizeof q, "SELECT %ld, %ld * %ld, CONCAT('answer-', %ld)", i, i, i, i);
    if (coro_mysql_query(m, q, deadline) != 0 || !(res = coro_mysql_store_result(m, deadline))) {
        fprintf(stderr, "mysql_pool: query %ld: %s\n", i, mysql_error(m));
        return -1;
    }
    snprintf(want, sizeof want, "answer-%ld", i);
    if ((row = coro_mysql_fetch_row(res, deadline)) && row[0] && row[1] && row[2] &&
        atol(row[0]) == i && atol(row[1]) == i * i && strcmp(row[2], want) == 0)
        r = 1;
    coro_mysql_free_result(res, deadline);
    return r;
}

static void *query(void *arg) {
    long i = (long)(intptr_t)arg;
    MYSQL *m;
    int r;
    if (coro_chan_recv(g.pool, &m, coro_now() + g.timeout) != 0) {
        g.failed++;
        g.done++;
        return NULL;
    }
    r = ask(m, i);
    if (r > 0) g.right++;
    else if (r == 0) g.wrong++;
    else {
        g.failed++;
        coro_mysql_close(m, coro_now() + 1000); /* broken: replace it */
        m = connect_one();
    }
    if (m) coro_chan_send(g.pool, &m, 0); /* never waits: there is room for every connection */
    g.done++;
    return NULL;
}

static void *run(void *arg) {
    long i;
    int64_t t0 = coro_now(), ms;
    MYSQL *m;
    (void)arg;
    for (i = 0; i < g.conns; i++) {
        if (!(m = connect_one())) break;
        coro_chan_send(g.pool, &m, 0);
    }
    if (i < g.conns) {
        g.failed = g.queries;
    } else {
        for (i = 0; i < g.queries; i++)
            if (!coro_spawn(query, (void *)(intptr_t)i, 0)) g.failed++, g.done++;
        while (g.done < g.queries) coro_sleep(5);
    }
    ms = coro_now() - t0;
    printf("%ld queries over %ld connections in %lld ms (%.0f/s), %ld wrong, %ld failed\n",
           g.queries, g.conns, (long long)ms, ms > 0 ? 1000.0 * (double)g.queries / (double)ms : 0.0,
           g.wrong, g.failed);
    while (coro_chan_recv(g.pool, &m, 0) == 0) coro_mysql_close(m, coro_now() + 1000);
    return NULL;
}

int main(int argc, char **argv) {
    int opt;
    while ((opt = getopt(argc, argv, "S:H:P:u:p:c:n:T:h")) != -1) {
        switch (opt) {
        case 'S': g.sock = optarg; break;
        case 'H': g.host = optarg; break;
        case 'P': g.port = (unsigned)atoi(optarg); break;
        case 'u': g.user = optarg; break;
        case 'p': g.pass = optarg; break;
        case 'c': g.conns = atol(optarg); break;
        case 'n': g.queries = atol(optarg); break;
        case 'T': g.timeout = atol(optarg); break;
        default:
            fprintf(stderr, "usage: %s [-S SOCKET | -H ADDRESS -P PORT] [-u USER] [-p PASSWORD] "
                            "[-c CONNECTIONS] [-n QUERIES] [-T MS]\n", argv[0]);
            return 2;
        }
    }
    if (g.conns < 1 || g.conns > 1000 || g.queries < 0 || g.timeout < 1) {
        fprintf(stderr, "mysql_pool: bad -c, -n or -T\n");
        return 2;
    }
    if (mysql_library_init(0, NULL, NULL) != 0 ||
        !(g.pool = coro_chan_new(sizeof(MYSQL *), (size_t)g.conns))) {
        fprintf(stderr, "mysql_pool: out of memory\n");
        return 1;
    }
    coro_spawn(run, NULL, 0);
    coro_run();
    coro_chan_free(g.pool);
    coro_sched_free();
    mysql_library_end();
    return g.right == g.queries ? 0 : 1;
}
