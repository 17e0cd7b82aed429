"""Decoding a batch: bounded decompression, exact reasons."""

from __future__ import annotations

import gzip
import tracemalloc

import pytest

from edgewise.hub._protocol import BatchError, BatchTooLarge, decode


def test_a_gzip_bomb_is_refused_without_inflating_it() -> None:
    bomb = gzip.compress(b" " * 50_000_000)
    tracemalloc.start()
    try:
        with pytest.raises(BatchTooLarge):
            decode(bomb, encoding="gzip", max_bytes=4096)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 1_000_000 + 2 * len(bomb)


def test_unknown_encodings_are_named() -> None:
    with pytest.raises(BatchError, match="unsupported Content-Encoding 'br'"):
        decode(b"{}", encoding="br", max_bytes=4096)
