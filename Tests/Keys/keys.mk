# The key-fetching tests (Tests/Keys; docs/running.md, "Signing keys"): a real moatd ($(BIN))
# fetching signing keys from an HTTPS server on loopback (Python's http.server and ssl, with a CA and
# certificates each test generates), in the project's .venv (cached: only when
# Tests/Keys/requirements.txt changes), in at most KEYS_TEST_SECONDS. `make test` runs it.

KEYS_TESTS := Tests/Keys
KEYS_TEST_SECONDS ?= 600

.PHONY: keys-venv keys-test

$(PYTHON_VENV)/.keys-requirements: $(KEYS_TESTS)/requirements.txt
	@$(MAKE) --no-print-directory deps
	test -x $(PYTHON_VENV)/bin/python || python3 -m venv $(PYTHON_VENV)
	$(PYTHON_VENV)/bin/pip install -q --disable-pip-version-check -r $(KEYS_TESTS)/requirements.txt
	@touch $@

keys-venv: $(PYTHON_VENV)/.keys-requirements

keys-test: keys-venv
	MOATD=$(abspath $(BIN))/moatd timeout --kill-after=30 $(KEYS_TEST_SECONDS) \
		$(PYTHON_VENV)/bin/python -m pytest -q -p no:cacheprovider --timeout 180 $(KEYS_TESTS)
