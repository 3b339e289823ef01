"""The summary at the top of RESULTS.md, generated from the run it summarises.

``python -m benchmarks --write-results`` writes three things from one run: the "Latest run"
tables, this summary (between the summary markers of RESULTS.md) and the run's rows as
``latest-run.json`` beside RESULTS.md. ``tests/test_benchmark_results.py`` renders the
tables and the summary again from that JSON and requires both to equal what RESULTS.md
says, so no figure in either can drift from the run it describes.

Every figure here is formatted by the same functions as the tables (``fmt_time``,
``fmt_ratio``, ...), so each one can also be found, as printed, in the tables below it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

__all__ = [
    "SUMMARY_BEGIN",
    "SUMMARY_END",
    "json_path_for",
    "load_run",
    "replace_summary",
    "summary_block",
    "summary_markdown",
]

SUMMARY_BEGIN = "<!-- summary:begin (generated from the latest run by --write-results) -->"
SUMMARY_END = "<!-- summary:end -->"


def json_path_for(results_md: Path) -> Path:
    """Where the run behind ``results_md`` is kept: ``latest-run.json`` beside it."""
    return results_md.with_name("latest-run.json")


def load_run(path: str | os.PathLike[str]) -> dict[str, Any]:
    """A run dumped with ``--json``, with the keys JSON turned into strings made ints again."""
    data: dict[str, Any] = json.loads(Path(path).read_text(encoding="utf-8"))
    for row in data.get("results", {}).get("slicer", []):
        if isinstance(row.get("ratio_vs_tw"), dict):
            row["ratio_vs_tw"] = {int(k): v for k, v in row["ratio_vs_tw"].items()}
    return data


def _ok(rows: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for r in rows if r.get("status", "ok") == "ok" and r.get("time_s") is not None]


def _merge_lines(rows: list[dict[str, Any]]) -> list[str]:
    from benchmarks import bench_merge
    from benchmarks.__main__ import fmt_mb, fmt_ratio, fmt_time

    out: list[str] = []

    def find(n: int, lib: str, method: str) -> dict[str, Any] | None:
        return next(
            (r for r in rows if r["n"] == n and r["library"] == lib and r["method"] == method),
            None,
        )

    mismatched = sorted({r["n"] for r in rows if r.get("input_mismatch")})
    if mismatched:
        out.append(
            "- **Merge: INPUT MISMATCH** at N = "
            + ", ".join(f"{n:,}" for n in mismatched)
            + ": the libraries did not all merge the same boxes there, so no ratio is given."
        )
    nms = find(bench_merge.TARGET_BIG_N, "tilewise", "nms")
    nmm = find(bench_merge.TARGET_BIG_N, "tilewise", "nmm")
    if nms is not None and nmm is not None and nms["status"] == nmm["status"] == "ok":
        big = (nms, nmm)
        out.append(
            f"- **Merge at 1M boxes** (limits < 5 s, < 1 GB): NMS {fmt_time(nms['time_s'])}, "
            f"peak {fmt_mb(nms['peak_mb'])}; NMM {fmt_time(nmm['time_s'])}, peak "
            f"{fmt_mb(nmm['peak_mb'])}; met: {_verdicts(r['met'] for r in big)}."
        )
    parts = []
    for method, fn in (("nms", "with_nms"), ("nmm", "with_nmm")):
        r = find(bench_merge.TARGET_SV_N, "supervision", method)
        if r is not None and r["status"] == "ok" and r["ratio"] is not None:
            parts.append(
                f"`{fn}` {fmt_time(r['time_s'])}, {fmt_ratio(r['ratio'])} tilewise's time "
                f"(met: {_verdict(r['met'])})"
            )
    if parts:
        out.append(f"- **vs supervision at 10k** (target ≥ 50x): {'; '.join(parts)}.")
    parts = []
    for method in ("nms", "greedy_nmm", "nmm"):
        r = find(bench_merge.TARGET_SAHI_N, "sahi", method)
        if r is not None and r["status"] == "ok" and r["ratio"] is not None:
            parts.append(f"{method} {fmt_ratio(r['ratio'])} (met: {_verdict(r['met'])})")
    if parts:
        out.append(f"- **vs SAHI's numpy backend at 20k** (target ≥ 2x): {', '.join(parts)}.")
    sizes = sorted({r["n"] for r in rows})
    if sizes and sizes[-1] != bench_merge.TARGET_SAHI_N:
        n = sizes[-1]
        ratios = sorted(
            r["ratio"]
            for r in rows
            if r["n"] == n and r["library"] == "sahi" and r["ratio"] is not None
        )
        if ratios:
            span = fmt_ratio(ratios[0])
            if len(ratios) > 1:
                span += f" to {fmt_ratio(ratios[-1])}"
            out.append(f"- **vs SAHI at N = {n:,}**: tilewise is {span} faster.")
    same = []
    for method in ("nms", "greedy_nmm"):
        by_n: dict[int, set[int]] = {}
        for r in rows:
            if r["method"] == method and r["status"] == "ok":
                by_n.setdefault(r["n"], set()).add(int(r["kept"]))
        if by_n:
            same.append(
                f"{method}: {'yes' if all(len(v) == 1 for v in by_n.values()) else '**NO**'}"
            )
    if same:
        out.append(
            "- **Same kept count in every library that ran it, at every N**: "
            + ", ".join(same)
            + "."
        )
    return out


def _verdict(met: bool | None) -> str:
    return "n/a" if met is None else ("yes" if met else "**NO**")


def _verdicts(mets: Iterable[bool | None]) -> str:
    values = list(mets)
    if not values or any(m is None for m in values):
        return "n/a"
    return "yes" if all(values) else "**NO**"


def _slicer_lines(slicer: list[dict[str, Any]], batch: list[dict[str, Any]]) -> list[str]:
    from benchmarks.__main__ import fmt_ratio, fmt_time

    out: list[str] = []
    ok = _ok(slicer)
    tw = [r for r in ok if r["library"] == "tilewise" and not r.get("variant")]
    peers = [r for r in ok if r["library"] != "tilewise"]
    if tw and peers:
        fastest = min(peers, key=lambda r: float(r["time_s"]))
        tw_text = ", ".join(f"{fmt_time(r['time_s'])} at batch {r['batch_size']}" for r in tw)
        ratios = fastest.get("ratio_vs_tw") or {}
        ratio_text = ", ".join(
            f"{fmt_ratio(ratios[r['batch_size']])} tilewise's time at batch {r['batch_size']}"
            for r in tw
            if ratios.get(r["batch_size"]) is not None
        )
        targeted = [r.get("met") for r in tw if r.get("target")]
        out.append(
            f"- **Slicer overhead** (zero-cost model): tilewise {tw_text}; fastest peer "
            f"{fastest['library']} (batch {fastest['batch_size']}) "
            f"{fmt_time(fastest['time_s'])}, {ratio_text}"
            + (f" (target ≥ 3x; met: {_verdicts(targeted)})." if targeted else ".")
        )
    scan = [r for r in _ok(batch) if r["library"] == "tilewise"]
    if len(scan) >= 2:
        first, last = scan[0], scan[-1]
        out.append(
            f"- **Batch scan**: wall time {fmt_time(first['time_s'])} at batch "
            f"{first['batch_size']}, {fmt_time(last['time_s'])} at batch {last['batch_size']} "
            f"(falls with batch: {_verdicts(r.get('met') for r in scan)})."
        )
    return out


def _tiling_lines(rows: list[dict[str, Any]]) -> list[str]:
    def g(v: float) -> str:  # the tiling table's own format
        return f"{v:.4g}"

    def find(tool: str, stage: str) -> dict[str, Any] | None:
        return next((r for r in rows if r["tool"] == tool and r["stage"] == stage), None)

    out: list[str] = []
    tw, sa = find("tilewise", "annotations"), find("sahi", "annotations")
    if tw and sa and tw.get("time_s") and sa.get("time_s") and tw.get("speedup"):
        same = (tw["tiles"], tw["instances"]) == (sa["tiles"], sa["instances"])
        line = (
            f"- **Dataset tiling** ({tw['case']}, {tw.get('runs', 'best of 1')} each after a "
            f"warm-up): annotation processing {g(tw['speedup'])}x faster than SAHI "
            f"`slice_coco` ({g(tw['time_s'])} s vs {g(sa['time_s'])} s)"
        )
        te, se = find("tilewise", "end_to_end"), find("sahi", "end_to_end")
        if te and se and te.get("speedup"):
            line += (
                f", {g(te['speedup'])}x end to end with PNG tiles written "
                f"({g(te['time_s'])} s vs {g(se['time_s'])} s)"
            )
        line += (
            f"; same {tw['tiles']} tiles and {tw['instances']} instances from both: "
            f"{'yes' if same else '**NO**'}."
        )
        out.append(line)
    return out


def summary_markdown(header: dict[str, Any], results: dict[str, list[dict[str, Any]]]) -> str:
    """The summary block: one line per measured claim, every figure from ``results``."""
    from benchmarks.__main__ import summarize_targets

    lines = [
        f"_Generated from the latest run below ({header['date']}, `{header['command']}`) "
        "by `--write-results`; the figures are the tables' own._",
        "",
    ]
    body: list[str] = []
    body += _merge_lines(results.get("merge", []))
    body += _slicer_lines(results.get("slicer", []), results.get("batch", []))
    body += _tiling_lines(results.get("tiling", []))
    for target, measured, met in summarize_targets(
        {k: v for k, v in results.items() if k in ("masks", "onnx")}
    ):
        body.append(f"- **{target}**: {measured} (met: {_verdict_text(met)}).")
    if not body:
        body.append("- (this run measured nothing the summary covers)")
    return "\n".join(lines + body)


def _verdict_text(met: str) -> str:
    return "**NO**" if met == "NO" else met


def replace_summary(text: str, summary: str) -> str:
    """``text`` with the block between the summary markers replaced (unchanged without them)."""
    if SUMMARY_BEGIN not in text or SUMMARY_END not in text:
        return text
    head, rest = text.split(SUMMARY_BEGIN, 1)
    _, tail = rest.split(SUMMARY_END, 1)
    return f"{head}{SUMMARY_BEGIN}\n\n{summary.rstrip()}\n\n{SUMMARY_END}{tail}"


def summary_block(text: str) -> str | None:
    """The summary text between the markers of ``text`` (None without markers)."""
    if SUMMARY_BEGIN not in text or SUMMARY_END not in text:
        return None
    return text.split(SUMMARY_BEGIN, 1)[1].split(SUMMARY_END, 1)[0].strip()
