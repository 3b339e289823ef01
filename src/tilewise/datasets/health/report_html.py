"""Self-contained HTML health report: tables plus matplotlib plots embedded as base64 PNG."""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Callable
from typing import Any

import numpy as np

from tilewise.datasets.health.stats import COCO_BUCKETS, SIZE_BUCKETS, HealthStats

__all__ = ["render_html", "render_plots"]

MAX_HEATMAPS = 12

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2em auto;
max-width:1100px;color:#222;padding:0 1em}
h1{font-size:1.6em}h2{font-size:1.2em;margin-top:1.6em;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ddd;padding:.25em .6em;
text-align:right}th{background:#f4f4f4}td:first-child,th:first-child{text-align:left}
.rec{background:#eef6ee;border:1px solid #9c9;padding:.6em 1em;border-radius:4px}
.warn{color:#a40}figure{margin:1em 0}figure img{max-width:100%;border:1px solid #eee}
figcaption{color:#555;font-size:.9em}
"""


def _png(draw: Callable[[Any], None], size: tuple[float, float]) -> str:
    from matplotlib.figure import Figure

    fig = Figure(figsize=size, dpi=90, layout="constrained")
    draw(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _log_bins(values: np.ndarray, count: int = 40) -> np.ndarray:
    positive = values[values > 0]
    lo = max(float(positive.min()) if positive.size else 1.0, 0.5)
    hi = max(float(positive.max()) if positive.size else 2.0, lo * 2)
    return np.geomspace(lo, hi, count)


def _log_x(ax: Any) -> None:
    from matplotlib.ticker import NullFormatter, ScalarFormatter

    ax.set_xscale("log")
    ax.xaxis.set_major_formatter(ScalarFormatter())
    ax.xaxis.set_minor_formatter(NullFormatter())


def render_plots(stats: HealthStats) -> dict[str, tuple[str, str]]:
    """The report's plots: ``{key: (caption, base64 PNG)}``.

    Example:
        >>> from tilewise.datasets import DatasetBuilder
        >>> from tilewise.datasets.health.stats import compute_health
        >>> b = DatasetBuilder(["a"]); b.add_box(b.add_image("x.png", 99, 99), [1, 1, 9, 9], 0)
        >>> sorted(render_plots(compute_health(b.build())))[:2]
        ['area_aspect', 'box_sizes']
    """
    plots: dict[str, tuple[str, str]] = {}
    names = list(stats.class_names)
    s = stats.summary
    inp = s["model_input"]

    def classes(fig: Any) -> None:
        ax1, ax2 = fig.subplots(1, 2)
        x = np.arange(len(names))
        rotate = 45 if len(names) > 6 else 0
        for ax, key, colour in ((ax1, "instances", "tab:blue"), (ax2, "images", "tab:orange")):
            ax.bar(x, [c[key] for c in s["classes"]], color=colour)
            ax.set_xticks(x, names, rotation=rotate, ha="right" if rotate else "center")
            ax.set_title(f"{key} per class")

    plots["classes"] = ("Instances and images per class", _png(classes, (8, 3.5)))

    def box_sizes(fig: Any) -> None:
        axes = fig.subplots(2, 2)
        for row, (sizes, label) in enumerate(
            ((stats.sizes, "native px"), (stats.sizes_at_input, f"px at model input {inp}"))
        ):
            for col, (values, what) in enumerate(
                ((sizes.width, "width"), (sizes.height, "height"))
            ):
                ax = axes[row][col]
                if values.size:
                    ax.hist(values, bins=_log_bins(values))
                    _log_x(ax)
                for edge in (3, 8):
                    ax.axvline(edge, color="tab:red", lw=0.8, ls="--")
                ax.set_xlabel(f"box {what} ({label})")
                ax.set_ylabel("boxes")

    plots["box_sizes"] = (
        "Box width and height, native and at the model input (dashed: 3 and 8 px)",
        _png(box_sizes, (9, 6)),
    )

    def area_aspect(fig: Any) -> None:
        ax1, ax2 = fig.subplots(1, 2)
        side = stats.sizes.side
        if side.size:
            ax1.hist(side, bins=_log_bins(side))
            _log_x(ax1)
        for edge in (2, 8, 16, 32, 96):
            ax1.axvline(edge, color="tab:red", lw=0.8, ls="--")
        ax1.set_xlabel("sqrt(area), native px (dashed: 2, 8, 16, 32, 96)")
        ax1.set_ylabel("boxes")
        aspect = stats.sizes.aspect
        if aspect.size:
            ax2.hist(np.log2(aspect), bins=40)
        ax2.set_xlabel("log2(width / height)")

    plots["area_aspect"] = (
        "Box area (as side length) and aspect ratio",
        _png(area_aspect, (9, 3.5)),
    )

    def buckets(fig: Any) -> None:
        ax1, ax2 = fig.subplots(1, 2)
        for ax, key, title in ((ax1, "native", "native"), (ax2, "at_model_input", f"at {inp}")):
            b = s["boxes"][key]
            labels = [n for n, _, _ in SIZE_BUCKETS] + [n for n, _, _ in COCO_BUCKETS]
            values = [b["tiny"][n] for n, _, _ in SIZE_BUCKETS] + [
                b["coco"][n] for n, _, _ in COCO_BUCKETS
            ]
            ax.bar(labels, values, color=["tab:orange"] * 4 + ["tab:blue"] * 3)
            ax.set_title(f"size buckets ({title})")
            ax.tick_params(axis="x", rotation=45)

    plots["buckets"] = ("Tiny (orange) and COCO (blue) size buckets", _png(buckets, (9, 3.5)))

    def images(fig: Any) -> None:
        ax1, ax2 = fig.subplots(1, 2)
        per = stats.per_image
        ax1.hist(per, bins=min(50, max(1, int(per.max()) + 1)) if per.size else 1)
        ax1.set_xlabel("instances per image")
        ax1.set_ylabel("images")
        wh = stats.image_wh
        ax2.scatter(wh[:, 0], wh[:, 1], s=8, alpha=0.5)
        ax2.set_xlabel("image width")
        ax2.set_ylabel("image height")

    plots["images"] = ("Instances per image, and image sizes", _png(images, (9, 3.5)))

    order = np.argsort(-stats.heatmaps.sum(axis=(1, 2)), kind="stable")[:MAX_HEATMAPS]
    order = [k for k in order.tolist() if stats.heatmaps[k].sum() > 0]
    if order:
        cols = min(4, len(order))
        rows = (len(order) + cols - 1) // cols

        def heatmaps(fig: Any) -> None:
            axes = np.atleast_1d(fig.subplots(rows, cols, squeeze=False)).ravel()
            for ax, k in zip(axes, order, strict=False):
                ax.imshow(stats.heatmaps[k], cmap="viridis", extent=(0, 1, 1, 0))
                ax.set_title(names[k], fontsize=9)
                ax.set_xticks([])
                ax.set_yticks([])
            for ax in axes[len(order) :]:
                ax.axis("off")

        caption = "Box centres per class (normalised image coordinates)"
        if len(names) > MAX_HEATMAPS:
            caption += f"; the {MAX_HEATMAPS} largest classes"
        plots["heatmaps"] = (caption, _png(heatmaps, (2.4 * cols, 2.4 * rows)))
    return plots


def _table(headers: list[str], rows: list[list[Any]]) -> str:
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in headers)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(_fmt(v))}</td>" for v in row) + "</tr>" for row in rows
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.3g}" if abs(v) < 1000 else f"{v:.0f}"
    return str(v)


def render_html(stats: HealthStats, *, title: str = "Dataset health") -> str:
    """The full report as one self-contained HTML document.

    Example:
        >>> from tilewise.datasets import DatasetBuilder
        >>> from tilewise.datasets.health.stats import compute_health
        >>> b = DatasetBuilder(["a"]); b.add_box(b.add_image("x.png", 99, 99), [1, 1, 9, 9], 0)
        >>> page = render_html(compute_health(b.build()))
        >>> page.startswith("<!DOCTYPE html>"), page.count('src="data:image/png;base64,') >= 5
        (True, True)
    """
    s = stats.summary
    im = s["images"]
    nat = s["boxes"]["native"]
    inp = s["boxes"]["at_model_input"]
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        _table(
            ["images", "empty images", "instances", "classes", "imbalance ratio", "model input"],
            [
                [
                    im["count"],
                    im["empty"],
                    s["instances"]["total"],
                    len(s["classes"]),
                    s["imbalance_ratio"],
                    s["model_input"],
                ]
            ],
        ),
    ]
    rec = stats.recommendation
    if rec:
        head = (
            f"slice {rec['slice']} px, overlap {rec['overlap']:.2f}"
            if rec.get("slicing")
            else "no slicing needed"
        )
        reasons = "".join(f"<li>{html.escape(r)}</li>" for r in rec.get("reasons", []))
        parts.append(
            f'<h2>Recommendation</h2><div class="rec"><b>{html.escape(head)}</b>'
            f"<ul>{reasons}</ul></div>"
        )
    p = s["problems"]
    parts.append("<h2>Problems</h2>")
    parts.append(
        _table(
            [
                "degenerate",
                "out of bounds",
                "duplicates",
                "near-duplicates (IoU>=0.9)",
                "reader issues",
                "under 3 px (input)",
                "under 8 px (input)",
            ],
            [
                [
                    p["degenerate"],
                    p["out_of_bounds"],
                    p["duplicate"],
                    p["near_duplicate"],
                    p["reader_issues"],
                    inp["under_3px"],
                    inp["under_8px"],
                ]
            ],
        )
    )
    parts.append("<h2>Classes</h2>")
    parts.append(
        _table(
            ["class", "instances", "images", "share"],
            [
                [c["name"], c["instances"], c["images"], f"{100 * c['share']:.1f} %"]
                for c in s["classes"]
            ],
        )
    )
    parts.append("<h2>Images</h2>")
    parts.append(
        _table(
            ["", "min", "p10", "median", "mean", "p90", "max"],
            [
                [key, *(im[key][k] for k in ("min", "p10", "p50", "mean", "p90", "max"))]
                for key in ("width", "height", "aspect")
            ]
            + [
                [
                    "instances / image",
                    *(
                        s["instances"]["per_image"][k]
                        for k in ("min", "p10", "p50", "mean", "p90", "max")
                    ),
                ]
            ],
        )
    )
    parts.append("<h2>Boxes</h2>")
    rows = []
    for label, b in (("native", nat), (f"at input {s['model_input']}", inp)):
        for key in ("width", "height", "side"):
            rows.append(
                [
                    f"{key} ({label})",
                    *(b[key][k] for k in ("min", "p10", "p50", "mean", "p90", "max")),
                ]
            )
    parts.append(_table(["", "min", "p10", "median", "mean", "p90", "max"], rows))
    bucket_names = [n for n, _, _ in SIZE_BUCKETS] + [n for n, _, _ in COCO_BUCKETS]
    parts.append(
        _table(
            ["buckets (sqrt area)", *bucket_names],
            [
                [label, *(b["tiny"].get(n, b["coco"].get(n)) for n in bucket_names)]
                for label, b in (("native", nat), ("at model input", inp))
            ],
        )
    )
    parts.append("<h2>Plots</h2>")
    for key, (caption, data) in render_plots(stats).items():
        parts.append(
            f'<figure id="plot-{key}"><img alt="{html.escape(caption)}" '
            f'src="data:image/png;base64,{data}"><figcaption>{html.escape(caption)}'
            "</figcaption></figure>"
        )
    parts.append("</body></html>")
    return "\n".join(parts)
