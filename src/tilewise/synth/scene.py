"""Drawing one scene: textured background, clutter, objects, distractors, light and blur."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tilewise.synth.config import SynthConfig
from tilewise.synth.materials import BACKGROUND_TEXTURES, CLUTTER_TEXTURES, Materials
from tilewise.synth.sprites import (
    DISTRACTOR_MAKERS,
    OBJECT_MAKERS,
    ObjectClass,
    Sprite,
    ellipse_alpha,
    resize,
)

__all__ = ["CLASS_NAMES", "Scene", "render_scene"]

CLASS_NAMES: tuple[str, ...] = tuple(c.value for c in ObjectClass)
"""Class names in class-id order."""

_PALETTES = {
    "grass": ((0.10, 0.22, 0.05), (0.55, 0.75, 0.30)),
    "gravel": ((0.25, 0.23, 0.20), (0.80, 0.76, 0.70)),
    "brick": ((0.30, 0.10, 0.07), (0.85, 0.50, 0.40)),
    "moon": ((0.20, 0.20, 0.22), (0.75, 0.75, 0.78)),
}
_CELL = 4  # occupancy grid cell, px
_ALPHA_BOX = 0.3  # alpha level that defines an object's box


@dataclass(frozen=True)
class Scene:
    """One rendered scene.

    Attributes:
        image: H x W x 3 uint8 RGB.
        boxes: (N, 4) float64 xyxy object boxes.
        class_id: (N,) int64 indices into ``CLASS_NAMES``.
        distractors: number of look-alike distractors drawn (not annotated).
    """

    image: np.ndarray
    boxes: np.ndarray
    class_id: np.ndarray
    distractors: int


def _tiled(tex: np.ndarray, h: int, w: int, rng: np.random.Generator) -> np.ndarray:
    """A texture mirrored (seamlessly) to cover h x w, at a random scale and offset."""
    scale = rng.uniform(0.5, 1.5)
    side = max(16, round(tex.shape[0] * scale))
    t = np.rot90(resize(tex, (side, side)), int(rng.integers(4)))
    oy, ox = (int(v) for v in rng.integers(0, side, 2))
    reps_y, reps_x = (h + oy) // side + 2, (w + ox) // side + 2
    big = np.pad(t, ((0, (reps_y - 1) * side), (0, (reps_x - 1) * side)), mode="symmetric")
    return big[oy : oy + h, ox : ox + w]


def _background(rng: np.random.Generator, w: int, h: int, m: Materials) -> np.ndarray:
    count = int(rng.integers(2, 4))
    names = rng.choice(BACKGROUND_TEXTURES, size=count, replace=False)
    weights = np.stack(
        [resize(rng.normal(0, 1, (6, 6)).astype(np.float32), (w, h)) * 4.0 for _ in range(count)]
    )
    weights = np.exp(weights - weights.max(axis=0, keepdims=True))
    weights /= weights.sum(axis=0, keepdims=True)
    out = np.zeros((h, w, 3), np.float32)
    for k, name in enumerate(names):
        dark, light = (np.array(c, np.float32) for c in _PALETTES[str(name)])
        jitter = rng.uniform(0.85, 1.15, 3).astype(np.float32)
        t = _tiled(m.textures[str(name)], h, w, rng)[..., None]
        out += weights[k][..., None] * (dark * jitter + (light - dark) * jitter * t)
    return out


def _paste(canvas: np.ndarray, sprite: Sprite, x: int, y: int, shadow: bool) -> None:
    h, w = sprite.alpha.shape
    a = sprite.alpha[..., None]
    if shadow and y + h + 1 <= canvas.shape[0] and x + w + 1 <= canvas.shape[1]:
        canvas[y + 1 : y + h + 1, x + 1 : x + w + 1] *= 1.0 - 0.35 * a
    region = canvas[y : y + h, x : x + w]
    region *= 1.0 - a
    region += a * sprite.rgb


def _clutter(canvas: np.ndarray, rng: np.random.Generator, count: int, m: Materials) -> None:
    import cv2

    h, w = canvas.shape[:2]
    for _ in range(count):
        if rng.random() < 0.4:  # a stroke: a crack, a cable, a road marking
            p1 = rng.integers(0, (w, h))
            p2 = np.clip(p1 + rng.normal(0, 80, 2).astype(int), 0, (w - 1, h - 1))
            colour = tuple(float(c) for c in rng.uniform(0, 1, 3))
            cv2.line(
                canvas, tuple(map(int, p1)), tuple(map(int, p2)), colour, int(rng.integers(1, 3))
            )
            continue
        tex = m.textures[str(rng.choice(CLUTTER_TEXTURES))]
        pw, ph = (int(v) for v in rng.integers(8, 120, 2))
        pw, ph = min(pw, w - 1, tex.shape[1]), min(ph, h - 1, tex.shape[0])
        ty, tx = rng.integers(0, tex.shape[0] - ph + 1), rng.integers(0, tex.shape[1] - pw + 1)
        grey = tex[ty : ty + ph, tx : tx + pw]
        colour = rng.uniform(0.4, 1.1, 3).astype(np.float32)
        rgb = np.clip(grey[..., None] * colour, 0, 1).astype(np.float32)
        alpha = np.full((ph, pw), rng.uniform(0.5, 1.0), np.float32)
        if rng.random() < 0.5:
            alpha = alpha * ellipse_alpha(ph, pw, soft=2)
        x, y = int(rng.integers(0, w - pw + 1)), int(rng.integers(0, h - ph + 1))
        _paste(canvas, Sprite(rgb, alpha), x, y, shadow=False)


def _sizes(rng: np.random.Generator, n: int, cfg: SynthConfig) -> np.ndarray:
    lo, hi = cfg.size_range
    s = np.exp(rng.normal(np.log(cfg.size_median), cfg.size_sigma, n))
    return np.clip(np.round(s), lo, hi).astype(int)


class _Placer:
    """Finds free positions (coarse occupancy grid), uniformly or around cluster centres."""

    def __init__(self, rng: np.random.Generator, w: int, h: int, cfg: SynthConfig) -> None:
        self.rng, self.w, self.h, self.cfg = rng, w, h, cfg
        self.grid = np.zeros((h // _CELL + 1, w // _CELL + 1), dtype=bool)
        k = max(1, round(w * h / 1e6 * 2))
        self.centres = rng.uniform((0, 0), (w, h), (k, 2))

    def place(self, pw: int, ph: int, tries: int = 12) -> tuple[int, int] | None:
        rng = self.rng
        if pw >= self.w or ph >= self.h:
            return None
        for _ in range(tries):
            if rng.random() < self.cfg.cluster_fraction:
                c = self.centres[rng.integers(len(self.centres))]
                x, y = (c + rng.normal(0, 90, 2)).astype(int)
            else:
                x, y = int(rng.integers(0, self.w - pw)), int(rng.integers(0, self.h - ph))
            x, y = int(np.clip(x, 0, self.w - pw - 1)), int(np.clip(y, 0, self.h - ph - 1))
            gx0, gy0 = x // _CELL, y // _CELL
            gx1, gy1 = (x + pw) // _CELL + 1, (y + ph) // _CELL + 1
            cells = self.grid[gy0:gy1, gx0:gx1]
            if cells.mean() <= 0.1:
                cells[:] = True
                return x, y
        return None


def _defocus(sprite: Sprite, sigma: float) -> Sprite:
    import cv2

    rgb = cv2.GaussianBlur(sprite.rgb, (0, 0), sigma)
    alpha = cv2.GaussianBlur(sprite.alpha, (0, 0), sigma)
    return Sprite(rgb, alpha)


def _alpha_box(alpha: np.ndarray) -> tuple[int, int, int, int] | None:
    ys, xs = np.nonzero(alpha > _ALPHA_BOX)
    if ys.size == 0:
        return None
    return int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1


def _finish(canvas: np.ndarray, rng: np.random.Generator, cfg: SynthConfig) -> np.ndarray:
    """Lighting (uneven illumination, colour cast, gamma), blur, sensor noise, to uint8."""
    import cv2

    h, w = canvas.shape[:2]
    light = resize(rng.uniform(0.6, 1.3, (4, 4)).astype(np.float32), (w, h))
    cast = rng.uniform(0.9, 1.1, 3).astype(np.float32)
    canvas *= light[..., None]
    canvas *= cast
    np.clip(canvas, 0.0, 1.0, out=canvas)
    gamma = float(rng.uniform(0.8, 1.25))
    if abs(gamma - 1.0) > 1e-3:
        canvas **= gamma
    sigma = float(rng.uniform(0.0, cfg.blur_max)) if rng.random() < 0.6 else 0.0
    if sigma > 0.3:
        canvas = cv2.GaussianBlur(canvas, (0, 0), sigma)
    out = canvas * 255.0
    noise = float(rng.uniform(0.0, cfg.noise_max))
    if noise > 0:
        out += rng.normal(0.0, noise, out.shape).astype(np.float32)
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)


def render_scene(
    index: int, seed: int, materials: Materials, config: SynthConfig | None = None
) -> Scene:
    """Render scene ``index`` of the benchmark with ``seed`` (the same inputs, the same scene).

    Each scene has its own random stream (``seed``, ``index``), so a scene does not
    depend on how many scenes are generated.

    Example:
        >>> from tilewise.synth.materials import load_materials
        >>> s = render_scene(0, seed=1, materials=load_materials(),
        ...                  config=SynthConfig(scene_size=256, size_range=(4, 32)))
        >>> s.image.shape, s.boxes.shape[1], bool(len(s.boxes) > 0)
        ((256, 256, 3), 4, True)
    """
    cfg = config or SynthConfig()
    rng = np.random.default_rng([int(seed), int(index)])
    w, h = cfg.wh
    mpx = w * h / 1e6
    canvas = _background(rng, w, h, materials)
    _clutter(canvas, rng, int(rng.poisson(cfg.clutter_per_mpx * mpx)), materials)
    lo, hi = cfg.objects_per_mpx
    n_obj = int(rng.poisson(rng.uniform(lo, hi) * mpx))
    n_dis = int(rng.poisson(n_obj * cfg.distractor_ratio))
    placer = _Placer(rng, w, h, cfg)
    classes = list(ObjectClass)
    boxes: list[tuple[int, int, int, int]] = []
    labels: list[int] = []
    drawn = 0
    kinds = [True] * n_obj + [False] * n_dis
    for is_object, size in zip(kinds, _sizes(rng, len(kinds), cfg), strict=True):
        if is_object:
            label = int(rng.integers(len(classes)))
            sprite = OBJECT_MAKERS[classes[label]](rng, int(size), materials)
        else:
            label = -1
            maker = DISTRACTOR_MAKERS[rng.integers(len(DISTRACTOR_MAKERS))]
            sprite = maker(rng, int(size), materials)
        if rng.random() < 0.25:
            sprite = _defocus(sprite, float(rng.uniform(0.4, 1.0)))
        box = _alpha_box(sprite.alpha)
        if box is None:
            continue
        ph, pw = sprite.alpha.shape
        spot = placer.place(pw, ph)
        if spot is None:
            continue
        x, y = spot
        _paste(canvas, sprite, x, y, shadow=bool(rng.random() < 0.5))
        if label >= 0:
            boxes.append((x + box[0], y + box[1], x + box[2], y + box[3]))
            labels.append(label)
        else:
            drawn += 1
    image = _finish(canvas, rng, cfg)
    return Scene(
        image=image,
        boxes=np.asarray(boxes, dtype=np.float64).reshape(-1, 4),
        class_id=np.asarray(labels, dtype=np.int64),
        distractors=drawn,
    )
