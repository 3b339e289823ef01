"""``python -m benchmarks``: run the benchmark suite and print (or record) the tables.

Examples:
    python -m benchmarks                          # everything, full sizes (~15-20 min)
    python -m benchmarks --quick                  # tiny sizes, seconds (used by the smoke test)
    python -m benchmarks --only merge --sizes 10k,20k --methods nms
    python -m benchmarks --write-results          # full run, rewrite benchmarks/RESULTS.md
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shlex
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from benchmarks import bench_merge, bench_slicer, peers
from benchmarks.data import DEFAULT_SEED

SECTIONS = ("merge", "slicer", "batch", "tiling", "masks", "onnx", "tracking", "raster")
# Long sections, each with its own hand-recorded table in RESULTS.md: raster (16k² and 32k²
# GeoTIFFs, ~10 min) and tracking (the peers' threshold grid, ~7 min); run with --only.
OPT_IN = ("raster", "tracking")
RESULTS_PATH = Path(__file__).resolve().parent / "RESULTS.md"
BEGIN_MARK = "<!-- latest-run:begin (rewritten by `python -m benchmarks --write-results`) -->"
END_MARK = "<!-- latest-run:end -->"


# ----------------------------------------------------------------------------- parsing


def parse_size(text: str) -> int:
    """``"10k"`` -> 10000, ``"1M"`` -> 1000000, ``"2500"`` -> 2500."""
    t = text.strip().lower().replace("_", "")
    mult = 1
    if t.endswith("k"):
        mult, t = 1_000, t[:-1]
    elif t.endswith("m"):
        mult, t = 1_000_000, t[:-1]
    value = float(t) * mult
    if value < 1 or value != int(value):
        raise argparse.ArgumentTypeError(f"bad size {text!r}")
    return int(value)


def _csv(text: str) -> list[str]:
    return [p.strip() for p in text.split(",") if p.strip()]


def build_parser() -> argparse.ArgumentParser:
    """The command-line interface."""
    p = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="tilewise sliced-inference benchmarks beside supervision and SAHI.",
    )
    p.add_argument("--quick", action="store_true", help="tiny sizes, seconds; for smoke tests")
    p.add_argument(
        "--only",
        type=_csv,
        default=[s for s in SECTIONS if s not in OPT_IN],
        help=f"comma-separated sections to run: {','.join(SECTIONS)} (default: all but "
        f"{','.join(OPT_IN)})",
    )
    p.add_argument(
        "--sizes",
        type=lambda s: [parse_size(x) for x in _csv(s)],
        default=None,
        help="merge sizes, e.g. 10k,20k,100k,1M (default: those, or 1k with --quick)",
    )
    p.add_argument(
        "--methods",
        type=_csv,
        default=list(bench_merge.METHODS),
        help=f"merge methods (default: {','.join(bench_merge.METHODS)})",
    )
    p.add_argument(
        "--libs",
        type=_csv,
        default=None,
        help=(
            "libraries: tilewise,tilewise-kernel,tilewise-numpy,supervision,sahi,ensemble-boxes "
            "(default: all)"
        ),
    )
    p.add_argument("--timeout", type=float, default=120.0, help="per-case peer timeout (s)")
    p.add_argument("--repeats", type=int, default=None, help="best of k (default 3; 1 if --quick)")
    p.add_argument("--seed", type=int, default=DEFAULT_SEED)
    p.add_argument(
        "--isolate",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="measure each case in a fresh subprocess (default: yes; no with --quick)",
    )
    p.add_argument("--profile", action="store_true", help="print a cProfile of tilewise cases")
    p.add_argument("--json", type=Path, default=None, help="also dump all rows to this file")
    p.add_argument(
        "--write-results",
        nargs="?",
        type=Path,
        const=RESULTS_PATH,
        default=None,
        metavar="PATH",
        help="rewrite the latest-run section of RESULTS.md (or PATH)",
    )
    return p


# ----------------------------------------------------------------------------- environment


def machine_info() -> dict[str, Any]:
    """Platform, CPU model, cores and RAM of this machine."""
    cpu = platform.processor() or "unknown"
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    ram_gb: float | None = None
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemTotal:"):
                    ram_gb = int(line.split()[1]) / 1024**2
                    break
    except OSError:
        pass
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        usable = os.cpu_count() or 0
    return {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpu": cpu,
        "cores": usable,
        "ram_gb": ram_gb,
    }


# ----------------------------------------------------------------------------- formatting


def fmt_time(seconds: float | None) -> str:
    """Human-readable duration."""
    if seconds is None:
        return "—"
    if seconds < 1e-3:
        return f"{seconds * 1e6:.0f} µs"
    if seconds < 1.0:
        return f"{seconds * 1e3:.1f} ms"
    return f"{seconds:.2f} s"


def fmt_mb(mb: float | None) -> str:
    """Human-readable MiB amount."""
    if mb is None:
        return "—"
    if mb >= 1024:
        return f"{mb / 1024:.2f} GiB"
    return f"{mb:.1f} MiB"


def fmt_ratio(r: float | None) -> str:
    """Peer time / tilewise time."""
    if r is None:
        return "—"
    return f"{r:,.0f}x" if r >= 10 else f"{r:.2f}x"


def fmt_met(row: dict[str, Any]) -> str:
    """yes / no / n/a (target defined but not measurable) / — (no target)."""
    if not row.get("target"):
        return "—"
    met = row.get("met")
    return "n/a" if met is None else ("**yes**" if met else "**NO**")


def md_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A GitHub-flavoured markdown table (also readable in a terminal)."""
    cells = [[str(c) for c in r] for r in rows]
    widths = [max([len(h)] + [len(r[i]) for r in cells]) for i, h in enumerate(headers)]

    def line(values: Sequence[str]) -> str:
        return "| " + " | ".join(v.ljust(w) for v, w in zip(values, widths, strict=True)) + " |"

    out = [line(list(headers)), "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    out.extend(line(r) for r in cells)
    return "\n".join(out)


def merge_tables(rows: list[dict[str, Any]]) -> str:
    """One table per N."""
    parts: list[str] = []
    headers = (
        "N", "method", "library", "function", "time", "runs", "peak Δ mem", "peak mem",
        "kept", "ratio (peer/tw)", "target", "met", "note",
    )  # fmt: skip
    sizes = sorted({r["n"] for r in rows})
    for n in sizes:
        body = []
        for r in (r for r in rows if r["n"] == n):
            ok = r["status"] == "ok"
            body.append(
                (
                    f"{n:,}",
                    r["method"],
                    r["library"],
                    f"`{r['function']}`",
                    fmt_time(r["time_s"]) if ok else r["status_text"],
                    r["repeats"] or "—",
                    fmt_mb(r["peak_delta_mb"]) if ok else "—",
                    fmt_mb(r["peak_mb"]) if ok else "—",
                    r["kept"] if ok else "—",
                    fmt_ratio(r["ratio"]),
                    r["target"] or "—",
                    fmt_met(r),
                    r["note"] or "",
                )
            )
        parts.append(f"#### Merge, N = {n:,}\n\n" + md_table(headers, body))
    return "\n\n".join(parts)


def slicer_table(rows: list[dict[str, Any]]) -> str:
    """Zero-cost model overhead table."""
    tw_batches = sorted(
        {
            r["batch_size"]
            for r in rows
            if r["library"] == "tilewise" and not r.get("variant") and r["status"] == "ok"
        }
    )
    headers = [
        "library", "batch", "slices seen", "model calls", "total time", "runs", "peak Δ mem",
        "kept",
    ] + [f"peer/tw(bs={b})" for b in tw_batches] + ["target", "met"]  # fmt: skip
    body = []
    for r in rows:
        ok = r["status"] == "ok"
        ratios = r.get("ratio_vs_tw") or {}
        body.append(
            [
                r["library"] + (f" ({r['variant']})" if r.get("variant") else ""),
                r["batch_size"],
                r["slices"] if ok else "—",
                r["model_calls"] if ok else "—",
                fmt_time(r["time_s"]) if ok else r["status_text"],
                r["repeats"] or "—",
                fmt_mb(r["peak_delta_mb"]) if ok else "—",
                r["kept"] if ok else "—",
            ]
            + [fmt_ratio(ratios.get(b)) for b in tw_batches]
            + [r["target"] or "—", fmt_met(r)]
        )
    return md_table(headers, body)


def batch_table(rows: list[dict[str, Any]]) -> str:
    """Batch-size scan table."""
    headers = (
        "library", "batch", "model calls", "slices", "wall time", "model time (sleep)",
        "overhead", "slices/s", "speed-up vs tilewise bs=1", "falls with batch",
    )  # fmt: skip
    body = []
    for r in rows:
        ok = r["status"] == "ok"
        body.append(
            (
                r["library"],
                r["batch_size"],
                r["model_calls"] if ok else "—",
                r["slices"] if ok else "—",
                fmt_time(r["time_s"]) if ok else r["status_text"],
                fmt_time(r.get("model_s")),
                fmt_time(r.get("overhead_s")),
                f"{r['slices_per_s']:.1f}" if r.get("slices_per_s") else "—",
                fmt_ratio(r.get("speedup_vs_bs1")),
                fmt_met(r),
            )
        )
    return md_table(headers, body)


def generic_table(rows: list[dict[str, Any]]) -> str:
    """Any list of flat dicts (used for the tiling section)."""
    if not rows:
        return "(no rows)"
    keys: list[str] = []
    for r in rows:
        for k in r:
            if k not in keys:
                keys.append(k)

    def cell(v: Any) -> str:
        if v is None:
            return "—"
        if isinstance(v, float):
            return f"{v:.4g}"
        return str(v)

    return md_table(keys, [[cell(r.get(k)) for k in keys] for r in rows])


# ----------------------------------------------------------------------------- targets


def summarize_targets(results: dict[str, list[dict[str, Any]]]) -> list[tuple[str, str, str]]:
    """(target, measured, met) lines for every target of the issue that this run covers."""
    out: list[tuple[str, str, str]] = []
    merge = results.get("merge", [])

    def verdict(met: bool | None) -> str:
        return "n/a" if met is None else ("yes" if met else "NO")

    def find(n: int, lib: str, method: str) -> dict[str, Any] | None:
        return next(
            (r for r in merge if r["n"] == n and r["library"] == lib and r["method"] == method),
            None,
        )

    for method in ("nms", "nmm"):
        r = find(bench_merge.TARGET_BIG_N, "tilewise", method)
        if r is not None:
            measured = (
                f"{fmt_time(r['time_s'])}, peak {fmt_mb(r['peak_mb'])} "
                f"(Δ {fmt_mb(r['peak_delta_mb'])})"
                if r["status"] == "ok"
                else r["status_text"]
            )
            out.append((f"{method.upper()} on 1M boxes: < 5 s and < 1 GB", measured,
                        verdict(r["met"])))  # fmt: skip
    for method in bench_merge.PEER_METHODS["sahi"]:
        r = find(bench_merge.TARGET_NUMPY_N, "tilewise-numpy", method)
        if r is not None and r["target"]:
            sahi = find(bench_merge.TARGET_NUMPY_N, "sahi", method)
            measured = (
                f"{fmt_time(r['time_s'])} vs SAHI {fmt_time(sahi['time_s'])}"
                if r["status"] == "ok" and sahi is not None and sahi["status"] == "ok"
                else r["status_text"]
            )
            out.append((f"numpy kernels at 20k: {method} faster than SAHI", measured,
                        verdict(r["met"])))  # fmt: skip
    for method, fn in (("nms", "with_nms"), ("nmm", "with_nmm")):
        r = find(bench_merge.TARGET_SV_N, "supervision", method)
        if r is not None:
            measured = (
                f"{fmt_ratio(r['ratio'])} (supervision {fmt_time(r['time_s'])})"
                if r["status"] == "ok"
                else r["status_text"]
            )
            out.append((f"10k: ≥ 50x faster than supervision `{fn}`", measured,
                        verdict(r["met"])))  # fmt: skip
    for method in ("nms", "greedy_nmm", "nmm"):
        r = find(bench_merge.TARGET_SAHI_N, "sahi", method)
        if r is not None:
            measured = (
                f"{fmt_ratio(r['ratio'])} (SAHI {fmt_time(r['time_s'])})"
                if r["status"] == "ok"
                else r["status_text"]
            )
            out.append((f"20k: ≥ 2x faster than SAHI numpy `{method}`", measured,
                        verdict(r["met"])))  # fmt: skip
    slicer = results.get("slicer", [])
    peers_ok = [r for r in slicer if r["library"] != "tilewise" and r["status"] == "ok"]
    for r in (r for r in slicer if r["library"] == "tilewise" and r.get("target")):
        if r["status"] == "ok" and peers_ok:
            best_peer = min(peers_ok, key=lambda p: float(p["time_s"]))
            measured = (
                f"{fmt_time(r['time_s'])} vs fastest peer {best_peer['library']} "
                f"(bs={best_peer['batch_size']}) {fmt_time(best_peer['time_s'])}: "
                f"{fmt_ratio(float(best_peer['time_s']) / float(r['time_s']))}"
            )
        else:
            measured = r["status_text"]
        out.append((f"Slicer overhead, tilewise bs={r['batch_size']}: ≤ ⅓ of each peer",
                    measured, verdict(r["met"])))  # fmt: skip
    batch = [r for r in results.get("batch", []) if r["library"] == "tilewise"]
    if batch:
        ok = [r for r in batch if r["status"] == "ok"]
        if ok:
            measured = ", ".join(f"bs={r['batch_size']}: {fmt_time(r['time_s'])}" for r in ok)
            met: bool | None = all(bool(r["met"]) for r in ok) and len(ok) == len(batch)
        else:
            measured, met = batch[0]["status_text"], None
        out.append(("Batch scan: wall time falls with batch size", measured, verdict(met)))
    if results.get("masks"):
        from benchmarks import bench_masks

        out.extend(bench_masks.targets(results["masks"]))
    if results.get("onnx"):
        from benchmarks import bench_onnx

        out.extend(bench_onnx.targets(results["onnx"]))
    if results.get("tracking"):
        from benchmarks import bench_tracking

        out.extend(bench_tracking.targets(results["tracking"]))
    if results.get("raster"):
        from benchmarks import bench_raster

        out.extend(bench_raster.targets(results["raster"]))
    return out


# ----------------------------------------------------------------------------- report


def render(
    header: dict[str, Any],
    results: dict[str, list[dict[str, Any]]],
    targets: list[tuple[str, str, str]],
) -> str:
    """The whole report as markdown (printed, and written into RESULTS.md)."""
    m = header["machine"]
    v = header["versions"]
    lines = [
        "## Latest run",
        "",
        f"- Date: {header['date']}",
        f"- Machine: {m['platform']}; CPU: {m['cpu']}; {m['cores']} usable cores; "
        f"RAM {m['ram_gb']:.1f} GiB; Python {m['python']}"
        if m.get("ram_gb")
        else f"- Machine: {m['platform']}; CPU: {m['cpu']}; {m['cores']} usable cores",
        "- Versions: " + ", ".join(f"{k} {val}" for k, val in v.items()),
        f"- Command: `{header['command']}`",
        f"- Mode: {header['mode']}",
        "",
    ]
    if targets:
        lines += ["### Targets", "", md_table(("target", "measured", "met"), targets), ""]
    if "merge" in results:
        lines += ["### Merge", "", merge_tables(results["merge"]), ""]
    if "slicer" in results:
        lines += [
            "### Slicer overhead (zero-cost model, 50 detections per slice)",
            "",
            slicer_table(results["slicer"]),
            "",
        ]
    if "batch" in results:
        rows = results["batch"]
        cost = f"{rows[0]['fixed_ms']:g} ms per call + {rows[0]['per_image_ms']:g} ms per image"
        lines += [f"### Batch-size scan (model: {cost})", "", batch_table(rows), ""]
    if "tiling" in results:
        lines += ["### Dataset tiling", "", generic_table(results["tiling"]), ""]
    if "masks" in results:
        from benchmarks import bench_masks

        lines += ["### Masks", "", bench_masks.table(results["masks"]), ""]
    if "onnx" in results:
        lines += ["### ONNX detector through the slicer", "", generic_table(results["onnx"]), ""]
    if "tracking" in results:
        from benchmarks import bench_tracking

        lines += ["### Tracking tiny movers", "", bench_tracking.table(results["tracking"]), ""]
    if "raster" in results:
        from benchmarks import bench_raster

        raster = bench_raster.table(results["raster"])
        lines += ["### Huge rasters window by window", "", raster, ""]
    return "\n".join(lines).rstrip() + "\n"


def write_results(path: Path, section: str, summary: str | None = None) -> None:
    """Replace the text between the latest-run markers of ``path`` (create it if needed).

    With ``summary``, the text between the summary markers is replaced too (see
    ``benchmarks/summary.py``), so the summary and the tables come from the same run.
    """
    from benchmarks.summary import replace_summary

    block = f"{BEGIN_MARK}\n\n{section.rstrip()}\n\n{END_MARK}"
    text = path.read_text(encoding="utf-8") if path.exists() else "# Benchmark results\n"
    if BEGIN_MARK in text and END_MARK in text:
        head, rest = text.split(BEGIN_MARK, 1)
        _, tail = rest.split(END_MARK, 1)
        new = head + block + tail
    else:
        new = text.rstrip() + "\n\n" + block + "\n"
    if summary is not None:
        new = replace_summary(new, summary)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(new, encoding="utf-8")
    os.replace(tmp, path)


# ----------------------------------------------------------------------------- main


def _run_tiling(
    quick: bool, repeats: int, log: Callable[[str], None]
) -> list[dict[str, Any]] | None:
    try:
        from benchmarks import bench_tiling  # type: ignore[attr-defined]
    except ImportError as exc:
        log(f"tiling: benchmarks.bench_tiling not importable ({exc}); section skipped")
        return None
    rows: list[dict[str, Any]] = list(bench_tiling.run(quick=quick, repeats=repeats))
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the process exit code."""
    args = build_parser().parse_args(argv)
    unknown = [s for s in args.only if s not in SECTIONS]
    if unknown:
        build_parser().error(f"unknown section(s) {unknown}; choose from {SECTIONS}")
    quick: bool = args.quick
    isolate = (not quick) if args.isolate is None else bool(args.isolate)
    repeats = args.repeats if args.repeats is not None else (1 if quick else 3)

    def log(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    command = "python -m benchmarks" + (
        " " + " ".join(shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:]))
        if (argv if argv is not None else sys.argv[1:])
        else ""
    )
    header: dict[str, Any] = {
        "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine_info(),
        "versions": peers.library_versions(),
        "command": command,
        "mode": (
            ("quick" if quick else "full")
            + (
                "; each case in a fresh subprocess"
                if isolate
                else "; in-process (memory figures not isolated)"
            )
            + f"; best of ≤{repeats} runs after a warm-up"
        ),
    }
    results: dict[str, list[dict[str, Any]]] = {}

    if "merge" in args.only:
        sizes = args.sizes or list(bench_merge.QUICK_SIZES if quick else bench_merge.FULL_SIZES)
        libs = args.libs or list(bench_merge.LIBRARIES)
        log(f"merge: sizes {sizes}, methods {args.methods}, libraries {libs}")
        results["merge"] = bench_merge.run(
            bench_merge.MergeConfig(
                sizes=sizes,
                methods=args.methods,
                libraries=libs,
                seed=args.seed,
                peer_timeout_s=args.timeout,
                repeats=repeats,
                isolate=isolate,
                profile=args.profile,
            ),
            log=log,
        )
    small_image = (1280, 720)
    if "slicer" in args.only:
        log("slicer: zero-cost model overhead")
        ocfg = bench_slicer.OverheadConfig(
            seed=args.seed, repeats=max(repeats, 1 if quick else 5), isolate=isolate,
            profile=args.profile,
        )  # fmt: skip
        if quick:
            ocfg.image_wh = small_image
            ocfg.peers = (("supervision", 1), ("sahi", 1))
        if args.libs:
            ocfg.peers = tuple(p for p in ocfg.peers if p[0] in args.libs)
            if "tilewise" not in args.libs:
                ocfg.tilewise_batches = ()
                ocfg.tilewise_contiguous_batches = ()
        results["slicer"] = bench_slicer.run_overhead(ocfg, log=log)
    if "batch" in args.only:
        log("batch: model with fixed + per-image cost")
        bcfg = bench_slicer.BatchConfig(seed=args.seed, repeats=repeats, isolate=isolate)
        if quick:
            bcfg.image_wh = small_image
            bcfg.fixed_ms, bcfg.per_image_ms = 2.0, 0.5
            bcfg.tilewise_batches = (1, 2, 4)
            bcfg.peers = (("supervision", 1),)
        if args.libs:
            bcfg.peers = tuple(p for p in bcfg.peers if p[0] in args.libs)
            if "tilewise" not in args.libs:
                bcfg.tilewise_batches = ()
        results["batch"] = bench_slicer.run_batch_scan(bcfg, log=log)
    if "tiling" in args.only:
        tiling = _run_tiling(quick, repeats, log)
        if tiling is not None:
            results["tiling"] = tiling
    if "masks" in args.only:
        from benchmarks import bench_masks

        log("masks: segmentation through the slicer, NMS and NMM")
        results["masks"] = bench_masks.run(quick=quick)
    if "onnx" in args.only:
        from benchmarks import bench_onnx

        log("onnx: bundled detector, tilewise Slicer vs supervision InferenceSlicer, batch 8")
        results["onnx"] = bench_onnx.run(quick=quick)
    if "tracking" in args.only:
        from benchmarks import bench_tracking

        log("tracking: tiny movers, tilewise Tracker vs trackers ByteTrack/OC-SORT/SORT")
        results["tracking"] = bench_tracking.run(quick=quick, log=log)
    if "raster" in args.only:
        from benchmarks import bench_raster

        log("raster: generated GeoTIFFs, tilewise RasterSource vs supervision's rasterio path")
        results["raster"] = bench_raster.run(quick=quick, log=log)

    targets = summarize_targets(results)
    report = render(header, results, targets)
    print(report)
    for section_rows in results.values():
        for r in section_rows:
            if r.get("profile"):
                label = f"{r.get('section')} {r.get('library')} {r.get('method', '')} " + (
                    f"N={r['n']:,}" if "n" in r else f"bs={r.get('batch_size')}"
                )
                print(f"\n===== profile: {label} =====\n{r['profile']}")
    payload = {"header": header, "results": results, "targets": targets}
    if args.json is not None:
        args.json.write_text(json.dumps(payload, indent=1, default=str), encoding="utf-8")
    if args.write_results is not None:
        from benchmarks.summary import json_path_for, summary_markdown

        write_results(args.write_results, report, summary_markdown(header, results))
        # the run itself, so the tests can check RESULTS.md against it
        json_path_for(args.write_results).write_text(
            json.dumps(payload, indent=1, default=str) + "\n", encoding="utf-8"
        )
        log(f"wrote {args.write_results} and {json_path_for(args.write_results)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
