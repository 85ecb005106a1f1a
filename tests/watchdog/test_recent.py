"""The window of recent predictions by id, against a plain list model of the same rules."""

from __future__ import annotations

import random

import numpy as np
import pyarrow as pa
import pytest

from watchdog.ingest.recent import RecentPredictions


class ListModel:
    """Every prediction in a list; the window is the last ``capacity`` of them."""

    def __init__(self, capacity: int):
        self.capacity, self.rows = capacity, []  # [id, value, ts, awaiting]

    def window(self) -> list[list]:
        return self.rows[-self.capacity:]

    def contains(self, rid: str) -> bool:
        return any(r[0] == rid for r in self.window())

    def take(self, rid: str, horizon: float | None) -> tuple[bool, float | None]:
        for r in reversed(self.window()):
            if r[0] == rid:
                if r[3] and (horizon is None or r[2] >= horizon):
                    r[3] = False
                    return True, r[1]
                return False, None
        return False, None


@pytest.mark.parametrize("seed", range(6))
def test_one_by_one_and_in_tables_agree_with_the_list_model(seed):
    rng = random.Random(seed)
    cap = rng.choice([1, 3, 50, 400])
    got, want = RecentPredictions(cap), ListModel(cap)
    fresh = iter(range(10**9))
    for _ in range(300):
        op = rng.random()
        if op < 0.35:  # one prediction
            rid = f"r{next(fresh)}"
            value, ts, awaiting = rng.random(), rng.uniform(0, 100), rng.random() < 0.7
            got.add(rid, value, ts, awaiting)
            want.rows.append([rid, value, ts, awaiting])
        elif op < 0.55:  # a table of them, sometimes longer than the window
            n = rng.choice([1, 5, cap, 2 * cap + 3, 900])
            ids = [f"r{next(fresh)}" for _ in range(n)]
            vals = np.array([rng.random() for _ in range(n)])
            ts = np.array([rng.uniform(0, 100) for _ in range(n)])
            aw = np.array([rng.random() < 0.7 for _ in range(n)])
            if n >= cap and rng.random() < 0.5:  # the caller passes only the tail that survives
                got.add_many(pa.array(ids[n - cap:]), vals[n - cap:], ts[n - cap:], aw[n - cap:], before=n - cap)
            else:
                got.add_many(pa.array(ids), vals, ts, aw)
            want.rows += [[i, v, t, a] for i, v, t, a in zip(ids, vals.tolist(), ts.tolist(), aw.tolist(), strict=True)]
        elif op < 0.75:  # labels, for ids in the window, gone from it, or never seen
            known = [r[0] for r in want.rows[-3 * cap:]] or ["none"]
            rid = rng.choice([*known, "never"])
            horizon = rng.choice([None, rng.uniform(0, 100)])
            assert got.take(rid, horizon) == want.take(rid, horizon)
        elif op < 0.9:  # duplicate checks of a table
            known = [r[0] for r in want.rows[-3 * cap:]]
            probe = [*rng.sample(known, min(len(known), rng.randint(0, 40))), "never", f"r{next(fresh)}"]
            expect = [want.contains(r) for r in probe]
            assert got.contains_many(pa.array(probe, pa.string())).tolist() == expect
            assert [r in got for r in probe] == expect
        else:  # a checkpoint and back
            again = RecentPredictions(cap)
            again.restore(got.snapshot())
            assert again.snapshot() == got.snapshot()
            got = again
        horizon = 50.0
        assert len(got) == len(want.window())
        assert got.awaiting(horizon) == sum(1 for r in want.window() if r[3] and r[2] >= horizon)


def test_large_tables_are_checked_by_a_hash_set_and_small_ones_by_the_dict():
    rp = RecentPredictions(100_000)
    ids = [f"id-{i}" for i in range(100_000)]
    rp.add_many(pa.array(ids), np.zeros(100_000), np.zeros(100_000), np.ones(100_000, dtype=bool))
    big = pa.array([f"id-{i}" for i in range(50_000, 150_000)])
    assert rp.contains_many(big).sum() == 50_000 and rp._indexed == 0  # the dict index was never built
    small = pa.array(["id-7", "id-100000", "id-99999"])
    assert rp.contains_many(small).tolist() == [True, False, True] and rp._indexed == 100_000
    assert rp.take("id-5") == (True, 0.0)
    rp.add_many(pa.array(["new-1", "new-2"]), np.zeros(2), np.zeros(2), np.ones(2, dtype=bool))
    assert rp.contains_many(pa.array(["new-2", "id-0", "id-2"])).tolist() == [True, False, True]
    assert rp._indexed == 100_002  # two ids to absorb: the dict answered


def test_categorical_predictions_keep_their_values_and_bad_snapshots_are_refused():
    rp = RecentPredictions(4, numeric=False)
    rp.add("a", "approve", 1.0, True)
    assert rp.take("a") == (True, "approve") and rp.take("a") == (False, None)
    s = rp.snapshot()
    s["ts"] = []
    with pytest.raises(ValueError, match="differ in length"):
        RecentPredictions(4, numeric=False).restore(s)
    with pytest.raises(ValueError, match="cannot leave a window of 4"):
        rp.add_many(pa.array(["x"]), np.zeros(1, dtype=object), np.zeros(1), np.ones(1, dtype=bool), before=2)


def test_the_dict_index_stays_bounded_on_the_line_path_and_tiny_tables_make_no_tiny_chunks():
    rp = RecentPredictions(100)
    for i in range(10_000):
        rp.add(f"x{i}", 0.0, 0.0, True)
        assert f"x{i}" in rp
    assert len(rp._index) <= 2 * 100 + 1 and "x9899" not in rp and "x9900" in rp
    rp = RecentPredictions(100_000)
    for i in range(5_000):  # a table cut by a label after every prediction
        rp.add_many(pa.array([f"t{i}"]), np.zeros(1), np.zeros(1), np.ones(1, dtype=bool))
        assert rp.take(f"t{i}") == (True, 0.0)
    assert len(rp._chunks) <= 2 and len(rp) == 5_000
