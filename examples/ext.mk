# examples/ext.mk - the optional integrations (coro_tls.h over OpenSSL, coro_mysql.h over
# MariaDB Connector/C, coro_zmq.h over libzmq):
# their tests and examples, built only where pkg-config finds the library and the variant can
# link it (not in variants with an emulator, -m32 and the cross-compiled ones: only the host's
# libraries are installed). Elsewhere their test
# script prints a SKIPPED line. Included by the top Makefile, which provides OUT, CC, CFLAGS_ALL,
# LDLIBS, VARIANT and TEST_SCRIPTS.
#
#   make ext        build what this machine can build of them
#   make bench-tls  httpd_tls against nginx

EXT_HOST_VARIANT := $(if $(EMULATOR),,$(VARIANT))
ext_pkg = $(if $(EXT_HOST_VARIANT),$(shell pkg-config --exists $(1) 2>/dev/null && echo 1))
# Their tests start servers and take about 30 s (valgrind: 3 min), so they run in the variants
# that differ for them (the default build, -O0, clang, the sanitizers, valgrind), not in all.
EXT_TEST_VARIANTS := default gcc-O0 clang-O2 asan valgrind
EXT_TESTS_RUN := $(filter $(VARIANT),$(EXT_TEST_VARIANTS))
ext_test = $(if $(EXT_TESTS_RUN),sh:tests/$(1)@$(OUT))
.PHONY: ext-skip-note
ifeq ($(EXT_TESTS_RUN),)
test: ext-skip-note
endif
ext-skip-note:
	@echo "SKIPPED coro_tls, coro_mysql, coro_zmq tests in variant $(VARIANT): $(if $(EXT_HOST_VARIANT),they run in $(EXT_TEST_VARIANTS),only the host's libraries are installed)"

# ---- TLS: coro_tls.h over OpenSSL 3 ----
HAVE_OPENSSL := $(call ext_pkg,openssl)
TLS_CFLAGS := $(if $(HAVE_OPENSSL),$(shell pkg-config --cflags openssl))
TLS_LIBS := $(if $(HAVE_OPENSSL),$(shell pkg-config --libs openssl))
EXT_BINS :=
ifeq ($(HAVE_OPENSSL),1)
  EXT_BINS += $(OUT)/tests/test_tls $(OUT)/examples/tls_hello
endif
TEST_SCRIPTS += $(call ext_test,tls_test.sh)

# httpd and fetch once more, with TLS (-DHTTPD_TLS / -DFETCH_TLS): the plain ones stay free of it
ifeq ($(HAVE_OPENSSL),1)
  EXT_BINS += $(OUT)/examples/httpd_tls $(OUT)/examples/fetch_tls
endif

$(OUT)/examples/httpd_tls: examples/httpd.c examples/http_parse.h coro_tls.h coro.h coro_sched.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) $(TLS_CFLAGS) -I. -DHTTPD_TLS $< -o $@ $(TLS_LIBS) $(LDLIBS)

$(OUT)/examples/fetch_tls: examples/fetch.c coro_tls.h coro.h coro_sched.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) $(TLS_CFLAGS) -I. -DFETCH_TLS $< -o $@ $(TLS_LIBS) $(LDLIBS)

# httpd_tls against nginx (bench/tls/https.sh): handshakes and bulk transfer, CPU per request
.PHONY: bench-tls
bench-tls: $(OUT)/examples/httpd_tls
	bash bench/tls/https.sh $(OUT)/examples/httpd_tls

$(OUT)/tests/test_tls: tests/test_tls.c coro_tls.h coro.h coro_sched.h tests/check.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) $(TLS_CFLAGS) $< -o $@ $(TLS_LIBS) $(LDLIBS)

$(OUT)/examples/tls_hello: examples/tls_hello.c coro_tls.h coro.h coro_sched.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) $(TLS_CFLAGS) -I. $< -o $@ $(TLS_LIBS) $(LDLIBS)

# ---- MariaDB/MySQL: coro_mysql.h over MariaDB Connector/C's non-blocking API ----
HAVE_MARIADB := $(call ext_pkg,libmariadb)
MYSQL_CFLAGS := $(if $(HAVE_MARIADB),$(shell pkg-config --cflags libmariadb))
MYSQL_LIBS := $(if $(HAVE_MARIADB),$(shell pkg-config --libs libmariadb))
ifeq ($(HAVE_MARIADB),1)
  EXT_BINS += $(OUT)/tests/test_mysql $(OUT)/examples/mysql_pool
endif
TEST_SCRIPTS += $(call ext_test,mysql_test.sh)

$(OUT)/tests/test_mysql: tests/test_mysql.c coro_mysql.h coro.h coro_sched.h tests/check.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) $(MYSQL_CFLAGS) $< -o $@ $(MYSQL_LIBS) $(LDLIBS)

$(OUT)/examples/mysql_pool: examples/mysql_pool.c coro_mysql.h coro.h coro_sched.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) $(MYSQL_CFLAGS) -I. $< -o $@ $(MYSQL_LIBS) $(LDLIBS)

# ---- ZeroMQ: coro_zmq.h over libzmq ----
HAVE_ZMQ := $(call ext_pkg,libzmq)
ZMQ_CFLAGS := $(if $(HAVE_ZMQ),$(shell pkg-config --cflags libzmq))
ZMQ_LIBS := $(if $(HAVE_ZMQ),$(shell pkg-config --libs libzmq))
ifeq ($(HAVE_ZMQ),1)
  EXT_BINS += $(OUT)/tests/test_zmq $(OUT)/tests/test_zmq_wake $(OUT)/tests/test_zmq_wake_poll \
              $(OUT)/examples/zmq_demo
endif
TEST_SCRIPTS += $(call ext_test,zmq_test.sh)

$(OUT)/tests/test_zmq: tests/test_zmq.c coro_zmq.h coro.h coro_sched.h tests/check.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) $(ZMQ_CFLAGS) $< -o $@ $(ZMQ_LIBS) $(LDLIBS)

# several coroutines on one socket, with each backend of the scheduler
$(OUT)/tests/test_zmq_wake: tests/test_zmq_wake.c coro_zmq.h coro.h coro_sched.h tests/check.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) $(ZMQ_CFLAGS) $< -o $@ $(ZMQ_LIBS) $(LDLIBS)

$(OUT)/tests/test_zmq_wake_poll: tests/test_zmq_wake.c coro_zmq.h coro.h coro_sched.h tests/check.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -DCORO_SCHED_POLL $(ZMQ_CFLAGS) $< -o $@ $(ZMQ_LIBS) $(LDLIBS)

$(OUT)/examples/zmq_demo: examples/zmq_demo.c coro_zmq.h coro.h coro_sched.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) $(ZMQ_CFLAGS) -I. $< -o $@ $(ZMQ_LIBS) $(LDLIBS)

.PHONY: ext
ext: $(EXT_BINS)

# ---- install: the headers and one pkg-config file each (coro-tls.pc names -lssl -lcrypto
# through its Requires: openssl, coro-mysql.pc -lmariadb, coro-zmq.pc -lzmq) ----
EXT_HEADERS := coro_tls.h coro_mysql.h coro_zmq.h
EXT_PCS := coro-tls coro-mysql coro-zmq
.PHONY: install-ext uninstall-ext
install: install-ext
uninstall: uninstall-ext
install-ext:
	install -d $(DESTDIR)$(PREFIX)/include $(DESTDIR)$(PREFIX)/share/pkgconfig
	install -m 644 $(EXT_HEADERS) $(DESTDIR)$(PREFIX)/include/
	for p in $(EXT_PCS); do \
	  sed 's|@PREFIX@|$(PREFIX)|' $$p.pc.in > $(DESTDIR)$(PREFIX)/share/pkgconfig/$$p.pc; done
uninstall-ext:
	rm -f $(addprefix $(DESTDIR)$(PREFIX)/include/,$(EXT_HEADERS)) \
	      $(patsubst %,$(DESTDIR)$(PREFIX)/share/pkgconfig/%.pc,$(EXT_PCS))
