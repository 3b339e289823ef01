"""Merging Detections, the MergeResult bookkeeping and the method names."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest

from tilewise import Detections, TilewiseError
from tilewise.kernels.fusion import enclosing_boxes, mean_confidence, weighted_mean_boxes
from tilewise.merge import (
    MergeAction,
    MergeMethod,
    MergeResult,
    greedy_nmm,
    merge_detections,
    nmm,
    nms,
    nms_kernel,
    wbf,
)

pytestmark = pytest.mark.usefixtures("kernel_backend")


class ListMasks:
    """A minimal MaskStore: one label per detection, so tests can see which mask moved."""

    def __init__(self, labels: Sequence[str]) -> None:
        self.labels = list(labels)

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: np.ndarray) -> ListMasks:
        return ListMasks([self.labels[i] for i in np.asarray(index).tolist()])

    def shifted(self, dx: int, dy: int) -> ListMasks:
        return self

    @classmethod
    def concatenate(cls, stores: Sequence[ListMasks]) -> ListMasks:
        return cls([label for s in stores for label in s.labels])

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ListMasks) and self.labels == other.labels

    __hash__ = None  # type: ignore[assignment]


def sample() -> Detections:
    # objects: rows 0, 1, 3 are duplicates of one object (class 2), row 2 is alone
    return Detections(
        np.array([[0, 0, 10, 10], [1, 1, 11, 11], [50, 50, 60, 60], [0, 1, 10, 12]]),
        confidence=[0.6, 0.9, 0.8, 0.3],
        class_id=[2, 2, 5, 2],
        masks=ListMasks(["m0", "m1", "m2", "m3"]),
        data={"name": np.array(["a", "b", "c", "d"]), "extra": np.arange(8).reshape(4, 2)},
    )


def test_nms_returns_survivor_rows():
    det = sample()
    out, res = merge_detections(det, "nms", threshold=0.5)
    assert res.keep.tolist() == [1, 2]
    assert out == det[[1, 2]]
    assert out.masks.labels == ["m1", "m2"]
    assert nms(det, 0.5) == out


@pytest.mark.parametrize(("method", "function"), [("nmm", nmm), ("greedy_nmm", greedy_nmm)])
def test_merging_takes_enclosing_box_and_survivor_rows(method, function):
    det = sample()
    out, res = merge_detections(det, method, threshold=0.5)
    assert res.keep.tolist() == [1, 2]
    assert res.groups()[0].tolist() == [1, 0, 3]
    assert out.xyxy.tolist() == [[0, 0, 11, 12], [50, 50, 60, 60]]
    assert out.xyxy.dtype == np.float32
    assert out.confidence.tolist() == pytest.approx([0.9, 0.8])
    assert out.class_id.tolist() == [2, 5]
    assert out.data["name"].tolist() == ["b", "c"]
    assert out.data["extra"].tolist() == [[2, 3], [4, 5]]
    assert out.masks.labels == ["m1", "m2"]
    assert function(det, 0.5) == out


def test_wbf_fuses_boxes_and_averages_confidence():
    det = sample()
    out, res = merge_detections(det, "wbf", threshold=0.5)
    assert res.keep.tolist() == [1, 2]
    group = res.groups()[0]
    w = det.confidence[group].astype(np.float64)
    expected = (det.xyxy[group] * w[:, None]).sum(0) / w.sum()
    np.testing.assert_allclose(out.xyxy[0], expected, rtol=1e-6)
    assert out.confidence[0] == pytest.approx(w.mean())
    assert out.xyxy[1].tolist() == [50, 50, 60, 60]
    assert out.confidence[1] == pytest.approx(0.8)
    assert out.data["name"].tolist() == ["b", "c"]
    assert out.masks.labels == ["m1", "m2"]
    assert wbf(det, 0.5) == out


def test_wbf_with_zero_confidences_takes_the_plain_mean():
    det = Detections(np.array([[0, 0, 10, 10], [2, 0, 12, 10]]), confidence=[0.0, 0.0])
    out = wbf(det, 0.5)
    assert out.xyxy.tolist() == [[1, 0, 11, 10]]
    assert out.confidence.tolist() == [0]


def test_class_agnostic_merges_across_classes():
    det = sample()
    assert len(nmm(det, 0.5)) == 2
    same_place = Detections(np.array([[0, 0, 10, 10]] * 2), [0.9, 0.8], class_id=[0, 1])
    assert len(nms(same_place)) == 2
    assert len(nms(same_place, class_agnostic=True)) == 1


def test_none_returns_input_and_identity():
    det = sample()
    out, res = merge_detections(det, "none")
    assert out is det
    assert res.action is MergeAction.KEPT_ALL
    assert res.keep.tolist() == [0, 1, 2, 3]
    assert res.parent.tolist() == [0, 1, 2, 3]
    res.validate()


@pytest.mark.parametrize("method", ["none", "nms", "nmm", "greedy_nmm", "wbf"])
def test_empty_detections(method):
    out, res = merge_detections(Detections.empty(), method)
    assert len(out) == 0
    assert res.n_inputs == 0
    assert out.xyxy.shape == (0, 4)


@pytest.mark.parametrize("method", ["nms", "nmm", "greedy_nmm", "wbf"])
def test_output_counts_match_result(method):
    rng = np.random.default_rng(0)
    xy = rng.uniform(0, 100, (200, 2))
    det = Detections(np.concatenate([xy, xy + 15], 1), rng.uniform(0, 1, 200))
    out, res = merge_detections(det, method, threshold=0.3)
    assert len(out) == res.n_kept
    assert res.group_sizes.sum() == len(det)
    np.testing.assert_array_equal(out.class_id, det.class_id[res.keep])


def test_merge_detections_errors():
    det = sample()
    with pytest.raises(TilewiseError, match=r"merge method must be one of \['none', 'nms'"):
        merge_detections(det, "soft_nms")
    with pytest.raises(TilewiseError, match="takes Detections"):
        merge_detections(det.xyxy, "nms")
    bad = Detections(np.array([[0, 0, np.nan, 1]]), [0.5])
    with pytest.raises(TilewiseError, match="finite_mask"):
        merge_detections(bad, "nms")
    with pytest.raises(TilewiseError, match="threshold"):
        merge_detections(det, "nmm", threshold=0)


def test_merge_method_parse():
    assert MergeMethod.parse("NMS") is MergeMethod.NMS
    assert MergeMethod.parse(MergeMethod.WBF) is MergeMethod.WBF
    assert MergeMethod("greedy_nmm") is MergeMethod.GREEDY_NMM
    assert [m.value for m in MergeMethod] == ["none", "nms", "nmm", "greedy_nmm", "wbf"]
    with pytest.raises(TilewiseError, match="got 'x'"):
        MergeMethod.parse("x")


# ------------------------------------------------------------------ MergeResult


def test_result_helpers():
    res = nms_kernel(sample().xyxy, sample().confidence, sample().class_id)
    assert res.n_inputs == 4
    assert res.n_kept == 2
    assert res.group_index.tolist() == [0, 0, 1, 0]
    assert res.group_sizes.tolist() == [3, 1]
    offsets, members = res.members()
    assert offsets.tolist() == [0, 3, 4]
    assert members.tolist() == [1, 0, 3, 2]  # rank order inside each group
    assert [g.tolist() for g in res.groups()] == [[1, 0, 3], [2]]
    assert res.rank_order.tolist() == [1, 2, 0, 3]


def test_identity_with_order():
    res = MergeResult.identity(3, np.array([2, 0, 1]))
    assert res.keep.tolist() == [2, 0, 1]
    assert res.parent.tolist() == [0, 1, 2]
    assert [g.tolist() for g in res.groups()] == [[2], [0], [1]]
    res.validate()
    assert MergeResult.identity(0).groups() == []


@pytest.mark.parametrize(
    ("keep", "parent", "order", "match"),
    [
        ([0, 0], [0, 0], None, "more than once"),
        ([0], [0, 1], None, "parent must point at survivors"),
        ([0, 1], [0, 0], None, "own parents"),
        ([0, 5], [0, 1], None, "outside"),
        ([1, 0], [0, 1], [0, 1], "rank order"),
        ([1], [1, 1], [0, 1], "rank after its survivor"),
        ([0], [0, 0], [0, 0], "permutation"),
    ],
)
def test_validate_catches(keep, parent, order, match):
    res = MergeResult(
        np.array(keep),
        np.array(parent),
        MergeAction.MERGED,
        None if order is None else np.array(order),
    )
    with pytest.raises(TilewiseError, match=match):
        res.validate()


def test_fusion_helpers_on_empty_result():
    empty = MergeResult.identity(0)
    assert enclosing_boxes(np.zeros((0, 4)), empty).shape == (0, 4)
    assert weighted_mean_boxes(np.zeros((0, 4)), np.zeros(0), empty).shape == (0, 4)
    assert mean_confidence(np.zeros(0), empty).shape == (0,)


def test_large_input_is_fast_enough_to_test():
    """Smoke: 50k clustered detections go through every method (no N x N anywhere)."""
    rng = np.random.default_rng(1)
    centers = rng.uniform(0, 5000, (10000, 2))
    pick = np.repeat(np.arange(10000), 5)
    c = centers[pick] + rng.normal(0, 2, (50000, 2))
    det = Detections(np.concatenate([c - 15, c + 15], 1), rng.uniform(0, 1, 50000))
    for method in ("nms", "nmm", "greedy_nmm", "wbf"):
        out, res = merge_detections(det, method, threshold=0.5)
        assert 9000 < len(out) < 12000
        assert res.group_sizes.sum() == 50000
