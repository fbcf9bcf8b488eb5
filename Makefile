# `sam build` runs the target build-MonitorFunction (template.yaml: BuildMethod: makefile) with
# ARTIFACTS_DIR set. The bundle holds the mention_monitor package (installed from a wheel built
# from a clean copy of the sources: setuptools builds in place, so a stale build/ in the work tree
# would otherwise end up in the wheel), monitor.toml and the runtime dependencies as manylinux
# aarch64 wheels for Python 3.13: no Docker needed, no boto3, no tests. Everything in it is
# compiled to bytecode by a real Python 3.13: /var/task is read-only, so without .pyc files
# every cold start would compile every module again. The .pyc files are unchecked-hash ones
# (zip packaging does not keep mtimes exactly; timestamp-based .pyc would be ignored).
#
#   make build-MonitorFunction ARTIFACTS_DIR=/tmp/bundle LAMBDA_PYTHON=/path/to/python3.13
LAMBDA_PYTHON ?= python3.13
PYTHON ?= $(LAMBDA_PYTHON)
LAMBDA_PYTHON_VERSION ?= 3.13
LAMBDA_PLATFORM ?= manylinux2014_aarch64
PIP = $(PYTHON) -m pip --quiet --disable-pip-version-check
STAGE = $(ARTIFACTS_DIR)/.stage

.PHONY: build-MonitorFunction
build-MonitorFunction:
	@test -n "$(ARTIFACTS_DIR)" || { echo "make: run through 'sam build' (ARTIFACTS_DIR is not set)" >&2; exit 2; }
	@v=$$($(LAMBDA_PYTHON) -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null); \
	  [ "$$v" = "$(LAMBDA_PYTHON_VERSION)" ] || { echo "make: LAMBDA_PYTHON=$(LAMBDA_PYTHON) is" \
	  "not a working Python $(LAMBDA_PYTHON_VERSION) (it reports: $${v:-nothing, it did not run});" \
	  "set LAMBDA_PYTHON to a Python $(LAMBDA_PYTHON_VERSION) interpreter" >&2; exit 2; }
	$(PIP) install --no-compile --upgrade --requirement infra/requirements.txt \
		--target "$(ARTIFACTS_DIR)" --platform $(LAMBDA_PLATFORM) --implementation cp \
		--python-version $(LAMBDA_PYTHON_VERSION) --only-binary=:all:
	rm -rf "$(STAGE)" && mkdir -p "$(STAGE)/src"
	tar -c --exclude=__pycache__ --exclude='*.pyc' --exclude='*.egg-info' \
		pyproject.toml README.md functions notifiers | tar -x -C "$(STAGE)/src"
	$(PIP) wheel --no-deps --wheel-dir "$(STAGE)/wheel" "$(STAGE)/src"
	$(PIP) install --no-compile --no-deps --target "$(ARTIFACTS_DIR)" "$(STAGE)"/wheel/*.whl
	rm -rf "$(STAGE)" "$(ARTIFACTS_DIR)/bin" "$(ARTIFACTS_DIR)"/mention_monitor-*.dist-info/RECORD
	cp infra/monitor.toml "$(ARTIFACTS_DIR)/monitor.toml"
	# Powertools ships every utility (7 MB with bytecode); the function uses its logging,
	# metrics and typing only: keep those, and what they import.
	rm -rf "$(ARTIFACTS_DIR)/aws_lambda_powertools/event_handler"
	find "$(ARTIFACTS_DIR)/aws_lambda_powertools/utilities" -mindepth 1 -maxdepth 1 -type d \
		! -name typing ! -name jmespath_utils -exec rm -rf {} +
	find "$(ARTIFACTS_DIR)" -name __pycache__ -type d -prune -exec rm -rf {} +
	find "$(ARTIFACTS_DIR)" -name '*.pyc' -delete
	$(LAMBDA_PYTHON) -m compileall -q -j 0 --invalidation-mode unchecked-hash \
		-s "$(ARTIFACTS_DIR)" -p /var/task "$(ARTIFACTS_DIR)"
