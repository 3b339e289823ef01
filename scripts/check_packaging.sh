#!/usr/bin/env bash
# Packaging checks, run by .ci/run after the tests (needs the active venv of scripts/test.sh):
#  1. build the sdist and a wheel (python -m build) and inspect the wheel (auditwheel show);
#  2. install the sdist into a clean venv with no C compiler (CC=/bin/false): the install
#     must succeed and fall back to the pure-numpy kernels;
#  3. run the main job (tilewise predict on the bundled sample) there and in the native
#     build, and require the same detections, bit for bit.
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
python -m pip install -q "build>=1.0" "auditwheel>=6.0"

echo "== build: sdist and wheel"
python -m build --outdir "$work/dist" . >"$work/build.log" 2>&1 || { tail -40 "$work/build.log"; exit 1; }
ls "$work/dist"
wheel=$(ls "$work"/dist/*.whl)
sdist=$(ls "$work"/dist/*.tar.gz)
python - "$wheel" <<'PY'
import sys, zipfile

names = zipfile.ZipFile(sys.argv[1]).namelist()
for wanted in ("tilewise/kernels/_native", "tilewise/data/default_detector.onnx", "tilewise/py.typed"):
    if not any(n.startswith(wanted) for n in names):
        sys.exit(f"the wheel lacks {wanted}")
PY
# (a python check, not `tar | grep -q`: grep -q closing the pipe early fails under pipefail)
python - "$sdist" <<'PY'
import sys, tarfile

names = tarfile.open(sys.argv[1]).getnames()
for wanted in ("src/tilewise/kernels/_native.c", "setup.py", "src/tilewise/data/default_detector.onnx"):
    if not any(n.endswith(wanted) for n in names):
        sys.exit(f"the sdist lacks {wanted}")
PY
echo "== auditwheel show"
auditwheel show "$wheel"

echo "== sdist install with no C compiler (CC=/bin/false)"
python -m venv "$work/nocc"
CC=/bin/false "$work/nocc/bin/python" -m pip install -q "$sdist" >"$work/nocc.log" 2>&1 \
  || { tail -40 "$work/nocc.log"; exit 1; }
if ls "$work"/nocc/lib/python*/site-packages/tilewise/kernels/_native*.so >/dev/null 2>&1; then
  echo "a C extension was built although CC=/bin/false"; exit 1
fi
"$work/nocc/bin/tilewise" version | tee "$work/version.txt"
grep -qx "kernels python (pure numpy)" "$work/version.txt"

echo "== same detections from the numpy kernels (no-compiler install) and the C kernels"
(cd "$work" && "$work/nocc/bin/tilewise" predict --out "$work/fallback" >/dev/null)
tilewise predict --out "$work/native" >/dev/null
python - "$work/native" "$work/fallback" <<'PY'
import json, sys
from pathlib import Path

native, fallback = (Path(p) for p in sys.argv[1:])
names = sorted(p.name for p in native.glob("*.json") if p.name != "comparison.json")
assert names, "tilewise predict wrote no detections JSON"
for name in names:
    a = json.loads((native / name).read_text())["detections"]
    b = json.loads((fallback / name).read_text())["detections"]
    if a != b:
        sys.exit(f"{name}: {len(a)} detections with the C kernels, {len(b)} with numpy; they differ")
    print(f"{name}: {len(a)} detections, identical")
PY
echo "packaging checks passed"
