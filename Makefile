# Two entry points: `make demo` (the main job on the bundled default model) and `make test`.
# Both set up everything on a fresh machine: Debian packages, a venv, torch (CPU), the project.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
SYS_STAMP := $(VENV)/.system-deps
APT_PACKAGES := tesseract-ocr tesseract-ocr-eng chromium fonts-dejavu-core
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
export HF_HUB_OFFLINE ?= 1
export TRANSFORMERS_OFFLINE ?= 1

.PHONY: test test-milvus test-gpu demo lint typecheck install system-deps bench clean fuzz

install: $(STAMP) $(SYS_STAMP)

# torch is pinned and installed first: an unpinned torch pulls a multi-GB CUDA build.
$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e '.[test]'
	touch $(STAMP)

$(SYS_STAMP):
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing >/dev/null; \
	fi
	@mkdir -p $(VENV) && touch $(SYS_STAMP)

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests benchmarks
	$(VENV)/bin/ruff format --check src tests benchmarks

typecheck: $(STAMP)
	$(VENV)/bin/mypy

test: install lint typecheck
	$(VENV)/bin/pytest -q

# the shared store suite against a Milvus standalone server the tests start on 127.0.0.1 (free
# ports, stopped by PID, dies with the test process) from the `milvus` PyPI package (2.3.5, ~15-30 s
# to start), inside a private network namespace where the machine allows one (.ci/loopback-only).
# `.ci/run` runs it after `make test`. Missing packages fail here rather than skip every test.
MILVUS_SERVER_PKG := milvus==2.3.5
test-milvus: install
	$(PY) -c "import milvus" 2>/dev/null || $(PY) -m pip install -q '$(MILVUS_SERVER_PKG)'
	$(PY) -c "import milvus, pymilvus, milvus_lite"
	.ci/loopback-only $(VENV)/bin/pytest -q -m milvus_server tests/stores

# the torch encoder families on a CUDA GPU (tests/gpu; skipped without one). Not the CPU venv that
# `install` makes: GPU_PY is a Python whose torch is a CUDA build, with omnivec's dependencies.
GPU_PY ?= python3
test-gpu:
	PYTHONPATH=src:. $(GPU_PY) -m pytest -q -m gpu tests/gpu

# coverage-guided fuzzing of the chunkers and the notebook and SVG loaders, for a bounded time;
# not part of `make test`. Crashes are saved in $(FUZZ_DIR) as crash-<sha1> (see the harness).
FUZZ_SECONDS ?= 120
FUZZ_DIR ?= $(or $(TMPDIR),/tmp)/omnivec-fuzz
fuzz: $(STAMP)
	$(PY) -c "import atheris" 2>/dev/null || $(PY) -m pip install -q 'atheris>=2.3'
	mkdir -p $(FUZZ_DIR)/corpus
	$(PY) tests/fuzz/fuzz_ingest.py -max_total_time=$(FUZZ_SECONDS) -timeout=20 -rss_limit_mb=2048 -max_len=8192 \
	  -artifact_prefix=$(FUZZ_DIR)/ $(FUZZ_DIR)/corpus

# the main job on the bundled default model: index a real folder (part of the Python stdlib),
# search it, then show that a second run is incremental
demo: install
	$(PY) -m omnivec.demo demo-data
	$(VENV)/bin/omnivec index demo-data --store demo-store
	@$(PY) -m omnivec.demo queries - | while read -r q; do \
	  echo "=== omnivec search \"$$q\" -k 3"; \
	  $(VENV)/bin/omnivec search "$$q" --store demo-store -k 3; \
	done
	$(VENV)/bin/omnivec index demo-data --store demo-store
	$(VENV)/bin/omnivec status --store demo-store

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache demo-store demo-data
