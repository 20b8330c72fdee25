# One command each: setup, protos, lint, test, demo, bench, bench-scale, bench-flood.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-dev
PROTOS := $(wildcard protos/photon/v1/*.proto)
PROTOC := $(PY) -m grpc_tools.protoc -Iprotos

.PHONY: setup protos check-protos lint typecheck test demo bench bench-scale bench-flood clean

setup: $(STAMP)

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
test: check-protos lint typecheck
	$(VENV)/bin/pytest -n auto -m "not alone"
	$(VENV)/bin/pytest -m alone

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
