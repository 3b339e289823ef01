from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("sklearn")
pytest.importorskip("skimage")

import typer
from typer.testing import CliRunner

from tilewise import TilewiseError
from tilewise.cli.console import TilewiseGroup
from tilewise.cli.synth_cmd import synth
from tilewise.synth import (
    CLASS_NAMES,
    SynthConfig,
    assign_scene_splits,
    generate_benchmark,
    load_materials,
    render_scene,
)
from tilewise.synth.sprites import DISTRACTOR_MAKERS, OBJECT_MAKERS

SMALL = SynthConfig(scene_size=256, size_range=(4, 48), objects_per_mpx=(300, 400))


def test_classes_and_materials() -> None:
    assert len(CLASS_NAMES) >= 5
    m = load_materials()
    assert m.digits.shape == (1797, 8, 8)
    assert len(m.coins) >= 20
    assert {"grass", "gravel", "brick"} <= set(m.textures)


@pytest.mark.parametrize("maker", [*OBJECT_MAKERS.values(), *DISTRACTOR_MAKERS])
@pytest.mark.parametrize("size", [4, 17, 64])
def test_sprites_have_the_requested_size(maker, size: int) -> None:
    sprite = maker(np.random.default_rng(0), size, load_materials())
    h, w = sprite.alpha.shape
    assert max(h, w) == size
    assert sprite.rgb.shape == (h, w, 3)
    assert sprite.rgb.dtype == np.float32
    assert sprite.alpha.dtype == np.float32
    assert sprite.rgb.min() >= 0.0
    assert sprite.rgb.max() <= 1.0
    assert sprite.alpha.max() > 0.3


def test_scene_is_deterministic_and_well_formed() -> None:
    m = load_materials()
    a = render_scene(3, 11, m, SMALL)
    b = render_scene(3, 11, m, SMALL)
    c = render_scene(4, 11, m, SMALL)
    assert np.array_equal(a.image, b.image)
    assert np.array_equal(a.boxes, b.boxes)
    assert not np.array_equal(a.image, c.image)
    assert a.image.shape == (256, 256, 3)
    assert a.image.dtype == np.uint8
    assert len(a.boxes) > 5
    wh = a.boxes[:, 2:] - a.boxes[:, :2]
    assert (wh > 0).all()
    assert (a.boxes[:, :2] >= 0).all()
    assert (a.boxes[:, 2:] <= 256).all()
    assert wh.max() <= 48
    assert set(a.class_id.tolist()) <= set(range(len(CLASS_NAMES)))


def test_default_size_law_is_mostly_small() -> None:
    m = load_materials()
    cfg = SynthConfig(scene_size=1024)
    boxes = np.concatenate([render_scene(i, 0, m, cfg).boxes for i in range(2)])
    side = (boxes[:, 2:] - boxes[:, :2]).max(axis=1)
    assert side.min() >= 3
    assert side.max() <= 64
    assert (side < 32).mean() > 0.75


def test_splits_by_scene() -> None:
    splits = assign_scene_splits(20, seed=1)
    assert splits.count("train") == 14
    assert splits.count("val") == 3
    assert splits.count("test") == 3
    assert assign_scene_splits(20, seed=1) == splits
    assert sorted(assign_scene_splits(3, seed=0)) == ["test", "train", "val"]
    assert assign_scene_splits(1, seed=0) == ["train"]
    with pytest.raises(TilewiseError):
        assign_scene_splits(0, seed=0)


def test_generate_writes_coco_per_split(tmp_path: Path) -> None:
    out = tmp_path / "bench"
    res = generate_benchmark(out, scenes=4, seed=5, config=SMALL, progress=False)
    assert sum(res.images.values()) == 4
    ids = set()
    for split, path in res.annotation_files.items():
        coco = json.loads(path.read_text())
        assert [c["name"] for c in coco["categories"]] == list(CLASS_NAMES)
        assert [c["id"] for c in coco["categories"]] == list(range(1, len(CLASS_NAMES) + 1))
        for img in coco["images"]:
            assert (out / "images" / split / img["file_name"]).is_file()
            ids.add(img["id"])
        for ann in coco["annotations"]:
            _x, _y, w, h = ann["bbox"]
            assert w > 0
            assert h > 0
            assert ann["area"] == pytest.approx(w * h)
    assert len(ids) == 4
    manifest = json.loads((out / "synth.json").read_text())
    assert manifest["seed"] == 5
    assert manifest["splits"] == res.splits
    # deterministic, whatever the number of workers
    again = generate_benchmark(
        tmp_path / "again", scenes=4, seed=5, config=SMALL, progress=False, workers=1
    )
    for split, path in res.annotation_files.items():
        assert path.read_text() == again.annotation_files[split].read_text()
    # readable by the dataset toolkit
    from tilewise.datasets import read_dataset

    ds = read_dataset(out)
    assert ds.num_images == 4
    assert ds.class_names == CLASS_NAMES
    assert set(ds.images.split.tolist()) <= {"train", "val", "test"}


def test_generate_refuses_a_foreign_directory(tmp_path: Path) -> None:
    (tmp_path / "keep.txt").write_text("mine")
    with pytest.raises(TilewiseError, match="not empty"):
        generate_benchmark(tmp_path, scenes=1, config=SMALL, progress=False)
    with pytest.raises(TilewiseError, match="refusing"):
        generate_benchmark(tmp_path, scenes=1, config=SMALL, progress=False, overwrite=True)
    assert (tmp_path / "keep.txt").is_file()


def test_config_validation() -> None:
    with pytest.raises(TilewiseError, match="size_range"):
        SynthConfig(scene_size=128, size_range=(4, 100))
    with pytest.raises(TilewiseError, match="split_ratios"):
        SynthConfig(split_ratios=(0.5, 0.5, 0.5))


def test_cli(tmp_path: Path) -> None:
    app = typer.Typer(cls=TilewiseGroup)
    app.command("synth")(synth)
    app.command("other")(lambda: None)
    runner = CliRunner()
    out = tmp_path / "b"
    result = runner.invoke(
        app, ["synth", str(out), "--scenes", "3", "--size", "128", "--seed", "2", "-q"]
    )
    assert result.exit_code == 0, result.output
    assert "wrote 3 scene(s)" in result.output
    assert (out / "annotations" / "instances_train.json").is_file()
    bad = runner.invoke(app, ["synth", str(out), "--scenes", "1", "--size", "128", "-q"])
    assert bad.exit_code == 2
    assert "not empty" in bad.output
