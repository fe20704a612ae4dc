# The two commands of the README, plus a few conveniences. Everything installs from
# pyproject.toml + constraints.txt into .venv (bin/bootstrap).
.PHONY: run test lint format lock bench

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
