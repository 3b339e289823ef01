"""The tiling configuration, saved with every tiled dataset so inference can reuse it."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from tilewise.errors import TilewiseError
from tilewise.fileio import atomic_write_json
from tilewise.slicing.grid import OverlapLike, SizeLike, SliceGrid

__all__ = ["CONFIG_NAME", "TilingConfig"]

CONFIG_NAME = "tiling.json"
_FORMAT_VERSION = 1


def _pair(value: Any) -> tuple[Any, Any]:
    if isinstance(value, (list, tuple)):
        if len(value) != 2:
            raise TilewiseError(f"expected a number or an (x, y) pair, got {value!r}")
        return value[0], value[1]
    return value, value


@dataclass(frozen=True)
class TilingConfig:
    """How a dataset is cut into training tiles.

    Args:
        slice_wh: tile size, an int or (w, h); the same meaning as ``SliceGrid``.
        overlap: overlap ratio in [0, 1) or pixels (int), or an (x, y) pair.
        min_visibility: keep a box in a tile when at least this fraction of its (in-image)
            area lies in the tile.
        min_size: ... and when its clipped width and height are both at least this many px.
        empty_ratio: empty (negative) tiles kept per split, as a fraction of that split's
            non-empty tiles, chosen at random with ``seed``.
        seed: seed for the empty-tile choice and the split assignment.
        split_ratios: (train, val, test) fractions assigned per source image before tiling;
            None keeps the source's own splits.
        image_ext: tile image suffix (e.g. ".png"); None keeps each source's suffix.
        jpeg_quality: JPEG quality of tiles written as JPEG.

    Example:
        >>> cfg = TilingConfig(slice_wh=512, overlap=0.25)
        >>> cfg.grid((1000, 600)).boxes.shape
        (6, 4)
        >>> TilingConfig.from_dict(cfg.to_dict()) == cfg
        True
    """

    slice_wh: SizeLike = 640
    overlap: OverlapLike = 0.2
    min_visibility: float = 0.3
    min_size: float = 2.0
    empty_ratio: float = 0.1
    seed: int = 0
    split_ratios: tuple[float, float, float] | None = None
    image_ext: str | None = None
    jpeg_quality: int = 95
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        sw, sh = _pair(self.slice_wh)
        object.__setattr__(self, "slice_wh", (int(sw), int(sh)))
        ox, oy = _pair(self.overlap)
        object.__setattr__(self, "overlap", (ox, oy))
        self.grid((int(sw), int(sh)))  # validates slice size and overlap
        if not 0.0 <= float(self.min_visibility) <= 1.0:
            raise TilewiseError(f"min_visibility must be in [0, 1], got {self.min_visibility}")
        if float(self.min_size) < 0:
            raise TilewiseError(f"min_size must be >= 0, got {self.min_size}")
        if float(self.empty_ratio) < 0:
            raise TilewiseError(f"empty_ratio must be >= 0, got {self.empty_ratio}")
        if self.split_ratios is not None:
            ratios = tuple(float(r) for r in self.split_ratios)
            if len(ratios) != 3 or min(ratios) < 0 or abs(sum(ratios) - 1.0) > 1e-6:
                raise TilewiseError(
                    f"split_ratios must be three fractions (train, val, test) summing to 1, "
                    f"got {self.split_ratios}"
                )
            object.__setattr__(self, "split_ratios", ratios)
        if self.image_ext is not None:
            ext = str(self.image_ext).lower()
            object.__setattr__(self, "image_ext", ext if ext.startswith(".") else f".{ext}")
        if not 0 <= int(self.jpeg_quality) <= 100:
            raise TilewiseError(f"jpeg_quality must be in [0, 100], got {self.jpeg_quality}")

    def grid(self, image_wh: tuple[int, int]) -> SliceGrid:
        """The slice grid of an image: the same ``SliceGrid`` sliced inference uses.

        Example:
            >>> len(TilingConfig(slice_wh=10, overlap=0).grid((20, 10)))
            2
        """
        return SliceGrid(image_wh, slice_wh=self.slice_wh, overlap=self.overlap)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (with a format version).

        Example:
            >>> TilingConfig().to_dict()["slice_wh"]
            [640, 640]
        """
        d = asdict(self)
        d["slice_wh"] = list(self.slice_wh)  # type: ignore[arg-type]
        d["overlap"] = list(self.overlap)  # type: ignore[arg-type]
        if self.split_ratios is not None:
            d["split_ratios"] = list(self.split_ratios)
        d["format_version"] = _FORMAT_VERSION
        return d

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TilingConfig:
        """Inverse of ``to_dict``.

        Example:
            >>> TilingConfig.from_dict({"slice_wh": [320, 320]}).slice_wh
            (320, 320)
        """
        d = dict(data)
        version = d.pop("format_version", _FORMAT_VERSION)
        if version != _FORMAT_VERSION:
            raise TilewiseError(f"unsupported tiling config version {version}")
        known = {f for f in cls.__dataclass_fields__}
        unknown = set(d) - known
        if unknown:
            raise TilewiseError(f"unknown tiling config keys: {sorted(unknown)}")
        for key in ("slice_wh", "overlap", "split_ratios"):
            if isinstance(d.get(key), list):
                d[key] = tuple(d[key])
        return cls(**d)

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the config as JSON, atomically.

        Example:
            >>> import tempfile, pathlib
            >>> p = TilingConfig().save(pathlib.Path(tempfile.mkdtemp()) / CONFIG_NAME)
            >>> TilingConfig.load(p) == TilingConfig()
            True
        """
        return atomic_write_json(path, self.to_dict())

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> TilingConfig:
        """Read a config written by ``save`` (a tiled dataset directory works too).

        Example:
            >>> import tempfile, pathlib
            >>> d = pathlib.Path(tempfile.mkdtemp()); _ = TilingConfig(slice_wh=256).save(
            ...     d / CONFIG_NAME)
            >>> TilingConfig.load(d).slice_wh
            (256, 256)
        """
        p = Path(path)
        if p.is_dir():
            p = p / CONFIG_NAME
        try:
            data = json.loads(p.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise TilewiseError(f"tiling config not found: {p}") from None
        except json.JSONDecodeError as exc:
            raise TilewiseError(f"{p}:line {exc.lineno}: malformed tiling config") from None
        return cls.from_dict(data)
