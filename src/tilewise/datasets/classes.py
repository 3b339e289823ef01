"""Class management: keep, drop, rename and merge classes by a mapping, with counts."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any

import numpy as np

from tilewise.datasets.dataset import Dataset
from tilewise.errors import TilewiseError

__all__ = [
    "ClassChange",
    "Unmapped",
    "keep_classes",
    "load_class_mapping",
    "remap_classes",
]


class Unmapped(str, Enum):
    """What happens to classes the mapping does not mention."""

    KEEP = "keep"
    DROP = "drop"


@dataclass(frozen=True)
class ClassChange:
    """Counts before and after a class remapping.

    Attributes:
        before: annotations per old class.
        after: annotations per new class.
        mapping: old class -> new class (None: dropped).
        dropped: annotations removed (their class was dropped).
        images_now_empty: images that had annotations and have none left.
    """

    before: dict[str, int]
    after: dict[str, int]
    mapping: dict[str, str | None]
    dropped: int
    images_now_empty: int

    def table(self) -> str:
        """Plain-text table: old class, count, new class.

        Example:
            >>> c = ClassChange({"a": 2}, {"b": 2}, {"a": "b"}, 0, 0)
            >>> print(c.table())
            class  before  ->  new class  after
            a           2  ->  b              2
            dropped annotations: 0; images left empty: 0
        """
        w_old = max([len("class"), *(len(k) for k in self.before)])
        w_new = max([len("new class"), *(len(v or "(dropped)") for v in self.mapping.values())])
        lines = [f"{'class':<{w_old}}  before  ->  {'new class':<{w_new}}  after"]
        for old, count in self.before.items():
            new = self.mapping.get(old)
            after = self.after.get(new, 0) if new is not None else 0
            lines.append(
                f"{old:<{w_old}}  {count:>6}  ->  {new or '(dropped)':<{w_new}}  {after:>5}"
            )
        lines.append(
            f"dropped annotations: {self.dropped}; images left empty: {self.images_now_empty}"
        )
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict.

        Example:
            >>> ClassChange({"a": 1}, {}, {"a": None}, 1, 1).to_dict()["dropped"]
            1
        """
        return {
            "before": self.before,
            "after": self.after,
            "mapping": self.mapping,
            "dropped": self.dropped,
            "images_now_empty": self.images_now_empty,
        }


def remap_classes(
    ds: Dataset,
    mapping: Mapping[str, str | None],
    *,
    unmapped: Unmapped | str = Unmapped.KEEP,
) -> tuple[Dataset, ClassChange]:
    """Rename, merge or drop classes; returns the new dataset and the before/after counts.

    ``mapping`` maps old class names to new names (several old names to one new name
    merges them) or to None (drop). Classes not in the mapping are kept under their name
    (``unmapped="keep"``) or dropped (``"drop"``). New classes are ordered by the first old
    class mapped to them; each keeps that class's category id. Images are never removed.

    Raises:
        TilewiseError: the mapping names a class the dataset does not have.

    Example:
        >>> from tilewise.datasets import DatasetBuilder
        >>> b = DatasetBuilder(["car", "truck", "bike"]); i = b.add_image("x.png", 9, 9)
        >>> for c in (0, 1, 1, 2): b.add_box(i, [0, 0, 1, 1], c)
        >>> new, change = remap_classes(b.build(), {"car": "vehicle", "truck": "vehicle",
        ...                                          "bike": None})
        >>> new.class_names, new.class_id.tolist(), change.after, change.dropped
        (('vehicle',), [0, 0, 0], {'vehicle': 3}, 1)
    """
    policy = Unmapped(unmapped)
    unknown = sorted(set(mapping) - set(ds.class_names))
    if unknown:
        raise TilewiseError(
            f"class mapping names unknown classes {unknown}; dataset classes: "
            f"{list(ds.class_names)}"
        )
    full: dict[str, str | None] = {}
    for name in ds.class_names:
        if name in mapping:
            target = mapping[name]
            full[name] = None if target is None or str(target) == "" else str(target)
        else:
            full[name] = name if policy is Unmapped.KEEP else None
    new_names: list[str] = []
    new_ids: list[int] = []
    lookup = np.full(ds.num_classes, -1, dtype=np.int64)
    for k, name in enumerate(ds.class_names):
        target = full[name]
        if target is None:
            continue
        if target not in new_names:
            new_names.append(target)
            new_ids.append(int(ds.category_ids[k]))
        lookup[k] = new_names.index(target)
    new_class = lookup[ds.class_id]
    keep = new_class >= 0
    before = dict(zip(ds.class_names, ds.class_counts().tolist(), strict=True))
    had = ds.counts_per_image() > 0
    out = ds.take_annotations(keep)
    out = out.replace(
        class_id=new_class[keep],
        class_names=tuple(new_names),
        category_ids=np.asarray(new_ids, dtype=np.int64),
    )
    after = dict(zip(out.class_names, out.class_counts().tolist(), strict=True))
    change = ClassChange(
        before=before,
        after=after,
        mapping=full,
        dropped=int((~keep).sum()),
        images_now_empty=int(np.sum(had & (out.counts_per_image() == 0))),
    )
    return out, change


def keep_classes(ds: Dataset, names: Iterable[str]) -> tuple[Dataset, ClassChange]:
    """Keep only the named classes (others are dropped).

    Example:
        >>> from tilewise.datasets import DatasetBuilder
        >>> b = DatasetBuilder(["a", "b"]); i = b.add_image("x.png", 9, 9)
        >>> b.add_box(i, [0, 0, 1, 1], 1)
        >>> keep_classes(b.build(), ["b"])[0].class_names
        ('b',)
    """
    return remap_classes(ds, {n: n for n in names}, unmapped=Unmapped.DROP)


def load_class_mapping(path: str | os.PathLike[str]) -> dict[str, str | None]:
    r"""Read an ``old: new`` mapping (null/empty drops) from a JSON or YAML file.

    Example:
        >>> import tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "m.yaml"
        >>> _ = p.write_text("car: vehicle\nbike: null\n")
        >>> load_class_mapping(p)
        {'car': 'vehicle', 'bike': None}
    """
    p = Path(path)
    text = p.read_text(encoding="utf-8")
    if p.suffix.lower() == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise TilewiseError(f"{p}:line {exc.lineno}: malformed JSON: {exc.msg}") from None
    else:
        import yaml

        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise TilewiseError(f"{p}: malformed YAML: {exc}") from None
    if not isinstance(data, dict):
        raise TilewiseError(f"{p}: a class mapping must be a mapping of old name to new name")
    return {str(k): (None if v in (None, "") else str(v)) for k, v in data.items()}
