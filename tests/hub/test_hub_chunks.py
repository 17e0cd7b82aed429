"""Readings by column: exactly once across overlapping chunks, rollups that add up."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from edgewise.hub import session, stored_keys, upgrade
from edgewise.hub._chunks import Readings
from edgewise.hub._models import ReadingRollup
from edgewise.hub._store import store_readings


def _run(seqs: list[int]) -> Readings:
    return Readings.of(
        "d", "s", seq=seqs, timestamp=[float(q) for q in seqs], received=[None] * len(seqs),
        values=[{"x": float(q)} for q in seqs],
    )  # fmt: skip


def test_overlapping_and_out_of_order_runs_store_each_seq_once(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'hub.db'}"
    upgrade(url)
    stored = []
    for seqs in ([10, 11, 12], [0, 1, 2], [1, 2, 3, 11, 13, 13], list(range(15))):
        with session(url) as s:
            stored.append(store_readings(s, [_run(seqs)], 1.0))
    assert stored == [3, 3, 2, 7]  # 3 and 13 (once), then the 7 still missing
    assert sorted(k.seq for k in stored_keys(url)) == list(range(15))
    with session(url) as s:
        minute = s.execute(
            sa.select(sa.func.sum(ReadingRollup.count), sa.func.sum(ReadingRollup.total)).where(
                ReadingRollup.width == 60
            )
        ).one()
    assert tuple(minute) == (15, float(sum(range(15))))
