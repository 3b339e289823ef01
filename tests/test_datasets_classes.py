from __future__ import annotations

import numpy as np
import pytest

from tilewise.datasets import DatasetBuilder
from tilewise.datasets.classes import keep_classes, remap_classes
from tilewise.errors import TilewiseError


def dataset():
    b = DatasetBuilder(["car", "truck", "person", "bike"], [1, 2, 3, 4])
    i = b.add_image("a.png", 50, 50)
    for c in (0, 0, 1, 2, 3):
        b.add_box(i, [1, 1, 5, 5], c)
    j = b.add_image("b.png", 50, 50)
    b.add_box(j, [1, 1, 5, 5], 3)
    return b.build()


def test_rename_merge_drop_counts():
    new, change = remap_classes(dataset(), {"car": "vehicle", "truck": "vehicle", "bike": None})
    assert new.class_names == ("vehicle", "person")
    assert new.category_ids.tolist() == [1, 3]
    assert new.class_id.tolist() == [0, 0, 0, 1]
    assert change.before == {"car": 2, "truck": 1, "person": 1, "bike": 2}
    assert change.after == {"vehicle": 3, "person": 1}
    assert change.dropped == 2
    assert change.images_now_empty == 1
    assert new.num_images == 2
    assert "(dropped)" in change.table()


def test_keep_only():
    new, change = keep_classes(dataset(), ["person", "car"])
    assert new.class_names == ("car", "person")
    assert sorted(new.class_id.tolist()) == [0, 0, 1]
    assert change.dropped == 3


def test_unknown_class_is_an_error():
    with pytest.raises(TilewiseError, match=r"unknown classes \['plane'\]"):
        remap_classes(dataset(), {"plane": "x"})


def test_counts_conserved():
    ds = dataset()
    new, change = remap_classes(ds, {"truck": "car"})
    assert sum(change.after.values()) + change.dropped == ds.num_annotations
    assert np.array_equal(new.boxes, ds.boxes)
