"""Add a group of options to a typer command and route the inputs they apply to elsewhere.

``predict`` takes images, rasters, videos and bulk sources through one command: each input
kind adds its options (a function whose parameters are the typer options) and a route that
takes the inputs it handles. This module merges the signatures once for all of them.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any, get_type_hints

from tilewise.errors import TilewiseError

__all__ = ["Route", "option_defaults", "with_option_group"]

Route = Callable[[dict[str, Any], dict[str, Any]], bool]
"""``route(kwargs, group)`` runs the input elsewhere and returns True, or returns False."""


def option_defaults(options: Callable[..., Any]) -> dict[str, Any]:
    """The defaults of the option function's parameters, by name.

    Example:
        >>> def opts(track: bool = False, stride: int = 1) -> None: ...
        >>> option_defaults(opts)
        {'track': False, 'stride': 1}
    """
    return {name: p.default for name, p in inspect.signature(options).parameters.items()}


def with_option_group(
    command: Callable[..., None],
    options: Callable[..., Any],
    *,
    route: Route,
    help_text: str,
    misuse: str,
) -> Callable[..., None]:
    """``command`` with ``options``' parameters added; ``route`` takes the inputs they serve.

    When ``route`` declines, ``command`` runs; a group option given a non-default value
    is then refused with ``"--flag, ... " + misuse``.

    Example:
        >>> def predict(image: str | None = None) -> None:
        ...     print("image", image)
        >>> def opts(track: bool = False) -> None: ...
        >>> both = with_option_group(
        ...     predict, opts, route=lambda kw, g: False, help_text="", misuse="need video"
        ... )
        >>> list(inspect.signature(both).parameters)
        ['image', 'track']
        >>> both(image="a.jpg", track=False)
        image a.jpg
        >>> both(image="a.jpg", track=True)
        Traceback (most recent call last):
        ...
        tilewise.errors.TilewiseError: --track need video
    """
    defaults = option_defaults(options)
    base = inspect.signature(command)
    hints = get_type_hints(command, include_extras=True)
    group_hints = get_type_hints(options, include_extras=True)
    params = [p.replace(annotation=hints.get(n, p.annotation)) for n, p in base.parameters.items()]
    params += [
        p.replace(kind=inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=group_hints[n])
        for n, p in inspect.signature(options).parameters.items()
    ]

    @functools.wraps(command)
    def merged(**kwargs: Any) -> None:
        group = {name: kwargs.pop(name, default) for name, default in defaults.items()}
        if route(kwargs, group):
            return
        changed = ["--" + k.replace("_", "-") for k, v in group.items() if v != defaults[k]]
        if changed:
            raise TilewiseError(f"{', '.join(changed)} {misuse}")
        command(**kwargs)

    merged.__doc__ = (command.__doc__ or "").rstrip() + help_text
    merged.__signature__ = base.replace(parameters=params)  # type: ignore[attr-defined]
    merged.__annotations__ = {**hints, **group_hints}
    del merged.__wrapped__  # typer reads the merged signature, not the command's
    return merged
