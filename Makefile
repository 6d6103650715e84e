# hetserve: two commands on a fresh machine (Python 3.11):
#   make compare   set up .venv and run the main job (reference policies vs the shipped PPO agent)
#   make test      set up .venv and run the test suite
VENV ?= .venv
PYTHON ?= python3
PY := $(VENV)/bin/python
STAMP := $(VENV)/.hetserve-installed

.PHONY: setup test compare bench clean

setup: $(STAMP)

# torch first, pinned to the local CPU wheel: an unpinned torch from another package would pull CUDA builds.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e ".[dev]"
	touch $(STAMP)

test: setup
	$(PY) -m pytest -n 2 -p no:cacheprovider

compare: setup
	$(VENV)/bin/hetserve compare

bench: setup
	$(PY) scripts/bench_env.py
	$(PY) scripts/bench_solvers.py --sizes 2,5,10 --seeds 3 --time-limit 60

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache

# one-minute smoke: the env, GH/AGH and a plot in runs/demo-*/ (scripts/demo.py)
.PHONY: demo
demo: setup
	$(PY) scripts/demo.py
