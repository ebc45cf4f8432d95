# One-command setup, demo, tests and benchmarks. `make demo` and `make test` work on a fresh machine.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# llama-cpp-python compiles llama.cpp from source; the multimodal part is not needed (saves ~10 min). AMX
# kernels are left out: on AMX CPUs in VMs like these they segfault on the first decode (llama.cpp #20824),
# and they only matter for prompt processing on big batches. The flags are no-ops on CPUs without AMX.
NO_AMX := -mno-amx-tile -mno-amx-int8 -mno-amx-bf16
export CMAKE_ARGS ?= -DLLAVA_BUILD=OFF -DCMAKE_C_FLAGS="$(NO_AMX)" -DCMAKE_CXX_FLAGS="$(NO_AMX)"
export CMAKE_BUILD_PARALLEL_LEVEL ?= $(shell nproc 2>/dev/null || echo 2)

.PHONY: setup browser latex demo demo-full lint test bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip>=24"
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	$(BIN)/mathcodebench setup
	touch $(STAMP)

setup: $(STAMP)

# The report of each demo: HTML, and the paper-ready LaTeX tables, figures and CSV beside it.
PAPER_OUT = --html runs/$(1)/report.html --latex runs/$(1)/paper/tables --figures runs/$(1)/paper/figures \
  --csv runs/$(1)/paper/csv

demo: setup
	$(BIN)/mathcodebench study studies/demo.toml $(call PAPER_OUT,demo)

demo-full: setup
	$(BIN)/mathcodebench study studies/demo-full.toml $(call PAPER_OUT,demo-full)

# Headless Chromium for the HTML-report rendering test (Debian package; needs root and apt-get).
browser:
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || \
	  { command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ] && apt-get update -qq && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } || \
	  echo "Chromium could not be installed: the HTML rendering test will be skipped"

# TeX Live for the LaTeX compile test (Debian's texlive-latex-recommended has booktabs; poppler-utils renders a
# page to PNG). Installed only when missing and only as root; otherwise that test is skipped, saying why.
latex:
	@{ command -v pdflatex >/dev/null 2>&1 && kpsewhich booktabs.sty >/dev/null 2>&1; } || \
	  { command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ] && apt-get update -qq && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends texlive-latex-recommended \
	      poppler-utils >/dev/null; } || \
	  echo "TeX Live could not be installed: the LaTeX compile tests will be skipped"

# Static checks (configured in pyproject.toml): ruff's lint rules and format, mypy --strict on the package.
lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

test: lint browser latex
	$(BIN)/python -m pytest

# The judge calibration judges a fixed sample of the labelled corpus (the whole corpus takes hours on 2 cores;
# `make bench JUDGE_LIMIT=` runs all of it). The 1.5B judge's weights are installed on first use (~1.1 GB).
JUDGE_LIMIT ?= 60

bench: setup
	$(BIN)/python benchmarks/sandbox.py
	$(BIN)/python benchmarks/grading.py
	$(BIN)/python benchmarks/harness_overhead.py
	$(BIN)/python benchmarks/embedded_speed.py
	$(BIN)/python benchmarks/distributed.py
	$(BIN)/python benchmarks/judge_calibration.py $(if $(JUDGE_LIMIT),--limit $(JUDGE_LIMIT))

clean:
	rm -rf $(VENV) build src/*.egg-info .pytest_cache
