# Two commands on a fresh machine: `make demo` and `make test`. Both create .venv and install.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
EXTRAS ?= dev,demo,dp,flower,examples
STAMP  := $(VENV)/.installed

.PHONY: install test test-slow lint docs demo bench bench-scaling federation clean

install: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[$(EXTRAS)]"
	touch $@

lint: install
	$(BIN)/ruff check .
	$(BIN)/mypy

# The API reference, from the docstrings, into docs/api (open docs/api/index.html)
docs: install
	$(BIN)/pdoc --docformat restructuredtext -o docs/api secagg protocols protocols.lightsecagg dp fl_integration fl_integration.flower

test: install lint
	FLWR_TELEMETRY_ENABLED=0 $(BIN)/python -m pytest

test-slow: install
	FLWR_TELEMETRY_ENABLED=0 $(BIN)/python -m pytest -m slow

demo: install
	$(BIN)/python -m fl_integration.demo

# A local Flower federation: SuperLink + SuperNodes as processes, TLS, our SecAgg+ (see
# examples/flower/README.md). More options: make federation ARGS="--nodes 6 --malicious"
federation: install
	FLWR_TELEMETRY_ENABLED=0 $(BIN)/python examples/flower/deploy.py $(ARGS)

bench: install
	$(BIN)/python -m pytest bench/micro -o addopts="" --benchmark-only --benchmark-columns=min,mean,max,rounds

bench-scaling: install
	$(BIN)/python -m bench scaling

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis .benchmarks .ruff_cache *.egg-info
