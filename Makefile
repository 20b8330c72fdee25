# One command each: setup, protos, lint, test, test-clis, demo, bench, bench-scale, bench-flood.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-dev
PROTOS := $(wildcard protos/photon/v1/*.proto)
PROTOC := $(PY) -m grpc_tools.protoc -Iprotos

.PHONY: setup system-tools protos check-protos lint typecheck test test-clis demo screenshots bench bench-scale bench-flood clean

setup: $(STAMP)

# Debian packages the tests drive for real: Chromium (the dashboard's browser tests) and promtool
# (metrics and alerting rules). Installed only when missing.
system-tools:
	@command -v chromium >/dev/null && command -v promtool >/dev/null || \
		{ apt-get install -y -qq chromium prometheus >/dev/null 2>&1 || \
		  { apt-get update -qq && apt-get install -y -qq chromium prometheus >/dev/null; }; }
	@command -v chromium >/dev/null && command -v promtool >/dev/null || \
		{ echo "chromium and promtool are needed: apt-get install chromium prometheus"; exit 1; }

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

protos: $(STAMP)
	$(PROTOC) --python_out=. --pyi_out=. --grpc_python_out=. $(PROTOS)

# Regenerate into a scratch dir and fail if the committed code differs.
check-protos: $(STAMP)
	@tmp=$$(mktemp -d) && \
	$(PROTOC) --python_out=$$tmp --pyi_out=$$tmp --grpc_python_out=$$tmp $(PROTOS) && \
	for f in $$tmp/photon/v1/*; do \
		cmp -s "$$f" "photon/v1/$$(basename $$f)" || { echo "photon/v1/$$(basename $$f) is stale: run make protos"; rm -rf $$tmp; exit 1; }; \
	done; rm -rf $$tmp; echo "protos: generated code is up to date"

lint: $(STAMP)
	$(VENV)/bin/ruff check photon tests examples bench
	$(VENV)/bin/ruff format --check photon tests examples bench

typecheck: $(STAMP)
	$(VENV)/bin/mypy

# Tests marked `alone` compare latencies, which the other tests running beside them would skew.
# Three workers on two cores: much of the suite waits on processes and timers (a third of the
# CPU was idle with two); an idle worker takes tests queued on a busy one (worksteal), or the
# last worker ran the final hundred integration tests alone.
test: check-protos lint typecheck system-tools
	$(VENV)/bin/pytest -n 3 --dist worksteal -m "not alone" --ignore=tests/clis --durations=15
	$(VENV)/bin/pytest -m alone --ignore=tests/clis

# The adapters against the real Claude Code, Gemini CLI and Codex (versions pinned in
# tests/clis/package.json), installed into a cache outside the repo and run against local stand-ins
# of their providers' APIs. The tests run in a network namespace that has only loopback, so no CLI
# can reach anything else.
CLI_CACHE ?= $(HOME)/.cache/photon/clis
test-clis: $(STAMP)
	@mkdir -p $(CLI_CACHE)
	@cmp -s tests/clis/package-lock.json $(CLI_CACHE)/package-lock.json && \
		test -x $(CLI_CACHE)/node_modules/.bin/claude || { \
		cp tests/clis/package.json tests/clis/package-lock.json $(CLI_CACHE)/ && \
		npm ci --prefix $(CLI_CACHE) --no-audit --no-fund --loglevel=error; }
	PHOTON_CLI_BIN=$(CLI_CACHE)/node_modules/.bin unshare --net sh -c \
		'ip link set lo up && exec $(VENV)/bin/pytest -n auto tests/clis'

demo: $(STAMP)
	$(PY) examples/demo.py

# PHOTON against Ray, Dask, Celery (Redis at 127.0.0.1:6379) and a bare-gRPC floor; one table.
# Options through BENCH_ARGS, e.g. make bench BENCH_ARGS="--runs 3" or BENCH_ARGS=--quick.
BENCH_ARGS ?=
bench: $(STAMP)
	$(PY) -m pip install --quiet -e '.[dev,bench]'
	$(PY) -m bench.run $(BENCH_ARGS)

# One hub, 2 real agents and 1,000 simulated ones (real join, certificates and streams) heartbeating:
# hub CPU and RSS, and W1, with and without them. Needs no bench extra. Options through SCALE_ARGS,
# e.g. make bench-scale SCALE_ARGS="--agents 2000 --procs 8" or SCALE_ARGS=--quick.
SCALE_ARGS ?=
bench-scale: $(STAMP)
	$(PY) -m bench.scale $(SCALE_ARGS)

# One hub, 2 real agents, and peers that misbehave one at a time and then together (an agent
# flooding progress events, a client sending the nastiest workflows, inputs and batches the limits
# allow, 200 watch streams and list calls): W1 idle and during each. Needs no bench extra. Options
# through FLOOD_ARGS, e.g. make bench-flood FLOOD_ARGS=--quick or FLOOD_ARGS="--only a,c".
FLOOD_ARGS ?=
bench-flood: $(STAMP)
	$(PY) -m bench.flood $(FLOOD_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache

# docs/screenshots/*.png: each dashboard view of a live demo mesh, in Debian's headless Chromium.
screenshots: $(STAMP)
	$(PY) examples/screenshots.py
