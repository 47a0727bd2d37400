# Two commands matter: `make run` (Axon on its embedded default) and `make test` (the whole suite).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: run test test-kube-real lint bench helm-lint clean browser

run: $(VENV)/.runtime
	$(BIN)/axon serve

test: $(VENV)/.dev browser
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/pytest -q

# Against a real kube-apiserver (../shared/tools/kube-real, built once with its build.sh): brings
# the bed up if it is not, runs tests/kube_real, and leaves the bed as it found it.
test-kube-real: $(VENV)/.dev
	$(BIN)/python -m tests.kube_real.bed tests/kube_real

lint: $(VENV)/.dev
	$(BIN)/ruff check . && $(BIN)/ruff format --check . && $(BIN)/mypy

bench: $(VENV)/.dev
	$(BIN)/python -m tests.benchmarks.ingest

helm-lint: $(VENV)/.dev
	$(BIN)/python -m tests.helm.helm_binary lint --strict helm/axon

# The dashboard's tests drive Debian's Chromium through its ChromeDriver.
browser:
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null || \
	  (apt-get install -y -q chromium chromium-driver || \
	   (apt-get update -q && apt-get install -y -q chromium chromium-driver))

$(VENV)/.runtime: requirements.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -r requirements.txt
	$(BIN)/python -m pip install -q --no-deps -e .
	touch $@

$(VENV)/.dev: $(VENV)/.runtime requirements-dev.txt
	$(BIN)/python -m pip install -q -r requirements-dev.txt
	touch $@

clean:
	rm -rf $(VENV) var build *.egg-info
