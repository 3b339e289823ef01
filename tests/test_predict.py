from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

import typer
from typer.testing import CliRunner

from tilewise import Detections
from tilewise.cli.console import TilewiseGroup
from tilewise.cli.predict_cmd import predict
from tilewise.models import OnnxDetector
from tilewise.models.bundled import DEFAULT_MODEL_NAME, SAMPLE_GT_NAME, SAMPLE_IMAGE_NAME
from tilewise.models.sliced_eval import category_mapping, compare_modes
from tilewise.models.testing import constant_detector_onnx


def _app() -> typer.Typer:
    app = typer.Typer(cls=TilewiseGroup)
    app.command("predict")(predict)
    app.command("other")(lambda: None)
    return app


def _bundled(name: str) -> Path:
    return Path(__file__).resolve().parents[1] / "src" / "tilewise" / "data" / name


@pytest.fixture
def model_path(tmp_path: Path) -> Path:
    return constant_detector_onnx(
        tmp_path / "m.onnx", names=("dot", "blob"), extra_metadata={"tile_size": "[64, 64]"}
    )


def test_predict_image_writes_annotated_image_and_json(tmp_path: Path, model_path: Path) -> None:
    image = tmp_path / "scene.png"
    cv2.imwrite(str(image), np.zeros((128, 192, 3), np.uint8))
    out = tmp_path / "out"
    result = CliRunner().invoke(
        _app(),
        ["predict", str(image), "--model", str(model_path), "--out", str(out), "--overlap", "0"],
    )
    assert result.exit_code == 0, result.output
    assert "6 detection(s) in 6 slice(s) of 64x64" in result.output
    data = json.loads((out / "scene.json").read_text())
    assert data["count"] == 6
    assert data["slice_wh"] == [64, 64]
    assert data["detections"][0]["class_name"] == "dot"
    drawn = cv2.imread(str(out / "scene_pred.jpg"))
    assert drawn.shape == (128, 192, 3)


def test_predict_slice_and_full_frame_options(tmp_path: Path, model_path: Path) -> None:
    image = tmp_path / "scene.png"
    cv2.imwrite(str(image), np.zeros((128, 128, 3), np.uint8))
    out = tmp_path / "out"
    args = ["predict", str(image), "--model", str(model_path), "--out", str(out)]
    result = CliRunner().invoke(_app(), [*args, "--slice", "128", "--full-frame"])
    assert result.exit_code == 0, result.output
    data = json.loads((out / "scene.json").read_text())
    assert data["slice_wh"] == [128, 128]
    assert data["full_frame"] is True


def test_predict_bad_input(tmp_path: Path, model_path: Path) -> None:
    runner = CliRunner()
    missing = runner.invoke(
        _app(), ["predict", str(tmp_path / "nope.png"), "--model", str(model_path)]
    )
    assert missing.exit_code == 2
    bad_slice = runner.invoke(_app(), ["predict", "x.png", "--slice", "big"])
    assert bad_slice.exit_code == 2
    assert "--slice must be 'auto'" in bad_slice.output
    transposed = constant_detector_onnx(tmp_path / "t.onnx", transposed=True, anchors=32)
    image = tmp_path / "a.png"
    cv2.imwrite(str(image), np.zeros((64, 64, 3), np.uint8))
    layout = runner.invoke(_app(), ["predict", str(image), "--model", str(transposed)])
    assert layout.exit_code == 2
    assert "YOLOv8 layout" in layout.output


def test_compare_modes_scores_both(tmp_path: Path, model_path: Path) -> None:
    model = OnnxDetector(model_path, conf=0.5)
    # the constant model finds a 16 px box in the middle of every 64 px input
    gt = {
        "images": [{"id": 7, "width": 128, "height": 128, "file_name": "a.png"}],
        "categories": [{"id": 1, "name": "dot"}, {"id": 2, "name": "blob"}],
        "annotations": [
            {"id": i + 1, "image_id": 7, "category_id": 1, "bbox": [x + 24, y + 24, 16, 16]}
            for i, (x, y) in enumerate([(0, 0), (64, 0), (0, 64), (64, 64)])
        ],
    }
    report = compare_modes(
        model, gt, {7: np.zeros((128, 128, 3), np.uint8)}, overlap=0.0, batch_size=4
    )
    sliced, full = report.modes["sliced"], report.modes["full_frame"]
    assert sliced.model_images == 4
    assert full.model_images == 1
    assert sliced.metrics["AP50"] == pytest.approx(1.0)
    assert full.metrics["AP50"] < 0.5
    assert report.ratio("AP50") > 2
    assert "sliced vs full-frame" in report.text()
    assert report.to_dict()["modes"]["sliced"]["detections"] == 4
    assert isinstance(report.predictions["sliced"][7], Detections)


def test_category_mapping_refuses_mismatch() -> None:
    from tilewise import TilewiseError

    with pytest.raises(TilewiseError, match="2 classes"):
        category_mapping(["a", "b"], {1: "x", 2: "y", 3: "z"})


@pytest.mark.skipif(
    not all(_bundled(n).is_file() for n in (DEFAULT_MODEL_NAME, SAMPLE_IMAGE_NAME, SAMPLE_GT_NAME)),
    reason="bundled model and sample not built yet (scripts/train_default_model.sh)",
)
def test_predict_sample_with_bundled_model(tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = CliRunner().invoke(_app(), ["predict", "--out", str(out)])
    assert result.exit_code == 0, result.output
    report = json.loads((out / "comparison.json").read_text())
    assert set(report["modes"]) == {"full_frame", "sliced"}
    sliced = report["modes"]["sliced"]["metrics"]
    full = report["modes"]["full_frame"]["metrics"]
    assert sliced["AP50"] > 0.5
    assert sliced["AP_small"] >= 2 * full["AP_small"]
    for name in ("sample_scene_pred.jpg", "sample_scene.json", "comparison.txt"):
        assert (out / name).is_file()
    model = OnnxDetector(_bundled(DEFAULT_MODEL_NAME))
    assert model.tile_size is not None
    assert _bundled(DEFAULT_MODEL_NAME).stat().st_size < 8 * 2**20
    assert _bundled(SAMPLE_IMAGE_NAME).stat().st_size < 2 * 2**20
