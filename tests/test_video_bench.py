"""Smoke test of benchmarks/bench_video.py (issue 12): the quick run gives every row."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("av")
pytest.importorskip("supervision")


@pytest.mark.peers
def test_bench_video_quick(tmp_path: Path) -> None:
    from benchmarks import bench_video

    rows = bench_video.main(["--quick", "--cache", str(tmp_path), "--json", str(tmp_path / "r")])
    assert set(rows["throughput"]) == set(bench_video.DEFAULT_CALLBACKS)
    for callback, group in rows["throughput"].items():
        assert set(group["supervision"]) == {"workers=1", "workers=2"}
        table = bench_video.TILEWISE_SETTINGS[callback]
        settings = [bench_video.tilewise_label(*row) for row in table]
        assert list(group["tilewise"]) == settings
        runs = [*group["supervision"].values(), *group["tilewise"].values()]
        assert all(r["frames"] == 4 for r in runs)
        # the same callback on the same slices: the same detections for supervision and
        # tilewise with PyAV's RGB conversion (swscale, as OpenCV's capture); the default
        # OpenCV BT.601 conversion rounds a few pixels differently, and a threshold
        # callback can find a detection more or less among ~25
        by_rgb: dict[str, set[int]] = {"pyav": set(), "opencv": set()}
        for (_, _, rgb), r in zip(table, group["tilewise"].values(), strict=True):
            by_rgb[rgb].add(r["detections"])
        sv_dets = {r["detections"] for r in group["supervision"].values()}
        assert len(sv_dets) == 1
        assert len(by_rgb["opencv"]) == 1
        assert by_rgb["pyav"] in (set(), sv_dets)
        assert abs(by_rgb["opencv"].pop() - sv_dets.pop()) <= 2
        # supervision calls the callback once per slice; tilewise once per batch
        slices = 4 * group["tilewise"][settings[0]]["slices_per_frame"]
        assert all(r["model_calls"] == slices for r in group["supervision"].values())
        for (batch, _, _), r in zip(table, group["tilewise"].values(), strict=True):
            assert r["model_calls"] == -(-slices // batch)
        assert (group["speedup_rgb_pyav"] is None) == (by_rgb["pyav"] == set())
    assert all(r["frames"] == 4 for r in rows["decode"].values())
    assert rows["writing"]["with_video"]["frames"] == 4
    assert [r["frames"] for r in rows["memory"]] == [4, 8]
    assert "Speed-up" in bench_video.render(rows)


def test_simulated_gpu_cost_and_device_lock() -> None:
    from benchmarks.bench_video import GPU_CALL_MS, GPU_IMAGE_MS, Detector

    gpu = Detector("gpu", call_ms=0.0, image_ms=0.0)
    images = [np.zeros((64, 64, 3), np.uint8) for _ in range(3)]
    images[1][8:16, 8:12, 1] = 255  # green: the same channel in RGB and BGR
    boxes = gpu(images)
    assert [len(b) for b in boxes] == [0, 1, 0]
    assert boxes[1].tolist() == [[8.0, 8.0, 12.0, 16.0]]
    assert (gpu.calls, gpu.images) == (1, 3)
    # the constants are the line through YOLOv5s' V100 latencies: 6.4 ms at b1, 0.9 ms/img at b32
    assert pytest.approx(6.4, abs=0.05) == GPU_CALL_MS + GPU_IMAGE_MS
    assert pytest.approx(0.9, abs=0.01) == (GPU_CALL_MS + 32 * GPU_IMAGE_MS) / 32
    with pytest.raises(ValueError, match="unknown callback"):
        Detector("tpu")


def test_decoder_settings_give_identical_frames(tmp_path: Path) -> None:
    """bench_video_decoders: every PyAV threading / conversion setting decodes the same RGB
    frames (the hash the benchmark compares), and tilewise's source with ``rgb="pyav"``
    gives those frames too; the OpenCV-kernel setting gives the source's default frames."""
    from benchmarks import bench_video_decoders

    from tilewise.sources import VideoFileSource
    from tilewise.video import write_video

    rng = np.random.default_rng(3)
    frames = [rng.integers(0, 256, (72, 128, 3), dtype=np.uint8) for _ in range(5)]
    path = write_video(tmp_path / "v.mp4", iter(frames), 25)
    runs = bench_video_decoders.run(path, repeat=1)
    assert set(runs) == {*bench_video_decoders.SETTINGS, "OpenCV VideoCapture"}
    assert all(r[0]["frames"] == 5 for r in runs.values())
    hashes = {name: r[0]["sha256"] for name, r in runs.items() if r[0]["sha256"] != "-"}
    assert len(hashes) == len(bench_video_decoders.SETTINGS) - 1  # all but decode-only
    opencv = hashes.pop("AUTO, tilewise opencv (yuv420p + cvtColor BT.601)")
    assert len(set(hashes.values())) == 1
    assert opencv not in set(hashes.values())  # another kernel: other rounding

    def source_hash(**options: object) -> str:
        pixels = b"".join(f.pixels.tobytes() for f in VideoFileSource(path, **options))
        return hashlib.sha256(pixels).hexdigest()[:16]

    for threads in (True, False):
        assert source_hash(threads=threads, rgb="pyav") in set(hashes.values())
        assert source_hash(threads=threads) == opencv
    assert "| AUTO |" in bench_video_decoders.render(runs)
    runs = bench_video_decoders.run(path, repeat=2, names=["AUTO"])
    assert set(runs) == {"AUTO", "OpenCV VideoCapture"}
    assert [r["sha256"] for r in runs["AUTO"]] == [hashes["AUTO"]] * 2  # the untimed pass
