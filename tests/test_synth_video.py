"""Synthetic tiny-mover videos: determinism, ground truth, detections, the CLI commands."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from tilewise import TilewiseError
from tilewise.cli.app import app
from tilewise.synth.video import (
    DetectionNoise,
    SynthVideo,
    VideoConfig,
    simulate_detections,
    synth_video,
)
from tilewise.tracking import Tracker, evaluate_tracks, frames_to_table, read_mot

pytest.importorskip("skimage")
pytest.importorskip("sklearn")

SMALL = VideoConfig(frame_size=(320, 240), frames=40, movers=10)


@pytest.fixture(scope="module")
def video() -> SynthVideo:
    return synth_video(SMALL, seed=3)


def test_same_seed_same_video(video: SynthVideo) -> None:
    again = synth_video(SMALL, seed=3)
    assert again.ground_truth == video.ground_truth
    assert np.array_equal(again.frame(7), video.frame(7))
    other = synth_video(SMALL, seed=4)
    assert other.ground_truth != video.ground_truth


def test_ground_truth_is_tiny_movers_inside_the_frame(video: SynthVideo) -> None:
    gt = video.ground_truth
    assert len(gt) > 0
    frame, ids = gt.data["frame"], gt.data["tracker_id"]
    assert np.all(np.diff(frame) >= 0)
    assert frame.min() >= 0
    assert frame.max() < SMALL.frames
    for f in np.unique(frame):
        assert len(np.unique(ids[frame == f])) == int(np.sum(frame == f))
    sides = gt.xyxy[:, 2:] - gt.xyxy[:, :2]
    assert sides.max() <= 12
    assert np.all(gt.xyxy >= 0)
    assert np.all(gt.xyxy[:, [0, 2]] <= 320)
    assert np.all(gt.xyxy[:, [1, 3]] <= 240)
    assert np.all(gt.data["visibility"] >= SMALL.min_visibility)
    # the objects move: median displacement per frame is above a pixel
    steps = []
    for i in np.unique(ids):
        c = (gt.xyxy[ids == i, :2] + gt.xyxy[ids == i, 2:]) / 2
        if len(c) > 1:
            steps.extend(np.hypot(*np.diff(c, axis=0).T).tolist())
    assert np.median(steps) > 1.0
    assert len(video.ground_truth_frames()) == SMALL.frames


def test_frames_render_on_demand(video: SynthVideo) -> None:
    frames = list(video.frames())
    assert len(frames) == len(video) == SMALL.frames
    assert frames[0].shape == (240, 320, 3)
    assert frames[0].dtype == np.uint8
    assert not np.array_equal(frames[0], frames[1])  # sensor noise and motion
    with pytest.raises(IndexError):
        video.frame(SMALL.frames)


def test_simulated_detections(video: SynthVideo) -> None:
    dets = simulate_detections(video, seed=1)
    assert len(dets) == SMALL.frames
    assert dets[5] == simulate_detections(video, seed=1)[5]
    perfect = DetectionNoise(
        miss_rate=0, centre_std=0, centre_std_px=0, size_std=0, distractor_rate=0,
        false_per_mpx=0,
    )  # fmt: skip
    tracker = Tracker()
    clean = frames_to_table(tracker.update(d) for d in simulate_detections(video, perfect, seed=0))
    m = evaluate_tracks(video.ground_truth, clean).overall
    assert m["IDF1"] > 0.8
    assert m["CLR_FP"] == 0


def test_bad_config() -> None:
    with pytest.raises(TilewiseError, match="frame_size"):
        VideoConfig(frame_size=10)
    with pytest.raises(TilewiseError, match="size_range"):
        VideoConfig(frame_size=64, size_range=(6, 30))
    with pytest.raises(TilewiseError, match="frames"):
        VideoConfig(frames=0)
    with pytest.raises(TilewiseError, match="miss_rate"):
        DetectionNoise(miss_rate=2)
    with pytest.raises(TilewiseError, match="Beta"):
        DetectionNoise(confidence=(0, 1))


def test_cli_synth_video_then_eval_tracks(tmp_path: Path) -> None:
    runner = CliRunner()
    seq = tmp_path / "seq"
    res = runner.invoke(
        app,
        ["dataset", "synth-video", str(seq), "--frames", "12", "--size", "200x150",
         "--movers", "5", "--seed", "2"],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    assert len(list((seq / "img1").iterdir())) == 12
    gt = read_mot(seq / "gt" / "gt.txt")
    det = read_mot(seq / "det" / "det.txt")
    assert len(gt) > 0
    assert np.all(det.data["tracker_id"] == -1)
    res = runner.invoke(
        app,
        ["eval-tracks", str(seq / "gt" / "gt.txt"), str(seq / "gt" / "gt.txt"), "--json",
         str(tmp_path / "m.json")],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    assert "IDF1" in res.output
    assert "8-16px" in res.output
    assert (tmp_path / "m.json").is_file()
    res = runner.invoke(app, ["dataset", "synth-video", str(seq)])
    assert res.exit_code == 2
    assert "not empty" in res.output
    res = runner.invoke(app, ["eval-tracks", str(tmp_path / "missing.txt"), str(seq)])
    assert res.exit_code == 2


def test_cli_mp4(tmp_path: Path) -> None:
    pytest.importorskip("av")
    res = CliRunner().invoke(
        app,
        ["dataset", "synth-video", str(tmp_path / "s"), "--frames", "4", "--size", "96x64",
         "--movers", "2", "--no-detections", "--mp4"],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    assert (tmp_path / "s" / "video.mp4").stat().st_size > 0
    assert not (tmp_path / "s" / "det").exists()
