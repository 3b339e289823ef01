"""Generated COCO data for tests, examples and demos: nothing is downloaded.

``synthetic_coco`` makes ground truth and noisy COCO predictions directly;
``bright_squares`` makes images with ground truth, and ``SquareDetector`` is a small, real
(OpenCV) detector for them, for end-to-end runs of sliced inference and evaluation.
Everything is determined by the seed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from tilewise.detections import Detections

__all__ = ["SquareDetector", "SyntheticNoise", "bright_squares", "synthetic_coco"]


@dataclass(frozen=True)
class SyntheticNoise:
    """How predictions deviate from the ground truth.

    Attributes:
        miss: probability that an object gets no prediction.
        jitter: box jitter as a fraction of the object's size (normal sigma).
        wrong_class: probability that a prediction carries another class.
        duplicate: probability of an extra, slightly shifted, lower-scored prediction.
        background: mean number of background predictions per image.
    """

    miss: float = 0.15
    jitter: float = 0.12
    wrong_class: float = 0.08
    duplicate: float = 0.1
    background: float = 3.0


def _polygon(x: float, y: float, w: float, h: float, rng: np.random.Generator) -> list[float]:
    """An octagon-ish polygon inscribed in the box (flat list x1, y1, x2, y2, ...)."""
    t = np.linspace(0, 2 * np.pi, 8, endpoint=False) + rng.uniform(0, np.pi / 4)
    px = x + w / 2 + (w / 2) * np.cos(t)
    py = y + h / 2 + (h / 2) * np.sin(t)
    return [round(float(v), 2) for pair in zip(px, py, strict=True) for v in pair]


def synthetic_coco(
    *,
    seed: int = 0,
    num_images: int = 6,
    num_categories: int = 3,
    image_size: tuple[int, int] = (640, 480),
    objects_per_image: tuple[int, int] = (4, 16),
    crowd_fraction: float = 0.05,
    noise: SyntheticNoise | None = None,
    segm: bool = False,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Generate a COCO ground-truth dict and noisy COCO results for it.

    Object side lengths are drawn from 3-200 px (log-uniform), so every COCO and tiny
    bucket is populated. With ``segm=True`` ground truth carries polygon masks and
    predictions carry polygon masks of their (jittered) boxes.

    Args:
        seed: random seed; same seed, same data.
        num_images: number of images.
        num_categories: categories get ids 1..num_categories.
        image_size: ``(width, height)`` of every image.
        objects_per_image: inclusive range of objects per image.
        crowd_fraction: probability that an object is a crowd region.
        noise: prediction noise; ``SyntheticNoise()`` by default.
        segm: add polygon segmentations.

    Returns:
        ``(ground_truth, predictions)``.

    Example:
        >>> gt, preds = synthetic_coco(seed=1, num_images=2)
        >>> len(gt["images"]), {c["id"] for c in gt["categories"]}
        (2, {1, 2, 3})
        >>> all(p["image_id"] in (1, 2) for p in preds)
        True
    """
    rng = np.random.default_rng(seed)
    cfg = noise or SyntheticNoise()
    width, height = image_size
    images = [
        {"id": i + 1, "width": width, "height": height, "file_name": f"img_{i + 1:04d}.png"}
        for i in range(num_images)
    ]
    categories = [{"id": c + 1, "name": f"class_{c + 1}"} for c in range(num_categories)]
    annotations: list[dict[str, Any]] = []
    predictions: list[dict[str, Any]] = []
    for img in images:
        lo, hi = objects_per_image
        for _ in range(int(rng.integers(lo, hi + 1))):
            side = float(np.exp(rng.uniform(np.log(3.0), np.log(200.0))))
            w = side * float(rng.uniform(0.7, 1.4))
            h = side * float(rng.uniform(0.7, 1.4))
            w, h = min(w, width - 1.0), min(h, height - 1.0)
            x = float(rng.uniform(0, width - w))
            y = float(rng.uniform(0, height - h))
            cat = int(rng.integers(1, num_categories + 1))
            crowd = int(rng.random() < crowd_fraction)
            ann: dict[str, Any] = {
                "id": len(annotations) + 1,
                "image_id": img["id"],
                "category_id": cat,
                "bbox": [round(x, 2), round(y, 2), round(w, 2), round(h, 2)],
                "area": round(w * h, 2),
                "iscrowd": crowd,
            }
            if segm:
                ann["segmentation"] = [_polygon(x, y, w, h, rng)]
            annotations.append(ann)
            if rng.random() < cfg.miss:
                continue
            copies = 2 if rng.random() < cfg.duplicate else 1
            for k in range(copies):
                j = rng.normal(0.0, cfg.jitter * (1 + k), 4) * np.array([w, h, w, h])
                pw, ph = max(1.0, w + j[2]), max(1.0, h + j[3])
                px, py = x + j[0], y + j[1]
                pcat = cat
                if rng.random() < cfg.wrong_class and num_categories > 1:
                    pcat = int(rng.choice([c for c in range(1, num_categories + 1) if c != cat]))
                pred: dict[str, Any] = {
                    "image_id": img["id"],
                    "category_id": pcat,
                    "bbox": [round(px, 2), round(py, 2), round(pw, 2), round(ph, 2)],
                    "score": round(float(rng.uniform(0.3, 1.0)) * (0.6 if k else 1.0), 4),
                }
                if segm:
                    pred["segmentation"] = [_polygon(px, py, pw, ph, rng)]
                predictions.append(pred)
        for _ in range(int(rng.poisson(cfg.background))):
            side = float(np.exp(rng.uniform(np.log(4.0), np.log(120.0))))
            px = float(rng.uniform(0, width - side))
            py = float(rng.uniform(0, height - side))
            pred = {
                "image_id": img["id"],
                "category_id": int(rng.integers(1, num_categories + 1)),
                "bbox": [round(px, 2), round(py, 2), round(side, 2), round(side, 2)],
                "score": round(float(rng.uniform(0.05, 0.7)), 4),
            }
            if segm:
                pred["segmentation"] = [_polygon(px, py, side, side, rng)]
            predictions.append(pred)
    gt = {"images": images, "categories": categories, "annotations": annotations}
    return gt, predictions


_CLASS_COLOURS = ((235, 40, 40), (40, 235, 40), (40, 40, 235))


def bright_squares(
    *,
    seed: int = 0,
    num_images: int = 4,
    image_size: tuple[int, int] = (1024, 768),
    side_range: tuple[float, float] = (4.0, 160.0),
    objects_per_image: tuple[int, int] = (12, 24),
    num_classes: int = 2,
) -> tuple[dict[str, Any], dict[int, np.ndarray]]:
    """Generate images of bright coloured squares on a dark noisy background, with COCO GT.

    Square sides are log-uniform in ``side_range``; squares do not overlap. The colour
    encodes the class (red: category 1, green: 2, blue: 3). Pair it with
    ``SquareDetector`` for a fast, deterministic, real end-to-end detection pipeline.

    Args:
        seed: random seed.
        num_images: number of images.
        image_size: ``(width, height)``.
        side_range: smallest and largest square side in pixels.
        objects_per_image: inclusive range of squares per image.
        num_classes: 1 to 3.

    Returns:
        ``(ground_truth, images)`` with images keyed by image id (H x W x 3 uint8 RGB).

    Example:
        >>> gt, images = bright_squares(num_images=1, image_size=(64, 48), side_range=(4, 8))
        >>> images[1].shape, gt["annotations"][0]["category_id"] in (1, 2)
        ((48, 64, 3), True)
    """
    if not 1 <= num_classes <= len(_CLASS_COLOURS):
        raise ValueError(f"num_classes must be 1..{len(_CLASS_COLOURS)}, got {num_classes}")
    rng = np.random.default_rng(seed)
    width, height = image_size
    lo, hi = side_range
    images_meta: list[dict[str, Any]] = []
    annotations: list[dict[str, Any]] = []
    arrays: dict[int, np.ndarray] = {}
    for i in range(num_images):
        img_id = i + 1
        img = rng.normal(22.0, 6.0, (height, width, 3)).clip(0, 255).astype(np.uint8)
        taken = np.zeros((height, width), dtype=bool)
        want = int(rng.integers(objects_per_image[0], objects_per_image[1] + 1))
        placed = 0
        for _ in range(want * 20):
            if placed == want:
                break
            side = round(float(np.exp(rng.uniform(np.log(lo), np.log(hi)))))
            side = max(1, min(side, width - 2, height - 2))
            x = int(rng.integers(1, width - side))
            y = int(rng.integers(1, height - side))
            if taken[max(0, y - 2) : y + side + 2, max(0, x - 2) : x + side + 2].any():
                continue
            taken[y : y + side, x : x + side] = True
            cls = int(rng.integers(0, num_classes))
            img[y : y + side, x : x + side] = _CLASS_COLOURS[cls]
            annotations.append(
                {
                    "id": len(annotations) + 1,
                    "image_id": img_id,
                    "category_id": cls + 1,
                    "bbox": [x, y, side, side],
                    "area": side * side,
                    "iscrowd": 0,
                }
            )
            placed += 1
        arrays[img_id] = img
        images_meta.append(
            {
                "id": img_id,
                "width": width,
                "height": height,
                "file_name": f"squares_{img_id:04d}.png",
            }
        )
    categories = [{"id": c + 1, "name": ("red", "green", "blue")[c]} for c in range(num_classes)]
    gt = {"images": images_meta, "categories": categories, "annotations": annotations}
    return gt, arrays


class SquareDetector:
    """A toy but real detector of the squares of ``bright_squares``, for tests and demos.

    Like a neural detector with a fixed input size, it first shrinks any image larger than
    ``input_size`` (longest side) with area interpolation, so small objects fade on a
    large full frame and come back on slices: exactly the effect sliced inference fixes.
    It then thresholds each colour channel, takes connected components (OpenCV) of at
    least ``min_area`` input pixels and maps their boxes back to image pixels. Class ids
    are 0 (red), 1 (green), 2 (blue); the confidence grows with the component's size and
    is halved for components touching the image border (likely fragments of a cut object).

    The callable follows the ``Slicer`` model contract: a list of RGB images in, a list
    of ``Detections`` out.

    Example:
        >>> gt, images = bright_squares(num_images=1, image_size=(128, 96), side_range=(8, 16))
        >>> det = SquareDetector(input_size=128)([images[1]])[0]
        >>> len(det) == len(gt["annotations"])
        True
    """

    def __init__(self, input_size: int = 256, min_area: int = 3, threshold: int = 128) -> None:
        self.input_size = int(input_size)
        self.min_area = int(min_area)
        self.threshold = int(threshold)

    def __repr__(self) -> str:
        return (
            f"SquareDetector(input_size={self.input_size}, min_area={self.min_area}, "
            f"threshold={self.threshold})"
        )

    def __call__(self, images: list[np.ndarray]) -> list[Detections]:
        """Detect squares in each image of the batch."""
        return [self._detect(img) for img in images]

    def _detect(self, image: np.ndarray) -> Detections:
        import cv2

        h, w = image.shape[:2]
        scale = min(1.0, self.input_size / max(h, w))
        small = image
        if scale < 1.0:
            size = (max(1, round(w * scale)), max(1, round(h * scale)))
            small = cv2.resize(np.ascontiguousarray(image), size, interpolation=cv2.INTER_AREA)
        sx, sy = w / small.shape[1], h / small.shape[0]
        boxes, scores, classes = [], [], []
        for cls in range(3):
            chan = small[:, :, cls]
            others = np.delete(small, cls, axis=2).max(axis=2)
            mask = ((chan > self.threshold) & (others < self.threshold)).astype(np.uint8)
            n, _, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=4)
            sh, sw = mask.shape
            for x, y, bw, bh, area in stats[1:n]:
                if area < self.min_area:
                    continue
                score = min(0.99, 0.3 + 0.08 * float(np.sqrt(area)))
                if x == 0 or y == 0 or x + bw == sw or y + bh == sh:
                    score *= 0.5  # cut by the image border: maybe a fragment
                boxes.append([x * sx, y * sy, (x + bw) * sx, (y + bh) * sy])
                scores.append(score)
                classes.append(cls)
        if not boxes:
            return Detections.empty()
        return Detections(np.array(boxes, dtype=np.float32), scores, classes)
