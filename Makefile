# One-command setup, demo, tests and benchmarks. `make demo` and `make test` work on a fresh machine.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# llama-cpp-python compiles llama.cpp from source; the multimodal part is not needed (saves ~10 min).
export CMAKE_ARGS ?= -DLLAVA_BUILD=OFF
export CMAKE_BUILD_PARALLEL_LEVEL ?= $(shell nproc 2>/dev/null || echo 2)

.PHONY: setup demo test bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip>=24"
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	$(BIN)/mathcodebench setup
	touch $(STAMP)

setup: $(STAMP)

demo: setup
	$(BIN)/mathcodebench study studies/demo.toml --html runs/demo/report.html

test: setup
	$(BIN)/python -m pytest

bench: setup
	$(BIN)/python benchmarks/sandbox.py
	$(BIN)/python benchmarks/grading.py
	$(BIN)/python benchmarks/harness_overhead.py

clean:
	rm -rf $(VENV) build src/*.egg-info .pytest_cache
