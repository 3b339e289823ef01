"""Sweeps: grid expansion, stable cache keys, per-setting cache, best per metric."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from tilewise import Detections, TilewiseError, TilewiseWarning
from tilewise.evaluation import EvalDataset, SweepPoint, SweepResult, expand_grid, sweep
from tilewise.evaluation.sweep import setting_key
from tilewise.evaluation.synthetic import SquareDetector, bright_squares

CLASSES = {0: 1, 1: 2}


class CountingFactory:
    """A stand-in slicer factory: non-overlapping tiles, no merging; counts builds."""

    def __init__(self) -> None:
        self.built: list[dict] = []

    def __call__(self, model, slice_wh=256, full_frame=False, **rest):
        self.built.append({"slice_wh": slice_wh, "full_frame": full_frame, **rest})

        def predict(image: np.ndarray) -> Detections:
            h, w = image.shape[:2]
            parts = []
            for y in range(0, h, slice_wh):
                for x in range(0, w, slice_wh):
                    parts.append(
                        model([image[y : y + slice_wh, x : x + slice_wh]])[0].shifted(x, y)
                    )
            if full_frame:
                parts.append(model([image])[0])
            return Detections.concatenate(parts)

        return predict


@pytest.fixture(scope="module")
def dataset() -> EvalDataset:
    gt, images = bright_squares(seed=7, num_images=2, image_size=(768, 512))
    return EvalDataset.from_arrays(gt, images, name="squares")


def run(dataset, cache, grid, factory, **kw):
    kw.setdefault("model_id", "squares-v1")
    return sweep(
        dataset, SquareDetector(), grid, cache_dir=cache, slicer_factory=factory,
        class_to_category=CLASSES, progress=False, **kw,
    )  # fmt: skip


GRID = {"slice_wh": [256, 768], "full_frame": [False, True]}


def test_rerun_only_computes_what_changed(dataset, tmp_path) -> None:
    factory = CountingFactory()
    first = run(dataset, tmp_path, GRID, factory)
    assert first.computed == 4
    assert len(factory.built) == 4
    assert len(list(tmp_path.glob("*.json"))) == 4

    second = run(dataset, tmp_path, GRID, factory)
    assert second.computed == 0
    assert len(factory.built) == 4
    assert [p.stats for p in second.points] == [p.stats for p in first.points]
    assert [p.wall_time_s for p in second.points] == [p.wall_time_s for p in first.points]

    grown = run(dataset, tmp_path, {**GRID, "slice_wh": [256, 384, 768]}, factory)
    assert grown.computed == 2  # only slice_wh=384, with and without full frame
    assert factory.built[-2:] == [
        {"slice_wh": 384, "full_frame": False},
        {"slice_wh": 384, "full_frame": True},
    ]

    other_model = run(dataset, tmp_path, GRID, factory, model_id="squares-v2")
    assert other_model.computed == 4

    other_eval = run(dataset, tmp_path, GRID, factory, max_dets=[100])
    assert other_eval.computed == 4


def test_changed_dataset_is_not_served_from_cache(dataset, tmp_path) -> None:
    factory = CountingFactory()
    run(dataset, tmp_path, {"slice_wh": [256]}, factory)
    gt, images = bright_squares(seed=7, num_images=2, image_size=(768, 512))
    images[1] = images[1].copy()
    images[1][0, 0] = 255
    changed = EvalDataset.from_arrays(gt, images)
    assert changed.identity != dataset.identity
    assert run(changed, tmp_path, {"slice_wh": [256]}, factory).computed == 1


def test_corrupt_cache_file_is_recomputed(dataset, tmp_path) -> None:
    factory = CountingFactory()
    first = run(dataset, tmp_path, {"slice_wh": [256]}, factory)
    path = tmp_path / f"{first.points[0].key}.json"
    path.write_text("{not json")
    with pytest.warns(TilewiseWarning, match="unreadable sweep cache"):
        again = run(dataset, tmp_path, {"slice_wh": [256]}, factory)
    assert again.computed == 1
    assert json.loads(path.read_text())["key"] == first.points[0].key


def test_cache_file_content(dataset, tmp_path) -> None:
    res = run(dataset, tmp_path, {"slice_wh": [256]}, CountingFactory(), base_settings={"x": 1})
    point = res.points[0]
    data = json.loads((tmp_path / f"{point.key}.json").read_text())
    assert data["settings"] == {"x": 1, "slice_wh": 256}
    assert data["model"] == "squares-v1"
    assert data["dataset"] == dataset.identity
    assert data["stats"]["AP@100"] == pytest.approx(point.stats["AP@100"])
    assert data["num_images"] == 2
    assert not list(tmp_path.glob(".*tmp*"))  # atomic writes leave no temporaries


def test_slicing_wins_small_objects_and_best_reports_cost(dataset, tmp_path) -> None:
    res = run(dataset, tmp_path, GRID, CountingFactory())
    best_small = res.best("AP_small@100")
    assert best_small.settings["slice_wh"] == 256
    per_metric = res.best_per_metric(["AP@100", "AP_small@100", "AR@100"])
    assert set(per_metric) == {"AP@100", "AP_small@100", "AR@100"}
    table = res.table()
    assert "x fastest" in table
    assert "all settings (4 computed now)" in table
    md = res.to_markdown()
    assert "## Sweep: best setting per metric" in md
    assert md.count("slice_wh=256") >= 1
    saved = json.loads(res.write_json(tmp_path / "out" / "sweep.json").read_text())
    assert len(saved["points"]) == 4


def test_best_breaks_ties_by_time_and_skips_undefined() -> None:
    slow = SweepPoint({"s": 1}, {"AP@100": 0.5, "AP_large@100": math.nan}, 2.0, 1, 1.0, "a")
    fast = SweepPoint({"s": 2}, {"AP@100": 0.5, "AP_large@100": math.nan}, 1.0, 1, 1.0, "b")
    res = SweepResult((slow, fast))
    assert res.best().settings == {"s": 2}
    assert "AP_large@100" not in res.best_per_metric()
    with pytest.raises(TilewiseError, match="undefined for every setting"):
        res.best("AP_large@100")
    with pytest.raises(TilewiseError, match="no metric"):
        res.best("AP@7")


def test_expand_grid_and_keys() -> None:
    combos = expand_grid({"a": [1, 2], "b": ["x", "y", "z"]})
    assert len(combos) == 6
    assert combos[0] == {"a": 1, "b": "x"}
    assert combos[-1] == {"a": 2, "b": "z"}
    assert expand_grid({}) == [{}]
    with pytest.raises(TilewiseError, match="non-empty list"):
        expand_grid({"a": []})
    with pytest.raises(TilewiseError, match="non-empty list"):
        expand_grid({"merge": "nms"})
    k = setting_key("d", "m", {"a": 1, "b": 2.5}, {"e": 1})
    assert k == setting_key("d", "m", {"b": 2.5, "a": 1}, {"e": 1})
    assert k != setting_key("d", "m", {"a": 1, "b": 2.5}, {"e": 2})
    assert k != setting_key("d2", "m", {"a": 1, "b": 2.5}, {"e": 1})
    assert len(k) == 24
    with pytest.raises(TilewiseError, match="plain JSON"):
        setting_key("d", "m", {"a": object()}, {})
    with pytest.raises(TilewiseError, match="plain JSON"):
        setting_key("d", "m", {"a": math.nan}, {})


def test_model_id_is_required(dataset, tmp_path) -> None:
    with pytest.raises(TilewiseError, match="model_id"):
        run(dataset, tmp_path, GRID, CountingFactory(), model_id="")


def test_progress_bar(dataset, tmp_path, capsys) -> None:
    sweep(
        dataset, SquareDetector(), {"slice_wh": [256]}, model_id="m", cache_dir=tmp_path,
        slicer_factory=CountingFactory(), class_to_category=CLASSES, progress=True,
    )  # fmt: skip
    err = capsys.readouterr().err
    assert "sweep" in err
    assert "1/1" in err
