"""A raster run in strips resumes from its recorded strips (issue 13), equal to one run."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import blob_model, make_scene
from tilewise import Slicer
from tilewise.distributed import StripStore, run_strips
from tilewise.errors import TilewiseError, TilewiseWarning
from tilewise.sources import ArraySource

SLICER = {"slice_wh": 48, "overlap": 0.25, "batch_size": 2}
SETTINGS = {"raster": {"path": "scene.tif"}, "model": "blob"}


class FailingModel:
    """``blob_model`` that raises on its ``fail_on``-th call and counts the images it saw."""

    def __init__(self, fail_on: int | None = None) -> None:
        self.fail_on = fail_on
        self.calls = 0
        self.images = 0

    def __call__(self, images: list[np.ndarray]):
        self.calls += 1
        if self.calls == self.fail_on:
            raise RuntimeError("model out of memory")
        self.images += len(images)
        return blob_model(images)


@pytest.fixture
def source() -> ArraySource:
    image, _ = make_scene((156, 192), 14, seed=3, size=(4, 36))  # 5 rows of 4 slices
    return ArraySource(image)


def _assert_same(got, whole) -> None:
    assert got.detections == whole.detections
    np.testing.assert_array_equal(got.detections.xyxy, whole.detections.xyxy)
    assert got.raw == whole.raw
    np.testing.assert_array_equal(got.raw_slice_index, whole.raw_slice_index)
    assert got.report.windows == whole.report.windows
    assert got.report.model_detections == whole.report.model_detections


@pytest.mark.parametrize(
    ("fail_on", "strip", "message"),
    [  # 4 slices a row, batches of 2: strip k (rows 2k-1..) starts at call 4k - 3 for k >= 1
        (1, 0, "strip 0 (slice rows 0-1, pixel rows 0-83) failed: RuntimeError: model out"),
        (5, 1, "strip 1 (slice rows 2-3, pixel rows 72-155) failed: RuntimeError: model out"),
        (9, 2, "strip 2 (slice rows 4-4, pixel rows 144-191) failed: RuntimeError: model out"),
    ],
)
def test_a_failed_strip_is_named_and_a_rerun_resumes_equal_to_one_run(
    source: ArraySource, tmp_path: Path, fail_on: int, strip: int, message: str
) -> None:
    whole = Slicer(blob_model, **SLICER).run(source)
    first = FailingModel(fail_on)
    with pytest.raises(TilewiseError) as err:
        run_strips(
            Slicer(first, **SLICER), source, engine="local", strips=3,
            store=StripStore(tmp_path, SETTINGS),
        )  # fmt: skip
    assert message in str(err.value)
    assert f"recorded in {tmp_path}: rerun to resume" in str(err.value)
    assert isinstance(err.value.__cause__, RuntimeError)
    parts = sorted(p.name for p in (tmp_path / "parts").glob("strip-*.npz"))
    assert parts == [f"strip-{k:06d}.npz" for k in range(strip)]
    again = FailingModel()
    run = run_strips(
        Slicer(again, **SLICER), source, engine="local", strips=3,
        store=StripStore(tmp_path, SETTINGS),
    )  # fmt: skip
    _assert_same(run.prediction, whole)
    assert run.resumed == strip
    assert run.to_dict()["strips_resumed"] == strip
    done_before = sum(s.count for s in run.strips[:strip])
    assert again.images == len(whole.report.grid) - done_before  # only the strips not recorded
    assert len(list((tmp_path / "parts").glob("strip-*.npz"))) == 3


def test_a_finished_run_reruns_nothing(source: ArraySource, tmp_path: Path) -> None:
    slicer = Slicer(blob_model, **SLICER)
    first = run_strips(slicer, source, engine="local", strips=2, store=StripStore(tmp_path, {}))
    model = FailingModel(fail_on=1)  # any model call would fail
    run = run_strips(
        Slicer(model, **SLICER), source, engine="local", strips=2, store=StripStore(tmp_path, {})
    )
    assert (run.resumed, model.calls) == (2, 0)
    _assert_same(run.prediction, first.prediction)


@pytest.mark.parametrize(
    "change",
    [{"batch_size": 1}, {"batch_size": 7, "workers": 2}, {"pipeline": False, "contiguous": True}],
)
def test_a_rerun_may_change_how_strips_run(
    source: ArraySource, tmp_path: Path, change: dict
) -> None:
    """Regression: a rerun with a smaller --batch (after running out of memory) was refused
    as a run with other settings; batch size, workers and pipelining leave the results be."""
    whole = Slicer(blob_model, **SLICER).run(source)
    with pytest.raises(TilewiseError, match="strip 1 "):
        run_strips(
            Slicer(FailingModel(fail_on=5), **SLICER), source, engine="local", strips=3,
            store=StripStore(tmp_path, SETTINGS),
        )  # fmt: skip
    again = FailingModel()
    run = run_strips(
        Slicer(again, **{**SLICER, **change}), source, engine="local", strips=3,
        store=StripStore(tmp_path, SETTINGS),
    )  # fmt: skip
    assert run.resumed == 1
    assert again.images > 0
    _assert_same(run.prediction, whole)


def test_other_settings_are_refused_naming_them_unless_overwrite(
    source: ArraySource, tmp_path: Path
) -> None:
    slicer = Slicer(blob_model, **SLICER)
    run_strips(slicer, source, engine="local", strips=3, store=StripStore(tmp_path, SETTINGS))
    cases = [
        ({"strips": 2}, SETTINGS, "strips: [[0, 2], [2, 4], [4, 5]] -> [[0, 3], [3, 5]]"),
        ({"strips": 3}, {**SETTINGS, "model": "other"}, "model: 'blob' -> 'other'"),
        ({"strips": 3, "overlap": 0.5}, SETTINGS, "slicer: "),
    ]
    for change, settings, named in cases:
        other = Slicer(blob_model, **{**SLICER, "overlap": change.get("overlap", 0.25)})
        with pytest.raises(TilewiseError, match="holds a run with other settings") as err:
            run_strips(
                other, source, engine="local", strips=change["strips"],
                store=StripStore(tmp_path, settings),
            )  # fmt: skip
        assert named in str(err.value)
        assert "--overwrite" in str(err.value)
    run = run_strips(
        slicer, source, engine="local", strips=2,
        store=StripStore(tmp_path, SETTINGS, overwrite=True),
    )  # fmt: skip
    assert run.resumed == 0
    assert sorted(p.name for p in (tmp_path / "parts").iterdir()) == [
        "strip-000000.npz",
        "strip-000001.npz",
    ]


def test_an_unreadable_part_is_set_aside_and_its_strip_redone(
    source: ArraySource, tmp_path: Path
) -> None:
    slicer = Slicer(blob_model, **SLICER)
    whole = slicer.run(source)
    run_strips(slicer, source, engine="local", strips=3, store=StripStore(tmp_path, {}))
    (tmp_path / "parts" / "strip-000001.npz").write_bytes(b"not a pickle")
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        store = StripStore(tmp_path, {})
        run = run_strips(slicer, source, engine="local", strips=3, store=store)
    assert any(
        issubclass(w.category, TilewiseWarning) and "strip-000001.npz" in str(w.message)
        for w in seen
    )
    assert (run.resumed, store.corrupt) == (2, 1)
    assert (tmp_path / "parts" / "strip-000001.corrupt").exists()
    _assert_same(run.prediction, whole)


def test_part_files_without_the_run_settings_are_refused(
    source: ArraySource, tmp_path: Path
) -> None:
    slicer = Slicer(blob_model, **SLICER)
    run_strips(slicer, source, engine="local", strips=3, store=StripStore(tmp_path, {}))
    (tmp_path / "run.json").unlink()
    with pytest.raises(TilewiseError, match=r"part files without a run\.json"):
        run_strips(slicer, source, engine="local", strips=3, store=StripStore(tmp_path, {}))
