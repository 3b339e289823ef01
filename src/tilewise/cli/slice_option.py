"""The ``--slice`` option shared by the predict commands (image, raster, video, bulk)."""

from __future__ import annotations

from tilewise.errors import TilewiseError

__all__ = ["CONFIG_REPLACES", "parse_slice", "refuse_replaced"]


def parse_slice(text: str) -> int | None:
    """``"auto"`` -> None (the model's training tile size); ``"512"`` -> 512.

    Example:
        >>> parse_slice("auto"), parse_slice("512")
        (None, 512)
        >>> parse_slice("0")
        Traceback (most recent call last):
        ...
        tilewise.errors.TilewiseError: --slice must be >= 1 px, got 0
    """
    if text.strip().lower() == "auto":
        return None
    try:
        value = int(text)
    except ValueError:
        raise TilewiseError(f"--slice must be 'auto' or a size in pixels, got {text!r}") from None
    if value < 1:
        raise TilewiseError(f"--slice must be >= 1 px, got {value}")
    return value


CONFIG_REPLACES: dict[str, tuple[str, object]] = {
    "slice_size": ("--slice", "auto"),
    "overlap": ("--overlap", 0.2),
    "merge": ("--merge", "nms"),
    "merge_threshold": ("--merge-threshold", 0.5),
    "merge_metric": ("--merge-metric", "iou"),
    "class_agnostic": ("--class-agnostic", False),
    "full_frame": ("--full-frame", False),
    "zoom": ("--zoom", 1.0),
}
"""``predict``'s options that a ``--config`` file replaces: parameter -> (flag, default)."""


def refuse_replaced(given: dict[str, object]) -> None:
    """Refuse slicer options given beside ``--config``, which would replace them unseen.

    Args:
        given: ``predict``'s arguments by parameter name (others are ignored).

    Example:
        >>> refuse_replaced({"overlap": 0.2, "zoom": 1.0, "out": "o"})  # the defaults: fine
        >>> refuse_replaced({"overlap": 0.3, "class_agnostic": True})
        Traceback (most recent call last):
        ...
        tilewise.errors.TilewiseError: --config sets the slicer: --overlap, --class-agnostic \
would be replaced by its settings; set them in the file or leave them out
    """
    changed = []
    for name, (flag, default) in CONFIG_REPLACES.items():
        value = given.get(name, default)
        if (value.strip().lower() if isinstance(value, str) else value) != default:
            changed.append(flag)
    if changed:
        raise TilewiseError(
            f"--config sets the slicer: {', '.join(changed)} would be replaced by its "
            "settings; set them in the file or leave them out"
        )
