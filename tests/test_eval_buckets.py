"""Size buckets: definitions, parsing, and how they slice the metrics."""

from __future__ import annotations

import math

import pytest

from tilewise import TilewiseError
from tilewise.evaluation import (
    COCO_AREA_RANGES,
    TINY_AREA_RANGES,
    AreaRange,
    build_area_ranges,
    evaluate,
)

INF = math.inf


@pytest.mark.parametrize(
    ("bucket", "min_side", "max_side", "area_bounds"),
    [
        (COCO_AREA_RANGES[0], 0, 32, (0, 32**2)),
        (COCO_AREA_RANGES[1], 32, 96, (32**2, 96**2)),
        (COCO_AREA_RANGES[2], 96, INF, (96**2, 1e5**2)),
        (TINY_AREA_RANGES[0], 2, 8, (4, 64)),
        (TINY_AREA_RANGES[1], 8, 16, (64, 256)),
        (TINY_AREA_RANGES[2], 16, 32, (256, 1024)),
    ],
)
def test_preset_definitions(bucket, min_side, max_side, area_bounds) -> None:
    assert (bucket.min_side, bucket.max_side) == (min_side, max_side)
    assert bucket.area_bounds == area_bounds


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("xs:0:8", AreaRange("xs", 0, 8)),
        ("huge:512:inf", AreaRange("huge", 512, INF)),
        (" mid : 10.5 : 20 ", AreaRange("mid", 10.5, 20)),
        ("a_b-1.x:1:2", AreaRange("a_b-1.x", 1, 2)),
    ],
)
def test_parse_valid(spec: str, expected: AreaRange) -> None:
    assert AreaRange.parse(spec) == expected


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("xs:0", "name:min_px:max_px"),
        ("xs:0:8:9", "name:min_px:max_px"),
        ("xs:a:8", "numbers"),
        ("xs:8:8", "min_side < max_side"),
        ("xs:9:8", "min_side < max_side"),
        ("xs:-1:8", "min_side < max_side"),
        ("xs:inf:inf", "min_side < max_side"),
        (":0:8", "name"),
        ("a b:0:8", "name"),
    ],
)
def test_parse_invalid(spec: str, message: str) -> None:
    with pytest.raises(TilewiseError, match=message):
        AreaRange.parse(spec)


@pytest.mark.parametrize(
    ("area", "inside"),
    [
        (0.0, {"small"}),
        (3.9, {"small"}),
        (4.0, {"small", "2-8px"}),
        (63.9, {"small", "2-8px"}),
        (64.0, {"small", "2-8px", "8-16px"}),  # closed ranges: boundaries count twice
        (100.0, {"small", "8-16px"}),
        (256.0, {"small", "8-16px", "16-32px"}),
        (1024.0, {"small", "medium", "16-32px"}),
        (1024.5, {"medium"}),
        (96.0**2, {"medium", "large"}),
        (1e9, {"large"}),
    ],
)
def test_membership_table(area: float, inside: set[str]) -> None:
    ranges = build_area_ranges(tiny=True)
    assert {r.name for r in ranges if r.contains([area])[0]} == inside


def test_build_order_and_validation() -> None:
    names = [r.name for r in build_area_ranges(tiny=True, custom=["xl:256:inf"])]
    assert names == ["small", "medium", "large", "2-8px", "8-16px", "16-32px", "xl"]
    assert build_area_ranges(coco=False) == ()
    with pytest.raises(TilewiseError, match="used twice"):
        build_area_ranges(custom=["small:0:10"])
    with pytest.raises(TilewiseError, match="reserved"):
        build_area_ranges(custom=["all:0:10"])


def _one_object_dataset(side: float) -> tuple[dict, list]:
    gt = {
        "images": [{"id": 1, "width": 500, "height": 500}],
        "categories": [{"id": 1, "name": "obj"}],
        "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [10, 10, side, side]}],
    }
    preds = [{"image_id": 1, "category_id": 1, "bbox": [10, 10, side, side], "score": 0.9}]
    return gt, preds


@pytest.mark.parametrize(
    ("side", "defined"),
    [
        (1.5, {"small"}),
        (5.0, {"small", "2-8px"}),
        (8.0, {"small", "2-8px", "8-16px"}),
        (12.0, {"small", "8-16px"}),
        (20.0, {"small", "16-32px"}),
        (50.0, {"medium"}),
        (200.0, {"large"}),
    ],
)
def test_buckets_slice_the_evaluation(side: float, defined: set[str]) -> None:
    """A perfect prediction of one object: AP is 1 exactly in the buckets holding it."""
    res = evaluate(*_one_object_dataset(side), tiny=True, area_ranges=None)
    for r in res.area_ranges[1:]:
        value = res.get("AP", r.name)
        if r.name in defined:
            assert value == 1.0, r.name
        else:
            assert math.isnan(value), r.name
    assert res.get("AP") == 1.0


def test_custom_range_in_evaluation() -> None:
    res = evaluate(*_one_object_dataset(40.0), area_ranges=["mine:35:45", "other:0:35"])
    assert res.get("AP", "mine") == 1.0
    assert math.isnan(res.get("AP", "other"))


# Exact texts and the value semantics of a bucket: mutation testing (docs/testing.md) holds
# the messages users read and the describe() strings the tables print to their full text.
@pytest.mark.parametrize(
    ("make", "message"),
    [
        (
            lambda: AreaRange("-x", 0, 1),
            "area range name must be letters, digits or '_.+-' (not starting with a symbol), "
            "got '-x'",
        ),
        (
            lambda: AreaRange("x", math.nan, 5),
            "area range 'x' needs 0 <= min_side < max_side, got nan..5.0",
        ),
        (
            lambda: AreaRange("x", 1, math.nan),
            "area range 'x' needs 0 <= min_side < max_side, got 1.0..nan",
        ),
        (
            lambda: AreaRange.parse("x:1"),
            "area range must look like 'name:min_px:max_px' (side lengths in pixels, max may "
            "be 'inf'), got 'x:1'",
        ),
        (lambda: AreaRange.parse("x:a:2"), "area range 'x:a:2': bounds must be numbers"),
        (
            lambda: build_area_ranges(custom=["all:0:1"]),
            "'all' is reserved: every evaluation includes it already",
        ),
        (
            lambda: build_area_ranges(coco=False, custom=["a:0:1", "a:1:2"]),
            "area range name 'a' is used twice",
        ),
    ],
)
def test_bucket_error_messages_exact(make, message) -> None:
    with pytest.raises(TilewiseError) as info:
        make()
    assert str(info.value) == message


def test_bucket_values_describe_and_all() -> None:
    r = AreaRange("mid", 8, 16.5)
    assert r.describe() == "8-16.5 px"
    assert {r, AreaRange("mid", 8.0, 16.5)} == {r}  # frozen: hashable, equal by value
    with pytest.raises(AttributeError):
        r.min_side = 0  # type: ignore[misc]
    from tilewise.evaluation.buckets import ALL_RANGE

    assert ALL_RANGE.area_bounds == (0.0, 1e5**2)
    assert ALL_RANGE.contains([0.0, 0.25, 1e10]).tolist() == [True, True, True]
