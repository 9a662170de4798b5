# The HTTP endpoint tests (Tests/HTTP, docs/running.md "Health and metrics over HTTP"):
# `make http-test` installs PyPI's prometheus-client (the reference text-format parser) and pytest
# into the project's .venv (cached: only when Tests/HTTP/requirements.txt changes), then scrapes
# $(BIN)/moatd's /metrics and probes /readyz. `make test` runs it.

HTTP_TESTS := Tests/HTTP
HTTP_TEST_SECONDS ?= 300

.PHONY: http-venv http-test

$(PYTHON_VENV)/.http-requirements: $(HTTP_TESTS)/requirements.txt
	@$(MAKE) --no-print-directory deps
	test -x $(PYTHON_VENV)/bin/python || python3 -m venv $(PYTHON_VENV)
	$(PYTHON_VENV)/bin/pip install -q --disable-pip-version-check -r $(HTTP_TESTS)/requirements.txt
	@touch $@

http-venv: $(PYTHON_VENV)/.http-requirements

http-test: http-venv
	MOATD=$(abspath $(BIN))/moatd timeout --kill-after=30 $(HTTP_TEST_SECONDS) \
		$(PYTHON_VENV)/bin/python -m pytest -q -p no:cacheprovider --timeout 120 $(HTTP_TESTS)
