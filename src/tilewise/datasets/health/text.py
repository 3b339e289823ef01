"""Terminal summary of a health check."""

from __future__ import annotations

from tilewise.datasets.health.stats import HealthStats

__all__ = ["health_text"]


def health_text(stats: HealthStats) -> str:
    """A compact plain-text summary for terminals.

    Example:
        >>> from tilewise.datasets import DatasetBuilder
        >>> from tilewise.datasets.health.stats import compute_health
        >>> b = DatasetBuilder(["a"]); b.add_box(b.add_image("x.png", 99, 99), [1, 1, 9, 9], 0)
        >>> health_text(compute_health(b.build())).splitlines()[0]
        'images: 1 (empty: 0); instances: 1; classes: 1; imbalance ratio: 1.0'
    """
    s = stats.summary
    im = s["images"]
    nat = s["boxes"]["native"]
    inp = s["boxes"]["at_model_input"]
    p = s["problems"]
    lines = [
        f"images: {im['count']} (empty: {im['empty']}); instances: {s['instances']['total']}; "
        f"classes: {len(s['classes'])}; imbalance ratio: {s['imbalance_ratio']:.1f}",
        f"image size: width {im['width']['min']:.0f}-{im['width']['max']:.0f}, "
        f"height {im['height']['min']:.0f}-{im['height']['max']:.0f}, "
        f"aspect median {im['aspect']['p50']:.2f}",
        f"instances per image: median {s['instances']['per_image']['p50']:.0f}, "
        f"max {s['instances']['per_image']['max']:.0f}",
        "",
    ]
    width = max([5, *(len(c["name"]) for c in s["classes"])])
    lines.append(f"{'class':<{width}}  instances  images   share")
    for c in s["classes"]:
        lines.append(
            f"{c['name']:<{width}}  {c['instances']:>9}  {c['images']:>6}  "
            f"{100 * c['share']:>5.1f}%"
        )
    lines += [
        "",
        f"box side sqrt(area), native px: p10 {nat['side']['p10']:.1f}, "
        f"median {nat['side']['p50']:.1f}, p90 {nat['side']['p90']:.1f}",
        f"at model input {s['model_input']}: p10 {inp['side']['p10']:.1f}, "
        f"median {inp['side']['p50']:.1f}, p90 {inp['side']['p90']:.1f}",
        f"shorter side under 3 px: {nat['under_3px']} native, {inp['under_3px']} at input; "
        f"under 8 px: {nat['under_8px']} native, {inp['under_8px']} at input",
        "tiny buckets (native): "
        + ", ".join(f"{k} {v}" for k, v in nat["tiny"].items())
        + "; COCO: "
        + ", ".join(f"{k} {v}" for k, v in nat["coco"].items()),
        f"problems: degenerate {p['degenerate']}, out of bounds {p['out_of_bounds']}, "
        f"duplicates {p['duplicate']}, near-duplicates {p['near_duplicate']}, "
        f"reader issues {p['reader_issues']}",
    ]
    exif = im.get("exif") or {}
    if exif.get("rotated"):
        lines.append(
            f"EXIF-rotated images: {exif['rotated']} of {exif['checked']} "
            f"(orientations {exif['by_orientation']}); read rotated, as viewers show them"
            + (
                f"; {exif['size_mismatch']} annotated with the stored (unrotated) size: "
                "annotations made on unrotated pixels? tile with --exif ignore"
                if exif.get("size_mismatch")
                else ""
            )
        )
    rec = stats.recommendation
    if rec:
        lines.append("")
        if rec.get("slicing"):
            lines.append(f"recommended: slice {rec['slice']} px, overlap {rec['overlap']:.2f}")
        else:
            lines.append("recommended: no slicing")
        lines += [f"  - {r}" for r in rec.get("reasons", [])]
    return "\n".join(lines)
