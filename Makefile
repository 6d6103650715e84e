# hetserve: two commands on a fresh machine (Python 3.11):
#   make compare   set up .venv and run the main job (reference policies vs the shipped PPO agent)
#   make test      set up .venv and run the test suite
# Both install the exact releases of constraints.txt (known to pass). Maintenance:
#   make test-latest   a second venv (.venv-latest) with the newest release of every dependency, smoke subset
#   make constraints   rewrite constraints.txt from .venv-latest (FROM=<venv> for another one); then make test
#   make test-rllib    a third venv (.venv-rllib, constraints-rllib.txt: ray[rllib,tune] pins its own gymnasium)
#                      and the RLlib/Tune tests plus the env tests on that gymnasium (docs/training-at-scale.md)
VENV ?= .venv
LATEST_VENV ?= .venv-latest
PYTHON ?= python3
PY := $(VENV)/bin/python
LPY := $(LATEST_VENV)/bin/python
STAMP := $(VENV)/.hetserve-installed
CONSTRAINTS := constraints.txt
FROM ?= $(LATEST_VENV)
# torch first, pinned to the local CPU wheel: an unpinned or newer torch would pull several GB of CUDA builds.
TORCH := torch==2.13.0

.PHONY: setup test compare bench test-latest constraints clean setup-rllib test-rllib constraints-rllib

setup: $(STAMP)

# Re-made when pyproject.toml or constraints.txt changes.
$(STAMP): pyproject.toml $(CONSTRAINTS)
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q -c $(CONSTRAINTS) --upgrade pip
	$(PY) -m pip install -q -c $(CONSTRAINTS) $(TORCH)
	$(PY) -m pip install -q -c $(CONSTRAINTS) -e ".[dev,benchmark]"
	touch $(STAMP)

test: setup
	$(PY) -m pytest -n 2 -p no:cacheprovider

compare: setup
	$(VENV)/bin/hetserve compare

bench: setup
	$(PY) scripts/bench_env.py
	$(PY) scripts/bench_solvers.py --sizes 2,5,10 --seeds 3 --time-limit 60

# Newest releases of every dependency (no constraints; torch held at the CPU wheel, also during the eager
# upgrade), then the tests marked `smoke`. The version diff against constraints.txt is printed first.
test-latest:
	$(PYTHON) -m venv $(LATEST_VENV)
	$(LPY) -m pip install -q --upgrade pip
	$(LPY) -m pip install -q $(TORCH)
	echo "$(TORCH)" > $(LATEST_VENV)/hold-torch.txt
	$(LPY) -m pip install -q --upgrade --upgrade-strategy eager -c $(LATEST_VENV)/hold-torch.txt -e ".[dev]"
	$(PYTHON) .ci/constraints.py diff $(LPY)
	$(LPY) -m pytest -p no:cacheprovider -m smoke

constraints:
	$(PYTHON) .ci/constraints.py freeze $(FROM)/bin/python

# RLlib and Ray Tune in their own venv: ray pins gymnasium (2.60: 1.2.2), the core venv has a newer one.
RLLIB_VENV ?= .venv-rllib
RPY := $(RLLIB_VENV)/bin/python
RLLIB_STAMP := $(RLLIB_VENV)/.hetserve-installed
RLLIB_CONSTRAINTS := constraints-rllib.txt
# the RLlib/Tune tests, and the env tests that must pass on ray's gymnasium (DESIGN 5)
RLLIB_TESTS := tests/test_rllib.py tests/test_sweep.py tests/test_env.py tests/test_registry.py

setup-rllib: $(RLLIB_STAMP)

$(RLLIB_STAMP): pyproject.toml $(RLLIB_CONSTRAINTS)
	$(PYTHON) -m venv $(RLLIB_VENV)
	$(RPY) -m pip install -q -c $(RLLIB_CONSTRAINTS) --upgrade pip
	$(RPY) -m pip install -q -c $(RLLIB_CONSTRAINTS) $(TORCH)
	$(RPY) -m pip install -q -c $(RLLIB_CONSTRAINTS) -e ".[dev,rllib]"
	touch $(RLLIB_STAMP)

test-rllib: setup-rllib
	$(RPY) -m pytest -p no:cacheprovider $(RLLIB_TESTS)

# rewrite constraints-rllib.txt from .venv-rllib (after upgrading ray there), then make test-rllib
constraints-rllib:
	$(PYTHON) .ci/constraints.py freeze $(RPY) $(RLLIB_CONSTRAINTS)

clean:
	rm -rf $(VENV) $(LATEST_VENV) $(RLLIB_VENV) build *.egg-info .pytest_cache

# one-minute smoke: the env, GH/AGH and a plot in runs/demo-*/ (scripts/demo.py)
.PHONY: demo
demo: setup
	$(PY) scripts/demo.py
