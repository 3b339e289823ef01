"""The Slicer reads slices from any image source: same results, skipped nodata, georef."""

from __future__ import annotations

import threading

import cv2
import numpy as np
import pytest

from tests.conftest import blob_model, make_scene
from tests.source_helpers import GEO, MinimalSource, assert_same
from tilewise import Detections, Slicer, TilewiseError
from tilewise.sources import ArraySource, ImageFileSource, Window


@pytest.mark.parametrize("batch_size", [1, 3])
def test_slicer_results_identical_for_array_source_file_and_protocol_source(tmp_path, batch_size):
    image, _ = make_scene((300, 220), 30, seed=5)
    path = tmp_path / "scene.png"
    cv2.imwrite(str(path), image[..., ::-1])
    slicer = Slicer(blob_model, slice_wh=96, overlap=0.25, batch_size=batch_size)
    base = slicer.run(image)
    assert slicer.last_report.source == "image"
    assert slicer.last_report.image is None
    assert_same(base, slicer.run(ArraySource(image)))
    from_file = slicer.run(path)
    assert slicer.last_report.image is not None
    assert slicer.last_report.source == str(path)
    assert_same(base, from_file)
    assert_same(base, slicer.run(ImageFileSource(path)))
    minimal = MinimalSource(image)
    assert_same(base, slicer.run(minimal))
    assert [w.xyxy for w in minimal.windows] == [tuple(b) for b in base.report.grid.boxes]
    assert base.detections.georef is None


class _ThreadRecordingSource(MinimalSource):
    """Records the thread each window is read on."""

    def __init__(self, image):
        super().__init__(image)
        self.threads: set[str] = set()

    def read(self, window):
        self.threads.add(threading.current_thread().name)
        return super().read(window)


@pytest.mark.parametrize("workers", [1, 2, 3])
def test_windows_are_read_off_the_calling_thread_whatever_the_workers(workers):
    # regression: with workers > 1 and a plain (non-staged) model, every window was read
    # on the calling thread, serialised with its post-processing
    image, _ = make_scene((300, 220), 30, seed=5)
    base = Slicer(blob_model, slice_wh=96, overlap=0.25, batch_size=2).run(image)
    source = _ThreadRecordingSource(image)
    got = Slicer(blob_model, slice_wh=96, overlap=0.25, batch_size=2, workers=workers).run(source)
    assert_same(base, got)
    assert source.threads == {"tilewise-prefetch"}


def test_slicer_full_frame_and_contiguous_read_through_the_source():
    image, _ = make_scene((200, 160), 12, seed=8)
    kw = dict(slice_wh=64, overlap=0.2, full_frame=True, contiguous=True)
    base = Slicer(blob_model, **kw).run(image)
    minimal = MinimalSource(image)
    assert_same(base, Slicer(blob_model, **kw).run(minimal))
    assert minimal.windows[-1] == Window(0, 0, 200, 160)


def test_source_returning_the_wrong_shape_is_refused():
    class Bad(MinimalSource):
        def read(self, window):
            return np.zeros((window.h, window.w), np.uint8)

    with pytest.raises(TilewiseError, match=r"must return the window as \(32, 32, 3\) uint8"):
        Slicer(blob_model, slice_wh=32, overlap=0).run(Bad(np.zeros((64, 64, 3), np.uint8)))


def test_all_valid_mask_changes_nothing():
    image, _ = make_scene((256, 192), 20, seed=2)
    slicer = Slicer(blob_model, slice_wh=64, overlap=0.25, batch_size=4)
    base = slicer.run(image)
    masked = slicer.run(ArraySource(image, valid=np.ones((192, 256), bool)))
    assert_same(base, masked)
    assert slicer.last_report.windows.read == len(base.report.grid)
    assert slicer.last_report.windows.skipped == 0


def test_nodata_windows_are_skipped_and_counted_never_sent_to_the_model():
    image, _ = make_scene((256, 128), 25, seed=4)
    valid = np.ones((128, 256), bool)
    valid[:, :128] = False  # left half: nodata (2x2 windows of 64 there)
    valid[:, 128:136] = False  # a sliver of the next column: 8 of 64 columns invalid
    seen: list[int] = []

    def model(images):
        seen.append(len(images))
        return blob_model(images)

    slicer = Slicer(model, slice_wh=64, overlap=0, batch_size=3, progress=False)
    result = slicer.run(ArraySource(image, valid=valid))
    report = slicer.last_report
    assert report.windows.skipped_nodata == 4
    assert report.windows.read == 4
    assert sum(seen) == 4
    assert report.batches == 2
    assert report.windows.valid_fraction_min == pytest.approx(56 / 64)
    assert "4 skipped (all nodata)" in report.summary()
    # no detection survives with its centre on nodata; those dropped are counted
    centres = (result.raw.xyxy[:, :2] + result.raw.xyxy[:, 2:]) / 2
    assert valid[centres[:, 1].astype(int), centres[:, 0].astype(int)].all()
    everything = Slicer(blob_model, slice_wh=64, overlap=0, merge="none").run(image[:, 128:])
    c = (everything.raw.xyxy[:, :2] + everything.raw.xyxy[:, 2:]) / 2
    assert report.dropped_nodata == int((c[:, 0] < 8).sum())
    # a threshold skips the sparse column too
    sparse = Slicer(blob_model, slice_wh=64, overlap=0, min_valid=0.9)
    sparse.run(ArraySource(image, valid=valid))
    assert sparse.last_report.windows.skipped_sparse == 2
    assert sparse.last_report.windows.read == 2
    with pytest.raises(TilewiseError, match="min_valid"):
        Slicer(blob_model, min_valid=1.5)


def test_all_nodata_image_gives_no_model_call():
    calls = []
    model = lambda ims: calls.append(ims) or [Detections.empty() for _ in ims]  # noqa: E731
    slicer = Slicer(model, slice_wh=32, overlap=0, progress=True)
    image = np.zeros((64, 64, 3), np.uint8)
    result = slicer.run(ArraySource(image, valid=np.zeros((64, 64), bool)))
    assert not calls
    assert len(result.detections) == 0
    assert slicer.last_report.windows.skipped_nodata == 4
    assert slicer.last_report.model_calls == 0


def test_slicer_sets_the_source_georef_on_detections():
    image, _ = make_scene((200, 100), 10, seed=1)
    result = Slicer(blob_model, slice_wh=64, overlap=0.2).run(ArraySource(image, georef=GEO))
    assert result.detections.georef == GEO
    assert result.raw.georef == GEO
    assert result.detections[:2].georef == GEO
    assert "crs='EPSG:32633'" in repr(result.detections)
