"""Configuration of the detector and of a training run (plain data, no torch)."""

from __future__ import annotations

import numbers
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np

from tilewise.errors import TilewiseError

__all__ = [
    "DEFAULT_ANCHORS",
    "MAX_STRIDE",
    "STRIDES",
    "DetectorConfig",
    "TrainConfig",
    "split_anchors",
]

STRIDES = (8, 16)
"""Output strides of the two detection levels (P3 for the smallest objects, P4)."""

MAX_STRIDE = 32
"""The backbone's deepest stride: input sizes must be multiples of it."""

DEFAULT_ANCHORS: tuple[tuple[tuple[float, float], ...], ...] = (
    ((6.0, 7.0), (10.0, 12.0), (16.0, 15.0)),
    ((22.0, 24.0), (34.0, 32.0), (52.0, 48.0)),
)
"""Anchors (w, h) in input pixels per level, for objects of 4-64 px; fitted ones are better."""


def split_anchors(anchors: np.ndarray, levels: int = len(STRIDES)) -> tuple:
    """Sort (n, 2) anchors by area and deal them out to the levels, smallest first.

    Example:
        >>> split_anchors(np.array([[30, 30], [5, 6], [12, 10], [60, 50]]))
        (((5.0, 6.0), (12.0, 10.0)), ((30.0, 30.0), (60.0, 50.0)))
    """
    a = np.asarray(anchors, dtype=np.float64).reshape(-1, 2)
    if len(a) % levels:
        raise TilewiseError(f"{len(a)} anchors cannot be dealt evenly to {levels} levels")
    a = a[np.argsort(a.prod(axis=1), kind="stable")]
    per = len(a) // levels
    return tuple(
        tuple((round(float(w), 2), round(float(h), 2)) for w, h in a[i * per : (i + 1) * per])
        for i in range(levels)
    )


@dataclass(frozen=True)
class DetectorConfig:
    """The shape of a detector: classes, anchors and widths.

    Args:
        num_classes: number of classes.
        anchors: per level (P3, P4), the anchors (w, h) in input pixels.
        widths: channels at strides 2, 4, 8, 16 and 32.
        depths: bottlenecks in the C2f blocks at strides 4, 8, 16 and 32.

    Example:
        >>> cfg = DetectorConfig(num_classes=6)
        >>> cfg.num_anchors, DetectorConfig.from_dict(cfg.to_dict()) == cfg
        (3, True)
    """

    num_classes: int
    anchors: tuple[tuple[tuple[float, float], ...], ...] = DEFAULT_ANCHORS
    widths: tuple[int, int, int, int, int] = (16, 32, 64, 128, 256)
    depths: tuple[int, int, int, int] = (1, 2, 2, 1)

    def __post_init__(self) -> None:
        if isinstance(self.num_classes, bool) or int(self.num_classes) < 1:
            raise TilewiseError(f"num_classes must be >= 1, got {self.num_classes}")
        anchors = tuple(tuple((float(w), float(h)) for w, h in lvl) for lvl in self.anchors)
        if len(anchors) != len(STRIDES) or len({len(lvl) for lvl in anchors}) != 1:
            raise TilewiseError(
                f"anchors must give the same number of (w, h) pairs for each of the "
                f"{len(STRIDES)} levels, got {self.anchors!r}"
            )
        if min(min(w, h) for lvl in anchors for w, h in lvl) <= 0:
            raise TilewiseError("anchor sizes must be > 0")
        object.__setattr__(self, "anchors", anchors)
        object.__setattr__(self, "widths", tuple(int(w) for w in self.widths))
        object.__setattr__(self, "depths", tuple(int(d) for d in self.depths))
        if len(self.widths) != 5 or len(self.depths) != 4:
            raise TilewiseError(
                f"widths must have 5 entries and depths 4, got {self.widths} and {self.depths}"
            )
        if min(self.widths) < 2 or min(self.depths) < 1 or any(w % 2 for w in self.widths):
            raise TilewiseError("widths must be even and >= 2, depths >= 1")

    @property
    def num_anchors(self) -> int:
        """Anchors per level."""
        return len(self.anchors[0])

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "num_classes": int(self.num_classes),
            "anchors": [[list(a) for a in lvl] for lvl in self.anchors],
            "widths": list(self.widths),
            "depths": list(self.depths),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> DetectorConfig:
        """Inverse of ``to_dict``."""
        try:
            return cls(
                num_classes=int(d["num_classes"]),
                anchors=tuple(tuple(tuple(a) for a in lvl) for lvl in d["anchors"]),
                widths=tuple(d["widths"]),  # type: ignore[arg-type]
                depths=tuple(d["depths"]),  # type: ignore[arg-type]
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise TilewiseError(f"malformed detector config {dict(d)!r:.200}: {exc}") from None


AnchorMode = Literal["auto", "default"]

_ADDED_LATER = ("mosaic", "rot90")
"""Training settings that older saved configs lack; they trained with these off (0)."""


@dataclass
class TrainConfig:
    """Settings of one training run (``tilewise train``).

    Args:
        data: dataset path (COCO / YOLO / VOC, as ``read_dataset`` reads), usually a tiled
            dataset with ``train`` and ``val`` splits.
        out: run directory (checkpoints, ONNX export, metrics).
        img_size: model input size; training images are cropped or padded to it.
        epochs: passes over the training images.
        batch: images per step, or ``"auto"`` (largest that fits the memory budget).
        nominal_batch: gradients are accumulated up to this many images per update;
            weight decay is scaled by ``batch * accumulate / nominal_batch``.
        anchors: ``"auto"`` fits anchors to the labels, ``"default"`` uses
            ``DEFAULT_ANCHORS``; or an explicit (n, 2) list.
        lr: peak learning rate.
        optimizer: ``"adamw"`` or ``"sgd"``.
        weight_decay: weight decay at the nominal batch.
        warmup_epochs: linear learning-rate warm-up.
        seed: random seed (same seed, same run).
        widths, depths: detector size (see ``DetectorConfig``).
        hflip, vflip: flip probabilities.
        scale_range: scale jitter range.
        colour_jitter: brightness / contrast / saturation jitter amplitude.
        mosaic: probability that a training sample is a native-resolution four-image
            mosaic (``tilewise.datasets.augment.mosaic4``) of its image and three others
            of the split; more objects and context variety per batch, nothing resized.
        rot90: probability of a random k x 90 degree turn (k in 1..3) of each source
            image (``tilewise.datasets.augment.rotate90``); suits top-down imagery, not
            imagery with an up direction (street scenes).

    ``mosaic`` and ``rot90`` default to 0 (off) because measurement did not favour them:
    on the synthetic benchmark with the bundled model's 16-epoch recipe, mosaic 0.5 with
    rot90 0.5 gave test AP 0.538 / AP50 0.742 / AP_small 0.531 against 0.591 / 0.803 /
    0.584 without (``benchmarks/RESULTS.md``). Longer schedules or real data may differ:
    try them with ``--mosaic`` / ``--rot90``.
        val_max_images: validate on at most this many validation images (None: all).
        memory_budget_gb: memory budget of ``batch="auto"`` (None: a fraction of what is
            available).
        memory_fraction: that fraction.
        max_steps: stop after this many batches in total (for smoke tests).
        export: write ``best.onnx`` at the end.
        tile_size: the training tile size recorded in the model (default: ``img_size``).
        device: ``"cpu"`` or a CUDA device such as ``"cuda:0"``.
        amp: mixed precision (bfloat16 autocast), faster on CPUs with AVX-512 BF16.
        channels_last: channels-last memory layout (usually faster convolutions on CPU).
        threads: CPU threads for torch (None: torch's default). On a shared machine one
            thread can be several times faster than oversubscribed cores.

    Configs saved before ``mosaic`` and ``rot90`` existed (a checkpoint's
    ``train.config``, ``results.json``) load with both at 0, as those runs trained.

    Example:
        >>> cfg = TrainConfig(data="d", mosaic=1.0, rot90=0.0)
        >>> TrainConfig.from_dict(cfg.to_dict()).mosaic
        1.0
        >>> TrainConfig(data="d", mosaic=1.5)
        Traceback (most recent call last):
        ...
        tilewise.errors.TilewiseError: mosaic must be a probability in [0, 1], got 1.5
    """

    data: str
    out: str = "runs/train"
    img_size: int = 640
    epochs: int = 30
    batch: int | str = 16
    nominal_batch: int = 64
    anchors: AnchorMode | str | Sequence[Sequence[float]] = "auto"
    lr: float = 0.002
    optimizer: str = "adamw"
    weight_decay: float = 5e-4
    warmup_epochs: float = 1.0
    seed: int = 0
    widths: tuple[int, int, int, int, int] = (16, 32, 64, 128, 256)
    depths: tuple[int, int, int, int] = (1, 2, 2, 1)
    hflip: float = 0.5
    vflip: float = 0.0
    scale_range: tuple[float, float] = (0.75, 1.33)
    colour_jitter: float = 0.25
    mosaic: float = 0.0
    rot90: float = 0.0
    val_max_images: int | None = None
    memory_budget_gb: float | None = None
    memory_fraction: float = 0.6
    max_steps: int | None = None
    export: bool = True
    tile_size: int | None = None
    device: str = "cpu"
    amp: bool = False
    channels_last: bool = True
    threads: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in ("img_size", "epochs", "nominal_batch"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise TilewiseError(f"{name} must be an int >= 1, got {value!r}")
        if self.img_size % MAX_STRIDE:
            raise TilewiseError(
                f"img_size must be a multiple of {MAX_STRIDE} (the model's largest stride), "
                f"got {self.img_size}"
            )
        if self.batch != "auto" and (
            isinstance(self.batch, bool) or not isinstance(self.batch, int) or self.batch < 1
        ):
            raise TilewiseError(f"batch must be an int >= 1 or 'auto', got {self.batch!r}")
        if self.optimizer not in ("adamw", "sgd"):
            raise TilewiseError(f"optimizer must be 'adamw' or 'sgd', got {self.optimizer!r}")
        if self.lr <= 0 or self.weight_decay < 0 or self.warmup_epochs < 0:
            raise TilewiseError("lr must be > 0, weight_decay and warmup_epochs >= 0")
        if not 0 < self.memory_fraction <= 1:
            raise TilewiseError(f"memory_fraction must be in (0, 1], got {self.memory_fraction}")
        if isinstance(self.anchors, str) and self.anchors not in ("auto", "default"):
            raise TilewiseError(
                f"anchors must be 'auto', 'default' or a list of (w, h), got {self.anchors!r}"
            )
        for name in ("mosaic", "rot90"):
            value = getattr(self, name)
            if (
                isinstance(value, bool)
                or not isinstance(value, numbers.Real)
                or not 0.0 <= value <= 1.0
            ):
                raise TilewiseError(f"{name} must be a probability in [0, 1], got {value!r}")
            setattr(self, name, float(value))
        self.scale_range = (float(self.scale_range[0]), float(self.scale_range[1]))
        self.widths = tuple(int(w) for w in self.widths)  # type: ignore[assignment]
        self.depths = tuple(int(d) for d in self.depths)  # type: ignore[assignment]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form.

        Example:
            >>> TrainConfig(data="d", img_size=320).to_dict()["img_size"]
            320
        """
        d = asdict(self)
        if not isinstance(self.anchors, str):
            d["anchors"] = [list(map(float, a)) for a in self.anchors]
        return {k: list(v) if isinstance(v, tuple) else v for k, v in d.items()}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> TrainConfig:
        """Inverse of ``to_dict`` (unknown keys are refused).

        Settings added after a dict was written (``mosaic``, ``rot90``) load as 0, which is
        how that run trained, not as today's defaults.

        Example:
            >>> TrainConfig.from_dict({"data": "d", "epochs": 3}).epochs
            3
            >>> TrainConfig.from_dict({"data": "d"}).mosaic
            0.0
        """
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(d) - known)
        if unknown:
            raise TilewiseError(f"unknown training settings: {unknown}")
        values = dict(d)
        for key in _ADDED_LATER:  # a dict written before the key existed trained without it
            values.setdefault(key, 0.0)
        for key in ("widths", "depths", "scale_range"):
            if key in values:
                values[key] = tuple(values[key])
        return cls(**values)
