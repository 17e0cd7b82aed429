from __future__ import annotations

import math

import numpy as np

from edgewise.impute import LastValue

NAN = math.nan
INF = math.inf


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


def test_the_reading_path_fills_like_the_batch_path() -> None:
    # Complete readings take a shortcut; gaps, and infinities of both signs (a nan sum), do not.
    X = np.array([[1.0, 2.0], [NAN, 3.0], [INF, -INF], [NAN, NAN], [5.0, 6.0], [NAN, 7.0]])
    one, many = LastValue(), LastValue()
    rows = [one.learn_transform_one({"a": a, "b": b}) for a, b in X.tolist()]
    out = [[row["a"], row["b"]] for row in rows]
    np.testing.assert_array_equal(out, many.learn_transform_many(X, ["a", "b"]))
    assert one.imputed_count_ == many.imputed_count_ == 4
    assert one.last_ == many.last_ == {"a": 5.0, "b": 7.0}
