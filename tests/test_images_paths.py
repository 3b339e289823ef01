"""The bad-input table through every path: predict, the Slicer, dataset tile; check; health."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from tests.conftest import blob_model
from tests.image_files import BAD_INPUTS, BadInput, H, W, exif_jpeg, scene
from tilewise import Slicer, TilewiseError
from tilewise.cli.check_cmd import check
from tilewise.cli.console import TilewiseGroup
from tilewise.datasets import DatasetBuilder, DatasetFormatError
from tilewise.datasets.health import health_check, health_text
from tilewise.datasets.tiling import TilingConfig, tile_dataset
from tilewise.datasets.tiling.accounting import DropReason
from tilewise.images import ReadOptions, read_image, unorient

MARKER = [6.0, 4.0, 12.0, 10.0]  # the white square of ``scene()``, displayed frame


def _app(name: str, fn) -> typer.Typer:
    app = typer.Typer(cls=TilewiseGroup)
    app.command(name)(fn)
    app.command("other")(lambda: None)
    return app


def _ok_cases() -> list[BadInput]:
    return [c for c in BAD_INPUTS if c.error is None]


# ----------------------------------------------------------------------------- predict


@pytest.fixture(scope="module")
def onnx_model(tmp_path_factory) -> Path:
    pytest.importorskip("onnx")
    from tilewise.models.testing import constant_detector_onnx

    return constant_detector_onnx(
        tmp_path_factory.mktemp("model") / "m.onnx", extra_metadata={"tile_size": "[32, 32]"}
    )


@pytest.mark.parametrize("case", BAD_INPUTS, ids=lambda c: c.name)
def test_table_through_predict(tmp_path: Path, onnx_model: Path, case: BadInput) -> None:
    from tilewise.cli.predict_cmd import predict

    path = case.make(tmp_path)
    out = tmp_path / "out"
    args = ["predict", str(path), "--model", str(onnx_model), "--out", str(out)]
    result = CliRunner().invoke(_app("predict", predict), args)
    if case.error is not None:
        assert result.exit_code == 2, result.output
        assert "error:" in result.output
        assert str(path) in result.output
        assert not (out / f"{path.stem}.json").exists()
        import re

        assert re.search(case.error, " ".join(result.output.split()))
        return
    assert result.exit_code == 0, result.output
    data = json.loads((out / f"{path.stem}.json").read_text())
    assert data["image_wh"] == list(case.wh)
    assert data["truncated"] is False
    for key, value in case.record.items():
        assert data["image_read"][key] == value
    assert cv2.imread(str(out / f"{path.stem}_pred.jpg")).shape[:2] == (case.wh[1], case.wh[0])


@pytest.mark.parametrize("name", ["truncated_jpeg", "truncated_png"])
def test_predict_allow_truncated_warns_and_records(
    tmp_path: Path, onnx_model: Path, name: str
) -> None:
    from tilewise.cli.predict_cmd import predict

    case = next(c for c in BAD_INPUTS if c.name == name)
    path = case.make(tmp_path)
    out = tmp_path / "out"
    args = ["predict", str(path), "--model", str(onnx_model), "--out", str(out)]
    result = CliRunner().invoke(_app("predict", predict), [*args, "--allow-truncated"])
    assert result.exit_code == 0, result.output
    assert "warning:" in result.output
    assert "truncated" in result.output
    data = json.loads((out / f"{path.stem}.json").read_text())
    assert data["truncated"] is True
    assert data["image_read"]["truncated"] is True


def test_predict_records_the_scaling_rule(tmp_path: Path, onnx_model: Path) -> None:
    from tilewise.cli.predict_cmd import predict

    path = next(c for c in BAD_INPUTS if c.name == "gray16").make(tmp_path)
    out = tmp_path / "out"
    args = ["predict", str(path), "--model", str(onnx_model), "--out", str(out)]
    result = CliRunner().invoke(_app("predict", predict), [*args, "--scale", "p2,p98"])
    assert result.exit_code == 0, result.output
    scaling = json.loads((out / "gray16.json").read_text())["image_read"]["scaling"]
    assert scaling["rule"] == "percentile"
    assert scaling["percentiles"] == [2.0, 98.0]
    bad = CliRunner().invoke(_app("predict", predict), [*args, "--range", "9,1"])
    assert bad.exit_code == 2
    assert "--range" in bad.output
    limited = CliRunner().invoke(_app("predict", predict), [*args, "--max-pixels", "100"])
    assert limited.exit_code == 2
    assert "limit of 100 pixels" in limited.output


# ------------------------------------------------------------------------------ Slicer


@pytest.mark.parametrize("case", BAD_INPUTS, ids=lambda c: c.name)
def test_table_through_the_slicer(tmp_path: Path, case: BadInput) -> None:
    path = case.make(tmp_path)
    slicer = Slicer(blob_model, slice_wh=16, overlap=0.25, batch_size=4)
    if case.error is not None:
        with pytest.raises(TilewiseError, match=case.error):
            slicer(path)
        return
    from_path = slicer.run(path)
    from_pixels = slicer.run(read_image(path).pixels)
    assert from_path.report.image_wh == case.wh
    assert from_path.detections == from_pixels.detections


@pytest.mark.parametrize("orientation", range(1, 9))
def test_a_box_drawn_on_the_rotated_view_comes_back_on_it(tmp_path: Path, orientation: int) -> None:
    path = exif_jpeg(tmp_path, orientation)
    slicer = Slicer(
        blob_model, slice_wh=24, overlap=0.5, merge="greedy_nmm", metric="ios", class_agnostic=True
    )
    det = slicer(path)  # pieces of the marker cut by slice edges merge back into one box
    assert len(det) == 1
    assert np.abs(det.xyxy[0] - MARKER).max() <= 1.0
    stored = read_image(path, ReadOptions(exif="ignore")).pixels
    raw = slicer(stored)
    marker = np.zeros((H, W), np.uint8)
    marker[4:10, 6:12] = 1
    ys, xs = np.nonzero(unorient(marker, orientation))
    assert np.abs(raw.xyxy[0] - [xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]).max() <= 1.0


# ------------------------------------------------------------------------ dataset tile


def _dataset(tmp_path: Path, cases: list[BadInput]):
    root = tmp_path / "src"
    root.mkdir()
    builder = DatasetBuilder(["marker"])
    for case in cases:
        path = case.make(root)
        w, h = case.wh or (10, 10)
        image = builder.add_image(path.name, w, h)
        box = MARKER if case.name.startswith("exif") else [0, 0, min(w, 2), min(h, 2)]
        builder.add_box(image, box, 0)
    return builder.build(root=root)


def test_table_through_dataset_tile(tmp_path: Path) -> None:
    ds = _dataset(tmp_path, list(BAD_INPUTS))
    cfg = TilingConfig(slice_wh=(W, H), overlap=0, empty_ratio=1.0, image_ext=".png", min_size=0.5)
    res = tile_dataset(ds, tmp_path / "tiles", cfg, progress=False, workers=2)
    report = res.report
    names = [str(n) for n in ds.images.file_name]
    for case, name, i in zip(BAD_INPUTS, names, range(len(names)), strict=True):
        if case.error is not None:
            assert name in report.images_skipped, case.name
            expected = (
                DropReason.IMAGE_TRUNCATED
                if case.name.startswith("truncated")
                else DropReason.IMAGE_UNREADABLE
            )
            assert report.reason[i] == expected, case.name
            continue
        assert name not in report.images_skipped, report.images_skipped.get(name)
        assert report.status[i] != 2, case.name  # kept or clipped, never dropped
        tile = np.flatnonzero(res.dataset.images.source == name)
        assert tile.size == 1, case.name
        written = cv2.imread(str(res.root / res.dataset.images.file_name[tile[0]]))
        assert np.array_equal(written[:, :, ::-1], read_image(ds.image_path(i)).pixels)
    totals = report.totals()
    assert totals["dropped_image_truncated"] == 2
    assert totals["dropped_image_unreadable"] == 3
    accounting = json.loads((res.root / "accounting.json").read_text())
    assert accounting["totals"]["dropped_image_truncated"] == 2
    assert report.tiles["skipped_truncated"] == 2


@pytest.mark.parametrize("case", [c for c in BAD_INPUTS if c.error], ids=lambda c: c.name)
def test_dataset_tile_raise_stops_with_the_reason(tmp_path: Path, case: BadInput) -> None:
    ds = _dataset(tmp_path, [case])
    cfg = TilingConfig(slice_wh=8, overlap=0)
    with pytest.raises(DatasetFormatError, match=case.error):
        tile_dataset(ds, tmp_path / "tiles", cfg, progress=False, on_error="raise")


def test_dataset_tile_allow_truncated_lists_the_image(tmp_path: Path) -> None:
    case = next(c for c in BAD_INPUTS if c.name == "truncated_jpeg")
    root = tmp_path / "src"
    root.mkdir()
    builder = DatasetBuilder(["x"])
    path = case.make(root)
    builder.add_box(builder.add_image(path.name, 96, 96), [1, 1, 9, 9], 0)
    cfg = TilingConfig(slice_wh=48, overlap=0, empty_ratio=1.0)
    res = tile_dataset(
        builder.build(root=root),
        tmp_path / "tiles",
        cfg,
        progress=False,
        read=ReadOptions(allow_truncated=True),
    )
    assert res.report.images_truncated == [path.name]
    assert res.report.images_skipped == {}
    assert json.loads((res.root / "accounting.json").read_text())["images_truncated"] == [path.name]


def test_dataset_tile_exif_annotations_on_the_stored_frame_get_a_hint(tmp_path: Path) -> None:
    root = tmp_path / "src"
    root.mkdir()
    path = exif_jpeg(root, 6)
    builder = DatasetBuilder(["x"])
    builder.add_box(builder.add_image(path.name, H, W), [1, 1, 5, 5], 0)  # stored size
    ds = builder.build(root=root)
    cfg = TilingConfig(slice_wh=16, overlap=0)
    with pytest.raises(DatasetFormatError, match="exif ignore"):
        tile_dataset(ds, tmp_path / "a", cfg, progress=False, on_error="raise")
    res = tile_dataset(ds, tmp_path / "b", cfg, progress=False, read=ReadOptions(exif="ignore"))
    assert res.report.images_skipped == {}


def test_dataset_tile_cli_counts_and_raises(tmp_path: Path) -> None:
    from tilewise.cli.dataset_cmd import app
    from tilewise.datasets import write_dataset

    ds = _dataset(tmp_path, [c for c in BAD_INPUTS if c.name in ("truncated_png", "exif8")])
    coco = tmp_path / "coco"
    write_dataset(ds, coco, "coco", images="copy")
    runner = CliRunner()
    ok = runner.invoke(app, ["tile", str(coco), str(tmp_path / "t1"), "--slice", "16"])
    assert ok.exit_code == 0, ok.output
    assert "image_truncated=1" in ok.output
    assert "truncated" in ok.output
    bad = runner.invoke(
        app, ["tile", str(coco), str(tmp_path / "t2"), "--slice", "16", "--on-error", "raise"]
    )
    assert bad.exit_code != 0
    assert "truncated" in str(bad.exception) + bad.output


# ------------------------------------------------------------------------------- check


def test_check_reports_every_kind_and_exits_1(tmp_path: Path) -> None:
    for case in BAD_INPUTS:
        case.make(tmp_path)
    shutil.copy(tmp_path / "one.png", tmp_path / "one_copy.png")
    out = tmp_path / "report.json"
    result = CliRunner().invoke(_app("check", check), ["check", str(tmp_path), "--json", str(out)])
    assert result.exit_code == 1, result.output
    report = json.loads(out.read_text())
    assert report["ok"] is False
    counts = report["counts"]
    assert counts["files"] == len(BAD_INPUTS) + 1
    assert counts["unreadable"] == 2  # zero bytes, text named .jpg
    assert counts["truncated"] == 2
    assert counts["over_limit"] == 1
    assert counts["duplicate"] == 1
    assert counts["exif_rotated"] == 3
    assert counts["high_bit_depth"] == 3  # 16-bit grey, 16-bit RGB, float
    by_name = {Path(f["path"]).name: f for f in report["files"]}
    assert by_name["one_copy.png"]["duplicate_of"].endswith("one.png")
    assert by_name["exif6.jpg"]["orientation"] == 6
    assert "truncated" in result.output
    assert "problem" in result.output


def test_check_clean_exits_0_and_strict_counts_notices(tmp_path: Path) -> None:
    cv2.imwrite(str(tmp_path / "a.png"), scene())
    app = _app("check", check)
    clean = CliRunner().invoke(app, ["check", str(tmp_path)])
    assert clean.exit_code == 0, clean.output
    assert "1 file(s): 1 clean" in clean.output
    exif_jpeg(tmp_path, 6)
    assert CliRunner().invoke(app, ["check", str(tmp_path)]).exit_code == 0
    strict = CliRunner().invoke(app, ["check", str(tmp_path), "--strict", "--json", "-"])
    assert strict.exit_code == 1
    assert json.loads(strict.output)["counts"]["exif_rotated"] == 1
    headers = CliRunner().invoke(app, ["check", str(tmp_path), "--headers-only"])
    assert headers.exit_code == 0
    missing = CliRunner().invoke(app, ["check", str(tmp_path / "nope")])
    assert missing.exit_code == 2
    assert "no such file" in missing.output


def test_check_headers_only_does_not_see_truncation(tmp_path: Path) -> None:
    from tilewise.images import check_images

    next(c for c in BAD_INPUTS if c.name == "truncated_jpeg").make(tmp_path)
    assert check_images([tmp_path]).counts()["truncated"] == 1
    assert check_images([tmp_path], decode=False).counts()["truncated"] == 0


# ------------------------------------------------------------------------------ health


def test_health_reports_exif_rotated_images(tmp_path: Path) -> None:
    root = tmp_path / "src"
    root.mkdir()
    builder = DatasetBuilder(["x"])
    displayed = exif_jpeg(root, 6)  # annotated as displayed: consistent
    builder.add_box(builder.add_image(displayed.name, W, H), MARKER, 0)
    stored = exif_jpeg(root, 8)  # annotated with the stored size: suspicious
    builder.add_box(builder.add_image(stored.name, H, W), [1, 1, 5, 5], 0)
    cv2.imwrite(str(root / "plain.png"), scene())
    builder.add_box(builder.add_image("plain.png", W, H), MARKER, 0)
    stats, _ = health_check(builder.build(root=root))
    exif = stats.summary["images"]["exif"]
    assert exif["checked"] == 3
    assert exif["rotated"] == 2
    assert exif["by_orientation"] == {"6": 1, "8": 1}
    assert exif["size_mismatch"] == 1
    assert stats.summary["problems"]["exif_rotated"] == 2
    text = health_text(stats)
    assert "EXIF-rotated images: 2 of 3" in text
    assert "--exif ignore" in text


def test_dataset_sizes_follow_exif_unless_ignored(tmp_path: Path) -> None:
    from tilewise.datasets.imagesize import image_size

    path = exif_jpeg(tmp_path, 6)
    assert image_size(path) == (W, H)  # displayed
    assert image_size(path, exif="ignore") == (H, W)  # stored
