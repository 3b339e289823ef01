"""The web page at ``/`` in headless Chromium (Debian's, never a downloaded browser)."""

from __future__ import annotations

import base64
import shutil
from pathlib import Path

import pytest

pytest.importorskip("fastapi")
sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is missing")

from tests.serve_helpers import ServerProcess, scene_png  # noqa: E402

CHROMIUM = next(
    (p for p in (shutil.which("chromium"), "/usr/bin/chromium") if p and Path(p).is_file()), None
)
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]

pytestmark = pytest.mark.skipif(
    CHROMIUM is None,
    reason="no chromium binary (Debian: apt-get install chromium); the page test drives "
    "the system browser and never downloads one",
)


@pytest.fixture(scope="module")
def server():
    with ServerProcess("--model", "tests.serve_models:fast") as s:
        yield s


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            yield browser
        finally:
            browser.close()


def test_upload_draws_detections_grid_counts_and_timings(server, browser, tmp_path):
    image = tmp_path / "scene.png"
    image.write_bytes(scene_png(5, (400, 300)))
    form = {"slice": "128", "zoom": "2"}  # the page sends the zoom (30 detections without)
    expected = server.detect(image.read_bytes(), "scene.png", form).json()
    assert expected["zoom"] == 2.0
    page = browser.new_page()
    page.set_default_timeout(20_000)
    try:
        page.goto(server.url + "/")
        page.set_input_files("#file", str(image))
        page.fill("#slice", "128")
        page.fill("#zoom", "2")
        page.click("#detect")
        page.wait_for_selector("#canvas[data-drawn]")
        assert page.get_attribute("#canvas", "data-drawn") == str(expected["count"])
        assert page.eval_on_selector("#canvas", "c => [c.width, c.height]") == [400, 300]
        status = page.inner_text("#status")
        assert f"{expected['count']} detection(s) in {expected['slices']} slice(s)" in status
        counts = page.eval_on_selector_all(
            "#counts tbody tr", "rows => rows.map(r => r.innerText.split('\\t'))"
        )
        by_class: dict[str, int] = {}
        for row in expected["detections"]:
            by_class[row["class_name"]] = by_class.get(row["class_name"], 0) + 1
        assert {name: int(n) for name, n in counts[:-1]} == by_class
        assert counts[-1] == ["total", str(expected["count"])]
        stages = page.eval_on_selector_all(
            "#timings tbody tr td:first-child", "t => t.map(x => x.innerText)"
        )
        assert {"read", "model", "merge", "total"} <= set(stages)
        assert not page.is_visible("#error")
        # the slice grid overlay can be turned off and on without another request
        page.uncheck("#show-grid")
        page.check("#show-grid")
        page.screenshot(path=str(tmp_path / "page.png"))
    finally:
        page.close()


def test_dropped_image_is_detected(server, browser):
    data = base64.b64encode(scene_png(6, (200, 160))).decode()
    page = browser.new_page()
    page.set_default_timeout(20_000)
    try:
        page.goto(server.url + "/")
        page.evaluate(
            """(b64) => {
                const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
                const file = new File([bytes], "dropped.png", { type: "image/png" });
                const dt = new DataTransfer();
                dt.items.add(file);
                document.getElementById("drop").dispatchEvent(
                    new DragEvent("drop", { dataTransfer: dt, bubbles: true, cancelable: true }));
            }""",
            data,
        )
        page.wait_for_selector("#canvas[data-drawn]")
        assert "detection(s)" in page.inner_text("#status")
        assert "dropped.png" in page.inner_text("#drop")
    finally:
        page.close()


def test_bad_file_shows_the_error(server, browser, tmp_path):
    bad = tmp_path / "holiday.jpg"
    bad.write_text("this is not a photo\n")
    page = browser.new_page()
    page.set_default_timeout(20_000)
    try:
        page.goto(server.url + "/")
        page.set_input_files("#file", str(bad))
        page.click("#detect")
        page.wait_for_selector("#error", state="visible")
        text = page.inner_text("#error")
        assert text.startswith("415 unsupported_media_type")
        assert "holiday.jpg" in text
        assert "expected a JPEG, PNG, TIFF or WebP image" in text
        assert page.get_attribute("#canvas", "data-drawn") is None
    finally:
        page.close()


def test_a_preset_server_page_sends_conf_only(browser, tmp_path):
    """With ``serve --config`` the page disables the slicer inputs, says why, and sends the
    confidence only: a request with the fixed fields would be refused (422)."""
    from tilewise.slicing.config import SlicerConfig

    config = tmp_path / "tuned.json"
    SlicerConfig({"slice_wh": 128, "overlap": 0.1, "merge": "nmm", "edge_margin": 2}).save(config)
    image = tmp_path / "scene.png"
    image.write_bytes(scene_png(5, (400, 300)))
    with ServerProcess("--model", "tests.serve_models:fast", "--config", str(config)) as server:
        expected = server.detect(image.read_bytes(), "scene.png", {"conf": "0.3"}).json()
        assert expected["merge"] == "nmm"
        page = browser.new_page()
        page.set_default_timeout(20_000)
        try:
            page.goto(server.url + "/")
            page.wait_for_selector("#preset:not([hidden])")
            assert '"edge_margin":2' in page.inner_text("#preset")
            assert page.is_disabled("#slice")
            assert page.is_disabled("#merge")
            page.fill("#conf", "0.3")
            page.set_input_files("#file", str(image))
            page.click("#detect")
            page.wait_for_selector("#canvas[data-drawn]")
            assert page.get_attribute("#canvas", "data-drawn") == str(expected["count"])
            assert not page.is_visible("#error")
        finally:
            page.close()
