# `make demo` sets everything up and shows the degradation problem on the built-in data set.
# `make test` sets everything up and runs the test suite.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install test demo bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

test: $(STAMP)
	$(BIN)/python -m pytest -q tests

demo: $(STAMP)
	$(BIN)/resdeep demo

bench: $(STAMP)
	$(BIN)/resdeep bench model=resnet56 data=synthetic

clean:
	rm -rf $(VENV) build dist src/*.egg-info
