"""Video: frame sources, slices of consecutive frames batched, outputs, bad input (issue 12)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import blob_model
from tilewise import Detections, Slicer
from tilewise.errors import TilewiseError, TilewiseWarning
from tilewise.slicing.stream import stream_frames
from tilewise.sources import (
    ArrayFrames,
    CaptureSource,
    FrameSelection,
    ImageSequenceSource,
    open_frames,
)
from tilewise.sources import capture as capture_module
from tilewise.sources.video import VideoFileSource
from tilewise.synth.video import VideoConfig, synth_video
from tilewise.tracking import TrackerConfig, read_mot
from tilewise.video import predict_video, read_jsonl, run_video, write_video

pytest.importorskip("av")

FPS = 10.0


def _frames(n: int = 12, wh: tuple[int, int] = (160, 96), seed: int = 3) -> list[np.ndarray]:
    """Synthetic tiny-mover frames with bright squares the blob model finds."""
    video = synth_video(VideoConfig(frame_size=wh, frames=n, movers=5, fps=FPS), seed=seed)
    out = []
    for t in range(n):
        frame = video.frame(t).copy()
        for k in range(3):  # squares moving 3 px per frame, crossing slice borders
            x = (7 + 3 * t + 40 * k) % (wh[0] - 10)
            y = (11 + 2 * t + 23 * k) % (wh[1] - 10)
            frame[y : y + 7, x : x + 7] = (200, 100 + 40 * k, k)
        out.append(frame)
    return out


@pytest.fixture(scope="module")
def frames() -> list[np.ndarray]:
    return _frames()


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory, frames: list[np.ndarray]) -> Path:
    """A 12-frame H.264 file of the frames (lossy: compare against its own decoded frames)."""
    return write_video(tmp_path_factory.mktemp("clip") / "clip.mp4", frames, FPS, crf=12)


class StackingStaged:
    """The blob model in stages whose ``prepare`` stacks the batch (one size per batch)."""

    def prepare(self, images: list[np.ndarray]) -> np.ndarray:
        return np.stack(images)

    def forward(self, prepared: np.ndarray) -> np.ndarray:
        return prepared

    def finish(self, prepared: np.ndarray, raw: np.ndarray) -> list[Detections]:
        return blob_model(list(raw))

    def __call__(self, images: list[np.ndarray]) -> list[Detections]:
        prepared = self.prepare(images)
        return self.finish(prepared, self.forward(prepared))


# ---------------------------------------------------------------------- batching across frames
@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    batch=st.integers(1, 9),
    workers=st.integers(1, 3),
    slice_wh=st.sampled_from([48, 64, 100, 160]),
    overlap=st.sampled_from([0.0, 0.2]),
    full_frame=st.booleans(),
    n=st.integers(1, 7),
    zoom=st.sampled_from([1.0, 1.5]),
    staged=st.booleans(),
    mixed=st.booleans(),
)
def test_stream_equals_frame_by_frame(
    frames: list[np.ndarray],
    batch: int,
    workers: int,
    slice_wh: int,
    overlap: float,
    full_frame: bool,
    n: int,
    zoom: float,
    staged: bool,
    mixed: bool,
) -> None:
    kw = {"slice_wh": slice_wh, "overlap": overlap, "full_frame": full_frame, "zoom": zoom}
    clip = list(frames[:n])
    if mixed:  # a frame of another size in the middle: its own full-frame batch
        clip.insert(n // 2, frames[n // 2][:64, :112])
    model = StackingStaged() if staged else blob_model
    single = Slicer(blob_model, batch_size=1, **kw)
    streamed = Slicer(model, batch_size=batch, workers=workers, pipeline=staged, **kw)
    expected = [single.run(f).detections for f in clip]
    got = list(streamed.stream(clip, fps=FPS))
    n = len(clip)
    assert [g.index for g in got] == list(range(n))
    assert [g.time for g in got] == [i / FPS for i in range(n)]
    for want, (_, _, det) in zip(expected, got, strict=True):
        assert det == want


def test_stream_fills_batches_across_frames(frames: list[np.ndarray]) -> None:
    sizes: list[int] = []

    def model(images: list[np.ndarray]) -> list[Detections]:
        sizes.append(len(images))
        return blob_model(images)

    slicer = Slicer(model, slice_wh=96, overlap=0, batch_size=5)  # 2 slices per frame
    out = list(stream_frames(slicer, frames[:6]))
    assert sizes == [5, 5, 2]  # 12 slices of 6 frames: frames share batches
    assert len(out) == 6
    assert slicer.last_report is not None
    assert slicer.last_report.slices == 2


@pytest.mark.parametrize(
    ("batch", "n", "slice_calls", "full_calls"),
    [
        (5, 6, [5, 5, 2], [5, 1]),  # 2 slices per frame; whole frames in batches of 5
        (4, 4, [4, 4], [4]),
        (3, 2, [3, 1], [2]),
        (1, 2, [1, 1, 1, 1], [1, 1]),
    ],
)
def test_stream_batches_the_full_frame_pass_across_frames(
    frames: list[np.ndarray], batch: int, n: int, slice_calls: list, full_calls: list
) -> None:
    calls: list[tuple[int, tuple[int, ...]]] = []

    def model(images: list[np.ndarray]) -> list[Detections]:
        calls.append((len(images), images[0].shape))
        return blob_model(images)

    slicer = Slicer(model, slice_wh=96, overlap=0, batch_size=batch, full_frame=True)
    got = [d for _, _, d in slicer.stream(frames[:n])]
    whole = frames[0].shape
    assert [k for k, shape in calls if shape != whole] == slice_calls
    assert [k for k, shape in calls if shape == whole] == full_calls  # never mixed with slices
    single = Slicer(blob_model, slice_wh=96, overlap=0, full_frame=True)
    assert got == [single.run(f).detections for f in frames[:n]]
    assert slicer.last_report is not None
    assert slicer.last_report.full_frame_detections == len(blob_model([frames[n - 1]])[0])


def test_stream_frames_of_different_sizes(frames: list[np.ndarray]) -> None:
    mixed = [frames[0], frames[1][:64, :100], frames[2]]
    slicer = Slicer(blob_model, slice_wh=48, overlap=0.1, batch_size=7)
    got = [d for _, _, d in slicer.stream(mixed)]
    want = [Slicer(blob_model, slice_wh=48, overlap=0.1).run(f).detections for f in mixed]
    assert got == want


def test_stream_rejects_bad_items() -> None:
    slicer = Slicer(blob_model, slice_wh=32)
    with pytest.raises(TilewiseError, match="frames must be"):
        list(slicer.stream([object()]))


def test_predict_video_tracks_with_ids(frames: list[np.ndarray]) -> None:
    slicer = Slicer(blob_model, slice_wh=64, overlap=0.2, batch_size=4)
    out = list(predict_video(frames, slicer, tracker=TrackerConfig(min_hits=1), fps=FPS))
    for _, _, det in out:
        ids = det.data["tracker_id"]
        confirmed = ids[ids >= 0]
        assert len(set(confirmed.tolist())) == len(confirmed)  # unique per frame
    assert (out[-1].detections.data["tracker_id"] >= 0).sum() >= 3


# ---------------------------------------------------------------------- selection tables
SELECTIONS = [
    ({}, list(range(12))),
    ({"stride": 3}, [0, 3, 6, 9]),
    ({"start": 0.25}, list(range(3, 12))),
    ({"end": 0.5}, [0, 1, 2, 3, 4]),
    ({"start": 0.2, "end": 0.9, "stride": 2}, [2, 4, 6, 8]),
    ({"max_frames": 4, "stride": 2}, [0, 2, 4, 6]),
    ({"start": 0.3, "max_frames": 2}, [3, 4]),
    ({"start": 1.5}, []),
]


@pytest.mark.parametrize(("options", "indices"), SELECTIONS)
def test_selection_array_frames(frames: list[np.ndarray], options: dict, indices: list) -> None:
    src = ArrayFrames(frames, fps=FPS, selection=FrameSelection(**options))
    got = list(src)
    assert [f.index for f in got] == indices
    assert [f.time for f in got] == pytest.approx([i / FPS for i in indices])
    assert src.stats.kept == len(indices)
    s = src.stats
    assert s.skipped_before_start + s.skipped_stride + s.kept == s.decoded


@pytest.mark.parametrize(("options", "indices"), SELECTIONS[:-1])
def test_selection_video_file(clip: Path, options: dict, indices: list) -> None:
    src = VideoFileSource(clip, FrameSelection(**options))
    got = list(src)
    assert [f.index for f in got] == indices
    assert [f.time for f in got] == pytest.approx([i / FPS for i in indices])
    assert all(f.pixels.shape == (96, 160, 3) and not f.pixels.flags.writeable for f in got)
    assert src.stats.damaged is None
    assert src.stats.dropped == {}


def test_video_file_decodes_only_what_is_kept_and_matches_opencv(clip: Path) -> None:
    full = [f.pixels for f in VideoFileSource(clip)]
    strided = list(VideoFileSource(clip, FrameSelection(stride=4)))
    for f in strided:
        assert np.array_equal(f.pixels, full[f.index])
    assert len(full) == 12
    cv = [f.pixels for f in CaptureSource(str(clip))]
    assert len(cv) == 12
    # two decoders, one colour conversion each: equal up to rounding
    assert np.abs(cv[5].astype(int) - full[5].astype(int)).mean() < 3


@pytest.mark.parametrize(("options", "indices"), SELECTIONS[:-1])
def test_selection_capture_local_file(clip: Path, options: dict, indices: list) -> None:
    src = CaptureSource(str(clip), FrameSelection(**options))
    assert [f.index for f in src] == indices
    assert src.live is False


@pytest.mark.parametrize(("options", "indices"), SELECTIONS[:-1])
def test_selection_image_sequence(
    tmp_path: Path, frames: list[np.ndarray], options: dict, indices: list
) -> None:
    import cv2

    for i, f in enumerate(frames):
        cv2.imwrite(str(tmp_path / f"f{i}.png"), f[..., ::-1])
    src = ImageSequenceSource(tmp_path, FrameSelection(**options), fps=FPS)
    got = list(src)
    assert [f.index for f in got] == indices
    for f in got:
        assert np.array_equal(f.pixels, frames[f.index])  # natural order: f2 before f10
    glob_src = open_frames(str(tmp_path / "f1*.png"), fps=FPS)
    assert [f.pixels.shape for f in glob_src] == [(96, 160, 3)] * 3  # f1, f10, f11


def test_selection_validation() -> None:
    with pytest.raises(TilewiseError, match="stride"):
        FrameSelection(stride=0)
    with pytest.raises(TilewiseError, match="after start"):
        FrameSelection(start=2, end=1)
    with pytest.raises(TilewiseError, match="max_frames"):
        FrameSelection(max_frames=0)
    with pytest.raises(TilewiseError, match="start"):
        FrameSelection(start=-1)


def test_consumer_stopping_early_stops_the_decoder(clip: Path) -> None:
    src = VideoFileSource(clip, queue_size=1)
    it = iter(src)
    first = next(it)
    it.close()
    assert first.index == 0
    assert src.stats.decoded <= 4  # the decoder stopped, a bounded queue ahead


# ---------------------------------------------------------------------- outputs
def test_run_video_outputs_round_trip(clip: Path, tmp_path: Path) -> None:
    slicer = Slicer(blob_model, slice_wh=64, overlap=0.2, batch_size=3)
    decoded = [f.pixels for f in VideoFileSource(clip)]
    want = list(
        predict_video(decoded, Slicer(blob_model, slice_wh=64, overlap=0.2), tracker=True, fps=FPS)
    )
    src = VideoFileSource(clip)
    result = run_video(
        src, slicer, tmp_path / "out", stem="clip", class_names=["a", "b", "c"], tracker=True,
        trail=4,
    )  # fmt: skip
    outs = result.outputs
    assert set(outs) == {"video", "jsonl", "mot", "counts_csv", "counts_png", "report"}
    lines = list(read_jsonl(outs["jsonl"]))
    assert [f for f, _, _ in lines] == list(range(12))
    for (f, t, det), (index, time, exp) in zip(lines, want, strict=True):
        assert (f, t) == (index, pytest.approx(time))
        np.testing.assert_allclose(det.xyxy, exp.xyxy, atol=0.006)
        assert det.class_id.tolist() == exp.class_id.tolist()
        assert det.data["tracker_id"].tolist() == exp.data["tracker_id"].tolist()
    first = json.loads(outs["jsonl"].read_text().splitlines()[0])
    assert set(first) == {"frame", "time", "detections"}
    assert set(first["detections"][0]) == {
        "xyxy", "confidence", "class_id", "class_name", "tracker_id"
    }  # fmt: skip
    table = read_mot(outs["mot"])
    tracked = [(i, d[d.data["tracker_id"] >= 0]) for i, _, d in want]
    assert len(table) == sum(len(d) for _, d in tracked)
    assert sorted(set(table.data["frame"].tolist())) == [i for i, d in tracked if len(d)]
    csv = outs["counts_csv"].read_text().splitlines()
    assert csv[0] == "frame,time,a,b,c,total"
    assert len(csv) == 13
    assert outs["counts_png"].read_bytes()[:4] == b"\x89PNG"
    annotated = VideoFileSource(outs["video"])
    assert len(list(annotated)) == 12
    assert annotated.frame_wh == (160, 96)
    report = json.loads(outs["report"].read_text())
    assert report["frames_processed"] == 12
    assert report["interrupted"] is False
    assert report["source"]["frames"]["decoded"] == 12
    assert report["tracks"] == len(set(table.data["tracker_id"].tolist()))
    assert not [p for p in (tmp_path / "out").iterdir() if p.name.startswith(".")]


def test_run_video_strided_without_video_or_tracking(clip: Path, tmp_path: Path) -> None:
    src = VideoFileSource(clip, FrameSelection(stride=5))
    result = run_video(src, Slicer(blob_model, slice_wh=64), tmp_path, stem="s", save_video=False)
    assert set(result.outputs) == {"jsonl", "counts_csv", "counts_png", "report"}
    lines = list(read_jsonl(result.outputs["jsonl"]))
    assert [f for f, _, _ in lines] == [0, 5, 10]
    assert all("tracker_id" not in d.data for _, _, d in lines)


def test_ctrl_c_finishes_the_files(clip: Path, tmp_path: Path) -> None:
    def stop_after_three(item: object) -> None:
        if item[0] == 2:  # type: ignore[index]
            raise KeyboardInterrupt

    result = run_video(
        VideoFileSource(clip), Slicer(blob_model, slice_wh=64, batch_size=4), tmp_path,
        stem="c", tracker=True, on_frame=stop_after_three,
    )  # fmt: skip
    assert result.interrupted
    assert [f for f, _, _ in read_jsonl(result.outputs["jsonl"])] == [0, 1, 2]
    assert len(list(VideoFileSource(result.outputs["video"]))) == 3
    assert json.loads(result.outputs["report"].read_text())["interrupted"] is True
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_error_mid_run_leaves_nothing(clip: Path, tmp_path: Path) -> None:
    calls = []

    def failing(images: list[np.ndarray]) -> list[Detections]:
        calls.append(1)
        if len(calls) > 3:
            raise RuntimeError("model crashed")
        return blob_model(images)

    with pytest.raises(RuntimeError, match="model crashed"):
        run_video(VideoFileSource(clip), Slicer(failing, slice_wh=64), tmp_path, stem="e",
                  tracker=True)  # fmt: skip
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------------- bad input
def test_truncated_file_keeps_frames_before_the_damage(tmp_path: Path, frames: list) -> None:
    path = write_video(tmp_path / "t.mp4", frames * 3, FPS, faststart=True)
    data = path.read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: int(len(data) * 0.6)])
    src = VideoFileSource(cut)
    with pytest.warns(TilewiseWarning, match="lost"):
        got = list(src)
    assert 0 < len(got) < 36
    assert [f.index for f in got] == list(range(len(got)))
    assert src.stats.damaged is not None
    assert src.stats.stopped == "damage"
    assert src.stats.lost_frames == 36 - src.stats.decoded > 0


def test_truncated_file_without_index_is_a_clear_error(clip: Path, tmp_path: Path) -> None:
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(clip.read_bytes()[: len(clip.read_bytes()) // 2])  # moov atom at the end
    with pytest.raises(TilewiseError, match="not a readable video"):
        VideoFileSource(cut)


def test_zero_frame_and_non_video_files(tmp_path: Path) -> None:
    import av

    empty = tmp_path / "empty.mp4"
    with av.open(str(empty), "w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=10)
        stream.width, stream.height, stream.pix_fmt = 64, 64, "yuv420p"
    with pytest.raises(TilewiseError, match=r"empty.mp4"):
        list(VideoFileSource(empty))
    text = tmp_path / "notes.mp4"
    text.write_text("not a video")
    with pytest.raises(TilewiseError, match="not a readable video"):
        VideoFileSource(text)
    with pytest.raises(TilewiseError, match="no such file"):
        open_frames(tmp_path / "missing.mp4")
    with pytest.raises(TilewiseError, match="no image files"):
        open_frames(tmp_path)  # a folder without images


def test_variable_frame_rate_gives_the_real_times(tmp_path: Path) -> None:
    from tilewise.video import VideoWriter

    times = [0.0, 0.1, 0.25, 0.3, 0.7, 0.75]
    with VideoWriter(tmp_path / "vfr.mp4", fps=10) as writer:
        for i, t in enumerate(times):
            writer.write(np.full((48, 64, 3), 30 * i, np.uint8), time=t)
    src = VideoFileSource(tmp_path / "vfr.mp4", FrameSelection(start=0.2, end=0.72))
    got = list(src)
    assert [f.time for f in got] == pytest.approx([0.25, 0.3, 0.7])
    assert [f.index for f in got] == [2, 3, 4]
    assert src.stats.vfr
    # the tracker steps by time: 4 frames at the nominal rate between 0.3 s and 0.7 s
    slicer = Slicer(lambda ims: [Detections.empty() for _ in ims], slice_wh=64)
    assert len(list(predict_video(src, slicer, tracker=True))) == 3


def test_unwritable_output_dir(clip: Path, tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(TilewiseError, match="cannot create the output directory"):
        run_video(VideoFileSource(clip), Slicer(blob_model, slice_wh=64), blocker / "out",
                  stem="u")  # fmt: skip


def test_unreadable_images_of_a_sequence_are_dropped_and_counted(
    tmp_path: Path, frames: list
) -> None:
    import cv2

    for i in range(4):
        cv2.imwrite(str(tmp_path / f"{i}.png"), frames[i][..., ::-1])
    (tmp_path / "2.png").write_bytes(b"\x89PNG broken")
    src = ImageSequenceSource(tmp_path, fps=FPS)
    with pytest.warns(TilewiseWarning, match="unreadable"):
        got = [f.index for f in src]
    assert got == [0, 1, 3]
    assert src.stats.dropped == {"unreadable": 1}


class _FlakyCapture:
    """A capture that fails twice after frame 3 and then, reopened, gives 3 more frames."""

    plan: ClassVar[list[bool]] = []

    def __init__(self, target: object) -> None:
        self.opened = True

    def isOpened(self) -> bool:  # noqa: N802 - OpenCV's name
        return self.opened

    def get(self, prop: int) -> float:
        return 0.0

    def grab(self) -> bool:
        return _FlakyCapture.plan.pop(0) if _FlakyCapture.plan else False

    def retrieve(self) -> tuple[bool, np.ndarray]:
        return True, np.zeros((32, 48, 3), np.uint8)

    def release(self) -> None:
        self.opened = False


def test_stream_drops_are_retried_with_a_limit_and_counted(monkeypatch) -> None:
    monkeypatch.setattr(capture_module, "_open_capture", _FlakyCapture)
    _FlakyCapture.plan = [True] * 3 + [False, False] + [True] * 3
    src = CaptureSource("rtsp://camera.invalid/live", retries=3, retry_wait=0.0)
    with pytest.warns(TilewiseWarning, match="could not be reopened"):
        got = list(src)
    assert [f.index for f in got] == list(range(6))
    # 2 failed reads, 2 reconnects; at the end 3 reconnects fail, the 4th failure gives up
    assert src.live
    assert src.stats.reconnects == 2 + 3
    assert src.stats.dropped == {"read_failed": 2 + 4}
    assert src.stats.stopped == "damage"


# ---------------------------------------------------------------------- command line
def test_cli_predict_video(clip: Path, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from tilewise.cli.app import app

    model = "tests.conftest:blob_model"
    args = ["predict", str(clip), "--out", str(tmp_path), "--model", model, "--slice", "64",
            "--track", "--stride", "2", "--trail", "3", "--no-progress"]  # fmt: skip
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "6 frame(s) processed" in result.output
    for suffix in (".mp4", ".jsonl", ".mot.txt", ".counts.csv", ".counts.png", ".report.json"):
        assert (tmp_path / f"clip{suffix}").is_file()
    image = tmp_path / "a.png"
    import cv2

    cv2.imwrite(str(image), np.zeros((32, 32, 3), np.uint8))
    result = CliRunner().invoke(app, ["predict", str(image), "--track", "--out", str(tmp_path)])
    assert result.exit_code != 0
    assert "--track apply to video input" in result.output


def test_cli_predict_video_tracker_config(clip: Path, tmp_path: Path) -> None:
    import json

    from typer.testing import CliRunner

    from tilewise.cli.app import app
    from tilewise.tracking import TrackerConfig

    settings = tmp_path / "tracker.json"
    settings.write_text(json.dumps({"min_hits": 1, "max_lost": 5, "class_vote": True}))
    out = tmp_path / "out"
    args = ["predict", str(clip), "--out", str(out), "--model", "tests.conftest:blob_model",
            "--slice", "64", "--tracker-config", str(settings), "--no-save-video",
            "--no-progress"]  # fmt: skip
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert (out / "clip.mot.txt").is_file()  # --tracker-config implies --track
    report = json.loads((out / "clip.report.json").read_text())
    assert report["tracker"] == TrackerConfig(min_hits=1, max_lost=5, class_vote=True).to_dict()
    # the report replays the run's tracker on another run
    again = CliRunner().invoke(app, [*args[:3], str(tmp_path / "again"), *args[4:8],
                                     "--tracker-config", str(out / "clip.report.json"),
                                     *args[10:]])  # fmt: skip
    assert again.exit_code == 0, again.output
    assert (tmp_path / "again" / "clip.mot.txt").read_text() == (out / "clip.mot.txt").read_text()
    settings.write_text(json.dumps({"min_hit": 1}))
    bad = CliRunner().invoke(app, args)
    assert bad.exit_code != 0
    assert "unknown tracker parameter(s) min_hit" in bad.output
