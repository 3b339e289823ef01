"""Multi-scale slicing (issue 15): several grids, per-scale size filters, one merge."""

from __future__ import annotations

import numpy as np
import pytest

from tests.conftest import blob_model, make_scene
from tilewise import Detections, Slicer, TilewiseError
from tilewise.merge import merge_detections
from tilewise.slicing import FULL_FRAME, Scale

SCALES = [(128, 1.0), (64, 2.0, None, 16), (None, 0.5, 24, None)]


@pytest.fixture
def image() -> np.ndarray:
    return make_scene((300, 220), 30, seed=11, size=(4, 40))[0]


def _single(scale: Scale, image: np.ndarray) -> Detections:
    """One scale run alone (no merge), its size filter applied afterwards."""
    wh = scale.slice_wh or image.shape[1::-1]
    raw = Slicer(blob_model, slice_wh=wh, overlap=0.2, zoom=scale.zoom, merge="none").run(image).raw
    return raw[scale.keep(raw.xyxy)]


@pytest.mark.parametrize("batch_size", [1, 4, 64])
def test_multiscale_is_the_union_of_the_single_scale_runs_before_merging(image, batch_size):
    slicer = Slicer(blob_model, scales=SCALES, overlap=0.2, batch_size=batch_size, merge="nms")
    result = slicer.run(image)
    scales = [Scale.parse(s) for s in SCALES]
    union = Detections.concatenate([_single(s, image) for s in scales])
    raw = result.raw
    np.testing.assert_array_equal(raw.xyxy, union.xyxy)
    np.testing.assert_array_equal(raw.confidence, union.confidence)
    np.testing.assert_array_equal(raw.class_id, union.class_id)
    merged, _ = merge_detections(union, "nms", threshold=0.5)
    np.testing.assert_array_equal(result.detections.xyxy, merged.xyxy)


def test_each_detection_knows_its_scale_and_the_report_counts_per_scale(image):
    slicer = Slicer(blob_model, scales=SCALES, overlap=0.2, full_frame=True)
    result = slicer.run(image)
    report = slicer.last_report
    assert [s.slices for s in report.scales] == [
        len(Scale.parse(s).grid((300, 220), 0.2)) for s in SCALES
    ]
    assert report.slices == sum(s.slices for s in report.scales)
    firsts = [s.first_slice for s in report.scales]
    assert firsts == [0, report.scales[0].slices, report.scales[0].slices + report.scales[1].slices]
    scale = result.raw.data["scale"]
    for i, stats in enumerate(report.scales):
        rows = result.raw_slice_index[scale == i]
        assert ((rows >= stats.first_slice) & (rows < stats.first_slice + stats.slices)).all()
        assert stats.raw == int((scale == i).sum())
        assert stats.model_detections == stats.raw + stats.dropped_size
    assert (result.raw_slice_index[scale == FULL_FRAME] == FULL_FRAME).all()
    assert report.dropped_size == sum(s.dropped_size for s in report.scales) > 0
    per_scale_out = sum(s.output for s in report.scales)
    assert per_scale_out + int((result.detections.data["scale"] == FULL_FRAME).sum()) == len(
        result.detections
    )
    text = report.summary()
    assert "scale 1 (64x64 zoom 2 sizes [0, 16), model sees 2.00x)" in text
    assert "dropped (size filter)" in text


def test_size_filters_keep_only_each_scales_sizes(image):
    result = Slicer(blob_model, scales=SCALES, overlap=0.2).run(image)
    size = np.sqrt(np.prod(result.raw.xyxy[:, 2:] - result.raw.xyxy[:, :2], axis=1))
    scale = result.raw.data["scale"]
    assert (size[scale == 1] < 16).all()
    assert (size[scale == 2] >= 24).all()


def test_scales_larger_than_the_image_give_one_image_sized_slice():
    image = np.zeros((50, 70, 3), np.uint8)
    image[10:20, 10:20] = 255
    slicer = Slicer(
        blob_model, scales=[(512, 1.0), ((1000, 40), 2.0)], overlap=0.2, class_agnostic=True
    )
    result = slicer.run(image)
    grids = [s.slices for s in slicer.last_report.scales]
    assert grids == [1, 2]  # 512: one 70x50 slice; (1000, 40): 70 wide, two rows of 40
    assert len(result.detections) == 1


def test_stream_with_scales_equals_run(image):
    slicer = Slicer(blob_model, scales=SCALES[:2], overlap=0.2, batch_size=3)
    frames = [image, image[::-1].copy()]
    for (_, _, det), frame in zip(slicer.stream(frames), frames, strict=True):
        assert det == slicer(frame)


@pytest.mark.parametrize(
    ("scales", "message"),
    [
        ([], "at least one scale"),
        ("320", "list of scales"),
        ([(320,)], "a scale must be"),
        ([(320, 0.0)], "zoom must be a finite number > 0"),
        ([(320, float("nan"))], "zoom must be a finite number > 0"),
        ([(320, 1.0, 30, 10)], "min_size must be < max_size"),
        ([(320, 1.0, -1, None)], "min_size must be None or a number >= 0"),
        ([(0, 1.0)], "positive int"),
        ([{"slice_wh": 64, "zom": 2}], "unknown scale keys"),
    ],
)
def test_bad_scales_are_refused(scales, message):
    with pytest.raises(TilewiseError, match=message):
        Slicer(blob_model, scales=scales)


def test_zoom_and_scales_together_are_refused():
    with pytest.raises(TilewiseError, match="zoom of each scale"):
        Slicer(blob_model, zoom=2.0, scales=[(64, 1.0)])
