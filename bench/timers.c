/* timers.c - the timer benchmark: N coroutines (default 100,000), spawned from one loop, each
 * sleeping a random 0-1000 ms; reports when the last one woke relative to the start (the ideal is
 * 1000 ms plus the time to spawn them), how late wakeups were, and the peak RSS.
 *
 *   build/bench/timers [N] [max_ms]
 */
#define CORO_IMPLEMENTATION
#define CORO_SCHED_IMPLEMENTATION
#include "../coro_sched.h"

#include <stdio.h>
#include <stdlib.h>

static int64_t start, max_late, sum_late, last_wake;
static long woken;

static void *sleeper(void *arg) {
    int64_t due = start + (int64_t)(intptr_t)arg, now;
    coro_sleep_until(due);
    now = coro_now();
    if (now - due > max_late) max_late = now - due;
    sum_late += now - due;
    if (now > last_wake) last_wake = now;
    woken++;
    return NULL;
}

static void *spawner(void *arg) {
    long i, n = (long)(intptr_t)arg;
    unsigned r = 42;
    for (i = 0; i < n; i++) {
        r = r * 1103515245u + 12345u;
        if (!coro_spawn(sleeper, (void *)(intptr_t)((r >> 8) % 1001), 0)) {
            perror("coro_spawn");
            exit(1);
        }
    }
    return NULL;
}

static long peak_rss_kb(void) {
    char line[256];
    long kb = -1;
    FILE *f = fopen("/proc/self/status", "r");
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "VmHWM: %ld kB", &kb) == 1) break;
    if (f) fclose(f);
    return kb;
}

int main(int argc, char **argv) {
    long n = argc > 1 ? atol(argv[1]) : 100000;
    int64_t spawned;
    start = coro_now();
    coro_spawn(spawner, (void *)(intptr_t)n, 0);
    if (coro_run() != 0) {
        perror("coro_run");
        return 1;
    }
    spawned = coro_now();
    printf("timers: %ld coroutines sleeping 0-1000 ms: all %ld woke %lld ms after the start "
           "(ideal 1000); mean lateness %.2f ms, max %lld ms; peak RSS %ld MB (%s)\n",
           n, woken, (long long)(last_wake - start), woken ? (double)sum_late / (double)woken : 0.0,
           (long long)max_late, peak_rss_kb() / 1024, coro_sched_backend());
    (void)spawned;
    coro_sched_free();
    return woken == n ? 0 : 1;
}
