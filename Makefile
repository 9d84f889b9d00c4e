# The list of commands (style guide §11). `make run` and `make test` are the README's two commands.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install run test lint check up down status clean bench bench-intake bench-matcher bench-notifier

install: $(STAMP)

$(STAMP): pyproject.toml
	@command -v java >/dev/null || { echo "Java 17+ is needed for Kafka: apt-get install openjdk-17-jre-headless"; exit 1; }
	@command -v mvn >/dev/null || { echo "Maven is needed to fetch the Kafka jars: apt-get install maven"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	@touch $@

## run: start Kafka, PostgreSQL and the three services, then the guided demo (Ctrl-C stops all)
run: install
	$(BIN)/stax demo

## test: the whole suite on a real Kafka and PostgreSQL started for the session
test: install
	$(BIN)/pytest

## lint: ruff, formatting, mypy --strict, import contracts
lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

check: lint test

## bench-*: benchmarks on private stacks; each prints its numbers next to a baseline measured in the same run,
## and what Kafka security costs (on against off, same run: docs/benchmarks.md); options via BENCH_ARGS="..."
BENCH_ARGS ?=

bench-intake: install
	$(BIN)/python -m bench.intake $(BENCH_ARGS)

bench-matcher: install
	$(BIN)/python -m bench.matcher $(BENCH_ARGS)

bench-notifier: install
	$(BIN)/python -m bench.notifier $(BENCH_ARGS)

bench: bench-intake bench-matcher bench-notifier

up: install
	$(BIN)/stax stack up --wait

down: install
	$(BIN)/stax stack down

status: install
	$(BIN)/stax stack status

clean: down
	rm -rf .stax
