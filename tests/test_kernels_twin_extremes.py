"""The numpy twin against the C extension at the ends of the accepted coordinate range.

Boxes as small as 1e-162 (areas that are subnormal or underflow to 0 in float64) and as
large as ``MAX_COORDINATE`` (1e150: areas near 1e300): the two backends must keep and
group exactly alike there too. The twin's area-window prefilter and its grid indexes
round in places where C compares overlaps directly; these draws are where such rounding
would show. Through the public kernels, so the input checks run as users meet them.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tilewise.kernels import greedy_nmm_kernel, nmm_kernel, nms_kernel, use_backend, wbf_kernel

pytest.importorskip("tilewise.kernels._native")

KERNELS = [nms_kernel, greedy_nmm_kernel, nmm_kernel, wbf_kernel]
SCALES = [1e-162, 1e-160, 1e-158, 1e-155, 1.0, 1e100, 1e149]


def _both(kernel, boxes, conf, **kw):
    out = []
    for backend in ("native", "python"):
        with use_backend(backend):
            r = kernel(boxes, conf, **kw)
        out.append((r.keep.tolist(), r.parent.tolist()))
    return out


@settings(max_examples=120, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    scale=st.sampled_from(SCALES),
    n=st.integers(2, 40),
    kernel=st.sampled_from(KERNELS),
    metric=st.sampled_from(["iou", "ios"]),
    threshold=st.sampled_from([1e-9, 0.1, 0.3, 0.5, 0.9, 1.0]),
)
def test_twin_equals_native_at_extreme_scales(seed, scale, n, kernel, metric, threshold):
    rng = np.random.default_rng(seed)
    xy = rng.uniform(0, 4, (n, 2)) * scale
    wh = rng.uniform(0, 2, (n, 2)) * scale
    wh[rng.random(n) < 0.1] = 0.0  # some degenerate boxes
    boxes = np.hstack([xy, np.minimum(xy + wh, 1e150)])
    conf = rng.choice([0.3, 0.5, 0.9], n)  # ties too
    native, twin = _both(kernel, boxes, conf, threshold=threshold, metric=metric)
    assert twin == native


@pytest.mark.parametrize("kernel", KERNELS)
@pytest.mark.parametrize("scale", [1e-162, 1e149])
def test_duplicates_merge_at_extreme_scales(kernel, scale):
    """An exact duplicate is merged at either end of the range, by both backends (so the
    property above is not passing on inputs where nothing ever overlaps)."""
    boxes = np.array([[0, 0, 2, 2], [0, 0, 2, 2], [3, 3, 4, 4]], dtype=np.float64) * scale
    native, twin = _both(kernel, boxes, np.array([0.9, 0.8, 0.7]), threshold=0.5)
    assert twin == native
    assert native[0] == [0, 2]
