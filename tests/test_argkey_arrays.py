"""Stable keys of numpy and pandas arguments (both come with the test extra)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from hutch._argkey import digest


def test_numpy_arrays_are_keyed_by_content() -> None:
    assert digest(np.arange(6)) == digest(np.arange(6))
    assert digest(np.arange(6)) != digest(np.arange(1, 7))


def test_numpy_arrays_are_keyed_by_dtype_and_shape() -> None:
    a = np.arange(6, dtype=np.int64)
    assert digest(a) != digest(a.astype(np.int32))
    assert digest(a) != digest(a.reshape(2, 3))


def test_a_numpy_view_is_keyed_like_a_copy() -> None:
    a = np.arange(12).reshape(3, 4)
    assert digest(a[:, ::2]) == digest(a[:, ::2].copy())


def test_numpy_object_arrays_are_keyed_by_their_items() -> None:
    a = np.array(['x', {'k': 1}], dtype=object)
    b = np.array(['x', {'k': 1}], dtype=object)
    assert digest(a) == digest(b)


def test_numpy_scalars_are_keyed_by_dtype() -> None:
    assert digest(np.float32(1)) != digest(np.float64(1))


def frame() -> Any:
    return pd.DataFrame({'a': [1, 2], 'b': ['x', 'y']}, index=[10, 20])


def test_equal_frames_have_equal_keys() -> None:
    assert digest(frame()) == digest(frame())


def test_frames_are_keyed_by_values_index_columns_and_dtypes() -> None:
    base = digest(frame())
    values = frame()
    values.loc[10, 'a'] = 5
    index = frame().set_axis([10, 21])
    columns = frame().rename(columns={'b': 'c'})
    dtypes = frame().astype({'a': 'float64'})
    assert len({base, digest(values), digest(index), digest(columns),
                digest(dtypes)}) == 5


def test_series_are_keyed_by_values_index_and_name() -> None:
    s = pd.Series([1.0, 2.0], index=['a', 'b'], name='s')
    assert digest(s) == digest(s.copy())
    assert digest(s) != digest(s.rename('t'))
    assert digest(s) != digest(s.set_axis(['a', 'c']))
