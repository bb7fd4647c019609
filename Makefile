# The README's commands. Only Python 3.11+ is assumed: uv is bootstrapped into .tools/ if missing.
UV := $(shell command -v uv 2>/dev/null)
ifeq ($(UV),)
UV := .tools/bin/uv
endif

.PHONY: demo test lint bench clean

.tools/bin/uv:
	python3 -m venv .tools
	.tools/bin/pip install --quiet "uv>=0.5,<1"

# Bytecode compiled at install: an environment with PYTHONDONTWRITEBYTECODE set would
# otherwise compile every module again in every process (1.5 s of each start).
.venv/.synced: pyproject.toml uv.lock | $(UV)
	$(UV) sync --frozen --compile-bytecode
	touch $@

demo: .venv/.synced  ## ingest the sample posts into ./data (SQLite) and list them, offline
	$(UV) run digestbot demo

lint: .venv/.synced
	$(UV) run ruff check .
	$(UV) run ruff format --check .
	$(UV) run mypy bot digests
	$(UV) run lint-imports  # the layers run one way, no cycles (pyproject.toml [tool.importlinter])

# Date-bound specs again with the wall clock 13 months ahead (SQLite only: the store does not
# matter here): a test green today and red next month is a defect (docs/design.md rule 12).
LATER := $(shell date -d '+13 months' +%Y-%m-%dT10:00:00+08:00)
DATED := tests/test_calendar_dates.py tests/test_calendar_events.py tests/test_calendar_bot.py \
	tests/test_ical.py tests/test_scheduler.py tests/test_access.py tests/test_readers.py \
	tests/test_editions.py tests/test_passwords.py

# Parallel workers (pytest-xdist): most tests wait on loopback servers and real processes,
# so more workers than cores; each has its own databases (tests/databases.py). Our own
# modules' bytecode is kept for the run's other processes, whatever PYTHONDONTWRITEBYTECODE says.
WORKERS ?= 6
PYTEST := PYTHONDONTWRITEBYTECODE= $(UV) run pytest

test: lint  ## lint, then the suite on SQLite and (when reachable) PostgreSQL
	$(PYTEST) -n $(WORKERS)
	$(PYTEST) -n 4 -q -p no:cacheprovider -k "not postgresql" --clock $(LATER) $(DATED)

bench: .venv/.synced
	$(UV) run python -m bench.ingest
	$(UV) run python -m bench.digest
	$(UV) run python -m bench.fanout
	$(UV) run python -m bench.broadcast --subscribers 1000
	$(UV) run python -m bench.fidelity  # offline (extractive) unless OPENAI_BASE_URL is set
	$(UV) run python -m bench.mass --readers 2000
	$(UV) run python -m bench.unlock
	$(UV) run python -m bench.commands
	$(UV) run python -m bench.outage
	$(UV) run python -m bench.burst --chats 300 --readers 1000 --status 20
	$(UV) run python -m bench.metrics --rows 300000
	$(UV) run python -m bench.watch --posts 1000 3000
	$(UV) run python -m bench.policy
	$(UV) run python -m bench.names
	$(UV) run python -m bench.search --posts 2000 --queries 100
	$(UV) run python -m bench.review

clean:
	rm -rf .venv .tools data .pytest_cache .ruff_cache .mypy_cache
