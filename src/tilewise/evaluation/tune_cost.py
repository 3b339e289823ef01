"""What a slicer setting costs per image, without running it: model pixels, or calibrated seconds.

The tuner (``tilewise.evaluation.tune``) needs each setting's time before, or instead of,
timing it: measured seconds swing with the load of a shared machine and would decide the
budget. Two estimates, both from the slice grids the ``Slicer`` would cut:

* ``model_pixels``: the pixels the model is given. It undercounts settings whose model
  images are larger or resized: on CPU a network costs more per pixel at a larger input,
  and a zoomed slice is resized first.
* ``calibrate`` / ``CostCalibration``: each *kind* of model image a search space can give
  (slice width, height and zoom; the full frame) is timed once on this machine, on slices
  of a real image, through the model as the ``Slicer`` calls it (``zoomed(model, zoom)``:
  resize, letterbox, network, decoding). A setting's cost is then the sum over its model
  images. The kinds are timed in turn, best of ``repeats`` (so a change of load moves them
  together), in process CPU seconds (steadier than wall time under load), rounded to 3
  significant digits, and written to a JSON file: the tuner reads it back on a rerun, so the
  same seed proposes the same settings; it is also recorded in the tuner's config. A new
  machine, or a cleared cache, calibrates again and may choose differently, as it should
  when the costs differ.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import os
import platform
import time
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tilewise.errors import TilewiseError
from tilewise.evaluation.dataset import EvalDataset
from tilewise.fileio import atomic_write_json
from tilewise.slicing import Slicer
from tilewise.slicing.zoom import zoomed, zoomed_wh, zooms_input

__all__ = [
    "CALIBRATION_VERSION",
    "CostCalibration",
    "ImageKind",
    "calibrate",
    "calibration_for_space",
    "fill_input_zoom",
    "image_kinds",
    "model_pixels",
]

CALIBRATION_VERSION = 1
"""Bumped when the calibration's method changes (older files are then not reused)."""

ImageKind = tuple[int, int, float]
"""A kind of model image: (width, height, zoom) of the slice (or of the full frame, zoom 1)."""


def _fixed_input_pixels(model: Any, zoom: float = 1.0) -> int | None:
    """Pixels per model image of a model that resizes its input itself, at ``zoom``.

    None: the model takes each image at its own size.
    """
    if zooms_input(model):
        h, w = zoomed(model, zoom).input_hw  # type: ignore[attr-defined]
        return int(h) * int(w)
    imgsz = getattr(model, "imgsz", None)
    if isinstance(imgsz, (tuple, list)) and len(imgsz) == 2:
        return int(imgsz[0]) * int(imgsz[1])
    return None


def fill_input_zoom(model: Any, zoom: float) -> float:
    """The largest zoom that costs what ``zoom`` costs a model that zooms its own input.

    Such a model (``zooms_input``, an ``OnnxDetector`` with a dynamic input size) pads the
    letterbox box ``imgsz * zoom`` up to a multiple of its stride: the padding is paid for
    and shows nothing. This is the zoom whose box fills that input (rounded to 6
    decimals); ``zoom`` itself for any other model.

    Example:
        >>> class Dynamic:  # a 320 px graph, stride 32
        ...     imgsz, stride, zooms_input = (320, 320), 32, True
        ...     def with_input_zoom(self, zoom):
        ...         side = -(-round(320 * zoom) // 32) * 32
        ...         return type("Zoomed", (), {"input_hw": (side, side)})()
        >>> [fill_input_zoom(Dynamic(), z) for z in (1.0, 1.25, 1.4, 1.75)]
        [1.0, 1.3, 1.4, 1.8]
        >>> fill_input_zoom(lambda ims: [], 1.75)
        1.75
    """
    if not zooms_input(model) or zoom == 1.0:
        return float(zoom)
    h, w = model.imgsz
    ih, iw = zoomed(model, zoom).input_hw  # type: ignore[attr-defined]
    return round(max(float(zoom), min(ih / h, iw / w)), 6)


def image_kinds(
    model: Any, settings: Mapping[str, Any], image_wh: tuple[int, int]
) -> Counter[ImageKind]:
    """How many model images of each kind one image gives under ``settings``.

    Every pass of the setting (its grid, or each scale's) and the full frame (``(W, H,
    1.0)``: it is not zoomed).

    Example:
        >>> sorted(image_kinds(lambda ims: [], {"slice_wh": 256, "overlap": 0.0, "zoom": 1.5,
        ...                                     "full_frame": True}, (512, 256)).items())
        [((256, 256, 1.5), 2), ((512, 256, 1.0), 1)]
    """
    slicer = Slicer(model, **settings)
    if slicer.scales is None:
        passes = [(slicer.zoom, slicer.grid_for(image_wh))]
    else:
        passes = [(s.zoom, s.grid(image_wh, slicer.overlap)) for s in slicer.scales]
    out: Counter[ImageKind] = Counter()
    for zoom, grid in passes:
        if len(grid):
            x1, y1, x2, y2 = grid.boxes[0].tolist()
            out[(int(x2 - x1), int(y2 - y1), float(zoom))] += len(grid)
    if slicer.full_frame:
        out[(int(image_wh[0]), int(image_wh[1]), 1.0)] += 1
    return out


def model_pixels(model: Any, settings: Mapping[str, Any], image_wh: tuple[int, int]) -> int:
    """Pixels the model is given for one image under ``settings``: a cost that is not timed.

    Counted from the slice grids the ``Slicer`` would cut (every scale of a multi-scale
    setting, and the full-frame pass). A model with a fixed input size (``imgsz``, like
    ``OnnxDetector``, which letterboxes) is given that many pixels per model image,
    whatever the slice's size; one that zooms its own input (``zooms_input``: an
    ``OnnxDetector`` with a dynamic input size) its input at the zoom (``input_hw``); any
    other model is given each slice at its size times ``zoom`` (the full frame at the
    image's size).

    Example:
        >>> model_pixels(lambda ims: [], {"slice_wh": 256, "overlap": 0.0}, (512, 256))
        131072
        >>> model_pixels(lambda ims: [], {"slice_wh": 256, "overlap": 0.0, "zoom": 2.0,
        ...                               "full_frame": True}, (512, 256))
        655360
        >>> class Fixed:
        ...     imgsz = (320, 320)
        ...     def __call__(self, images): return []
        >>> model_pixels(Fixed(), {"slice_wh": 160, "overlap": 0.0}, (320, 320))
        409600
    """
    fixed = _fixed_input_pixels(model)
    total = 0
    for (w, h, zoom), count in image_kinds(model, settings, image_wh).items():
        if fixed is not None:
            total += (_fixed_input_pixels(model, zoom) or fixed) * count
        else:
            zw, zh = zoomed_wh((w, h), zoom)
            total += zw * zh * count
    return int(total)


def _round3(seconds: float) -> float:
    """3 significant digits (the calibration's resolution; timing noise is larger)."""
    if seconds <= 0 or not math.isfinite(seconds):
        return 0.0
    return float(f"{seconds:.3g}")


def _kind_key(kind: ImageKind) -> str:
    return f"{kind[0]}x{kind[1]}@{float(kind[2])!r}"


@dataclass(frozen=True)
class CostCalibration:
    """Seconds per model image of each kind, measured once (``calibrate``).

    Attributes:
        seconds: per kind ``(width, height, zoom)``, CPU seconds per model image, rounded.
        batch_size: images per model call when timed (the slicer's ``batch_size``).
        repeats: timing rounds (best of).
        machine: where it was measured.
        image: what it was measured on (a description).

    Example:
        >>> cal = CostCalibration({(256, 256, 1.0): 0.01, (256, 256, 2.0): 0.05}, 8, 3, "m", "i")
        >>> cal.estimate(lambda ims: [], {"slice_wh": 256, "overlap": 0.0, "zoom": 2.0},
        ...              (512, 256))
        0.1
        >>> CostCalibration.from_json(cal.to_json()) == cal
        True
    """

    seconds: Mapping[ImageKind, float]
    batch_size: int
    repeats: int
    machine: str
    image: str

    def estimate(self, model: Any, settings: Mapping[str, Any], image_wh: tuple[int, int]) -> float:
        """Estimated seconds for one image under ``settings`` (the sum over its images).

        Raises:
            TilewiseError: a kind of image that was not calibrated.
        """
        total = 0.0
        for kind, count in sorted(image_kinds(model, settings, image_wh).items()):
            if kind not in self.seconds:
                raise TilewiseError(
                    f"no calibrated time for {_kind_key(kind)} model images (calibrated: "
                    f"{', '.join(_kind_key(k) for k in sorted(self.seconds))})"
                )
            total += self.seconds[kind] * count
        return total

    def to_json(self) -> dict[str, Any]:
        """Plain-JSON form (kinds as ``"WxH@zoom"``, sorted)."""
        return {
            "version": CALIBRATION_VERSION,
            "unit": "process CPU seconds per model image, best of repeats",
            "batch_size": self.batch_size,
            "repeats": self.repeats,
            "machine": self.machine,
            "image": self.image,
            "seconds": {_kind_key(k): v for k, v in sorted(self.seconds.items())},
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> CostCalibration:
        """Read ``to_json``'s form.

        Raises:
            TilewiseError: another version or a malformed entry.
        """
        if data.get("version") != CALIBRATION_VERSION:
            raise TilewiseError(
                f"cost calibration version {data.get('version')!r}, expected {CALIBRATION_VERSION}"
            )
        seconds: dict[ImageKind, float] = {}
        for key, value in dict(data["seconds"]).items():
            wh, zoom = str(key).split("@")
            w, h = wh.split("x")
            seconds[(int(w), int(h), float(zoom))] = float(value)
        return cls(
            seconds,
            int(data["batch_size"]),
            int(data["repeats"]),
            str(data["machine"]),
            str(data["image"]),
        )


def _machine() -> str:
    return (
        f"{platform.machine()} {platform.processor() or platform.system()}, {os.cpu_count()} cores"
    )


def _cut(image: np.ndarray, w: int, h: int, count: int) -> list[np.ndarray]:
    """``count`` slices of w x h from ``image`` (tiled when it is smaller), spread over it."""
    ih, iw = image.shape[:2]
    if iw < w or ih < h:
        image = np.tile(image, (math.ceil(h / ih), math.ceil(w / iw), 1))
        ih, iw = image.shape[:2]
    xs = np.linspace(0, iw - w, num=max(1, math.isqrt(count) + 1)).astype(int)
    ys = np.linspace(0, ih - h, num=max(1, math.isqrt(count) + 1)).astype(int)
    spots = [(x, y) for y in ys.tolist() for x in xs.tolist()]
    return [image[y : y + h, x : x + w] for x, y in (spots * count)[:count]]


def calibrate(
    model: Any,
    image: np.ndarray,
    kinds: Iterable[ImageKind],
    *,
    batch_size: int = 1,
    repeats: int = 3,
    image_name: str = "",
) -> CostCalibration:
    """Time one model call of ``batch_size`` images of each kind on slices of ``image``.

    The kinds are timed in turn, ``repeats`` rounds (each round starting at another kind),
    after one untimed warm-up call each; the best round's process CPU seconds per image,
    rounded to 3 significant digits, is kept.

    Example:
        >>> import numpy as np
        >>> from tilewise import Detections
        >>> def model(images): return [Detections.empty() for _ in images]
        >>> cal = calibrate(model, np.zeros((64, 64, 3), np.uint8),
        ...                 [(32, 32, 1.0), (32, 32, 2.0)], batch_size=2, repeats=1)
        >>> sorted(cal.seconds), cal.batch_size
        ([(32, 32, 1.0), (32, 32, 2.0)], 2)
    """
    order = sorted(set(kinds))
    if not order:
        raise TilewiseError("nothing to calibrate: no kinds of model image")
    batch = max(1, int(batch_size))
    calls = {k: (zoomed(model, k[2]), _cut(image, k[0], k[1], batch)) for k in order}
    for call, slices in calls.values():  # warm-up: sessions, allocations
        call(slices)
    best = {k: math.inf for k in order}
    for r in range(max(1, int(repeats))):
        k0 = r % len(order)
        for kind in order[k0:] + order[:k0]:
            call, slices = calls[kind]
            c0 = time.process_time()
            call(slices)
            best[kind] = min(best[kind], (time.process_time() - c0) / len(slices))
    return CostCalibration(
        {k: _round3(v) for k, v in best.items()},
        batch,
        max(1, int(repeats)),
        _machine(),
        image_name,
    )


def cached_calibration(
    cache_dir: str | os.PathLike[str],
    identity: Mapping[str, Any],
    model: Any,
    image: Any,
    kinds: Sequence[ImageKind],
    *,
    batch_size: int,
    repeats: int = 3,
    image_name: str = "",
) -> tuple[CostCalibration, Path, bool]:
    """``calibrate`` once per (model, machine, kinds, batch, image): read back after.

    ``image`` is a callable returning the image (only called when calibrating).
    Returns the calibration, its file and whether it was read from the cache.
    """
    ident = {
        **dict(identity),
        "version": CALIBRATION_VERSION,
        "machine": _machine(),
        "batch_size": int(batch_size),
        "kinds": [_kind_key(k) for k in sorted(set(kinds))],
    }
    digest = hashlib.sha256(json.dumps(ident, sort_keys=True).encode()).hexdigest()[:24]
    path = Path(cache_dir) / f"calibration-{digest}.json"
    if path.is_file():
        try:
            return CostCalibration.from_json(json.loads(path.read_text())), path, True
        except (ValueError, KeyError, TypeError, TilewiseError):
            pass  # unreadable: measured again and rewritten
    cal = calibrate(
        model, image(), kinds, batch_size=batch_size, repeats=repeats, image_name=image_name
    )
    atomic_write_json(path, {**cal.to_json(), "identity": ident})
    return cal, path, False


def calibration_for_space(
    dataset: EvalDataset,
    model: Any,
    model_id: str,
    cache_dir: str | os.PathLike[str],
    choices: Mapping[str, Sequence[Any]],
    defaults: Mapping[str, Any],
    base: Mapping[str, Any],
) -> CostCalibration:
    """The calibration of every kind of model image a search space can give.

    ``choices`` are a ``SearchSpace``'s (``slice_wh``, ``zoom``, ``scales``,
    ``full_frame``, ``overlap``); ``defaults`` the baseline setting; ``base`` the settings
    of every trial (its ``batch_size`` is the calibration's). Every image size of the
    dataset counts; the first image (by id) is timed, or the cached figures are read.
    """
    gt = dataset.ground_truth.dataset
    sizes = sorted({(im["width"], im["height"]) for im in gt.get("images", [])})
    combos = [dict(defaults)]
    for wh, zoom, scales, full in itertools.product(
        choices["slice_wh"], choices["zoom"], choices["scales"], choices["full_frame"]
    ):
        combo = {"slice_wh": wh, "overlap": choices["overlap"][0], "full_frame": full}
        combo.update({"scales": scales} if scales is not None else {"zoom": zoom})
        combos.append(combo)
    kinds: set[ImageKind] = set()
    for combo in combos:
        for wh in sizes:
            kinds |= set(image_kinds(model, {**base, **combo}, wh))
    first = sorted(dataset.ground_truth.image_ids)[0]
    calibration, _, _ = cached_calibration(
        cache_dir,
        {"model_id": model_id, "dataset": dataset.identity, "image_id": first},
        model,
        lambda: dataset.loader(first),
        sorted(kinds),
        batch_size=int(base.get("batch_size", 1)),
        image_name=f"{dataset.name} image {first}",
    )
    return calibration
