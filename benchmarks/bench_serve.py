"""The HTTP service under load (issue 14): cross-request batching on vs off, limits.

Every server is a ``tilewise serve`` process on 127.0.0.1 (port picked by the OS),
stopped when its cell is done; clients are threads in this process sending a fixed number
of requests in a closed loop (each sends its next request when the last one is answered).

* **throughput**: requests/s and client-side p50/p99 latency at 1, 4 and 16 concurrent
  clients, with cross-request batching on (``--max-batch 8 --max-delay-ms 5``) and off
  (``--no-batching``: each request's slices batched alone, what wrapping ``Slicer`` per
  request gives), for two models:

  - ``onnx``: the bundled detector (ONNX Runtime on the CPU), a 640x480 crop of the
    sample scene: 6 slices of 320 px per request;
  - ``fixed-cost``: ``tilewise.serve.testing.FixedCostModel`` (30 ms per call + 2 ms per
    slice, a sleep that releases the GIL as an accelerator call does), a 400x256 frame: 2
    slices of 256 px per request.

  Every answer is checked against the same request sent alone (``correct``), and the
  model calls and mean batch size are read from ``/metrics``.
* **overload**: 16 clients against ``--max-inflight 4``: every answer is a 200 or a 503
  with ``Retry-After``, never a 5xx or a hang.
* **bad input**: the tests' table (``tests.serve_helpers.bad_input_table``): status and
  error of each case, then whether the server is still healthy and correct.

Run: ``python -m benchmarks.bench_serve [--quick] [--json FILE]`` (about 4 minutes on 2
cores; ``--quick`` about 1).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # tests.serve_helpers: the server launcher and client
    sys.path.insert(0, str(ROOT))

from tests.serve_helpers import (  # noqa: E402
    ServerProcess,
    bad_input_table,
    jpeg_bytes,
    png_bytes,
    send_case,
)

CLIENTS = (1, 4, 16)
MODES = {
    "on": ["--max-batch", "8", "--max-delay-ms", "5"],
    "off": ["--no-batching", "--max-batch", "8"],
}
FIXED = "tilewise.serve.testing:FixedCostModel"


def _onnx_image() -> bytes:
    from tilewise.images import load_image
    from tilewise.models.bundled import SAMPLE_IMAGE_NAME, bundled_path

    return jpeg_bytes(load_image(bundled_path(SAMPLE_IMAGE_NAME))[700:1180, 600:1240])


def _fixed_image() -> bytes:
    from tests.conftest import make_scene

    return png_bytes(make_scene((400, 256), 20, seed=5, size=(4, 24))[0])


MODELS: dict[str, dict[str, Any]] = {
    "onnx": {"args": [], "image": _onnx_image, "requests": 32, "quick": 8},
    "fixed-cost": {"args": ["--model", FIXED], "image": _fixed_image, "requests": 64, "quick": 16},
}


def _metric(text: str, name: str) -> float:
    return sum(
        float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(name + " ")
    )


def run_cell(
    server: ServerProcess, data: bytes, clients: int, total: int, time_limit: float = 300.0
) -> dict[str, Any]:
    """``total`` requests from ``clients`` threads, closed loop; latencies and correctness."""
    reference = server.detect(data, "bench.jpg").json()["detections"]
    before = server.get("/metrics").body.decode()
    deadline = time.monotonic() + time_limit
    per_client = max(total // clients, 1)

    def client(_: int) -> list[tuple[int, float, bool]]:
        out = []
        for _ in range(per_client):
            if time.monotonic() > deadline:
                break
            t0 = time.perf_counter()
            reply = server.detect(data, "bench.jpg", timeout=120)
            took = time.perf_counter() - t0
            ok = reply.status == 200 and reply.json()["detections"] == reference
            out.append((reply.status, took, ok))
        return out

    t0 = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        rows = [r for rs in pool.map(client, range(clients)) for r in rs]
    wall = time.perf_counter() - t0
    after = server.get("/metrics").body.decode()
    calls = _metric(after, "tilewise_serve_model_calls_total") - _metric(
        before, "tilewise_serve_model_calls_total"
    )
    slices = _metric(after, "tilewise_serve_slices_total") - _metric(
        before, "tilewise_serve_slices_total"
    )
    lat = np.array([took for _, took, _ in rows])
    return {
        "clients": clients,
        "requests": len(rows),
        "seconds": round(wall, 3),
        "rps": round(len(rows) / wall, 2),
        "p50_ms": round(float(np.percentile(lat, 50)) * 1000, 1),
        "p99_ms": round(float(np.percentile(lat, 99)) * 1000, 1),
        "correct": sum(ok for _, _, ok in rows),
        "statuses": sorted({s for s, _, _ in rows}),
        "model_calls": int(calls),
        "mean_batch": round(slices / calls, 2) if calls else 0.0,
    }


def throughput(quick: bool, log: Callable[[str], None]) -> list[dict[str, Any]]:
    """Every (model, batching, clients) cell."""
    out = []
    for model, spec in MODELS.items():
        data = spec["image"]()
        total = spec["quick" if quick else "requests"]
        for mode, args in MODES.items():
            limits = ("--max-inflight", "64", "--timeout", "300")  # measure, never refuse
            with ServerProcess(*spec["args"], *args, *limits) as server:
                for clients in CLIENTS:
                    cell = run_cell(server, data, clients, max(total, clients))
                    cell.update(model=model, batching=mode)
                    log(
                        f"{model:10s} batching {mode:3s} {clients:2d} clients: {cell['rps']:6.2f} "
                        f"req/s, p50 {cell['p50_ms']:7.1f} ms, p99 {cell['p99_ms']:7.1f} ms, "
                        f"mean batch {cell['mean_batch']}"
                    )
                    out.append(cell)
    return out


def overload(quick: bool, log: Callable[[str], None]) -> dict[str, Any]:
    """16 clients against --max-inflight 4: 200s and 503s only."""
    data = _fixed_image()
    with ServerProcess("--model", FIXED, "--max-inflight", "4", *MODES["on"]) as server:
        reference = server.detect(data, "o.png").json()["detections"]
        per_client = 3 if quick else 8

        def client(_: int) -> list[tuple[int, float, bool, str]]:
            out = []
            for _ in range(per_client):
                t0 = time.perf_counter()
                reply = server.detect(data, "o.png", timeout=60)
                took = time.perf_counter() - t0
                ok = reply.status == 200 and reply.json()["detections"] == reference
                out.append((reply.status, took, ok, reply.headers.get("retry-after", "")))
            return out

        with ThreadPoolExecutor(16) as pool:
            rows = [r for rs in pool.map(client, range(16)) for r in rs]
        healthy = server.get("/readyz").status == 200
        refused = server.get("/metrics").body.decode()
    served = [r for r in rows if r[0] == 200]
    lat = np.array([r[1] for r in served]) if served else np.zeros(1)
    result = {
        "requests": len(rows),
        "ok": len(served),
        "correct": sum(r[2] for r in served),
        "overloaded_503": sum(1 for r in rows if r[0] == 503 and r[3]),
        "other": sorted({r[0] for r in rows} - {200, 503}),
        "p99_ms_served": round(float(np.percentile(lat, 99)) * 1000, 1),
        "refused_metric": int(
            _metric(refused, 'tilewise_serve_refused_total{reason="overloaded"}')
        ),
        "healthy_after": healthy,
    }
    log(f"overload: {result}")
    return result


def bad_input(log: Callable[[str], None]) -> dict[str, Any]:
    """The tests' bad-input table against a fresh server, then health and correctness."""
    data = _fixed_image()
    rows = []
    with tempfile.TemporaryDirectory() as tmp, ServerProcess("--model", FIXED) as server:
        before = server.detect(data, "g.png").json()["detections"]
        for case, how, status, error in bad_input_table(Path(tmp)):
            t0 = time.perf_counter()
            reply = send_case(server, how)
            took = time.perf_counter() - t0
            try:
                got = json.loads(reply.body).get("error")
            except ValueError:
                got = None
            rows.append(
                {
                    "case": case,
                    "status": reply.status,
                    "error": got,
                    "expected": [status, error],
                    "ms": round(took * 1000, 1),
                }
            )
        healthy = server.get("/healthz").status == 200 and server.get("/readyz").status == 200
        same = server.detect(data, "g.png").json()["detections"] == before
    result = {"cases": rows, "healthy_after": healthy, "same_answer_after": same}
    good = sum(r["status"] == r["expected"][0] and r["error"] == r["expected"][1] for r in rows)
    log(f"bad input: {good}/{len(rows)} as expected; healthy {healthy}, same answer {same}")
    return result


def markdown(results: dict[str, Any]) -> str:
    """The tables as Markdown (what RESULTS.md records)."""
    lines = [
        "| model | clients | batching | req/s | p50 ms | p99 ms | model calls | mean batch "
        "| correct | statuses |",
        "|---|---:|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    cells = results["throughput"]
    for model in MODELS:
        for clients in CLIENTS:
            for mode in MODES:
                c = next(
                    x
                    for x in cells
                    if x["model"] == model and x["clients"] == clients and x["batching"] == mode
                )
                lines.append(
                    f"| {model} | {clients} | {mode} | {c['rps']:.2f} | {c['p50_ms']:.0f} | "
                    f"{c['p99_ms']:.0f} | {c['model_calls']} | {c['mean_batch']:.2f} | "
                    f"{c['correct']}/{c['requests']} | {','.join(map(str, c['statuses']))} |"
                )
    o = results["overload"]
    lines += [
        "",
        f"Overload (16 clients, `--max-inflight 4`, fixed-cost model): {o['requests']} "
        f"requests, {o['ok']} answered 200 ({o['correct']} correct, p99 {o['p99_ms_served']:.0f}"
        f" ms), {o['overloaded_503']} answered 503 with Retry-After, other statuses: "
        f"{o['other'] or 'none'}; healthy after: {o['healthy_after']}.",
        "",
        "| bad input | status | error | ms |",
        "|---|---:|---|---:|",
    ]
    b = results["bad_input"]
    for r in b["cases"]:
        mark = (
            ""
            if [r["status"], r["error"]] == r["expected"]
            else " (expected " + str(r["expected"]) + ")"
        )
        lines.append(f"| {r['case']} | {r['status']} | {r['error']}{mark} | {r['ms']:.0f} |")
    lines += [
        "",
        f"After the table: healthy {b['healthy_after']}, same answer to a good request "
        f"{b['same_answer_after']}.",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    """Command line: run every section, print the tables, optionally write JSON."""
    p = argparse.ArgumentParser(prog="python -m benchmarks.bench_serve", description=__doc__)
    p.add_argument("--quick", action="store_true", help="fewer requests per cell")
    p.add_argument("--json", type=Path, default=None, help="write the results here")
    args = p.parse_args(argv)

    def log(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    t0 = time.perf_counter()
    results = {
        "throughput": throughput(args.quick, log),
        "overload": overload(args.quick, log),
        "bad_input": bad_input(log),
    }
    results["seconds"] = round(time.perf_counter() - t0, 1)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    print(markdown(results))


if __name__ == "__main__":
    main()
