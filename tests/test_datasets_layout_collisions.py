"""Two images written to one path: refused before any file is written, naming both.

Regression: ``write_yolo`` wrote ``a.png`` and ``a.jpg`` of one split to the same label
file ``labels/<split>/a.txt`` (the second replacing the first), and ``write_dataset``
placed ``../a/x.png`` and ``a/x.png`` (``..`` dropped by the layout) on one image path.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from tilewise.datasets import DatasetBuilder
from tilewise.datasets.convert import write_dataset
from tilewise.datasets.formats.yolo import write_yolo
from tilewise.errors import TilewiseError


def _dataset(root: Path, names: list[tuple[str, str]]):
    b = DatasetBuilder(["car"])
    for k, (name, split) in enumerate(names):
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(path), np.full((8, 8, 3), k * 40, np.uint8))
        b.add_box(b.add_image(name, 8, 8, split=split), [1, 1, 5, 5], 0)
    return b.build(root=root)


@pytest.mark.parametrize(
    ("names", "fmt", "message"),
    [
        (
            [("a.png", "train"), ("a.jpg", "train")],
            "yolo",
            "images 'a.png' and 'a.jpg' would share one label file, ",
        ),
        (
            [("d/a.png", ""), ("d/a.bmp", "")],
            "yolo",
            "images 'd/a.png' and 'd/a.bmp' would share one label file, ",
        ),
        (
            [("../a/x.png", "val"), ("a/x.png", "val")],
            "coco",
            "images '../a/x.png' and 'a/x.png' would share one image path",
        ),
        (
            [("images/train/x.png", "train"), ("x.png", "train")],
            "yolo",
            "images 'images/train/x.png' and 'x.png' would share one image path",
        ),
    ],
)
def test_a_collision_is_refused_before_writing(
    tmp_path: Path, names: list[tuple[str, str]], fmt: str, message: str
) -> None:
    ds = _dataset(tmp_path / "src", names)
    out = tmp_path / "out"
    with pytest.raises(TilewiseError, match="rename one of them") as err:
        write_dataset(ds, out, fmt)
    assert message in str(err.value)
    tail = "x.png" if "image path" in message else "a.txt"
    assert str(err.value).endswith(f"{tail}: rename one of them")
    assert not out.exists() or not any(p.is_file() for p in out.rglob("*"))


def test_write_yolo_alone_refuses_a_shared_label(tmp_path: Path) -> None:
    ds = _dataset(tmp_path / "src", [("a.png", "train"), ("a.jpg", "train")])
    with pytest.raises(TilewiseError, match=r"labels/train/a\.txt: rename one of them"):
        write_yolo(ds, tmp_path / "out")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("fmt", ["yolo", "coco"])
def test_the_same_name_in_two_splits_is_no_collision(tmp_path: Path, fmt: str) -> None:
    ds = _dataset(tmp_path / "src", [("a.png", "train"), ("a.png", "val")])
    write_dataset(ds, tmp_path / "out", fmt)
    placed = sorted(
        p.relative_to(tmp_path / "out").as_posix() for p in tmp_path.glob("out/images/*/*")
    )
    assert placed == ["images/train/a.png", "images/val/a.png"]
