"""``tilewise serve --config``: every request runs a tuned slicer config, as
``tilewise predict --config`` does; requests may set only ``conf`` and ``classes``.

Before, a config written by ``tilewise tune`` could not be served: each request had to
repeat its settings as form fields, and its edge margin could not be expressed at all.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from tests.conftest import make_scene
from tilewise import Slicer
from tilewise.cli.app import app
from tilewise.errors import TilewiseError
from tilewise.serve import DetectionService, ServeConfig, ServeError
from tilewise.serve.params import PRESET_FIELDS, params_from_config
from tilewise.serve.testing import FixedCostModel
from tilewise.slicing.config import SlicerConfig

NAMES = ["a", "b", "c"]
TUNED = {"slice_wh": 80, "overlap": 0.1, "merge": "nmm", "metric": "ios", "threshold": 0.4,
         "edge_margin": 2, "zoom": 1.25, "class_agnostic": True, "batch_size": 3}  # fmt: skip
"""A config as the tuner writes one (with an edge margin, which no form field expresses)."""


def _model() -> FixedCostModel:
    return FixedCostModel(call_ms=0.0, image_ms=0.0, slice_wh=(96, 96), names=NAMES)


def _image() -> np.ndarray:
    return make_scene((260, 180), 30, seed=1, size=(4, 30))[0]


@pytest.mark.parametrize(
    "settings",
    [TUNED, {"scales": [[64, 1], [32, 2, None, 12]], "merge": "wbf"}, {"overlap": 0.3}],
)
@pytest.mark.parametrize("form", [{}, {"conf": "0.5"}, {"classes": "a,c"}])
def test_a_preset_service_answers_what_the_config_slicer_gives(settings, form):
    model = _model()
    service = DetectionService(model, ServeConfig(max_batch=4), preset=SlicerConfig(settings))
    image = _image()
    with service:
        doc = service.detect(image, form)
    conf = float(form.get("conf", 0.25))
    classes = None if "classes" not in form else [0, 2]

    def filtered(images):  # the same model with the request's conf and classes
        out = []
        for det in model(images):
            keep = det.confidence > np.float32(conf)
            if classes is not None:
                keep &= np.isin(det.class_id, classes)
            out.append(det[keep])
        return out

    expected = Slicer.from_config(filtered, SlicerConfig(settings), batch_size=2).run(image)
    det = expected.detections
    assert doc["count"] == len(det) > 0
    assert [d["xyxy"] for d in doc["detections"]] == [
        [round(v, 2) for v in row] for row in det.xyxy.tolist()
    ]
    assert doc["slices"] == expected.report.slices
    assert (doc["conf"], doc["classes"]) == (conf, classes)
    assert doc["merge"] == settings.get("merge", "nms")


def test_the_preset_changes_the_answer():
    """The table above is not vacuous: the tuned config answers otherwise than the defaults."""
    image = _image()
    with DetectionService(_model()) as plain:
        default = plain.detect(image, {})
    with DetectionService(_model(), preset=SlicerConfig(TUNED)) as tuned:
        doc = tuned.detect(image, {})
    assert doc["detections"] != default["detections"]
    assert doc["zoom"] == 1.25


@pytest.mark.parametrize("field", PRESET_FIELDS)
def test_a_preset_service_refuses_the_fields_its_config_sets(field):
    service = DetectionService(_model(), preset=SlicerConfig(TUNED))
    with pytest.raises(ServeError, match=f"sets {field}; a request may set conf and classes only"):
        service.params({field: "1", "conf": "0.3"})
    with pytest.raises(ServeError, match="unknown field"):
        service.params({"edge_margin": "3"})


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"slice_wh": [64, 32]}, "a request's slice is square; the config's is [64, 32]"),
        ({"overlap": 32}, "a request's overlap is a ratio of the slice; the config's is 32"),
        ({"slice_wh": 99999}, "--config: slice must be in [16, 4096] px"),
        ({"scales": [[64, 1]], "slice_wh": 64}, "--config: scales replaces slice and zoom"),
    ],
)
def test_a_config_requests_cannot_express_is_refused_at_start(settings, message):
    with pytest.raises(TilewiseError, match=message.replace("[", r"\[").replace("]", r"\]")):
        params_from_config(settings, ServeConfig())
    with pytest.raises(TilewiseError):
        DetectionService(_model(), preset=SlicerConfig(settings))


def test_a_config_for_another_model_is_refused_at_start():
    config = SlicerConfig(TUNED, {"names": ["car", "bus"]})
    with pytest.raises(TilewiseError, match="made for a model with classes"):
        DetectionService(_model(), preset=config)


def test_serve_config_answers_what_predict_config_writes(tmp_path):
    """The same config through both adapters gives the same detections."""
    import cv2

    config = tmp_path / "tuned.json"
    SlicerConfig(TUNED).save(config)
    image = _image()
    path = tmp_path / "scene.png"
    cv2.imwrite(str(path), image[..., ::-1])
    out = tmp_path / "out"
    args = ["predict", str(path), "--model", "tests.serve_models:fast", "--config", str(config)]
    result = CliRunner().invoke(app, [*args, "--out", str(out), "--no-progress"])
    assert result.exit_code == 0, result.output
    written = json.loads((out / "scene.json").read_text())
    from tests.serve_models import fast

    with DetectionService(fast(), preset=config) as service:  # conf 0.25, as predict's
        doc = service.detect(image, {})
    assert written["count"] == doc["count"] > 0
    assert [d["xyxy"] for d in written["detections"]] == [d["xyxy"] for d in doc["detections"]]
    assert written["merge"] == doc["merge"] == "nmm"


def test_serve_cli_refuses_a_bad_config_before_listening(tmp_path):
    pytest.importorskip("fastapi")
    config = tmp_path / "tuned.json"
    SlicerConfig({"slice_wh": [64, 32]}).save(config)
    args = ["serve", "--model", "tests.serve_models:fast", "--port", "0", "--config", str(config)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code != 0
    assert "a request's slice is square; the config's is [64, 32]" in result.output
    missing = CliRunner().invoke(app, [*args[:-1], str(tmp_path / "nope.json")])
    assert missing.exit_code != 0
    assert "nope.json" in missing.output
