#!/usr/bin/env bash
# Reproduce the bundled default detector (src/tilewise/data/default_detector.onnx) and the
# bundled sample scene, then measure sliced vs full-frame AP on the benchmark's test split.
#
#   scripts/train_default_model.sh [WORK_DIR]          (default: runs/default-model)
#
# Needs the train and synth extras (torch==2.13.0, onnx, scikit-learn, scikit-image).
# Everything is generated locally; nothing is downloaded. The run is seeded; on a 2-core
# CPU it takes about 20-25 minutes (most of it training). Stages can be run one by one:
#   python -m tilewise.training.recipe data train bundle eval --work WORK_DIR
set -euo pipefail
cd "$(dirname "$0")/.."
WORK="${1:-runs/default-model}"
exec nice -n 19 python -m tilewise.training.recipe data train bundle eval --work "$WORK"
