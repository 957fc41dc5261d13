"""Ranked suggestions for queued scrobbles: blocking, then rapidfuzz scores (pure).

Candidates come only from blocks, never from a cross product of queue and library:
the scrobble's artist or any credited artist (album or track artist, or the same artist MBID);
library artists whose name is fuzzily close; library tracks with the same title base under any
artist (a transliterated artist); library tracks sharing one of the title's rarest words (a typo
elsewhere in the title).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from rapidfuzz import fuzz, process

from daemon.matching.frames import (
    artist_index,
    credit_index,
    empty_lists,
    prepare_library,
    prepare_scrobbled,
    put_lists,
)

SUGGESTION_LIMIT = 5
MIN_SUGGESTION_SCORE = 40
# Fuzzy artist block: fuzz.ratio on artist keys, best few library names per queued name.
ARTIST_BLOCK_SCORE = 80
ARTIST_BLOCK_LIMIT = 3
# A title base or a word shared by more library tracks than this blocks nothing: "Intro" or
# "love" would pull in thousands of unrelated tracks.
TITLE_BLOCK_CAP = 200
TOKEN_BLOCK_CAP = 50
TOKENS_PER_TITLE = 2
# score = title, artist and album similarities (0-100) weighted; the title weighs most.
WEIGHT_TITLE, WEIGHT_ARTIST, WEIGHT_ALBUM = 0.55, 0.35, 0.10
# The same song in another recording still ranks high, below a close title of the same recording.
VERSION_PENALTY = 15
_CHUNK = 1024


def _pairs_on(left: pd.DataFrame, right: pd.DataFrame, lcol: str, rcol: str) -> pd.DataFrame:
    """Return (sid, lid) where left[lcol] == right[rcol]; left holds sid, right holds lid."""
    return left[["sid", lcol]].merge(right[["lid", rcol]], left_on=lcol, right_on=rcol)[
        ["sid", "lid"]
    ]


def _artist_block(s: pd.DataFrame, lib: pd.DataFrame, idx: pd.DataFrame) -> pd.DataFrame:
    by_name = _pairs_on(credit_index(s), idx, "artist", "artist")
    s_mbid = s.loc[s["artist_mbid"] != "", ["artist_mbid"]].rename_axis("sid").reset_index()
    l_mbid = lib.loc[lib["artist_mbid"] != "", ["artist_mbid"]].rename_axis("lid").reset_index()
    return pd.concat([by_name, _pairs_on(s_mbid, l_mbid, "artist_mbid", "artist_mbid")])


def _fuzzy_artist_block(s: pd.DataFrame, idx: pd.DataFrame) -> pd.DataFrame:
    """Pairs for queued artists the library lacks, via the closest distinct library names."""
    names = idx["artist"].unique()
    queries = np.setdiff1d(s["artist"].unique().astype(str), names.astype(str))
    found: list[pd.DataFrame] = []
    limit = min(ARTIST_BLOCK_LIMIT, len(names))
    for start in range(0, len(queries) if limit else 0, _CHUNK):
        chunk = queries[start : start + _CHUNK]
        scores = process.cdist(chunk, names, scorer=fuzz.ratio, dtype=np.uint8,
                               score_cutoff=ARTIST_BLOCK_SCORE, workers=-1)  # fmt: skip
        best = np.argpartition(-scores.astype(np.int16), limit - 1, axis=1)[:, :limit]
        rows = np.repeat(np.arange(len(chunk)), limit)
        keep = scores[rows, best.ravel()] > 0
        found.append(pd.DataFrame({"q": chunk[rows[keep]], "artist": names[best.ravel()[keep]]}))
    if not found:
        return pd.DataFrame({"sid": [], "lid": []}, dtype=np.int64)
    close = pd.concat(found)
    queued = pd.DataFrame({"sid": s.index, "q": s["artist"]}).merge(close, on="q")
    return _pairs_on(queued, idx, "artist", "artist")


def _title_block(s: pd.DataFrame, lib: pd.DataFrame) -> pd.DataFrame:
    sizes = lib["title_base"].value_counts()
    common = sizes.index[sizes > TITLE_BLOCK_CAP]
    left = s[["title_base"]].rename_axis("sid").reset_index()
    right = lib.loc[~lib["title_base"].isin(common), ["title_base"]].rename_axis("lid")
    return _pairs_on(left[~left["title_base"].isin(common)], right.reset_index(), "title_base",
                     "title_base")  # fmt: skip


def _words(texts: pd.Series, id_name: str) -> pd.DataFrame:
    """Return (id_name, token): each distinct word of each text, under the text's index."""
    split = [t.split() for t in texts.tolist()]
    ids = np.repeat(texts.index.to_numpy(), [len(w) for w in split])
    words = pd.DataFrame({id_name: ids, "token": [w for ws in split for w in ws]})
    return words.drop_duplicates()


def _token_block(s: pd.DataFrame, lib: pd.DataFrame) -> pd.DataFrame:
    postings = _words(lib["title_base"], "lid")
    freq = postings["token"].value_counts()
    rare = freq[freq <= TOKEN_BLOCK_CAP]
    tokens = _words(s["title_base"], "sid")
    tokens = tokens[tokens["token"].isin(rare.index)]
    tokens = tokens.assign(freq=rare.reindex(tokens["token"]).to_numpy())
    tokens = tokens.sort_values(["sid", "freq", "token"]).groupby("sid").head(TOKENS_PER_TITLE)
    return _pairs_on(tokens, postings, "token", "token")


def _similarity(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Return token_sort_ratio(a[i], b[i]) for each i; 0 where either side is empty."""
    scores = process.cpdist(a, b, scorer=fuzz.token_sort_ratio, dtype=np.float32, workers=-1)
    return np.where((a == "") | (b == ""), 0.0, scores)


def _score(pairs: pd.DataFrame, s: pd.DataFrame, lib: pd.DataFrame) -> np.ndarray:
    """Return an int score 0-100 per (sid, lid) pair."""
    sid, lid = pairs["sid"].to_numpy(), pairs["lid"].to_numpy()

    def both(s_col: str, l_col: str | None = None) -> tuple[np.ndarray, np.ndarray]:
        return s[s_col].to_numpy()[sid], lib[l_col or s_col].to_numpy()[lid]

    def same(column: str) -> np.ndarray:
        a, b = both(column)
        return np.asarray((a != "") & (a == b), dtype=bool)

    title = np.maximum(_similarity(*both("title_key")),
                       _similarity(*both("title_base")) - VERSION_PENALTY)  # fmt: skip
    artist = np.maximum(_similarity(*both("artist", "album_artist")),
                        _similarity(*both("artist", "track_artist")))  # fmt: skip
    artist = np.where(same("artist_mbid"), 100.0, artist)
    album = np.where(same("album_full") | same("album_mbid"), 100.0,
                     _similarity(*both("album_key")))  # fmt: skip
    score = WEIGHT_TITLE * title + WEIGHT_ARTIST * artist + WEIGHT_ALBUM * album
    score = np.where(same("track_mbid"), 100.0, score)
    return np.clip(np.rint(score), 0, 100).astype(np.int64)


def suggest(
    queued: pd.DataFrame, library: pd.DataFrame, limit: int = SUGGESTION_LIMIT
) -> pd.DataFrame:
    """Return, per queued row (same index), `suggestions`: up to `limit` (rating_key, score).

    Best first; scores are ints 0-100, deterministic, ties broken by the lower rating_key;
    suggestions below MIN_SUGGESTION_SCORE are left out (the list may be empty).
    """
    s, lib = prepare_scrobbled(queued), prepare_library(library)
    idx = artist_index(lib)
    blocks = [_artist_block(s, lib, idx), _fuzzy_artist_block(s, idx), _title_block(s, lib),
              _token_block(s, lib)]  # fmt: skip
    pairs = pd.concat(blocks, ignore_index=True).astype(np.int64).drop_duplicates()
    scored = pd.DataFrame(
        {
            "sid": pairs["sid"].to_numpy(),
            "rating_key": lib["rating_key"].to_numpy()[pairs["lid"].to_numpy()],
            "score": _score(pairs, s, lib),
        }
    )
    scored = scored[scored["score"] >= MIN_SUGGESTION_SCORE]
    scored = scored.sort_values(["sid", "score", "rating_key"], ascending=[True, False, True])
    top = scored.groupby("sid", sort=False).head(limit)
    lists = pd.Series(
        list(zip(top["rating_key"].tolist(), top["score"].tolist(), strict=True)),
        index=top["sid"].to_numpy(),
        dtype=object,
    ).groupby(level=0).agg(list)
    result = empty_lists(len(s))
    put_lists(result, lists.index, lists)
    return pd.DataFrame({"suggestions": result}, index=queued.index)
