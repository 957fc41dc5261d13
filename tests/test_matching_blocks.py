"""The suggestions' blocking helpers against the plain forms they replace (same results)."""

from __future__ import annotations

import importlib

import numpy as np
import pandas as pd
from rapidfuzz import fuzz, process

from daemon.matching.frames import distinct_rows, pairs

suggest_module = importlib.import_module("daemon.matching.suggest")


def _argpartition_rows(scores: np.ndarray, limit: int) -> set[tuple[int, int]]:
    """The fuzzy artist block as first written: every row partitioned, zero cells dropped."""
    best = np.argpartition(-scores.astype(np.int16), limit - 1, axis=1)[:, :limit].ravel()
    rows = np.repeat(np.arange(len(scores)), limit)
    keep = scores[rows, best] > 0
    return set(zip(rows[keep].tolist(), best[keep].tolist(), strict=True))


def test_best_per_row_keeps_what_a_partition_of_every_row_keeps() -> None:
    rng = np.random.default_rng(16)
    for limit in (1, 3, 5):
        # mostly zeros, some rows with a few hits, some with many, ties at the boundary
        scores = np.where(rng.random((300, 400)) < 0.02, rng.choice([80, 85, 90, 100], (300, 400)),
                          0).astype(np.uint8)
        scores[::7] = 0
        scores[5, :20] = 90  # twenty equal scores: the partition's choice among ties is kept
        rows, cols = suggest_module._best_per_row(scores, limit)
        got = list(zip(rows.tolist(), cols.tolist(), strict=True))
        assert len(got) == len(set(got))
        assert set(got) == _argpartition_rows(scores, limit)
        assert np.bincount(rows, minlength=300).max() <= limit


def test_best_per_row_of_an_empty_block() -> None:
    rows, cols = suggest_module._best_per_row(np.zeros((4, 6), dtype=np.uint8), 3)
    assert rows.size == cols.size == 0


def _merged(left: pd.DataFrame, right: pd.DataFrame, on: list[str],
            carry: tuple[str, ...] = ()) -> pd.DataFrame:
    """`pairs` as first written: a merge on the text columns themselves."""
    lhs = left[on].rename_axis("sid").reset_index()
    rhs = right[[*on, *carry]].rename_axis("lid").reset_index()
    return lhs.merge(rhs, on=on)[["sid", "lid", *carry]]


def test_pairs_are_the_merge_on_the_text_in_the_same_order() -> None:
    rng = np.random.default_rng(17)
    words = np.array(["a", "b", "", "c d", "é", "a ", None], dtype=object)
    left = pd.DataFrame({"artist": rng.choice(words, 300), "title": rng.choice(words, 300)},
                        index=pd.Index(rng.permutation(1000)[:300]), dtype=object)
    right = pd.DataFrame({"artist": rng.choice(words, 200), "title": rng.choice(words, 200),
                          "via": rng.random(200) < 0.5},
                         index=pd.Index(np.arange(500, 700)))
    for on, carry in ((["artist"], ()), (["artist", "title"], ("via",)), (["title"], ("via",))):
        got = pairs(left, right, on, carry)
        pd.testing.assert_frame_equal(got, _merged(left, right, on, carry))
        assert len(got) > 0
    assert pairs(left.iloc[:0], right, ["artist"]).empty


def _distinct_stepwise(*codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """`distinct_rows` as first written: the combination hashed once per extra column."""
    inverse = codes[0] if len(codes) > 1 else pd.factorize(codes[0])[0]
    for more in codes[1:]:
        inverse = pd.factorize(inverse * (int(more.max(initial=0)) + 1) + more)[0]
    seen = np.maximum.accumulate(inverse)
    return np.flatnonzero(np.r_[True, inverse[1:] > seen[:-1]]), inverse


def test_distinct_rows_number_combinations_as_before() -> None:
    rng = np.random.default_rng(18)
    for sizes in ((5,), (3, 4), (7, 2, 5, 3), (1 << 40, 1 << 30, 3)):  # the last overflows
        codes = [rng.integers(0, min(n, 50), 2000) * (n // min(n, 50)) for n in sizes]
        first, inverse = distinct_rows(*codes)
        want_first, want_inverse = _distinct_stepwise(*codes)
        assert inverse.tolist() == want_inverse.tolist()
        assert first.tolist() == want_first.tolist()


def test_similarity_is_token_sort_ratio() -> None:
    texts = ["dua lipa and calvin harris", "calvin harris and dua lipa", "a", "a a b", "b a a",
             "  spaced   out ", "out spaced", "björk", "sigur rós", "rós sigur", "abc ab",
             "ab abc", "x", "", "the the", "東京 事変", "事変 東京", "ab\tcd", "cd ab"]
    a = np.array([t for t in texts for _ in texts], dtype=object)
    b = np.array([u for _ in texts for u in texts], dtype=object)
    want = process.cpdist(a, b, scorer=fuzz.token_sort_ratio, dtype=np.float32)
    want = np.where((a == "") | (b == ""), 0.0, want)
    assert suggest_module._similarity(a, b).tolist() == want.tolist()


def test_contenders_are_the_rows_reaching_their_tracks_nth_best_score() -> None:
    rng = np.random.default_rng(19)
    sid = rng.integers(0, 60, 3000)
    sid[sid == 7] = 8  # a sid with no rows
    score = rng.choice([40, 55, 70, 71, 90, 100], 3000)
    for limit in (0, 1, 2, 5, 200):
        got = suggest_module._contenders(sid, score, limit)
        for track in np.unique(sid):
            scores = np.sort(score[sid == track])[::-1]
            nth = scores[min(max(limit, 1), len(scores)) - 1]
            assert got[sid == track].tolist() == (score[sid == track] >= nth).tolist()
    assert suggest_module._contenders(sid[:0], score[:0], 5).size == 0


def test_pairs_with_an_empty_side_are_the_merge_with_it() -> None:
    left = pd.DataFrame({"k": np.array(["a", "b"], dtype=object)}, index=pd.Index([3, 4]))
    right = pd.DataFrame({"k": np.array(["a"], dtype=object), "via": [True]},
                         index=pd.Index([9]))
    empty_left, empty_right = left.iloc[:0], right.iloc[:0]
    for lhs, rhs in ((empty_left, right), (left, empty_right), (empty_left, empty_right)):
        pd.testing.assert_frame_equal(pairs(lhs, rhs, ["k"], ("via",)),
                                      _merged(lhs, rhs, ["k"], ("via",)))
