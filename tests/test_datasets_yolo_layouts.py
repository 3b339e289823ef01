"""YOLO layouts beyond ``data.yaml`` + directories: ``.txt`` split lists, no ``data.yaml``.

Issue 17, item 4: these readers had no test. Each layout is written by hand as users
(and Ultralytics exports) lay it out, then read back exactly: which images, which split,
which classes and which boxes.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from tilewise.datasets import DatasetFormatError, read_dataset, read_yolo
from tilewise.datasets.formats.yolo import yolo_image_paths


def _image(path: Path, wh: tuple[int, int] = (40, 20)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), np.zeros((wh[1], wh[0], 3), np.uint8))
    return path


def _label(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def _boxes(ds, name: str) -> list[tuple[int, list[float]]]:
    i = int(np.flatnonzero(ds.images.file_name == name)[0])
    sl = ds.annotations_of(i)
    return [
        (int(c), [round(v, 6) for v in b])
        for c, b in zip(ds.class_id[sl].tolist(), ds.boxes[sl].tolist(), strict=True)
    ]


def test_txt_split_lists_resolve_dot_relative_root_relative_and_absolute_paths(
    tmp_path: Path,
) -> None:
    root = tmp_path / "ds"
    _image(root / "images" / "a.png")
    _image(root / "images" / "b.png")
    c = _image(root / "other" / "images" / "c.png")
    _label(root / "labels" / "a.txt", "0 0.5 0.5 0.5 0.5\n")
    _label(root / "labels" / "b.txt", "1 0.25 0.5 0.1 0.2\n")
    _label(root / "other" / "labels" / "c.txt", "")
    # "./x" is relative to the list file, "x" to the dataset root, "/x" absolute
    (root / "lists").mkdir()
    (root / "lists" / "train.txt").write_text(
        f"../images/a.png\n\n  ./../images/b.png  \n{c}\n", encoding="utf-8"
    )
    (root / "val.txt").write_text("images/a.png\n", encoding="utf-8")
    (root / "data.yaml").write_text(
        "path: .\ntrain: lists/train.txt\nval: val.txt\nnames: {0: car, 1: person}\n",
        encoding="utf-8",
    )
    found_root, names, splits = yolo_image_paths(root)
    assert found_root == root.resolve()
    assert names == ["car", "person"]
    # "../images/a.png" has no "./" prefix, so it is taken relative to the root
    assert splits["train"] == [
        root.resolve() / "../images/a.png",
        root / "lists" / "../images/b.png",
        c,
    ]
    assert splits["val"] == [root.resolve() / "images/a.png"]


def test_read_yolo_from_txt_lists(tmp_path: Path) -> None:
    root = tmp_path / "ds"
    for name in ("a", "b", "c"):
        _image(root / "images" / f"{name}.png")
    _label(root / "labels" / "a.txt", "0 0.5 0.5 0.5 0.5\n")
    _label(root / "labels" / "b.txt", "1 0.25 0.5 0.1 0.2\n0 0.5 0.5 1 1\n")
    _label(root / "labels" / "c.txt", "")
    (root / "train.txt").write_text("./images/a.png\n./images/b.png\n", encoding="utf-8")
    (root / "val.txt").write_text("images/c.png\n", encoding="utf-8")
    (root / "data.yaml").write_text(
        "path: .\ntrain: train.txt\nval: [val.txt]\nnames: [car, person]\n", encoding="utf-8"
    )
    ds = read_yolo(root)
    assert ds.class_names == ("car", "person")
    split_of = dict(zip(ds.images.file_name.tolist(), ds.images.split.tolist(), strict=True))
    assert split_of == {"images/a.png": "train", "images/b.png": "train", "images/c.png": "val"}
    assert _boxes(ds, "images/a.png") == [(0, [10.0, 5.0, 30.0, 15.0])]
    assert _boxes(ds, "images/b.png") == [(1, [8.0, 8.0, 12.0, 12.0]), (0, [0.0, 0.0, 40.0, 20.0])]
    assert _boxes(ds, "images/c.png") == []
    assert read_dataset(root).equals(ds)


def test_split_list_naming_a_missing_image_is_an_error(tmp_path: Path) -> None:
    root = tmp_path / "ds"
    _image(root / "images" / "a.png")
    (root / "train.txt").write_text("./images/a.png\n./images/gone.png\n", encoding="utf-8")
    (root / "data.yaml").write_text("path: .\ntrain: train.txt\nnames: [car]\n", encoding="utf-8")
    with pytest.raises(DatasetFormatError, match=r"gone\.png"):
        read_yolo(root)


@pytest.mark.parametrize(
    ("entry", "message"),
    [("missing.txt", "not found"), ("notes.md", "neither a directory nor a .txt list")],
)
def test_bad_split_entries(tmp_path: Path, entry: str, message: str) -> None:
    root = tmp_path / "ds"
    _image(root / "images" / "a.png")
    (root / "notes.md").write_text("images/a.png\n", encoding="utf-8")
    (root / "data.yaml").write_text(f"path: .\ntrain: {entry}\nnames: [car]\n", encoding="utf-8")
    with pytest.raises(DatasetFormatError, match=message):
        read_yolo(root)


@pytest.mark.parametrize("with_classes", [True, False])
def test_dataset_without_data_yaml(tmp_path: Path, with_classes: bool) -> None:
    root = tmp_path / "plain"
    _image(root / "images" / "x.png")
    _image(root / "images" / "sub" / "y.png", (10, 10))
    _label(root / "labels" / "x.txt", "2 0.5 0.5 0.5 0.5\n")
    _label(root / "labels" / "sub" / "y.txt", "0 0.5 0.5 0.2 0.2\n")
    if with_classes:
        _label(root / "labels" / "classes.txt", "")  # must not be taken for a label file
        (root / "classes.txt").write_text("car\n\nperson\nbike\n", encoding="utf-8")
    found_root, names, splits = yolo_image_paths(root)
    assert found_root == root
    assert names == (["car", "person", "bike"] if with_classes else [])
    assert splits == {"": [root / "images" / "sub" / "y.png", root / "images" / "x.png"]}
    ds = read_yolo(root)  # no warning: classes.txt beside the labels is not an orphan label
    # without classes.txt the names are the class ids seen, up to the largest
    assert ds.class_names == (("car", "person", "bike") if with_classes else ("0", "1", "2"))
    assert _boxes(ds, "images/x.png") == [(2, [10.0, 5.0, 30.0, 15.0])]
    assert _boxes(ds, "images/sub/y.png") == [(0, [4.0, 4.0, 6.0, 6.0])]
    assert set(ds.images.split.tolist()) == {""}


def test_directory_without_data_yaml_or_images_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "labels").mkdir()
    with pytest.raises(DatasetFormatError, match=r"no data\.yaml and no images/"):
        yolo_image_paths(tmp_path)
