# incident-operator — `make help` lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
BIN_CACHE_CMD := hack/build-binaries.sh
PYTEST_ARGS ?=
# Test workers in `make test`: each runs whole test files against a control plane of its
# own (most of a test's time is spent waiting on clocks, not on the two cores).
TEST_WORKERS ?= 2
PY_DIRS := operator tests $(wildcard bench) $(wildcard hack/*.py)

##@ General

.PHONY: help
help: ## Show this help.
	@awk 'BEGIN {FS = ":.*##"} /^[a-zA-Z0-9_-]+:.*?##/ { printf "  \033[36m%-16s\033[0m %s\n", $$1, $$2 } /^##@/ { printf "\n\033[1m%s\033[0m\n", substr($$0, 5) }' $(MAKEFILE_LIST)

##@ Setup

.PHONY: setup
setup: setup-debian setup-python setup-binaries ## Everything a fresh machine needs: Debian packages, Python packages, control plane binaries.

.PHONY: setup-debian
setup-debian: ## Install Debian packages (Prometheus, Alertmanager, Chromium, openssl) when missing.
	@hack/setup-debian.sh

.PHONY: setup-python
setup-python: $(VENV)/.installed ## Create .venv and install the package with its dev dependencies.

$(VENV)/.installed: pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Python 3.11+ is required"'
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@$(PY) -m pip install --quiet --upgrade pip
	@$(PY) -m pip install --quiet -e '.[dev]'
	@touch $@

.PHONY: setup-binaries
setup-binaries: ## Build etcd, the Kubernetes control plane, kubectl, kwok, kube-state-metrics and helm into ~/.cache (first run only).
	@$(BIN_CACHE_CMD) >/dev/null

##@ Development

.PHONY: crds
crds: setup-python ## Render crds/*.yaml from the pydantic models.
	@$(PY) -m incident_operator crds --output crds
	@hack/sync-chart.sh

.PHONY: monitoring
monitoring: setup-python ## Render the operator's alerts and the Grafana dashboards (manifests/components/monitoring, the chart's files/).
	@$(PY) -m incident_operator monitoring --output manifests/components/monitoring
	@hack/sync-chart.sh

.PHONY: lint
lint: setup-python ## ruff check and format check.
	@$(VENV)/bin/ruff check $(PY_DIRS)
	@$(VENV)/bin/ruff format --check $(PY_DIRS)

.PHONY: format
format: setup-python ## Apply ruff's fixes and formatting.
	@$(VENV)/bin/ruff check --fix $(PY_DIRS)
	@$(VENV)/bin/ruff format $(PY_DIRS)

.PHONY: typecheck
typecheck: setup-python ## mypy --strict on the package.
	@$(VENV)/bin/mypy

.PHONY: imports
imports: setup-python ## import-linter contracts (the domain stays pure).
	@$(VENV)/bin/lint-imports

##@ Tests

.PHONY: test
test: setup lint typecheck imports ## The whole suite: lint, types, import contracts, unit and integration tests on a local control plane.
	@$(PY) -m pytest -n $(TEST_WORKERS) --dist loadfile --durations=40 $(PYTEST_ARGS)

.PHONY: unit
unit: setup-python ## Unit tests only (no cluster).
	@$(PY) -m pytest tests/unit $(PYTEST_ARGS)

.PHONY: integration
integration: setup ## Integration and e2e tests on the local control plane.
	@$(PY) -m pytest -n $(TEST_WORKERS) --dist loadfile tests/integration tests/e2e $(PYTEST_ARGS)

.PHONY: chaos
chaos: setup ## Fault tests, longer: 100 operator kills, Prometheus down for 2 minutes (~15 min); `make test` runs 10 kills and 10 s.
	@INCIDENT_OPERATOR_CHAOS_KILLS=100 INCIDENT_OPERATOR_OUTAGE_CYCLES=120 $(PY) -m pytest tests/integration/test_chaos.py \
		tests/integration/test_detection.py::test_a_prometheus_outage_neither_recovers_a_breach_nor_reads_as_a_drop $(PYTEST_ARGS)

.PHONY: fuzz
fuzz: setup ## Property-based tests (tests/property) with thousands of examples each (~10 min); `make test` runs a few dozen.
	@HYPOTHESIS_PROFILE=fuzz $(PY) -m pytest tests/property $(PYTEST_ARGS)

##@ Local cluster

.PHONY: cluster-up
cluster-up: setup ## Start the local control plane and Prometheus; prints the kubeconfig and Prometheus URL.
	@$(PY) -m tests.harness up

.PHONY: cluster-down
cluster-down: setup-python ## Stop what cluster-up started.
	@$(PY) -m tests.harness down

.PHONY: run
run: setup-python ## Run the operator against the current kubeconfig.
	@$(VENV)/bin/incident-operator run

##@ Packaging

.PHONY: sync-chart
sync-chart: ## Copy the CRDs, admission policies and RBAC rules the chart and manifests/ share (make crds does it too).
	@hack/sync-chart.sh

.PHONY: helm
helm: ## Build helm from its Go module into the binary cache (first run only, ~2 min).
	@$(BIN_CACHE_CMD) helm >/dev/null

.PHONY: helm-lint
helm-lint: helm ## helm lint --strict the chart.
	@"$$($(BIN_CACHE_CMD) helm | tail -n 1)/helm" lint --strict charts/incident-operator

.PHONY: chart-test
chart-test: setup-python ## Chart, Dockerfile and shared-file tests (helm lint/template; no cluster).
	@$(PY) -m pytest tests/unit/test_chart.py tests/unit/test_dockerfile.py $(PYTEST_ARGS)

.PHONY: install-test
install-test: setup ## kustomize and helm installs, RBAC (auth can-i) and a clean-venv install, on the local control plane.
	@$(PY) -m pytest tests/integration/test_install.py tests/integration/test_packaging.py $(PYTEST_ARGS)

##@ End to end

.PHONY: e2e-kind
e2e-kind: setup-python ## On kind (needs Docker): build the image, helm install the chart, run tests/e2e, delete the cluster.
	@hack/e2e-kind.sh $(PYTEST_ARGS)

##@ Benchmarks

.PHONY: bench
bench: setup ## Benchmarks (not part of `make test`): detection latency and cost, rollback latency, alert storm, plugin start-up.
	@$(PY) -m bench.detection
	@$(PY) -m bench.rollback_latency
	@$(PY) -m bench.storm
	@$(PY) -m bench.plugin_startup

.PHONY: bench-plugin
bench-plugin: setup ## Plugin start-up: p50/p90 of `kubectl incident ack|show|list|approve-rollback` against kubectl's equivalents, and the ratio (~1 min).
	@$(PY) -m bench.plugin_startup $(ARGS)

.PHONY: bench-storm
bench-storm: setup ## Alert storm: 1,000 Alertmanager alerts over 50 workloads in 10 groups: incidents, time to all signals, pages, against an anchor (~3 min).
	@$(PY) -m bench.storm $(ARGS)

.PHONY: bench-scale
bench-scale: setup ## 5,000 Incidents, 50 namespaces, 200 policies: memory, idle CPU, time to status (~15 min).
	@$(PY) -m bench.scale $(ARGS)

PIPELINE_BEFORE ?= /tmp/pipeline-before

.PHONY: bench-pipeline
bench-pipeline: setup ## Incident pipeline before (PIPELINE_BEFORE, a worktree of the base) and after: requests, 409s, storms.
	@test -d "$(PIPELINE_BEFORE)/operator" || { echo "PIPELINE_BEFORE=$(PIPELINE_BEFORE) is not a source tree: git worktree add $(PIPELINE_BEFORE) <commit>" >&2; exit 2; }
	@$(PY) -m bench.pipeline --before "$(PIPELINE_BEFORE)" --after . $(ARGS)

##@ Demo

.PHONY: demo
demo: setup ## The whole story on a local control plane, narrated (DEMO_KUBECONFIG=... for an existing cluster; ARGS=--keep).
	@PYTHONPATH=. $(PY) hack/demo.py $(ARGS)
