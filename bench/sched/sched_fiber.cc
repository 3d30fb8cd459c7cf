// bench/sched/sched_fiber.cc - the scheduler rows of bench/sched/sched_coro.c with Boost.Fiber
// (its default round-robin scheduler, one thread, 64 KiB fixed-size stacks), for comparison.
// Same modes, sizes and output as sched_coro.c.
#include <boost/fiber/all.hpp>
#include <chrono>
#include <cstring>
#include <vector>
extern "C" {
#include "sched_common.h"
}

namespace fibers = boost::fibers;
static boost::fibers::fixedsize_stack stack_alloc() { return boost::fibers::fixedsize_stack(STACK_SIZE); }

int main(int argc, char **argv) {
    const char *mode = argc > 1 ? argv[1] : "yield2";
    double t;
    if (!std::strcmp(mode, "chan0")) {
        fibers::unbuffered_channel<long> ping, pong;
        t = bench_now();
        fibers::fiber a(std::allocator_arg, stack_alloc(), [&] {
            for (long i = 0; i < CHAN_N; i++) {
                long v;
                ping.push(i);
                pong.pop(v);
            }
        });
        fibers::fiber b(std::allocator_arg, stack_alloc(), [&] {
            for (long i = 0; i < CHAN_N; i++) {
                long v;
                ping.pop(v);
                pong.push(v);
            }
        });
        a.join();
        b.join();
        std::printf("ns=%.2f\n", (bench_now() - t) * 1e9 / (2.0 * CHAN_N));
    } else if (!std::strncmp(mode, "yield", 5)) {
        long k = std::atol(mode + 5), n;
        if (k <= 0) bench_fail("mode");
        n = YIELD_TOTAL / k;
        std::vector<fibers::fiber> fs;
        t = bench_now();
        for (long i = 0; i < k; i++)
            fs.emplace_back(std::allocator_arg, stack_alloc(), [n] {
                for (long j = 0; j < n; j++) boost::this_fiber::yield();
            });
        for (auto &f : fs) f.join();
        std::printf("ns=%.2f\n", (bench_now() - t) * 1e9 / (double)(k * n));
    } else if (!std::strcmp(mode, "spawn_b") || !std::strcmp(mode, "spawn")) {
        bool batch = mode[5] == '_';
        double v[3];
        int rounds = batch ? 3 : 1;
        for (int r = 0; r < rounds; r++) {
            long done = 0;
            t = bench_now();
            for (long i = 0; i < SPAWN_N; i++) {
                fibers::fiber(std::allocator_arg, stack_alloc(), [&done] { done++; }).detach();
                if (batch && i % 100 == 99) boost::this_fiber::yield();
            }
            while (done != SPAWN_N) boost::this_fiber::yield();
            v[r] = (bench_now() - t) * 1e9 / SPAWN_N;
        }
        std::printf("ns=%.2f\n", batch ? bench_median3(v) : v[0]);
    } else if (!std::strcmp(mode, "sleep")) {
        long done = 0;
        auto t0 = std::chrono::steady_clock::now();
        auto last = t0;
        for (long i = 0; i < SLEEP_N; i++) {
            int ms = bench_sleep_ms();
            fibers::fiber(std::allocator_arg, stack_alloc(), [ms, &done, &last] {
                boost::this_fiber::sleep_for(std::chrono::milliseconds(ms));
                auto now = std::chrono::steady_clock::now();
                if (now > last) last = now;
                done++;
            }).detach();
        }
        while (done != SLEEP_N) boost::this_fiber::sleep_for(std::chrono::milliseconds(1));
        std::printf("ms=%ld\n",
                    (long)std::chrono::duration_cast<std::chrono::milliseconds>(last - t0).count());
    } else {
        bench_fail("mode");
    }
    return 0;
}
