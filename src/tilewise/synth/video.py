"""Synthetic videos of tiny movers (6-12 px) on real textures, with MOT ground truth.

A static camera looks at a textured scene (the backgrounds, clutter and look-alike
distractors of ``tilewise.synth``). Small objects of the benchmark's classes move over it
with smoothly turning headings; some are set up in pairs that cross each other, static
occluders (bands of texture: poles, wires, hedges) hide them for a few frames, movers are
born and leave the frame during the video. Everything depends only on the seed and the
config, and frames are rendered on demand, so a long or large video costs no memory.

``simulate_detections`` turns the ground truth into the output of an imperfect detector
(jitter, misses, weak true detections, static and random false positives), seeded, so a
tracker can be benchmarked without running a model.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from tilewise.detections.core import Detections
from tilewise.errors import TilewiseError
from tilewise.synth.materials import CLUTTER_TEXTURES, Materials, load_materials
from tilewise.synth.scene import _alpha_box, _background, _clutter, _paste
from tilewise.synth.sprites import DISTRACTOR_MAKERS, OBJECT_MAKERS, ObjectClass, Sprite

__all__ = ["DetectionNoise", "SynthVideo", "VideoConfig", "simulate_detections", "synth_video"]

FRAME_KEY = "frame"
"""``Detections.data`` key of the 0-based frame index in a track table."""


def _range(value: Any, name: str, low: float = 0.0) -> tuple[float, float]:
    if not isinstance(value, (tuple, list)) or len(value) != 2:
        raise TilewiseError(f"{name} must be a (low, high) pair, got {value!r}")
    lo, hi = float(value[0]), float(value[1])
    if not (np.isfinite(lo) and np.isfinite(hi)) or lo < low or lo > hi:
        raise TilewiseError(f"{name} must be a pair low <= high, both >= {low}, got {value!r}")
    return lo, hi


@dataclass(frozen=True)
class VideoConfig:
    """How a synthetic tiny-mover video is made.

    Args:
        frame_size: frame width and height in px (an int for square frames).
        frames: number of frames.
        fps: frame rate written to the sequence info.
        movers: objects over the whole video (some present at the start, the rest born
            during it).
        size_range: object size (long side, px).
        speed_range: object speed, px per frame.
        turn_std: heading random walk, radians per frame.
        crossing_fraction: share of the movers set up in pairs that cross.
        occluders_per_mpx: static occluding bands per megapixel.
        occluder_width: their thickness, px (long side: 5-20 times that).
        clutter_per_mpx: background clutter patches and strokes per megapixel.
        distractors_per_mpx: static look-alike (unannotated) sprites per megapixel.
        noise_std: per-frame sensor noise, grey levels.
        min_visibility: a mover is in the ground truth of a frame only when at least this
            fraction of its box is inside the frame and not behind an occluder.

    Example:
        >>> VideoConfig(frame_size=320, frames=10).wh
        (320, 320)
    """

    frame_size: int | tuple[int, int] = (1280, 720)
    frames: int = 150
    fps: float = 30.0
    movers: int = 40
    size_range: tuple[float, float] = (6.0, 12.0)
    speed_range: tuple[float, float] = (0.5, 6.0)
    turn_std: float = 0.04
    crossing_fraction: float = 0.4
    occluders_per_mpx: float = 10.0
    occluder_width: tuple[float, float] = (10.0, 30.0)
    clutter_per_mpx: float = 40.0
    distractors_per_mpx: float = 30.0
    noise_std: float = 3.0
    min_visibility: float = 0.5

    def __post_init__(self) -> None:
        w, h = self.wh
        if w < 64 or h < 64:
            raise TilewiseError(f"frame_size must be at least 64 px, got {self.frame_size!r}")
        for name in ("frames", "movers"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
                raise TilewiseError(f"{name} must be an int >= 0, got {value!r}")
        if self.frames < 1:
            raise TilewiseError(f"frames must be >= 1, got {self.frames}")
        _lo, hi = _range(self.size_range, "size_range", 2.0)
        if hi > min(w, h) / 4:
            raise TilewiseError(f"size_range must stay under {min(w, h) / 4:g} px for this frame")
        _range(self.speed_range, "speed_range")
        _range(self.occluder_width, "occluder_width", 1.0)
        for name in (
            "fps",
            "turn_std",
            "occluders_per_mpx",
            "clutter_per_mpx",
            "distractors_per_mpx",
            "noise_std",
        ):
            value = float(getattr(self, name))
            if not np.isfinite(value) or value < 0:
                raise TilewiseError(f"{name} must be a finite number >= 0, got {value}")
        if self.fps <= 0:
            raise TilewiseError(f"fps must be > 0, got {self.fps}")
        for name in ("crossing_fraction", "min_visibility"):
            value = float(getattr(self, name))
            if not 0.0 <= value <= 1.0:
                raise TilewiseError(f"{name} must be in [0, 1], got {value}")

    @property
    def wh(self) -> tuple[int, int]:
        """Frame (width, height)."""
        s = self.frame_size
        if isinstance(s, (tuple, list)):
            return int(s[0]), int(s[1])
        return int(s), int(s)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready settings."""
        return asdict(self)


@dataclass(frozen=True)
class _Mover:
    """One mover: its sprite, class and the top-left paste position in each live frame."""

    sprite: Sprite
    class_id: int
    box: tuple[int, int, int, int]  # alpha box inside the sprite
    first: int  # first frame
    xy: np.ndarray  # (L, 2) integer top-left positions, frames first .. first + L - 1


@dataclass
class SynthVideo:
    """A rendered-on-demand synthetic video and its ground truth.

    Attributes:
        config: the settings.
        seed: the seed.
        ground_truth: a track table: one row per visible mover and frame, sorted by frame
            then ID, with ``data["frame"]`` (0-based), ``data["tracker_id"]`` (1-based
            object IDs) and ``data["visibility"]``; ``class_id`` indexes
            ``tilewise.synth.CLASS_NAMES``.
        distractors: (K, 4) boxes of the static look-alike sprites (not annotated).
        occluders: (M, 4) boxes of the occluding bands.
    """

    config: VideoConfig
    seed: int
    ground_truth: Detections
    distractors: np.ndarray
    occluders: np.ndarray
    _static: np.ndarray = field(repr=False)
    _movers: list[_Mover] = field(repr=False)
    _occluder_sprites: list[tuple[Sprite, int, int]] = field(repr=False)

    def __len__(self) -> int:
        return int(self.config.frames)

    def frame(self, index: int) -> np.ndarray:
        """Render frame ``index`` (0-based) as H x W x 3 uint8 RGB.

        Example:
            >>> video = synth_video(VideoConfig(frame_size=160, frames=3, movers=4), seed=0)
            >>> video.frame(2).shape, video.frame(2).dtype.name
            ((160, 160, 3), 'uint8')
        """
        if not 0 <= int(index) < len(self):
            raise IndexError(f"frame {index} out of range for a {len(self)}-frame video")
        t = int(index)
        canvas = self._static.copy()
        for m in self._movers:
            k = t - m.first
            if 0 <= k < len(m.xy):
                x, y = (int(v) for v in m.xy[k])
                _paste_clipped(canvas, m.sprite, x, y)
        for sprite, x, y in self._occluder_sprites:
            _paste_clipped(canvas, sprite, x, y)
        out = canvas * 255.0
        if self.config.noise_std > 0:
            rng = np.random.default_rng([int(self.seed), 104729, t])
            out += rng.normal(0.0, self.config.noise_std, out.shape).astype(np.float32)
        return np.clip(out + 0.5, 0, 255).astype(np.uint8)

    def frames(self) -> Iterator[np.ndarray]:
        """Every frame in order, rendered one at a time."""
        for t in range(len(self)):
            yield self.frame(t)

    def ground_truth_frames(self) -> list[Detections]:
        """The ground truth split per frame (one ``Detections`` per frame, IDs in data)."""
        frame = self.ground_truth.data[FRAME_KEY]
        bounds = np.searchsorted(frame, np.arange(len(self) + 1))
        return [self.ground_truth[int(a) : int(b)] for a, b in itertools.pairwise(bounds)]


def _paste_clipped(canvas: np.ndarray, sprite: Sprite, x: int, y: int) -> None:
    """Paste a sprite whose top-left corner is at (x, y), cut to the canvas."""
    h, w = sprite.alpha.shape
    H, W = canvas.shape[:2]  # noqa: N806
    x0, y0, x1, y1 = max(x, 0), max(y, 0), min(x + w, W), min(y + h, H)
    if x0 >= x1 or y0 >= y1:
        return
    part = Sprite(
        sprite.rgb[y0 - y : y1 - y, x0 - x : x1 - x], sprite.alpha[y0 - y : y1 - y, x0 - x : x1 - x]
    )
    _paste(canvas, part, x0, y0, shadow=False)


def _path(
    rng: np.random.Generator,
    start: np.ndarray,
    heading: float,
    speed: float,
    n: int,
    cfg: VideoConfig,
) -> np.ndarray:
    """(n, 2) centres from ``start`` on, heading and speed wandering smoothly."""
    lo, hi = cfg.speed_range
    heading_t = heading + np.cumsum(rng.normal(0.0, cfg.turn_std, n))
    speed_t = np.clip(speed * np.exp(np.cumsum(rng.normal(0.0, 0.02, n))), lo, hi)
    step = np.stack([np.cos(heading_t), np.sin(heading_t)], axis=1) * speed_t[:, None]
    step[0] = 0.0
    return start[None, :] + np.cumsum(step, axis=0)


def _plan_movers(rng: np.random.Generator, cfg: VideoConfig) -> list[tuple[int, np.ndarray]]:
    """(first frame, (L, 2) centres) of every mover."""
    w, h = cfg.wh
    T = int(cfg.frames)  # noqa: N806
    lo, hi = cfg.speed_range
    n_cross = round(cfg.movers * cfg.crossing_fraction) // 2 * 2
    plans: list[tuple[int, np.ndarray]] = []
    margin = min(w, h) * 0.15
    for _ in range(n_cross // 2):  # crossing pairs: both at the same point at frame tc
        tc = int(rng.integers(0, T))
        point = rng.uniform((margin, margin), (w - margin, h - margin))
        base = rng.uniform(0, 2 * np.pi)
        for heading in (base, base + rng.uniform(np.pi / 3, np.pi)):
            speed = rng.uniform(lo, hi)
            life = int(rng.integers(max(2, T // 3), T + 1))
            before = int(rng.integers(0, life))
            after = life - before
            fwd = _path(rng, point, heading, speed, after, cfg)  # fwd[0] is the point
            back = _path(rng, point, heading + np.pi, speed, before + 1, cfg)[1:][::-1]
            path = np.concatenate([back, fwd])
            plans.append((tc - before, path))
    for _ in range(int(cfg.movers) - n_cross):
        life = int(rng.integers(max(2, T // 3), T + 1))
        first = 0 if rng.random() < 0.5 else int(rng.integers(0, T))
        speed = rng.uniform(lo, hi)
        if first > 0 and rng.random() < 0.5:  # enter through an edge, heading inwards
            side = int(rng.integers(4))
            along = rng.uniform(0, (w, h)[side % 2 == 0])
            start = [(along, 0.0), (w, along), (along, h), (0.0, along)][side]
            heading = (np.pi / 2, np.pi, -np.pi / 2, 0.0)[side] + rng.uniform(-0.6, 0.6)
        else:
            start = rng.uniform((0, 0), (w, h))
            heading = rng.uniform(0, 2 * np.pi)
        plans.append((first, _path(rng, np.asarray(start, float), heading, speed, life, cfg)))
    return plans


def _clip_life(first: int, centres: np.ndarray, cfg: VideoConfig) -> tuple[int, np.ndarray]:
    """Cut a path to the video's frames and to its first stay in the frame (exits die)."""
    w, h = cfg.wh
    T = int(cfg.frames)  # noqa: N806
    k0, k1 = max(0, -first), min(len(centres), T - first)
    if k1 <= k0:
        return first, centres[:0]
    centres = centres[k0:k1]
    first = first + k0
    pad = float(cfg.size_range[1])
    inside = (
        (centres[:, 0] > -pad) & (centres[:, 0] < w + pad)
        & (centres[:, 1] > -pad) & (centres[:, 1] < h + pad)
    )  # fmt: skip
    idx = np.flatnonzero(inside)
    if idx.size == 0:
        return first, centres[:0]
    start = int(idx[0])
    gaps = np.flatnonzero(~inside[start:])
    stop = start + int(gaps[0]) if gaps.size else len(centres)
    return first + start, centres[start:stop]


def _occluders(
    rng: np.random.Generator, cfg: VideoConfig, m: Materials
) -> tuple[list[tuple[Sprite, int, int]], np.ndarray]:
    w, h = cfg.wh
    n = int(rng.poisson(cfg.occluders_per_mpx * w * h / 1e6))
    sprites: list[tuple[Sprite, int, int]] = []
    boxes = []
    lo, hi = cfg.occluder_width
    for _ in range(n):
        thick = round(rng.uniform(lo, hi))
        length = round(thick * rng.uniform(5, 20))
        bw, bh = (length, thick) if rng.random() < 0.5 else (thick, length)
        bw, bh = min(bw, w), min(bh, h)
        tex = m.textures[str(rng.choice(CLUTTER_TEXTURES))]
        ty = int(rng.integers(0, max(1, tex.shape[0] - bh)))
        tx = int(rng.integers(0, max(1, tex.shape[1] - bw)))
        grey = tex[ty : ty + bh, tx : tx + bw]
        if grey.shape != (bh, bw):
            grey = np.resize(grey, (bh, bw))
        colour = rng.uniform(0.3, 0.9, 3).astype(np.float32)
        rgb = np.clip(grey[..., None] * colour + 0.1, 0, 1).astype(np.float32)
        x, y = int(rng.integers(0, w - bw + 1)), int(rng.integers(0, h - bh + 1))
        sprites.append((Sprite(rgb, np.ones((bh, bw), np.float32)), x, y))
        boxes.append((x, y, x + bw, y + bh))
    return sprites, np.asarray(boxes, dtype=np.float64).reshape(-1, 4)


def _visible_fraction(boxes: np.ndarray, covered: np.ndarray) -> np.ndarray:
    """Fraction of each integer box inside the frame and not covered (summed-area table)."""
    h, w = covered.shape
    sat = np.zeros((h + 1, w + 1), dtype=np.int64)
    sat[1:, 1:] = np.cumsum(np.cumsum(covered, axis=0), axis=1)
    b = boxes.astype(np.int64)
    area = np.maximum((b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1]), 1)
    x0, x1 = np.clip(b[:, 0], 0, w), np.clip(b[:, 2], 0, w)
    y0, y1 = np.clip(b[:, 1], 0, h), np.clip(b[:, 3], 0, h)
    inside = (x1 - x0) * (y1 - y0)
    hidden = sat[y1, x1] - sat[y0, x1] - sat[y1, x0] + sat[y0, x0]
    return (inside - hidden) / area


def synth_video(config: VideoConfig | None = None, seed: int = 0) -> SynthVideo:
    """Make a synthetic tiny-mover video (frames rendered on demand) and its ground truth.

    Args:
        config: the settings (default ``VideoConfig()``: 1280 x 720, 150 frames).
        seed: random seed (same seed and config, same video).

    Returns:
        A ``SynthVideo``.

    Raises:
        TilewiseError: bad settings, or scikit-learn / scikit-image missing (the ``synth``
            extra).

    Example:
        >>> video = synth_video(VideoConfig(frame_size=256, frames=20, movers=6), seed=1)
        >>> gt = video.ground_truth
        >>> sorted(gt.data), len(video), bool(len(gt) > 0)
        (['frame', 'tracker_id', 'visibility'], 20, True)
        >>> sides = gt.xyxy[:, 2:] - gt.xyxy[:, :2]
        >>> bool(sides.max() <= 12)
        True
    """
    cfg = config or VideoConfig()
    if not isinstance(cfg, VideoConfig):
        raise TilewiseError(f"config must be a VideoConfig, got {type(cfg).__name__}")
    materials = load_materials()
    rng = np.random.default_rng([int(seed), 31337])
    w, h = cfg.wh
    mpx = w * h / 1e6
    canvas = _background(rng, w, h, materials)
    _clutter(canvas, rng, int(rng.poisson(cfg.clutter_per_mpx * mpx)), materials)
    lo, hi = cfg.size_range
    distractors = []
    for _ in range(int(rng.poisson(cfg.distractors_per_mpx * mpx))):
        maker = DISTRACTOR_MAKERS[int(rng.integers(len(DISTRACTOR_MAKERS)))]
        sprite = maker(rng, round(rng.uniform(lo, hi)), materials)
        box = _alpha_box(sprite.alpha)
        if box is None:
            continue
        sh, sw = sprite.alpha.shape
        x, y = int(rng.integers(0, w - sw)), int(rng.integers(0, h - sh))
        _paste(canvas, sprite, x, y, shadow=bool(rng.random() < 0.5))
        distractors.append((x + box[0], y + box[1], x + box[2], y + box[3]))
    occluder_sprites, occluders = _occluders(rng, cfg, materials)
    covered = np.zeros((h, w), dtype=np.int32)
    for x0, y0, x1, y1 in occluders.astype(int).tolist():
        covered[y0:y1, x0:x1] = 1

    classes = list(ObjectClass)
    movers: list[_Mover] = []
    rows_box, rows_frame, rows_id, rows_cls, rows_vis = [], [], [], [], []
    for first, centres in _plan_movers(rng, cfg):
        label = int(rng.integers(len(classes)))
        size = round(rng.uniform(lo, hi))
        sprite = OBJECT_MAKERS[classes[label]](rng, size, materials)
        box = _alpha_box(sprite.alpha)
        first, centres = _clip_life(first, centres, cfg)
        if box is None or len(centres) == 0:
            continue
        sh, sw = sprite.alpha.shape
        xy = np.round(centres - np.array([sw, sh]) / 2).astype(np.int64)
        boxes = np.concatenate([xy + box[:2], xy + box[2:]], axis=1).astype(np.float64)
        vis = _visible_fraction(boxes, covered)
        keep = vis >= cfg.min_visibility
        movers.append(_Mover(sprite, label, box, first, xy))
        object_id = len(movers)
        frames = first + np.arange(len(xy))
        rows_box.append(np.clip(boxes[keep], 0, [w, h, w, h]))
        rows_frame.append(frames[keep])
        rows_id.append(np.full(int(keep.sum()), object_id))
        rows_cls.append(np.full(int(keep.sum()), label))
        rows_vis.append(vis[keep])
    if rows_box:
        frame = np.concatenate(rows_frame).astype(np.int64)
        ids = np.concatenate(rows_id).astype(np.int64)
        order = np.lexsort((ids, frame))
        gt = Detections(
            np.concatenate(rows_box)[order],
            class_id=np.concatenate(rows_cls)[order],
            data={
                FRAME_KEY: frame[order],
                "tracker_id": ids[order],
                "visibility": np.concatenate(rows_vis)[order].astype(np.float32),
            },
        )
    else:
        gt = Detections(
            np.zeros((0, 4)),
            data={
                FRAME_KEY: np.zeros(0, np.int64),
                "tracker_id": np.zeros(0, np.int64),
                "visibility": np.zeros(0, np.float32),
            },
        )
    return SynthVideo(
        config=cfg,
        seed=int(seed),
        ground_truth=gt,
        distractors=np.asarray(distractors, dtype=np.float64).reshape(-1, 4),
        occluders=occluders,
        _static=canvas,
        _movers=movers,
        _occluder_sprites=occluder_sprites,
    )


@dataclass(frozen=True)
class DetectionNoise:
    """How ``simulate_detections`` degrades the ground truth into detector output.

    Args:
        miss_rate: chance that a visible object is not detected in a frame.
        centre_std: centre jitter std, as a fraction of the object size.
        centre_std_px: plus this many pixels.
        size_std: width/height jitter std, as a fraction of the size.
        confidence: (a, b) of the Beta law of a true detection's confidence.
        distractor_rate: chance per frame that a static look-alike is detected.
        distractor_confidence: (a, b) of the Beta law of their confidence.
        false_per_mpx: random false positives per frame and megapixel (Poisson).
        false_confidence: (a, b) of the Beta law of their confidence.

    Example:
        >>> DetectionNoise().miss_rate
        0.1
    """

    miss_rate: float = 0.1
    centre_std: float = 0.08
    centre_std_px: float = 0.3
    size_std: float = 0.08
    confidence: tuple[float, float] = (5.0, 2.0)
    distractor_rate: float = 0.3
    distractor_confidence: tuple[float, float] = (2.0, 3.0)
    false_per_mpx: float = 3.0
    false_confidence: tuple[float, float] = (1.5, 4.0)

    def __post_init__(self) -> None:
        for name in ("miss_rate", "distractor_rate"):
            if not 0.0 <= float(getattr(self, name)) <= 1.0:
                raise TilewiseError(f"{name} must be in [0, 1], got {getattr(self, name)}")
        for name in ("centre_std", "centre_std_px", "size_std", "false_per_mpx"):
            value = float(getattr(self, name))
            if not np.isfinite(value) or value < 0:
                raise TilewiseError(f"{name} must be a finite number >= 0, got {value}")
        for name in ("confidence", "distractor_confidence", "false_confidence"):
            value = getattr(self, name)
            ok = isinstance(value, (tuple, list)) and len(value) == 2
            if not ok or not all(np.isfinite(float(v)) and float(v) > 0 for v in value):
                raise TilewiseError(f"{name} must be two Beta parameters > 0, got {value!r}")


def simulate_detections(
    video: SynthVideo, noise: DetectionNoise | None = None, seed: int = 0
) -> list[Detections]:
    """Per-frame detections of an imperfect detector on ``video``, seeded.

    True objects are jittered and sometimes missed (more often when partly hidden);
    static distractors fire now and then and random false positives appear. Rows are
    shuffled within each frame, so nothing can be read from their order.

    Args:
        video: a ``SynthVideo``.
        noise: the detector model (default ``DetectionNoise()``).
        seed: random seed.

    Returns:
        One ``Detections`` per frame, without IDs.

    Example:
        >>> video = synth_video(VideoConfig(frame_size=256, frames=5, movers=6), seed=1)
        >>> dets = simulate_detections(video, seed=0)
        >>> len(dets), "tracker_id" in dets[0].data
        (5, False)
    """
    nz = noise or DetectionNoise()
    rng = np.random.default_rng([int(seed), int(video.seed), 2718])
    w, h = video.config.wh
    out: list[Detections] = []
    lo, hi = video.config.size_range
    for gt in video.ground_truth_frames():
        boxes = gt.xyxy.astype(np.float64)
        vis = gt.data["visibility"].astype(np.float64)
        n = len(boxes)
        miss = rng.random(n) < nz.miss_rate + (1 - nz.miss_rate) * (1 - vis) * 0.5
        wh = boxes[:, 2:] - boxes[:, :2]
        size = np.sqrt(np.maximum(wh[:, 0] * wh[:, 1], 1.0))
        centre = boxes[:, :2] + wh / 2
        centre += rng.normal(0, 1, (n, 2)) * (nz.centre_std * size + nz.centre_std_px)[:, None]
        wh = wh * np.exp(rng.normal(0, nz.size_std, (n, 2)))
        true_boxes = np.concatenate([centre - wh / 2, centre + wh / 2], axis=1)[~miss]
        true_conf = rng.beta(*nz.confidence, n)[~miss]
        true_cls = gt.class_id[~miss]
        fire = rng.random(len(video.distractors)) < nz.distractor_rate
        d_boxes = video.distractors[fire]
        d_boxes = d_boxes + rng.normal(0, nz.centre_std_px + 0.3, d_boxes.shape)
        d_conf = rng.beta(*nz.distractor_confidence, len(d_boxes))
        d_cls = rng.integers(0, len(ObjectClass), len(d_boxes))
        k = int(rng.poisson(nz.false_per_mpx * w * h / 1e6))
        f_side = rng.uniform(lo, hi, (k, 2))
        f_xy = rng.uniform((0, 0), (w, h), (k, 2))
        f_boxes = np.concatenate([f_xy, f_xy + f_side], axis=1)
        f_conf = rng.beta(*nz.false_confidence, k)
        f_cls = rng.integers(0, len(ObjectClass), k)
        xyxy = np.concatenate([true_boxes, d_boxes, f_boxes])
        conf = np.concatenate([true_conf, d_conf, f_conf])
        cls = np.concatenate([true_cls, d_cls, f_cls])
        xyxy = np.clip(xyxy, 0, [w, h, w, h])
        order = rng.permutation(len(xyxy))
        out.append(Detections(xyxy[order], conf[order], cls[order]))
    return out
