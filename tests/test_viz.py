from __future__ import annotations

import numpy as np
import pytest

from tilewise import Detections, SliceGrid, TilewiseError, TilewiseWarning, load_image
from tilewise.viz import (
    DEFAULT_COLORS,
    Annotator,
    AnnotatorChain,
    BoxAnnotator,
    LabelAnnotator,
    Palette,
    SliceGridAnnotator,
    default_font_scale,
    default_thickness,
    draw_detections,
    draw_slice_grid,
    label_box,
    save_image,
)


def _image(h: int = 120, w: int = 160, value: int = 0) -> np.ndarray:
    return np.full((h, w, 3), value, dtype=np.uint8)


def _noise(h: int = 64, w: int = 96, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


# ------------------------------------------------------------------ palette and sizing
def test_palette_is_deterministic_and_cycles() -> None:
    p = Palette()
    assert len(p) == len(DEFAULT_COLORS) == 20
    assert p[0] == DEFAULT_COLORS[0]
    assert p[20] == p[0]
    assert p[-1] == DEFAULT_COLORS[-1]
    assert len(set(DEFAULT_COLORS)) == 20


@pytest.mark.parametrize(
    "colors", [[], [(1, 2)], [(0, 0, 256)], [(0, 0, -1)], [("a", 0, 0)], [(0.5, 0, 0)], ["red"]]
)
def test_palette_rejects_bad_colours(colors) -> None:
    with pytest.raises(TilewiseError):
        Palette(colors)


def test_palette_coerce_rejects_non_iterables() -> None:
    with pytest.raises(TilewiseError, match="palette"):
        Palette.coerce(3)  # type: ignore[arg-type]


def test_default_sizes_grow_with_the_image() -> None:
    small, big = (640, 480), (8000, 6000)
    assert default_thickness(small) == 1
    assert default_thickness(big) > default_thickness((3840, 2160)) > default_thickness(small)
    assert default_font_scale(big) > default_font_scale(small) >= 0.4
    assert default_font_scale((20000, 20000)) == 1.0  # labels must not bury small objects


# ------------------------------------------------------------------ boxes
def test_box_edges_have_the_class_colour() -> None:
    det = Detections(np.array([[20, 30, 60, 90], [100, 10, 150, 50]]), class_id=[0, 5])
    out = draw_detections(_image(), det, thickness=2, show_labels=False)
    for (x1, y1, x2, y2), cid in zip([(20, 30, 60, 90), (100, 10, 150, 50)], [0, 5], strict=True):
        colour = list(DEFAULT_COLORS[cid])
        # Every outermost pixel of the box and the second stroke row/column carry the colour.
        for y in (y1, y1 + 1, y2 - 1, y2 - 2):
            assert (out[y, x1:x2] == colour).all()
        for x in (x1, x1 + 1, x2 - 1, x2 - 2):
            assert (out[y1:y2, x] == colour).all()
        # Inside the stroke and just outside the box stays untouched.
        assert (out[y1 + 2 : y2 - 2, x1 + 2 : x2 - 2] == 0).all()
        assert (out[y1 - 1, x1:x2] == 0).all()
        assert (out[y1:y2, x2] == 0).all()


def test_fractional_and_out_of_image_boxes_are_clipped() -> None:
    det = Detections(np.array([[-10.5, 5.2, 30.7, 500.0]]))
    out = BoxAnnotator(thickness=1).annotate(_image(40, 40), det)
    colour = list(DEFAULT_COLORS[0])
    assert (out[5, 0:31] == colour).all()  # top edge at floor(5.2)
    assert (out[5:40, 30] == colour).all()  # right edge at ceil(30.7) - 1
    assert (out[6:40, 0:30] == 0).all()  # left and bottom sides lie outside the image


def test_custom_palette_and_class_names() -> None:
    det = Detections(np.array([[10, 40, 50, 80]]), confidence=[0.5], class_id=[1])
    palette = [(0, 0, 0), (0, 200, 0)]
    out = draw_detections(_image(), det, class_names={1: "tree"}, palette=palette, thickness=1)
    assert out[79, 10].tolist() == [0, 200, 0]
    assert (out[:40, 10:50] == [0, 200, 0]).all(axis=-1).any()  # label background above


def test_higher_confidence_drawn_on_top() -> None:
    det = Detections(np.array([[0, 0, 10, 10], [0, 0, 10, 10]]), [0.9, 0.1], class_id=[0, 1])
    out = BoxAnnotator(thickness=1).annotate(_image(20, 20), det)
    assert out[0, 0].tolist() == list(DEFAULT_COLORS[0])


def test_input_image_not_mutated_and_result_is_new() -> None:
    image = _noise()
    before = image.copy()
    det = Detections(np.array([[5, 5, 40, 40], [0, 0, 96, 64]]), [0.7, 0.3], [0, 1])
    grid = SliceGrid((96, 64), slice_wh=48, overlap=0.25)
    out = draw_detections(image, det, class_names=["a", "b"])
    out2 = draw_slice_grid(out, grid, tint_overlap=True)
    out3 = AnnotatorChain([SliceGridAnnotator(grid), BoxAnnotator()]).annotate(image, det)
    np.testing.assert_array_equal(image, before)
    assert not np.shares_memory(out, image)
    assert not np.array_equal(out, image)
    assert not np.array_equal(out2, out)
    assert out3.shape == image.shape


def test_empty_detections_leave_the_image_unchanged() -> None:
    image = _noise()
    out = draw_detections(image, Detections.empty(), class_names=["a"])
    np.testing.assert_array_equal(out, image)
    assert out is not image
    np.testing.assert_array_equal(LabelAnnotator().annotate(image, None), image)


def test_gray_and_rgba_inputs_become_rgb() -> None:
    det = Detections(np.array([[1, 1, 5, 5]]))
    assert draw_detections(np.zeros((8, 8), np.uint8), det).shape == (8, 8, 3)
    assert draw_detections(np.zeros((8, 8, 4), np.uint8), det).shape == (8, 8, 3)


def test_nonfinite_boxes_are_skipped_with_a_warning() -> None:
    det = Detections(np.array([[np.nan, 0, 4, 4], [1, 1, 5, 5]]), class_id=[0, 1])
    with pytest.warns(TilewiseWarning, match="1 detection"):
        out = draw_detections(_image(20, 20), det, thickness=1, show_labels=False)
    assert out[1, 1].tolist() == list(DEFAULT_COLORS[1])


@pytest.mark.parametrize(
    ("image", "det", "kwargs", "match"),
    [
        (np.zeros((10, 10, 3), np.float32), Detections.empty(), {}, "uint8"),
        (np.zeros((10, 10, 2), np.uint8), Detections.empty(), {}, "H x W x 3"),
        (np.zeros((0, 10, 3), np.uint8), Detections.empty(), {}, "empty"),
        ([[0]], Detections.empty(), {}, "numpy array"),
        (np.zeros((10, 10, 3), np.uint8), np.zeros((1, 4)), {}, "Detections"),
        (np.zeros((10, 10, 3), np.uint8), Detections.empty(), {"thickness": 0}, "thickness"),
        (np.zeros((10, 10, 3), np.uint8), Detections.empty(), {"thickness": 1.5}, "thickness"),
        (np.zeros((10, 10, 3), np.uint8), Detections.empty(), {"font_scale": -1}, "font_scale"),
        (np.zeros((10, 10, 3), np.uint8), Detections.empty(), {"class_names": "ab"}, "names"),
        (np.zeros((10, 10, 3), np.uint8), Detections.empty(), {"palette": [(1, 2)]}, "colour"),
    ],
)
def test_bad_input_errors(image, det, kwargs, match: str) -> None:
    with pytest.raises(TilewiseError, match=match):
        draw_detections(image, det, **kwargs)


def test_chain_rejects_non_annotators() -> None:
    with pytest.raises(TilewiseError, match="Annotators"):
        AnnotatorChain([BoxAnnotator(), "box"])  # type: ignore[list-item]


def test_custom_annotator_subclass_composes() -> None:
    class Dot(Annotator):
        def draw(self, canvas: np.ndarray, det: Detections | None) -> None:
            canvas[0, 0] = (1, 2, 3)

    out = AnnotatorChain([BoxAnnotator(), Dot()]).annotate(_image(10, 10))
    assert out[0, 0].tolist() == [1, 2, 3]


# ------------------------------------------------------------------ labels
def test_label_text() -> None:
    assert LabelAnnotator(class_names=["car", "bus"]).label_text(1, 0.866) == "bus 0.87"
    assert LabelAnnotator(class_names=["car"]).label_text(4, 0.5) == "4 0.50"
    assert LabelAnnotator(class_names={7: "x"}, show_confidence=False).label_text(7, 1) == "x"


@pytest.mark.parametrize(
    ("anchor", "label_wh", "image_wh", "expected"),
    [
        ((50, 40), (30, 12), (200, 100), (50, 28, 80, 40)),  # above
        ((50, 12), (30, 12), (200, 100), (50, 0, 80, 12)),  # exactly fits above
        ((50, 11), (30, 12), (200, 100), (50, 11, 80, 23)),  # inside, top edge
        ((50, 0), (30, 12), (200, 100), (50, 0, 80, 12)),  # box at the very top
        ((-20, -5), (30, 12), (200, 100), (0, 0, 30, 12)),  # box hangs off the corner
        ((190, 50), (30, 12), (200, 100), (170, 38, 200, 50)),  # right edge
        ((10, 95), (30, 12), (200, 100), (10, 83, 40, 95)),
        ((5, 5), (300, 12), (200, 10), (0, 0, 300, 12)),  # larger than the image
    ],
)
def test_label_box_placement(anchor, label_wh, image_wh, expected) -> None:
    assert label_box(anchor, label_wh, image_wh) == expected


def test_label_at_top_edge_is_drawn_inside_the_image() -> None:
    colour = list(DEFAULT_COLORS[2])
    det = Detections(np.array([[30, 0, 120, 60]]), confidence=[0.87], class_id=[2])
    out = draw_detections(_image(), det, class_names=["a", "b", "car"], thickness=1)
    label = (out[:, 31:119] == colour).all(axis=-1)
    rows = np.flatnonzero(label.any(axis=1))
    # The label background fills several rows just below the top edge, inside the box.
    assert rows[0] == 0
    assert 8 <= len(rows) < 60
    # The text itself is drawn (pixels neither background colour nor black), inside the image.
    region = out[1 : rows[-1], 31:119]
    assert ((region != colour).any(axis=-1) & (region != 0).any(axis=-1)).any()


def test_label_above_box_when_there_is_room() -> None:
    colour = list(DEFAULT_COLORS[0])
    det = Detections(np.array([[30, 60, 120, 110]]), confidence=[0.5])
    out = draw_detections(_image(), det, thickness=1, font_scale=0.4)
    above = (out[:60, 30:120] == colour).all(axis=-1)
    assert above.any(axis=1).sum() >= 8
    assert (out[61:109, 31:119] == 0).all()  # nothing drawn inside the box


def test_labels_scale_with_image_size() -> None:
    det_small = Detections(np.array([[50, 100, 150, 200]]))
    det_big = Detections(np.array([[500, 1000, 1500, 2000]]))
    small = draw_detections(_image(400, 600), det_small, show_confidence=False)
    big = draw_detections(_image(3000, 4000), det_big, show_confidence=False)
    colour = list(DEFAULT_COLORS[0])
    rows_small = (small[:100, 50:150] == colour).all(axis=-1).any(axis=1).sum()
    rows_big = (big[:1000, 500:1500] == colour).all(axis=-1).any(axis=1).sum()
    assert rows_big > 2 * rows_small


# ------------------------------------------------------------------ slice grid
def test_grid_overlay_draws_every_slice_rectangle() -> None:
    grid = SliceGrid((1000, 600), slice_wh=512, overlap=0.25)
    image = _image(600, 1000)
    out = draw_slice_grid(image, grid, thickness=1)
    palette = Palette()
    for k, (x1, y1, x2, y2) in enumerate(grid):
        # Every slice's top-left corner carries its own colour (later slices never cover it).
        assert out[y1, x1].tolist() == list(palette[k])
        # All four sides are drawn, in some slice colour.
        for side in (out[y1, x1:x2], out[y2 - 1, x1:x2], out[y1:y2, x1], out[y1:y2, x2 - 1]):
            assert side.any(axis=-1).all()


def test_grid_single_colour_and_overlap_tint() -> None:
    grid = SliceGrid((30, 20), slice_wh=20, overlap=10)  # x slices [0, 20) and [10, 30)
    out = draw_slice_grid(
        _image(20, 30), grid, color=(0, 0, 255), thickness=1, tint_overlap=True, alpha=0.5
    )
    assert out[5, 5].tolist() == [0, 0, 0]  # one slice only
    assert out[5, 15].tolist() == [128, 128, 128]  # overlap, white tint at 50 %
    assert out[0, 5].tolist() == [0, 0, 255]
    assert (out[:, 19] == [0, 0, 255]).all()  # right side of slice 0, inside the overlap
    no_tint = draw_slice_grid(_image(20, 30), grid, color=(0, 0, 255), thickness=1)
    assert no_tint[5, 15].tolist() == [0, 0, 0]


def test_grid_composes_with_detections() -> None:
    grid = SliceGrid((160, 120), slice_wh=100, overlap=0.2)
    det = Detections(np.array([[40, 40, 80, 80]]), class_id=[3])
    both = draw_detections(draw_slice_grid(_image(), grid, color=(255, 255, 255)), det)
    assert both[79, 40].tolist() == list(DEFAULT_COLORS[3])
    assert both[0, 0].tolist() == [255, 255, 255]


def test_grid_errors() -> None:
    grid = SliceGrid((100, 100), slice_wh=50, overlap=0)
    with pytest.raises(TilewiseError, match="100x100 image"):
        draw_slice_grid(_image(50, 100), grid)
    with pytest.raises(TilewiseError, match="SliceGrid"):
        draw_slice_grid(_image(), (0, 0, 10, 10))  # type: ignore[arg-type]
    with pytest.raises(TilewiseError, match="alpha"):
        draw_slice_grid(_image(100, 100), grid, alpha=1.5)
    with pytest.raises(TilewiseError, match="color"):
        draw_slice_grid(_image(100, 100), grid, color=(0, 0))  # type: ignore[arg-type]


# ------------------------------------------------------------------ saving
def test_png_round_trip_preserves_rgb(tmp_path) -> None:
    image = _noise()
    image[0, 0] = (255, 0, 0)  # pure red stays red, not blue
    path = save_image(tmp_path / "sub" / "out.png", image)
    assert path.is_file()
    again = load_image(path)
    np.testing.assert_array_equal(again, image)
    assert again[0, 0].tolist() == [255, 0, 0]
    assert [p.name for p in path.parent.iterdir()] == ["out.png"]  # no temporary left


@pytest.mark.parametrize("name", ["out.jpg", "out.JPEG"])
def test_jpeg_saves_with_quality(tmp_path, name: str) -> None:
    image = np.zeros((64, 64, 3), np.uint8)
    image[:, :32] = (200, 30, 30)
    hi = save_image(tmp_path / name, image, quality=95)
    assert hi.read_bytes()[:3] == b"\xff\xd8\xff"
    again = load_image(hi).astype(int)
    # Away from the sharp colour edge (chroma subsampling blurs it) the colours survive.
    assert np.abs(again[:, :24] - image[:, :24]).max() < 10
    assert np.abs(again[:, 40:] - image[:, 40:]).max() < 10
    assert again[10, 10, 0] > again[10, 10, 2]  # still red, channels not swapped
    lo = save_image(tmp_path / ("lo_" + name), _noise(64, 64), quality=10)
    assert lo.stat().st_size < save_image(tmp_path / ("hi_" + name), _noise(64, 64)).stat().st_size


def test_save_overwrites_atomically(tmp_path) -> None:
    path = tmp_path / "x.png"
    save_image(path, _image(4, 4, 10))
    save_image(path, _image(4, 4, 20))
    assert load_image(path)[0, 0].tolist() == [20, 20, 20]


@pytest.mark.parametrize(
    ("name", "kwargs", "match"),
    [
        ("out.bmp", {}, r"unknown image extension '\.bmp'"),
        ("out", {}, "unknown image extension"),
        ("out.jpg", {"quality": 0}, "quality"),
        ("out.jpg", {"quality": 101}, "quality"),
        ("out.jpg", {"quality": 90.0}, "quality"),
    ],
)
def test_save_errors_leave_no_file(tmp_path, name: str, kwargs, match: str) -> None:
    with pytest.raises(TilewiseError, match=match):
        save_image(tmp_path / name, _image(4, 4), **kwargs)
    assert list(tmp_path.iterdir()) == []


def test_save_bad_image(tmp_path) -> None:
    with pytest.raises(TilewiseError, match="uint8"):
        save_image(tmp_path / "x.png", np.zeros((4, 4, 3), np.float64))
    assert list(tmp_path.iterdir()) == []
