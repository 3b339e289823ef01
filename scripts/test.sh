#!/usr/bin/env bash
# Install test dependencies into the active Python environment and run the test suite.
# README's second set-up command. Never installs the non-headless opencv-python.
set -euo pipefail
cd "$(dirname "$0")/.."
python -m pip install -q --upgrade pip
# CPU PyTorch first: the local 2.13.0 CPU wheel; a bare "torch" would pull CUDA packages.
python -m pip install -q "torch==2.13.0"
python -m pip install -q -e ".[dev,bench,geo,video,serve,distributed,tune]"
# sahi 0.12 requires the non-headless opencv-python; install it without dependencies
# (its light dependencies come with the bench extra).
python -m pip install -q --no-deps "sahi==0.12.*"
# The tracking peers (benchmarks/bench_tracking.py) and the metrics reference
# (tests/test_tracking_metrics.py) require opencv-python too: same treatment.
python -m pip install -q --no-deps "trackers==2.6.*" "trackeval==1.3.0"
python -m ruff check src tests benchmarks examples
python -m ruff format --check src tests benchmarks examples
# Layer contracts (pyproject.toml [tool.importlinter]): imports only go down, no cycles.
lint-imports
# loadgroup: tests marked xdist_group("ray") share one worker (one Ray cluster at a time)
python -m pytest -n 2 --dist loadgroup -q "$@"
