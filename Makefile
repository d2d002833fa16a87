# clusterkit: the two commands of the README, plus their parts.
#   make demo   set up if needed, run the default job on 2 ranks
#   make test   set up if needed, run serial tests + MPI tests on 2 and 4 ranks
VENV ?= .venv
export CLUSTERKIT_VENV := $(abspath $(VENV))
PY := $(CLUSTERKIT_VENV)/bin/python

.PHONY: setup demo test info clean
setup:
	@bash tools/setup-env.sh

DEMO := build/demo
demo: setup
	@mkdir -p $(DEMO)
	@test -f $(DEMO)/climate.nc || $(PY) -m clusterkit.cli.main make-dataset \
		$(DEMO)/climate.nc --shape 365,181,360 --land-mask
	@$(PY) -m clusterkit.cli.main run -n 2 climate-stats $(DEMO)/climate.nc \
		$(DEMO)/climate-stats.nc --percentiles 5,95 --overwrite

test: setup
	@bash tools/run-tests.sh

info: setup
	@$(PY) -m clusterkit.cli.main info

clean:
	rm -rf build $(VENV) *.egg-info
