# `make demo` sets everything up and shows the degradation problem on the built-in data set.
# `make test` sets everything up and runs the test suite.
# `make mutation` runs mutation testing (slow, not part of `make test` or CI; docs/testing.md).
# TORCH_INDEX: where torch and torchvision come from, e.g. on a machine without an NVIDIA GPU
#   make install TORCH_INDEX=https://download.pytorch.org/whl/cpu   (CPU-only wheels: no GB of CUDA libraries)
# DEMO_ARGS: overrides for `make demo`, e.g. make demo DEMO_ARGS='out_dir=/tmp/demo trainer.device=cuda'
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
TORCH_INDEX ?=
TORCH_PACKAGES := 'torch>=2.2,<2.15' 'torchvision>=0.17,<0.30'  # pyproject.toml's ranges
DEMO_ARGS ?=

.PHONY: install test demo bench mutation clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(if $(TORCH_INDEX),$(BIN)/pip install -q --disable-pip-version-check $(TORCH_PACKAGES) --index-url $(TORCH_INDEX))
	$(BIN)/pip install -q --disable-pip-version-check -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

test: $(STAMP)
	$(BIN)/python -m pytest -q -n 2 tests

demo: $(STAMP)
	$(BIN)/resdeep demo $(DEMO_ARGS)

bench: $(STAMP)
	$(BIN)/resdeep bench model=resnet56 data=synthetic

# MUTANTS narrows the run, e.g. make mutation MUTANTS='resdeep.engine.schedule*'; mutmut works in mutants/.
# One thread: mutmut forks a process per mutant, and OpenMP's thread pool does not survive a fork (the child hangs).
mutation: $(STAMP)
	$(BIN)/pip install -q --disable-pip-version-check -e '.[mutation]'
	OMP_NUM_THREADS=1 $(BIN)/mutmut run --max-children 2 $(MUTANTS)
	$(BIN)/mutmut results

clean:
	rm -rf $(VENV) build dist src/*.egg-info mutants
