# coro.h - build, tests, variants, benchmarks, demo.
#
#   make            build the tests and examples (default variant: cc -O2 -g)
#   make test       build and run the whole suite; the last line is "N passed, M failed"
#   make variants   the suite again with gcc and clang at -O0/-O2/-O3, -m32, ASan+UBSan,
#                   Valgrind, the portable switch, and aarch64, riscv64, armhf (ARM and
#                   Thumb-2), ppc64le and s390x under qemu when the cross compiler is installed
#   make test VARIANT=asan     one variant (names: $(VARIANTS))
#   make bench      benchmarks (not tests): switch/create/RSS table, echo servers
#   make demo       the examples doing their job; exits by itself
#   make install    headers to $(PREFIX)/include, coro.pc to $(PREFIX)/share/pkgconfig

VARIANTS := gcc-O0 gcc-O2 gcc-O3 clang-O0 clang-O2 clang-O3 m32 asan valgrind aarch64 \
            riscv64 armhf armhf-thumb ppc64le s390x portable
VARIANT ?= default
BUILD ?= build
PREFIX ?= /usr/local
OUT := $(BUILD)/$(VARIANT)

STRICT := -std=c99 -Wall -Wextra -Wpedantic -Werror
CXXSTRICT := -std=c++11 -Wall -Wextra -Wpedantic -Werror
LDLIBS := -pthread -lm
RUNWRAP := -
CXX_OK := 1

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
else ifeq ($(VARIANT),riscv64)
  # GCC emits no unwind tables for C on riscv64 by default; the unwinder test needs them
  CC := riscv64-linux-gnu-gcc
  CXX_OK := 0
  OPT := -O2 -g -fasynchronous-unwind-tables
  QEMU_TRIPLE := riscv64-linux-gnu
  QEMU_ARCH := riscv64
else ifeq ($(VARIANT),armhf)
  # ARM (A32) code calling the switch; armhf-thumb: Thumb-2 code (the compiler's default).
  # Unwinding on ARM reads EHABI tables, which C code gets only with -funwind-tables.
  CC := arm-linux-gnueabihf-gcc
  CXX_OK := 0
  OPT := -O2 -g -marm -funwind-tables
  ARM_OTHER_ISA := -mthumb
  QEMU_TRIPLE := arm-linux-gnueabihf
  QEMU_ARCH := arm
else ifeq ($(VARIANT),armhf-thumb)
  CC := arm-linux-gnueabihf-gcc
  CXX_OK := 0
  OPT := -O2 -g -mthumb -funwind-tables
  ARM_OTHER_ISA := -marm
  QEMU_TRIPLE := arm-linux-gnueabihf
  QEMU_ARCH := arm
else ifeq ($(VARIANT),ppc64le)
  CC := powerpc64le-linux-gnu-gcc
  CXX_OK := 0
  OPT := -O2 -g
  QEMU_TRIPLE := powerpc64le-linux-gnu
  QEMU_ARCH := ppc64le
else ifeq ($(VARIANT),s390x)
  # no hand-written switch: the portable one is chosen automatically
  CC := s390x-linux-gnu-gcc
  CXX_OK := 0
  OPT := -O2 -g
  QEMU_TRIPLE := s390x-linux-gnu
  QEMU_ARCH := s390x
else ifeq ($(VARIANT),portable)
  # the portable switch on x86-64, with _FORTIFY_SOURCE (whose checked longjmp it must avoid)
  CC := gcc
  CXX := g++
  OPT := -O2 -g -DCORO_PORTABLE_SWITCH -D_FORTIFY_SOURCE=2
else
  $(error unknown VARIANT '$(VARIANT)'; use one of: default $(VARIANTS))
endif

# cross-compiled variants run under qemu-user with the target's libraries
ifdef QEMU_ARCH
  RUNWRAP := qemu-$(QEMU_ARCH) -L /usr/$(QEMU_TRIPLE)
  export QEMU_LD_PREFIX := /usr/$(QEMU_TRIPLE)
  export CORO_TEST_EXEC_WRAPPER := $(RUNWRAP)
  export CORO_TEST_EMULATOR := qemu-$(QEMU_ARCH)
endif

CFLAGS_ALL := $(STRICT) $(OPT)
CXXFLAGS_ALL := $(CXXSTRICT) $(OPT)

CORE_TESTS := test_core test_core_fpu1 test_core_fpu0 test_stack test_stack_mprotect test_threads \
              test_alloc link_split link_static
# the C++ linkage test needs a C++ compiler, which a machine with only gcc may not have
ifeq ($(CXX_OK),1)
  ifneq ($(shell command -v $(firstword $(CXX)) 2>/dev/null),)
    CORE_TESTS += link_cpp
  else
    CXX_MISSING := 1
  endif
endif
# ARM: the implementation in one instruction set, the coroutines and their caller in the other
ifdef ARM_OTHER_ISA
  CORE_TESTS += link_interwork
endif
# the scheduler's suites run once per backend
SCHED_TESTS := test_sched test_sched_poll test_sched_alloc test_sched_alloc_poll $(if $(wildcard tests/test_io.c),test_io test_io_poll)
# Under qemu (the architectures added after aarch64) each suite runs once: the poll backend and
# CORO_FPU_KEEP=1 (the same code as 2 there) are architecture-independent C, tested natively.
ifdef QEMU_ARCH
  ifneq ($(VARIANT),aarch64)
    CORE_TESTS := $(filter-out test_core_fpu1,$(CORE_TESTS))
    SCHED_TESTS := $(filter-out %_poll,$(SCHED_TESTS))
  endif
endif
TEST_BINS := $(addprefix $(OUT)/tests/,$(CORE_TESTS) $(SCHED_TESTS))
CORE_EXAMPLES := fringe generators taskos
EXAMPLE_BINS := $(addprefix $(OUT)/examples/,$(CORE_EXAMPLES))
# scripts run by tests/run.sh: "sh:" + script + "@" + its arguments
TEST_SCRIPTS := sh:tests/examples_core.sh@$(OUT)/examples sh:tests/examples_net.sh@$(OUT)/examples
ifeq ($(VARIANT),default)
  TEST_SCRIPTS += sh:tests/gdb_test.sh@gcc-O2
endif

.PHONY: all test variants bench bench-quick demo install uninstall clean tests-build $(M32INC)
all: tests-build

include examples/examples.mk
include bench/core/Makefile.inc
include bench/echo/Makefile.inc

tests-build: $(M32INC) $(TEST_BINS) $(EXAMPLE_BINS) examples-net

$(OUT)/tests/%_poll: tests/%.c coro.h coro_sched.h tests/check.h tests/helpers.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -DCORO_SCHED_POLL $< -o $@ $(LDLIBS)

$(OUT)/examples/%: examples/%.c coro.h coro_sched.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -I. $< -o $@ $(LDLIBS)

$(BUILD)/m32-include:
	@mkdir -p $@
	@[ -e /usr/include/asm ] || [ -e $@/asm ] || ln -s /usr/include/x86_64-linux-gnu/asm $@/asm

$(OUT)/tests/%: tests/%.c coro.h coro_sched.h tests/check.h tests/helpers.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) $< -o $@ $(LDLIBS)

$(OUT)/tests/test_core_fpu%: tests/test_core.c coro.h tests/check.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -DCORO_FPU_KEEP=$* $< -o $@ $(LDLIBS)

$(OUT)/tests/test_stack_mprotect: tests/test_stack.c coro.h tests/check.h tests/helpers.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -DCORO_GUARD_MPROTECT $< -o $@ $(LDLIBS)

$(OUT)/tests/link_split: tests/link_impl.c tests/link_use.c coro.h tests/check.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) tests/link_impl.c tests/link_use.c -o $@ $(LDLIBS)

$(OUT)/tests/link_static: tests/link_static_a.c tests/link_static_b.c coro.h tests/check.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) tests/link_static_a.c tests/link_static_b.c -o $@ $(LDLIBS)

$(OUT)/tests/link_interwork: tests/link_impl.c tests/link_use.c coro.h tests/check.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -c tests/link_impl.c -o $@.impl.o
	$(CC) $(CFLAGS_ALL) $(ARM_OTHER_ISA) -c tests/link_use.c -o $@.use.o
	$(CC) $(OPT) $@.impl.o $@.use.o -o $@ $(LDLIBS)

# the implementation compiled as C++, used from C through extern "C"
$(OUT)/tests/link_cpp: tests/link_cpp.cc tests/link_use.c coro.h tests/check.h
	@mkdir -p $(dir $@)
	$(CXX) $(CXXFLAGS_ALL) -c tests/link_cpp.cc -o $@.impl.o
	$(CC) $(CFLAGS_ALL) -c tests/link_use.c -o $@.use.o
	$(CXX) $(OPT) $@.impl.o $@.use.o -o $@ $(LDLIBS)

test: tests-build
	@$(if $(CXX_MISSING),echo "SKIPPED link_cpp: no C++ compiler ($(CXX)) installed")
	@bash tests/run.sh $(VARIANT) "$(RUNWRAP)" -- $(TEST_BINS) $(TEST_SCRIPTS)

variants:
	@fail=0; for v in $(VARIANTS); do \
	  case $$v in aarch64) need=aarch64-linux-gnu-gcc-12;; riscv64) need=riscv64-linux-gnu-gcc;; \
	    armhf*) need=arm-linux-gnueabihf-gcc;; ppc64le) need=powerpc64le-linux-gnu-gcc;; \
	    s390x) need=s390x-linux-gnu-gcc;; *) need=;; esac; \
	  if [ -n "$$need" ] && ! command -v $$need >/dev/null; then \
	    echo "SKIPPED variant $$v: $$need not installed"; continue; fi; \
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
