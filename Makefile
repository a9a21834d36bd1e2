# make run: serve the app with a demo organization on http://127.0.0.1:5000, and its job worker
# make test: the whole test suite, in two worker processes (docs/TESTING.md);
#   PYTEST_ARGS="-k redeem -x" to narrow it, TEST_WORKERS=0 for one process
# make lint: ruff check, ruff format --check, and mypy on the modules pyproject.toml lists

PYTHON ?= python3
VENV := .venv
FLASK := $(VENV)/bin/flask --app wsgi
PYTEST_ARGS ?=
# One per core of the CI machine. Each worker may hold 60 PostgreSQL connections
# in the race tests, and CI's server allows 200.
TEST_WORKERS ?= 2

.PHONY: venv run test lint clean

venv: $(VENV)/.installed

$(VENV)/.installed: requirements.txt requirements-dev.txt
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet -r requirements-dev.txt
	touch $@

# Links the app hands out (mail, QR codes) name the address it is served on.
# The job queue's worker (docs/JOBS.md) runs beside the server, and stops with it.
run: export PUBLIC_URL = http://127.0.0.1:5000
run: venv
	mkdir -p instance
	$(FLASK) db upgrade
	$(FLASK) seed-demo
	$(FLASK) jobs work & worker=$$!; \
	trap 'kill $$worker 2>/dev/null; wait $$worker' EXIT INT TERM; \
	$(FLASK) run --host 127.0.0.1 --port 5000

test: venv
	$(VENV)/bin/python -m pytest -n $(TEST_WORKERS) --dist worksteal $(PYTEST_ARGS)

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache .hypothesis
	find . -path ./.git -prune -o -type d -name __pycache__ -prune -exec rm -rf {} +
