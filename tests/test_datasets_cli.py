from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from tilewise.cli.app import Command, build_app
from tilewise.cli.dataset_cmd import app as dataset_app
from tilewise.datasets import DatasetBuilder, read_dataset, write_coco
from tilewise.datasets.tiling import is_complete


@pytest.fixture
def cli():
    root = build_app((Command("dataset", dataset_app),))
    runner = CliRunner()

    def invoke(*args: str):
        return runner.invoke(root, ["dataset", *[str(a) for a in args]])

    return invoke


def make_coco(root: Path) -> Path:
    rng = np.random.default_rng(1)
    b = DatasetBuilder(["car", "person", "bike"])
    for k in range(4):
        name = f"im{k}.png"
        cv2.imwrite(str(root / name), rng.integers(0, 255, (120, 160, 3), dtype=np.uint8))
        i = b.add_image(name, 160, 120)
        for _ in range(15):
            x, y = rng.uniform(0, 140, 2)
            w, h = rng.uniform(3, 18, 2)
            b.add_box(i, [x, min(y, 100), x + w, min(y, 100) + h], int(rng.integers(0, 3)))
    return write_coco(b.build(), root / "train.json")


def test_tile_health_anchors_flow(cli, tmp_path: Path) -> None:
    src = make_coco(tmp_path)
    out = tmp_path / "tiles"
    r = cli(
        "tile",
        src,
        out,
        "--slice",
        "64",
        "--overlap",
        "0.2",
        "--min-visibility",
        "0.3",
        "--min-size",
        "2",
        "--empty-ratio",
        "0.1",
        "--split",
        "0.5,0.25,0.25",
        "--format",
        "yolo",
        "--no-progress",
    )
    assert r.exit_code == 0, r.output
    assert "(all)" in r.output
    assert "tiles:" in r.output
    assert is_complete(out)
    again = cli(
        "tile",
        src,
        out,
        "--slice",
        "64",
        "--overlap",
        "0.2",
        "--min-visibility",
        "0.3",
        "--min-size",
        "2",
        "--empty-ratio",
        "0.1",
        "--split",
        "0.5,0.25,0.25",
        "--format",
        "yolo",
        "--no-progress",
    )
    assert again.exit_code == 0
    assert "already complete" in again.output
    h = cli("health", out, "--model-input", "64", "--out", tmp_path / "health")
    assert h.exit_code == 0, h.output
    assert "recommended" in h.output
    summary = json.loads((tmp_path / "health/health.json").read_text())
    assert summary["images"]["count"] == read_dataset(out).num_images
    a = cli(
        "anchors",
        out,
        "--n",
        "3",
        "--img-size",
        "64",
        "--generations",
        "50",
        "--no-progress",
        "--json",
        tmp_path / "anchors.json",
    )
    assert a.exit_code == 0, a.output
    assert "best possible recall" in a.output
    anchors = json.loads((tmp_path / "anchors.json").read_text())["anchors"]
    areas = [w * h for w, h in anchors]
    assert len(anchors) == 3
    assert areas == sorted(areas)


def test_convert_and_classes(cli, tmp_path: Path) -> None:
    src = make_coco(tmp_path)
    r = cli("convert", src, tmp_path / "voc", "--to", "voc", "--images", "link")
    assert r.exit_code == 0, r.output
    assert read_dataset(tmp_path / "voc").num_annotations == 60
    dry = cli("classes", src, "--map", "car=vehicle", "--map", "bike=vehicle", "--drop", "person")
    assert dry.exit_code == 0, dry.output
    assert "dry run" in dry.output
    assert "(dropped)" in dry.output
    r = cli(
        "classes",
        src,
        tmp_path / "merged",
        "--map",
        "car=vehicle",
        "--map",
        "bike=vehicle",
        "--drop",
        "person",
        "--images",
        "none",
    )
    assert r.exit_code == 0, r.output
    merged = read_dataset(tmp_path / "merged")
    assert merged.class_names == ("vehicle",)
    before = read_dataset(src)
    assert merged.num_annotations == int(np.sum(before.class_id != 1))


def test_bad_input_is_a_clean_error(cli, tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"images": [')
    r = cli("health", bad)
    assert r.exit_code == 2
    assert "bad.json:line 1" in r.output
    r = cli("tile", bad, tmp_path / "o", "--slice", "abc")
    assert r.exit_code == 2
    assert "slice size" in r.output
    src = make_coco(tmp_path)
    r = cli("classes", src, "--map", "truck=vehicle")
    assert r.exit_code == 2
    assert "unknown classes ['truck']" in r.output
