# examples/examples.mk - the network examples and the HTTP parser's fuzzer; included by the top
# Makefile, which provides OUT (build/<variant>), CC, CFLAGS_ALL (strict, -Werror) and LDLIBS.
#
#   make examples-net        $(OUT)/examples/{echo_server,httpd,fetch,chat,backdoor,kv}
#   make examples-net-test   build them and run tests/examples_net.sh against real clients
#   make fuzz                build/fuzz/fuzz_http and fuzz_resp (clang, libFuzzer + ASan + UBSan)
#   make fuzz-run            run each for FUZZ_SECONDS (60) from the seeds in fuzz/corpus/ and
#                            fuzz/corpus_resp/

NET_EXAMPLES := echo_server httpd fetch chat backdoor kv checksum
NET_EXAMPLE_BINS := $(addprefix $(OUT)/examples/,$(NET_EXAMPLES))

FUZZ_CC ?= clang
FUZZ_SECONDS ?= 60
FUZZ_DIR ?= $(if $(BUILD),$(BUILD),build)/fuzz
FUZZ_FLAGS := -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
              -std=c99 -Wall -Wextra -Wpedantic -Werror

.PHONY: examples-net examples-net-test fuzz fuzz-run

examples-net: $(NET_EXAMPLE_BINS) $(OUT)/tests/canned_http $(OUT)/tests/chat_burst

# the load client of examples/chat's burst check (tests/examples_net.sh), built for this
# machine whatever the variant: it runs natively next to the server under test
HOSTCC ?= cc
$(OUT)/tests/chat_burst: tests/chat_burst.c coro.h coro_sched.h
	@mkdir -p $(dir $@)
	$(HOSTCC) -std=c99 -O2 -g -Wall -Wextra -Werror $< -o $@ -pthread

# the misbehaving HTTP peer fetch is tested against (tests/examples_http.sh)
$(OUT)/tests/canned_http: tests/canned_http.c | $(M32INC)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) $< -o $@

# a static pattern rule: it only ever applies to these, whatever rule the top Makefile has
# for the other examples
# (M32INC: the top Makefile's include fix-up for -m32, empty in other variants)
$(NET_EXAMPLE_BINS): $(OUT)/examples/%: examples/%.c coro.h coro_sched.h | $(M32INC)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -I. $< -o $@ $(LDLIBS)

$(OUT)/examples/httpd: examples/http_parse.h
$(OUT)/examples/kv: examples/resp_parse.h

examples-net-test: examples-net
	bash tests/examples_net.sh $(OUT)/examples

fuzz: $(FUZZ_DIR)/fuzz_http $(FUZZ_DIR)/fuzz_resp

$(FUZZ_DIR)/fuzz_http: fuzz/fuzz_http.c examples/http_parse.h
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_FLAGS) -I. $< -o $@

$(FUZZ_DIR)/fuzz_resp: fuzz/fuzz_resp.c examples/resp_parse.h
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_FLAGS) -I. $< -o $@

# New inputs go to $(FUZZ_DIR)/corpus (fuzz/corpus/ stays the small checked-in seed set);
# a crash is written to $(FUZZ_DIR)/crash-<sha1> and fails the target.
fuzz-run: $(FUZZ_DIR)/fuzz_http $(FUZZ_DIR)/fuzz_resp
	@mkdir -p $(FUZZ_DIR)/corpus $(FUZZ_DIR)/corpus_resp
	$(FUZZ_DIR)/fuzz_http -max_total_time=$(FUZZ_SECONDS) -max_len=4096 -print_final_stats=1 \
	    -artifact_prefix=$(FUZZ_DIR)/ $(FUZZ_DIR)/corpus fuzz/corpus
	$(FUZZ_DIR)/fuzz_resp -max_total_time=$(FUZZ_SECONDS) -max_len=4096 -print_final_stats=1 \
	    -artifact_prefix=$(FUZZ_DIR)/ $(FUZZ_DIR)/corpus_resp fuzz/corpus_resp
