"""Per-artist title blocks: queued rows against the titles of one library artist at a time.

One rapidfuzz cdist per artist keeps a 10,000-track artist from becoming 10,000 pairs per
scrobble, and a scrobble is never compared with the tracks of an artist outside its block.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from rapidfuzz import fuzz, process

# Another recording of the same song (equal bases, different keys) scores its base similarity
# less this: high, but below a close title of the same recording.
VERSION_PENALTY = 15
# Below this many cells a cdist is cheaper on one thread than the cost of starting workers.
_PARALLEL_CELLS = 50_000


def title_scores(
    s_key: np.ndarray,
    s_base: np.ndarray,
    l_key: np.ndarray,
    l_base: np.ndarray,
    *,
    pairwise: bool = False,
) -> np.ndarray:
    """Return title similarities, 0-100: fuzz.ratio of the keys, or of the bases less
    VERSION_PENALTY, whichever is higher. A (queries x choices) matrix, or with `pairwise` one
    score per position of equally long arrays."""
    workers = -1 if len(s_key) * (1 if pairwise else len(l_key)) > _PARALLEL_CELLS else 1
    compare = process.cpdist if pairwise else process.cdist
    # fuzz.ratio, not token_sort_ratio: a typo that merges or re-initials a word reorders
    # sorted tokens, and titles rarely swap words.
    keys = compare(s_key, l_key, scorer=fuzz.ratio, dtype=np.int16, workers=workers)
    bases = compare(s_base, l_base, scorer=fuzz.ratio, dtype=np.int16, workers=workers)
    return np.asarray(np.maximum(keys, bases - VERSION_PENALTY))


def closest_titles(
    rows: pd.DataFrame, s: pd.DataFrame, idx: pd.DataFrame, keep: int
) -> pd.DataFrame:
    """Return (sid, lid, score): for each (sid, artist) of `rows`, the `keep` library tracks
    listed under that artist in `idx` whose titles are closest to the row's (`title_scores`).

    Artists absent from `idx` yield nothing; fewer than `keep` tracks yield them all.
    """
    empty = pd.DataFrame({"sid": [], "lid": [], "score": []}, dtype=np.int64)
    if rows.empty:
        return empty
    by_artist = np.argsort(_name_codes(idx["artist"].to_numpy()), kind="stable")
    l_names, l_lid = idx["artist"].to_numpy()[by_artist], idx.index.to_numpy()[by_artist]
    l_key = idx["title_key"].to_numpy()[by_artist]
    l_base = idx["title_base"].to_numpy()[by_artist]
    q_sid = rows["sid"].to_numpy()
    by_artist = np.lexsort((q_sid, _name_codes(rows["artist"].to_numpy())))
    q_names, q_sid = rows["artist"].to_numpy()[by_artist], q_sid[by_artist]
    q_key, q_base = s["title_key"].to_numpy()[q_sid], s["title_base"].to_numpy()[q_sid]
    q_start = np.flatnonzero(np.r_[True, q_names[1:] != q_names[:-1]])
    q_end = np.r_[q_start[1:], len(rows)]
    l_start = np.searchsorted(l_names, q_names[q_start], side="left")
    l_end = np.searchsorted(l_names, q_names[q_start], side="right")
    # arrays per artist, one frame at the end: a DataFrame per artist and their concat were
    # ~0.9 s of a 100,000-track match
    sids: list[np.ndarray] = []
    lids: list[np.ndarray] = []
    found: list[np.ndarray] = []
    for qa, qb, la, lb in zip(q_start, q_end, l_start, l_end, strict=True):
        if la == lb:
            continue
        scores = title_scores(q_key[qa:qb], q_base[qa:qb], l_key[la:lb], l_base[la:lb])
        top = min(keep, lb - la)
        best = np.argpartition(-scores, top - 1, axis=1)[:, :top]
        sids.append(np.repeat(q_sid[qa:qb], top))
        lids.append(l_lid[la:lb][best.ravel()])
        found.append(np.take_along_axis(scores, best, axis=1).ravel())
    if not sids:
        return empty
    return pd.DataFrame(
        {
            "sid": np.concatenate(sids).astype(np.int64),
            "lid": np.concatenate(lids).astype(np.int64),
            "score": np.concatenate(found).astype(np.int64),
        }
    )


def _name_codes(names: np.ndarray) -> np.ndarray:
    """Codes in the sorted order of the distinct names, a missing name last: a stable sort by
    them orders as sort_values(kind="stable") does, sorting each distinct name once (200,000
    library rows: 0.02 s instead of 0.07 s)."""
    codes, uniques = pd.factorize(names, sort=True)
    return np.where(codes < 0, len(uniques), codes)
