"""Which images of a dataset carry an EXIF orientation, read from their headers.

Annotations made in a viewer or labelling tool are in the displayed (rotated) frame;
tilewise reads images in that frame by default (``tilewise.images``), so such a dataset
is consistent. Annotations made on the stored pixels are not: the health report lists
these images so a user can check which way their annotations were made.
"""

from __future__ import annotations

from typing import Any

from tilewise.datasets.dataset import Dataset
from tilewise.errors import TilewiseError
from tilewise.images import read_header

__all__ = ["exif_report"]


def exif_report(ds: Dataset, *, examples: int = 10) -> dict[str, Any]:
    """Count images whose EXIF orientation is not 1 (needs the image files, ``ds.root``).

    Returns ``{"checked", "rotated", "by_orientation", "examples", "size_mismatch",
    "unreadable"}``; ``size_mismatch`` counts rotated images whose annotated width/height
    is the *stored* frame's (annotations probably made on unrotated pixels).

    Example:
        >>> import tempfile, pathlib, numpy as np
        >>> from PIL import Image
        >>> from tilewise.datasets import DatasetBuilder
        >>> d = pathlib.Path(tempfile.mkdtemp()); exif = Image.Exif(); exif[0x0112] = 6
        >>> Image.fromarray(np.zeros((4, 8, 3), np.uint8)).save(d / "a.jpg", exif=exif)
        >>> b = DatasetBuilder(["x"]); _ = b.add_image("a.jpg", 4, 8)
        >>> r = exif_report(b.build(root=d))
        >>> r["rotated"], r["by_orientation"], r["size_mismatch"]
        (1, {'6': 1}, 0)
    """
    out: dict[str, Any] = {
        "checked": 0,
        "rotated": 0,
        "by_orientation": {},
        "examples": [],
        "size_mismatch": 0,
        "unreadable": 0,
    }
    if ds.root is None:
        return out
    for i in range(ds.num_images):
        try:
            header = read_header(ds.image_path(i))
        except TilewiseError:
            out["unreadable"] += 1
            continue
        out["checked"] += 1
        if not header.rotated:
            continue
        out["rotated"] += 1
        key = str(header.orientation)
        out["by_orientation"][key] = out["by_orientation"].get(key, 0) + 1
        annotated = (int(ds.images.width[i]), int(ds.images.height[i]))
        stored, shown = header.stored_wh, header.display_wh()
        if annotated == stored and stored != shown:
            out["size_mismatch"] += 1
        if len(out["examples"]) < examples:
            out["examples"].append(
                {
                    "file_name": str(ds.images.file_name[i]),
                    "orientation": header.orientation,
                    "stored_wh": list(stored),
                    "displayed_wh": list(shown),
                    "annotated_wh": list(annotated),
                }
            )
    return out
