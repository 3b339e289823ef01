"""Drawing a video frame: boxes, labels, track IDs and optional trails."""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence

import cv2
import numpy as np

from tilewise.detections import Detections
from tilewise.detections.convert import TRACKER_ID_KEY
from tilewise.viz import Palette, default_font_scale, default_thickness, draw_detections
from tilewise.viz.draw import draw_label

__all__ = ["FrameAnnotator"]


class FrameAnnotator:
    """Draws each frame of a video in order: boxes, labels, track IDs and trails.

    Stateful (trails remember the last ``trail`` centres of every track), so frames
    must be drawn in order; the video writer thread does that.

    Args:
        class_names: names by class id for the labels.
        labels: draw class labels (``"car 0.87"``).
        trail: frames of centre history drawn behind each track (0: none).

    Example:
        >>> import numpy as np
        >>> from tilewise import Detections
        >>> draw = FrameAnnotator(["car"], trail=5)
        >>> det = Detections(np.array([[10, 10, 20, 20]]), [0.9], [0], data={"tracker_id": [3]})
        >>> out = draw(np.zeros((64, 64, 3), np.uint8), det)
        >>> out.shape, bool(out.any()), list(draw.trails)
        ((64, 64, 3), True, [3])
    """

    def __init__(
        self, class_names: Sequence[str] | None = None, *, labels: bool = True, trail: int = 0
    ) -> None:
        self.class_names = list(class_names or [])
        self.labels = bool(labels)
        self.trail = max(int(trail), 0)
        self.trails: dict[int, deque[tuple[int, int]]] = {}
        self.palette = Palette.coerce(None)

    def __call__(self, pixels: np.ndarray, det: Detections | None) -> np.ndarray:
        """A new RGB image: ``pixels`` with ``det`` drawn (and trails up to this frame)."""
        if det is None:
            det = Detections.empty()
        canvas = draw_detections(
            pixels, det, class_names=self.class_names or None, show_labels=self.labels
        )
        ids = det.data.get(TRACKER_ID_KEY)
        if ids is None or not len(det):
            if self.trail:
                self._age(set())
            return canvas
        ids = np.asarray(ids, dtype=np.int64)
        wh = (canvas.shape[1], canvas.shape[0])
        scale = default_font_scale(wh)
        thick = default_thickness(wh)
        centres = ((det.xyxy[:, :2] + det.xyxy[:, 2:]) / 2).round().astype(np.int64)
        live = set()
        for k in np.flatnonzero(ids >= 0).tolist():
            tid = int(ids[k])
            colour = self.palette[tid]
            _, y1, x2, _ = (int(v) for v in det.xyxy[k])
            draw_label(canvas, f"#{tid}", (x2 + 1, y1), colour, scale)
            if self.trail:
                live.add(tid)
                history = self.trails.setdefault(tid, deque(maxlen=self.trail))
                history.append((int(centres[k, 0]), int(centres[k, 1])))
                if len(history) > 1:
                    points = np.asarray(history, dtype=np.int32).reshape(-1, 1, 2)
                    cv2.polylines(canvas, [points], False, tuple(int(c) for c in colour), thick)
        if self.trail:
            self._age(live)
        return canvas

    def _age(self, live: set[int]) -> None:
        """Forget the trails of tracks not seen for ``trail`` frames."""
        for tid in list(self.trails):
            if tid not in live:
                history = self.trails[tid]
                if history:
                    history.popleft()
                if not history:
                    del self.trails[tid]
