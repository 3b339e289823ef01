"""Composable annotators that draw ``Detections`` on RGB images.

Every annotator has ``annotate(image, det) -> new image`` (the input is never modified)
and ``draw(canvas, det)``, which draws in place on a canvas the caller owns. To add a new
kind of drawing (masks, keypoints, ...) subclass ``Annotator`` and implement ``draw``;
chain annotators with ``AnnotatorChain`` so the image is copied once.
"""

from __future__ import annotations

import warnings
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping, Sequence
from typing import TypeAlias

import numpy as np

from tilewise.detections import Detections
from tilewise.errors import TilewiseError, TilewiseWarning
from tilewise.images import as_rgb
from tilewise.viz.draw import (
    _check_font_scale,
    _check_thickness,
    default_font_scale,
    default_thickness,
    draw_label,
    draw_outline,
    pixel_box,
)
from tilewise.viz.palette import Color, Palette

__all__ = [
    "Annotator",
    "AnnotatorChain",
    "BoxAnnotator",
    "ClassNames",
    "LabelAnnotator",
    "draw_detections",
]

ClassNames: TypeAlias = "Sequence[str] | Mapping[int, str]"


def _canvas_from(image: np.ndarray) -> np.ndarray:
    """Validate ``image`` and return a fresh contiguous RGB copy to draw on."""
    return np.array(as_rgb(image), dtype=np.uint8, order="C", copy=True)


def _check_detections(det: object) -> Detections:
    if not isinstance(det, Detections):
        raise TilewiseError(f"det must be Detections, got {type(det).__name__}")
    return det


def _finite_rows(det: Detections, *, warn: bool) -> Detections:
    finite = np.isfinite(det.xyxy).all(axis=1)
    if finite.all():
        return det
    if warn:
        warnings.warn(
            f"not drawing {int((~finite).sum())} detection(s) with NaN/inf box coordinates",
            TilewiseWarning,
            stacklevel=3,
        )
    return det[finite]


def _image_wh(canvas: np.ndarray) -> tuple[int, int]:
    return (int(canvas.shape[1]), int(canvas.shape[0]))


class Annotator(ABC):
    """Base class: something that draws detections (or an overlay) on an RGB image.

    Subclasses implement ``draw``; ``annotate`` validates the image, copies it, drops
    rows with non-finite boxes (with a ``TilewiseWarning``) and calls ``draw``.
    """

    def annotate(self, image: np.ndarray, det: Detections | None = None) -> np.ndarray:
        """Return a copy of ``image`` (H x W x 3 uint8 RGB) with this annotator's drawing.

        Example:
            >>> import numpy as np
            >>> from tilewise import Detections
            >>> image = np.zeros((20, 20, 3), dtype=np.uint8)
            >>> det = Detections(np.array([[2, 2, 8, 8]]))
            >>> out = BoxAnnotator(thickness=1).annotate(image, det)
            >>> out is image, int(image.sum()), out[2, 2].tolist()
            (False, 0, [230, 25, 75])
        """
        canvas = _canvas_from(image)
        if det is not None:
            det = _finite_rows(_check_detections(det), warn=True)
        self.draw(canvas, det)
        return canvas

    @abstractmethod
    def draw(self, canvas: np.ndarray, det: Detections | None) -> None:
        """Draw in place on ``canvas``, a C-contiguous H x W x 3 uint8 RGB array."""


class AnnotatorChain(Annotator):
    """Several annotators applied in order on one copy of the image.

    Args:
        annotators: the annotators, drawn first to last (later ones on top).

    Example:
        >>> import numpy as np
        >>> from tilewise import Detections
        >>> chain = AnnotatorChain([BoxAnnotator(), LabelAnnotator(class_names=["car"])])
        >>> image = np.zeros((64, 64, 3), dtype=np.uint8)
        >>> out = chain.annotate(image, Detections(np.array([[10, 30, 40, 60]])))
        >>> out.shape, bool(out.any())
        ((64, 64, 3), True)
    """

    def __init__(self, annotators: Iterable[Annotator]) -> None:
        self.annotators = tuple(annotators)
        for a in self.annotators:
            if not isinstance(a, Annotator):
                raise TilewiseError(f"AnnotatorChain takes Annotators, got {type(a).__name__}")

    def draw(self, canvas: np.ndarray, det: Detections | None) -> None:
        """Let each annotator draw on ``canvas`` in turn."""
        for a in self.annotators:
            a.draw(canvas, det)


class BoxAnnotator(Annotator):
    """Box outlines in per-class colours, drawn inside the box edges.

    Higher-confidence boxes are drawn last, so they are on top.

    Args:
        thickness: line width in pixels; by default from the image size
            (``default_thickness``).
        palette: colours by class id; by default ``Palette()``.

    Example:
        >>> import numpy as np
        >>> from tilewise import Detections
        >>> image = np.zeros((10, 10, 3), dtype=np.uint8)
        >>> det = Detections(np.array([[1, 1, 6, 6]]), class_id=[1])
        >>> out = BoxAnnotator(thickness=1, palette=[(0, 0, 0), (0, 255, 0)]).annotate(image, det)
        >>> out[1, 1:6, 1].tolist(), out[3, 3].tolist()
        ([255, 255, 255, 255, 255], [0, 0, 0])
    """

    def __init__(
        self, *, thickness: int | None = None, palette: Palette | Iterable[Color] | None = None
    ) -> None:
        self.thickness = None if thickness is None else _check_thickness(thickness)
        self.palette = Palette.coerce(palette)

    def draw(self, canvas: np.ndarray, det: Detections | None) -> None:
        """Draw box outlines in place on ``canvas``."""
        if det is None or len(det) == 0:
            return
        det = _finite_rows(det, warn=False)
        t = self.thickness or default_thickness(_image_wh(canvas))
        boxes = pixel_box(det.xyxy).tolist()
        classes = det.class_id.tolist()
        for i in np.argsort(det.confidence, kind="stable").tolist():
            draw_outline(canvas, *boxes[i], self.palette[classes[i]], t)


class LabelAnnotator(Annotator):
    """Text labels such as ``"car 0.87"`` on a filled background in the class colour.

    A label sits above its box, or just inside the box when there is no room above (box
    at the top edge), and is kept within the image.

    Args:
        class_names: names by class id, a sequence or a mapping; a class id without a
            name is shown as the number.
        show_confidence: append the confidence with two decimals.
        font_scale: OpenCV font scale; by default from the image size
            (``default_font_scale``).
        palette: colours by class id; by default ``Palette()``.

    Example:
        >>> LabelAnnotator(class_names={3: "bus"}).label_text(3, 0.868)
        'bus 0.87'
        >>> LabelAnnotator(show_confidence=False).label_text(5, 0.5)
        '5'
    """

    def __init__(
        self,
        *,
        class_names: ClassNames | None = None,
        show_confidence: bool = True,
        font_scale: float | None = None,
        palette: Palette | Iterable[Color] | None = None,
    ) -> None:
        if class_names is not None and (
            isinstance(class_names, (str, bytes))
            or not isinstance(class_names, (Sequence, Mapping))
        ):
            raise TilewiseError(
                "class_names must be a sequence or a mapping of class id to name, "
                f"got {type(class_names).__name__}"
            )
        self.class_names = class_names
        self.show_confidence = bool(show_confidence)
        self.font_scale = None if font_scale is None else _check_font_scale(font_scale)
        self.palette = Palette.coerce(palette)

    def label_text(self, class_id: int, confidence: float) -> str:
        """The label for one detection."""
        name: object = class_id
        names = self.class_names
        if isinstance(names, Mapping):
            name = names.get(class_id, class_id)
        elif names is not None and 0 <= class_id < len(names):
            name = names[class_id]
        return f"{name} {confidence:.2f}" if self.show_confidence else f"{name}"

    def draw(self, canvas: np.ndarray, det: Detections | None) -> None:
        """Draw labels in place on ``canvas``."""
        if det is None or len(det) == 0:
            return
        det = _finite_rows(det, warn=False)
        scale = self.font_scale or default_font_scale(_image_wh(canvas))
        boxes = pixel_box(det.xyxy).tolist()
        classes = det.class_id.tolist()
        scores = det.confidence.tolist()
        for i in np.argsort(det.confidence, kind="stable").tolist():
            text = self.label_text(classes[i], scores[i])
            draw_label(canvas, text, (boxes[i][0], boxes[i][1]), self.palette[classes[i]], scale)


def draw_detections(
    image: np.ndarray,
    det: Detections,
    *,
    class_names: ClassNames | None = None,
    show_confidence: bool = True,
    show_labels: bool = True,
    thickness: int | None = None,
    font_scale: float | None = None,
    palette: Palette | Iterable[Color] | None = None,
) -> np.ndarray:
    """Draw boxes and labels of ``det`` on a copy of ``image`` (H x W x 3 uint8 RGB).

    Colours come from a fixed palette by class id, so a class has the same colour in
    every image. Line thickness and font size grow with the image when not given.

    Args:
        image: the image; never modified.
        det: detections in this image's pixel coordinates.
        class_names: names by class id (sequence or mapping) for the labels.
        show_confidence: add the confidence to labels (``"car 0.87"``).
        show_labels: draw labels at all.
        thickness: box line width in pixels.
        font_scale: OpenCV font scale of labels.
        palette: colours by class id.

    Returns:
        A new RGB array of the same size.

    Example:
        >>> import numpy as np
        >>> from tilewise import Detections
        >>> image = np.zeros((100, 100, 3), dtype=np.uint8)
        >>> det = Detections(np.array([[20, 30, 60, 90]]), confidence=[0.87], class_id=[0])
        >>> out = draw_detections(image, det, class_names=["car"])
        >>> out[60, 20].tolist(), bool(image.any())
        ([230, 25, 75], False)
    """
    palette = Palette.coerce(palette)
    annotators: list[Annotator] = [BoxAnnotator(thickness=thickness, palette=palette)]
    if show_labels:
        annotators.append(
            LabelAnnotator(
                class_names=class_names,
                show_confidence=show_confidence,
                font_scale=font_scale,
                palette=palette,
            )
        )
    return AnnotatorChain(annotators).annotate(image, _check_detections(det))
