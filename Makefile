# Moat: build, run and test. `make run` serves the bundled example rules; `make test` runs
# everything CI runs (it installs the Debian packages it needs when they are missing).

SWIFT ?= swift
BIN := .build/debug
RUN_DIR := $(CURDIR)/run
APT_PACKAGES := libprotobuf-c-dev protobuf-c-compiler pkg-config etcd-server etcd-client systemd

.PHONY: all build deps run test lint api-check docs check-generated check-conformance format-check conformance clean \
	fuzz test-sanitize test-asan test-tsan perf-guard

all: build

deps:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing; \
	fi

build: deps
	$(SWIFT) build

# Starts moatd on a fresh copy of deploy/examples/rules.json (./run/rules.json) with its sockets
# in ./run/, and prints ready-made moatctl lines for an allowed and a denied request.
run: build
	@mkdir -p $(RUN_DIR)
	@cp deploy/examples/rules.json $(RUN_DIR)/rules.json
	@scripts/quick-start-hints $(BIN) $(RUN_DIR)
	$(BIN)/moatd --rules $(RUN_DIR)/rules.json --socket $(RUN_DIR)/moat.sock \
		--control-socket $(RUN_DIR)/control.sock --decision-log $(RUN_DIR)/decisions.log --log-allow-rate 1

# Fails when the committed protoc-c output differs from what scripts/generate-proto produces.
check-generated: deps
	@scripts/generate-proto
	@test -z "$$(git status --porcelain -- Sources/CMoatProto)" || { git status --short -- Sources/CMoatProto; \
		echo "generated code is stale: run scripts/generate-proto and commit"; exit 1; }

format-check:
	$(SWIFT) format lint --strict --recursive --parallel Package.swift Sources Tests

# Fails when the conformance table's tokens or keys are stale (skipped without Python's cryptography).
check-conformance:
	@if python3 -c 'import cryptography' 2>/dev/null; then scripts/generate-conformance --check; \
	else echo "check-conformance: skipped (python3 cryptography not installed)"; fi

# Checks that need no Swift build (scripts/lint): no reference leaves the repository, Markdown
# links and cited docs anchors resolve, the conformance table's `covers` cite docs/semantics.md.
lint:
	@scripts/lint

# Fails when the public API of a library product (MoatCore, MoatIdentity, MoatWire, MoatServer,
# MoatClient) breaks against the commit named in api-baseline, whose API digests are committed in
# api/baseline/ (scripts/api-check; a deliberate break moves the baseline forward: README.md,
# "Development").
api-check:
	SWIFT=$(SWIFT) scripts/api-check

# Builds each library's DocC catalogue with the toolchain's docc, failing on any DocC warning
# (scripts/build-docs; archives in .build/docs/).
docs:
	SWIFT=$(SWIFT) scripts/build-docs

test: deps lint check-generated check-conformance format-check baseline
	$(SWIFT) build
	$(MAKE) api-check
	$(MAKE) docs
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build --parallel
	$(MAKE) c-client-test
	$(MAKE) python-test
	$(MAKE) envoy-test
	$(MAKE) http-test
	$(MAKE) keys-test

# moatd's instructions and allocations per check under callgrind against
# Benchmarks/Baseline/instructions (instructions +10 % fails, as does one allocation more): the
# release build, then about 4 minutes (scripts/bench-socket --guard; docs/performance.md, "Cuts").
PERF_GUARD_APT_PACKAGES := valgrind util-linux binutils
perf-guard: deps
	@$(MAKE) --no-print-directory deps APT_PACKAGES="$(PERF_GUARD_APT_PACKAGES)"
	scripts/bench-socket --guard

# libFuzzer targets (Tests/MoatFuzzTargets), FUZZ_SECONDS (default 60) each, in .build-fuzz; see
# scripts/fuzz. `make test` replays their committed corpora (Tests/Fuzz) without libFuzzer.
fuzz: deps
	scripts/fuzz

# The unit and integration suites under AddressSanitizer, then ThreadSanitizer, each in its own
# scratch path; the integration tests start the sanitized moatd and moatctl of that build. Then
# libmoat's tests under ASan, TSan and valgrind (clients/c/client.mk).
test-sanitize: test-asan test-tsan c-client-sanitize

# The daemons the integration tests start inherit these options, so an ASan or TSan report in moatd
# or moatctl fails its test. LeakSanitizer is off: on Swift code it reports objects that static
# lets still hold (Swift packs enum tags into pointers' spare bits, which it does not follow), in
# Foundation, swift-crypto and NIO as much as in Moat, so its reports cannot be told from real leaks.
# ThreadSanitizer skips only what Tests/tsan-suppressions.txt names, each with its reason.
ASAN_ENV := ASAN_OPTIONS=detect_leaks=0:halt_on_error=1
TSAN_ENV := TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1:suppressions=$(CURDIR)/Tests/tsan-suppressions.txt

test-asan: deps
	$(SWIFT) build --scratch-path .build-asan --sanitize=address
	$(SWIFT) build --scratch-path .build-asan --sanitize=address --build-tests
	$(ASAN_ENV) $(SWIFT) test --scratch-path .build-asan --sanitize=address --skip-build --parallel

test-tsan: deps
	$(SWIFT) build --scratch-path .build-tsan --sanitize=thread
	$(SWIFT) build --scratch-path .build-tsan --sanitize=thread --build-tests
	$(TSAN_ENV) $(SWIFT) test --scratch-path .build-tsan --sanitize=thread --skip-build --parallel

# Re-mints the conformance table's tokens (needs Python's `cryptography`).
conformance:
	scripts/generate-conformance

clean:
	rm -rf .build .build-fuzz .build-asan .build-tsan $(RUN_DIR)

include clients/c/client.mk
include Benchmarks/bench.mk
include clients/python/client.mk
include Tests/pytest.mk
