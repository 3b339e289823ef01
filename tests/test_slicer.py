from __future__ import annotations

import threading
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.conftest import blob_model, make_scene
from tilewise import Detections, ModelOutputError, Slicer, TilewiseError, TilewiseWarning
from tilewise.slicing import FULL_FRAME, batched
from tilewise.slicing.batches import iter_batches, prefetch


class Recorder:
    """A model that returns one fixed slice-local box per image and records its calls."""

    def __init__(self, box=(1.0, 2.0, 5.0, 6.0)):
        self.box = np.array([box], dtype=np.float32)
        self.calls: list[list[np.ndarray]] = []
        self.lock = threading.Lock()

    def __call__(self, images):
        with self.lock:
            self.calls.append(images)
        return [Detections(self.box, [0.5]) for _ in images]


@pytest.mark.parametrize(
    ("image_wh", "slice_wh", "overlap", "expected_offsets"),
    [
        ((100, 60), 50, 0, [(0, 0), (50, 0), (0, 10), (50, 10)]),
        ((100, 50), 50, 0.2, [(0, 0), (40, 0), (50, 0)]),
        ((30, 20), 64, 0.2, [(0, 0)]),
        ((90, 40), (40, 40), (10, 0), [(0, 0), (30, 0), (50, 0)]),
    ],
)
def test_results_are_shifted_by_slice_offsets(image_wh, slice_wh, overlap, expected_offsets):
    w, h = image_wh
    model = Recorder()
    result = Slicer(model, slice_wh=slice_wh, overlap=overlap, merge="none").run(
        np.zeros((h, w, 3), np.uint8)
    )
    expected = np.array([[1 + x, 2 + y, 5 + x, 6 + y] for x, y in expected_offsets])
    np.testing.assert_array_equal(result.raw.xyxy, expected)
    assert result.raw_slice_index.tolist() == list(range(len(expected_offsets)))
    assert len(result.detections) == len(expected_offsets)


@pytest.mark.parametrize(("batch_size", "calls"), [(1, 32), (5, 7), (8, 4), (32, 1), (100, 1)])
def test_one_model_call_per_batch_with_views(batch_size, calls):
    image = np.zeros((2160, 3840, 3), np.uint8)
    model = Recorder()
    slicer = Slicer(model, slice_wh=640, overlap=0.2, batch_size=batch_size)
    slicer(image)
    assert len(model.calls) == calls
    assert slicer.last_report.model_calls == calls
    assert sum(len(c) for c in model.calls) == 32
    assert all(len(c) <= batch_size for c in model.calls)
    for images in model.calls:
        for im in images:
            assert im.shape == (640, 640, 3)
            assert np.shares_memory(im, image)  # a view, never a copy
            assert not im.flags.writeable  # the model cannot scribble on the user's image


def test_contiguous_copies_on_request():
    image = np.zeros((100, 100, 3), np.uint8)
    model = Recorder()
    Slicer(model, slice_wh=64, overlap=0, contiguous=True)(image)
    for images in model.calls:
        for im in images:
            assert im.flags.c_contiguous
            assert not np.shares_memory(im, image)


def test_finds_objects_and_merges_duplicates(scene):
    image, _ = scene
    slicer = Slicer(blob_model, slice_wh=128, overlap=0.4, batch_size=4, merge="nms")
    det = slicer(image)
    report = slicer.last_report
    assert report.raw > len(det)  # overlapping slices created duplicates that were merged
    assert report.raw == report.output + report.merged_away
    report.merge.validate()
    # every whole square that some slice sees entirely is found with its exact box
    full = {tuple(b) for b in blob_model([image])[0].xyxy.tolist()}
    found = {tuple(b) for b in det.xyxy.tolist()}
    assert len(found & full) >= 0.8 * len(full)


@given(
    batch_size=st.integers(1, 7),
    workers=st.integers(1, 3),
    merge=st.sampled_from(["nms", "nmm", "greedy_nmm", "wbf", "none"]),
)
@settings(max_examples=25, deadline=None)
def test_same_result_whatever_batch_size_and_workers(batch_size, workers, merge):
    image, _ = make_scene((300, 220), 30, seed=11)
    reference = Slicer(blob_model, slice_wh=96, overlap=0.3, merge=merge)(image)
    other = Slicer(
        blob_model, slice_wh=96, overlap=0.3, merge=merge, batch_size=batch_size, workers=workers
    )(image)
    assert other == reference


@given(st.integers(0, 20), st.integers(0, 10_000))
@settings(max_examples=30, deadline=None)
def test_single_slice_returns_the_models_own_output(n, seed):
    rng = np.random.default_rng(seed)
    xy = rng.uniform(0, 40, (n, 2))
    own = Detections(
        np.concatenate([xy, xy + rng.uniform(1, 20, (n, 2))], axis=1),
        rng.uniform(0, 1, n),
        rng.integers(0, 3, n),
    )
    slicer = Slicer(lambda ims: [own for _ in ims], slice_wh=128, overlap=0.2)
    assert slicer(np.zeros((60, 80, 3), np.uint8)) == own
    assert "single slice" in slicer.last_report.merge_skipped_reason


def test_full_frame_and_edge_margin_recover_a_large_object():
    image = np.zeros((256, 256, 3), np.uint8)
    image[40:220, 30:200] = (255, 200, 1)  # one object much larger than a slice
    plain = Slicer(blob_model, slice_wh=96, overlap=0.25, merge="nms")
    pieces = plain(image)
    assert len(pieces) > 1  # slicing alone cuts it apart
    slicer = Slicer(
        blob_model, slice_wh=96, overlap=0.25, merge="nms", full_frame=True, edge_margin=1
    )
    result = slicer.run(image)
    assert result.detections.xyxy.tolist() == [[30, 40, 200, 220]]
    report = result.report
    assert report.model_calls == len(report.grid) + 1
    assert report.full_frame_detections == 1
    assert report.dropped_edge == report.model_detections  # every slice saw only a piece
    assert (result.raw_slice_index == FULL_FRAME).sum() == 1


@pytest.mark.parametrize(
    ("box", "dropped"),
    [
        ((0, 10, 5, 20), 0),  # touches the image's left border: not an inner edge
        ((60, 10, 64, 20), 1),  # touches slice 0's inner right edge
        ((30, 10, 40, 20), 0),  # well inside
    ],
)
def test_edge_margin_only_drops_inner_edge_touches(box, dropped):
    calls = {"n": 0}

    def model(images):
        out = []
        for _ in images:
            out.append(Detections([box]) if calls["n"] == 0 else Detections.empty())
            calls["n"] += 1
        return out

    slicer = Slicer(model, slice_wh=64, overlap=0, edge_margin=1)
    slicer(np.zeros((64, 128, 3), np.uint8))
    assert slicer.last_report.dropped_edge == dropped


def test_nonfinite_boxes_are_dropped_counted_and_warned():
    def model(images):
        return [
            Detections([[0, 0, 4, 4], [np.nan, 0, 1, 1], [0, 0, np.inf, 2]], [0.9, 0.8, 0.7])
            for _ in images
        ]

    slicer = Slicer(model, slice_wh=32, overlap=0, merge="none")
    with pytest.warns(TilewiseWarning, match="dropped 4 detection"):
        det = slicer(np.zeros((32, 64, 3), np.uint8))
    assert len(det) == 2
    assert slicer.last_report.dropped_nonfinite == 4
    assert slicer.last_report.model_detections == 6


def test_boxes_outside_the_slice_warn_once():
    def model(images):  # a common mistake: boxes in full-image coordinates
        return [Detections([[500, 500, 520, 520]]) for _ in images]

    slicer = Slicer(model, slice_wh=64, overlap=0, merge="none")
    image = np.zeros((128, 128, 3), np.uint8)
    with pytest.warns(TilewiseWarning, match="outside its 64x64 slice") as record:
        slicer(image)
    assert len([w for w in record if issubclass(w.category, TilewiseWarning)]) == 1
    assert slicer.last_report.outside_slice == 4
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        slicer(image)  # warned once per slicer


@pytest.mark.parametrize(
    ("output", "message"),
    [
        (lambda ims: [Detections.empty()] * (len(ims) + 1), "returned 2 results for a batch of 1"),
        (lambda ims: Detections.empty(), "single Detections for a batch"),
        (lambda ims: None, "must return a list of Detections"),
        (lambda ims: [np.zeros((1, 4))] * len(ims), "expected tilewise.Detections"),
        (lambda ims: ({"boxes": 1},) * len(ims), "expected tilewise.Detections"),
    ],
)
def test_model_output_errors(output, message):
    with pytest.raises(ModelOutputError, match=message):
        Slicer(output, slice_wh=32, overlap=0)(np.zeros((32, 32, 3), np.uint8))


def test_model_exceptions_propagate_from_workers():
    def model(images):
        raise RuntimeError("boom")

    for workers in (1, 3):
        with pytest.raises(RuntimeError, match="boom"):
            Slicer(model, slice_wh=32, overlap=0, workers=workers)(np.zeros((64, 64, 3), np.uint8))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"batch_size": 0}, "batch_size"),
        ({"workers": 0}, "workers"),
        ({"batch_size": 2.5}, "batch_size"),
        ({"threshold": 1.5}, "threshold"),
        ({"merge": "soft"}, "merge"),
        ({"metric": "giou"}, "metric"),
        ({"edge_margin": -1}, "edge_margin"),
        ({"slice_wh": 64, "overlap": 64}, "smaller than the slice"),
        ({"slice_wh": -1}, "positive int"),
    ],
)
def test_bad_parameters(kwargs, message):
    with pytest.raises(TilewiseError, match=message):
        Slicer(Recorder(), **kwargs)


def test_model_must_be_callable():
    with pytest.raises(TilewiseError, match="callable"):
        Slicer("yolo.onnx")


@pytest.mark.parametrize(
    ("image", "message"),
    [
        (np.zeros((64, 64, 3), np.float32), "uint8"),
        (np.zeros((0, 64, 3), np.uint8), "empty"),
        (np.zeros((64, 64, 2), np.uint8), "H x W x 3"),
    ],
)
def test_bad_images(image, message):
    with pytest.raises(TilewiseError, match=message):
        Slicer(Recorder(), slice_wh=32)(image)


@pytest.mark.parametrize("shape", [(64, 64), (64, 64, 1), (64, 64, 4)])
def test_gray_and_rgba_images_are_converted(shape):
    model = Recorder()
    Slicer(model, slice_wh=32, overlap=0)(np.zeros(shape, np.uint8))
    assert all(im.shape == (32, 32, 3) for c in model.calls for im in c)


def test_path_input_and_progress(tmp_path, capsys):
    import cv2

    image, _ = make_scene((200, 150), 10, seed=5)
    path = tmp_path / "scene.png"
    cv2.imwrite(str(path), image[..., ::-1])
    slicer = Slicer(blob_model, slice_wh=64, overlap=0.2, progress=True)
    assert slicer(path) == slicer(image)
    summary = slicer.last_report.summary()
    assert "200x150 image" in summary
    assert "merged/suppressed by nms" in summary


def test_batched_wrapper_and_report_timings():
    calls = []

    def single(image):
        calls.append(image.shape)
        return Detections([[0, 0, 2, 2]])

    slicer = Slicer(batched(single), slice_wh=32, overlap=0, batch_size=3)
    slicer(np.zeros((64, 96, 3), np.uint8))
    assert len(calls) == 6
    t = slicer.last_report.timings
    assert t.total >= t.merge >= 0
    assert t.inference > 0
    assert set(t.as_dict()) == {
        "slicing",
        "preprocess",
        "inference",
        "decode",
        "postprocess",
        "merge",
        "total",
    }
    assert t.preprocess == t.decode == 0.0  # a plain model has no stages


def test_prefetch_keeps_order_and_propagates_errors():
    assert list(prefetch(iter(range(10)), depth=2)) == list(range(10))

    def failing():
        yield 1
        raise ValueError("producer failed")

    with pytest.raises(ValueError, match="producer failed"):
        list(prefetch(failing()))
    stream = prefetch(iter(range(1000)))
    assert next(stream) == 0
    stream.close()  # an abandoned consumer stops the producer


def test_iter_batches_views():
    image = np.arange(64 * 64 * 3, dtype=np.uint8).reshape(64, 64, 3)
    batches = list(iter_batches(image, np.array([[0, 0, 32, 32], [32, 32, 64, 64]]), 1))
    assert [b.index for b in batches] == [0, 1]
    np.testing.assert_array_equal(batches[1].images[0], image[32:, 32:])
