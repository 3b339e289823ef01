"""Masks to and from supervision 0.31 (dense and CompactMask), without image-sized copies."""

from __future__ import annotations

import numpy as np
import pytest

from tilewise import Detections, TilewiseError
from tilewise.detections import from_supervision, to_supervision
from tilewise.masks import CompactMasks

pytestmark = pytest.mark.peers


@pytest.fixture
def sv():
    return pytest.importorskip("supervision")


def _det() -> Detections:
    dense = np.zeros((3, 30, 40), dtype=bool)
    dense[0, 2:10, 3:17] = True
    dense[1, 20:30, 30:40] = True  # touches the image corner
    return Detections(
        np.array([[3, 2, 17, 10], [30, 20, 40, 30], [0, 0, 5, 5]]),
        [0.9, 0.5, 0.2],
        [0, 1, 2],
        masks=dense,
    )


def test_compact_round_trip_through_supervision(sv) -> None:
    det = _det()
    out = to_supervision(det)
    assert isinstance(out.mask, sv.CompactMask)
    dense = det.masks.to_dense()
    np.testing.assert_array_equal(out.mask.to_dense(), dense)
    reference = sv.CompactMask.from_dense(dense, det.xyxy, image_shape=(30, 40))
    np.testing.assert_array_equal(out.mask.to_dense(), reference.to_dense())
    back = from_supervision(out)
    assert isinstance(back.masks, CompactMasks)
    assert back.masks.image_wh == (40, 30)
    np.testing.assert_array_equal(back.masks.to_dense(), dense)
    assert back.masks == det.masks


def test_dense_masks_and_image_size(sv) -> None:
    det = _det()
    out = to_supervision(det, dense_masks=True)
    assert isinstance(out.mask, np.ndarray)
    np.testing.assert_array_equal(out.mask, det.masks.to_dense())
    moved = det.shifted(-5, 0)  # image size unknown after a shift
    with pytest.raises(TilewiseError, match="image size"):
        to_supervision(moved)
    cut = to_supervision(moved, image_wh=(40, 30))
    assert np.asarray(cut.mask).sum() == det.masks.area.sum() - 2 * 8  # 2 columns cut
