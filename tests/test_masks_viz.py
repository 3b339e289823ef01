"""MaskAnnotator: translucent fills and outlines per class, composable with boxes and labels."""

from __future__ import annotations

import numpy as np
import pytest

from tilewise import Detections, TilewiseError
from tilewise.viz import AnnotatorChain, BoxAnnotator, LabelAnnotator, MaskAnnotator


def _det() -> Detections:
    dense = np.zeros((2, 20, 30), dtype=bool)
    dense[0, 2:10, 2:12] = True
    dense[0, 5:7, 5:8] = False  # a hole
    dense[1, 8:18, 8:28] = True
    return Detections(np.array([[2, 2, 12, 10], [8, 8, 28, 18]]), [0.9, 0.4], [0, 1], masks=dense)


def test_fill_blends_the_class_colour_and_outlines_the_mask() -> None:
    det = _det()
    palette = [(255, 0, 0), (0, 0, 255)]
    image = np.full((20, 30, 3), 100, np.uint8)
    out = MaskAnnotator(opacity=0.5, contour_thickness=1, palette=palette).annotate(image, det)
    assert out[4, 4].tolist() == [178, 50, 50]  # inside mask 0, not on its outline
    assert out[2, 2].tolist() == [255, 0, 0]  # outline of mask 0 (drawn last: on top)
    assert out[4, 6].tolist() == [255, 0, 0]  # the hole's outline, around it
    assert out[5, 6].tolist() == [100, 100, 100]  # in the hole
    assert out[0, 0].tolist() == [100, 100, 100]  # outside every mask
    assert out[16, 25].tolist() == [50, 50, 178]
    assert (image == 100).all()  # the input is not modified
    dense = det.masks.to_dense()
    touched = (out != 100).any(axis=2)
    assert not (touched & ~dense.any(axis=0)).any()  # thickness 1 stays inside the masks


def test_outline_only_and_fill_only() -> None:
    det = _det()
    image = np.zeros((20, 30, 3), np.uint8)
    outline = MaskAnnotator(opacity=0.0, contour_thickness=1).annotate(image, det)
    assert outline[4, 4].tolist() == [0, 0, 0]
    assert outline[2, 2].any()
    fill = MaskAnnotator(opacity=1.0, contour_thickness=0, palette=[(9, 9, 9)]).annotate(image, det)
    np.testing.assert_array_equal(fill.any(axis=2), det.masks.to_dense().any(axis=0))


def test_chains_with_boxes_and_labels_and_ignores_maskless_detections() -> None:
    det = _det()
    image = np.zeros((40, 60, 3), np.uint8)
    chain = AnnotatorChain([MaskAnnotator(), BoxAnnotator(thickness=1), LabelAnnotator()])
    out = chain.annotate(image, det)
    assert out.shape == image.shape
    assert out.any()
    plain = Detections(det.xyxy)
    np.testing.assert_array_equal(MaskAnnotator().annotate(image, plain), image)
    np.testing.assert_array_equal(MaskAnnotator().annotate(image, None), image)


def test_masks_partly_outside_the_image_are_clipped() -> None:
    det = _det().shifted(-5, 15)
    image = np.zeros((20, 30, 3), np.uint8)
    out = MaskAnnotator(opacity=1.0, palette=[(1, 2, 3)]).annotate(image, det)
    expected = np.zeros((20, 30), dtype=bool)
    det.masks.paste(0, expected)
    det.masks.paste(1, expected)
    np.testing.assert_array_equal(out.any(axis=2), expected)
    assert out[19, 3].tolist() == [1, 2, 3]


def test_bad_arguments() -> None:
    with pytest.raises(TilewiseError, match="opacity"):
        MaskAnnotator(opacity=1.5)
    with pytest.raises(TilewiseError, match="opacity"):
        MaskAnnotator(opacity="half")
    with pytest.raises(TilewiseError, match="contour_thickness"):
        MaskAnnotator(contour_thickness=-1)
