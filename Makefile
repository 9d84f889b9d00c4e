# The list of commands (style guide §11). `make run` and `make test` are the README's two commands.
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

# The venv's interpreter must carry the fix for CVE-2024-6923 (e-mail header injection), which
# upstream shipped in 3.11.10, 3.12.5 and 3.13.0 and Debian backported into python3.11
# 3.11.2-6+deb12u5. A version number cannot tell (Debian's still says 3.11.2), so the test is the
# fix's own switch, email.policy's verify_generated_headers. On these machines pyenv's 3.11.7 comes
# first on PATH and lacks it; Debian's /usr/bin/python3.11 has it. PYTHON=... picks another one.
HAS_FIX := import email.policy, sys; sys.exit(sys.version_info < (3, 11) or not hasattr(email.policy.default, "verify_generated_headers"))
PYTHON_CANDIDATES := python3.11 /usr/bin/python3.11 python3.12 python3.13 python3
PYTHON ?= $(firstword $(foreach p,$(PYTHON_CANDIDATES),$(shell command -v $(p) >/dev/null 2>&1 && $(p) -c '$(HAS_FIX)' 2>/dev/null && command -v $(p))))
VENV_PYTHON = $(or $(PYTHON),python3.11)

# Fails unless interpreter $(1) has the fix; STAX_ALLOW_VULNERABLE_PYTHON=1 makes it a warning.
define require_fixed_python
	@if $(1) -c '$(HAS_FIX)' 2>/dev/null; then :; \
	elif [ "$$STAX_ALLOW_VULNERABLE_PYTHON" = 1 ]; then \
	  echo "WARNING: $(1) lacks the fix for CVE-2024-6923; going on (STAX_ALLOW_VULNERABLE_PYTHON=1)"; \
	else \
	  echo "$(1) lacks the fix for CVE-2024-6923 (e-mail header injection). Needed: Python >= 3.11.10,"; \
	  echo "3.12.5 or 3.13.0, or Debian's python3.11 >= 3.11.2-6+deb12u5 (apt-get install python3.11-venv)."; \
	  echo "Looked for: $(PYTHON_CANDIDATES); or name one with PYTHON=/path/to/python3.x."; \
	  echo "A venv made on an unfixed one: rm -rf $(VENV) && make install. To go on anyway: STAX_ALLOW_VULNERABLE_PYTHON=1"; \
	  exit 1; \
	fi
endef

.PHONY: install run test lint check up down status clean images deploy-test test-containers bench bench-intake bench-matcher bench-notifier bench-poison bench-claim bench-e2e bench-floor

# An existing venv is checked too: one made before this check may run an unfixed interpreter.
install: $(STAMP)
	$(call require_fixed_python,$(BIN)/python)

$(STAMP): pyproject.toml
	@command -v java >/dev/null || { echo "Java 17+ is needed for Kafka: apt-get install openjdk-17-jre-headless"; exit 1; }
	@command -v mvn >/dev/null || { echo "Maven is needed to fetch the Kafka jars: apt-get install maven"; exit 1; }
	$(call require_fixed_python,$(VENV_PYTHON))
	$(VENV_PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	@touch $@

## run: start Kafka, PostgreSQL and the three services, then the guided demo (Ctrl-C stops all)
run: install
	$(BIN)/stax-local demo

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

## images: the STAX, Kafka and PostgreSQL images, built on a Debian root made here with debootstrap
## (no registry needed; starts dockerd with host networking only if no engine answers)
images: install
	$(BIN)/python -m deploy.containers images

## deploy-test: the compose file scaled to 3 matchers and 2 notifiers on those images: a request end
## to end, the partitions shared, a matcher killed without loss or a second offer
deploy-test: images
	$(BIN)/pytest -m containers tests/containers

## test-containers: the integration and end-to-end tests again, Kafka and PostgreSQL being
## containers of those images started through testcontainers (STAX_TEST_BACKEND=containers)
CONTAINER_TESTS ?= tests/integration tests/e2e
test-containers: images
	STAX_TEST_BACKEND=containers $(BIN)/pytest $(CONTAINER_TESTS)

## bench-*: benchmarks on private stacks; each prints its numbers next to a baseline measured in the same run,
## and what Kafka security costs (on against off, same run: docs/benchmarks.md); options via BENCH_ARGS="..."
BENCH_ARGS ?=

bench-intake: install
	$(BIN)/python -m bench.intake $(BENCH_ARGS)

bench-matcher: install
	$(BIN)/python -m bench.matcher $(BENCH_ARGS)

bench-notifier: install
	$(BIN)/python -m bench.notifier $(BENCH_ARGS)

bench-poison: install
	$(BIN)/python -m bench.poison

## bench-claim: notifier's delivery claim as its table grows, against its own first eighth
bench-claim: install
	$(BIN)/python -m bench.claim $(BENCH_ARGS)

## bench-e2e: POST /v1/requests -> first offer webhook: throughput, latency, CPU per request by
## process, scaling with 1-3 instances; JSON + PNG plots in bench/results/ (docs/benchmarks.md)
bench-e2e: install
	$(BIN)/python -m bench.e2e $(BENCH_ARGS)

## bench-floor: a request's hops (records, consumptions, deliveries, the writes that make them safe)
## with nothing of STAX in them, driven as bench-e2e drives STAX: what no code change gets under
bench-floor: install
	$(BIN)/python -m bench.e2e_floor $(BENCH_ARGS)

bench: bench-intake bench-matcher bench-notifier bench-poison bench-claim bench-e2e

up: install
	$(BIN)/stax-local stack up --wait

down: install
	$(BIN)/stax-local stack down

status: install
	$(BIN)/stax-local stack status

clean: down
	rm -rf .stax
