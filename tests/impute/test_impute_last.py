from __future__ import annotations

import math

import numpy as np

from edgewise.impute import LastValue

NAN = math.nan


def test_forward_fills_each_name_and_leaves_leading_gaps() -> None:
    X = np.array([[NAN, 1.0], [2.0, NAN], [NAN, NAN], [4.0, 5.0], [NAN, NAN]])
    out = LastValue().learn_transform_many(X, ["a", "b"])
    expected = np.array([[NAN, 1.0], [2.0, 1.0], [2.0, 1.0], [4.0, 5.0], [4.0, 5.0]])
    np.testing.assert_array_equal(out, expected)


def test_transform_does_not_learn() -> None:
    imputer = LastValue()
    imputer.learn_one({"a": 1.0})
    assert imputer.transform_one({"a": 7.0}) == {"a": 7.0}
    assert imputer.transform_one({"a": NAN}) == {"a": 1.0}
