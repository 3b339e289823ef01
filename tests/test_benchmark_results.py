"""The benchmarks measure every library the same way, and RESULTS.md says what its run says.

Issue 17, item 2. No timing is asserted: fake clocks and fake measurements stand in for
the real ones, so each rule of the runner is checked exactly.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from benchmarks import bench_merge, bench_tiling
from benchmarks.__main__ import (
    BEGIN_MARK,
    END_MARK,
    RESULTS_PATH,
    merge_tables,
    render,
    summarize_targets,
    write_results,
)
from benchmarks.summary import (
    SUMMARY_BEGIN,
    SUMMARY_END,
    json_path_for,
    load_run,
    summary_block,
    summary_markdown,
)

# ----------------------------------------------------------------------------- merge guard


def _fake_run_case(bad: dict[tuple[int, str], str]) -> Any:
    """A stand-in for ``measure.run_case``: times by library, checksum per (N, library)."""
    speed = {"tilewise": 1.0, "tilewise-kernel": 0.9, "supervision": 100.0, "sahi": 10.0}

    def run_case(case: dict[str, Any], timeout: float, isolate: bool) -> dict[str, Any]:
        n, lib = int(case["n"]), str(case["library"])
        return {
            "status": "ok",
            "time_s": speed[lib] * n / 1e6,
            "repeats": 1,
            "times_s": [speed[lib] * n / 1e6],
            "peak_delta_mb": 1.0,
            "peak_mb": 50.0,
            "kept": n // 3,
            "checksum": bad.get((n, lib), f"sum-{n}"),
        }

    return run_case


def _merge_rows(monkeypatch: pytest.MonkeyPatch, bad: dict[tuple[int, str], str]) -> list[Any]:
    monkeypatch.setattr(bench_merge, "run_case", _fake_run_case(bad))
    cfg = bench_merge.MergeConfig(
        sizes=(10_000, 20_000),
        methods=("nms",),
        libraries=("tilewise", "supervision", "sahi"),
        isolate=False,
        memory_budget_gb=1e9,
    )
    logged: list[str] = []
    rows = bench_merge.run(cfg, log=logged.append)
    rows[0]["_log"] = logged
    return rows


def test_merge_gives_ratios_and_verdicts_when_inputs_match(monkeypatch) -> None:
    rows = _merge_rows(monkeypatch, {})
    peer = {(r["n"], r["library"]): r for r in rows}
    assert peer[10_000, "supervision"]["ratio"] == pytest.approx(100.0)
    assert peer[10_000, "supervision"]["met"] is True
    assert peer[20_000, "sahi"]["ratio"] == pytest.approx(10.0)
    assert peer[20_000, "sahi"]["met"] is True
    assert not any(r.get("input_mismatch") for r in rows)
    assert bench_merge.input_mismatches(rows) == {}


def test_merge_refuses_ratios_and_verdicts_on_input_mismatch(monkeypatch) -> None:
    rows = _merge_rows(monkeypatch, {(20_000, "sahi"): "other"})
    assert bench_merge.input_mismatches(rows) == {20_000: ["other", "sum-20000"]}
    at = {(r["n"], r["library"]): r for r in rows}
    # N = 10k is untouched: same input everywhere
    assert at[10_000, "supervision"]["ratio"] == pytest.approx(100.0)
    assert at[10_000, "supervision"]["met"] is True
    # N = 20k: every row loses its ratio and verdict and says why
    for lib in ("tilewise", "supervision", "sahi"):
        row = at[20_000, lib]
        assert row["ratio"] is None
        assert row["met"] is None
        assert row["input_mismatch"] is True
        assert "INPUT MISMATCH" in row["note"]
    assert any("INPUT MISMATCH" in line for line in rows[0]["_log"])
    # ... and the printed table and target lines show no ratio or verdict for it
    table = merge_tables(rows).split("#### Merge, N = 20,000")[1]
    body = [line for line in table.splitlines() if line.startswith("| 20,000")]
    assert len(body) == 3
    for line in body:
        cells = [c.strip() for c in line.strip("|").split("|")]
        assert cells[9] == "—"  # ratio (peer/tw)
        assert cells[11] in ("—", "n/a")  # met
        assert "INPUT MISMATCH" in cells[12]
    lines = summarize_targets({"merge": rows})
    sahi_20k = [t for t in lines if t[0].startswith("20k")]
    assert sahi_20k
    assert all(t[1] == "—" or "—" in t[1] for t in sahi_20k)
    assert all(t[2] == "n/a" for t in sahi_20k)
    summary = summary_markdown({"date": "d", "command": "c"}, {"merge": rows})
    assert "INPUT MISMATCH** at N = 20,000" in summary
    assert "vs SAHI's numpy backend at 20k" not in summary


def test_a_measured_row_without_checksum_counts_as_a_mismatch() -> None:
    rows = [
        {"n": 5, "status": "ok", "checksum": "a"},
        {"n": 5, "status": "ok", "checksum": None},
        {"n": 6, "status": "skipped", "checksum": None},
        {"n": 6, "status": "ok", "checksum": "b"},
    ]
    assert bench_merge.input_mismatches(rows) == {5: ["a", "missing"]}


# ----------------------------------------------------------------------------- tiling


class _FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize("repeats", [1, 3])
def test_tiling_times_every_tool_after_the_same_warm_up(monkeypatch, repeats: int) -> None:
    clock = _FakeClock()
    monkeypatch.setattr(bench_tiling, "_clock", clock)
    calls: dict[str, list[Any]] = {}
    # each tool's successive calls take these (fake) seconds: a slow, cold first call;
    # binary fractions, so the fake clock's differences are exact
    durations = {
        "tw_ann": [64.0, 0.5, 0.25, 0.375],
        "sahi_ann": [96.0, 4.0, 3.0, 3.5],
        "sahi_dec": [96.0, 5.0, 4.5, 4.0],
        "tw_e2e": [64.0, 2.0, 1.5, 1.75],
        "sahi_e2e": [128.0, 8.0, 7.0, 9.0],
    }

    def record(name: str, args: tuple[Any, ...]) -> tuple[int, int]:
        calls.setdefault(name, []).append(args)
        clock.now += durations[name][len(calls[name]) - 1]
        return 7, 11

    def tw_ann(path: Path) -> tuple[int, int]:
        return record("tw_ann", (path,))

    def sahi(path: Path, out: Path | None, decode: bool) -> tuple[int, int]:
        name = "sahi_e2e" if out is not None else ("sahi_dec" if decode else "sahi_ann")
        return record(name, (path, out, decode))

    def tw_e2e(path: Path, out: Path) -> tuple[int, int]:
        return record("tw_e2e", (path, out))

    rows = bench_tiling.run(
        repeats=repeats,
        tools={
            "tilewise_annotations": tw_ann,
            "sahi_slice_coco": sahi,
            "tilewise_end_to_end": tw_e2e,
        },
        end_to_end=True,
        case_size=(1, (64, 48), 5),
    )
    # one warm-up and `repeats` timed calls for every tool and stage alike
    assert {name: len(c) for name, c in calls.items()} == dict.fromkeys(durations, 1 + repeats)
    by = {(r["tool"], r["stage"]): r for r in rows}
    names = {
        ("tilewise", "annotations"): "tw_ann",
        ("sahi", "annotations"): "sahi_ann",
        ("sahi", "annotations+decode"): "sahi_dec",
        ("tilewise", "end_to_end"): "tw_e2e",
        ("sahi", "end_to_end"): "sahi_e2e",
    }
    assert set(by) == set(names)
    for key, name in names.items():
        assert by[key]["time_s"] == min(durations[name][1 : 1 + repeats])  # warm-up not counted
        assert by[key]["runs"] == f"best of {repeats}"
        assert (by[key]["tiles"], by[key]["instances"]) == (7, 11)
    assert by["tilewise", "annotations"]["speedup"] == (
        by["sahi", "annotations"]["time_s"] / by["tilewise", "annotations"]["time_s"]
    )
    assert by["tilewise", "end_to_end"]["speedup"] == (
        by["sahi", "end_to_end"]["time_s"] / by["tilewise", "end_to_end"]["time_s"]
    )
    # every end-to-end call writes into its own fresh directory (no resume of a previous call)
    outs = [c[1] for c in calls["tw_e2e"]] + [c[1] for c in calls["sahi_e2e"]]
    assert len(set(outs)) == len(outs)


def test_tiling_measure_rejects_zero_repeats() -> None:
    with pytest.raises(ValueError, match="repeats"):
        bench_tiling.measure(lambda: None, 0)


# ----------------------------------------------------------------------------- RESULTS.md


def _block(text: str, begin: str, end: str) -> str:
    return text.split(begin, 1)[1].split(end, 1)[0].strip()


@pytest.fixture(scope="module")
def latest_run() -> dict[str, Any]:
    path = json_path_for(RESULTS_PATH)
    assert path.is_file(), f"{path} missing: rerun `python -m benchmarks --write-results`"
    return load_run(path)


def test_results_md_tables_are_the_latest_run_json(latest_run: dict[str, Any]) -> None:
    text = RESULTS_PATH.read_text(encoding="utf-8")
    rendered = render(latest_run["header"], latest_run["results"], latest_run["targets"])
    assert _block(text, BEGIN_MARK, END_MARK) == rendered.strip()


def test_results_md_summary_is_generated_from_the_latest_run(latest_run: dict[str, Any]) -> None:
    text = RESULTS_PATH.read_text(encoding="utf-8")
    assert (
        summary_block(text) == summary_markdown(latest_run["header"], latest_run["results"]).strip()
    )


_FIGURE = re.compile(r"(?<![\w.,])(\d[\d,]*(?:\.\d+)?)(?:\s?(µs|ms|s|MiB|GiB|x))?(?![\w.])")


def test_every_summary_figure_is_printed_in_the_tables(latest_run: dict[str, Any]) -> None:
    """The summary only quotes figures, formatted exactly as the tables below print them."""
    header, results = latest_run["header"], latest_run["results"]
    tables = render(header, results, latest_run["targets"])
    summary = summary_markdown(header, results).split("\n", 2)[2]  # after the dated line
    figures = [m.group(0) for m in _FIGURE.finditer(summary)]
    assert len(figures) >= 10
    for fig in figures:
        number = fig.split()[0].removesuffix("x")
        # the figure as printed (with its unit), or the bare number as a whole table token
        whole = re.compile(rf"(?<![\d.,]){re.escape(number)}(?![\d]|[.,]\d)")
        assert fig in tables or whole.search(tables), fig


def test_write_results_fills_the_summary_and_the_tables(tmp_path: Path) -> None:
    path = tmp_path / "R.md"
    path.write_text(
        f"# R\n\n{SUMMARY_BEGIN}\nold summary\n{SUMMARY_END}\n\nprose\n", encoding="utf-8"
    )
    write_results(path, "## Latest run\n\nnew tables\n", "new summary")
    text = path.read_text(encoding="utf-8")
    assert summary_block(text) == "new summary"
    assert _block(text, BEGIN_MARK, END_MARK) == "## Latest run\n\nnew tables"
    assert "old summary" not in text
    assert "prose" in text
