"""The one image reader: header metadata, EXIF, truncation, 16-bit/float, alpha, limits."""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from PIL import Image, ImageOps

from tests.image_files import (
    BAD_INPUTS,
    BadInput,
    H,
    W,
    cmyk_jpeg,
    exif_jpeg,
    float_tiff,
    gray16,
    huge_png_header,
    palette_png,
    rgb16,
    rgba_transparent,
    scene,
    truncated_jpeg,
    truncated_png,
)
from tilewise import TilewiseError, TilewiseWarning, load_image
from tilewise.images import (
    ExifPolicy,
    ImageTruncatedError,
    ReadOptions,
    Scaling,
    display_wh,
    orient,
    read_header,
    read_image,
    unorient,
)
from tilewise.images.options import parse_background, parse_max_pixels
from tilewise.images.pixels import composite, scale_to_uint8, scaling_range

# ----------------------------------------------------------------- normal files unchanged


def _normal_files(d: Path) -> list[Path]:
    img = cv2.GaussianBlur(
        (np.random.default_rng(1).random((61, 83, 3)) * 255).astype(np.uint8), (5, 5), 2
    )
    specs = {
        "q75.jpg": [cv2.IMWRITE_JPEG_QUALITY, 75],
        "s444.jpg": [cv2.IMWRITE_JPEG_SAMPLING_FACTOR, cv2.IMWRITE_JPEG_SAMPLING_FACTOR_444],
        "s422.jpg": [cv2.IMWRITE_JPEG_SAMPLING_FACTOR, cv2.IMWRITE_JPEG_SAMPLING_FACTOR_422],
        "progressive.jpg": [cv2.IMWRITE_JPEG_PROGRESSIVE, 1],
        "a.png": [],
        "a.bmp": [],
        "a.tif": [],
        "lossy.webp": [cv2.IMWRITE_WEBP_QUALITY, 80],
        "lossless.webp": [cv2.IMWRITE_WEBP_QUALITY, 101],
    }
    out = []
    for name, params in specs.items():
        cv2.imwrite(str(d / name), img, params)
        out.append(d / name)
    Image.fromarray(img).save(d / "pillow.jpg", quality=85)
    out.append(d / "pillow.jpg")
    return out


def test_normal_8bit_rgb_files_read_exactly_as_opencv_did(tmp_path: Path) -> None:
    """Regression guard: 8-bit RGB files give the pixels of the old cv2.imread path."""
    bundled = Path(__file__).resolve().parents[1] / "src/tilewise/data/sample_scene.jpg"
    for path in [*_normal_files(tmp_path), bundled]:
        old = np.ascontiguousarray(cv2.imread(str(path), cv2.IMREAD_UNCHANGED)[:, :, ::-1])
        got = read_image(path)
        assert np.array_equal(got.pixels, old), path.name
        assert got.pixels.flags.writeable
        assert got.pixels.flags.c_contiguous
        rec = got.record
        assert (rec.scaling, rec.alpha, rec.converted_from, rec.truncated) == (
            None,
            None,
            None,
            False,
        )


def test_opaque_rgba_and_grey_png_keep_their_pixels(tmp_path: Path) -> None:
    rgba = np.dstack([scene(), np.full((H, W), 255, np.uint8)])
    cv2.imwrite(str(tmp_path / "opaque.png"), rgba[:, :, [2, 1, 0, 3]])
    assert np.array_equal(load_image(tmp_path / "opaque.png"), scene())
    grey = scene()[:, :, 0]
    cv2.imwrite(str(tmp_path / "grey.png"), grey)
    out = load_image(tmp_path / "grey.png")
    assert np.array_equal(out, np.repeat(grey[:, :, None], 3, axis=2))


# ------------------------------------------------------------------------ the bad table


@pytest.mark.parametrize("case", BAD_INPUTS, ids=lambda c: c.name)
def test_bad_input_table_through_read_image(tmp_path: Path, case: BadInput) -> None:
    path = case.make(tmp_path)
    if case.error is not None:
        with pytest.raises(TilewiseError, match=case.error) as info:
            read_image(path)
        assert str(path) in str(info.value)  # the error names the file
        return
    got = read_image(path)
    assert got.pixels.dtype == np.uint8
    assert got.pixels.shape == (case.wh[1], case.wh[0], 3)
    rec = got.record.to_dict()
    for key, value in case.record.items():
        assert rec[key] == value, key
    assert rec["truncated"] is False
    assert rec["image_wh"] == list(case.wh)


def test_table_has_every_kind_the_issue_lists() -> None:
    assert len(BAD_INPUTS) >= 12
    names = {c.name for c in BAD_INPUTS}
    for needed in (
        "truncated_jpeg",
        "truncated_png",
        "zero_bytes",
        "text_named_jpg",
        "exif3",
        "exif6",
        "exif8",
        "gray16",
        "rgb16",
        "float_tiff",
        "rgba",
        "cmyk",
        "palette",
        "huge_header",
        "one_pixel",
    ):
        assert needed in names


# ------------------------------------------------------------------------------- EXIF


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_followed_gives_the_displayed_view(tmp_path: Path, orientation: int) -> None:
    shown = scene()
    path = exif_jpeg(tmp_path, orientation, shown)
    header = read_header(path)
    assert header.orientation == orientation
    assert header.stored_wh == display_wh((W, H), orientation)
    got = read_image(path)
    # JPEG is lossy: compare to the same stored pixels decoded and turned by Pillow
    with Image.open(path) as im:
        viewer = np.asarray(ImageOps.exif_transpose(im).convert("RGB"))
    assert np.array_equal(got.pixels, viewer)
    assert np.abs(got.pixels.astype(int) - shown).mean() < 3
    assert got.record.oriented is (orientation != 1)
    ignored = read_image(path, ReadOptions(exif="ignore"))
    assert ignored.pixels.shape[1::-1] == header.stored_wh
    assert np.array_equal(orient(ignored.pixels, orientation), got.pixels)
    assert ignored.record.oriented is False


def test_exif_in_tiff_is_followed_and_ignored_like_jpeg(tmp_path: Path) -> None:
    stored = scene()
    exif = Image.Exif()
    exif[0x0112] = 6
    path = tmp_path / "o6.tif"
    Image.fromarray(stored).save(path, exif=exif)
    assert np.array_equal(read_image(path).pixels, orient(stored, 6))
    assert np.array_equal(read_image(path, ReadOptions(exif="ignore")).pixels, stored)
    assert read_header(path).stored_wh == (W, H)


@settings(max_examples=60, deadline=None)
@given(
    arrays(np.uint8, st.tuples(st.integers(1, 7), st.integers(1, 7), st.just(3))),
    st.integers(1, 8),
)
def test_orient_matches_pillow_and_unorient_inverts(image: np.ndarray, orientation: int) -> None:
    im = Image.fromarray(image)
    exif = im.getexif()
    exif[0x0112] = orientation
    im.info["exif"] = exif.tobytes()
    expected = np.asarray(ImageOps.exif_transpose(im))
    turned = orient(image, orientation)
    assert np.array_equal(turned, expected)
    assert turned.shape[1::-1] == display_wh(image.shape[1::-1], orientation)
    assert np.array_equal(unorient(turned, orientation), image)


# ---------------------------------------------------------------------------- truncation


@pytest.mark.parametrize("make", [truncated_jpeg, truncated_png], ids=["jpeg", "png"])
def test_truncated_is_an_error_naming_the_file(tmp_path: Path, make) -> None:
    path = make(tmp_path)
    with pytest.raises(ImageTruncatedError, match="truncated") as info:
        load_image(path)
    assert str(path) in str(info.value)
    assert "--allow-truncated" in str(info.value)


@pytest.mark.parametrize("make", [truncated_jpeg, truncated_png], ids=["jpeg", "png"])
def test_allow_truncated_warns_records_and_keeps_black_rows(tmp_path: Path, make) -> None:
    path = make(tmp_path)
    with pytest.warns(TilewiseWarning, match="truncated"):
        got = read_image(path, ReadOptions(allow_truncated=True))
    assert got.record.truncated is True
    assert got.record.to_dict()["truncated"] is True
    assert got.pixels.shape == (96, 96, 3)
    assert not got.pixels[-1].any()  # the rows past the data are black, not grey
    assert got.pixels[0].any()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        quiet = read_image(path, ReadOptions(allow_truncated=True), warn=False)
    assert quiet.record.truncated


def test_truncated_jpeg_no_longer_decodes_silently(tmp_path: Path) -> None:
    """Regression (issue 16): half a JPEG used to come back as a grey image, exit 0."""
    path = truncated_jpeg(tmp_path)
    assert cv2.imread(str(path)) is not None  # what the old path did
    with pytest.raises(TilewiseError, match="truncated"):
        load_image(path)


# ------------------------------------------------------------------- 16-bit and float


def test_16bit_full_range_is_round_v_over_257_for_every_value() -> None:
    values = np.arange(65536, dtype=np.uint16).reshape(256, 256)
    lo, hi, rec = scaling_range(values, Scaling(), bits=16, sample="uint")
    out = scale_to_uint8(values, lo, hi)
    expected = np.floor(values.astype(np.float64) / 257 + 0.5).astype(np.uint8)
    assert np.array_equal(out, expected)
    assert rec == {"rule": "full", "source_bits": 16, "sample": "uint", "range": [0.0, 65535.0]}


def test_16bit_grey_and_rgb_files_use_the_full_range(tmp_path: Path) -> None:
    g = read_image(gray16(tmp_path))
    ramp = np.linspace(0, 65535, W * H).reshape(H, W).astype(np.uint16)
    assert np.array_equal(g.pixels[:, :, 0], scale_to_uint8(ramp, 0, 65535))
    assert g.record.scaling["rule"] == "full"
    c = read_image(rgb16(tmp_path))
    assert np.array_equal(c.pixels, scene())  # v * 257 comes back as v exactly
    assert c.record.header.decoder == "opencv"


def test_percentile_and_range_rules_are_applied_and_recorded(tmp_path: Path) -> None:
    path = gray16(tmp_path)
    ramp = np.linspace(0, 65535, W * H).reshape(H, W).astype(np.uint16)
    p = read_image(path, ReadOptions(scaling=Scaling.parse("p1,p99")))
    lo, hi = np.percentile(ramp, [1, 99])
    assert p.record.scaling["rule"] == "percentile"
    assert p.record.scaling["range"] == pytest.approx([lo, hi])
    assert np.array_equal(p.pixels[:, :, 0], scale_to_uint8(ramp, lo, hi))
    r = read_image(path, ReadOptions(scaling=Scaling.parse(value_range="1000,2000")))
    assert r.record.scaling["range"] == [1000.0, 2000.0]
    assert r.pixels[0, 0, 0] == 0
    assert r.pixels[-1, -1, 0] == 255


def test_float_tiff_unit_range_and_minmax(tmp_path: Path) -> None:
    got = read_image(float_tiff(tmp_path))
    assert got.record.scaling["rule"] == "unit"
    assert got.pixels[0, 0, 0] == 0
    assert got.pixels[-1, -1, 0] == 255
    kelvin = np.linspace(250, 320, 12, dtype=np.float32).reshape(3, 4)
    cv2.imwrite(str(tmp_path / "k.tif"), kelvin)
    k = read_image(tmp_path / "k.tif")
    assert k.record.scaling["rule"] == "minmax"
    assert k.record.scaling["range"] == pytest.approx([250.0, 320.0])


@settings(max_examples=80, deadline=None)
@given(
    arrays(np.float64, st.integers(1, 40), elements=st.floats(-1e6, 1e6)),
    st.floats(-1e5, 1e5),
    st.floats(1e-3, 1e5),
)
def test_scaling_is_monotone_and_clipped(values: np.ndarray, lo: float, width: float) -> None:
    hi = lo + width
    out = scale_to_uint8(values, lo, hi)
    order = np.argsort(values, kind="stable")
    assert np.all(np.diff(out[order].astype(int)) >= 0)
    assert np.all(out[values <= lo] == 0)
    assert np.all(out[values >= hi] == 255)


def test_nan_becomes_zero() -> None:
    out = scale_to_uint8(np.array([np.nan, 0.5, np.inf, -np.inf]), 0.0, 1.0)
    assert out.tolist() == [0, 128, 255, 0]


# ------------------------------------------------------------------- alpha and colour


def test_rgba_is_composited_on_black_or_the_background(tmp_path: Path) -> None:
    path = rgba_transparent(tmp_path)
    rgb = scene()
    black = read_image(path)
    assert not black.pixels[:, : W // 2].any()  # transparent -> black, not the hidden colour
    assert np.array_equal(black.pixels[:, W // 2 + 4 :], rgb[:, W // 2 + 4 :])
    band = black.pixels[:, W // 2 : W // 2 + 4].astype(int)
    assert np.abs(band - rgb[:, W // 2 : W // 2 + 4].astype(int) * 128 / 255).max() <= 1
    assert black.record.alpha == {"background": [0, 0, 0], "transparent_pixels": H * (W // 2 + 4)}
    white = read_image(path, ReadOptions(background="#ffffff"))
    assert (white.pixels[:, : W // 2] == 255).all()


@settings(max_examples=50, deadline=None)
@given(
    arrays(np.uint8, st.tuples(st.integers(1, 5), st.integers(1, 5), st.just(3))),
    st.data(),
)
def test_composite_endpoints_and_bounds(rgb: np.ndarray, data) -> None:
    alpha = data.draw(arrays(np.uint8, rgb.shape[:2]))
    bg = (7, 130, 250)
    out = composite(rgb, alpha, bg)
    opaque, clear = alpha == 255, alpha == 0
    assert np.array_equal(out[opaque], rgb[opaque])
    assert (out[clear] == np.array(bg, np.uint8)).all()
    lo = np.minimum(rgb, np.array(bg, np.uint8))
    hi = np.maximum(rgb, np.array(bg, np.uint8))
    assert (out >= lo).all()
    assert (out <= hi).all()


def test_cmyk_and_palette_are_converted(tmp_path: Path) -> None:
    red = read_image(cmyk_jpeg(tmp_path)).pixels
    assert (np.abs(red.astype(int) - [255, 0, 0]) <= 2).all()
    path = palette_png(tmp_path)
    with Image.open(path) as im:
        expected = np.asarray(im.convert("RGB"))
    assert np.array_equal(read_image(path).pixels, expected)


# ------------------------------------------------------------------------ pixel limit


def test_pixel_limit_is_checked_from_the_header_before_decoding(tmp_path: Path) -> None:
    path = huge_png_header(tmp_path)
    assert path.stat().st_size < 2000
    header = read_header(path)
    assert header.stored_wh == (100_000, 100_000)
    with pytest.raises(TilewiseError, match=r"10,000\.0 MP.*limit of 500\.0 MP.*window by window"):
        read_image(path)


def test_pixel_limit_option_and_environment(tmp_path: Path, monkeypatch) -> None:
    path = gray16(tmp_path)
    with pytest.raises(TilewiseError, match=f"{W}x{H} = {W * H:,} pixels.*limit of 100 pixels"):
        read_image(path, ReadOptions(max_pixels=100))
    monkeypatch.setenv("TILEWISE_MAX_PIXELS", "100")
    with pytest.raises(TilewiseError, match="TILEWISE_MAX_PIXELS"):
        read_image(path)
    assert read_image(path, ReadOptions(max_pixels=W * H)).pixels.shape == (H, W, 3)
    monkeypatch.setenv("TILEWISE_MAX_PIXELS", "lots")
    with pytest.raises(TilewiseError, match="TILEWISE_MAX_PIXELS must be a number"):
        read_image(path)


# ------------------------------------------------------------------------------ options


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"exif": "sideways"}, "exif must be one of"),
        ({"background": "red"}, "background must be an RGB colour"),
        ({"background": (0, 0, 256)}, "background must be an RGB colour"),
        ({"max_pixels": 0}, "at least 1 pixel"),
    ],
)
def test_read_options_errors(kwargs, message) -> None:
    with pytest.raises(TilewiseError, match=message):
        ReadOptions(**kwargs)


@pytest.mark.parametrize(
    ("scale", "value_range", "message"),
    [
        ("p99,p1", None, "low < high"),
        ("1,99", None, "percentiles like p1,p99"),
        ("p1", None, "percentiles like p1,p99"),
        ("p-5,p50", None, "0 <= low < high <= 100"),
        (None, "5,5", "low < high"),
        (None, "a,b", "two numbers"),
        ("p1,p99", "0,1", "not both"),
    ],
)
def test_scaling_parse_errors(scale, value_range, message) -> None:
    with pytest.raises(TilewiseError, match=message):
        Scaling.parse(scale, value_range)


def test_option_parsers() -> None:
    assert parse_max_pixels("1_000") == 1000
    assert parse_max_pixels("0.5MP") == 500_000
    assert parse_background([1, 2, 3]) == (1, 2, 3)
    assert ReadOptions(exif=ExifPolicy.IGNORE).to_dict()["exif"] == "ignore"


def test_arrays_are_never_rotated_or_rescaled() -> None:
    arr = np.arange(24, dtype=np.uint8).reshape(2, 4, 3)
    assert load_image(arr) is arr
    with pytest.raises(TilewiseError, match="uint8"):
        load_image(arr.astype(np.uint16))


def test_header_of_a_jpeg_reads_no_pixels(tmp_path: Path) -> None:
    """The header of a half-written file is still readable: nothing past it is needed."""
    path = truncated_jpeg(tmp_path)
    header = read_header(path)
    assert (header.format, header.stored_wh, header.bits, header.bands) == ("JPEG", (96, 96), 8, 3)


def test_pillow_bomb_limit_does_not_apply(tmp_path: Path, monkeypatch) -> None:
    """Pillow's own global limit is bypassed: tilewise's limit (from the header) rules."""
    from PIL import Image as PILImage

    monkeypatch.setattr(PILImage, "MAX_IMAGE_PIXELS", 10)
    buf = io.BytesIO()
    PILImage.fromarray(scene()).save(buf, "PNG")
    (tmp_path / "a.png").write_bytes(buf.getvalue())
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert read_image(tmp_path / "a.png").pixels.shape == (H, W, 3)
