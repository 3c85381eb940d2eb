# robolearn: `make demo` sets everything up and runs a small end-to-end job; `make test` runs the tests.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# CPU machines: torch==2.13.0 resolves to the CPU build; an unpinned torch would pull CUDA wheels.
TORCH  ?= torch==2.13.0
PIP    := $(BIN)/python -m pip --disable-pip-version-check -q

.PHONY: install demo test test-all bench pictures clean xla-venv

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP) install "$(TORCH)"
	$(PIP) install -e ".[dev,ray,original]"
	touch $(STAMP)

demo: install
	$(BIN)/python scripts/demo.py --out out/demo

test: install
	$(BIN)/python -m pytest -q

test-all: install
	$(BIN)/python -m pytest -q -m "expensive or not expensive"

bench: install
	$(BIN)/python scripts/bench_env.py
	$(BIN)/python scripts/bench_collect.py
	$(BIN)/python scripts/profile_collect.py
	$(BIN)/python scripts/bench_servo.py --acts 30
	$(BIN)/python scripts/bench_worker_memory.py
	$(BIN)/python -m robolearn.cli collect collection/grasp_kuka_random.toml --episodes 400 --workers 2 --store out/bench_kuka400 --resume
	$(BIN)/python scripts/bench_train.py --store out/bench_kuka400
	$(BIN)/python scripts/bench_tcn.py
	$(BIN)/python scripts/bench_multiview.py
	$(BIN)/python scripts/bench_imitation.py
	$(BIN)/python scripts/bench_threads.py
	$(BIN)/python scripts/bench_kuka_diverse_v1.py

pictures: install
	$(BIN)/python scripts/make_pictures.py

clean:
	rm -rf $(VENV) out .pytest_cache

# The TPU path on this machine's CPU (PJRT_DEVICE=CPU): torch_xla 2.9 needs torch 2.9 (PyPI's build, which pulls
# ~3 GB of CUDA wheels just to import), so it lives in its own venv, not in CI. Then, e.g.:
#   PJRT_DEVICE=CPU .venv-xla/bin/robolearn train policies/tcn.toml --store DATA --steps 4 --out out/tcn_xla
xla-venv:
	test -x .venv-xla/bin/python || $(PYTHON) -m venv .venv-xla
	.venv-xla/bin/python -m pip --disable-pip-version-check -q install "torch==2.9.0" "torch_xla==2.9.0"
	.venv-xla/bin/python -m pip --disable-pip-version-check -q install -e .
