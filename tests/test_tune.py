"""The settings tuner (issue 15): seeded search on the sweep cache, budget, config."""

from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("optuna")

from tilewise import Slicer, TilewiseError
from tilewise.evaluation import EvalDataset
from tilewise.evaluation.synthetic import SquareDetector, bright_squares
from tilewise.evaluation.tune import SearchSpace, model_pixels, split_dataset, tune
from tilewise.slicing import SlicerConfig

SPACE = SearchSpace(
    slice_wh=(64, 96, 128),
    overlap=(0.1, 0.2),
    zoom=(1.0, 2.0),
    scales=(None, [[128, 1.0, 12.0, None], [64, 2.0, None, 12.0]]),
    merge=("nms", "greedy_nmm"),
    metric=("iou", "ios"),
    threshold=(0.5,),
    edge_margin=(None,),
    full_frame=(False,),
)


@pytest.fixture(scope="module")
def data():
    gt, images = bright_squares(num_images=2, image_size=(256, 192))
    return EvalDataset.from_arrays(gt, images)


def _run(data, tmp_path, name, **kw):
    return tune(
        data,
        SquareDetector(),
        model_id="squares",
        cache_dir=tmp_path / name,
        trials=6,
        objective="AP",
        seed=kw.pop("seed", 3),
        space=SPACE,
        default_settings={"slice_wh": 128, "overlap": 0.2},
        class_to_category={0: 1, 1: 2},
        **kw,
    )


def test_same_seed_same_search(data, tmp_path):
    a = _run(data, tmp_path, "a", budget_x=1000.0)
    b = _run(data, tmp_path, "b", budget_x=1000.0)
    assert [t.settings for t in a.trials] == [t.settings for t in b.trials]
    assert [t.value for t in a.trials] == [t.value for t in b.trials]
    assert a.chosen.settings == b.chosen.settings
    assert a.config().settings == b.config().settings
    other = _run(data, tmp_path, "c", seed=4, budget_x=1000.0)
    assert [t.settings for t in other.trials] != [t.settings for t in a.trials]


def test_every_evaluation_is_cached_on_the_sweep_cache(data, tmp_path):
    first = _run(data, tmp_path, "a")
    again = _run(data, tmp_path, "a")
    assert not any(t.point.cached for t in first.trials[:1])
    assert all(t.point.cached for t in again.trials)
    assert again.default.point.cached


def test_chosen_setting_is_within_budget_and_table_plot_config(data, tmp_path):
    result = _run(data, tmp_path, "a", budget_x=2.0)
    assert result.budget_met
    assert result.chosen.seconds_per_image <= 2.0 * result.default.seconds_per_image
    assert "Pareto front" in result.table()
    assert result.plot(tmp_path / "pareto.png").stat().st_size > 1000
    path = result.config().save(tmp_path / "best.json")
    slicer = Slicer.from_config(SquareDetector(), path)
    assert isinstance(slicer, Slicer)
    assert json.loads(path.read_text())["tuning"]["objective"] == "AP"


def test_budget_no_setting_meets_reports_the_fastest(data, tmp_path):
    result = _run(data, tmp_path, "a", budget_x=1e-9)
    assert not result.budget_met
    fastest = min([result.default, *result.trials], key=lambda t: t.seconds_per_image)
    assert result.chosen.seconds_per_image == fastest.seconds_per_image
    assert "NO setting meets the budget" in result.table()


def test_config_from_another_model_is_refused_naming_the_difference(tmp_path):
    class M:
        names = ("car", "bus")
        imgsz = (320, 320)

        def __call__(self, images):
            return []

    cfg = SlicerConfig({"slice_wh": 256}, {"names": ["car", "bus"], "imgsz": [640, 640]})
    with pytest.raises(TilewiseError, match=r"input size 640x640 .* this model's is 320x320"):
        Slicer.from_config(M(), cfg)
    cfg = SlicerConfig({"slice_wh": 256}, {"names": ["car"], "imgsz": [320, 320]})
    with pytest.raises(TilewiseError, match=r"classes \['car'\], but this model has"):
        Slicer.from_config(M(), cfg)
    with pytest.raises(TilewiseError, match="unknown config setting"):
        SlicerConfig({"slice": 256})
    with pytest.raises(TilewiseError, match="config file not found"):
        SlicerConfig.load(tmp_path / "missing.json")


def test_split_holds_out_images_reproducibly(tmp_path):
    import cv2

    gt = {"images": [], "annotations": [], "categories": [{"id": 1, "name": "a"}]}
    for i in range(5):
        cv2.imwrite(str(tmp_path / f"{i}.png"), np.zeros((8, 8, 3), np.uint8))
        gt["images"].append({"id": i, "file_name": f"{i}.png", "width": 8, "height": 8})
    search, held = split_dataset(gt, tmp_path, 0.4, seed=1)
    again, _ = split_dataset(gt, tmp_path, 0.4, seed=1)
    ids = set(search.ground_truth.image_ids)
    assert ids == set(again.ground_truth.image_ids)
    assert not ids & set(held.ground_truth.image_ids)
    assert len(held) == 2


class _FixedInput:
    """A model that letterboxes every image into a fixed 32 x 32 input."""

    imgsz = (32, 32)

    def __call__(self, images):
        return []


@pytest.mark.parametrize(
    ("model", "settings", "image_wh", "pixels"),
    [
        # 2 x 1 slices of 64 px, no overlap
        (lambda ims: [], {"slice_wh": 64, "overlap": 0.0}, (128, 64), 2 * 64 * 64),
        # zoom 1.5: each 64 px slice is 96 px for the model
        (lambda ims: [], {"slice_wh": 64, "overlap": 0.0, "zoom": 1.5}, (128, 64), 2 * 96 * 96),
        # + the full frame at the image's size (not zoomed)
        (
            lambda ims: [],
            {"slice_wh": 64, "overlap": 0.0, "full_frame": True},
            (128, 64),
            2 * 64 * 64 + 128 * 64,
        ),
        # overlap 0.5 (32 px) on 100 px: x starts 0, 32 and 36 (the last one at the edge)
        (lambda ims: [], {"slice_wh": 64, "overlap": 0.5}, (100, 64), 3 * 64 * 64),
        # two scales: 64 px (2 slices) + 32 px at zoom 2 (4 x 2 slices of 64 px)
        (
            lambda ims: [],
            {"overlap": 0.0, "scales": [[64, 1.0], [32, 2.0, None, 12.0]]},
            (128, 64),
            2 * 64 * 64 + 8 * 64 * 64,
        ),
        # a fixed-input model: every model image costs its input, whatever the slice
        (_FixedInput(), {"slice_wh": 16, "overlap": 0.0}, (64, 32), 8 * 32 * 32),
        (_FixedInput(), {"slice_wh": 64, "overlap": 0.0, "full_frame": True}, (64, 32), 2 * 1024),
        # slices larger than the image: one image-sized slice
        (lambda ims: [], {"slice_wh": 512, "overlap": 0.2}, (100, 60), 100 * 60),
    ],
)
def test_model_pixels_table(model, settings, image_wh, pixels):
    assert model_pixels(model, settings, image_wh) == pixels


def test_model_pixels_cost_is_deterministic_beyond_the_first_generation(data, tmp_path):
    """With an estimated time, later generations and the budget choice repeat exactly."""
    runs = [
        _run(data, tmp_path, name, budget_x=2.0, cost="model_pixels", population=3)
        for name in ("a", "b")
    ]
    a, b = runs
    assert [t.settings for t in a.trials] == [t.settings for t in b.trials]
    assert [t.model_pixels for t in a.trials] == [t.model_pixels for t in b.trials]
    assert a.chosen.settings == b.chosen.settings
    assert a.budget_met == b.budget_met
    d = a.default
    for t in a.trials:
        ratio = t.seconds_per_image / d.seconds_per_image
        assert ratio == pytest.approx(t.model_pixels / d.model_pixels)
        assert t.measured_seconds_per_image == t.point.wall_time_s / t.point.num_images
    within = [t for t in [d, *a.trials] if t.model_pixels <= 2.0 * d.model_pixels]
    assert a.chosen.value == max(t.value for t in within)
    assert a.config().tuning["cost"] == "model_pixels"
    assert "time estimated from the pixels" in a.table()


def test_bad_cost_and_missing_image_sizes_are_refused(data, tmp_path):
    with pytest.raises(TilewiseError, match="cost must be one of seconds, model_pixels"):
        _run(data, tmp_path, "a", cost="flops")
    gt, images = bright_squares(num_images=1, image_size=(64, 64))
    del gt["images"][0]["width"], gt["images"][0]["height"]
    with pytest.raises(TilewiseError, match="needs every image's width and height"):
        _run(EvalDataset.from_arrays(gt, images), tmp_path, "b", cost="model_pixels")


@pytest.fixture(scope="module")
def dynamic_model(tmp_path_factory):
    """A 64 px ONNX graph with a dynamic height and width: zoom enlarges its input."""
    pytest.importorskip("onnx")
    from tilewise.models import OnnxDetector
    from tilewise.models.testing import constant_detector_onnx

    path = tmp_path_factory.mktemp("dyn") / "m.onnx"
    return OnnxDetector(constant_detector_onnx(path, dynamic_hw=True))


@pytest.mark.parametrize(
    ("settings", "pixels"),
    [
        # zoom 1: the 64 px input, like a fixed graph
        ({"slice_wh": 32, "overlap": 0.0}, 8 * 64 * 64),
        # zoom 1.5: each model image is 96 x 96
        ({"slice_wh": 32, "overlap": 0.0, "zoom": 1.5}, 8 * 96 * 96),
        # zoom 1.25: the 80 px box is padded to 96 (the stride, 32)
        ({"slice_wh": 32, "overlap": 0.0, "zoom": 1.25}, 8 * 96 * 96),
        # the full frame is not zoomed: one 64 px model image more
        ({"slice_wh": 32, "overlap": 0.0, "zoom": 2.0, "full_frame": True}, 8 * 128 * 128 + 4096),
        # two scales: 64 px slices at zoom 1 (2) + 32 px slices at zoom 2 (8, 128 px each)
        ({"overlap": 0.0, "scales": [[64, 1.0], [32, 2.0]]}, 2 * 4096 + 8 * 128 * 128),
    ],
)
def test_model_pixels_of_a_model_that_zooms_its_input(dynamic_model, settings, pixels):
    assert dynamic_model.zooms_input
    assert model_pixels(dynamic_model, settings, (128, 64)) == pixels


def test_default_space_searches_zoom_for_a_model_that_zooms_its_input(dynamic_model):
    from tilewise.evaluation.tune import default_space

    # 1.25, 1.4 and 1.75 of a 64 px input are padded to 96 and 128 px (stride 32): 1.5 and 2
    assert default_space(dynamic_model, 64).zoom == (1.0, 1.5, 2.0)
    fixed = type("Fixed", (), {"imgsz": (64, 64)})()
    assert default_space(fixed, 64).zoom == (1.0,)
    assert default_space(lambda ims: [], 64).zoom == (1.0, 1.5, 2.0)


def test_budget_constraint_is_seeded_and_steers_the_search(data, tmp_path):
    """The budget as a sampler constraint: the same seed repeats the search exactly; it
    changes which settings later generations breed (not the first, random one)."""

    def run(name, constrained):
        return tune(
            data,
            SquareDetector(),
            model_id="squares",
            cache_dir=tmp_path / name,
            trials=12,
            objective="AP",
            seed=3,
            space=SPACE,
            default_settings={"slice_wh": 128, "overlap": 0.2},
            class_to_category={0: 1, 1: 2},
            budget_x=1.5,
            cost="model_pixels",
            population=4,
            budget_constraint=constrained,
        )

    a, b = run("a", True), run("b", True)
    assert [t.settings for t in a.trials] == [t.settings for t in b.trials]
    assert a.chosen.settings == b.chosen.settings
    plain = run("a", False)  # the same cache: nothing re-evaluated
    assert [t.settings for t in plain.trials[:4]] == [t.settings for t in a.trials[:4]]
    assert [t.settings for t in plain.trials] != [t.settings for t in a.trials]
    assert a.chosen.seconds_per_image <= 1.5 * a.default.seconds_per_image


def test_skip_over_budget_evaluates_only_settings_within_it(data, tmp_path):
    """With an estimated time, a setting over the budget is counted, never evaluated, and
    the search goes on until ``trials`` settings are evaluated."""
    result = _run(data, tmp_path, "a", budget_x=1.5, cost="model_pixels", skip_over_budget=True)
    limit = 1.5 * result.default.seconds_per_image
    assert result.skipped  # this seed proposes some settings over 1.5x
    assert len(result.trials) == 6
    assert all(t.seconds_per_image <= limit for t in result.trials)
    for s in result.skipped:
        assert s.seconds_per_image > limit
        assert s.model_pixels > 1.5 * result.default.model_pixels
    numbers = sorted([t.number for t in result.trials] + [s.number for s in result.skipped])
    assert numbers == list(range(6 + len(result.skipped)))
    # the sweep cache holds the default and the evaluated trials only
    assert len(list((tmp_path / "a").rglob("*.json"))) == 1 + len(
        {t.point.key for t in result.trials}
    )
    assert f"{len(result.skipped)} settings proposed over the budget" in result.table()
    assert result.config().tuning["skipped_over_budget"] == len(result.skipped)
    again = _run(data, tmp_path, "b", budget_x=1.5, cost="model_pixels", skip_over_budget=True)
    assert [t.settings for t in again.trials] == [t.settings for t in result.trials]
    assert [s.settings for s in again.skipped] == [s.settings for s in result.skipped]
    with pytest.raises(TilewiseError, match="skip_over_budget needs cost='model_pixels'"):
        _run(data, tmp_path, "c", skip_over_budget=True)


def test_skip_over_budget_stops_after_its_proposal_cap(data, tmp_path):
    """A budget nothing but the default meets: SKIP_PROPOSALS_X proposals per trial, then
    the default is chosen."""
    from tilewise.evaluation.tune import SKIP_PROPOSALS_X

    space = SearchSpace(slice_wh=(64,), overlap=(0.5,), zoom=(2.0,))
    result = tune(
        data,
        SquareDetector(),
        model_id="squares",
        cache_dir=tmp_path / "a",
        trials=2,
        objective="AP",
        space=space,
        default_settings={"slice_wh": 128, "overlap": 0.2},
        class_to_category={0: 1, 1: 2},
        budget_x=1.5,
        cost="model_pixels",
        skip_over_budget=True,
    )
    assert result.trials == []
    assert len(result.skipped) == 2 * SKIP_PROPOSALS_X
    assert result.chosen is result.default
    assert result.budget_met
