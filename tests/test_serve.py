"""The detection service without HTTP: parameters, the dynamic batcher, the service."""

from __future__ import annotations

import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from tests.conftest import make_scene
from tilewise import Detections, Slicer
from tilewise.serve import (
    DetectionService,
    DetectParams,
    DynamicBatcher,
    Refusal,
    ServeConfig,
    ServeError,
    parse_params,
)
from tilewise.serve.metrics import ServeMetrics
from tilewise.serve.testing import FixedCostModel
from tilewise.serve.upload import clean_filename
from tilewise.slicing import Scale

NAMES = ["a", "b", "c"]


# ---------------------------------------------------------------------- parameters
def test_defaults_are_predicts():
    p = parse_params({}, ServeConfig(), NAMES)
    assert p == DetectParams()
    assert (p.slice, p.overlap, p.merge.value, p.conf, p.threshold) == (None, 0.2, "nms", 0.25, 0.5)


def test_parse_every_field():
    form = {
        "slice": " 256 ",
        "overlap": "0.25",
        "merge": "GREEDY_NMM",
        "metric": "ios",
        "threshold": "0.3",
        "class_agnostic": "On",
        "conf": "0.4",
        "full_frame": "yes",
        "classes": "c, 0",
        "zoom": "1.5",
    }
    p = parse_params(form, ServeConfig(), NAMES)
    assert p.to_dict() == {
        "slice": 256,
        "overlap": 0.25,
        "merge": "greedy_nmm",
        "metric": "ios",
        "threshold": 0.3,
        "class_agnostic": True,
        "conf": 0.4,
        "full_frame": True,
        "classes": [0, 2],
        "zoom": 1.5,
        "scales": None,
    }
    assert parse_params({"slice": "", "classes": " "}, ServeConfig(), NAMES).slice is None
    multi = parse_params(
        {"scales": '[[64, 1], [32, 2, null, 12], {"slice_wh": null, "zoom": 0.5}]'},
        ServeConfig(),
        NAMES,
    )
    assert multi.scales == (Scale(64, 1.0), Scale(32, 2.0, max_size=12), Scale(None, 0.5))
    assert multi.to_dict()["scales"][1] == Scale(32, 2.0, max_size=12).to_json()


@pytest.mark.parametrize(
    ("form", "message"),
    [
        ({"slice": "0"}, "slice must be in [16, 4096] px, got 0"),
        ({"slice": "99999"}, "slice must be in [16, 4096] px"),
        ({"slice": "big"}, "slice must be 'auto' or a size in pixels, got 'big'"),
        ({"overlap": "1"}, "overlap must be in [0, 1), got 1"),
        ({"overlap": "-0.1"}, "overlap must be in [0, 1)"),
        ({"overlap": "nan"}, "overlap must be a finite number"),
        ({"overlap": "abc"}, "overlap must be a number, got 'abc'"),
        ({"threshold": "2"}, "threshold must be in [0, 1], got 2"),
        ({"conf": "0.01"}, "conf must be in [0.05, 1] (this server's range), got 0.01"),
        ({"conf": "1.5"}, "conf must be in [0.05, 1]"),
        ({"merge": "best"}, "merge"),
        ({"metric": "giou"}, "metric"),
        ({"full_frame": "maybe"}, "full_frame must be true or false, got 'maybe'"),
        ({"class_agnostic": "maybe"}, "class_agnostic must be true or false, got 'maybe'"),
        ({"classes": "dog"}, "classes: unknown class 'dog' (known: a, b, c)"),
        ({"classes": "7"}, "classes: class id 7 is out of range (0..2)"),
        ({"overlpa": "0.2"}, "unknown field(s) ['overlpa']"),
        ({"zoom": "0"}, "zoom must be a finite number > 0, got 0.0"),
        ({"zoom": "-2"}, "zoom must be a finite number > 0, got -2.0"),
        ({"zoom": "nan"}, "zoom must be a finite number, got 'nan'"),
        ({"zoom": "inf"}, "zoom must be a finite number, got 'inf'"),
        ({"zoom": "big"}, "zoom must be a number, got 'big'"),
        ({"scales": "[[64, 1]"}, "scales must be JSON like [[320, 1], [160, 2, null, 32]]"),
        ({"scales": "320"}, "scales: scales must be a list of scales, got 320"),
        ({"scales": "[]"}, "scales: scales must hold at least one scale"),
        ({"scales": "null"}, "scales must be a list of scales, got null"),
        ({"scales": "[[64]]"}, "scales: a scale must be (slice_wh, zoom)"),
        ({"scales": "[[64, 0]]"}, "a scale's zoom must be a finite number > 0, got 0"),
        ({"scales": "[[64, 1, 30, 10]]"}, "a scale's min_size must be < max_size"),
        ({"scales": '[{"slice": 64}]'}, "unknown scale keys ['slice']"),
        ({"scales": "[[8, 1]]"}, "scales: slice sizes must be in [16, 4096] px, got 8x8"),
        ({"scales": "[[64, 1]]", "slice": "64"}, "scales replaces slice and zoom"),
        ({"scales": "[[64, 1]]", "zoom": "2"}, "scales replaces slice and zoom"),
    ],
)
def test_invalid_parameters_are_422_naming_the_field(form, message):
    with pytest.raises(ServeError) as info:
        parse_params(form, ServeConfig(), NAMES)
    assert info.value.status == 422
    assert info.value.reason is Refusal.INVALID_PARAMETER
    assert message in info.value.detail


def test_config_limits_are_checked():
    with pytest.raises(ValueError, match="max_delay_ms must be a number >= 0"):
        ServeConfig(max_delay_ms=-1)
    with pytest.raises(ValueError, match="min_conf <= default_conf"):
        ServeConfig(min_conf=0.5, default_conf=0.25)
    with pytest.raises(ValueError, match="api_key is empty"):
        ServeConfig(api_key=" ")
    assert "s3cret" not in repr(ServeConfig(api_key="s3cret"))


def test_clean_filename():
    assert clean_filename("C:\\photos\\drone <1>.JPG") == "drone _1_.JPG"
    assert clean_filename("") == "upload"


# ---------------------------------------------------------------------- batcher
class Recorder:
    """Tags every output with its image's first pixel; records batch sizes."""

    def __init__(self, delay: float = 0.0, fail_on: int | None = None) -> None:
        self.sizes: list[int] = []
        self.delay = delay
        self.fail_on = fail_on
        self.lock = threading.Lock()

    def __call__(self, images):
        with self.lock:
            self.sizes.append(len(images))
        if self.delay:
            time.sleep(self.delay)
        values = [int(im[0, 0, 0]) for im in images]
        if self.fail_on is not None and self.fail_on in values:
            raise RuntimeError("boom")
        return [Detections(np.array([[0, 0, 1, 1]]), [v / 255]) for v in values]


def images(value: int, n: int) -> list[np.ndarray]:
    return [np.full((4, 4, 3), value, np.uint8) for _ in range(n)]


def tags(outputs: list[Detections]) -> list[int]:
    return [round(float(d.confidence[0]) * 255) for d in outputs]


def test_full_batch_runs_at_once_partial_waits_max_delay():
    model = Recorder()
    with DynamicBatcher(model, max_batch=4, max_delay_s=0.3) as batcher:
        t0 = time.perf_counter()
        full = batcher.submit(images(1, 4)).wait(5)
        t_full = time.perf_counter() - t0
        t0 = time.perf_counter()
        partial = batcher.submit(images(2, 1)).wait(5)
        t_partial = time.perf_counter() - t0
    assert tags(full) == [1] * 4
    assert tags(partial) == [2]
    assert t_full < 0.25 <= t_partial
    assert model.sizes == [4, 1]


def test_cross_request_batches_mix_and_route_back_in_order():
    model = Recorder(delay=0.05)
    with DynamicBatcher(model, max_batch=8, max_delay_s=0.02) as batcher:
        blocker = batcher.submit(images(9, 8))  # occupies the model while the rest queue
        time.sleep(0.01)
        subs = [batcher.submit(images(v, 3)) for v in (1, 2, 3, 4)]
        results = [tags(s.wait(5)) for s in subs]
        blocker.wait(5)
    assert results == [[1] * 3, [2] * 3, [3] * 3, [4] * 3]
    assert model.sizes[0] == 8
    assert model.sizes[1] == 8
    assert sum(model.sizes) == 20
    assert any(s.shared_batches for s in subs)


def test_batching_off_keeps_requests_apart():
    model = Recorder(delay=0.05)
    with DynamicBatcher(model, max_batch=8, cross_request=False) as batcher:
        blocker = batcher.submit(images(9, 8))
        time.sleep(0.01)
        subs = [batcher.submit(images(v, 3)) for v in (1, 2, 3)]
        results = [tags(s.wait(5)) for s in subs]
        blocker.wait(5)
    assert results == [[1] * 3, [2] * 3, [3] * 3]
    assert model.sizes == [8, 3, 3, 3]
    assert not any(s.shared_batches for s in subs)


def test_cancelled_slices_never_reach_the_model():
    model = Recorder(delay=0.1)
    with DynamicBatcher(model, max_batch=2, max_delay_s=0) as batcher:
        first = batcher.submit(images(1, 2))
        time.sleep(0.02)
        dropped = batcher.submit(images(2, 4))
        dropped.cancel()
        kept = batcher.submit(images(3, 2))
        assert tags(kept.wait(5)) == [3, 3]
        first.wait(5)
        assert batcher.queue_depth == 0
    assert model.sizes == [2, 2]
    with pytest.raises(TimeoutError):
        dropped.wait(0.01)


def test_model_failure_fails_its_batch_only():
    model = Recorder(fail_on=7)
    with DynamicBatcher(model, max_batch=2, max_delay_s=0) as batcher:
        bad = batcher.submit(images(7, 2))
        with pytest.raises(ServeError) as info:
            bad.wait(5)
        good = batcher.submit(images(1, 2))
        assert tags(good.wait(5)) == [1, 1]
    assert info.value.reason is Refusal.MODEL_ERROR
    assert "RuntimeError: boom" in info.value.detail


def test_close_runs_what_is_queued_then_refuses():
    model = Recorder(delay=0.05)
    batcher = DynamicBatcher(model, max_batch=2, max_delay_s=0).start()
    subs = [batcher.submit(images(v, 2)) for v in range(1, 5)]
    batcher.close()
    assert [tags(s.wait(0)) for s in subs] == [[v, v] for v in range(1, 5)]
    with pytest.raises(ServeError) as info:
        batcher.submit(images(1, 1))
    assert info.value.reason is Refusal.SHUTTING_DOWN
    assert info.value.status == 503


def test_several_workers_deliver_every_output():
    model = Recorder(delay=0.01)
    with DynamicBatcher(model, max_batch=3, max_delay_s=0.001, workers=3) as batcher:
        subs = [batcher.submit(images(v, 1 + v % 5)) for v in range(40)]
        results = [tags(s.wait(10)) for s in subs]
    assert results == [[v] * (1 + v % 5) for v in range(40)]


# ---------------------------------------------------------------------- service
@pytest.fixture(scope="module")
def model():
    return FixedCostModel(call_ms=1.0, image_ms=0.0, slice_wh=(96, 96))


def scenes(k: int) -> list[np.ndarray]:
    return [make_scene((260 + 30 * i, 180 + 20 * i), 30, seed=i, size=(4, 30))[0] for i in range(k)]


@pytest.mark.parametrize(
    "form",
    [
        {},
        {"slice": "64", "overlap": "0.3", "merge": "wbf", "threshold": "0.4"},
        {"slice": "80", "merge": "greedy_nmm", "metric": "ios", "conf": "0.5"},
        {"merge": "nmm", "full_frame": "true", "classes": "a,c"},
        {"slice": "64", "class_agnostic": "true", "threshold": "0.3"},
        {"slice": "512"},  # one slice: the model's own output
        {"slice": "64", "zoom": "1.5"},
        {"zoom": "0.75", "full_frame": "true", "conf": "0.3"},
        {"scales": "[[64, 1], [32, 2, null, 12], [null, 0.5, 20, null]]", "merge": "nmm"},
        {"scales": '[{"slice_wh": [80, 48], "zoom": 1.25, "overlap": 0.1}]', "full_frame": "1"},
    ],
)
def test_service_equals_the_slicer(model, form):
    image = scenes(1)[0]
    service = DetectionService(model, ServeConfig(max_batch=4, max_delay_ms=1))
    params = service.params(form)
    with service:
        doc = service.detect(image, params)

    def filtered(ims):  # the same model with the request's conf and classes
        out = []
        for det in model(ims):
            keep = det.confidence > np.float32(params.conf)
            if params.classes is not None:
                keep &= np.isin(det.class_id, params.classes)
            out.append(det[keep])
        return out

    size = params.slice or 96
    expected = Slicer(
        filtered,
        slice_wh=size,
        overlap=params.overlap,
        batch_size=3,
        merge=params.merge,
        threshold=params.threshold,
        metric=params.metric,
        class_agnostic=form.get("class_agnostic") == "true",
        full_frame=params.full_frame,
        zoom=float(form.get("zoom", 1.0)),
        scales=None if "scales" not in form else json.loads(form["scales"]),
    ).run(image)
    det = expected.detections
    assert doc["count"] == len(det) > 0
    assert [d["xyxy"] for d in doc["detections"]] == [
        [round(v, 2) for v in row] for row in det.xyxy.tolist()
    ]
    assert [d["class_id"] for d in doc["detections"]] == det.class_id.tolist()
    assert doc["slices"] == expected.report.slices
    if "scales" not in form:
        assert doc["slices"] == len(doc["grid"])
    assert doc["image_wh"] == [image.shape[1], image.shape[0]]
    assert doc["zoom"] == params.zoom
    assert doc["model_scale"] == expected.report.model_scale
    assert doc["scales"] == ([s.to_dict() for s in expected.report.scales] or None)


def test_an_answer_is_the_same_alone_or_among_many(model):
    images_ = scenes(6)
    forms = [{"slice": "64"}, {"slice": "96", "merge": "wbf"}, {"slice": "80", "conf": "0.6"}]
    slow = FixedCostModel(call_ms=15.0, image_ms=0.5, slice_wh=(96, 96))
    service = DetectionService(slow, ServeConfig(max_batch=8, max_delay_ms=10))
    jobs = [(i, f) for i in range(len(images_)) for f in range(len(forms))]

    def run(job):
        i, f = job
        doc = service.detect(images_[i], forms[f])
        return doc

    with service:
        alone = {job: run(job) for job in jobs}
        with ThreadPoolExecutor(6) as pool:
            crowd = dict(zip(jobs, pool.map(run, jobs * 2), strict=False))
    for job in jobs:
        assert crowd[job]["detections"] == alone[job]["detections"]
        assert crowd[job]["grid"] == alone[job]["grid"]
    shared = sum(doc["batching"]["shared_batches"] for doc in crowd.values())
    assert shared > 0  # the crowd's slices did share model calls


def test_too_many_slices_is_refused_before_running():
    model = FixedCostModel(call_ms=0.0, image_ms=0.0)
    service = DetectionService(model, ServeConfig(max_slices=10))
    with service, pytest.raises(ServeError) as info:
        service.detect(np.zeros((400, 400, 3), np.uint8), {"slice": "64"})
    assert info.value.reason is Refusal.TOO_MANY_SLICES
    assert info.value.status == 422
    assert "needs 64 model inputs, over this server's limit of 10" in info.value.detail
    assert model.calls == 0


def test_multi_scale_slices_count_against_the_limit():
    model = FixedCostModel(call_ms=0.0, image_ms=0.0)
    service = DetectionService(model, ServeConfig(max_slices=10))
    with service, pytest.raises(ServeError) as info:
        service.detect(np.zeros((200, 200, 3), np.uint8), {"scales": "[[100, 1], [50, 1]]"})
    assert info.value.reason is Refusal.TOO_MANY_SLICES
    # overlap 0.2: 100 px slices at 0, 80, 100 (3x3), 50 px at 0, 40, 80, 120, 150 (5x5)
    assert "at 2 scales needs 34 model inputs, over this server's limit of 10" in info.value.detail
    assert model.calls == 0


@pytest.mark.parametrize(
    ("form", "message"),
    [
        ({"slice": "64", "zoom": "2"}, "zoom 2 makes 64x64 px slices 128x128 px, over this "),
        ({"zoom": "3"}, "zoom 3 makes 96x96 px slices 288x288 px"),  # slice auto: the model's
        ({"scales": "[[32, 1], [64, 4]]"}, "zoom 4 makes 64x64 px slices 256x256 px"),
        ({"scales": "[[null, 8]]"}, "zoom 8 makes the 200x150 frame 1600x1200 px, over this "),
    ],
)
def test_zoomed_inputs_over_the_limits_are_refused_before_running(form, message):
    model = FixedCostModel(call_ms=0.0, image_ms=0.0, slice_wh=(96, 96))
    service = DetectionService(model, ServeConfig(max_slice=100, max_pixels=1_000_000))
    with service, pytest.raises(ServeError) as info:
        service.detect(np.zeros((150, 200, 3), np.uint8), form)
    assert info.value.reason is Refusal.INVALID_PARAMETER
    assert info.value.status == 422
    assert message in info.value.detail
    assert model.calls == 0


def test_deadline_drops_the_request_and_its_queued_slices():
    slow = FixedCostModel(call_ms=200.0, image_ms=0.0, slice_wh=(32, 32))
    service = DetectionService(slow, ServeConfig(max_batch=2, timeout_s=0.3, max_delay_ms=0))
    with service:
        t0 = time.perf_counter()
        with pytest.raises(ServeError) as info:
            service.detect(np.zeros((64, 256, 3), np.uint8), {})  # 8 slices: 4 calls
        took = time.perf_counter() - t0
        time.sleep(0.25)
        assert service.batcher.queue_depth == 0
    assert info.value.reason is Refusal.DEADLINE_EXCEEDED
    assert info.value.status == 504
    assert took < 0.6
    assert slow.calls <= 3


def test_admission_is_bounded_and_drain_refuses(model):
    service = DetectionService(model, ServeConfig(max_inflight=2, retry_after_s=3))
    with service:
        a, b = service.admit(), service.admit()
        with pytest.raises(ServeError) as info:
            service.admit()
        assert info.value.reason is Refusal.OVERLOADED
        assert info.value.headers() == {"Retry-After": "3"}
        service.release(a)
        service.release(service.admit())
        service.release(b)
        assert service.inflight() == 0
        assert service.ready()
        service.drain()
        assert not service.ready()
        with pytest.raises(ServeError) as info:
            service.admit()
        assert info.value.reason is Refusal.SHUTTING_DOWN


def test_metrics_text():
    metrics = ServeMetrics(max_batch=8, gauges={"tilewise_serve_queue_depth": ("Q.", lambda: 3)})
    metrics.answered("/v1/detect", 200, 0.3)
    metrics.answered("/v1/detect", 413, 0.001)
    metrics.refused("upload_too_large")
    metrics.batch(8, 0.2)
    metrics.batch(2, 0.1)
    text = metrics.render()
    assert 'tilewise_serve_requests_total{route="/v1/detect",status="413"} 1' in text
    assert 'tilewise_serve_refused_total{reason="upload_too_large"} 1' in text
    assert "tilewise_serve_request_seconds_count 2" in text
    assert 'tilewise_serve_batch_size_bucket{le="2.0"} 1' in text
    assert 'tilewise_serve_batch_fill_ratio_bucket{le="1.0"} 2' in text
    assert "tilewise_serve_model_calls_total 2" in text
    assert "tilewise_serve_queue_depth 3" in text
    assert text.endswith("\n")


# ---------------------------------------------------------------------- command line
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--max-batch", "0"], "max_batch must be an integer > 0, got 0"),
        (["--max-delay-ms", "-1"], "max_delay_ms must be a number >= 0"),
        (["--min-conf", "0.5"], "need 0 <= min_conf <= default_conf <= 1"),
        (["--max-pixels", "lots"], "--max-pixels must be a number of pixels"),
        (["--api-key-file", "{tmp}/missing"], "--api-key-file"),
        (["--api-key-file", "{tmp}/empty"], "is empty"),
        (["--model", "no.such.module:model"], "cannot import 'no.such.module' for model 'no.such"),
    ],
)
def test_serve_command_refuses_bad_settings_before_serving(tmp_path, args, message):
    from typer.testing import CliRunner

    from tilewise.cli.app import app

    (tmp_path / "empty").write_text("\n")
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    result = CliRunner().invoke(app, ["serve", "--port", "0", *args])
    assert result.exit_code == 2, result.output
    assert message in " ".join(result.output.split())
