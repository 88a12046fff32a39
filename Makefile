# xbrun: `make train` and `make test` do all set-up on a fresh machine.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# torch/torchvision pinned to the pair this project is tested with (wheels cached locally).
TORCH  := torch==2.14.1 torchvision==0.29.1
# where pip takes torch from: empty = PyPI (with the CUDA libraries, ~3 GB of them);
# `make install-cpu` sets PyTorch's CPU-only index (a venv about half the size, no GPU runs)
TORCH_INDEX ?=
# the optional extras the test suite exercises (ray is left out: it is large, and its plugin
# pins cloudpickle<3, against joblib's >=3; `pip install -e '.[ray]'` in an env of its own)
EXTRAS := dev,sweep,submitit,optuna,tensorboard,mlflow

.PHONY: install install-cpu train test test-gpu bench lint clean figures figures-quick figures-full

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX)) $(TORCH)
	$(BIN)/python -m pip install -q -e '.[$(EXTRAS)]'
	touch $(STAMP)

install: $(STAMP)

# CPU-only torch (numba kernels; no CUDA libraries): then `make train` / `make test` as usual
install-cpu:
	$(MAKE) install TORCH_INDEX=https://download.pytorch.org/whl/cpu

train: $(STAMP)
	$(BIN)/xbrun train

# worksteal: an idle worker takes half of the other's queue, so a cold run (numba compiling
# on first use, tests 2-10x their warm time) ends with both workers busy, not one test tail
test: $(STAMP)
	$(BIN)/python -m pytest -q -n auto --dist worksteal

test-gpu: $(STAMP)
	$(BIN)/python -m pytest -q -m gpu

bench: $(STAMP)
	$(BIN)/python -m benchmarks

# every published figure its data allow, into figures/<name>/ (`xbrun figure --list`). The
# MNIST figures read the full MNIST (torchvision layout) under MNIST_ROOT and are skipped,
# with the reason, where it is absent; MNIST_ROOT=../shared/data/mnist5k runs them on 5,000
# digits, whose numbers their reports mark as not comparable. Figures already run are redrawn.
MNIST_ROOT ?= data
figures: $(STAMP)
	$(BIN)/xbrun figure --all --mnist $(MNIST_ROOT)

# every figure on one CUDA GPU machine within BUDGET seconds (scripts/figures_full.sh says
# which figures run less than their configured sweep, and why), outputs into FIG_OUT
FIG_OUT ?= figures/full
BUDGET ?= 400
figures-full: $(STAMP)
	XBRUN=$(BIN)/xbrun scripts/figures_full.sh $(FIG_OUT) $(MNIST_ROOT) $(BUDGET)

# the same, reduced to seconds per figure on a CPU, into figures/<name>-quick/
figures-quick: $(STAMP)
	$(BIN)/xbrun figure --all --quick

lint: $(STAMP)
	$(BIN)/ruff check xbrun kernels tests benchmarks

clean:
	rm -rf outputs multirun .pytest_cache
