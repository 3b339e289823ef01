"""Quickstart: sliced detection of small objects on a generated 4000x3000 aerial-like scene.

Until the bundled ONNX model lands, the detector is a classical stand-in that behaves like
a real CNN in the one way that matters here: it sees its input at 640 px, and objects
that shrink below a few pixels at that resolution are lost. Run on the whole frame it
misses the small objects; run through ``tilewise.Slicer`` on 640 px slices it finds them.

Run: ``python examples/quickstart.py [--out DIR]``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import cv2
import numpy as np

from tilewise import Detections, Slicer
from tilewise.boxes import box_iou
from tilewise.viz import draw_detections, draw_slice_grid, save_image


def make_scene(seed: int = 0, wh: tuple[int, int] = (4000, 3000), n: int = 400):
    """Textured background with ``n`` small bright vehicles-like rectangles (6-30 px)."""
    rng = np.random.default_rng(seed)
    w, h = wh
    noise = rng.normal(0, 1, (h // 8, w // 8)).astype(np.float32)
    ground = cv2.resize(cv2.GaussianBlur(noise, (0, 0), 3), (w, h))
    ground = (90 + 25 * ground / (np.abs(ground).max() + 1e-6)).clip(0, 255).astype(np.uint8)
    image = np.stack([ground * 0.8, ground, ground * 0.7], axis=2).astype(np.uint8)
    boxes, classes = [], []
    for _ in range(n):
        cls = int(rng.integers(0, 3))
        bw, bh = int(rng.integers(6, 31)), int(rng.integers(6, 31))
        x, y = int(rng.integers(0, w - bw)), int(rng.integers(0, h - bh))
        colour = [(230, 60, 60), (240, 240, 240), (60, 90, 230)][cls]
        image[y : y + bh, x : x + bw] = colour
        boxes.append([x, y, x + bw, y + bh])
        classes.append(cls)
    return image, Detections(np.array(boxes), class_id=np.array(classes))


def classical_detector(input_size: int = 640, min_side: int = 3):
    """A batch model that sees each image at ``input_size`` px (long side), like a CNN."""
    colours = np.array([(230, 60, 60), (240, 240, 240), (60, 90, 230)], dtype=np.int16)

    def model(images: list[np.ndarray]) -> list[Detections]:
        out = []
        for image in images:
            h, w = image.shape[:2]
            scale = input_size / max(h, w)
            small = cv2.resize(
                image, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA
            )
            dist = np.abs(small[:, :, None, :].astype(np.int16) - colours).sum(axis=3)
            boxes, scores, classes = [], [], []
            for cls in range(len(colours)):
                mask = (dist[:, :, cls] < 90).astype(np.uint8)
                n, _, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=4)
                for x, y, bw, bh, area in stats[1:n]:
                    if min(bw, bh) < min_side:  # too small to be seen at this resolution
                        continue
                    boxes.append(np.array([x, y, x + bw, y + bh]) / scale)
                    scores.append(min(1.0, 0.5 + area / (bw * bh) / 2))
                    classes.append(cls)
            out.append(Detections(np.array(boxes).reshape(-1, 4), scores, classes))
        return out

    return model


def recall(pred: Detections, truth: Detections, iou: float = 0.5) -> float:
    """Share of true boxes matched by a prediction of the same class at IoU >= ``iou``."""
    if not len(truth):
        return 1.0
    overlap = box_iou(truth.xyxy, pred.xyxy)
    same = truth.class_id[:, None] == pred.class_id[None, :]
    return float(((overlap >= iou) & same).any(axis=1).mean())


def main() -> None:
    """Run full-frame and sliced detection on the scene; print and draw the comparison."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("tilewise-quickstart"))
    args = parser.parse_args()
    image, truth = make_scene()
    model = classical_detector()

    t0 = time.perf_counter()
    full = model([image])[0]
    t_full = time.perf_counter() - t0
    slicer = Slicer(model, slice_wh=640, overlap=0.2, batch_size=8, merge="nms")
    sliced = slicer(image)
    report = slicer.last_report

    print(f"scene: {image.shape[1]}x{image.shape[0]} px, {len(truth)} objects of 6-30 px")
    print(
        f"full frame at 640 px: {len(full):4d} detections, recall {recall(full, truth):.2f}, "
        f"{t_full * 1e3:.0f} ms"
    )
    print(
        f"sliced (640, 0.2):    {len(sliced):4d} detections, recall {recall(sliced, truth):.2f}, "
        f"{report.timings.total * 1e3:.0f} ms"
    )
    print(report.summary())
    canvas = draw_slice_grid(image, report.grid, color=(255, 255, 255), tint_overlap=True)
    canvas = draw_detections(canvas, sliced, class_names=["red", "white", "blue"])
    path = save_image(args.out / "sliced.jpg", canvas)
    print(f"annotated image: {path}")


if __name__ == "__main__":
    main()
