"""Object and distractor sprites (colour + alpha) cut from the real image material.

Every maker takes a random generator, the sprite's long side in pixels and the
materials, and returns a ``Sprite``. Objects are annotated; distractors look like one of
the object classes (an ink scribble next to digits, a plain stone next to coins, a
featureless skin-coloured blob next to faces...) but are not.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum

import numpy as np

from tilewise.synth.materials import Materials

__all__ = [
    "DISTRACTOR_MAKERS",
    "OBJECT_MAKERS",
    "ObjectClass",
    "Sprite",
    "ellipse_alpha",
    "resize",
]


class ObjectClass(str, Enum):
    """The annotated classes of the synthetic benchmark, in class-id order."""

    DIGIT = "digit"
    COIN = "coin"
    FACE = "face"
    LOGO = "logo"
    HORSE = "horse"
    CAT = "cat"


@dataclass(frozen=True)
class Sprite:
    """A small RGBA patch: ``rgb`` (h, w, 3) and ``alpha`` (h, w), float32 in [0, 1]."""

    rgb: np.ndarray
    alpha: np.ndarray


Maker = Callable[[np.random.Generator, int, Materials], Sprite]

_SKIN = np.array(
    [[0.96, 0.80, 0.69], [0.87, 0.67, 0.53], [0.76, 0.57, 0.42], [0.55, 0.38, 0.26]],
    dtype=np.float32,
)
_METALS = np.array([[1.0, 0.84, 0.45], [0.92, 0.93, 0.96], [0.86, 0.56, 0.40]], dtype=np.float32)
_COATS = np.array(
    [[0.45, 0.28, 0.15], [0.12, 0.10, 0.09], [0.92, 0.90, 0.86], [0.62, 0.36, 0.18]],
    dtype=np.float32,
)


def resize(image: np.ndarray, wh: tuple[int, int]) -> np.ndarray:
    """Resize a float image to (w, h): area averaging down, bilinear up.

    Example:
        >>> resize(np.ones((8, 8), np.float32), (4, 2)).shape
        (2, 4)
    """
    import cv2

    w, h = max(1, int(wh[0])), max(1, int(wh[1]))
    down = w * h < image.shape[0] * image.shape[1]
    interp = cv2.INTER_AREA if down else cv2.INTER_LINEAR
    return cv2.resize(np.ascontiguousarray(image), (w, h), interpolation=interp)


def ellipse_alpha(h: int, w: int, soft: float = 0.8) -> np.ndarray:
    """A soft-edged filled ellipse inscribed in an h x w patch.

    Example:
        >>> a = ellipse_alpha(9, 9)
        >>> float(a[4, 4]), float(a[0, 0])
        (1.0, 0.0)
    """
    yy = (np.arange(h, dtype=np.float32) + 0.5) / h * 2 - 1
    xx = (np.arange(w, dtype=np.float32) + 0.5) / w * 2 - 1
    r = np.sqrt(yy[:, None] ** 2 + xx[None, :] ** 2)
    edge = soft / max(min(h, w) / 2, 1.0)
    return np.clip((1.0 - r) / max(edge, 1e-3), 0.0, 1.0).astype(np.float32)


def _tint(grey: np.ndarray, colour: np.ndarray, gain: float = 1.0) -> np.ndarray:
    return np.clip(grey[..., None] * colour[None, None, :] * gain, 0.0, 1.0).astype(np.float32)


def _fit(shape: tuple[int, int], size: int) -> tuple[int, int]:
    """(w, h) with the long side ``size`` and the aspect ratio of ``shape`` (h, w)."""
    h, w = shape
    if w >= h:
        return size, max(2, round(size * h / w))
    return max(2, round(size * w / h)), size


def _ink_colour(rng: np.random.Generator) -> np.ndarray:
    kind = rng.integers(3)
    if kind == 0:
        return np.full(3, rng.uniform(0.02, 0.15), np.float32)
    if kind == 1:
        return np.full(3, rng.uniform(0.85, 1.0), np.float32)
    return rng.uniform(0.0, 1.0, 3).astype(np.float32)


def _glyph(grey: np.ndarray, size: int, rng: np.random.Generator) -> Sprite:
    ys, xs = np.nonzero(grey > 0.15)
    if ys.size:
        grey = grey[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1]
    w, h = _fit(grey.shape, size)
    alpha = np.clip((resize(grey, (w, h)) - 0.12) * 1.8, 0.0, 1.0)
    colour = _ink_colour(rng)
    return Sprite(np.broadcast_to(colour, (h, w, 3)).copy(), alpha.astype(np.float32))


def make_digit(rng: np.random.Generator, size: int, m: Materials) -> Sprite:
    """A handwritten digit in dark, light or coloured ink."""
    return _glyph(m.digits[rng.integers(len(m.digits))], size, rng)


def make_coin(rng: np.random.Generator, size: int, m: Materials) -> Sprite:
    """A coin from the coins photograph, tinted gold, silver or copper."""
    crop = np.rot90(m.coins[rng.integers(len(m.coins))], int(rng.integers(4)))
    grey = resize(crop, (size, size))
    metal = _METALS[rng.integers(len(_METALS))]
    return Sprite(_tint(grey, metal, rng.uniform(1.0, 1.4)), ellipse_alpha(size, size))


def make_face(rng: np.random.Generator, size: int, m: Materials) -> Sprite:
    """A face from the LFW subset in an oval, with a skin tone."""
    face = m.faces[rng.integers(len(m.faces))]
    if rng.random() < 0.5:
        face = face[:, ::-1]
    w, h = max(2, round(size * 0.8)), size
    grey = resize(face, (w, h))
    skin = _SKIN[rng.integers(len(_SKIN))]
    return Sprite(_tint(grey, skin, rng.uniform(1.1, 1.4)), ellipse_alpha(h, w))


def make_logo(rng: np.random.Generator, size: int, m: Materials) -> Sprite:
    """The scikit-image logo, turned by a multiple of 90 degrees."""
    logo = np.rot90(m.logo, int(rng.integers(4)))
    rgb = resize(logo, (size, size)) * np.float32(rng.uniform(0.85, 1.1))
    return Sprite(np.clip(rgb, 0, 1).astype(np.float32), ellipse_alpha(size, size))


def make_horse(rng: np.random.Generator, size: int, m: Materials) -> Sprite:
    """The horse silhouette with a coat colour and a little gravel texture."""
    mask = m.horse if rng.random() < 0.5 else m.horse[:, ::-1]
    w, h = _fit(mask.shape, size)
    alpha = np.clip(resize(mask, (w, h)) * 1.2, 0.0, 1.0)
    tex = m.textures["gravel"]
    y, x = rng.integers(0, tex.shape[0] - h), rng.integers(0, tex.shape[1] - w)
    shade = 0.75 + 0.5 * tex[y : y + h, x : x + w]
    coat = _COATS[rng.integers(len(_COATS))]
    return Sprite(_tint(shade, coat), alpha.astype(np.float32))


def _cat_crop(rng: np.random.Generator, m: Materials, face: bool) -> np.ndarray:
    cat = m.cat
    side = int(rng.integers(200, 280))
    if face:
        cx, cy = 235 + int(rng.integers(-20, 21)), 150 + int(rng.integers(-15, 16))
    else:  # fur at the photo's left edge: cat-coloured, no eyes
        cx, cy = 70 + int(rng.integers(-10, 11)), 230 + int(rng.integers(-10, 11))
        side = int(rng.integers(100, 140))
    y0 = int(np.clip(cy - side // 2, 0, cat.shape[0] - side))
    x0 = int(np.clip(cx - side // 2, 0, cat.shape[1] - side))
    side_y = min(side, cat.shape[0])
    return cat[y0 : y0 + side_y, x0 : x0 + side]


def make_cat(rng: np.random.Generator, size: int, m: Materials) -> Sprite:
    """The chelsea cat's face in an oval."""
    crop = _cat_crop(rng, m, face=True)
    if rng.random() < 0.5:
        crop = crop[:, ::-1]
    w, h = size, max(2, round(size / 1.15))
    return Sprite(resize(crop, (w, h)).astype(np.float32), ellipse_alpha(h, w))


OBJECT_MAKERS: dict[ObjectClass, Maker] = {
    ObjectClass.DIGIT: make_digit,
    ObjectClass.COIN: make_coin,
    ObjectClass.FACE: make_face,
    ObjectClass.LOGO: make_logo,
    ObjectClass.HORSE: make_horse,
    ObjectClass.CAT: make_cat,
}
"""One maker per annotated class."""


# ---------------------------------------------------------------- distractors
def make_scribble(rng: np.random.Generator, size: int, m: Materials) -> Sprite:
    """A digit with its quarters shuffled: ink, but no digit (looks like ``digit``)."""
    g = m.digits[rng.integers(len(m.digits))]
    blocks = [g[:4, :4], g[:4, 4:], g[4:, :4], g[4:, 4:]]
    order = rng.permutation(4)
    while np.all(order == np.arange(4)):
        order = rng.permutation(4)
    b = [blocks[i] for i in order]
    shuffled = np.block([[b[0], b[1]], [b[2], b[3]]]).astype(np.float32)
    return _glyph(shuffled, size, rng)


def make_stone(rng: np.random.Generator, size: int, m: Materials) -> Sprite:
    """A round stone of gravel texture (looks like ``coin``)."""
    tex = m.textures["gravel"]
    y, x = rng.integers(0, tex.shape[0] - 64, 2)
    grey = resize(tex[y : y + 64, x : x + 64], (size, size))
    colour = np.array(rng.uniform(0.6, 1.0, 3), np.float32)
    return Sprite(_tint(grey, colour, 1.2), ellipse_alpha(size, size))


def make_blob(rng: np.random.Generator, size: int, m: Materials) -> Sprite:
    """A featureless skin-coloured oval (looks like ``face``)."""
    w, h = max(2, round(size * 0.8)), size
    noise = resize(rng.random((4, 4)).astype(np.float32), (w, h))
    skin = _SKIN[rng.integers(len(_SKIN))]
    return Sprite(_tint(0.7 + 0.3 * noise, skin, 1.1), ellipse_alpha(h, w))


def make_disc(rng: np.random.Generator, size: int, m: Materials) -> Sprite:
    """A plain green or orange disc (looks like ``logo``)."""
    colour = np.array([0.55, 0.76, 0.29] if rng.random() < 0.5 else [1.0, 0.55, 0.2], np.float32)
    colour = np.clip(colour * rng.uniform(0.8, 1.1), 0, 1).astype(np.float32)
    rgb = np.broadcast_to(colour, (size, size, 3)).copy()
    return Sprite(rgb, ellipse_alpha(size, size))


def make_silhouette(rng: np.random.Generator, size: int, m: Materials) -> Sprite:
    """A random smooth blob in a coat colour (looks like ``horse``)."""
    w, h = size, max(2, round(size * rng.uniform(0.5, 1.0)))
    field = resize(rng.random((5, 5)).astype(np.float32), (w, h)) * ellipse_alpha(h, w, soft=3)
    field = field / max(float(field.max()), 1e-6)
    alpha = np.clip((field - 0.45) * 6.0, 0.0, 1.0).astype(np.float32)
    coat = _COATS[rng.integers(len(_COATS))]
    return Sprite(np.broadcast_to(coat, (h, w, 3)).copy(), alpha)


def make_fur(rng: np.random.Generator, size: int, m: Materials) -> Sprite:
    """An oval of the cat's fur without its face (looks like ``cat``)."""
    crop = _cat_crop(rng, m, face=False)
    w, h = size, max(2, round(size / 1.15))
    return Sprite(resize(crop, (w, h)).astype(np.float32), ellipse_alpha(h, w))


DISTRACTOR_MAKERS: tuple[Maker, ...] = (
    make_scribble,
    make_stone,
    make_blob,
    make_disc,
    make_silhouette,
    make_fur,
)
"""Look-alike distractors, one per class (not annotated)."""
