"""Write a small generated dataset to disk for trying ``tilewise eval``/``compare``/``sweep``.

``python -m tilewise.evaluation.demo OUT_DIR`` writes ``OUT_DIR/images/*.png`` (bright
squares on a dark background, 4-160 px), ``OUT_DIR/gt.json`` (COCO ground truth) and
``OUT_DIR/pred_full_frame.json`` (COCO results of ``SquareDetector`` run on the full
frames). Nothing is downloaded; the same seed gives the same files.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from tilewise.evaluation.synthetic import SquareDetector, bright_squares
from tilewise.fileio import atomic_path, atomic_write_json

__all__ = ["CLASS_TO_CATEGORY", "main", "write_demo_dataset"]

CLASS_TO_CATEGORY = {0: 1, 1: 2}
"""``SquareDetector`` class ids to the demo's COCO category ids (red: 1, green: 2)."""


def write_demo_dataset(
    out_dir: str | os.PathLike[str],
    *,
    seed: int = 3,
    num_images: int = 4,
    image_size: tuple[int, int] = (1024, 768),
) -> dict[str, Path]:
    """Write images, ground truth and full-frame predictions of the demo dataset.

    Returns:
        Paths by kind: ``images`` (folder), ``ground_truth`` and ``predictions``.

    Example:
        >>> import tempfile, json
        >>> paths = write_demo_dataset(tempfile.mkdtemp(), num_images=1, image_size=(128, 96))
        >>> sorted(paths), json.loads(paths["ground_truth"].read_text())["images"][0]["id"]
        (['ground_truth', 'images', 'predictions'], 1)
    """
    import cv2

    out = Path(out_dir)
    gt, images = bright_squares(seed=seed, num_images=num_images, image_size=image_size)
    image_dir = out / "images"
    image_dir.mkdir(parents=True, exist_ok=True)
    for img in gt["images"]:
        with atomic_path(image_dir / img["file_name"]) as tmp:
            if not cv2.imwrite(str(tmp), images[img["id"]][:, :, ::-1]):
                raise OSError(f"could not write {tmp}")
    detector = SquareDetector()
    results = []
    for image_id, image in images.items():
        det = detector([image])[0]
        for k in range(len(det)):
            x1, y1, x2, y2 = (float(v) for v in det.xyxy[k])
            results.append(
                {
                    "image_id": image_id,
                    "category_id": CLASS_TO_CATEGORY[int(det.class_id[k])],
                    "bbox": [round(x1, 2), round(y1, 2), round(x2 - x1, 2), round(y2 - y1, 2)],
                    "score": round(float(det.confidence[k]), 4),
                }
            )
    return {
        "images": image_dir,
        "ground_truth": atomic_write_json(out / "gt.json", gt),
        "predictions": atomic_write_json(out / "pred_full_frame.json", results),
    }


def main(argv: list[str] | None = None) -> int:
    """Command-line entry: ``python -m tilewise.evaluation.demo OUT_DIR``."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m tilewise.evaluation.demo OUT_DIR", file=sys.stderr)
        return 2
    paths = write_demo_dataset(args[0])
    for kind, path in paths.items():
        print(f"{kind}: {path}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
