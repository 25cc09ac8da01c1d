# rsed: two commands for a newcomer, `make demo` and `make test`; each sets up what is missing.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
RSED := $(VENV)/bin/rsed
STAMP := $(VENV)/.rsed-installed
DEMO ?= demo
export TF_CPP_MIN_LOG_LEVEL ?= 2
export CUDA_VISIBLE_DEVICES ?=

.PHONY: setup demo demo-data test reproduce bench clean

$(STAMP): setup.py requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	$(PY) -m pip install --quiet --no-deps -e .
	touch $(STAMP)

setup: $(STAMP)

# The embedded mini dataset: sources, then the paper's three subsets (train, validation, test).
demo-data: $(STAMP)
	$(RSED) data mini --root $(DEMO)/mini
	$(RSED) data synthesize --root $(DEMO)/mini --subset train --split devtrain --mixtures-per-class 90 --seed 4242
	$(RSED) data synthesize --root $(DEMO)/mini --subset devtrain --split devtrain --mixtures-per-class 30 --seed 42
	$(RSED) data synthesize --root $(DEMO)/mini --subset devtest --split devtest --mixtures-per-class 60 --seed 42

demo: demo-data
	$(RSED) reproduce --root $(DEMO)/mini --schedule short --out $(DEMO)/run

test: $(STAMP)
	$(PY) -m pytest -q tests

# Speed benchmarks (docs/benchmarks.md): each prints one line "NAME: ratio=X (target Y)".
bench: $(STAMP)
	@for script in benchmarks/bench_*.py; do echo "== $$script"; PYTHONPATH=$(CURDIR) $(PY) $$script || exit 1; done

clean:
	rm -rf $(DEMO) .pytest_cache
