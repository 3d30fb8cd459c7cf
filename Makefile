# coro.h - build, tests, variants, benchmarks, demo.
#
#   make            build the tests and examples (default variant: cc -O2 -g)
#   make test       build and run the whole suite; the last line is "N passed, M failed"
#   make variants   the suite again with gcc and clang at -O0/-O2/-O3, -m32, ASan+UBSan,
#                   Valgrind, aarch64 under qemu and win64 (mingw-w64) under Wine when
#                   their cross compilers are installed
#   make test VARIANT=asan     one variant (names: $(VARIANTS))
#   make bench      benchmarks (not tests): switch/create/RSS table, echo servers
#   make demo       the examples doing their job; exits by itself
#   make install    headers to $(PREFIX)/include, coro.pc to $(PREFIX)/share/pkgconfig

VARIANTS := gcc-O0 gcc-O2 gcc-O3 clang-O0 clang-O2 clang-O3 m32 asan valgrind aarch64 win64
VARIANT ?= default
BUILD ?= build
PREFIX ?= /usr/local
OUT := $(BUILD)/$(VARIANT)

STRICT := -std=c99 -Wall -Wextra -Wpedantic -Werror
CXXSTRICT := -std=c++11 -Wall -Wextra -Wpedantic -Werror
LDLIBS := -pthread -lm
RUNWRAP := -
RUNDONE := :
CXX_OK := 1
EXE :=

ifeq ($(VARIANT),default)
  OPT := -O2 -g
else ifeq ($(VARIANT),gcc-O0)
  CC := gcc
  CXX := g++
  OPT := -O0 -g
else ifeq ($(VARIANT),gcc-O2)
  CC := gcc
  CXX := g++
  OPT := -O2 -g
else ifeq ($(VARIANT),gcc-O3)
  CC := gcc
  CXX := g++
  OPT := -O3 -g
else ifeq ($(VARIANT),clang-O0)
  CC := clang
  CXX := clang++
  OPT := -O0 -g
else ifeq ($(VARIANT),clang-O2)
  CC := clang
  CXX := clang++
  OPT := -O2 -g
else ifeq ($(VARIANT),clang-O3)
  CC := clang
  CXX := clang++
  OPT := -O3 -g
else ifeq ($(VARIANT),m32)
  CC := gcc
  CXX := g++
  # gcc-multilib provides /usr/include/asm; it conflicts with Debian's cross compilers, so when
  # it is absent the same symlink is made under build/ (see $(M32INC))
  M32INC := $(BUILD)/m32-include
  OPT := -O2 -g -m32 -idirafter $(M32INC)
else ifeq ($(VARIANT),asan)
  CC := clang
  CXX := clang++
  OPT := -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
  export ASAN_OPTIONS := detect_leaks=1:handle_segv=0:detect_stack_use_after_return=1
  export UBSAN_OPTIONS := print_stacktrace=1:halt_on_error=1
else ifeq ($(VARIANT),valgrind)
  CC := gcc
  CXX := g++
  OPT := -O2 -g
  RUNWRAP := valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite --show-leak-kinds=definite
  export CORO_TEST_EXEC_WRAPPER := $(RUNWRAP)
else ifeq ($(VARIANT),aarch64)
  CC := aarch64-linux-gnu-gcc-12
  CXX_OK := 0
  OPT := -O2 -g
  RUNWRAP := qemu-aarch64 -L /usr/aarch64-linux-gnu
  export QEMU_LD_PREFIX := /usr/aarch64-linux-gnu
  export CORO_TEST_EXEC_WRAPPER := $(RUNWRAP)
  export CORO_TEST_EMULATOR := qemu-aarch64
else ifeq ($(VARIANT),win64)
  # Windows x64: mingw-w64 (its posix flavour, for winpthreads), linked statically, run under
  # Wine by tests/wine.sh
  CC := x86_64-w64-mingw32-gcc-posix
  CXX := x86_64-w64-mingw32-g++-posix
  OPT := -O2 -g
  LDLIBS := -static -pthread -lws2_32
  EXE := .exe
  RUNWRAP := bash tests/wine.sh
  RUNDONE := bash tests/wine.sh --stop
  export WINEPREFIX := $(abspath $(OUT))/wineprefix
else
  $(error unknown VARIANT '$(VARIANT)'; use one of: default $(VARIANTS))
endif

CFLAGS_ALL := $(STRICT) $(OPT)
CXXFLAGS_ALL := $(CXXSTRICT) $(OPT)

CORE_TESTS := test_core test_core_fpu1 test_core_fpu0 test_stack test_threads test_alloc \
              link_split link_static
# the mprotect guard fallback exists on POSIX systems only
ifneq ($(VARIANT),win64)
  CORE_TESTS += test_stack_mprotect
endif
# the C++ linkage test needs a C++ compiler, which a machine with only gcc may not have
ifeq ($(CXX_OK),1)
  ifneq ($(shell command -v $(firstword $(CXX)) 2>/dev/null),)
    CORE_TESTS += link_cpp
  else
    CXX_MISSING := 1
  endif
endif
# the scheduler's suites run once per backend
SCHED_TESTS := test_sched test_sched_poll test_sched_alloc test_sched_alloc_poll $(if $(wildcard tests/test_io.c),test_io test_io_poll)
ifeq ($(VARIANT),win64)
  SCHED_TESTS :=
endif
TEST_BINS := $(addsuffix $(EXE),$(addprefix $(OUT)/tests/,$(CORE_TESTS) $(SCHED_TESTS)))
CORE_EXAMPLES := fringe generators taskos
EXAMPLE_BINS := $(addprefix $(OUT)/examples/,$(CORE_EXAMPLES))
# scripts run by tests/run.sh: "sh:" + script + "@" + its arguments
TEST_SCRIPTS := sh:tests/examples_core.sh@$(OUT)/examples sh:tests/examples_net.sh@$(OUT)/examples
NET_BUILD := examples-net
ifeq ($(VARIANT),win64)
  # the examples are POSIX programs (pipes, signals, terminals)
  EXAMPLE_BINS :=
  NET_BUILD :=
  TEST_SCRIPTS :=
endif
ifeq ($(VARIANT),default)
  TEST_SCRIPTS += sh:tests/gdb_test.sh@gcc-O2
endif

.PHONY: all test variants bench bench-quick demo install uninstall clean tests-build $(M32INC)
all: tests-build

include examples/examples.mk
include bench/core/Makefile.inc
include bench/echo/Makefile.inc

tests-build: $(M32INC) $(TEST_BINS) $(EXAMPLE_BINS) $(NET_BUILD)

$(OUT)/tests/%_poll$(EXE): tests/%.c coro.h coro_sched.h tests/check.h tests/helpers.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -DCORO_SCHED_POLL $< -o $@ $(LDLIBS)

$(OUT)/examples/%: examples/%.c coro.h coro_sched.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -I. $< -o $@ $(LDLIBS)

$(BUILD)/m32-include:
	@mkdir -p $@
	@[ -e /usr/include/asm ] || [ -e $@/asm ] || ln -s /usr/include/x86_64-linux-gnu/asm $@/asm

$(OUT)/tests/%$(EXE): tests/%.c coro.h coro_sched.h tests/check.h tests/helpers.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) $< -o $@ $(LDLIBS)

$(OUT)/tests/test_core_fpu%$(EXE): tests/test_core.c coro.h tests/check.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -DCORO_FPU_KEEP=$* $< -o $@ $(LDLIBS)

$(OUT)/tests/test_stack_mprotect$(EXE): tests/test_stack.c coro.h tests/check.h tests/helpers.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -DCORO_GUARD_MPROTECT $< -o $@ $(LDLIBS)

$(OUT)/tests/link_split$(EXE): tests/link_impl.c tests/link_use.c coro.h tests/check.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) tests/link_impl.c tests/link_use.c -o $@ $(LDLIBS)

$(OUT)/tests/link_static$(EXE): tests/link_static_a.c tests/link_static_b.c coro.h tests/check.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) tests/link_static_a.c tests/link_static_b.c -o $@ $(LDLIBS)

# the implementation compiled as C++, used from C through extern "C"
$(OUT)/tests/link_cpp$(EXE): tests/link_cpp.cc tests/link_use.c coro.h tests/check.h
	@mkdir -p $(dir $@)
	$(CXX) $(CXXFLAGS_ALL) -c tests/link_cpp.cc -o $@.impl.o
	$(CC) $(CFLAGS_ALL) -c tests/link_use.c -o $@.use.o
	$(CXX) $(OPT) $@.impl.o $@.use.o -o $@ $(LDLIBS)

test: tests-build
	@$(if $(CXX_MISSING),echo "SKIPPED link_cpp: no C++ compiler ($(CXX)) installed")
	@bash tests/run.sh $(VARIANT) "$(RUNWRAP)" -- $(TEST_BINS) $(TEST_SCRIPTS); rc=$$?; $(RUNDONE); exit $$rc

variants:
	@fail=0; for v in $(VARIANTS); do \
	  if [ $$v = aarch64 ] && ! command -v aarch64-linux-gnu-gcc-12 >/dev/null; then \
	    echo "SKIPPED variant aarch64: aarch64-linux-gnu-gcc-12 not installed"; continue; fi; \
	  if [ $$v = win64 ] && ! { command -v x86_64-w64-mingw32-gcc-posix && \
	       { command -v wine || command -v wine64 || [ -x /usr/lib/wine/wine64 ]; }; } >/dev/null; then \
	    echo "SKIPPED variant win64: x86_64-w64-mingw32-gcc-posix or wine not installed"; continue; fi; \
	  echo "=== variant $$v"; \
	  $(MAKE) --no-print-directory test VARIANT=$$v > $(BUILD)/variant-$$v.log 2>&1; rc=$$?; \
	  grep -E '^\[|^SKIPPED|passed, .* failed$$|error:|CHECK|FAIL' $(BUILD)/variant-$$v.log | tail -n 30; \
	  [ $$rc -eq 0 ] || { echo "variant $$v FAILED (log: $(BUILD)/variant-$$v.log)"; fail=1; }; \
	done; exit $$fail

# the examples doing their job; exits by itself
demo: $(OUT)/examples/fringe $(OUT)/examples/generators examples-net
	@bash tools/demo.sh $(OUT)/examples

# Benchmarks, not tests: numbers are ratios against baselines measured in the same run.
BENCH_OUT := $(BUILD)/bench
$(BENCH_OUT)/timers: bench/timers.c coro.h coro_sched.h
	@mkdir -p $(dir $@)
	$(CC) -std=c99 -O2 -g -Wall -Wextra -Werror $< -o $@ $(LDLIBS)
$(BENCH_OUT)/echo_coro: bench/echo/coro_server.c coro.h coro_sched.h
	@mkdir -p $(dir $@)
	$(CC) -std=c99 -O2 -g -Wall -Wextra -Werror $< -o $@ $(LDLIBS)
bench-bins: core-bench-bins echo-bench-bins $(BENCH_OUT)/timers $(BENCH_OUT)/echo_coro
bench: bench-bins
	@echo "=== switch, create, memory (bench/core)"
	$(BENCH_OUT)/bench_core $(BENCH_OUT)/core.tsv
	@echo "=== timers"
	$(BENCH_OUT)/timers
	@echo "=== echo servers (bench/echo)"
	BIN=$(BENCH_OUT) bash bench/echo/run.sh --out $(BENCH_OUT)/echo.tsv
	@if command -v gnuplot >/dev/null; then bash bench/echo/plot.sh $(BENCH_OUT)/echo.tsv $(BENCH_OUT)/rtt.png; fi
bench-quick: bench-bins
	BIN=$(BENCH_OUT) bash bench/echo/run.sh --quick --out $(BENCH_OUT)/echo-quick.tsv

install:
	install -d $(DESTDIR)$(PREFIX)/include $(DESTDIR)$(PREFIX)/share/pkgconfig
	install -m 644 coro.h $(DESTDIR)$(PREFIX)/include/
	sed 's|@PREFIX@|$(PREFIX)|' coro.pc.in > $(DESTDIR)$(PREFIX)/share/pkgconfig/coro.pc

uninstall:
	rm -f $(DESTDIR)$(PREFIX)/include/coro.h $(DESTDIR)$(PREFIX)/share/pkgconfig/coro.pc

clean:
	rm -rf $(BUILD)
