"""flatten/unflatten are inverse: the FL layer's only conversion of models."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from fl_integration.params import ParamSpec, flatten, unflatten

shapes = st.lists(hnp.array_shapes(min_dims=0, max_dims=3, max_side=4), min_size=1, max_size=4)


@given(shapes, st.sampled_from([np.float32, np.float64]))
def test_roundtrip(shape_list, dtype):
    arrays = [np.arange(int(np.prod(s)), dtype=dtype).reshape(s) + i for i, s in enumerate(shape_list)]
    flat, spec = flatten(arrays)
    assert flat.dtype == np.float64 and flat.shape == (spec.size,)
    back = unflatten(flat, spec)
    assert [a.shape for a in back] == [a.shape for a in arrays]
    assert [a.dtype for a in back] == [a.dtype for a in arrays]
    for a, b in zip(arrays, back, strict=True):
        np.testing.assert_array_equal(a, b)


def test_wrong_length_is_rejected():
    _, spec = flatten([np.zeros((2, 3))])
    with pytest.raises(ValueError, match=r"shape \(6,\)"):
        unflatten(np.zeros(5), spec)
    assert ParamSpec.of([np.zeros(3), np.zeros((2, 2))]).size == 7
