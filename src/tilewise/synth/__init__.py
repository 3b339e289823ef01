"""Synthetic small-object benchmark: large textured scenes with many small labelled objects.

Built from real image material that ships with scikit-learn and scikit-image (handwritten
digits, faces, coins, a logo, a horse silhouette, a cat photograph, textures), so it runs
offline. Needs the ``synth`` extra: ``pip install 'tilewise[synth]'``.
"""

from tilewise.synth.config import SynthConfig
from tilewise.synth.generate import (
    MANIFEST_NAME,
    SPLITS,
    SynthResult,
    assign_scene_splits,
    generate_benchmark,
)
from tilewise.synth.materials import Materials, load_materials
from tilewise.synth.scene import CLASS_NAMES, Scene, render_scene
from tilewise.synth.sprites import ObjectClass, Sprite

__all__ = [
    "CLASS_NAMES",
    "MANIFEST_NAME",
    "SPLITS",
    "Materials",
    "ObjectClass",
    "Scene",
    "Sprite",
    "SynthConfig",
    "SynthResult",
    "assign_scene_splits",
    "generate_benchmark",
    "load_materials",
    "render_scene",
]
