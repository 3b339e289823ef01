"""``--start`` seeks: same frames, indices and times as a decode from the beginning (issue 12)."""

from __future__ import annotations

import warnings
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from tilewise.errors import TilewiseWarning
from tilewise.sources import FrameSelection
from tilewise.sources.video import VideoFileSource, import_av
from tilewise.sources.video_seek import count_frames_before

av = pytest.importorskip("av")

GOP = 5
CFR = [i / 25 for i in range(40)]  # keyframes at frames 0, 5, 10, ... (every 0.2 s)
_rng = np.random.default_rng(5)
VFR = np.round(np.cumsum(np.r_[0.0, _rng.uniform(0.01, 0.09, 39)]), 3).tolist()


def encode(path: Path, times: list[float], fmt: str = "mp4", gop: int = GOP) -> Path:
    """H.264 with a fixed keyframe interval and B-frames, each frame at its own time."""
    tb = Fraction(1, 1000)
    with av.open(str(path), "w", format=fmt) as container:
        stream = container.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        stream.time_base = stream.codec_context.time_base = tb
        stream.options = {"g": str(gop), "keyint_min": str(gop), "sc_threshold": "0",
                          "bf": "2", "crf": "18", "preset": "veryfast"}  # fmt: skip
        for i, t in enumerate(times):
            image = np.zeros((48, 64, 3), np.uint8)
            image[:, : (3 * i) % 64, 0] = 200  # every frame differs
            image[..., 1] = (7 * i) % 256
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            frame.pts, frame.time_base = round(t / tb), tb
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


@pytest.fixture(scope="module")
def videos(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("seek")
    return {
        "cfr.mp4": encode(d / "cfr.mp4", CFR),
        "cfr.mkv": encode(d / "cfr.mkv", CFR, "matroska"),
        "vfr.mp4": encode(d / "vfr.mp4", VFR),
        "vfr.mkv": encode(d / "vfr.mkv", VFR, "matroska"),
        "cfr.h264": encode(d / "cfr.h264", CFR, "h264"),  # raw stream: no timestamps
    }


def _both(path: Path, selection: FrameSelection) -> tuple[list, list, VideoFileSource]:
    plain = list(VideoFileSource(path, selection, seek=False))
    src = VideoFileSource(path, selection)
    return plain, list(src), src


def _assert_same(plain: list, sought: list) -> None:
    assert [f.index for f in sought] == [f.index for f in plain]
    assert [f.time for f in sought] == [f.time for f in plain]
    for a, b in zip(plain, sought, strict=True):
        assert np.array_equal(a.pixels, b.pixels)


# (start, first kept index, frames jumped over by the seek, decoded frames skipped before start)
CFR_STARTS = [
    (0.2, 5, 5, 0),  # on a keyframe
    (0.24, 6, 5, 1),  # between keyframes
    (0.39, 10, 5, 5),  # just before the next keyframe
    (1.0, 25, 25, 0),
    (1.05, 27, 25, 2),  # between frames: the first frame at or after the start
    (1.5, 38, 35, 3),  # in the last keyframe interval
]


@pytest.mark.parametrize("name", ["cfr.mp4", "cfr.mkv"])
@pytest.mark.parametrize(("start", "first", "jumped", "decoded_before"), CFR_STARTS)
def test_seek_equals_decoding_from_the_beginning(
    videos: dict[str, Path], name: str, start: float, first: int, jumped: int, decoded_before: int
) -> None:
    plain, sought, src = _both(videos[name], FrameSelection(start=start))
    _assert_same(plain, sought)
    assert [f.index for f in sought] == list(range(first, 40))
    assert sought[0].time == pytest.approx(first / 25)
    s = src.stats
    assert (s.seek, s.seek_fallback) == ("keyframe", None)
    assert (s.skipped_by_seek, s.skipped_before_start) == (jumped, decoded_before)
    assert s.decoded == 40 - jumped  # the frames before the keyframe were never decoded
    assert s.skipped_before_start + s.skipped_stride + s.kept == s.decoded
    assert s.lost_frames in (0, None)
    assert s.damaged is None


@pytest.mark.parametrize("name", ["vfr.mp4", "vfr.mkv"])
@pytest.mark.parametrize("start", [0.05, 0.4, VFR[10], VFR[10] + 0.001, 1.3, VFR[-1]])
def test_seek_on_variable_frame_rate(videos: dict[str, Path], name: str, start: float) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error", TilewiseWarning)  # no false "truncated" warning
        plain, sought, src = _both(videos[name], FrameSelection(start=start))
    _assert_same(plain, sought)
    first = next(i for i, t in enumerate(VFR) if t >= start)
    assert [f.index for f in sought] == list(range(first, 40))
    assert [f.time for f in sought] == pytest.approx(VFR[first:])
    assert src.stats.seek == "keyframe"
    jumped = src.stats.skipped_by_seek
    assert jumped % GOP == 0
    assert jumped <= first
    assert src.stats.skipped_before_start == first - jumped


@pytest.mark.parametrize(
    "options",
    [
        {"start": 0.3, "stride": 3},
        {"start": 0.3, "end": 1.0},
        {"start": 0.44, "max_frames": 4, "stride": 2},
        {"start": 9.0},  # after the end: nothing
    ],
)
def test_seek_with_the_other_selections(videos: dict[str, Path], options: dict) -> None:
    plain, sought, src = _both(videos["cfr.mp4"], FrameSelection(**options))
    _assert_same(plain, sought)
    assert src.stats.seek == "keyframe"


def test_raw_stream_without_timestamps_falls_back_and_says_why(videos: dict[str, Path]) -> None:
    plain, sought, src = _both(videos["cfr.h264"], FrameSelection(start=0.5))
    _assert_same(plain, sought)
    assert src.stats.seek == "fallback"
    assert src.stats.seek_fallback == "the stream has no start time"
    assert src.stats.skipped_by_seek == 0
    described = src.describe()["frames"]
    assert (described["seek"], described["seek_fallback"]) == ("fallback", src.stats.seek_fallback)


def test_no_seek_without_a_start(videos: dict[str, Path]) -> None:
    src = VideoFileSource(videos["cfr.mp4"], FrameSelection(stride=4))
    assert [f.index for f in src] == list(range(0, 40, 4))
    assert (src.stats.seek, src.stats.skipped_by_seek) == (None, 0)


@pytest.mark.parametrize("name", ["cfr.mp4", "vfr.mkv"])
def test_count_frames_before_is_the_presentation_rank(videos: dict[str, Path], name: str) -> None:
    import_av()
    with av.open(str(videos[name])) as container:
        stream = container.streams.video[0]
        pts = sorted(f.pts for f in container.decode(stream))
        index = stream.index
    for k in (0, 1, 4, 5, 6, 17, 39):
        assert count_frames_before(av, videos[name], index, pts[k]) == k


@pytest.mark.parametrize(("name", "seek"), [("cfr.mp4", "keyframe"), ("cfr.h264", "fallback")])
def test_cli_start_reports_the_seek(
    videos: dict[str, Path], tmp_path: Path, name: str, seek: str
) -> None:
    import json

    from typer.testing import CliRunner

    from tilewise.cli.app import app

    args = ["predict", str(videos[name]), "--out", str(tmp_path), "--model",
            "tests.conftest:blob_model", "--slice", "64", "--start", "1.0", "--no-save-video",
            "--no-progress"]  # fmt: skip
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "15 frame(s) processed" in result.output
    report = json.loads((tmp_path / "cfr.report.json").read_text())
    assert report["source"]["frames"]["seek"] == seek
    fallback = "--start: decoded from the beginning, no exact seek (the stream has no start time)"
    assert (fallback in result.output) == (seek == "fallback")
