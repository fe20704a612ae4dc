# The two commands of the README, plus a few conveniences. Everything installs from
# pyproject.toml + constraints.txt into .venv (bin/bootstrap).
.PHONY: run test lint format lock bench load load

run:
	bin/run

test:
	bin/test

lint:
	bin/bootstrap && .venv/bin/ruff check . && .venv/bin/ruff format --check .

format:
	bin/bootstrap && .venv/bin/ruff format . && .venv/bin/ruff check --fix .

# Re-pin every dependency after changing pyproject.toml.
lock:
	bin/bootstrap && .venv/bin/python -m pip install --quiet --upgrade -e '.[dev]' \
	  && .venv/bin/python -m pip freeze --exclude-editable > constraints.txt

# Every benchmark in bench/, on scratch PostgreSQL databases, at sizes that finish in a few
# minutes; e.g. `make bench BENCH_EVENTS=200000` for the size the audit figures are quoted at.
BENCH_EXPORTS ?= 5000
BENCH_EVENTS ?= 50000
BENCH_ETA_SPEED ?= 8
# The pages under load, as ratios to a bare view (seconds per wrk run); the quoted figures
# are `make bench BENCH_EXPORTS=1000000 BENCH_WEB_SECONDS=10` (docs/benchmarks.md).
BENCH_WEB_SECONDS ?= 3
# Exports followed at once, submits on one queue with the polls vs on their own; the quoted
# figures are `make bench BENCH_FOLLOW_EXPORTS=10000` (docs/benchmarks.md).
BENCH_FOLLOW_EXPORTS ?= 2000
# Commits timed from the worker to the export page's DOM, pushed and polled side by side.
BENCH_PUSH_SAMPLES ?= 30

bench:
	bin/ensure-services && bin/bootstrap
	.venv/bin/python bench/web_ratios.py --exports $(BENCH_EXPORTS) --duration $(BENCH_WEB_SECONDS)
	.venv/bin/python bench/portal_pages.py --exports $(BENCH_EXPORTS) --repeat 20
	.venv/bin/python bench/audit_export.py --events $(BENCH_EVENTS) --records 500 --repeat 10
	.venv/bin/python bench/eta.py --speed $(BENCH_ETA_SPEED)
	.venv/bin/python bench/follow_scale.py --exports $(BENCH_FOLLOW_EXPORTS)
	.venv/bin/python bench/push_latency.py --samples $(BENCH_PUSH_SAMPLES)

# People watching and making exports against the whole product (not part of `make test`):
# `make load LOAD_WATCHERS=200 LOAD_CREATORS=20 LOAD_SECONDS=300` is the issue's size.
LOAD_WATCHERS ?= 40
LOAD_CREATORS ?= 4
LOAD_SECONDS ?= 60

load:
	bin/ensure-services && bin/bootstrap
	.venv/bin/python bench/load.py --watchers $(LOAD_WATCHERS) --creators $(LOAD_CREATORS) \
	  --duration $(LOAD_SECONDS)
