"""Real image material shipped with scikit-learn and scikit-image (no download needed).

* handwritten digits: scikit-learn's ``load_digits`` (1,797 glyphs, 8 x 8);
* faces: scikit-image's LFW subset (200 faces, 25 x 25);
* coins: the 24 coins of scikit-image's ``coins`` photograph, found by a Hough transform;
* the scikit-image logo, the ``horse`` silhouette and the ``chelsea`` cat photograph;
* textures for backgrounds and clutter: ``grass``, ``gravel``, ``brick``, ``moon``,
  ``camera``, ``text``, ``page``, ``cell``.

Everything is loaded once per process and kept as float32 arrays in [0, 1].
"""

from __future__ import annotations

import gzip
import importlib.util
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from tilewise.errors import TilewiseError

__all__ = ["BACKGROUND_TEXTURES", "CLUTTER_TEXTURES", "Materials", "load_materials"]

BACKGROUND_TEXTURES = ("grass", "gravel", "brick", "moon")
"""Textures that make up scene backgrounds."""

CLUTTER_TEXTURES = ("camera", "text", "page", "cell", "gravel", "brick")
"""Textures cut into clutter patches."""


@dataclass(frozen=True)
class Materials:
    """Source images for the generator (float32 in [0, 1]).

    Attributes:
        digits: (1797, 8, 8) ink intensity of the handwritten digits.
        faces: (200, 25, 25) grey faces.
        coins: 24 grey coin crops, each square with the coin inscribed.
        logo: the scikit-image logo, RGB, square, the disc inscribed.
        horse: the horse silhouette as an alpha mask, cropped to it.
        cat: the chelsea photograph, RGB.
        textures: grey textures by name.
    """

    digits: np.ndarray
    faces: np.ndarray
    coins: tuple[np.ndarray, ...]
    logo: np.ndarray
    horse: np.ndarray
    cat: np.ndarray
    textures: dict[str, np.ndarray]


def _require(module: str, extra: str = "synth") -> None:
    if importlib.util.find_spec(module) is None:
        raise TilewiseError(
            f"the synthetic benchmark needs {module} (real image material shipped with it): "
            f"pip install 'tilewise[{extra}]'"
        )


def _digits() -> np.ndarray:
    """scikit-learn's digits, read from its bundled CSV (``load_digits`` as a fallback)."""
    spec = importlib.util.find_spec("sklearn")
    if spec is not None and spec.origin:
        csv = Path(spec.origin).parent / "datasets" / "data" / "digits.csv.gz"
        if csv.is_file():
            with gzip.open(csv, "rt") as fh:
                table = np.loadtxt(fh, delimiter=",", dtype=np.float32)
            return table[:, :-1].reshape(-1, 8, 8) / 16.0
    from sklearn.datasets import load_digits

    return load_digits().images.astype(np.float32) / 16.0


def _coins(image: np.ndarray) -> tuple[np.ndarray, ...]:
    import cv2

    blurred = cv2.GaussianBlur(image, (0, 0), 2)
    circles = cv2.HoughCircles(
        blurred,
        cv2.HOUGH_GRADIENT,
        dp=1,
        minDist=25,
        param1=100,
        param2=25,
        minRadius=12,
        maxRadius=40,
    )
    if circles is None:
        raise TilewiseError("could not find the coins in scikit-image's coins image")
    crops = []
    h, w = image.shape
    for x, y, r in sorted(np.round(circles[0]).astype(int).tolist()):
        r = r + 2
        if x - r < 0 or y - r < 0 or x + r > w or y + r > h:
            continue
        crops.append(image[y - r : y + r, x - r : x + r].astype(np.float32) / 255.0)
    return tuple(crops)


def _grey(image: np.ndarray) -> np.ndarray:
    arr = np.asarray(image)
    if arr.dtype == bool:
        return arr.astype(np.float32)
    arr = arr.astype(np.float32)
    return arr / 255.0 if arr.max() > 1.0 else arr


@lru_cache(maxsize=1)
def load_materials() -> Materials:
    """Load (once) the real image material the generator builds scenes from.

    Raises:
        TilewiseError: scikit-learn or scikit-image is not installed.

    Example:
        >>> m = load_materials()
        >>> m.digits.shape, len(m.coins) >= 20, sorted(m.textures)[:3]
        ((1797, 8, 8), True, ['brick', 'camera', 'cell'])
    """
    _require("sklearn")
    _require("skimage")
    from skimage import data

    horse = 1.0 - _grey(data.horse())
    ys, xs = np.nonzero(horse > 0.5)
    horse = horse[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1]
    names = sorted(set(BACKGROUND_TEXTURES) | set(CLUTTER_TEXTURES))
    return Materials(
        digits=_digits(),
        faces=data.lfw_subset().astype(np.float32),
        coins=_coins(data.coins()),
        logo=_grey(data.logo()[..., :3]),
        horse=np.ascontiguousarray(horse),
        cat=_grey(data.chelsea()),
        textures={name: _grey(getattr(data, name)()) for name in names},
    )
