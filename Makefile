# coro.h - build, tests, variants, benchmarks, demo.
#
#   make            build the tests and examples (default variant: cc -O2 -g)
#   make test       build and run the whole suite; the last line is "N passed, M failed"
#   make variants   the suite again in every variant of the table below (gcc and clang at
#                   -O0/-O2/-O3, -m32, ASan+UBSan, Valgrind, the portable switch, aarch64,
#                   riscv64, armhf as ARM and Thumb-2 code, ppc64le, s390x, Windows x64
#                   under Wine); one whose compiler is
#                   absent is SKIPPED, one this kernel cannot run runs under its emulator
#   make test VARIANT=asan     one variant (names: $(VARIANTS)); make variants VARIANTS="m32 asan"
#                   runs a few
#   make bench      benchmarks (not tests): switch/create/RSS table, scheduler rows against Go
#                   and Boost.Fiber, the corun programs, timers, echo servers, httpd vs
#                   nginx/lighttpd and kv vs redis-server (make bench-servers: those two alone)
#   make demo       the examples doing their job; exits by itself
#   make install    headers (coro*.h) to $(PREFIX)/include, coro.pc to $(PREFIX)/share/pkgconfig;
#                   make uninstall removes them (both honour DESTDIR)

# The variants, one line each: adding one (an architecture, a sanitizer) is adding a line.
#   compiler  the C compiler; a variant whose compiler is not installed is SKIPPED
#   C++       the C++ compiler for the linkage test, "-" for none
#   emulator  what runs the suite when this kernel cannot run the binaries: tests/probe.sh builds
#             and runs a tiny program with the compiler and flags first, and only if the kernel
#             refuses it ("Exec format error") does the suite run under the emulator
#             (CORO_EMULATE=yes or no forces it; the variant's first line says which)
#   runner    always: a command every test runs under, and VAR=value settings for the tests
define VARIANT_TABLE
# name    | compiler                 | C++     | flags                                         | emulator                               | runner
gcc-O0    | gcc                      | g++     | -O0 -g                                        |                                        |
gcc-O2    | gcc                      | g++     | -O2 -g                                        |                                        |
gcc-O3    | gcc                      | g++     | -O3 -g                                        |                                        |
clang-O0  | clang                    | clang++ | -O0 -g                                        |                                        |
clang-O2  | clang                    | clang++ | -O2 -g                                        |                                        |
clang-O3  | clang                    | clang++ | -O3 -g                                        |                                        |
m32       | gcc                      | g++     | -O2 -g -m32 -idirafter $(BUILD)/m32-include   | qemu-i386                              |
asan      | clang                    | clang++ | -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all | | ASAN_OPTIONS=detect_leaks=1:handle_segv=0:detect_stack_use_after_return=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
tsan      | clang                    | clang++ | -O1 -g -fsanitize=thread                      |                                        | TSAN_OPTIONS=halt_on_error=1:exitcode=66 CORO_TEST_QUICK=1
valgrind  | gcc                      | g++     | -O2 -g                                        |                                        | valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite --show-leak-kinds=definite
aarch64   | aarch64-linux-gnu-gcc-12 | -       | -O2 -g                                        | qemu-aarch64 -L /usr/aarch64-linux-gnu |
riscv64   | riscv64-linux-gnu-gcc    | -       | -O2 -g -fasynchronous-unwind-tables           | qemu-riscv64 -L /usr/riscv64-linux-gnu |
armhf     | arm-linux-gnueabihf-gcc  | -       | -O2 -g -marm -funwind-tables                  | qemu-arm -L /usr/arm-linux-gnueabihf   |
armhf-thumb | arm-linux-gnueabihf-gcc | -      | -O2 -g -mthumb -funwind-tables                | qemu-arm -L /usr/arm-linux-gnueabihf   |
ppc64le   | powerpc64le-linux-gnu-gcc | -      | -O2 -g                                        | qemu-ppc64le -L /usr/powerpc64le-linux-gnu |
s390x     | s390x-linux-gnu-gcc      | -       | -O2 -g                                        | qemu-s390x -L /usr/s390x-linux-gnu     |
portable  | gcc                      | g++     | -O2 -g -DCORO_PORTABLE_SWITCH -D_FORTIFY_SOURCE=2 |                                    |
win64     | x86_64-w64-mingw32-gcc-posix | x86_64-w64-mingw32-g++-posix | -O2 -g -static           | bash tests/wine.sh                     | WINEPREFIX=$(abspath $(BUILD)/win64/wineprefix) CORO_TEST_QUICK=1
endef
# (riscv64 and ARM: GCC gives C code no unwind tables there unless asked, and the unwinder test
# needs them. s390x has no hand-written switch: it gets the portable one by itself; "portable"
# forces it on x86-64, with _FORTIFY_SOURCE, whose checked longjmp the portable switch avoids.)
# (win64: mingw-w64's posix flavour, for winpthreads, linked statically; tests/wine.sh runs a
# program under Wine in the prefix the runner column names, made the first time. The
# scheduler's thread suites run with their message counts divided by 20, as under TSan: with
# the full 40,000-post flood, Wine 8 later refused to start threads (EAGAIN) in that process)
# (-m32 needs /usr/include/asm, which gcc-multilib provides; it conflicts with Debian's cross
# compilers, so when it is absent the same symlink is made under $(BUILD)/m32-include)

VARIANT ?= default
BUILD ?= build
PREFIX ?= /usr/local
OUT := $(BUILD)/$(VARIANT)

# the table, parsed: each row one word (its spaces as ^), each field between |s
empty :=
space := $(empty) $(empty)
hash := \#
define newline


endef
VT_ROWS := $(filter-out $(hash)%,$(subst $(newline), ,$(subst $(space),^,$(VARIANT_TABLE))))
vt_field = $(strip $(subst ^, ,$(subst |,,$(word $(2),$(subst |, |,$(1))))))
vt_row = $(firstword $(foreach r,$(VT_ROWS),$(if $(filter $(1),$(call vt_field,$(r),1)),$(r))))
VARIANTS := $(foreach r,$(VT_ROWS),$(call vt_field,$(r),1))

STRICT := -std=c99 -Wall -Wextra -Wpedantic -Werror -Wcast-align -Wshadow -Wconversion
CXXSTRICT := -std=c++11 -Wall -Wextra -Wpedantic -Werror -Wcast-align -Wshadow -Wconversion
LDLIBS := -pthread -lm
CXX_OK := 1
EMULATOR :=
RUNNER :=

ifeq ($(VARIANT),default)
  OPT := -O2 -g
else
  VROW := $(call vt_row,$(VARIANT))
  ifeq ($(VROW),)
    $(error unknown VARIANT '$(VARIANT)'; use one of: default $(VARIANTS))
  endif
  CC := $(call vt_field,$(VROW),2)
  CXX := $(call vt_field,$(VROW),3)
  OPT := $(call vt_field,$(VROW),4)
  EMULATOR := $(call vt_field,$(VROW),5)
  VRUN := $(call vt_field,$(VROW),6)
  ifeq ($(CXX),-)
    CXX_OK := 0
  endif
  # the runner's VAR=value words go to the tests' environment, the rest prefixes every test
  # (make's filter takes one % per pattern: %=% would match only words ending in "=%")
  VRUN_ENV := $(foreach w,$(VRUN),$(if $(findstring =,$(w)),$(w)))
  $(foreach w,$(VRUN_ENV),$(eval export $(w)))
  RUNNER := $(filter-out $(VRUN_ENV),$(VRUN))
  ifneq ($(RUNNER),)
    export CORO_TEST_EXEC_WRAPPER := $(RUNNER)
  endif
endif
M32INC := $(if $(filter -m32,$(OPT)),$(BUILD)/m32-include)
# Windows (mingw-w64): programs end in .exe and link Winsock; the scheduler's suites run once
# (its only backend is WSAPoll), the examples and scripts need POSIX. Wine's server, kept for
# the whole run, is stopped after it.
WINDOWS := $(if $(findstring mingw32,$(CC)),1)
EXE := $(if $(WINDOWS),.exe)
LDLIBS += $(if $(WINDOWS),-lws2_32)
RUNDONE := $(if $(findstring wine.sh,$(EMULATOR)),bash tests/wine.sh --stop,:)
CORO_EMULATE ?= auto
export CORO_EMULATE

CFLAGS_ALL := $(STRICT) $(OPT)
CXXFLAGS_ALL := $(CXXSTRICT) $(OPT)

CORE_TESTS := test_core test_core_fpu1 test_core_fpu0 test_stack test_threads test_alloc \
              link_split link_static $(if $(WINDOWS),,test_stack_mprotect)
# the C++ linkage test needs a C++ compiler, which a machine with only gcc may not have
ifeq ($(CXX_OK),1)
  ifneq ($(shell command -v $(firstword $(CXX)) 2>/dev/null),)
    CORE_TESTS += link_cpp
  else
    CXX_MISSING := 1
  endif
endif
# ARM: the implementation in one instruction set, the coroutines and their caller in the other
ARM_OTHER_ISA := $(if $(filter arm-linux-gnueabihf-gcc,$(CC)),$(if $(filter -mthumb,$(OPT)),-marm,-mthumb))
ifneq ($(ARM_OTHER_ISA),)
  CORE_TESTS += link_interwork
endif
# the scheduler's suites run once per backend
SCHED_TESTS := test_sched test_sched_poll test_sched_alloc test_sched_alloc_poll $(if $(wildcard tests/test_io.c),test_io test_io_poll) \
               test_misuse test_misuse_poll test_misuse_debug test_xthread test_xthread_poll \
               test_select test_select_poll
# The architectures qemu runs after aarch64 run each suite once: the poll backend and
# CORO_FPU_KEEP=1 (the same code as 2 there) are architecture-independent C, tested natively,
# and so are the HTTP and Redis-protocol servers, whose checks time real clients (below).
EMU_LIGHT := $(filter $(VARIANT),riscv64 armhf armhf-thumb ppc64le s390x)
ifneq ($(EMU_LIGHT),)
  CORE_TESTS := $(filter-out test_core_fpu1,$(CORE_TESTS))
  SCHED_TESTS := $(filter-out %_poll,$(SCHED_TESTS))
endif
CORE_EXAMPLES := fringe generators taskos
EXAMPLE_BINS := $(addprefix $(OUT)/examples/,$(CORE_EXAMPLES))
# scripts run by tests/run.sh: "sh:" + script + "@" + its arguments
TEST_SCRIPTS := sh:tests/examples_core.sh@$(OUT)/examples sh:tests/examples_net.sh@$(OUT)/examples \
                sh:tests/examples_http.sh@$(OUT)
ifeq ($(VARIANT),default)
  TEST_SCRIPTS += sh:tests/gdb_test.sh@gcc-O2 sh:tests/probe_test.sh sh:tests/tsan.sh@$(OUT)/tsan \
                  sh:tests/install_test.sh
endif
NET_BUILD := examples-net ext
ifeq ($(WINDOWS),1)
  SCHED_TESTS := test_sched test_sched_alloc test_xthread test_misuse test_misuse_debug test_io test_select
  EXAMPLE_BINS :=
  TEST_SCRIPTS :=
  NET_BUILD :=
endif
TEST_BINS := $(addsuffix $(EXE),$(addprefix $(OUT)/tests/,$(CORE_TESTS) $(SCHED_TESTS)))
ifeq ($(VARIANT),tsan)
  TEST_BINS := $(addprefix $(OUT)/tests/,test_threads test_sched test_xthread test_xthread_poll test_select)
  TEST_SCRIPTS :=
endif
ifneq ($(EMU_LIGHT),)
  TEST_SCRIPTS := $(filter-out sh:tests/examples_http.sh%,$(TEST_SCRIPTS))
endif

.PHONY: all test variants probe FORCE bench bench-quick bench-chan bench-servers demo install uninstall clean tests-build $(M32INC)
all: tests-build

include examples/examples.mk
include bench/core/Makefile.inc
include bench/echo/Makefile.inc
include bench/sched/Makefile.inc
include bench/corun/Makefile.inc
include examples/ext.mk

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

# the misuse tests again with CORO_DEBUG: they check the line printed for each misuse
$(OUT)/tests/test_misuse_debug$(EXE): tests/test_misuse.c coro.h coro_sched.h tests/check.h tests/helpers.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -DCORO_DEBUG $< -o $@ $(LDLIBS)

$(OUT)/tests/test_stack_mprotect$(EXE): tests/test_stack.c coro.h tests/check.h tests/helpers.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -DCORO_GUARD_MPROTECT $< -o $@ $(LDLIBS)

$(OUT)/tests/link_split$(EXE): tests/link_impl.c tests/link_use.c coro.h tests/check.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) tests/link_impl.c tests/link_use.c -o $@ $(LDLIBS)

$(OUT)/tests/link_static$(EXE): tests/link_static_a.c tests/link_static_b.c coro.h tests/check.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) tests/link_static_a.c tests/link_static_b.c -o $@ $(LDLIBS)

$(OUT)/tests/link_interwork: tests/link_impl.c tests/link_use.c coro.h tests/check.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -c tests/link_impl.c -o $@.impl.o
	$(CC) $(CFLAGS_ALL) $(ARM_OTHER_ISA) -c tests/link_use.c -o $@.use.o
	$(CC) $(OPT) $@.impl.o $@.use.o -o $@ $(LDLIBS)

# the implementation compiled as C++, used from C through extern "C"
$(OUT)/tests/link_cpp$(EXE): tests/link_cpp.cc tests/link_use.c coro.h tests/check.h
	@mkdir -p $(dir $@)
	$(CXX) $(CXXFLAGS_ALL) -c tests/link_cpp.cc -o $@.impl.o
	$(CC) $(CFLAGS_ALL) -c tests/link_use.c -o $@.use.o
	$(CXX) $(OPT) $@.impl.o $@.use.o -o $@ $(LDLIBS)

# the probe decides whether the suite runs natively or under the variant's emulator (once per
# make test: the sub-make that runs the suites is given PROBED=1)
$(OUT)/exec.env: $(if $(PROBED),,FORCE) | $(M32INC)
	@mkdir -p $(dir $@); bash tests/probe.sh $@ "$(EMULATOR)" -- $(CC) $(CFLAGS_ALL) > $@.how || \
	  { echo "[$(VARIANT)] cannot run: $$(cat $@.how)"; rm -f $@; $(RUNDONE); exit 1; }
probe: $(OUT)/exec.env
	@cat $(OUT)/exec.env.how
FORCE:

# make test builds everything, then runs the suites side by side (TEST_JOBS at once, default:
# the number of CPUs), each into a result file of its own (its output printed when it ends, whole
# if it failed); tests/run.sh sum adds them up into the last line, "N passed, M failed". The
# longest suites come first so that they start first.
TEST_JOBS ?= $(shell nproc 2>/dev/null || echo 2)
suite_name = $(if $(filter sh:%,$(1)),$(basename $(notdir $(firstword $(subst @, ,$(1))))),$(notdir $(1)))
SUITES := $(TEST_SCRIPTS) $(filter %/test_sched %/test_sched_poll %/test_io %/test_io_poll,$(TEST_BINS)) \
          $(filter-out %/test_sched %/test_sched_poll %/test_io %/test_io_poll,$(TEST_BINS))
RESULTS := $(foreach t,$(SUITES),$(OUT)/results/$(call suite_name,$(t)))
$(foreach t,$(SUITES),$(eval SUITE_$(call suite_name,$(t)) := $(t)))
$(foreach t,$(TEST_BINS),$(eval $(OUT)/results/$(notdir $(t)): $(t)))
$(foreach t,$(TEST_SCRIPTS),$(eval $(OUT)/results/$(call suite_name,$(t)): tests-build))
$(OUT)/results/%: FORCE $(OUT)/exec.env
	@mkdir -p $(dir $@)
	@bash tests/run.sh one $(VARIANT) "$(RUNNER)" $(OUT)/exec.env $@ $(SUITE_$*)

test:
	@how=$$($(MAKE) -s --no-print-directory probe) || { echo "$$how"; exit 1; }; \
	  echo "[$(VARIANT)] runs $$how"
	@$(MAKE) --no-print-directory -j$(TEST_JOBS) -Otarget PROBED=1 tests-build $(RESULTS) || \
	  { $(RUNDONE); exit 1; }
	@$(if $(CXX_MISSING),echo "SKIPPED link_cpp: no C++ compiler ($(CXX)) installed")
	@bash tests/run.sh sum $(RESULTS); rc=$$?; $(RUNDONE); exit $$rc

# every variant of the table whose compiler is installed; the logs go to $(BUILD)/variant-*.log
# The variants run VARIANT_JOBS at a time: their suites mostly wait on timers, sockets and
# threads (two at once kept a 2-core machine at a load average under 1), so four at once take
# about a quarter as long; each prints its lines when it is done, and the last line lists the
# ones that failed.
VARIANT_JOBS ?= 4
variants:
	@mkdir -p $(BUILD); rm -f $(BUILD)/variant-*.failed
	@$(MAKE) --no-print-directory -k -j$(VARIANT_JOBS) -Otarget $(addprefix variant-run-,$(VARIANTS)); \
	failed=$$(cd $(BUILD) && ls variant-*.failed 2>/dev/null | sed 's/^variant-//; s/\.failed$$//' | tr '\n' ' '); \
	if [ -n "$$failed" ]; then echo "variants FAILED: $$failed"; exit 1; fi; echo "variants: all passed"
variant-run-%:
	@v=$*; cc='$(call vt_field,$(call vt_row,$*),2)'; \
	if ! command -v $$cc >/dev/null 2>&1; then echo "SKIPPED variant $$v: $$cc not installed"; exit 0; fi; \
	if ! how=$$($(MAKE) -s --no-print-directory probe VARIANT=$$v 2>/dev/null); then \
	  echo "SKIPPED variant $$v: $$(echo "$$how" | tail -n 1 | sed 's/^\[[^]]*\] cannot run: //')"; exit 0; fi; \
	start=$$(date +%s); \
	$(MAKE) --no-print-directory test VARIANT=$$v > $(BUILD)/variant-$$v.log 2>&1; rc=$$?; \
	echo "=== variant $$v ($$how; $$(( $$(date +%s) - start )) s)"; \
	grep -E '^\[|^SKIPPED|passed, .* failed$$|error:|CHECK|FAIL' $(BUILD)/variant-$$v.log | grep -v '^\[[^]]*\] runs ' | tail -n 30; \
	if [ $$rc -ne 0 ]; then echo "variant $$v FAILED (log: $(BUILD)/variant-$$v.log)"; touch $(BUILD)/variant-$$v.failed; fi

# the examples doing their job; exits by itself
demo: $(OUT)/examples/fringe $(OUT)/examples/generators examples-net
	@bash tools/demo.sh $(OUT)/examples

# Benchmarks, not tests: numbers are ratios against baselines measured in the same run.
BENCH_OUT := $(BUILD)/bench
$(BENCH_OUT)/timers: bench/timers.c coro.h coro_sched.h
	@mkdir -p $(dir $@)
	$(CC) $(STRICT) -O2 -g $< -o $@ $(LDLIBS)
$(BENCH_OUT)/echo_coro: bench/echo/coro_server.c coro.h coro_sched.h
	@mkdir -p $(dir $@)
	$(CC) $(STRICT) -O2 -g $< -o $@ $(LDLIBS)
bench-bins: core-bench-bins echo-bench-bins sched-bench-bins corun-bench-bins $(BENCH_OUT)/timers \
            $(BENCH_OUT)/echo_coro
bench: bench-bins
	@echo "=== switch, create, memory (bench/core)"
	$(BENCH_OUT)/bench_core $(BENCH_OUT)/core.tsv
	@echo "=== scheduler rows against Go and Boost.Fiber (bench/sched)"
	BIN=$(BENCH_OUT) bash bench/sched/run.sh
	@echo "=== the corun programs (bench/corun)"
	BIN=$(BENCH_OUT) bash bench/corun/run.sh
	@echo "=== timers"
	$(BENCH_OUT)/timers
	@echo "=== channels: same thread before/after, two threads against Go (bench/chan)"
	bash bench/chan/run.sh $(BENCH_OUT)
	@echo "=== echo servers (bench/echo)"
	BIN=$(BENCH_OUT) bash bench/echo/run.sh --out $(BENCH_OUT)/echo.tsv
	@if command -v gnuplot >/dev/null; then bash bench/echo/plot.sh $(BENCH_OUT)/echo.tsv $(BENCH_OUT)/rtt.png; fi
	@$(MAKE) --no-print-directory bench-servers
bench-chan:
	bash bench/chan/run.sh $(BENCH_OUT)
bench-quick: bench-bins
	BIN=$(BENCH_OUT) bash bench/echo/run.sh --quick --out $(BENCH_OUT)/echo-quick.tsv
# httpd against nginx and lighttpd, kv against redis-server (bench/servers; a server or client
# that is not installed is skipped with a line saying so)
bench-servers: $(OUT)/examples/httpd $(OUT)/examples/kv
	@echo "=== HTTP servers (bench/servers/http.sh)"
	bash bench/servers/http.sh $(OUT)/examples/httpd --out $(BENCH_OUT)/http.tsv
	@echo "=== kv vs redis-server (bench/servers/kv.sh)"
	bash bench/servers/kv.sh $(OUT)/examples/kv --out $(BENCH_OUT)/kv.tsv

# every public header (the repository's top-level coro*.h) and the pkg-config file
HEADERS := $(sort $(wildcard coro*.h))
PCDIR := $(PREFIX)/share/pkgconfig
install:
	install -d $(DESTDIR)$(PREFIX)/include $(DESTDIR)$(PCDIR)
	install -m 644 $(HEADERS) $(DESTDIR)$(PREFIX)/include/
	sed 's|@PREFIX@|$(PREFIX)|' coro.pc.in > $(DESTDIR)$(PCDIR)/coro.pc

uninstall:
	rm -f $(addprefix $(DESTDIR)$(PREFIX)/include/,$(HEADERS)) $(DESTDIR)$(PCDIR)/coro.pc

clean:
	rm -rf $(BUILD)
