# `sam build` runs the target build-MonitorFunction (template.yaml: BuildMethod: makefile) with
# ARTIFACTS_DIR set. The bundle holds the mention_monitor package (installed from its wheel),
# monitor.toml and the runtime dependencies as manylinux aarch64 wheels for Python 3.13: no
# Docker needed, no boto3, no tests.
PYTHON ?= python3
LAMBDA_PYTHON_VERSION ?= 3.13
LAMBDA_PLATFORM ?= manylinux2014_aarch64

.PHONY: build-MonitorFunction
build-MonitorFunction:
	@test -n "$(ARTIFACTS_DIR)" || { echo "make: run through 'sam build' (ARTIFACTS_DIR is not set)" >&2; exit 2; }
	$(PYTHON) -m pip install --quiet --disable-pip-version-check --no-compile --upgrade \
		--requirement infra/requirements.txt --target "$(ARTIFACTS_DIR)" \
		--platform $(LAMBDA_PLATFORM) --implementation cp \
		--python-version $(LAMBDA_PYTHON_VERSION) --only-binary=:all:
	rm -rf "$(ARTIFACTS_DIR)/bin"
	rm -rf "$(ARTIFACTS_DIR)/.wheel" && $(PYTHON) -m pip wheel --quiet --disable-pip-version-check \
		--no-deps --wheel-dir "$(ARTIFACTS_DIR)/.wheel" .
	$(PYTHON) -m pip install --quiet --disable-pip-version-check --no-compile --no-deps \
		--target "$(ARTIFACTS_DIR)" "$(ARTIFACTS_DIR)"/.wheel/*.whl
	rm -rf "$(ARTIFACTS_DIR)/.wheel" "$(ARTIFACTS_DIR)"/mention_monitor-*.dist-info/RECORD
	cp infra/monitor.toml "$(ARTIFACTS_DIR)/monitor.toml"
	find "$(ARTIFACTS_DIR)" -name __pycache__ -type d -prune -exec rm -rf {} +
	find "$(ARTIFACTS_DIR)" -name '*.pyc' -delete
