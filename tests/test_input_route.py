"""``tilewise predict INPUT``: the one rule that picks the path (``tilewise.cli.input_route``)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from tilewise.cli.input_route import InputKind, input_kind
from tilewise.errors import TilewiseError


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str | Path | None]:
    root = tmp_path_factory.mktemp("inputs")
    folder = root / "frames"
    folder.mkdir()
    for i in range(2):
        cv2.imwrite(str(folder / f"{i}.png"), np.full((32, 48, 3), 40 * i, np.uint8))
    (root / "list.txt").write_text("frames/0.png\n")
    big = root / "big.tif"
    cv2.imwrite(str(big), np.zeros((40, 50, 3), np.uint8))  # 2000 px: over a limit of 1000
    out = {
        "none": None,
        "folder": str(folder),
        "glob": str(folder / "*.png"),
        "list": str(root / "list.txt"),
        "video": str(root / "clip.mp4"),
        "stream": "rtsp://127.0.0.1:8554/cam",
        "stream-path": Path("rtsp://127.0.0.1:8554/cam"),  # as typer hands it over
        "camera": "0",
        "image": str(folder / "0.png"),
        "big": str(big),
    }
    return out


# (input, --engine, video options given) -> route; "!" + text: refused with that text
RULE = [
    ("none", None, (), "sample"),
    ("list", None, (), "archive"),
    ("list", "ray", (), "archive"),
    ("list", None, ("--track",), "archive"),  # a list is never a sequence: --track refused later
    ("folder", None, (), "archive"),
    ("folder", "local", (), "archive"),
    ("folder", "ray", (), "archive"),
    ("folder", None, ("--track",), "sequence"),
    ("folder", None, ("--stride", "--fps"), "sequence"),
    ("folder", "ray", ("--track",), "!image sequence (video frames), while --engine"),
    ("glob", None, (), "archive"),
    ("glob", None, ("--save-video",), "sequence"),
    ("video", None, (), "video"),
    ("video", None, ("--track",), "video"),
    ("video", "ray", (), "!is read as a video"),
    ("stream", None, (), "video"),
    ("stream-path", None, (), "video"),
    ("camera", None, (), "video"),
    ("image", None, (), "image"),
    ("image", "local", (), "!is read as one image"),
    ("big", None, (), "raster"),
    ("big", "ray", (), "raster-strips"),
    ("big", "local", (), "raster-strips"),
]


@pytest.mark.parametrize(("name", "engine", "options", "route"), RULE)
def test_the_input_rule(inputs, name, engine, options, route) -> None:
    kw = {"engine": engine, "sequence_options": options, "pixel_limit": 1000}
    if route.startswith("!"):
        with pytest.raises(TilewiseError, match=route[1:].replace("(", r"\(").replace(")", r"\)")):
            input_kind(inputs[name], **kw)
    else:
        assert input_kind(inputs[name], **kw) is InputKind(route)


def test_big_file_under_the_default_limit_is_one_image(inputs) -> None:
    assert input_kind(inputs["big"]) is InputKind.IMAGE


def _cli(*args: str):
    from tilewise.cli.app import app

    return CliRunner().invoke(app, ["predict", *args])


def test_a_folder_without_engine_is_an_archive_and_with_track_a_sequence(inputs, tmp_path):
    pytest.importorskip("pyarrow")
    model = ["--model", "tests.bulk_models:blob_factory", "--slice", "32", "--no-progress"]
    result = _cli(inputs["folder"], "--out", str(tmp_path / "a"), *model)
    assert result.exit_code == 0, result.output
    assert (tmp_path / "a" / "predictions.parquet").is_file()
    assert "2 of 2 image(s) done" in result.output
    result = _cli(inputs["folder"], "--out", str(tmp_path / "s"), "--track", "--no-save-video",
                  *model)  # fmt: skip
    assert result.exit_code == 0, result.output
    assert not (tmp_path / "s" / "predictions.parquet").exists()
    assert "2 frame(s) processed" in result.output
    assert any(p.suffix == ".jsonl" for p in (tmp_path / "s").iterdir())


def test_other_warnings_are_passed_on_once_not_recorded_again() -> None:
    """Regression: warnings_to_console re-emitted other warnings while still recording, so
    each one was recorded again and re-emitted forever (a Ray run under pytest's warning
    filters grew the process by ~120 MB/s until it was killed). Run apart, with a timeout."""
    import subprocess
    import sys

    code = (
        "import warnings\n"
        "from tilewise.cli.image_options import warnings_to_console\n"
        "with warnings.catch_warnings(record=True) as outer:\n"
        "    warnings.simplefilter('always')\n"
        "    with warnings_to_console():\n"
        "        warnings.warn('from a library', UserWarning)\n"
        "print([str(w.message) for w in outer[:5]])\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.strip() == "['from a library']"
