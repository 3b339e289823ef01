"""Training-time mosaic and 90-degree turns (``SplitData``, ``TrainConfig``, ``tilewise train``)."""

from __future__ import annotations

import inspect
import tempfile
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

pytest.importorskip("torch")

from tilewise import TilewiseError
from tilewise.datasets import DatasetBuilder
from tilewise.datasets.augment import (
    BoxRules,
    DropCounts,
    Sample,
    bbox_safe_crop,
    flip,
    rotate90,
    scale,
)
from tilewise.training import TrainConfig
from tilewise.training.data import Batch, SplitData, colour_jitter

# one image: (width, height, boxes xyxy, class ids)
Spec = tuple[int, int, Sequence[Sequence[float]], Sequence[int]]


def make_data(root: Path, specs: Sequence[Spec], img_size: int, **kw: object) -> SplitData:
    """A train split of ``specs`` written under ``root``; each box is painted white."""
    names = [f"c{c}" for c in range(max((c for *_, cs in specs for c in cs), default=0) + 1)]
    b = DatasetBuilder(names)
    for n, (w, h, boxes, classes) in enumerate(specs):
        img = np.full((h, w, 3), 40 + 20 * n, np.uint8)
        i = b.add_image(f"im{n}.png", w, h, split="train")
        for box, c in zip(boxes, classes, strict=True):
            x1, y1, x2, y2 = (int(v) for v in box)
            img[y1:y2, x1:x2] = 255
            b.add_box(i, box, c)
        cv2.imwrite(str(root / f"im{n}.png"), img)
    ds = b.build(root=root)
    return SplitData(ds, np.arange(len(specs)), img_size, **kw)  # type: ignore[arg-type]


def epoch(data: SplitData, seed: int = 0, ep: int = 0, batch: int = 4, **kw: bool) -> list[Batch]:
    return list(data.batches(batch, seed, ep, **kw))


def same(a: list[Batch], b: list[Batch]) -> bool:
    return len(a) == len(b) and all(
        np.array_equal(x.images, y.images) and np.array_equal(x.targets, y.targets)
        for x, y in zip(a, b, strict=True)
    )


def corners(t: np.ndarray) -> np.ndarray:
    """Target rows (image, class, cx, cy, w, h) -> (n, 4) xyxy."""
    return np.column_stack([t[:, 2:4] - t[:, 4:6] / 2, t[:, 2:4] + t[:, 4:6] / 2])


# four 48 x 40 images, each with one 6 x 6 object of its own class: the object always fits
# a mosaic quadrant (at least img_size / 4 = 8 px), so nothing is ever dropped
DISTINCT: list[Spec] = [
    (48, 40, [[5 + 8 * c, 6 + 5 * c, 11 + 8 * c, 12 + 5 * c]], [c]) for c in range(4)
]

# objects too large to fit a quadrant together: quadrant cuts and scale drop some
CROWDED: list[Spec] = [
    (64, 64, [[0, 0, 20, 20], [40, 30, 62, 50], [22, 44, 30, 64]], [0, 1, 0]),
    (40, 56, [[2, 30, 38, 54], [10, 2, 14, 5], [20, 10, 36, 26]], [1, 1, 0]),
    (30, 30, [[0, 0, 30, 30], [5, 5, 8, 8], [20, 20, 29, 29]], [0, 0, 1]),
]


@pytest.mark.parametrize("n_images", [1, 2, 4])
def test_mosaic_batch_shape_sources_and_counts(tmp_path: Path, n_images: int) -> None:
    data = make_data(tmp_path, DISTINCT[:n_images], 32, mosaic=1.0, hflip=0.5, rot90=0.5)
    batches = epoch(data, batch=4)
    assert [b.images.shape for b in batches] == [(n_images, 32, 32, 3)]
    t = batches[0].targets
    # four sources per mosaic, one whole object each (with replacement for < 4 images)
    assert np.bincount(t[:, 0].astype(int), minlength=n_images).tolist() == [4] * n_images
    xyxy = corners(t)
    assert np.all(xyxy >= 0)
    assert np.all(xyxy <= 32)
    np.testing.assert_allclose(t[:, 4:], 6.0)
    assert data.counts.kept == 4 * n_images
    assert data.counts.total_dropped == 0
    if n_images == 4:
        per_image = [len(set(t[t[:, 0] == j, 1].tolist())) for j in range(4)]
        assert max(per_image) >= 2  # objects of several source images in one mosaic
        assert set(t[:, 1].astype(int).tolist()) == {0, 1, 2, 3}
    else:
        assert set(t[:, 1].astype(int).tolist()) <= set(range(n_images))


@pytest.mark.parametrize(("mosaic", "rot90"), [(1.0, 0.0), (0.0, 1.0), (0.5, 0.5)])
def test_batches_are_determined_by_seed_and_epoch(
    tmp_path: Path, mosaic: float, rot90: float
) -> None:
    kw = {"mosaic": mosaic, "rot90": rot90, "scale_range": (0.7, 1.3), "jitter": 0.2}
    a = make_data(tmp_path, CROWDED, 32, **kw)
    b = make_data(tmp_path, CROWDED, 32, **kw)
    assert same(epoch(a, seed=3, ep=0, batch=2), epoch(b, seed=3, ep=0, batch=2))
    # a run resumed at epoch 1 (fresh object) sees what an uninterrupted run sees there
    first, second = epoch(a, seed=3, ep=1, batch=2), epoch(b, seed=3, ep=1, batch=2)
    assert same(first, second)
    assert a.counts == b.counts
    assert not same(epoch(a, seed=3, ep=0, batch=2), first)
    assert not same(epoch(a, seed=4, ep=1, batch=2), first)


@pytest.mark.parametrize("mosaic", [0.0, 1.0])
def test_every_source_object_is_kept_or_counted_as_dropped(tmp_path: Path, mosaic: float) -> None:
    rules = BoxRules(min_visibility=0.5, min_size=3.0)
    data = make_data(
        tmp_path, CROWDED, 32, mosaic=mosaic, rot90=0.5, scale_range=(0.3, 1.2), rules=rules
    )
    targets = 0
    epochs = 4
    for ep in range(epochs):
        targets += sum(len(b.targets) for b in epoch(data, ep=ep, batch=2))
    sources = 3 * len(CROWDED) * epochs * (4 if mosaic else 1)  # 3 objects in every image
    c = data.counts
    assert c.kept == targets
    assert c.kept + c.total_dropped == sources
    assert c.total_dropped > 0
    assert sum(c.by_class.values()) == c.total_dropped


def test_rot90_turns_image_and_boxes_as_rotate90(tmp_path: Path) -> None:
    spec: Spec = (32, 32, [[2, 4, 10, 8]], [0])
    data = make_data(tmp_path, [spec], 32, hflip=0.0, rot90=1.0)
    plain = data.sample(0)
    turned = {k: rotate90(plain, k) for k in (1, 2, 3)}
    seen = set()
    for ep in range(12):
        (b,) = epoch(data, ep=ep)
        got = corners(b.targets)
        match = [
            k
            for k, s in turned.items()
            if np.array_equal(b.images[0], s.image) and np.allclose(got, s.boxes)
        ]
        assert len(match) == 1, f"epoch {ep}: not a 90/180/270-degree turn"
        seen.add(match[0])
    assert seen == {1, 2, 3}
    assert data.counts.kept == 12
    assert data.counts.total_dropped == 0
    k1 = turned[1].boxes.tolist()
    assert k1 == [[4.0, 22.0, 8.0, 30.0]]  # counter-clockwise, as np.rot90


def test_validation_ignores_mosaic_and_rot90(tmp_path: Path) -> None:
    specs: list[Spec] = [DISTINCT[0], (32, 32, [[2, 4, 10, 8]], [1])]
    on = make_data(tmp_path, specs, 32, mosaic=1.0, rot90=1.0, scale_range=(0.5, 2), jitter=0.5)
    off = make_data(tmp_path, specs, 32)
    a = epoch(on, augment=False)
    assert same(a, epoch(off, augment=False))
    assert same(a, epoch(on, seed=9, ep=5, augment=False))
    # the 32 x 32 image is passed through untouched
    np.testing.assert_array_equal(a[0].images[1], on.image(1))
    assert a[0].targets[a[0].targets[:, 0] == 1].tolist() == [[1, 1, 6, 6, 8, 4]]
    assert on.counts.kept == on.counts.total_dropped == 0


def _old_augmented(data: SplitData, k: int, rng: np.random.Generator, counts: DropCounts) -> Sample:
    """``SplitData.augmented`` before mosaic and rot90 existed (the bundled model's recipe)."""
    s = data.sample(k)
    step = DropCounts()
    if data.hflip and rng.random() < data.hflip:
        s = flip(s, horizontal=True)
    if data.vflip and rng.random() < data.vflip:
        s = flip(s, horizontal=False)
    lo, hi = data.scale_range
    if (lo, hi) != (1.0, 1.0):
        s = scale(s, float(rng.uniform(lo, hi)), rules=data.rules, counts=step)
    n = data.img_size
    if s.wh != (n, n):
        s = bbox_safe_crop(s, (n, n), rng, rules=data.rules, counts=step)
    step.kept = len(s)
    counts.merge(step)
    if data.jitter:
        s = s.replace(image=colour_jitter(s.image, rng, data.jitter))
    return s


def test_zero_probabilities_reproduce_the_earlier_augmentation(tmp_path: Path) -> None:
    kw = {"hflip": 0.5, "vflip": 0.5, "scale_range": (0.75, 1.33), "jitter": 0.25}
    data = make_data(tmp_path, CROWDED, 32, mosaic=0.0, rot90=0.0, **kw)
    for ep in range(3):
        rng = np.random.default_rng([7, ep, 1])
        order = rng.permutation(len(data)).tolist()
        counts = DropCounts()
        expected = [_old_augmented(data, k, rng, counts) for k in order]
        data.counts = DropCounts()
        (b,) = epoch(data, seed=7, ep=ep, batch=8)
        for j, s in enumerate(expected):
            np.testing.assert_array_equal(b.images[j], s.image)
            np.testing.assert_allclose(corners(b.targets[b.targets[:, 0] == j]), s.boxes, atol=1e-4)
        assert data.counts == counts


@pytest.mark.parametrize(
    ("field", "value"), [("mosaic", 1.5), ("mosaic", -0.1), ("rot90", 2), ("rot90", True)]
)
def test_config_refuses_bad_probabilities(field: str, value: object) -> None:
    with pytest.raises(TilewiseError, match=rf"{field} must be a probability in \[0, 1\]"):
        TrainConfig(data="d", **{field: value})  # type: ignore[arg-type]
    with pytest.raises(TilewiseError, match=field):
        SplitData(DatasetBuilder(["a"]).build(), np.zeros(0), 32, **{field: 1.5})  # type: ignore[arg-type]


def test_config_round_trip_and_older_configs() -> None:
    cfg = TrainConfig(data="d", mosaic=0.25, rot90=1)
    d = cfg.to_dict()
    assert (d["mosaic"], d["rot90"]) == (0.25, 1.0)
    again = TrainConfig.from_dict(d)
    assert (again.mosaic, again.rot90) == (0.25, 1.0)
    assert again == cfg
    old = {k: v for k, v in d.items() if k not in ("mosaic", "rot90")}
    loaded = TrainConfig.from_dict(old)
    assert (loaded.mosaic, loaded.rot90) == (0.0, 0.0)  # as that older run trained


@pytest.mark.parametrize(
    ("saved", "now", "expected"),
    [
        ({}, {}, []),
        ({"mosaic": 0.5, "rot90": 0.5}, {"mosaic": 0.5, "rot90": 0.5}, []),
        ({"mosaic": 0.5}, {}, [("mosaic", 0.5, 0.0)]),
        ({"rot90": 1.0, "hflip": 0.0}, {}, [("hflip", 0.0, 0.5), ("rot90", 1.0, 0.0)]),
        (
            {"colour_jitter": 0.1},
            {"mosaic": 1.0},
            [("mosaic", 0.0, 1.0), ("colour_jitter", 0.1, 0.25)],
        ),
    ],
)
def test_resume_reports_augmentation_changes(saved: dict, now: dict, expected: list) -> None:
    from tilewise.training.train import augmentation_changes

    saved_cfg = TrainConfig(data="d", **saved).to_dict()
    assert augmentation_changes(saved_cfg, TrainConfig(data="d", **now)) == expected


def test_resuming_an_older_run_compares_against_what_it_did() -> None:
    from tilewise.training.train import augmentation_changes

    old = {k: v for k, v in TrainConfig(data="d").to_dict().items() if k not in ("mosaic", "rot90")}
    assert augmentation_changes(old, TrainConfig(data="d")) == []  # it trained without them
    assert augmentation_changes(old, TrainConfig(data="d", mosaic=0.5, rot90=1)) == [
        ("rot90", 0.0, 1.0),
        ("mosaic", 0.0, 0.5),
    ]
    assert augmentation_changes({}, TrainConfig(data="d")) == []


def test_cli_and_recipe_defaults() -> None:
    from tilewise.cli import train_cmd
    from tilewise.training.recipe import RECIPE

    params = inspect.signature(train_cmd.train).parameters
    fields = TrainConfig.__dataclass_fields__
    for name in ("mosaic", "rot90"):
        assert params[name].default == fields[name].default
        assert RECIPE[name] == 0.0  # the bundled model was trained without them


def test_cli_passes_and_checks_the_options(tmp_path: Path) -> None:
    import typer
    from typer.testing import CliRunner

    from tilewise.cli.console import TilewiseGroup
    from tilewise.cli.train_cmd import export, train

    app = typer.Typer(cls=TilewiseGroup)
    app.command("train")(train)
    app.command("export")(export)
    result = CliRunner().invoke(app, ["train", str(tmp_path), "--mosaic", "1.5"])
    assert result.exit_code == 2
    assert "mosaic must be a probability" in result.output
    result = CliRunner().invoke(app, ["train", "--help"])
    assert "--mosaic" in result.output
    assert "--rot90" in result.output


@settings(max_examples=25, deadline=None)
@given(
    images=st.lists(
        st.tuples(
            st.integers(12, 72),
            st.integers(12, 72),
            st.lists(
                st.tuples(st.floats(0, 1), st.floats(0, 1), st.integers(1, 40), st.integers(1, 40)),
                max_size=4,
            ),
        ),
        min_size=1,
        max_size=5,
    ),
    seed=st.integers(0, 2**16),
    rot90=st.sampled_from([0.0, 0.5, 1.0]),
)
def test_property_mosaic_targets_are_inside_and_positive(
    images: list[tuple[int, int, list[tuple[float, float, int, int]]]], seed: int, rot90: float
) -> None:
    specs: list[Spec] = []
    for w, h, objs in images:
        boxes = []
        for fx, fy, bw, bh in objs:
            x1, y1 = int(fx * (w - 1)), int(fy * (h - 1))
            boxes.append([x1, y1, min(x1 + bw, w), min(y1 + bh, h)])
        specs.append((w, h, boxes, [j % 3 for j in range(len(boxes))]))
    with tempfile.TemporaryDirectory() as tmp:
        data = make_data(
            Path(tmp), specs, 32, mosaic=1.0, rot90=rot90, vflip=0.5, scale_range=(0.5, 1.5)
        )
        batches = epoch(data, seed=seed, ep=seed % 3, batch=3)
    t = np.concatenate([b.targets for b in batches])
    assert sum(len(b.images) for b in batches) == len(specs)
    assert all(b.images.shape[1:] == (32, 32, 3) for b in batches)
    assert np.all(t[:, 4:] > 0)
    xyxy = corners(t)
    assert np.all(xyxy >= -1e-4)
    assert np.all(xyxy <= 32 + 1e-4)
    assert data.counts.kept == len(t)
