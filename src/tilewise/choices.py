"""String-valued options that parse case-insensitively and fail with the valid choices."""

from __future__ import annotations

from enum import Enum
from typing import TypeVar

from tilewise.errors import TilewiseError

__all__ = ["Choice"]

C = TypeVar("C", bound="Choice")


class Choice(str, Enum):
    """Base of tilewise's option enums (metric, merge method, IoU type, ...).

    Subclasses list their members and may override ``option_name`` for error messages.

    Example:
        >>> class Colour(Choice):
        ...     RED = "red"
        >>> Colour.parse("RED")
        <Colour.RED: 'red'>
        >>> Colour.parse("blue")
        Traceback (most recent call last):
        ...
        tilewise.errors.TilewiseError: colour must be one of ['red'], got 'blue'
    """

    @classmethod
    def option_name(cls) -> str:
        """The option's name in error messages (default: the class name in lower case)."""
        return cls.__name__.lower()

    @classmethod
    def parse(cls: type[C], value: C | str) -> C:
        """Turn a member or its value (any case) into a member; else raise TilewiseError."""
        if isinstance(value, cls):
            return value
        try:
            return cls(str(value).lower())
        except ValueError:
            raise TilewiseError(
                f"{cls.option_name()} must be one of {[m.value for m in cls]}, got {value!r}"
            ) from None
