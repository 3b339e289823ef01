from __future__ import annotations

import cv2
import numpy as np
import pytest

from tilewise import TilewiseError, load_image
from tilewise.images import as_rgb


@pytest.mark.parametrize(
    ("shape", "expected"),
    [((4, 5), (4, 5, 3)), ((4, 5, 1), (4, 5, 3)), ((4, 5, 3), (4, 5, 3)), ((4, 5, 4), (4, 5, 3))],
)
def test_as_rgb_shapes(shape, expected):
    img = np.arange(np.prod(shape), dtype=np.uint8).reshape(shape)
    out = as_rgb(img)
    assert out.shape == expected
    if len(shape) == 2:
        assert (out[..., 0] == img).all()
        assert (out[..., 2] == img).all()
    if len(shape) == 3 and shape[2] == 4:
        assert (out == img[..., :3]).all()


def test_as_rgb_rgb_is_not_copied():
    img = np.zeros((3, 3, 3), np.uint8)
    assert as_rgb(img) is img


@pytest.mark.parametrize(
    ("image", "message"),
    [
        (np.zeros((4, 4, 3), np.float32), "uint8"),
        (np.zeros((4, 4, 2), np.uint8), "H x W x 3"),
        (np.zeros((0, 4, 3), np.uint8), "empty"),
        (np.zeros((4,), np.uint8), "H x W x 3"),
        ([[0, 1]], "numpy array"),
    ],
)
def test_as_rgb_errors(image, message):
    with pytest.raises(TilewiseError, match=message):
        as_rgb(image)


def test_load_image_reads_rgb(tmp_path):
    rgb = np.zeros((6, 8, 3), np.uint8)
    rgb[..., 0] = 200  # red
    path = tmp_path / "red.png"
    cv2.imwrite(str(path), rgb[..., ::-1])
    out = load_image(path)
    assert out.shape == (6, 8, 3)
    assert (out[..., 0] == 200).all()
    assert (out[..., 2] == 0).all()
    gray = tmp_path / "gray.png"
    cv2.imwrite(str(gray), np.full((3, 3), 7, np.uint8))
    assert load_image(str(gray)).shape == (3, 3, 3)


def test_load_image_errors(tmp_path):
    with pytest.raises(TilewiseError, match="not found"):
        load_image(tmp_path / "missing.png")
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not an image")
    with pytest.raises(TilewiseError, match="could not decode"):
        load_image(bad)
    with pytest.raises(TilewiseError, match="array or a path"):
        load_image(42)
