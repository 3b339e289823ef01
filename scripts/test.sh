#!/usr/bin/env bash
# Install test dependencies into the active Python environment and run the test suite.
# README's second set-up command. Never installs the non-headless opencv-python.
set -euo pipefail
cd "$(dirname "$0")/.."
python -m pip install -q --upgrade pip
python -m pip install -q -e ".[dev,bench]"
# sahi 0.12 requires the non-headless opencv-python; install it without dependencies
# (its light dependencies come with the bench extra).
python -m pip install -q --no-deps "sahi==0.12.*"
python -m ruff check src tests benchmarks examples
python -m ruff format --check src tests benchmarks examples
python -m pytest -n 2 -q "$@"
