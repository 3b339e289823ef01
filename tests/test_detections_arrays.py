"""``Detections`` through plain named arrays and ``.npz`` (no pickle), and strip parts on them."""

from __future__ import annotations

import io

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tilewise import Detections
from tilewise.detections import GeoReference
from tilewise.detections.arrays import (
    ARRAYS_FORMAT,
    detections_from_arrays,
    detections_to_arrays,
)
from tilewise.distributed.strip_store import PART_FORMAT, decode_strip, encode_strip
from tilewise.errors import TilewiseError
from tilewise.masks import CompactMasks
from tilewise.slicing.batches import WindowStats
from tilewise.slicing.strips import Strip, StripResult
from tilewise.sources import Window


def _through_npz(arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    buf.seek(0)
    with np.load(buf, allow_pickle=False) as npz:
        return {name: npz[name] for name in npz.files}


def _masks(n: int) -> CompactMasks:
    crops = [np.arange((i + 1) * (i + 9)).reshape(i + 1, i + 9) % 3 == 0 for i in range(n)]
    return CompactMasks.from_crops(crops, [(i, 2 * i) for i in range(n)], image_wh=(40, 30))


BOXES = np.array([[0, 0, 9, 9], [1.5, 2.25, 7, 8], [3, 3, 4, 30]], dtype=np.float32)
CASES = {
    "empty": Detections.empty(),
    "plain": Detections(BOXES, [0.5, 0.25, 1.0], [0, 7, 2]),
    "data of every kind": Detections(
        BOXES,
        data={
            "name": np.array(["car", "van", "a longer name"]),
            "raw_slice_index": np.array([3, 1, 2], dtype=np.int32),
            "keypoints": np.arange(18, dtype=np.float64).reshape(3, 3, 2),
            "flag": np.array([True, False, True]),
        },
    ),
    "masks": Detections(BOXES, masks=_masks(3)),
    "masks sliced out of a shared buffer": Detections(BOXES, masks=_masks(3))[1:],
    "georef": Detections(
        BOXES, georef=GeoReference("EPSG:32633", (0.5, 0.0, 500000.0, 0.0, -0.5, 4.6e6))
    ),
}


@pytest.mark.parametrize("prefix", ["", "parts_"])
@pytest.mark.parametrize("name", list(CASES))
def test_round_trip_through_npz_is_equal(name: str, prefix: str) -> None:
    det = CASES[name]
    arrays = detections_to_arrays(det, prefix)
    assert all(a.dtype != object for a in arrays.values())
    back = detections_from_arrays(_through_npz(arrays), prefix)
    assert back == det
    for key, column in det.data.items():
        assert back.data[key].dtype == column.dtype
    if det.masks is not None:
        assert back.masks is not None
        assert back.masks.image_wh == (40, 30)
        np.testing.assert_array_equal(back.masks.to_dense(), det.masks.to_dense())


def test_a_sliced_mask_store_keeps_only_its_own_bytes() -> None:
    whole = _masks(3)
    arrays = detections_to_arrays(Detections(BOXES[2:], masks=whole[2:]))
    assert arrays["masks_data"].size == int(whole.nbytes_each[2]) < whole.nbytes
    assert arrays["masks_start"].tolist() == [0]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda a: a.pop("xyxy"), "lack their 'xyxy' array"),
        (lambda a: a.pop("data_0"), "lack their 'data_0' array"),
        (lambda a: a.pop("header"), "lack their 'header' array"),
        (
            lambda a: a.update(header=np.frombuffer(b'{"format": "other/9"}', np.uint8)),
            f"in format 'other/9', expected '{ARRAYS_FORMAT}'",
        ),
        (
            lambda a: a.update(header=np.frombuffer(b"\xff{", np.uint8)),
            "unreadable header",
        ),
        (lambda a: a.update(header=np.frombuffer(b"[1]", np.uint8)), "in format [1]"),
    ],
)
def test_damaged_arrays_are_refused_by_name(change, message: str) -> None:
    arrays = detections_to_arrays(Detections(BOXES, data={"k": np.arange(3)}))
    change(arrays)
    with pytest.raises(TilewiseError, match=message.replace("[", r"\[").replace("]", r"\]")):
        detections_from_arrays(arrays)


def test_object_data_is_refused_rather_than_pickled() -> None:
    det = Detections(BOXES, data={"meta": np.array([{}, None, 1], dtype=object)})
    with pytest.raises(TilewiseError, match=r"data\['meta'\] has dtype object"):
        detections_to_arrays(det)


class _OtherMasks:
    def __len__(self) -> int:
        return 3


def test_masks_of_another_store_are_refused() -> None:
    det = Detections(BOXES)
    det.masks = _OtherMasks()  # type: ignore[assignment]
    with pytest.raises(TilewiseError, match=r"only CompactMasks.*got _OtherMasks"):
        detections_to_arrays(det)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    n=st.integers(0, 12),
    seed=st.integers(0, 2**32 - 1),
    with_masks=st.booleans(),
    with_data=st.booleans(),
)
def test_any_detections_round_trip(n: int, seed: int, with_masks: bool, with_data: bool) -> None:
    rng = np.random.default_rng(seed)
    xy = rng.uniform(0, 50, (n, 2))
    boxes = np.hstack([xy, xy + rng.uniform(0, 20, (n, 2))])
    masks = None
    if with_masks:
        shapes = rng.integers(0, [7, 12], (n, 2))
        crops = [rng.random((int(h), int(w))) < 0.5 for h, w in shapes]
        masks = CompactMasks.from_crops(crops, rng.integers(0, 30, (n, 2)).tolist())
    data = None
    if with_data:
        data = {"id": rng.integers(-5, 5, n), "s": rng.choice(["a", "bb", ""], n)}
    det = Detections(boxes, rng.random(n), rng.integers(0, 4, n), masks=masks, data=data)
    assert detections_from_arrays(_through_npz(detections_to_arrays(det, "p_")), "p_") == det


STRIP = Strip(1, (2, 4), (8, 16), Window(0, 72, 192, 84), 12)


def _result(parts: list[Detections]) -> StripResult:
    return StripResult(
        STRIP,
        parts,
        list(range(8, 8 + len(parts))),
        {"model_detections": 11, "dropped_edge": 2},
        WindowStats(read=6, skipped_nodata=1, skipped_sparse=1, valid_fraction_min=0.25),
        {"read": 0.5, "model": 1.25},
        2.0,
    )


@pytest.mark.parametrize(
    "parts",
    [
        [],
        [CASES["plain"], CASES["plain"][:1]],
        [CASES["masks"], CASES["masks"][2:]],
        [CASES["data of every kind"][:2], CASES["data of every kind"][2:]],
    ],
    ids=["no parts", "plain", "masks", "data"],
)
def test_a_strip_part_round_trips(parts: list[Detections]) -> None:
    result = _result(parts)
    back = decode_strip(encode_strip(result), {1: STRIP})
    assert back.parts == parts
    assert [len(p) for p in back.parts] == [len(p) for p in parts]
    assert (back.strip, back.part_slices, back.counts) == (STRIP, result.part_slices, result.counts)
    assert (back.windows, back.timings, back.seconds) == (result.windows, result.timings, 2.0)


@pytest.mark.parametrize(
    ("plan", "message"),
    [
        ({0: STRIP}, "not a strip of this run's plan"),
        ({1: Strip(1, (2, 4), (8, 16), Window(0, 72, 192, 90), 12)}, "not a strip of this run's"),
    ],
)
def test_a_part_of_another_plan_is_refused(plan: dict[int, Strip], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        decode_strip(encode_strip(_result([])), plan)


def test_a_part_with_a_pickled_member_is_refused_not_unpickled() -> None:
    buf = io.BytesIO()
    np.savez(buf, header=np.array([{"format": PART_FORMAT}], dtype=object))
    with pytest.raises(ValueError, match="allow_pickle=False"):
        decode_strip(buf.getvalue(), {1: STRIP})
