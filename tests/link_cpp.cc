// link_cpp.cc: the implementation compiled as C++; link_use.c (C) calls it through extern "C".
// It also uses the API from C++ itself.
#define CORO_IMPLEMENTATION
#include "../coro.h"

#include <cstdint>

namespace {
void *gen(void *arg) {
    std::intptr_t n = reinterpret_cast<std::intptr_t>(arg);
    coro_yield(reinterpret_cast<void *>(n + 1));
    return nullptr;
}
struct CheckFromCxx {
    CheckFromCxx() {
        coro_t *co = coro_new(gen, 0);
        ok = reinterpret_cast<std::intptr_t>(coro_resume(co, reinterpret_cast<void *>(1))) == 2;
        coro_free(co);
        if (!ok) __builtin_trap();
    }
    bool ok;
} check_from_cxx;
}  // namespace
