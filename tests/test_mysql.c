/* test_mysql.c - coro_mysql.h against a real MariaDB server (started by tests/mysql_test.sh in a
   temporary data directory, on a private unix socket): 1,000 concurrent queries from
   coroutines over a pool of 8 connections with every result checked, the loop running while
   queries wait, buffered and unbuffered results, a failing statement, a deadline cutting a
   query short, a connection refused, calls from main, and last the server killed mid-query (the
   queries fail with CR_SERVER_LOST and a clear message, nothing hangs).
       usage: test_mysql SOCKET SERVER_PID */
#define CORO_IMPLEMENTATION
#define CORO_SCHED_IMPLEMENTATION
#define CORO_MYSQL_IMPLEMENTATION
#include "../coro_mysql.h"
#include "check.h"

#include <errmsg.h>
#include <signal.h>
#include <stdint.h>
#include <sys/types.h>

#define POOL 8
#define QUERIES 1000

static const char *sock;
static pid_t server_pid;

static int64_t in_ms(int64_t ms) { return coro_now() + ms; }

static MYSQL *open_db(int64_t deadline) {
    MYSQL *m = mysql_init(NULL);
    CHECK(m != NULL);
    if (!m) return NULL;
    if (!coro_mysql_real_connect(m, NULL, "root", NULL, NULL, 0, sock, 0, deadline)) {
        fprintf(stderr, "connect: %s\n", mysql_error(m));
        CHECK(m == NULL); /* fails: the connection was refused */
        coro_mysql_close(m, in_ms(1000));
        return NULL;
    }
    return m;
}

/* ---- 1,000 queries, 8 connections, a channel as the pool ---------------------------------- */
static coro_chan_t *pool;
static int good, ticks;

static void *one_query(void *arg) {
    long i = (long)(intptr_t)arg;
    MYSQL *m;
    MYSQL_RES *res;
    MYSQL_ROW row;
    char q[200], want[80];
    if (coro_chan_recv(pool, &m, in_ms(30000)) != 0) {
        CHECK(pool == NULL); /* fails: no connection came back to the pool in time */
        return NULL;
    }
    snprintf(q, sizeof q, "SELECT %ld, %ld * %ld, REPEAT('x', %ld), CONCAT('row-', %ld)", i, i, i,
             i % 50, i);
    if (coro_mysql_query(m, q, in_ms(30000)) != 0 || !(res = coro_mysql_store_result(m, in_ms(30000)))) {
        fprintf(stderr, "query %ld: %s\n", i, mysql_error(m));
    } else {
        int ok = mysql_num_fields(res) == 4 && (row = coro_mysql_fetch_row(res, in_ms(1000))) != NULL;
        if (ok) {
            ok = atol(row[0]) == i && atol(row[1]) == i * i && strlen(row[2]) == (size_t)(i % 50);
            snprintf(want, sizeof want, "row-%ld", i);
            ok = ok && strcmp(row[3], want) == 0 && !coro_mysql_fetch_row(res, in_ms(1000));
        }
        good += ok;
        coro_mysql_free_result(res, in_ms(1000));
    }
    CHECK(coro_chan_send(pool, &m, in_ms(1000)) == 0);
    return NULL;
}

static void *ticker(void *arg) {
    (void)arg;
    while (coro_sleep(10) == 0) ticks++;
    return NULL;
}

static void *sleeper(void *arg) { /* a slow query on its own connection, while the others run */
    MYSQL *m = open_db(in_ms(10000));
    coro_t *tick = (coro_t *)arg;
    MYSQL_RES *res;
    (void)arg;
    if (!m) return NULL;
    CHECK(coro_mysql_query(m, "SELECT SLEEP(0.3)", in_ms(10000)) == 0);
    res = coro_mysql_store_result(m, in_ms(10000));
    CHECK(res != NULL);
    coro_mysql_free_result(res, in_ms(1000));
    CHECK(ticks >= 5); /* the loop ran meanwhile: 10 ms ticks during a 300 ms query */
    coro_kill(tick);
    coro_mysql_close(m, in_ms(1000));
    return NULL;
}

static void *many(void *arg) {
    long i;
    MYSQL *conns[POOL];
    (void)arg;
    pool = coro_chan_new(sizeof(MYSQL *), POOL);
    for (i = 0; i < POOL; i++) {
        conns[i] = open_db(in_ms(10000));
        if (!conns[i]) return NULL;
        CHECK(coro_chan_send(pool, &conns[i], 0) == 0);
    }
    for (i = 0; i < QUERIES; i++) CHECK(coro_spawn(one_query, (void *)(intptr_t)i, 0) != NULL);
    while (coro_count() > 1) coro_sleep(5); /* everyone else done */
    CHECK(good == QUERIES);
    CHECK(coro_chan_len(pool) == POOL);
    for (i = 0; i < POOL; i++) coro_mysql_close(conns[i], in_ms(1000));
    coro_chan_free(pool);
    return NULL;
}

static void test_many(void) {
    coro_t *tick = coro_spawn(ticker, NULL, 0);
    CHECK(coro_spawn(sleeper, tick, 0) != NULL);
    CHECK(coro_run() == 0);
    CHECK(coro_spawn(many, NULL, 0) != NULL);
    CHECK(coro_run() == 0);
    printf("%d of %d queries over %d connections returned the right row\n", good, QUERIES, POOL);
}

/* ---- result sets, buffered and not; errors; ping --------------------------------------------- */
static void *results(void *arg) {
    MYSQL *m = open_db(in_ms(10000));
    MYSQL_RES *res;
    MYSQL_ROW row;
    long n = 0, sum = 0;
    const char *q = "WITH RECURSIVE t(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM t WHERE n < 5000) "
                    "SELECT n, REPEAT('y', 100) FROM t";
    (void)arg;
    if (!m) return NULL;
    CHECK(coro_mysql_ping(m, in_ms(5000)) == 0);
    CHECK(coro_mysql_query(m, "SET SESSION max_recursive_iterations = 100000", in_ms(5000)) == 0);
    CHECK(coro_mysql_query(m, q, in_ms(10000)) == 0);
    CHECK((res = coro_mysql_store_result(m, in_ms(10000))) != NULL);
    while (res && (row = coro_mysql_fetch_row(res, in_ms(1000)))) n++, sum += atol(row[0]);
    CHECK(n == 5000 && sum == 5000L * 5001 / 2);
    coro_mysql_free_result(res, in_ms(1000));
    /* unbuffered: the rows come off the socket as they are fetched, so fetch_row waits */
    n = sum = 0;
    CHECK(coro_mysql_query(m, q, in_ms(10000)) == 0);
    CHECK((res = mysql_use_result(m)) != NULL);
    while (res && (row = coro_mysql_fetch_row(res, in_ms(10000)))) n++, sum += atol(row[0]);
    CHECK(n == 5000 && sum == 5000L * 5001 / 2);
    CHECK(mysql_errno(m) == 0);
    coro_mysql_free_result(res, in_ms(1000));
    /* a statement the server refuses: nonzero, errno EIO, the server's words; still usable */
    CHECK_ERR(coro_mysql_query(m, "SELEC 1", in_ms(5000)) != 0, EIO);
    CHECK(mysql_errno(m) == 1064 && strstr(mysql_error(m), "syntax") != NULL);
    CHECK(coro_mysql_query(m, "CREATE DATABASE IF NOT EXISTS coro_test", in_ms(5000)) == 0);
    CHECK(coro_mysql_query(m, "CREATE TEMPORARY TABLE coro_test.t1 (a INT)", in_ms(5000)) == 0);
    CHECK(coro_mysql_store_result(m, in_ms(5000)) == NULL && mysql_errno(m) == 0); /* no rows */
    CHECK(coro_mysql_query(m, "INSERT INTO coro_test.t1 VALUES (1), (2), (3)", in_ms(5000)) == 0);
    CHECK(mysql_affected_rows(m) == 3);
    coro_mysql_close(m, in_ms(1000));
    return NULL;
}

static void test_results(void) {
    CHECK(coro_spawn(results, NULL, 0) != NULL);
    CHECK(coro_run() == 0);
}

/* ---- a deadline cuts a query short --------------------------------------------------------- */
static void *slow(void *arg) {
    MYSQL *m = open_db(in_ms(10000));
    int64_t t0;
    (void)arg;
    if (!m) return NULL;
    t0 = coro_now();
    CHECK_ERR(coro_mysql_query(m, "SELECT SLEEP(5)", in_ms(300)) != 0, ETIMEDOUT);
    CHECK(coro_now() - t0 >= 290 && coro_now() - t0 < 3000);
    CHECK(mysql_errno(m) == CR_SERVER_LOST || mysql_errno(m) == CR_SERVER_GONE_ERROR);
    CHECK(coro_mysql_ping(m, in_ms(1000)) != 0); /* broken from then on, as documented */
    coro_mysql_close(m, in_ms(1000));
    return NULL;
}

static void test_deadline(void) {
    CHECK(coro_spawn(slow, NULL, 0) != NULL);
    CHECK(coro_run() == 0);
}

/* ---- nobody there; calls from main; misuse -------------------------------------------------- */
static void test_refused(void) {
    MYSQL *m = mysql_init(NULL);
    /* from main: a blocking call in poll() */
    CHECK(coro_mysql_real_connect(m, NULL, "root", NULL, NULL, 0, sock, 0, in_ms(10000)) == m);
    CHECK(coro_mysql_query(m, "SELECT 42", in_ms(5000)) == 0);
    {
        MYSQL_RES *res = coro_mysql_store_result(m, in_ms(5000));
        MYSQL_ROW row = res ? coro_mysql_fetch_row(res, in_ms(1000)) : NULL;
        CHECK(row && strcmp(row[0], "42") == 0);
        coro_mysql_free_result(res, in_ms(1000));
    }
    coro_mysql_close(m, in_ms(1000));
    m = mysql_init(NULL);
    CHECK_ERR(coro_mysql_real_connect(m, NULL, "root", NULL, NULL, 0, "/nonexistent/sock", 0,
                                      in_ms(5000)) == NULL, EIO);
    CHECK(mysql_errno(m) == CR_CONNECTION_ERROR);
    coro_mysql_close(m, in_ms(1000));
    CHECK_ERR(coro_mysql_real_connect(NULL, NULL, NULL, NULL, NULL, 0, NULL, 0, 0) == NULL, EINVAL);
    CHECK_ERR(coro_mysql_query(NULL, "SELECT 1", 0) != 0, EINVAL);
    CHECK_ERR(coro_mysql_store_result(NULL, 0) == NULL, EINVAL);
    CHECK_ERR(coro_mysql_fetch_row(NULL, 0) == NULL, EINVAL);
    coro_mysql_free_result(NULL, 0);
    coro_mysql_close(NULL, 0);
}

/* ---- the server dies mid-query -------------------------------------------------------------- */
static int lost;

static void *doomed(void *arg) {
    MYSQL *m = open_db(in_ms(10000));
    int64_t t0;
    (void)arg;
    if (!m) return NULL;
    t0 = coro_now();
    CHECK_ERR(coro_mysql_query(m, "SELECT SLEEP(60)", in_ms(20000)) != 0, EIO);
    CHECK(coro_now() - t0 < 15000);
    CHECK(mysql_errno(m) == CR_SERVER_LOST);
    if (mysql_errno(m) == CR_SERVER_LOST) lost++;
    if (lost == 1) printf("query after the server was killed: %s\n", mysql_error(m));
    coro_mysql_close(m, in_ms(1000));
    return NULL;
}

static void *killer(void *arg) {
    (void)arg;
    coro_sleep(500); /* the queries are on the server by then */
    CHECK(kill(server_pid, SIGKILL) == 0);
    return NULL;
}

static void test_server_killed(void) {
    int i;
    for (i = 0; i < 4; i++) CHECK(coro_spawn(doomed, NULL, 0) != NULL);
    CHECK(coro_spawn(killer, NULL, 0) != NULL);
    CHECK(coro_run() == 0);
    CHECK(lost == 4);
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: %s SOCKET SERVER_PID\n", argv[0]);
        return 2;
    }
    sock = argv[1];
    server_pid = (pid_t)atol(argv[2]);
    if (mysql_library_init(0, NULL, NULL) != 0) {
        fprintf(stderr, "mysql_library_init failed\n");
        return 1;
    }
    RUN(test_many);
    RUN(test_results);
    RUN(test_deadline);
    RUN(test_refused);
    RUN(test_server_killed);
    coro_sched_free();
    mysql_library_end();
    return check_done();
}
