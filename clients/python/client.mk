# The Python client (clients/python): `make python-test` builds a project-local virtual
# environment (.venv), pip-installs the package and its test tools into it, checks that the
# committed protobuf code is current, type-checks, and runs the tests against $(BIN)/moatd.

PYTHON_CLIENT := clients/python
PYTHON_VENV := .venv
PYTHON_APT_PACKAGES := python3 python3-venv
APT_PACKAGES += $(PYTHON_APT_PACKAGES)

.PHONY: python-venv python-install check-python-generated python-typecheck python-test python-bench

$(PYTHON_VENV)/.requirements: $(PYTHON_CLIENT)/requirements-dev.txt
	@$(MAKE) --no-print-directory deps
	python3 -m venv $(PYTHON_VENV)
	$(PYTHON_VENV)/bin/pip install -q --disable-pip-version-check -r $(PYTHON_CLIENT)/requirements-dev.txt
	@touch $@

python-venv: $(PYTHON_VENV)/.requirements

# Installed as a user would (`pip install ./clients/python`), not in place.
python-install: python-venv
	$(PYTHON_VENV)/bin/pip install -q --disable-pip-version-check --force-reinstall --no-deps ./$(PYTHON_CLIENT)
	$(PYTHON_VENV)/bin/pip check

# Fails when the committed protobuf code differs from what scripts/generate-python-proto produces.
check-python-generated: python-venv
	@PYTHON=$(PYTHON_VENV)/bin/python scripts/generate-python-proto
	@test -z "$$(git status --porcelain -- $(PYTHON_CLIENT)/src/moat_authz/_proto)" || { \
		git status --short -- $(PYTHON_CLIENT)/src/moat_authz/_proto; \
		echo "generated code is stale: run scripts/generate-python-proto and commit"; exit 1; }

# mypy --strict over the package, its example and its tests (configured in pyproject.toml).
python-typecheck: python-install
	cd $(PYTHON_CLIENT) && $(abspath $(PYTHON_VENV))/bin/mypy

# MOATD names the daemon the tests start (moatctl is found beside it).
python-test: check-python-generated python-install python-typecheck
	MOATD=$(abspath $(BIN))/moatd $(PYTHON_VENV)/bin/python -m pytest -q -p no:cacheprovider $(PYTHON_CLIENT)/tests

# The Python client's part of the client benchmark, against the daemon `make run` started.
python-bench: python-install
	$(PYTHON_VENV)/bin/python $(PYTHON_CLIENT)/bench.py --socket $(RUN_DIR)/moat.sock \
		--token "$$($(BIN)/moatctl token mint --oid a11ce000-0000-4000-8000-000000000001)"
