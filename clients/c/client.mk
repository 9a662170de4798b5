# libmoat, the C client (clients/c/README.md). Included by the top-level Makefile.
#   make c-client            libmoat.a, libmoat.so (soname from VERSION) and moat.pc in $(C_OUT)
#   make c-client-test       the C tests against a real moatd (part of `make test`)
#   make c-client-sanitize   the same tests under ASan, TSan and valgrind memcheck (long)
#   make c-client-bench      libmoat's benchmark program, which scripts/bench-clients runs
#   make install PREFIX=…    moatd, moatctl, libmoat, moat/moat.h and moat.pc

C_DIR := clients/c
C_OUT := .build/c-client
C_PROTO := Sources/CMoatProto
MOAT_VERSION := $(shell cat VERSION)
MOAT_SOVERSION := $(firstword $(subst ., ,$(MOAT_VERSION)))
PREFIX ?= /usr/local
CC ?= cc
C_CFLAGS ?= -O2 -g
C_WARNINGS := -std=c11 -Wall -Wextra -Werror -Wno-missing-field-initializers
C_INCLUDES := -I$(C_DIR)/include -I$(C_PROTO)/include
# moatd for the tests: the one `make build` makes, unless MOATD names another.
MOATD ?= $(BIN)/moatd
C_APT_PACKAGES := gcc libc6-dev make libprotobuf-c-dev pkg-config libjansson-dev
C_SANITIZE_APT_PACKAGES := valgrind
APT_PACKAGES += $(filter-out $(APT_PACKAGES),$(C_APT_PACKAGES))

C_LIB_SOURCES := $(C_DIR)/src/moat.c $(C_PROTO)/moat/v1/authz.pb-c.c
C_LIB_HEADERS := $(C_DIR)/include/moat/moat.h $(wildcard $(C_PROTO)/include/moat/v1/*.h)
C_TEST_SOURCES := $(addprefix $(C_DIR)/tests/,test_moat.c conformance.c daemon.c fake_daemon.c)
C_TEST_HEADERS := $(wildcard $(C_DIR)/tests/*.h)
C_TEST_LIBS := $(shell pkg-config --libs jansson 2>/dev/null || echo -ljansson) -lprotobuf-c -lpthread

.PHONY: c-client c-client-test c-client-sanitize c-client-example c-client-bench install-c-client install

c-client: $(C_OUT)/libmoat.a $(C_OUT)/libmoat.so $(C_OUT)/moat.pc

$(C_OUT)/libmoat.a: $(C_LIB_SOURCES) $(C_LIB_HEADERS)
	@mkdir -p $(C_OUT)/static
	$(CC) $(C_CFLAGS) $(C_WARNINGS) $(C_INCLUDES) -c $(C_DIR)/src/moat.c -o $(C_OUT)/static/moat.o
	$(CC) $(C_CFLAGS) $(C_INCLUDES) -c $(C_PROTO)/moat/v1/authz.pb-c.c -o $(C_OUT)/static/authz.pb-c.o
	rm -f $@ && ar rcs $@ $(C_OUT)/static/moat.o $(C_OUT)/static/authz.pb-c.o

# Exports only moat_* (libmoat.map), not the generated protobuf-c symbols.
$(C_OUT)/libmoat.so: $(C_LIB_SOURCES) $(C_LIB_HEADERS) $(C_DIR)/libmoat.map VERSION
	@mkdir -p $(C_OUT)
	$(CC) $(C_CFLAGS) $(C_WARNINGS) $(C_INCLUDES) -fPIC -shared -Wl,--version-script=$(C_DIR)/libmoat.map \
		-Wl,-soname,libmoat.so.$(MOAT_SOVERSION) -o $(C_OUT)/libmoat.so.$(MOAT_VERSION) \
		$(C_LIB_SOURCES) -lprotobuf-c -lpthread
	ln -sf libmoat.so.$(MOAT_VERSION) $(C_OUT)/libmoat.so.$(MOAT_SOVERSION)
	ln -sf libmoat.so.$(MOAT_SOVERSION) $@

$(C_OUT)/moat.pc: $(C_DIR)/moat.pc.in VERSION
	@mkdir -p $(C_OUT)
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@VERSION@|$(MOAT_VERSION)|' $< > $@

# The test program, plain or instrumented (C_TEST_FLAGS), linked with the static library's sources.
define c_test_program
$(C_OUT)/$(1): $(C_TEST_SOURCES) $(C_TEST_HEADERS) $(C_LIB_SOURCES) $(C_LIB_HEADERS)
	@mkdir -p $(C_OUT)
	$(CC) -O1 -g $(2) $(C_WARNINGS) $(C_INCLUDES) -o $$@ $(C_TEST_SOURCES) $(C_LIB_SOURCES) $(C_TEST_LIBS)
endef
$(eval $(call c_test_program,test_moat,))
$(eval $(call c_test_program,test_moat_asan,-fsanitize=address,undefined -fno-omit-frame-pointer))
$(eval $(call c_test_program,test_moat_tsan,-fsanitize=thread))

# scripts/bench-clients: libmoat's row (clients/c/bench/bench.c).
c-client-bench: $(C_OUT)/bench
$(C_OUT)/bench: $(C_DIR)/bench/bench.c Benchmarks/Baseline/baseline.c Benchmarks/Baseline/baseline.h $(C_LIB_SOURCES) $(C_LIB_HEADERS)
	@mkdir -p $(C_OUT)
	$(CC) -O2 -g $(C_WARNINGS) $(C_INCLUDES) -IBenchmarks/Baseline -o $@ $< Benchmarks/Baseline/baseline.c $(C_LIB_SOURCES) -lprotobuf-c -lpthread

# The README's example, cut out of clients/c/README.md and built with the README's compile line
# against a copy installed into $(C_OUT)/stage (so install, moat.pc and pkg-config are tested too).
c-client-example: c-client
	rm -rf $(C_OUT)/stage
	$(MAKE) --no-print-directory install-c-client PREFIX=$(CURDIR)/$(C_OUT)/stage
	$(C_DIR)/tests/build-readme-example $(C_DIR)/README.md $(C_OUT)/stage $(C_OUT)/example

c-client-test: deps c-client $(C_OUT)/test_moat c-client-example
	LD_LIBRARY_PATH=$(C_OUT)/stage/lib $(C_OUT)/test_moat --moatd $(MOATD) --conformance Tests/Conformance --example $(C_OUT)/example

c-client-sanitize: c-client-example $(C_OUT)/test_moat $(C_OUT)/test_moat_asan $(C_OUT)/test_moat_tsan
	@$(MAKE) --no-print-directory deps APT_PACKAGES="$(C_SANITIZE_APT_PACKAGES)"
	LD_LIBRARY_PATH=$(C_OUT)/stage/lib ASAN_OPTIONS=detect_leaks=1 $(C_OUT)/test_moat_asan --moatd $(MOATD) --conformance Tests/Conformance --example $(C_OUT)/example
	LD_LIBRARY_PATH=$(C_OUT)/stage/lib TSAN_OPTIONS=halt_on_error=1 $(C_OUT)/test_moat_tsan --moatd $(MOATD) --conformance Tests/Conformance --example $(C_OUT)/example
	LD_LIBRARY_PATH=$(C_OUT)/stage/lib valgrind --error-exitcode=1 --leak-check=full --show-leak-kinds=definite,indirect,possible --errors-for-leak-kinds=definite,indirect,possible \
		--trace-children=no $(C_OUT)/test_moat --moatd $(MOATD) --conformance Tests/Conformance --example $(C_OUT)/example --quick

# Only the C library, header and moat.pc (what `make install` adds to the binaries).
install-c-client: c-client
	install -d $(DESTDIR)$(PREFIX)/lib/pkgconfig $(DESTDIR)$(PREFIX)/include/moat
	install -m 644 $(C_OUT)/libmoat.a $(DESTDIR)$(PREFIX)/lib/
	install -m 755 $(C_OUT)/libmoat.so.$(MOAT_VERSION) $(DESTDIR)$(PREFIX)/lib/
	ln -sf libmoat.so.$(MOAT_VERSION) $(DESTDIR)$(PREFIX)/lib/libmoat.so.$(MOAT_SOVERSION)
	ln -sf libmoat.so.$(MOAT_SOVERSION) $(DESTDIR)$(PREFIX)/lib/libmoat.so
	install -m 644 $(C_DIR)/include/moat/moat.h $(DESTDIR)$(PREFIX)/include/moat/
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@VERSION@|$(MOAT_VERSION)|' $(C_DIR)/moat.pc.in > $(DESTDIR)$(PREFIX)/lib/pkgconfig/moat.pc

# moatd and moatctl from the release build when there is one, else the debug build.
install: install-c-client
	@dir=$$( [ -x .build/release/moatd ] && echo .build/release || echo .build/debug ); \
	[ -x $$dir/moatd ] || { echo "install: build moatd first (make build, or swift build -c release)"; exit 1; }; \
	install -d $(DESTDIR)$(PREFIX)/bin && install -m 755 $$dir/moatd $$dir/moatctl $(DESTDIR)$(PREFIX)/bin/
