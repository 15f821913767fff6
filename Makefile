# Two commands do everything on a fresh machine:
#   make run    set up .venv, then run the main job (the 1D benchmark, quick preset)
#   make test   set up .venv, then run the test suite
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# torch is pinned and installed first. Where no NVIDIA GPU is found, TORCH_INDEX (if set) is
# used as an extra index, e.g. PyTorch's CPU-only wheel index, so no multi-GB CUDA build is pulled.
TORCH ?= torch==2.13.0
TORCH_INDEX ?=
HAS_GPU := $(shell command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1 && echo yes)
ARGS ?=
# pytest-xdist workers: the tests are independent and each runs torch at one thread (tests/conftest.py), so
# two workers on two cores take about two thirds of one worker's time.
WORKERS ?= auto

.PHONY: run test setup clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet "$(TORCH)" $(if $(and $(TORCH_INDEX),$(if $(HAS_GPU),,yes)),--extra-index-url $(TORCH_INDEX))
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $@

setup: $(VENV)/.installed

run: setup
	$(PY) -m benchmarks.normal1d $(ARGS)

# pytest's exit code 5 (no tests collected) is turned into a failure.
test: setup
	$(PY) -m pytest -q -n $(WORKERS) $(ARGS); status=$$?; \
	if [ $$status -eq 5 ]; then echo "make test: pytest collected no tests" >&2; exit 1; fi; exit $$status

clean:
	rm -rf $(VENV) results .pytest_cache
