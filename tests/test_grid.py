from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tilewise import SliceGrid, TilewiseError

GRID_CASES = [
    pytest.param(
        (1000, 600),
        512,
        0.25,
        [
            [0, 0, 512, 512],
            [384, 0, 896, 512],
            [488, 0, 1000, 512],
            [0, 88, 512, 600],
            [384, 88, 896, 600],
            [488, 88, 1000, 600],
        ],
        id="rect-image-square-slice-ratio",
    ),
    pytest.param((640, 640), 640, 0.2, [[0, 0, 640, 640]], id="exactly-one-slice"),
    pytest.param((300, 200), 640, 0.2, [[0, 0, 300, 200]], id="image-smaller-than-slice"),
    pytest.param(
        (1280, 640), 640, 0, [[0, 0, 640, 640], [640, 0, 1280, 640]], id="zero-overlap-exact"
    ),
    pytest.param(
        (1000, 640), 640, 0, [[0, 0, 640, 640], [360, 0, 1000, 640]], id="zero-overlap-shifted"
    ),
    pytest.param(
        (1000, 500),
        (400, 200),
        (100, 50),
        [
            [0, 0, 400, 200],
            [300, 0, 700, 200],
            [600, 0, 1000, 200],
            [0, 150, 400, 350],
            [300, 150, 700, 350],
            [600, 150, 1000, 350],
            [0, 300, 400, 500],
            [300, 300, 700, 500],
            [600, 300, 1000, 500],
        ],
        id="rect-slice-pixel-overlap",
    ),
    pytest.param(
        (300, 1500),
        640,
        0.2,
        [[0, 0, 300, 640], [0, 512, 300, 1152], [0, 860, 300, 1500]],
        id="narrow-image-tall",
    ),
    pytest.param(
        (700, 100),
        (256, 64),
        (0.5, 0.0),
        [
            [0, 0, 256, 64],
            [128, 0, 384, 64],
            [256, 0, 512, 64],
            [384, 0, 640, 64],
            [444, 0, 700, 64],
            [0, 36, 256, 100],
            [128, 36, 384, 100],
            [256, 36, 512, 100],
            [384, 36, 640, 100],
            [444, 36, 700, 100],
        ],
        id="per-axis-ratios",
    ),
]


@pytest.mark.parametrize(("image_wh", "slice_wh", "overlap", "expected"), GRID_CASES)
def test_grid_boxes_exact(image_wh, slice_wh, overlap, expected):
    grid = SliceGrid(image_wh, slice_wh, overlap)
    assert grid.boxes.tolist() == expected
    assert grid.boxes.dtype == np.int64
    assert len(grid) == len(expected)
    assert grid.rows * grid.columns == len(expected)


def test_grid_4k_layout():
    grid = SliceGrid((3840, 2160), 640, 0.2)
    assert grid.overlap_px == (128, 128)
    xs = sorted(set(grid.boxes[:, 0].tolist()))
    ys = sorted(set(grid.boxes[:, 1].tolist()))
    assert xs == [0, 512, 1024, 1536, 2048, 2560, 3072, 3200]
    assert ys == [0, 512, 1024, 1520]
    assert len(grid) == 32


def test_offsets_and_iteration():
    grid = SliceGrid((100, 50), 50, 0)
    assert grid.offsets.tolist() == [[0, 0], [50, 0]]
    assert list(grid) == [(0, 0, 50, 50), (50, 0, 100, 50)]
    assert not grid.boxes.flags.writeable


@pytest.mark.parametrize(
    ("image_wh", "slice_wh", "expected"),
    [
        ((20, 10), 10, [[False, False, True, False], [True, False, False, False]]),
        ((10, 10), 10, [[False, False, False, False]]),
        ((10, 20), 10, [[False, False, False, True], [False, True, False, False]]),
    ],
)
def test_inner_edges(image_wh, slice_wh, expected):
    assert SliceGrid(image_wh, slice_wh, 0).inner_edges().tolist() == expected


def test_ratio_rounding_never_reaches_slice_size():
    assert SliceGrid((10, 10), 2, 0.9).overlap_px == (1, 1)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"image_wh": (100, 100), "slice_wh": 64, "overlap": 64}, "smaller than the slice"),
        ({"image_wh": (100, 100), "slice_wh": 64, "overlap": 1.0}, r"\[0, 1\)"),
        ({"image_wh": (100, 100), "slice_wh": 64, "overlap": -0.1}, r"\[0, 1\)"),
        ({"image_wh": (100, 100), "slice_wh": 64, "overlap": -3}, ">= 0"),
        ({"image_wh": (100, 100), "slice_wh": 64, "overlap": True}, "bool"),
        ({"image_wh": (100, 100), "slice_wh": 64, "overlap": "0.2"}, "float ratio or int"),
        ({"image_wh": (100, 100), "slice_wh": 0, "overlap": 0}, "positive int"),
        ({"image_wh": (100, 100), "slice_wh": -5, "overlap": 0}, "positive int"),
        ({"image_wh": (100, 100), "slice_wh": 64.0, "overlap": 0}, "positive int"),
        ({"image_wh": (0, 100), "slice_wh": 64, "overlap": 0}, "image width"),
        ({"image_wh": (100, -1), "slice_wh": 64, "overlap": 0}, "image height"),
        ({"image_wh": (100, 100), "slice_wh": (64, 64, 3), "overlap": 0}, r"\(x, y\) pair"),
    ],
)
def test_grid_bad_input(kwargs, message):
    with pytest.raises(TilewiseError, match=message):
        SliceGrid(**kwargs)


@st.composite
def grid_args(draw):
    w = draw(st.integers(1, 300))
    h = draw(st.integers(1, 300))
    sw = draw(st.integers(1, 120))
    sh = draw(st.integers(1, 120))
    if draw(st.booleans()):
        overlap = (draw(st.floats(0, 0.95)), draw(st.floats(0, 0.95)))
    else:
        overlap = (draw(st.integers(0, sw - 1)), draw(st.integers(0, sh - 1)))
    return (w, h), (sw, sh), overlap


@given(grid_args())
@settings(max_examples=200, deadline=None)
def test_grid_properties(args):
    image_wh, slice_wh, overlap = args
    grid = SliceGrid(image_wh, slice_wh, overlap)
    w, h = image_wh
    b = grid.boxes
    # every pixel is covered
    covered = np.zeros((h, w), dtype=bool)
    for x1, y1, x2, y2 in b.tolist():
        covered[y1:y2, x1:x2] = True
    assert covered.all()
    # slices are inside the image and full size wherever the image allows
    assert (b[:, :2] >= 0).all()
    assert (b[:, 2] <= w).all()
    assert (b[:, 3] <= h).all()
    assert ((b[:, 2] - b[:, 0]) == min(slice_wh[0], w)).all()
    assert ((b[:, 3] - b[:, 1]) == min(slice_wh[1], h)).all()
    # row-major order, no duplicates, consecutive slices overlap by at least the request
    keys = b[:, 1] * (w + 1) + b[:, 0]
    assert (np.diff(keys) > 0).all()
    xs = np.unique(b[:, 0])
    if len(xs) > 1:
        assert (np.diff(xs) <= min(slice_wh[0], w) - grid.overlap_px[0]).all()


# Exact messages: a user reads them, so mutation testing (docs/testing.md) holds them to
# their full text, including which option and axis they name.
@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"image_wh": (100, 100, 1)},
            "image_wh must be a number or a (x, y) pair, got (100, 100, 1)",
        ),
        (
            {"image_wh": (100, 100), "slice_wh": [1, 2, 3]},
            "slice_wh must be a number or a (x, y) pair, got [1, 2, 3]",
        ),
        (
            {"image_wh": (100, 100), "overlap": (1, 2, 3)},
            "overlap must be a number or a (x, y) pair, got (1, 2, 3)",
        ),
        (
            {"image_wh": (0, 5)},
            "image width must be a positive int, got 0",
        ),
        (
            {"image_wh": (5, 0)},
            "image height must be a positive int, got 0",
        ),
        (
            {"image_wh": ("5", 5)},
            "image width must be a positive int, got '5'",
        ),
        (
            {"image_wh": (5, 5), "slice_wh": (0, 4)},
            "slice width must be a positive int, got 0",
        ),
        (
            {"image_wh": (5, 5), "slice_wh": (4, 0)},
            "slice height must be a positive int, got 0",
        ),
        (
            {"image_wh": (5, 5), "slice_wh": (4, 4), "overlap": (False, 0)},
            "overlap (x) must be a float ratio or int pixels, got a bool",
        ),
        (
            {"image_wh": (5, 5), "slice_wh": (4, 4), "overlap": (0, -2)},
            "overlap (y) in pixels must be >= 0, got -2",
        ),
        (
            {"image_wh": (5, 5), "slice_wh": (4, 4), "overlap": (1.5, 0)},
            "overlap (x) as a ratio must be in [0, 1), got 1.5; pass an int for pixels",
        ),
        (
            {"image_wh": (5, 5), "slice_wh": (4, 4), "overlap": (0, None)},
            "overlap (y) must be a float ratio or int pixels, got None",
        ),
        (
            {"image_wh": (5, 5), "slice_wh": (4, 4), "overlap": (4, 0)},
            "overlap (x) of 4 px must be smaller than the slice size 4 px",
        ),
    ],
)
def test_grid_error_messages_exact(kwargs, message):
    with pytest.raises(TilewiseError) as info:
        SliceGrid(**kwargs)
    assert str(info.value) == message


def test_grid_defaults_and_repr():
    grid = SliceGrid((1000, 700))
    assert grid.slice_wh == (640, 640)
    assert grid.overlap_px == (128, 128)  # 0.2 of 640
    assert repr(grid) == (
        "SliceGrid(image_wh=(1000, 700), slice_wh=(640, 640), overlap_px=(128, 128), "
        "slices=4 (2x2))"
    )


def test_inner_edges_of_slices_starting_one_pixel_in():
    # slices of 10 with overlap 9 start at 0 and 1: a start of 1 is an inner edge
    grid = SliceGrid((11, 11), slice_wh=10, overlap=9)
    assert grid.offsets.tolist() == [[0, 0], [1, 0], [0, 1], [1, 1]]
    assert grid.inner_edges().tolist() == [
        [False, False, True, True],
        [True, False, False, True],
        [False, True, True, False],
        [True, True, False, False],
    ]
