"""The settings of one detection request, parsed from form fields, or refused with 422.

The fields and their defaults are ``tilewise predict``'s (``--slice auto``,
``--overlap 0.2``, ``--merge nms``, ``--conf 0.25``...) so the same settings give the same
detections; every refusal says what was expected.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from tilewise.boxes import Metric
from tilewise.errors import TilewiseError
from tilewise.merge import MergeMethod
from tilewise.serve.config import ServeConfig
from tilewise.serve.errors import Refusal, ServeError
from tilewise.slicing.scales import Scale, parse_scales
from tilewise.slicing.zoom import check_zoom

__all__ = ["FIELDS", "PRESET_FIELDS", "DetectParams", "params_from_config", "parse_params"]

FIELDS: dict[str, str] = {
    "slice": "Slice size in px, or 'auto' (the model's training tile). Default: auto.",
    "overlap": "Slice overlap ratio in [0, 1). Default: 0.2.",
    "merge": "Duplicate merging: nms, nmm, greedy_nmm, wbf or none. Default: nms.",
    "metric": "Overlap measure of the merge: iou or ios. Default: iou.",
    "threshold": "Overlap threshold of the merge, in [0, 1]. Default: 0.5.",
    "class_agnostic": "Merge duplicates across classes: true or false. Default: false.",
    "conf": "Confidence threshold, in [min_conf, 1] (see /readyz). Default: 0.25.",
    "full_frame": "Also run on the whole frame and merge (large objects): true or false.",
    "classes": "Keep only these classes: comma-separated names or ids. Default: all.",
    "zoom": "Resize every slice by this factor (> 0) before the model, as tilewise predict "
    "--zoom; the full-frame pass is not zoomed. Default: 1.",
    "scales": "Multi-scale slicing, as JSON: a list of [slice, zoom] or "
    "[slice, zoom, min_size, max_size] (slice null: the whole frame; sizes in px, null: no "
    "bound), or objects with slice_wh, zoom, overlap, min_size, max_size. Replaces slice "
    "and zoom. Example: [[320, 1], [160, 2, null, 32]]. Default: none.",
}
"""The optional form fields of ``POST /v1/detect`` and what each takes."""

PRESET_FIELDS = (
    "slice", "overlap", "merge", "metric", "threshold", "class_agnostic", "full_frame", "zoom",
    "scales",
)  # fmt: skip
"""The fields a slicer config fixes (``tilewise serve --config``): only ``conf`` and
``classes`` are left to each request then."""

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def _bad(detail: str) -> ServeError:
    return ServeError(Refusal.INVALID_PARAMETER, detail)


def _number(raw: str, name: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise _bad(f"{name} must be a number, got {raw!r}") from None
    if not math.isfinite(value):
        raise _bad(f"{name} must be a finite number, got {raw!r}")
    return value


@dataclass(frozen=True)
class DetectParams:
    """One request's settings (``tilewise predict``'s options and defaults).

    Attributes:
        slice: slice side in pixels, or None for the model's training tile.
        overlap: slice overlap as a ratio of the slice, in [0, 1).
        merge: duplicate merging method.
        metric: overlap measure of the merge.
        threshold: overlap threshold of the merge.
        class_agnostic: merge duplicates across classes.
        conf: confidence threshold: detections at or under it are dropped.
        full_frame: also run on the whole frame and merge.
        classes: class ids kept, or None for all.
        zoom: factor every slice is resized by before the model (``Slicer(zoom=)``).
        scales: multi-scale slicing (``Slicer(scales=)``), or None.
    """

    slice: int | None = None
    overlap: float = 0.2
    merge: MergeMethod = MergeMethod.NMS
    metric: Metric = Metric.IOU
    threshold: float = 0.5
    class_agnostic: bool = False
    conf: float = 0.25
    full_frame: bool = False
    classes: tuple[int, ...] | None = None
    zoom: float = 1.0
    scales: tuple[Scale, ...] | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready settings (echoed in the answer).

        Example:
            >>> DetectParams().to_dict()["merge"]
            'nms'
        """
        return {
            "slice": self.slice,
            "overlap": self.overlap,
            "merge": self.merge.value,
            "metric": self.metric.value,
            "threshold": self.threshold,
            "class_agnostic": self.class_agnostic,
            "conf": self.conf,
            "full_frame": self.full_frame,
            "classes": None if self.classes is None else list(self.classes),
            "zoom": self.zoom,
            "scales": None if self.scales is None else [s.to_json() for s in self.scales],
        }


def _zoom(raw: str) -> float:
    try:
        return check_zoom(_number(raw, "zoom"))
    except ServeError:
        raise
    except TilewiseError as exc:
        raise _bad(str(exc)) from None


def _scales(raw: str, max_slice: int) -> tuple[Scale, ...] | None:
    try:
        value = json.loads(raw)
    except ValueError as exc:
        raise _bad(
            f"scales must be JSON like [[320, 1], [160, 2, null, 32]], got {raw[:80]!r} ({exc})"
        ) from None
    try:
        scales = parse_scales(value)
    except (TilewiseError, TypeError, ValueError) as exc:
        raise _bad(f"scales: {exc}") from None
    if scales is None:
        raise _bad("scales must be a list of scales, got null")
    for scale in scales:
        if scale.slice_wh is not None and not all(16 <= v <= max_slice for v in scale.slice_wh):
            raise _bad(
                f"scales: slice sizes must be in [16, {max_slice}] px, got "
                f"{scale.slice_wh[0]}x{scale.slice_wh[1]}"
            )
    return scales


def _classes(raw: str, names: Sequence[str]) -> tuple[int, ...] | None:
    items = [p.strip() for p in raw.split(",") if p.strip()]
    if not items:
        return None
    lookup = {name.lower(): i for i, name in enumerate(names)}
    ids: set[int] = set()
    for item in items:
        if item.lower() in lookup:
            ids.add(lookup[item.lower()])
            continue
        try:
            value = int(item)
        except ValueError:
            known = ", ".join(names) if names else "ids only: the model names no classes"
            raise _bad(f"classes: unknown class {item!r} (known: {known})") from None
        if value < 0 or (names and value >= len(names)):
            top = f"0..{len(names) - 1}" if names else ">= 0"
            raise _bad(f"classes: class id {value} is out of range ({top})")
        ids.add(value)
    return tuple(sorted(ids))


def parse_params(
    form: Mapping[str, str | None],
    config: ServeConfig,
    names: Sequence[str] = (),
    preset: DetectParams | None = None,
) -> DetectParams:
    """Parse and check a request's form fields (absent or empty fields take defaults).

    Args:
        form: field name -> text (``FIELDS`` lists the names); other names are refused.
        config: the service's limits (``max_slice``, ``min_conf``, ``default_conf``).
        names: the model's class names, for ``classes``.
        preset: the settings of the server's slicer config (``params_from_config``): a
            request then sets ``conf`` and ``classes`` only; a field of
            ``PRESET_FIELDS`` is refused, as ``tilewise predict --config`` refuses the
            options the config replaces.

    Raises:
        ServeError: ``invalid_parameter`` (422) naming the field and what it takes.

    Example:
        >>> cfg = ServeConfig()
        >>> p = parse_params({"slice": "320", "merge": "WBF", "classes": "b"}, cfg, ["a", "b"])
        >>> p.slice, p.merge.value, p.classes, p.conf
        (320, 'wbf', (1,), 0.25)
        >>> multi = parse_params({"scales": "[[320, 1], [160, 2, null, 32]]"}, cfg)
        >>> [s.describe() for s in multi.scales]
        ['320x320 zoom 1', '160x160 zoom 2 sizes [0, 32)']
        >>> parse_params({"overlap": "1.5"}, cfg)
        Traceback (most recent call last):
        ...
        tilewise.serve.errors.ServeError: overlap must be in [0, 1), got 1.5
    """
    unknown = sorted(set(form) - set(FIELDS))
    if unknown:
        raise _bad(f"unknown field(s) {unknown}; expected 'image' and any of {list(FIELDS)}")
    raw = {k: v.strip() for k, v in form.items() if v is not None and v.strip()}
    if preset is not None:
        fixed = [k for k in PRESET_FIELDS if k in raw]
        if fixed:
            raise _bad(
                f"this server runs a slicer config (tilewise serve --config), which sets "
                f"{', '.join(fixed)}; a request may set conf and classes only"
            )
        asked = parse_params(raw, config, names)
        return replace(preset, conf=asked.conf, classes=asked.classes)
    size: int | None = None
    text = raw.get("slice", "auto")
    if text.lower() != "auto":
        try:
            size = int(text)
        except ValueError:
            raise _bad(f"slice must be 'auto' or a size in pixels, got {text!r}") from None
        if not 16 <= size <= config.max_slice:
            raise _bad(f"slice must be in [16, {config.max_slice}] px, got {size}")
    overlap = _number(raw.get("overlap", "0.2"), "overlap")
    if not 0.0 <= overlap < 1.0:
        raise _bad(f"overlap must be in [0, 1), got {overlap:g}")
    threshold = _number(raw.get("threshold", "0.5"), "threshold")
    if not 0.0 <= threshold <= 1.0:
        raise _bad(f"threshold must be in [0, 1], got {threshold:g}")
    conf = _number(raw.get("conf", str(config.default_conf)), "conf")
    if not config.min_conf <= conf <= 1.0:
        raise _bad(f"conf must be in [{config.min_conf:g}, 1] (this server's range), got {conf:g}")
    flags = {}
    for name in ("full_frame", "class_agnostic"):
        flag = raw.get(name, "false").lower()
        if flag not in _TRUE | _FALSE:
            raise _bad(f"{name} must be true or false, got {raw[name]!r}")
        flags[name] = flag in _TRUE
    try:
        merge = MergeMethod.parse(raw.get("merge", "nms"))
        metric = Metric.parse(raw.get("metric", "iou"))
    except Exception as exc:  # Choice.parse names the valid values
        raise _bad(str(exc)) from None
    zoom = _zoom(raw.get("zoom", "1"))
    scales = None
    if "scales" in raw:
        if "slice" in raw or zoom != 1.0:
            raise _bad("scales replaces slice and zoom: give each scale's slice and zoom in scales")
        scales = _scales(raw["scales"], config.max_slice)
    return DetectParams(
        slice=size,
        overlap=overlap,
        merge=merge,
        metric=metric,
        threshold=threshold,
        class_agnostic=flags["class_agnostic"],
        conf=conf,
        full_frame=flags["full_frame"],
        classes=_classes(raw.get("classes", ""), list(names)),
        zoom=zoom,
        scales=scales,
    )


def params_from_config(settings: Mapping[str, Any], config: ServeConfig) -> DetectParams:
    """The request settings a slicer config's ``settings`` fix, checked as a request's are.

    ``batch_size``, ``workers`` and ``pipeline`` (how a run is executed, not what it
    finds) are left to the service; ``edge_margin``, ``mask_overlap`` and ``min_valid`` go
    to the slicer with the config (``DetectionService``), not through these fields.

    Raises:
        TilewiseError: a setting that requests cannot express (a non-square slice, an
            overlap in pixels or per axis) or that this server's limits refuse.

    Example:
        >>> settings = {"slice_wh": 400, "overlap": 0.1, "metric": "ios"}
        >>> p = params_from_config(settings, ServeConfig())
        >>> p.slice, p.overlap, p.metric.value, p.conf
        (400, 0.1, 'ios', 0.25)
    """
    form: dict[str, str] = {}
    size = settings.get("slice_wh")
    if isinstance(size, (list, tuple)):
        if len(size) != 2 or size[0] != size[1]:
            raise TilewiseError(f"--config: a request's slice is square; the config's is {size}")
        size = size[0]
    if size is not None:
        form["slice"] = str(size)
    overlap = settings.get("overlap", 0.2)
    if isinstance(overlap, (list, tuple)) and len(overlap) == 2 and overlap[0] == overlap[1]:
        overlap = overlap[0]
    if isinstance(overlap, bool) or not isinstance(overlap, float):
        raise TilewiseError(
            f"--config: a request's overlap is a ratio of the slice; the config's is {overlap!r}"
        )
    form["overlap"] = repr(overlap)
    for key in ("merge", "metric", "threshold", "zoom"):
        if key in settings:
            form[key] = str(settings[key])
    for key in ("class_agnostic", "full_frame"):
        if key in settings:
            form[key] = "true" if settings[key] else "false"
    if settings.get("scales") is not None:
        form["scales"] = json.dumps(settings["scales"])
    try:
        return parse_params(form, config)
    except ServeError as exc:
        raise TilewiseError(f"--config: {exc}") from None
