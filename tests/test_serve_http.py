"""``tilewise serve`` over HTTP on 127.0.0.1: answers, limits, load, auth, CORS, shutdown.

Every server is a ``tilewise serve`` process started here (``ServerProcess``) and stopped
by the fixture or test that started it. Load loops are bounded in count and time.
"""

from __future__ import annotations

import json
import re
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")
pytest.importorskip("multipart")

from tests.serve_helpers import (
    ServerProcess,
    bad_input_table,
    multipart,
    png_bytes,
    raw_exchange,
    request,
    scene_png,
    send_case,
    wait_until,
)
from tilewise.images import load_image
from tilewise.models.bundled import SAMPLE_IMAGE_NAME, bundled_path

FAST = "tests.serve_models:fast"
PREDICT_KEYS = (
    "image", "image_wh", "truncated", "image_read", "model", "slice_wh", "overlap", "merge",
    "full_frame", "slices", "seconds", "count", "detections",
)  # fmt: skip
"""What ``tilewise predict IMAGE`` writes for an image; the service answers all of it."""
SLOW = "tests.serve_models:slow"


def sample_crop(x: int, y: int, w: int, h: int) -> np.ndarray:
    return np.ascontiguousarray(load_image(bundled_path(SAMPLE_IMAGE_NAME))[y : y + h, x : x + w])


def metric(text: str, name: str) -> float:
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name):
            total += float(line.rsplit(" ", 1)[1])
    return total


@pytest.fixture(scope="module")
def onnx_server():
    with ServerProcess("--max-batch", "8", "--max-delay-ms", "5") as server:
        yield server


@pytest.fixture(scope="module")
def fast_server():
    with ServerProcess("--model", FAST, "--max-batch", "8", "--max-delay-ms", "5") as server:
        yield server


# ---------------------------------------------------------------------- answers
@pytest.mark.parametrize(
    ("cli", "form"),
    [
        ([], {}),
        (
            [
                "--slice",
                "256",
                "--overlap",
                "0.3",
                "--merge",
                "wbf",
                "--conf",
                "0.4",
                "--full-frame",
            ],
            {"slice": "256", "overlap": "0.3", "merge": "wbf", "conf": "0.4", "full_frame": "1"},
        ),
        (["--slice", "200", "--zoom", "1.6"], {"slice": "200", "zoom": "1.6"}),
    ],
)
def test_answer_equals_tilewise_predict(onnx_server, tmp_path, cli, form):
    from typer.testing import CliRunner

    from tilewise.cli.app import app

    path = tmp_path / "crop.png"
    path.write_bytes(png_bytes(sample_crop(300, 500, 720, 520)))
    result = CliRunner().invoke(
        app, ["predict", str(path), "--out", str(tmp_path / "out"), "--no-progress", *cli]
    )
    assert result.exit_code == 0, result.output
    expected = json.loads((tmp_path / "out" / "crop.json").read_text())
    reply = onnx_server.detect(path.read_bytes(), "crop.png", form)
    assert reply.status == 200, reply.body[:500]
    doc = reply.json()
    assert doc["count"] > 5
    assert doc["detections"] == expected["detections"]
    shared = set(PREDICT_KEYS) - {"image", "seconds", "image_read"}
    assert set(PREDICT_KEYS) <= set(expected)
    assert set(PREDICT_KEYS) <= set(doc)
    for key in shared:
        assert doc[key] == expected[key], key
    read = dict(expected["image_read"], path="crop.png")
    assert doc["image_read"] == read
    assert doc["image"] == "crop.png"
    for key in ("zoom", "model_scale", "scales"):  # predict --zoom's report, said alike
        assert doc[key] == expected[key], key


def test_multi_scale_answer_equals_the_library_slicer(onnx_server):
    from tilewise import Slicer
    from tilewise.detections.pixel_json import detections_json
    from tilewise.models import default_detector

    crop = sample_crop(300, 500, 720, 520)
    scales = [[320, 1.0], [160, 2.0, None, 24], {"slice_wh": None, "zoom": 0.5, "min_size": 40}]
    form = {"scales": json.dumps(scales), "merge": "nmm", "conf": "0.3"}
    reply = onnx_server.detect(png_bytes(crop), "crop.png", form)
    assert reply.status == 200, reply.body[:500]
    doc = reply.json()
    detector = default_detector(conf=0.3)
    run = Slicer(detector, scales=scales, merge="nmm", overlap=0.2, batch_size=3).run(crop)
    expected = detections_json(run.detections, list(detector.names))
    assert doc["count"] == expected["count"] > 5
    assert doc["detections"] == expected["detections"]
    assert doc["scales"] == [s.to_dict() for s in run.report.scales]
    assert [s["slices"] for s in doc["scales"]] == [6, 24, 1]
    assert doc["slices"] == run.report.slices == 31


def test_onnx_answers_are_the_same_alone_or_among_many(onnx_server):
    crops = [png_bytes(sample_crop(100 + 400 * i, 300 + 200 * i, 420, 300)) for i in range(3)]
    alone = [onnx_server.detect(c, f"c{i}.png").json() for i, c in enumerate(crops)]
    jobs = [i % 3 for i in range(9)]
    with ThreadPoolExecutor(5) as pool:
        replies = list(pool.map(lambda i: onnx_server.detect(crops[i], f"c{i}.png"), jobs))
    assert [r.status for r in replies] == [200] * 9
    for i, reply in zip(jobs, replies, strict=True):
        assert reply.json()["detections"] == alone[i]["detections"]
    assert sum(r.json()["batching"]["shared_batches"] for r in replies) > 0


def test_health_readiness_metrics_docs_and_page(onnx_server):
    assert onnx_server.get("/healthz").json() == {"status": "ok"}
    ready = onnx_server.get("/readyz").json()
    assert ready["status"] == "ready"
    assert ready["model"].endswith("default_detector.onnx")
    assert ready["limits"]["max_batch"] == 8
    assert ready["limits"]["auth"] is False
    metrics = onnx_server.get("/metrics")
    assert metrics.headers["content-type"].startswith("text/plain; version=0.0.4")
    for name in (
        "tilewise_serve_requests_total",
        "tilewise_serve_refused_total",
        "tilewise_serve_request_seconds_bucket",
        "tilewise_serve_batch_fill_ratio_bucket",
        "tilewise_serve_queue_depth",
        "tilewise_serve_in_flight",
    ):
        assert name in metrics.body.decode()
    docs = onnx_server.get("/docs")
    assert docs.status == 200
    page = docs.body.decode()  # self-contained: no script, nothing fetched from elsewhere
    assert "<script" not in page
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page)
    spec = onnx_server.get("/openapi.json").json()
    for path in spec["paths"]:
        assert f"<code>{path}</code>" in page
    post = spec["paths"]["/v1/detect"]["post"]
    schema_ref = post["requestBody"]["content"]["multipart/form-data"]["schema"]["$ref"]
    props = spec["components"]["schemas"][schema_ref.rsplit("/", 1)[1]]["properties"]
    assert set(props) == {
        "image", "slice", "overlap", "merge", "metric", "threshold", "class_agnostic", "conf",
        "full_frame",
        "classes", "zoom", "scales",
    }  # fmt: skip
    assert {"413", "415", "422", "503", "504"} <= set(post["responses"])
    for name in props:  # every form field and refusal reason is on the page
        assert f"<code>{name}</code>" in page
    for reason in ("upload_too_large", "too_many_pixels", "unsupported_media_type"):
        assert reason in page
    page = onnx_server.get("/")
    assert page.status == 200
    assert b"<canvas" in page.body


# ---------------------------------------------------------------------- bad input
def test_bad_input_table_then_still_healthy_and_correct(fast_server, tmp_path):
    import psutil

    good = scene_png(0)
    before = fast_server.detect(good, "good.png").json()
    assert before["count"] > 0
    metrics_before = fast_server.get("/metrics").body.decode()
    rss_before = psutil.Process(fast_server.proc.pid).memory_info().rss
    wrong = []
    table = bad_input_table(tmp_path)
    assert len(table) >= 10
    for case, how, status, error in table:
        t0 = time.perf_counter()
        reply = send_case(fast_server, how)
        took = time.perf_counter() - t0
        try:
            body = json.loads(reply.body)
        except ValueError:
            body = {"unparsable": reply.body[:200]}
        ok = (
            reply.status == status
            and body.get("error") == error
            and isinstance(body.get("detail"), str)
            and body["detail"]
            and took < 30
        )
        if not ok:
            wrong.append((case, reply.status, body, f"{took:.1f}s"))
    assert not wrong, "\n".join(map(str, wrong))
    # still healthy, and a good request gets the very same answer
    assert fast_server.get("/healthz").status == 200
    assert fast_server.get("/readyz").status == 200
    after = fast_server.detect(good, "good.png").json()
    assert after["detections"] == before["detections"]
    # every refusal counted with its reason
    metrics_after = fast_server.get("/metrics").body.decode()
    for error in {row[3] for row in table}:
        name = f'tilewise_serve_refused_total{{reason="{error}"}}'
        expected = sum(1 for row in table if row[3] == error)
        assert metric(metrics_after, name) - metric(metrics_before, name) == expected, error
    rss_after = psutil.Process(fast_server.proc.pid).memory_info().rss
    assert rss_after - rss_before < 150 * 2**20  # the 120 MB bodies were never kept


# ---------------------------------------------------------------------- load
def test_bounded_load_every_answer_correct_p99_recorded(fast_server):
    images = [scene_png(i, (260 + 40 * i, 200)) for i in range(3)]
    forms = [{"slice": "64"}, {"slice": "96", "merge": "wbf"}, {"slice": "80", "conf": "0.5"}]
    expected = {
        (i, f): fast_server.detect(images[i], "x.png", forms[f]).json()["detections"]
        for i in range(3)
        for f in range(3)
    }
    count_before = metric(
        fast_server.get("/metrics").body.decode(), "tilewise_serve_request_seconds_count"
    )
    requests_total, threads, deadline = 48, 4, time.monotonic() + 120

    def client(k: int) -> list[tuple[bool, float, int]]:
        out = []
        for n in range(requests_total // threads):
            if time.monotonic() > deadline:
                break
            i, f = (k + n) % 3, (k * 2 + n) % 3
            t0 = time.perf_counter()
            reply = fast_server.detect(images[i], "x.png", forms[f], timeout=60)
            took = time.perf_counter() - t0
            right = reply.status == 200 and reply.json()["detections"] == expected[(i, f)]
            shared = reply.json()["batching"]["shared_batches"] if reply.status == 200 else 0
            out.append((right, took, shared))
        return out

    with ThreadPoolExecutor(threads) as pool:
        results = [r for rs in pool.map(client, range(threads)) for r in rs]
    assert len(results) == requests_total
    assert all(right for right, _, _ in results)
    latencies = np.array([took for _, took, _ in results])
    p50, p99 = np.percentile(latencies, [50, 99])
    assert 0 < p50 <= p99 < 30
    assert sum(shared for _, _, shared in results) > 0
    text = fast_server.get("/metrics").body.decode()
    count_after = metric(text, "tilewise_serve_request_seconds_count")
    assert count_after - count_before >= requests_total
    assert metric(text, "tilewise_serve_queue_depth") == 0
    assert metric(text, "tilewise_serve_in_flight") == 0


def test_overload_503_deadline_504_streamed_413_then_healthy():
    args = ["--model", SLOW, "--max-inflight", "2", "--timeout", "1.5", "--max-upload-mb", "1"]
    with ServerProcess(*args, "--max-batch", "4", "--max-delay-ms", "5") as server:
        small = scene_png(1, (90, 90))  # one slice: one 400 ms model call
        expected = server.detect(small, "s.png").json()["detections"]
        with ThreadPoolExecutor(6) as pool:
            replies = list(pool.map(lambda _: server.detect(small, "s.png"), range(6)))
        statuses = sorted(r.status for r in replies)
        assert 503 in statuses
        assert 200 in statuses
        assert set(statuses) <= {200, 503}
        for reply in replies:
            if reply.status == 503:
                assert reply.headers["retry-after"] == "1"
                assert reply.json()["error"] == "overloaded"
            else:
                assert reply.json()["detections"] == expected
        # 16 slices at 4 per 400 ms call: past the 1.5 s deadline
        t0 = time.perf_counter()
        late = server.detect(scene_png(2, (330, 330)), "late.png", {"slice": "96", "overlap": "0"})
        assert late.status == 504
        assert late.json()["error"] == "deadline_exceeded"
        assert time.perf_counter() - t0 < 4
        # a body with no length, over the 1 MiB limit, cut off while read
        form, ctype = multipart(b"x" * (3 << 19), "big.png", {})  # 1.5 MiB file part
        pieces = [form[k : k + 65536] for k in range(0, len(form), 65536)]
        body = b"".join(b"%x\r\n" % len(p) + p + b"\r\n" for p in pieces) + b"0\r\n\r\n"
        head = (
            b"POST /v1/detect HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n"
            b"Content-Type: " + ctype.encode() + b"\r\n\r\n"
        )
        streamed = raw_exchange(server.port, head, [body])
        assert streamed.status == 413
        assert json.loads(streamed.body)["error"] == "upload_too_large"
        assert wait_until(lambda: metric(server.get("/metrics").body.decode(),
                                         "tilewise_serve_in_flight") == 0)  # fmt: skip
        assert server.get("/readyz").status == 200
        assert server.detect(small, "s.png").json()["detections"] == expected


# ---------------------------------------------------------------------- auth, CORS
def test_api_key_and_cors(tmp_path, fast_server):
    key = tmp_path / "key"
    key.write_text("s3cret-key\n")
    origin = "http://labelling.example"
    image = scene_png(3)
    with ServerProcess("--model", FAST, "--api-key-file", str(key), "--cors-origin", origin) as s:
        denied = s.detect(image)
        assert denied.status == 401
        assert denied.json()["error"] == "unauthorized"
        assert s.detect(image, headers={"X-API-Key": "wrong"}).status == 401
        assert s.detect(image, headers={"X-API-Key": "s3cret-key"}).status == 200
        assert s.detect(image, headers={"Authorization": "Bearer s3cret-key"}).status == 200
        assert s.get("/healthz").status == 200
        assert s.get("/readyz").json()["limits"]["auth"] is True
        preflight = {"Origin": origin, "Access-Control-Request-Method": "POST"}
        ok = request(s.port, "OPTIONS", "/v1/detect", headers=preflight)
        assert ok.headers.get("access-control-allow-origin") == origin
        other = request(s.port, "OPTIONS", "/v1/detect", headers=dict(preflight, Origin="http://x"))
        assert "access-control-allow-origin" not in other.headers
        metrics = s.get("/metrics").body.decode()
        assert metric(metrics, 'tilewise_serve_refused_total{reason="unauthorized"}') == 2
    # CORS is off unless configured
    off = request(fast_server.port, "OPTIONS", "/v1/detect", headers=preflight)
    assert "access-control-allow-origin" not in off.headers
    plain = fast_server.detect(image, headers={"Origin": origin})
    assert plain.status == 200
    assert "access-control-allow-origin" not in plain.headers


# ---------------------------------------------------------------------- shutdown
def test_sigterm_drains_in_flight_requests():
    with ServerProcess("--model", SLOW, "--max-batch", "4", "--max-delay-ms", "5") as server:
        image = scene_png(4, (190, 190))  # 8 slices of 96 (overlap 0.2): 2 calls, ~0.8 s
        expected = server.detect(image, "d.png").json()["detections"]
        with ThreadPoolExecutor(1) as pool:
            pending = pool.submit(server.detect, image, "d.png")
            assert wait_until(
                lambda: (
                    metric(server.get("/metrics").body.decode(), "tilewise_serve_in_flight") == 1
                ),
                timeout=5,
                step=0.02,
            )
            server.terminate()
            reply = pending.result(timeout=30)
        assert reply.status == 200
        assert reply.json()["detections"] == expected
        assert server.proc.wait(30) == 0
        log = server.log()
        assert "Traceback" not in log
        with pytest.raises(ConnectionRefusedError):
            request(server.port, "GET", "/healthz", timeout=2)
