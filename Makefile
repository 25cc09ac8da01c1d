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
	$(RSED) data synthesize --root $(DEMO)/mini --subset train --split devtrain --mixtures-per-class 150 --seed 4242
	$(RSED) data synthesize --root $(DEMO)/mini --subset devtrain --split devtrain --mixtures-per-class 30 --seed 42
	$(RSED) data synthesize --root $(DEMO)/mini --subset devtest --split devtest --mixtures-per-class 60 --seed 42

# Two rows of Table 4: the paper's CRNN (crnn_demo) and the recommended crnn_plus beside it (an
# extra line; rsed detect uses its detectors by default). --overwrite: a demo/run left by an older
# rsed (another configuration) is replaced, not refused; a run of the same configuration is still
# resumed and its trained detectors reused.
DEMO_ROWS ?= crnn_demo crnn_plus
demo: demo-data
	$(RSED) reproduce --root $(DEMO)/mini --schedule short --rows $(DEMO_ROWS) --out $(DEMO)/run --overwrite

# Every row of the paper's Tables 2-4 (one script each in experiments/), in order, then the
# Table 3 ablation (natural sampling, no prior correction) and the recommended crnn_plus (an extra
# line of Table 4), into one run folder; a rerun resumes it and retrains nothing that is unchanged. Tables 2, 3 and 4
# (Markdown, CSV) and the run record land in $(RUN)/results/. Defaults: the embedded data and
# the short schedule; `make reproduce ROOT=~/dcase2017 SCHEDULE=paper` for the real thing.
ROOT ?= $(or $(RSED_DATA),$(DEMO)/mini)
SCHEDULE ?= short
RUN ?= runs/$(notdir $(patsubst %/,%,$(ROOT)))-$(SCHEDULE)
EXPERIMENTS := table3_crnn_babycry_t5 table3_crnn_babycry_t9 table3_crnn_babycry_t50 \
	table3_crnn_glassbreak_t3 table3_crnn_gunshot_t3 table3_crnn_gunshot_t5 \
	table2_ensemble_babycry table2_ensemble_glassbreak table2_ensemble_gunshot \
	table4_crnn table4_cnn table4_fnn table3_crnn_natural extra_crnn_plus

reproduce: $(STAMP) $(if $(filter $(DEMO)/mini,$(ROOT)),demo-data)
	@for e in $(EXPERIMENTS); do \
		echo "== experiments/$$e.py --root $(ROOT) --schedule $(SCHEDULE) --out $(RUN)"; \
		$(PY) experiments/$$e.py --root $(ROOT) --schedule $(SCHEDULE) --out $(RUN) || exit $$?; \
	done
	@echo "Tables 2, 3 and 4 (Markdown and CSV) and run_record.json: $(RUN)/results/"

# The import contracts (.importlinter: stages in the order of the data flow, docs/architecture.md),
# ruff (ruff.toml: lint and import order), then the tests.
test: $(STAMP)
	$(VENV)/bin/lint-imports
	$(VENV)/bin/ruff check rsed tests benchmarks experiments
	$(PY) -m pytest -q tests

# Speed benchmarks (docs/benchmarks.md): each prints one line "NAME: ratio=X (target Y)".
bench: $(STAMP)
	@for script in benchmarks/bench_*.py; do echo "== $$script"; PYTHONPATH=$(CURDIR) $(PY) $$script || exit 1; done

clean:
	rm -rf $(DEMO) .pytest_cache .import_linter_cache .ruff_cache
