from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from tilewise.datasets import DatasetBuilder
from tilewise.datasets.health import compute_health, health_check, health_text


def dataset():
    b = DatasetBuilder(["car", "person", "rare"])
    i = b.add_image("a.png", 1280, 640)
    b.add_box(i, [10, 10, 12, 30], 0)  # 2 px wide: under 3 px natively
    b.add_box(i, [100, 100, 140, 120], 0)
    b.add_box(i, [100, 100, 140, 120], 0)  # exact duplicate
    b.add_box(i, [100, 100, 140, 121], 0)  # near duplicate of both
    b.add_box(i, [1270, 600, 1290, 650], 1)  # out of bounds
    b.add_box(i, [50, 50, 50, 60], 1)  # degenerate
    j = b.add_image("b.png", 640, 640)
    b.add_box(j, [0, 0, 64, 64], 1)
    b.add_image("c.png", 320, 480)  # empty
    return b.build()


def test_health_numbers_exact():
    s = compute_health(dataset(), model_input=640).summary
    assert s["images"]["count"] == 3
    assert s["images"]["empty"] == 1
    assert s["images"]["empty_examples"] == ["c.png"]
    assert [c["instances"] for c in s["classes"]] == [4, 3, 0]
    assert [c["images"] for c in s["classes"]] == [1, 2, 0]
    assert s["imbalance_ratio"] == pytest.approx(4 / 3)
    assert s["classes_without_instances"] == ["rare"]
    p = s["problems"]
    assert (p["degenerate"], p["out_of_bounds"], p["duplicate"], p["near_duplicate"]) == (
        1,
        1,
        1,
        2,
    )
    nat = s["boxes"]["native"]
    assert nat["under_3px"] == 1
    assert nat["under_8px"] == 1
    # image a is resized by 0.5: the 40 x 20 boxes become 20 x 10, the 2 px one 1 px
    inp = s["boxes"]["at_model_input"]
    assert inp["under_3px"] == 1
    assert inp["under_8px"] == 1
    assert nat["coco"] == {"small": 5, "medium": 1, "large": 0}
    assert nat["tiny"]["2-8px"] == 1  # sqrt(2 * 20) = 6.3
    assert s["instances"]["per_image"]["max"] == 6.0


def test_recommendation_and_text(tmp_path: Path):
    rng = np.random.default_rng(0)
    b = DatasetBuilder(["a"])
    for k in range(3):
        i = b.add_image(f"{k}.png", 4000, 3000)
        xy = rng.uniform(0, 3900, (50, 2))
        wh = rng.uniform(10, 30, (50, 2))
        b.add_boxes(i, np.concatenate([xy, xy + wh], 1), np.zeros(50, int))
    stats, files = health_check(b.build(), model_input=640, out_dir=tmp_path)
    rec = stats.recommendation
    assert rec["slicing"]
    assert rec["slice"] % 32 == 0
    assert 320 <= rec["slice"] <= 1280
    assert 0.1 <= rec["overlap"] <= 0.5
    assert len(rec["reasons"]) >= 3
    text = health_text(stats)
    assert "recommended: slice" in text
    saved = json.loads(files.json.read_text())
    assert saved["recommendation"]["slice"] == rec["slice"]


def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


@pytest.mark.skipif(
    _chromium() is None, reason="chromium not installed (apt-get install -y chromium)"
)
def test_html_report_renders_in_headless_chromium(tmp_path: Path):
    _, files = health_check(dataset(), model_input=640, out_dir=tmp_path)
    page = files.html.read_text()
    n_img = page.count("<img ")
    assert n_img >= 5
    assert "http://" not in page
    assert "https://" not in page
    probe = page.replace(
        "</body>",
        "<script>window.addEventListener('load',()=>{const im=[...document.images];"
        "document.body.setAttribute('data-images',im.length);"
        "document.body.setAttribute('data-decoded',"
        "im.filter(i=>i.complete&&i.naturalWidth>100&&i.naturalHeight>100).length);});"
        "</script></body>",
    )
    probe_path = tmp_path / "probe.html"
    probe_path.write_text(probe)
    cmd = [
        _chromium(),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--no-first-run",
        f"--user-data-dir={tmp_path / 'profile'}",
        "--virtual-time-budget=10000",
        "--dump-dom",
        probe_path.as_uri(),
    ]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
    body = re.search(r"<body[^>]*>", out.stdout)
    assert body is not None, out.stderr[-2000:]
    assert f'data-images="{n_img}"' in body.group(0)
    assert f'data-decoded="{n_img}"' in body.group(0), body.group(0)
    assert "Recommendation" in out.stdout
    assert "Problems" in out.stdout
