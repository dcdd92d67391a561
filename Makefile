# The two commands of the README: `make demo` and `make test` do all the set-up themselves
# (a virtual environment in .venv, the package and its tools, the Kafka broker, PostgreSQL).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed

.PHONY: demo test test-kafka-down install lint kafka-down clean

demo: $(INSTALLED)
	$(BIN)/dealwatch demo

# The tests run against a broker of their own: state under .test-state/ in the clone, ports
# 19092-19093, wiped before each run and stopped after it. A broker `make demo` left running keeps
# its topics, the tests never see them, and a run never inherits the last one's topics (the
# broker holds a file per partition: leftovers ran it out of open files). With
# KAFKA_BOOTSTRAP_SERVERS set, the tests use that cluster instead.
TEST_STATE ?= $(CURDIR)/.test-state
TEST_KAFKA_PORT ?= 19092
TEST_BROKER := DEALWATCH_HOME=$(TEST_STATE) DEALWATCH_KAFKA_PORT=$(TEST_KAFKA_PORT) \
	KAFKA_BOOTSTRAP_SERVERS=127.0.0.1:$(TEST_KAFKA_PORT)
# The fault tests (pytest -m cluster) start a 3-node cluster of their own: nodes on ports
# 19192-19197, data in .test-state/cluster; stopped by the tests, and here after a cut-short run.
TEST_CLUSTER_PORT ?= 19192
TEST_CLUSTER := DEALWATCH_TEST_CLUSTER_HOME=$(TEST_STATE)/cluster \
	DEALWATCH_TEST_CLUSTER_PORT=$(TEST_CLUSTER_PORT)

test: $(INSTALLED)
	$(BIN)/ruff check .
ifdef KAFKA_BOOTSTRAP_SERVERS
	$(TEST_CLUSTER) $(BIN)/python -m pytest $(PYTEST_ARGS)
else
	$(MAKE) -s test-kafka-down
	rm -rf $(TEST_STATE)
	$(TEST_BROKER) $(BIN)/dealwatch kafka up
	$(TEST_BROKER) $(TEST_CLUSTER) $(BIN)/python -m pytest $(PYTEST_ARGS); status=$$?; \
		$(MAKE) -s test-kafka-down; exit $$status
endif

test-kafka-down: $(INSTALLED)
	$(TEST_BROKER) $(BIN)/dealwatch kafka down
	DEALWATCH_HOME=$(TEST_STATE)/cluster DEALWATCH_KAFKA_PORT=$(TEST_CLUSTER_PORT) \
		$(BIN)/dealwatch kafka down

install: $(INSTALLED)

$(INSTALLED): pyproject.toml setup.py
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
