# The two commands of the README. Everything else is an implementation detail of these.
PYTHON ?= python3
VENV := .venv/bin

.PHONY: lab test setup lint jstest pytest conformance

## make lab: install everything (first run: minutes) and start JupyterLab with Workbench
lab:
	$(PYTHON) scripts/bootstrap.py
	$(VENV)/workbench lab

## make test: install everything the tests need (incl. chromium) and run the whole suite
test:
	$(PYTHON) scripts/bootstrap.py --browser
	$(MAKE) --no-print-directory lint
	$(MAKE) --no-print-directory jstest
	$(MAKE) --no-print-directory pytest

setup:
	$(PYTHON) scripts/bootstrap.py

lint:
	$(VENV)/ruff check .
	$(VENV)/ruff format --check .
	$(VENV)/mypy
	cd extensions/workbench-lab && PATH="$(CURDIR)/$(VENV):$$PATH" npm run --silent lint

jstest:
	cd extensions/workbench-lab && npm test --silent

pytest:
	$(VENV)/python -m pytest $(PYTEST_ARGS)

## make conformance: Horovod's own PyTorch test suite (../shared/conformance) against the
## engine on 2 and 3 ranks; JSON in build/conformance/, summary against docs/horovod-conformance.md
CONFORMANCE := ../shared/conformance/horovod
CONFORMANCE_RANKS ?= 2 3
conformance:
	$(PYTHON) scripts/bootstrap.py
	mkdir -p build/conformance
	for n in $(CONFORMANCE_RANKS); do \
		$(VENV)/python $(CONFORMANCE)/run.py $(VENV)/python $(VENV)/mpiexec \
			$(CONFORMANCE)/test_torch.py $$n build/conformance/torch-$$n.json || exit 1; \
	done
	$(VENV)/python scripts/conformance_summary.py build/conformance/torch-*.json
