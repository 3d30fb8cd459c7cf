/* fuzz_resp.c - libFuzzer target for examples/resp_parse.h, the Redis-protocol parser of kv.c.

   What it checks, besides what AddressSanitizer and UBSan catch (the input is copied into a
   buffer of exactly its size, since inline commands are decoded in place):
   - every result is RESP_ERROR (with a "Protocol error: " message), RESP_INCOMPLETE,
     RESP_NEED_ARGS (asking for more arguments than were offered) or a length in (0, len];
   - on success every argument lies inside the command's bytes, and a multibulk command's
     arguments appear in order without overlapping;
   - a prefix of a complete command is never an error and never complete as a longer command;
   - the whole input parsed as a stream of commands (growing the argument array when asked, as
     kv.c does) ends in RESP_INCOMPLETE or RESP_ERROR after consuming at most every byte.

   Build and run, from the repository root (make fuzz-run does the same with a time limit):
       clang -g -O1 -fsanitize=fuzzer,address,undefined -I. fuzz/fuzz_resp.c -o fuzz_resp
       ./fuzz_resp -max_total_time=60 fuzz/corpus_resp */
#include "examples/resp_parse.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#define CHECK(x)                                                                                   \
    do {                                                                                           \
        if (!(x)) {                                                                                \
            fprintf(stderr, "fuzz_resp.c:%d: invariant failed: %s\n", __LINE__, #x);               \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

enum { CAP = 8 };

static long parse_copy(const uint8_t *data, size_t size, struct resp_arg *argv, size_t cap,
                       size_t *argc, char **copy) {
    const char *err;
    long r;
    *copy = (char *)malloc(size ? size : 1);
    CHECK(*copy != NULL);
    memcpy(*copy, data, size);
    r = resp_parse(*copy, size, argv, cap, argc, &err);
    CHECK(r == RESP_ERROR || r == RESP_INCOMPLETE || r == RESP_NEED_ARGS || (r > 0 && (size_t)r <= size));
    if (r == RESP_ERROR) CHECK(err != NULL && strncmp(err, "Protocol error: ", 16) == 0);
    if (r == RESP_NEED_ARGS) CHECK(*argc > cap);
    if (r > 0) {
        size_t i;
        CHECK(*argc <= cap);
        for (i = 0; i < *argc; i++) {
            CHECK(argv[i].p >= *copy && argv[i].len <= (size_t)(*copy + r - argv[i].p));
            if (i > 0 && (*copy)[0] == '*') CHECK(argv[i].p >= argv[i - 1].p + argv[i - 1].len);
        }
    }
    return r;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    struct resp_arg small[CAP], *big = NULL;
    size_t argc, cap = CAP, pos = 0;
    char *copy, *stream;
    long r = parse_copy(data, size, small, CAP, &argc, &copy);
    free(copy);
    if (r > 0 && r > 1) { /* a prefix of a command: incomplete (or asks for room), never an error */
        long p = parse_copy(data, (size_t)r - 1, small, CAP, &argc, &copy);
        free(copy);
        CHECK(p == RESP_INCOMPLETE || p == RESP_NEED_ARGS || (data[0] != '*' && p > 0));
    }
    /* the input as a stream of commands */
    stream = (char *)malloc(size ? size : 1);
    CHECK(stream != NULL);
    memcpy(stream, data, size);
    for (;;) {
        const char *err;
        struct resp_arg *v = big ? big : small;
        r = resp_parse(stream + pos, size - pos, v, cap, &argc, &err);
        if (r == RESP_NEED_ARGS) {
            if (argc > size + 16) break; /* more arguments than bytes: kv.c waits for them */
            free(big);
            big = (struct resp_arg *)malloc(argc * sizeof *big);
            CHECK(big != NULL);
            cap = argc;
            continue;
        }
        if (r <= 0) break;
        pos += (size_t)r;
        CHECK(pos <= size);
    }
    free(big);
    free(stream);
    return 0;
}
