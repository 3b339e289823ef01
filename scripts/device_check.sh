#!/usr/bin/env bash
# The GPU checks of a task that is lent a GPU machine (the `device` tool), in one short run:
# the CUDA tests (tests/test_cuda.py) and the CUDA benchmark rows (video throughput with a
# real GPU callback, beside the simulated one; issue 12's target). Nothing here runs in CI.
#
# 1. Here, once (fetches the wheels the GPU machine's image lacks into .whl/, git-ignored
#    locally; the machine cannot reach a registry):
#        bash scripts/device_check.sh --fetch-wheels
# 2. There, one call (device time is scarce: ~1-2 min to start, this run ~5 min):
#        run(command="bash scripts/device_check.sh", carry=[".whl"], timeout_s=540)
#    Everything it prints is also written under $OUT (machine.txt, test_cuda.log,
#    video_cuda.log, video_cuda.json), which comes back.
#
# FRAMES (default 32), CALLBACKS (default cuda,gpu) and REPEAT (default 2) set the
# benchmark; a dry run on a CPU machine: CALLBACKS=gpu FRAMES=4 REPEAT=1 bash scripts/device_check.sh
set -uo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

if [ "${1:-}" = "--fetch-wheels" ]; then
    grep -qx '/.whl/' .git/info/exclude 2>/dev/null || echo '/.whl/' >> .git/info/exclude
    av_version=$(python3 -c "import av; print(av.__version__)" 2>/dev/null || echo 18.1.0)
    # the GPU image's python3 is 3.12 (/work/.library/device/KINDS.md); supervision needs
    # only defusedxml beyond what the image holds (opencv-python is replaced by the
    # image's opencv-python-headless: --no-deps)
    python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
        --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 \
        --platform manylinux2014_x86_64 -d .whl "av==$av_version" "supervision==0.31.*" defusedxml
    ls -la .whl
    exit 0
fi

out=${OUT:-/tmp/tilewise-device-check}
mkdir -p "$out"
py=${PYTHON:-python3}
{
    date -u
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>&1 || echo "no nvidia-smi"
    "$py" -c "import sys, torch; print(sys.version.split()[0], 'torch', torch.__version__, 'cuda', torch.cuda.is_available())"
    nproc
} 2>&1 | tee "$out/machine.txt"

if compgen -G ".whl/*.whl" > /dev/null; then
    "$py" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site
fi
export PYTHONPATH="$root/src:$root${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONUNBUFFERED=1
# the C kernels for this python; else the numpy twin (same results), chosen explicitly so
# that its slowness warning (an error under pytest's settings) is not raised
if ! "$py" setup.py build_ext --inplace -q > "$out/build.log" 2>&1; then
    echo "C extension not built (see build.log): TILEWISE_KERNELS=python" | tee -a "$out/machine.txt"
    export TILEWISE_KERNELS=python
fi

status=0
timeout 240 "$py" -m pytest -q -p no:cacheprovider tests/test_cuda.py 2>&1 | tee "$out/test_cuda.log"
[ "${PIPESTATUS[0]}" -eq 0 ] || status=1

timeout 240 "$py" -m benchmarks.bench_video --frames "${FRAMES:-32}" --repeat "${REPEAT:-2}" \
    --callbacks "${CALLBACKS:-cuda,gpu}" --no-writing --no-memory \
    --cache "$out/video-cache" --json "$out/video_cuda.json" 2>&1 | tee "$out/video_cuda.log"
[ "${PIPESTATUS[0]}" -eq 0 ] || status=1
rm -rf "$out/video-cache"  # the synthetic video: not worth sending back
exit $status
