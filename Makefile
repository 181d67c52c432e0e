# The two commands of the README. Everything else is an implementation detail of these.
PYTHON ?= python3
VENV := .venv/bin

.PHONY: lab test setup lint jstest pytest

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
