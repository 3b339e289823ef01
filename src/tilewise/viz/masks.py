"""``MaskAnnotator``: translucent mask fills and contours in per-class colours.

Masks are drawn crop by crop from ``CompactMasks``: only the pixels under each mask's
crop are touched, so drawing costs follow the objects' sizes, not the image's. Chain it
before ``BoxAnnotator`` / ``LabelAnnotator`` with ``AnnotatorChain``.
"""

from __future__ import annotations

from collections.abc import Iterable

import cv2
import numpy as np

from tilewise.detections import Detections
from tilewise.errors import TilewiseError
from tilewise.masks import CompactMasks
from tilewise.viz.annotate import Annotator
from tilewise.viz.palette import Color, Palette

__all__ = ["MaskAnnotator"]


class MaskAnnotator(Annotator):
    """Fill each mask with its class colour at ``opacity`` and outline it.

    Lower-confidence masks are drawn first, so the most confident ones end on top.
    Detections without masks are left alone (nothing to draw).

    Args:
        opacity: weight of the class colour in the fill, in [0, 1] (0: outline only).
        contour_thickness: outline width in pixels, centred on the mask's boundary
            pixels (holes included; 1 stays inside the mask); 0 draws no outline.
        palette: colours by class id; by default ``Palette()``.

    Example:
        >>> import numpy as np
        >>> from tilewise import Detections
        >>> dense = np.zeros((1, 8, 8), dtype=bool); dense[0, 2:6, 2:6] = True
        >>> det = Detections(np.array([[2, 2, 6, 6]]), masks=dense)
        >>> ann = MaskAnnotator(opacity=0.5, contour_thickness=1, palette=[(200, 100, 0)])
        >>> out = ann.annotate(np.zeros((8, 8, 3), np.uint8), det)
        >>> out[2, 2].tolist(), out[3, 3].tolist(), out[0, 0].tolist()
        ([200, 100, 0], [100, 50, 0], [0, 0, 0])
    """

    def __init__(
        self,
        *,
        opacity: float = 0.45,
        contour_thickness: int = 1,
        palette: Palette | Iterable[Color] | None = None,
    ) -> None:
        if isinstance(opacity, bool) or not isinstance(opacity, (int, float)):
            raise TilewiseError(f"opacity must be a number in [0, 1], got {opacity!r}")
        if not 0.0 <= float(opacity) <= 1.0:
            raise TilewiseError(f"opacity must be in [0, 1], got {opacity!r}")
        if (
            isinstance(contour_thickness, bool)
            or not isinstance(contour_thickness, (int, np.integer))
            or contour_thickness < 0
        ):
            raise TilewiseError(f"contour_thickness must be an int >= 0, got {contour_thickness!r}")
        self.opacity = float(opacity)
        self.contour_thickness = int(contour_thickness)
        self.palette = Palette.coerce(palette)

    def draw(self, canvas: np.ndarray, det: Detections | None) -> None:
        """Draw mask fills and outlines in place on ``canvas``."""
        if det is None or len(det) == 0 or det.masks is None:
            return
        masks = det.masks
        if not isinstance(masks, CompactMasks):
            raise TilewiseError(
                f"MaskAnnotator draws tilewise.masks.CompactMasks, got {type(masks).__name__}"
            )
        h_img, w_img = canvas.shape[:2]
        origins = masks.origins
        classes = det.class_id.tolist()
        weight = round(self.opacity * 256)
        for i in np.argsort(det.confidence, kind="stable").tolist():
            crop = masks.crop(i)
            if crop.size == 0:
                continue
            x0, y0 = (int(v) for v in origins[i])
            cx0, cy0 = max(x0, 0), max(y0, 0)
            cx1, cy1 = min(x0 + crop.shape[1], w_img), min(y0 + crop.shape[0], h_img)
            if cx1 <= cx0 or cy1 <= cy0:
                continue
            sub = crop[cy0 - y0 : cy1 - y0, cx0 - x0 : cx1 - x0]
            region = canvas[cy0:cy1, cx0:cx1]
            color = np.array(self.palette[classes[i]], dtype=np.uint16)
            if weight:
                pixels = region[sub].astype(np.uint16)
                region[sub] = ((pixels * (256 - weight) + color * weight + 128) >> 8).astype(
                    np.uint8
                )
            if self.contour_thickness:
                padded = np.zeros((sub.shape[0] + 2, sub.shape[1] + 2), dtype=np.uint8)
                padded[1:-1, 1:-1] = sub
                contours, _ = cv2.findContours(
                    padded, cv2.RETR_LIST, cv2.CHAIN_APPROX_NONE, offset=(cx0 - 1, cy0 - 1)
                )
                cv2.drawContours(
                    canvas, contours, -1, tuple(int(c) for c in color), self.contour_thickness
                )
