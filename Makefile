# The two commands of the README: `make demo` and `make test` do all the set-up themselves
# (a virtual environment in .venv, the package and its tools, the Kafka broker, PostgreSQL).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed

.PHONY: demo test install lint kafka-down clean

demo: $(INSTALLED)
	$(BIN)/dealwatch demo

test: $(INSTALLED)
	$(BIN)/ruff check .
	$(BIN)/dealwatch kafka up
	$(BIN)/python -m pytest $(PYTEST_ARGS)

install: $(INSTALLED)

$(INSTALLED): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "dealwatch needs Python 3.11 or newer (set PYTHON=python3.11)")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $@

lint: $(INSTALLED)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

kafka-down: $(INSTALLED)
	$(BIN)/dealwatch kafka down

clean:
	rm -rf $(VENV) build *.egg-info
