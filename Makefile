# Vigie: `make help` lists the targets.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
FLASK := $(BIN)/flask --app webapp
HOST ?= 127.0.0.1
PORT ?= 8000
WORKERS ?= 2
export HOST PORT WORKERS

.PHONY: help install install-dev translations run bootstrap test lint bench bench-deps evaluate clean \
	docs-check lock

help: ## List the targets
	@grep -E '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk -F':.*?## ' '{printf "  %-14s %s\n", $$1, $$2}'

$(BIN)/activate:
	$(PYTHON) -m venv $(VENV)

# --require-hashes: every package, transitive ones included, must match the hash in the file.
$(VENV)/.installed: requirements.txt | $(BIN)/activate
	$(BIN)/pip install --quiet --disable-pip-version-check --require-hashes -r requirements.txt
	touch $@

$(VENV)/.installed-dev: requirements.txt requirements-dev.txt $(VENV)/.installed
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

install: $(VENV)/.installed translations ## Create .venv and install the pinned dependencies

install-dev: install $(VENV)/.installed-dev ## Install the test and lint tools too

lock: $(VENV)/.installed-dev ## Pin every runtime package with hashes: requirements.in -> requirements.txt
	CUSTOM_COMPILE_COMMAND="make lock" $(BIN)/pip-compile --quiet --generate-hashes \
	  --allow-unsafe --strip-extras --no-emit-index-url --no-emit-find-links \
	  --output-file requirements.txt requirements.in

translations: $(VENV)/.installed ## Compile the French UI catalogues
	@$(FLASK) translations

bootstrap: install ## Train pump-1 from data/ if the store is empty; create the admin
	$(FLASK) bootstrap

run: bootstrap ## Serve Vigie with gunicorn on http://$(HOST):$(PORT)
	$(BIN)/gunicorn --config webapp/gunicorn_conf.py "webapp:create_app()"

browser-deps: ## Install Debian's Chromium for the browser tests (needs root or sudo)
	@command -v chromium >/dev/null || { \
	  SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
	  $$SUDO apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium; }

test: install-dev browser-deps ## Run the whole test suite (browser tests included)
	$(BIN)/pytest -q --ignore=tests/load

test-load: install-dev ## Load and fault tests against gunicorn with 4 workers (about 2 minutes)
	$(BIN)/pytest -q -s tests/load

bench-deps: ## Install Debian's wrk, the load client of the anchors benchmark (needs root or sudo)
	@command -v wrk >/dev/null || { \
	  SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
	  $$SUDO apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq wrk; }

bench: install-dev bench-deps ## Measure speed and memory beside bare anchors (docs/benchmarks.md)
	$(BIN)/python -m tests.benchmarks.run

evaluate: install ## Detection quality on SKAB: readings, alarms, explanations, leave-one-family-out
	$(FLASK) evaluate --data data/skab --normal-rows 400 --explanation-check data/anomaly-free.csv
	$(BIN)/python docs/research/family_study.py --data data/skab

lint: install-dev ## Check the code with ruff
	$(BIN)/ruff check webapp features tests docs

docs-check: browser-deps ## Render every Mermaid diagram of docs/ (mermaid-cli from npm, into .mermaid/)
	bash docs/check_diagrams.sh

clean: ## Remove the virtual environment and caches
	rm -rf $(VENV) .pytest_cache .ruff_cache .mermaid

# Container, release and deployment (scripts in .ci/; see docs/operations.md).
.PHONY: docker-build docker-test docker-publish ci release deploy deploy-rollback deploy-status \
	deploy-test

docker-build: ## Build the image vigie:<version> (podman or docker; TAG= to override)
	bash .ci/docker-build.sh

docker-test: ## Build and run the image: healthy, ready, not root, a prediction audited in the logs volume
	bash .ci/docker-test.sh

docker-publish: ## Push vigie:<version> to REGISTRY (from a commit tagged by make release)
	bash .ci/docker-publish.sh

ci: lint test docs-check test-load docker-test ## What CI runs: lint, tests, diagrams, load tests, the container

release: ## Set webapp/version.py to VERSION=x.y.z (default: next patch), commit, tag vX.Y.Z
	bash .ci/release.sh $(VERSION)

deploy: ## Run the image vigie:TAG as the container "vigie"; remembers the previous tag
	bash .ci/deploy.sh deploy $(TAG)

deploy-rollback: ## Restart the previously deployed tag; volumes untouched
	bash .ci/deploy.sh rollback

deploy-status: ## Show the deployed and previous tags and the container's health
	bash .ci/deploy.sh status

deploy-test: ## Release on a throwaway clone, build both versions, deploy, switch, roll back (podman)
	bash .ci/deploy-test.sh

# Several instances behind nginx on PostgreSQL (deploy/compose.yaml; docs/operations.md).
.PHONY: cluster-up cluster-down cluster-test

cluster-up: ## Start nginx, two Vigie instances and PostgreSQL (podman/docker compose; deploy/.env)
	bash .ci/cluster.sh up

cluster-down: ## Stop the cluster (named volumes kept)
	bash .ci/cluster.sh down

cluster-test: ## Throwaway cluster: a prediction through nginx audited in PostgreSQL (needs compose)
	bash .ci/cluster.sh test
