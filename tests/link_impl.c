/* link_impl.c + link_use.c: the implementation in one file, the use in another. */
#define CORO_IMPLEMENTATION
#include "../coro.h"
