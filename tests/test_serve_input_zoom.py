"""The service zooms a dynamic-input model's own input, as ``tilewise predict --zoom`` does.

Regression: the service's per-request stand-in model had no ``with_input_zoom``, so a
request's zoom on a dynamic-input ONNX model resized the slices, and the model's letterbox
shrank them back: the answer differed from ``Slicer(model, zoom=...)`` (and so from
``tilewise predict``), with a ``model_scale`` of 1 where predict's was the zoom.
"""

from __future__ import annotations

import numpy as np
import pytest

from tilewise.serve import DetectionService, ServeConfig
from tilewise.serve.batcher import DynamicBatcher
from tilewise.serve.errors import Refusal, ServeError
from tilewise.serve.zoom_batchers import ZoomBatchers
from tilewise.slicing import Slicer
from tilewise.slicing.confidence import with_conf

pytest.importorskip("onnx")

from tilewise.models import OnnxDetector
from tilewise.models.testing import constant_detector_onnx


@pytest.fixture(scope="module")
def dynamic(tmp_path_factory: pytest.TempPathFactory) -> OnnxDetector:
    path = tmp_path_factory.mktemp("m") / "dynamic.onnx"
    return OnnxDetector(constant_detector_onnx(path, dynamic_hw=True), conf=0.05)


def _scene() -> np.ndarray:
    rng = np.random.default_rng(3)
    return rng.integers(60, 255, (150, 230, 3), dtype=np.uint8)


@pytest.mark.parametrize(
    ("form", "model_scale"),
    [
        ({"slice": "64", "overlap": "0", "zoom": "2"}, 2.0),
        ({"slice": "64", "overlap": "0.25", "zoom": "1.5", "conf": "0.5"}, 1.5),
        ({"slice": "32", "overlap": "0", "zoom": "2"}, 4.0),  # 32 px letterboxed to 64, x2
        ({"slice": "64", "overlap": "0", "zoom": "1"}, 1.0),
    ],
)
def test_service_zooms_the_model_input_as_the_slicer_does(
    dynamic: OnnxDetector, form: dict[str, str], model_scale: float
) -> None:
    image = _scene()
    service = DetectionService(dynamic, ServeConfig(max_batch=4, max_delay_ms=1, max_slice=512))
    params = service.params(form)
    with service:
        doc = service.detect(image, params)
    expected = Slicer(
        with_conf(dynamic, params.conf),
        slice_wh=params.slice,
        overlap=params.overlap,
        merge=params.merge,
        threshold=params.threshold,
        metric=params.metric,
        zoom=params.zoom,
    ).run(image)
    det = expected.detections
    assert doc["count"] == len(det) > 0
    assert [d["xyxy"] for d in doc["detections"]] == [
        [round(v, 2) for v in row] for row in det.xyxy.tolist()
    ]
    assert [d["confidence"] for d in doc["detections"]] == [
        round(v, 4) for v in det.confidence.tolist()
    ]
    assert doc["model_scale"] == expected.report.model_scale == model_scale


def test_multi_scale_request_holds_and_gives_back_each_zoom(dynamic: OnnxDetector) -> None:
    image = _scene()
    service = DetectionService(dynamic, ServeConfig(max_batch=4, max_delay_ms=1, max_slice=512))
    form = {"scales": "[[64, 1], [32, 2], [64, 1.5]]"}
    with service:
        doc = service.detect(image, form)
        assert service.zooms is not None
        assert service.zooms.in_use() == {2.0: 0, 1.5: 0}
    expected = Slicer(with_conf(dynamic, 0.25), overlap=0.2, scales=[(64, 1), (32, 2), (64, 1.5)])
    det = expected.run(image).detections
    assert [d["xyxy"] for d in doc["detections"]] == [
        [round(v, 2) for v in row] for row in det.xyxy.tolist()
    ]
    assert service.zooms.in_use() == {}  # closed with the service


def test_evictions_are_counted_in_the_metrics(dynamic: OnnxDetector) -> None:
    image = _scene()[:64, :64]
    service = DetectionService(dynamic, ServeConfig(max_batch=4, max_input_zooms=1))
    with service:
        for zoom in ("2", "1.5", "2"):
            assert service.detect(image, {"slice": "64", "zoom": zoom})["model_scale"] == float(
                zoom
            )
        text = service.metrics.render()
    assert "tilewise_serve_input_zoom_evictions 2" in text


def test_a_plain_model_has_no_zoom_batchers() -> None:
    service = DetectionService(lambda ims: [], ServeConfig())
    assert service.zooms is None


class _Dynamic:
    zooms_input = True

    def __init__(self, zoom: float = 1.0) -> None:
        self.zoom = zoom

    def with_input_zoom(self, zoom: float) -> _Dynamic:
        return _Dynamic(zoom)

    def __call__(self, images: list[np.ndarray]) -> list:
        return [None for _ in images]


def _zooms(limit: int) -> ZoomBatchers:
    return ZoomBatchers(
        _Dynamic(), lambda m: DynamicBatcher(m, max_batch=2), limit, retry_after_s=3
    )


# each step: ("a", zoom) acquires, ("r", zoom) releases; then the live zooms and evictions
@pytest.mark.parametrize(
    ("steps", "live", "evicted"),
    [
        ([("a", 2.0)], {2.0: 1}, 0),
        ([("a", 2.0), ("a", 2.0), ("r", 2.0)], {2.0: 1}, 0),
        ([("a", 2.0), ("r", 2.0), ("a", 1.5)], {2.0: 0, 1.5: 1}, 0),
        ([("a", 2.0), ("r", 2.0), ("a", 1.5), ("r", 1.5), ("a", 3.0)], {1.5: 0, 3.0: 1}, 1),
        # the least recently used idle zoom goes: 2 was used after 1.5
        ([("a", 1.5), ("a", 2.0), ("r", 1.5), ("a", 2.0), ("r", 2.0), ("r", 2.0), ("a", 3.0)],
         {2.0: 0, 3.0: 1}, 1),
        ([("a", 2.0), ("a", 1.5), ("r", 1.5), ("a", 3.0)], {2.0: 1, 3.0: 1}, 1),
    ],
)  # fmt: skip
def test_zoom_batchers_table(
    steps: list[tuple[str, float]], live: dict[float, int], evicted: int
) -> None:
    zooms = _zooms(limit=2)
    try:
        for op, zoom in steps:
            if op == "a":
                batcher = zooms.acquire(zoom)
                assert batcher.running
                assert batcher.model.zoom == zoom
            else:
                zooms.release(zoom)
        assert zooms.in_use() == live
        assert zooms.evicted == evicted
    finally:
        zooms.close()


def test_zoom_batchers_refuse_a_new_zoom_when_all_are_in_use() -> None:
    zooms = _zooms(limit=2)
    try:
        first, second = zooms.acquire(2.0), zooms.acquire(1.5)
        with pytest.raises(ServeError) as info:
            zooms.acquire(3.0)
        assert info.value.reason is Refusal.OVERLOADED
        assert info.value.retry_after == 3
        assert "2 input zoom(s) are all in use (1.5, 2)" in str(info.value)
        assert first.running
        assert second.running
        zooms.release(1.5)
        assert zooms.acquire(3.0).running
        assert not second.running  # the idle one was closed
    finally:
        zooms.close()
    assert not first.running


@pytest.mark.parametrize("limit", [0, -1, 1.5, True])
def test_zoom_batchers_bad_limit(limit: object) -> None:
    with pytest.raises(ValueError, match="limit must be an integer >= 1"):
        ZoomBatchers(_Dynamic(), lambda m: DynamicBatcher(m), limit)  # type: ignore[arg-type]
