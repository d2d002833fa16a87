# clusterkit: the two commands of the README, plus their parts.
#   make demo   set up if needed, run the default job on 2 ranks
#   make test   set up if needed, run serial tests + MPI tests on 2 and 4 ranks
VENV ?= .venv
export CLUSTERKIT_VENV := $(abspath $(VENV))
PY := $(CLUSTERKIT_VENV)/bin/python

.PHONY: setup demo test info clean
setup:
	@bash tools/setup-env.sh

demo: setup
	@$(PY) -m clusterkit.cli.main run -n 2 demo

test: setup
	@bash tools/run-tests.sh

info: setup
	@$(PY) -m clusterkit.cli.main info

clean:
	rm -rf build $(VENV) *.egg-info
