"""Video frames to RGB: the OpenCV BT.601 path against a hand-computed reference, padding
of odd sizes, fallbacks to PyAV's conversion (said and counted), and the video source."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tilewise.errors import TilewiseError
from tilewise.sources import FrameSelection, VideoFileSource
from tilewise.sources.video_rgb import RgbConverter, i420_buffer, opencv_refusal

av = pytest.importorskip("av")

TOLERANCE = 1
"""Levels between the OpenCV kernel and the BT.601 formula: its fixed-point coefficients
are the 3-decimal ones (1.164, 1.596, 0.391, 0.813, 2.018), so it rounds at most one
level away from the exact formula."""


def bt601_reference(y: np.ndarray, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """ITU-R BT.601, limited range, in float64, written out from the standard:
    Kr = 0.299, Kb = 0.114, luma 16-235, chroma 16-240 around 128; each chroma sample
    serves its 2x2 block; luma below 16 is taken as 16 (the kernel clamps sub-black)."""
    h, w = y.shape
    uu = np.repeat(np.repeat(u.astype(np.float64), 2, 0), 2, 1)[:h, :w] - 128
    vv = np.repeat(np.repeat(v.astype(np.float64), 2, 0), 2, 1)[:h, :w] - 128
    yy = (np.maximum(y.astype(np.float64), 16) - 16) * 255 / 219
    kr, kb = 0.299, 0.114
    kg = 1 - kr - kb
    cr = vv * 255 / 224 * 2 * (1 - kr)
    cb = uu * 255 / 224 * 2 * (1 - kb)
    r = yy + cr
    b = yy + cb
    g = yy - (kr * cr + kb * cb) / kg
    return np.clip(np.stack([r, g, b], axis=-1), 0, 255)


def make_frame(y: np.ndarray, u: np.ndarray, v: np.ndarray, fmt: str = "yuv420p") -> object:
    """A PyAV frame of any size holding these planes (line padding filled with junk)."""
    h, w = y.shape
    frame = av.VideoFrame(w, h, fmt)
    for plane, data in zip(frame.planes, (y, u, v), strict=True):
        assert (plane.height, plane.width) == data.shape
        rows = np.full((plane.height, plane.line_size), 77, np.uint8)
        rows[:, : plane.width] = data
        plane.update(rows.tobytes())
    return frame


def random_planes(w: int, h: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    cw, ch = (w + 1) // 2, (h + 1) // 2
    return (
        rng.integers(0, 256, (h, w), dtype=np.uint8),
        rng.integers(0, 256, (ch, cw), dtype=np.uint8),
        rng.integers(0, 256, (ch, cw), dtype=np.uint8),
    )


# (Y, U, V) -> RGB: the formula above rounded by hand (none within 0.1 of a half).
TABLE = [
    ((16, 128, 128), (0, 0, 0)),  # black
    ((235, 128, 128), (255, 255, 255)),  # white
    ((126, 128, 128), (128, 128, 128)),  # mid grey: 110 * 255/219 = 128.08
    ((81, 90, 240), (254, 0, 0)),  # BT.601 red: R = 75.68 + 178.76 = 254.44
    ((145, 54, 34), (0, 255, 1)),  # green: B = 150.21 - 149.28 = 0.93
    ((41, 240, 110), (0, 0, 255)),  # blue
    ((100, 100, 150), (133, 91, 41)),  # 132.92, 90.89, 41.33
    ((0, 128, 128), (0, 0, 0)),  # sub-black luma clamps to black
    ((255, 255, 255), (255, 125, 255)),  # G = 278.5 - 49.75 - 103.25 = 125.29
]


@pytest.mark.parametrize(("yuv", "rgb"), TABLE)
def test_table_of_hand_computed_pixels(yuv: tuple[int, int, int], rgb: tuple[int, ...]) -> None:
    y, u, v = (
        np.full(shape, c, np.uint8) for shape, c in zip([(2, 2), (1, 1), (1, 1)], yuv, strict=True)
    )
    assert np.round(bt601_reference(y, u, v)[0, 0]).astype(int).tolist() == list(rgb)
    counts: dict[str, int] = {}
    got = RgbConverter("opencv", counts)(make_frame(y, u, v))
    assert got.shape == (2, 2, 3)
    assert got.dtype == np.uint8
    assert (got == np.array(rgb, np.uint8)).all()
    assert counts == {"opencv": 1}


def test_every_chroma_pair_within_one_level_of_the_formula() -> None:
    """All 65536 (U, V) pairs, each on a 2x2 block of random luma (0-255)."""
    u, v = np.meshgrid(np.arange(256, dtype=np.uint8), np.arange(256, dtype=np.uint8))
    y = np.random.default_rng(0).integers(0, 256, (512, 512), dtype=np.uint8)
    got = RgbConverter("opencv", {})(make_frame(y, u, v)).astype(np.float64)
    diff = np.abs(got - bt601_reference(y, u, v))
    assert diff.max() <= TOLERANCE + 0.5  # rounding plus the kernel's coefficient error
    assert (np.abs(got - np.round(bt601_reference(y, u, v))) <= TOLERANCE).all()


@pytest.mark.parametrize(("w", "h"), [(1, 1), (2, 2), (7, 5), (6, 5), (5, 6), (33, 17)])
def test_any_size_matches_the_formula(w: int, h: int) -> None:
    y, u, v = random_planes(w, h, seed=w * 100 + h)
    got = RgbConverter("opencv", {})(make_frame(y, u, v))
    assert got.shape == (h, w, 3)
    assert got.flags.c_contiguous
    assert (np.abs(got - np.round(bt601_reference(y, u, v))) <= TOLERANCE).all()


def test_odd_size_equals_the_even_frame_cropped() -> None:
    """Padding repeats the edge luma; the chroma of each kept pixel is unchanged."""
    y, u, v = random_planes(7, 5, seed=1)
    odd = RgbConverter("opencv", {})(make_frame(y, u, v))
    y8 = np.pad(y, ((0, 1), (0, 1)), mode="edge")
    even = RgbConverter("opencv", {})(make_frame(y8, u, v))
    assert np.array_equal(odd, even[:5, :7])


def test_the_packing_buffer_is_reused_and_the_rgb_never() -> None:
    convert = RgbConverter("opencv", {})
    frames = [make_frame(*random_planes(6, 4, seed=s)) for s in (10, 11)]
    first = convert(frames[0])
    kept = first.copy()
    buffer = convert._i420
    second = convert(frames[1])
    assert convert._i420 is buffer  # the same packing buffer for the next frame
    assert not np.shares_memory(first, second)
    assert np.array_equal(first, kept)  # a frame handed out is never written again
    assert np.array_equal(second, RgbConverter("opencv", {})(frames[1]))
    odd = convert(make_frame(*random_planes(7, 5, seed=12)))  # another size: a new buffer
    assert odd.shape == (5, 7, 3)
    assert convert._i420 is not buffer


def test_i420_buffer_layout() -> None:
    y, u, v = random_planes(6, 4, seed=2)
    buf = i420_buffer(make_frame(y, u, v))
    assert buf.shape == (6, 6)
    assert np.array_equal(buf[:4], y)
    assert np.array_equal(buf[4:].reshape(-1), np.concatenate([u.ravel(), v.ravel()]))
    y, u, v = random_planes(5, 3, seed=3)
    buf = i420_buffer(make_frame(y, u, v))
    assert buf.shape == (6, 6)
    assert np.array_equal(buf[:3, :5], y)
    assert np.array_equal(buf[3], buf[2])
    assert np.array_equal(buf[:4, 5], buf[:4, 4])
    assert np.array_equal(buf[4:].reshape(2, 2, 3), np.stack([u, v]))


def _tagged(frame: object, **tags: int) -> object:
    for key, value in tags.items():
        setattr(frame, key, value)
    return frame


FALLBACKS = [
    ("yuvj420p", {}, "pixel format yuvj420p"),
    ("yuv420p10le", {}, "pixel format yuv420p10le"),
    ("yuv422p", {}, "pixel format yuv422p"),
    ("nv12", {}, "pixel format nv12"),
    ("rgb24", {}, "pixel format rgb24"),
    ("yuv420p", {"colorspace": 1}, "colour matrix BT.709"),
    ("yuv420p", {"colorspace": 9}, "colour matrix BT.2020"),
    ("yuv420p", {"color_range": 2}, "full-range"),
]


@pytest.mark.parametrize(("fmt", "tags", "reason"), FALLBACKS)
def test_other_frames_fall_back_to_pyav_and_say_why(fmt: str, tags: dict, reason: str) -> None:
    rng = np.random.default_rng(4)
    frame = av.VideoFrame(8, 6, fmt)
    for plane in frame.planes:
        plane.update(rng.integers(0, 256, plane.buffer_size, dtype=np.uint8).tobytes())
    frame = _tagged(frame, **tags)
    assert reason in (opencv_refusal(frame) or "")
    counts: dict[str, int] = {}
    convert = RgbConverter("opencv", counts)
    got = convert(frame)
    assert np.array_equal(got, frame.to_ndarray(format="rgb24"))
    assert counts == {"pyav": 1}
    assert reason in (convert.fallback or "")


@pytest.mark.parametrize("colorspace", [2, 5, 6])  # unspecified, BT.470BG, SMPTE 170M
def test_bt601_tags_take_the_opencv_path(colorspace: int) -> None:
    frame = _tagged(make_frame(*random_planes(4, 4, seed=5)), colorspace=colorspace, color_range=1)
    assert opencv_refusal(frame) is None


def test_pyav_conversion_on_request_and_bad_name() -> None:
    frame = make_frame(*random_planes(6, 4, seed=6))
    counts: dict[str, int] = {}
    convert = RgbConverter("pyav", counts)
    assert np.array_equal(convert(frame), frame.to_ndarray(format="rgb24"))
    assert counts == {"pyav": 1}
    assert convert.fallback is None
    with pytest.raises(TilewiseError, match="opencv, pyav"):
        RgbConverter("swscale", {})  # type: ignore[arg-type]


# ----------------------------------------------------------------- the video source
def _encode(path: Path, frames: list[np.ndarray], codec: str = "libx264", **ctx: object) -> Path:
    h, w = frames[0].shape[:2]
    with av.open(str(path), "w") as out:
        stream = out.add_stream(codec, rate=25)
        stream.width, stream.height = w, h
        stream.pix_fmt = str(ctx.pop("pix_fmt", "yuv420p"))
        for key, value in ctx.items():
            setattr(stream.codec_context, key, value)
        for image in frames:
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            for key, value in ctx.items():
                setattr(frame, key, value)
            out.mux(stream.encode(frame))
        out.mux(stream.encode())
    return path


def _frames(w: int, h: int, n: int = 4) -> list[np.ndarray]:
    rng = np.random.default_rng(8)
    base = rng.integers(0, 256, (h // 4 + 1, w // 4 + 1, 3), dtype=np.uint8)
    big = np.repeat(np.repeat(base, 4, 0), 4, 1)[:h, :w]
    return [np.roll(big, 3 * i, axis=1).copy() for i in range(n)]


def _decoded_planes(path: Path) -> list[tuple[np.ndarray, ...]]:
    """The decoded yuv planes, read independently of tilewise (PyAV's plane arrays)."""
    out = []
    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            ys, us, vs = (
                np.frombuffer(p, np.uint8).reshape(p.height, p.line_size)[:, : p.width]
                for p in frame.planes
            )
            out.append((ys.copy(), us.copy(), vs.copy()))
    return out


@pytest.mark.parametrize(("codec", "w", "h"), [("libx264", 64, 48), ("ffv1", 37, 23)])
def test_source_frames_match_the_formula_on_decoded_planes(
    tmp_path: Path, codec: str, w: int, h: int
) -> None:
    path = _encode(tmp_path / f"v.{'mkv' if codec == 'ffv1' else 'mp4'}", _frames(w, h), codec)
    src = VideoFileSource(path, FrameSelection(stride=2))
    got = list(src)
    planes = _decoded_planes(path)
    assert [f.index for f in got] == [0, 2]
    for f in got:
        ref = np.round(bt601_reference(*planes[f.index]))
        assert f.pixels.shape == (h, w, 3)
        assert not f.pixels.flags.writeable
        assert (np.abs(f.pixels - ref) <= TOLERANCE).all()
    assert src.stats.rgb == {"opencv": 2}
    assert src.stats.rgb_fallback is None
    assert src.describe()["rgb"] == "opencv"
    assert src.describe()["frames"]["rgb"] == {"opencv": 2}
    again = [f.pixels for f in VideoFileSource(path, FrameSelection(stride=2), threads=False)]
    assert all(np.array_equal(a.pixels, b) for a, b in zip(got, again, strict=True))
    if w % 2 == 0 and h % 2 == 0:
        # even sizes: swscale's fast BT.601 path, also one chroma sample per 2x2 block,
        # whose tables are themselves up to 3 levels off the formula; at odd sizes
        # swscale interpolates chroma instead, so colour edges differ more there
        pyav = list(VideoFileSource(path, FrameSelection(stride=2), rgb="pyav"))
        for a, b in zip(got, pyav, strict=True):
            assert np.abs(a.pixels.astype(int) - b.pixels).max() <= 8


@pytest.mark.parametrize(
    ("ctx", "reason"),
    [({"colorspace": 1, "color_range": 1}, "BT.709"), ({"pix_fmt": "yuv420p10le"}, "10le")],
)
def test_source_falls_back_for_bt709_and_10_bit(tmp_path: Path, ctx: dict, reason: str) -> None:
    path = _encode(tmp_path / "v.mp4", _frames(32, 16, 3), **ctx)
    src = VideoFileSource(path)
    got = [f.pixels for f in src]
    assert src.stats.rgb == {"pyav": 3}
    assert reason in (src.stats.rgb_fallback or "")
    assert reason in (src.describe()["frames"]["rgb_fallback"] or "")
    with av.open(str(path)) as container:
        want = [fr.to_ndarray(format="rgb24") for fr in container.decode(video=0)]
    assert all(np.array_equal(a, b) for a, b in zip(got, want, strict=True))


def test_source_refuses_an_unknown_conversion(tmp_path: Path) -> None:
    path = _encode(tmp_path / "v.mp4", _frames(16, 16, 1))
    with pytest.raises(TilewiseError, match="rgb must be one of opencv, pyav"):
        VideoFileSource(path, rgb="fast")  # type: ignore[arg-type]


@pytest.mark.parametrize("bt709", [False, True])
def test_cli_reports_the_conversion(tmp_path: Path, bt709: bool) -> None:
    import json

    from typer.testing import CliRunner

    from tilewise.cli.app import app

    tags = {"colorspace": 1, "color_range": 1} if bt709 else {}
    path = _encode(tmp_path / "clip.mp4", _frames(64, 48, 3), **tags)
    args = ["predict", str(path), "--out", str(tmp_path / "out"), "--model",
            "tests.conftest:blob_model", "--slice", "64", "--no-save-video",
            "--no-progress"]  # fmt: skip
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    frames = json.loads((tmp_path / "out" / "clip.report.json").read_text())["source"]["frames"]
    assert frames["rgb"] == ({"pyav": 3} if bt709 else {"opencv": 3})
    line = "RGB conversion: PyAV's for 3 frame(s), not OpenCV's (colour matrix BT.709"
    assert (line in result.output) == bt709
