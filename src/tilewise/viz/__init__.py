"""Visualisation: draw detections and slice grids on RGB images, save them.

Annotators are composable: each has ``annotate(image, det) -> image``; chain them with
``AnnotatorChain``. New kinds subclass ``Annotator`` and implement ``draw``;
``MaskAnnotator`` draws segmentation masks (translucent fill and outline per class).
"""

from tilewise.viz.annotate import (
    Annotator,
    AnnotatorChain,
    BoxAnnotator,
    ClassNames,
    LabelAnnotator,
    draw_detections,
)
from tilewise.viz.draw import default_font_scale, default_thickness, label_box
from tilewise.viz.grid import SliceGridAnnotator, draw_slice_grid
from tilewise.viz.masks import MaskAnnotator
from tilewise.viz.palette import DEFAULT_COLORS, Color, Palette
from tilewise.viz.save import ImageFormat, save_image

__all__ = [
    "DEFAULT_COLORS",
    "Annotator",
    "AnnotatorChain",
    "BoxAnnotator",
    "ClassNames",
    "Color",
    "ImageFormat",
    "LabelAnnotator",
    "MaskAnnotator",
    "Palette",
    "SliceGridAnnotator",
    "default_font_scale",
    "default_thickness",
    "draw_detections",
    "draw_slice_grid",
    "label_box",
    "save_image",
]
