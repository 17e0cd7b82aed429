# Two entry points for a fresh machine: `make demo` and `make test`. Both set up .venv first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: setup demo test check clean

setup: $(VENV)/.installed

# The C kernel is compiled at install: its sources count too.
$(VENV)/.installed: pyproject.toml setup.py $(wildcard src/edgewise/detect/_ckernel/*.[ch])
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

demo: setup
	$(BIN)/edgewise demo

test: setup
	PATH="$(CURDIR)/$(BIN):$$PATH" scripts/check

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
