from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from tilewise import TilewiseWarning
from tilewise.datasets import (
    Dataset,
    DatasetBuilder,
    DatasetFormatError,
    SegmentKind,
    convert,
    read_coco,
    read_dataset,
    read_voc,
    read_yolo,
    write_coco,
    write_dataset,
)
from tilewise.masks.rle import (
    rle_area,
    rle_bbox,
    rle_crop,
    rle_decode,
    rle_encode,
    rle_from_string,
    rle_to_string,
)


def sample(root: Path | None = None, *, segments: bool = True, images: bool = False) -> Dataset:
    b = DatasetBuilder(["car", "person", "bike"], [3, 5, 9])
    i0 = b.add_image("a.png", 40, 30, split="train")
    i1 = b.add_image("b.png", 20, 20, split="val")
    _ = b.add_image("c.png", 16, 12, split="train")  # negative image
    b.add_box(i0, [1, 2, 11, 9], 0)
    b.add_box(i0, [20.5, 3.25, 30, 17.75], 1)
    if segments:
        ring = np.array([[5, 5], [15, 5], [15, 15], [5, 15]], dtype=float)
        b.add_box(i1, [5, 5, 15, 15], 2, polygon=[ring])
        mask = np.zeros((20, 20), bool)
        mask[2:6, 3:9] = True
        b.add_box(i1, [3, 2, 9, 6], 0, rle=rle_encode(mask), iscrowd=True)
    else:
        b.add_box(i1, [5, 5, 15, 15], 2)
    if images and root is not None:
        for name, (w, h) in (("a.png", (40, 30)), ("b.png", (20, 20)), ("c.png", (16, 12))):
            cv2.imwrite(str(root / name), np.full((h, w, 3), 7, np.uint8))
    return b.build(root=root)


# ----------------------------------------------------------------------------- RLE


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_rle_matches_pycocotools(seed: int) -> None:
    mask_utils = pytest.importorskip("pycocotools.mask")
    rng = np.random.default_rng(seed)
    m = rng.random((13, 17)) > 0.6
    ref = mask_utils.encode(np.asfortranarray(m.astype(np.uint8)))
    ours = rle_encode(m)
    assert rle_to_string(ours) == ref["counts"].decode()
    assert rle_from_string(ref["counts"].decode()).tolist() == ours.tolist()
    assert rle_area(ours) == int(m.sum())
    assert np.array_equal(rle_decode(ours, m.shape), m)


def test_rle_crop_and_bbox_match_dense() -> None:
    rng = np.random.default_rng(3)
    m = rng.random((20, 25)) > 0.7
    runs = rle_encode(m)
    for window in [(0, 0, 25, 20), (3, 4, 11, 19), (24, 0, 25, 1), (5, 5, 6, 6)]:
        x1, y1, x2, y2 = window
        crop, area = rle_crop(runs, m.shape, window)
        assert np.array_equal(rle_decode(crop, (y2 - y1, x2 - x1)), m[y1:y2, x1:x2])
        assert area == int(m[y1:y2, x1:x2].sum())
    ys, xs = np.nonzero(m)
    assert rle_bbox(runs, m.shape) == (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1)


# ----------------------------------------------------------------------------- round trips


def test_coco_round_trip_boxes_polygons_rle(tmp_path: Path) -> None:
    ds = sample()
    p = write_coco(ds, tmp_path / "a.json")
    back = read_coco(p)
    assert back.class_names == ds.class_names
    assert back.category_ids.tolist() == [3, 5, 9]
    assert back.segments.kind.tolist() == ds.segments.kind.tolist()
    np.testing.assert_allclose(back.boxes, ds.boxes, atol=1e-9)
    assert back.segments.equals(ds.segments)
    assert back.iscrowd.tolist() == ds.iscrowd.tolist()
    data = json.loads(p.read_text())
    rle = next(a for a in data["annotations"] if isinstance(a["segmentation"], dict))
    assert rle["area"] == 24
    assert rle["segmentation"]["size"] == [20, 20]


def test_coco_reads_uncompressed_rle(tmp_path: Path) -> None:
    mask = np.zeros((4, 5), bool)
    mask[1:3, 1:4] = True
    counts = rle_encode(mask).tolist()
    doc = {
        "images": [{"id": 1, "file_name": "x.png", "width": 5, "height": 4}],
        "categories": [{"id": 1, "name": "a"}],
        "annotations": [
            {
                "id": 1,
                "image_id": 1,
                "category_id": 1,
                "iscrowd": 1,
                "segmentation": {"size": [4, 5], "counts": counts},
            },
        ],
    }
    p = tmp_path / "u.json"
    p.write_text(json.dumps(doc))
    ds = read_coco(p)
    assert ds.segments.kind.tolist() == [SegmentKind.RLE]
    assert ds.boxes.tolist() == [[1.0, 1.0, 4.0, 3.0]]  # bbox derived from the mask


def test_yolo_detect_round_trip(tmp_path: Path) -> None:
    ds = sample(tmp_path, segments=False, images=True)
    write_dataset(ds, tmp_path / "yolo", "yolo")
    back = read_yolo(tmp_path / "yolo")
    assert back.class_names == ds.class_names
    assert sorted(back.images.split.tolist()) == sorted(ds.images.split.tolist())
    order = np.argsort(back.images.file_name.astype(str))
    back = back.take_images(order)
    ref = ds.take_images(
        np.argsort(np.array(["images/train/a.png", "images/val/b.png", "images/train/c.png"]))
    )
    np.testing.assert_allclose(back.boxes, ref.boxes, atol=1e-5)
    assert back.class_id.tolist() == ref.class_id.tolist()
    assert (tmp_path / "yolo/labels/train/c.txt").read_text() == ""


def test_yolo_segment_round_trip(tmp_path: Path) -> None:
    ds = sample(tmp_path, images=True)
    summary = write_dataset(ds, tmp_path / "yolo", "yolo")
    assert any("RLE" in n for n in summary.notes)
    assert any("rectangles" in n for n in summary.notes)
    back = read_yolo(tmp_path / "yolo")
    assert np.all(back.segments.kind == SegmentKind.POLYGON)
    b_idx = int(np.flatnonzero(back.images.file_name == "images/val/b.png")[0])
    sl = back.annotations_of(b_idx)
    # the square polygon and the rectangular mask come back with their exact boxes
    np.testing.assert_allclose(
        sorted(back.boxes[sl].tolist()), [[3, 2, 9, 6], [5, 5, 15, 15]], atol=1e-5
    )


def test_voc_round_trip_exact(tmp_path: Path) -> None:
    ds = sample(tmp_path, segments=False, images=True)
    summary = write_dataset(ds, tmp_path / "voc", "voc")
    assert summary.notes == []
    back = read_voc(tmp_path / "voc", class_names=list(ds.class_names))
    assert back.boxes.tolist() == ds.boxes.tolist()
    assert back.images.split.tolist() == ds.images.split.tolist()
    assert (tmp_path / "voc/JPEGImages/a.png").is_file()


@pytest.mark.parametrize(
    ("first", "second"),
    [("coco", "yolo"), ("yolo", "voc"), ("voc", "coco"), ("coco", "voc"), ("yolo", "coco")],
)
def test_convert_between_formats(tmp_path: Path, first: str, second: str) -> None:
    ds = sample(tmp_path, segments=False, images=True)
    write_dataset(ds, tmp_path / "one", first)
    read1, _ = convert(tmp_path / "one", tmp_path / "two", second)
    read2 = read_dataset(tmp_path / "two")
    assert read2.num_images == 3
    assert read2.num_annotations == 3
    key1 = sorted(zip(read1.class_id.tolist(), np.round(read1.boxes, 4).tolist(), strict=True))
    key2 = sorted(zip(read2.class_id.tolist(), np.round(read2.boxes, 4).tolist(), strict=True))
    if "voc" in (first, second):  # VOC sorts class names
        names1 = [read1.class_names[c] for c, _ in key1]
        names2 = [read2.class_names[c] for c, _ in key2]
        assert sorted(names1) == sorted(names2)
    else:
        assert [c for c, _ in key1] == [c for c, _ in key2]
    assert sorted(b for _, b in key1) == sorted(b for _, b in key2)


# ----------------------------------------------------------------------------- bad input


def _coco_doc() -> dict:
    return {
        "images": [{"id": 1, "file_name": "x.png", "width": 10, "height": 10}],
        "categories": [{"id": 1, "name": "a"}],
        "annotations": [
            {"id": 11, "image_id": 1, "category_id": 1, "bbox": [1, 1, 2, 2]},
            {"id": 12, "image_id": 1, "category_id": 7, "bbox": [1, 1, 2, 2]},
        ],
    }


def test_truncated_json_names_file_and_line(tmp_path: Path) -> None:
    p = tmp_path / "t.json"
    p.write_text(json.dumps(_coco_doc(), indent=1)[:-40])
    with pytest.raises(DatasetFormatError, match=r"t\.json:line \d+ column \d+: malformed JSON"):
        read_coco(p)


def test_unknown_category_raises_naming_record(tmp_path: Path) -> None:
    p = tmp_path / "c.json"
    p.write_text(json.dumps(_coco_doc()))
    with pytest.raises(DatasetFormatError, match=r"annotations\[1\] \(id 12\): unknown category"):
        read_coco(p)


def test_skip_mode_reports_and_counts(tmp_path: Path) -> None:
    doc = _coco_doc()
    doc["annotations"].append({"id": 13, "image_id": 1, "category_id": 1, "bbox": [1, "x", 2, 2]})
    doc["annotations"].append({"id": 14, "image_id": 1, "category_id": 1, "bbox": [8, 8, 5, 5]})
    doc["annotations"].append({"id": 15, "image_id": 1, "category_id": 1, "bbox": [3, 3, 0, 2]})
    p = tmp_path / "c.json"
    p.write_text(json.dumps(doc))
    with pytest.warns(TilewiseWarning, match="skipped 2 bad record"):
        ds = read_coco(p, on_error="skip")
    assert ds.num_annotations == 3
    text = [str(i) for i in ds.issues]
    assert any("(id 12): unknown category_id 7 (skipped)" in t for t in text)
    assert any("(id 13): 'bbox' must be 4 finite numbers" in t for t in text)
    assert any("(id 14): box extends outside the image" in t for t in text)
    assert any("(id 15): zero or negative box size" in t for t in text)


def test_missing_coco_keys(tmp_path: Path) -> None:
    p = tmp_path / "m.json"
    p.write_text(json.dumps({"images": []}))
    with pytest.raises(DatasetFormatError, match="missing or invalid 'categories'"):
        read_coco(p)


def _yolo_dir(tmp_path: Path, label: str) -> Path:
    d = tmp_path / "y"
    (d / "images/train").mkdir(parents=True)
    (d / "labels/train").mkdir(parents=True)
    cv2.imwrite(str(d / "images/train/a.png"), np.zeros((10, 10, 3), np.uint8))
    (d / "labels/train/a.txt").write_text(label)
    (d / "data.yaml").write_text("path: .\ntrain: images/train\nnames: [a, b]\n")
    return d


@pytest.mark.parametrize(
    ("label", "message"),
    [
        ("0 0.5 0.5 0.2 0.2\n0 0.5 zz 0.2 0.2\n", r"a\.txt:line 2: not a number"),
        ("0 0.5 0.5 0.2 0.2\n5 0.5 0.5 0.2 0.2\n", r"a\.txt:line 2: unknown class id 5"),
        ("0 0.5 0.5 0.2\n", r"a\.txt:line 1: expected 'class cx cy w h'"),
        ("0 0.5 0.5 nan 0.2\n", r"a\.txt:line 1: non-finite"),
    ],
)
def test_yolo_bad_lines(tmp_path: Path, label: str, message: str) -> None:
    d = _yolo_dir(tmp_path, label)
    with pytest.raises(DatasetFormatError, match=message):
        read_yolo(d)


def test_yolo_skip_mode_and_orphans(tmp_path: Path) -> None:
    d = _yolo_dir(tmp_path, "0 0.5 0.5 0.2 0.2\n1 0.5 0.5 0.2 0.2 0.1\n0 1.2 0.5 0.2 0.2\n")
    (d / "labels/train/orphan.txt").write_text("0 0.5 0.5 0.1 0.1\n")
    (d / "images/train/broken.png").write_bytes(b"not an image")
    with pytest.warns(TilewiseWarning, match="skipped 2 bad record"):
        ds = read_yolo(d, on_error="skip")
    assert ds.num_images == 1
    assert ds.num_annotations == 2
    text = "\n".join(str(i) for i in ds.issues)
    assert "broken.png" in text
    assert "orphan.txt" in text
    assert "line 3: coordinates outside the image" in text


def test_yolo_missing_image_raises(tmp_path: Path) -> None:
    d = _yolo_dir(tmp_path, "")
    (d / "images/train/bad.jpg").write_bytes(b"\xff\xd8garbage")
    with pytest.raises(DatasetFormatError, match=r"bad\.jpg"):
        read_yolo(d)


def test_voc_malformed_xml_names_line(tmp_path: Path) -> None:
    (tmp_path / "Annotations").mkdir()
    (tmp_path / "Annotations/a.xml").write_text("<annotation>\n<size>\n</annotation>\n")
    with pytest.raises(DatasetFormatError, match=r"a\.xml:line 3 column \d+: malformed XML"):
        read_voc(tmp_path)


def test_voc_bad_object_named(tmp_path: Path) -> None:
    (tmp_path / "Annotations").mkdir()
    (tmp_path / "Annotations/a.xml").write_text(
        "<annotation><size><width>9</width><height>9</height></size>"
        "<object><name>a</name><bndbox><xmin>1</xmin></bndbox></object></annotation>"
    )
    with pytest.raises(DatasetFormatError, match=r"a\.xml:object 1: needs a <bndbox>"):
        read_voc(tmp_path)


def test_detect_format_error(tmp_path: Path) -> None:
    with pytest.raises(DatasetFormatError, match="cannot tell the dataset format"):
        read_dataset(tmp_path)


def test_dataset_take_and_concatenate() -> None:
    ds = sample()
    sub = ds.take_images(np.array([1]))
    assert sub.num_images == 1
    assert sub.num_annotations == 2
    assert sub.segments.kind.tolist() == [SegmentKind.POLYGON, SegmentKind.RLE]
    both = Dataset.concatenate([ds, ds])
    assert both.num_annotations == 2 * ds.num_annotations
    assert both.images.image_id.tolist() == [1, 2, 3, 4, 5, 6]


def test_yolo_boxes_on_the_border_round_trip_without_issues(tmp_path: Path) -> None:
    b = DatasetBuilder(["a"])
    cv2.imwrite(str(tmp_path / "a.png"), np.zeros((640, 640, 3), np.uint8))
    i = b.add_image("a.png", 640, 640)
    rng = np.random.default_rng(0)
    for _ in range(50):
        x1, y1 = rng.uniform(500, 630, 2)
        b.add_box(i, [x1, y1, 640, 640], 0)
        b.add_box(i, [0, 0, 640 - x1, 640 - y1], 0)
    write_dataset(b.build(root=tmp_path), tmp_path / "y", "yolo")
    back = read_yolo(tmp_path / "y")
    assert back.issues == ()
    assert back.boxes.min() == 0.0
    assert back.boxes.max() == 640.0
