# hutch's two front doors: `make test` and `make demo`.  Both build the
# virtual environment on first use, so a fresh machine needs only Python 3
# and make.

PYTHON ?= python3
VENV   ?= .venv
PY      = $(VENV)/bin/python
STAMP   = $(VENV)/.installed-test
BENCH_STAMP = $(VENV)/.installed-bench

.PHONY: test demo lint typecheck pytest bench bench-quick clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $@

lint: $(STAMP)
	$(PY) -m ruff check $(wildcard src tests benchmarks examples docs)

typecheck: $(STAMP)
	$(PY) -m mypy

pytest: $(STAMP)
	$(PY) -m pytest

test: lint typecheck pytest

# The benchmark suite (benchmarks/): hutch against its peers, installed by
# the `bench` extra into the same .venv.  `bench` is the full run (about
# 15 minutes on 2 cores); `bench-quick` a reduced one (under two minutes).
# Both write docs/benchmarks.md, .json and .png.
$(BENCH_STAMP): pyproject.toml $(STAMP)
	$(PY) -m pip install --quiet -e '.[bench]'
	touch $@

bench: $(BENCH_STAMP)
	$(PY) -m benchmarks

bench-quick: $(BENCH_STAMP)
	$(PY) -m benchmarks --quick

demo: $(STAMP)
	$(VENV)/bin/hutch demo

clean:
	rm -rf $(VENV) build .mypy_cache .pytest_cache .ruff_cache src/*.egg-info
