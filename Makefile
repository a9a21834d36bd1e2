# make run: serve the app with a demo organization on http://127.0.0.1:5000
# make test: the whole test suite (PYTEST_ARGS="-k redeem -x" to narrow it)

PYTHON ?= python3
VENV := .venv
FLASK := $(VENV)/bin/flask --app wsgi
PYTEST_ARGS ?=

.PHONY: venv run test clean

venv: $(VENV)/.installed

$(VENV)/.installed: requirements.txt requirements-dev.txt
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet -r requirements-dev.txt
	touch $@

run: venv
	mkdir -p instance
	$(FLASK) db upgrade
	$(FLASK) seed-demo
	$(FLASK) run --host 127.0.0.1 --port 5000

test: venv
	$(VENV)/bin/python -m pytest $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis
	find . -path ./.git -prune -o -type d -name __pycache__ -prune -exec rm -rf {} +
