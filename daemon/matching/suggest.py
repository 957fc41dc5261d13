"""Ranked suggestions for queued scrobbles: blocking, then rapidfuzz scores (pure).

Candidates come only from blocks, never from a cross product of queue and library:
the scrobble's artist or any credited artist (album or track artist, or the same artist MBID);
library artists whose name is fuzzily close; library tracks with the same title base under any
artist (a transliterated artist); library tracks sharing one of the title's rarest words (a typo
elsewhere in the title).

Ranking: the score, then the closer literal title (punctuation kept: "In the Flesh" before
"In the Flesh?" for a scrobbled "In The Flesh"), then the lower rating_key. A candidate whose
title numbers conflict with the scrobble's ("III." and "IV.", "Part 1" and "Part II") loses
NUMBER_PENALTY points of title similarity.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from rapidfuzz import fuzz, process

from daemon.matching.blocking import closest_titles, title_scores
from daemon.matching.frames import (
    artist_index,
    codes_at,
    credit_index,
    distinct_rows,
    empty_lists,
    given,
    object_frame,
    pairs,
    prepare_library,
    prepare_scrobbled,
    put_lists,
    runs,
)
from daemon.matching.numbering import numbers_conflict, title_numbers

SUGGESTION_LIMIT = 5
MIN_SUGGESTION_SCORE = 40
# Fuzzy artist block: fuzz.ratio on artist keys, best few library names per queued name.
ARTIST_BLOCK_SCORE = 80
ARTIST_BLOCK_LIMIT = 3
# Per (queued row, block artist): only this many of the artist's titles, the closest, are scored.
ARTIST_BLOCK_TOP = 20
# A title base or a word shared by more library tracks than this blocks nothing: "Intro" or
# "love" would pull in thousands of unrelated tracks.
TITLE_BLOCK_CAP = 200
TOKEN_BLOCK_CAP = 50
TOKENS_PER_TITLE = 2
# score = title, artist and album similarities (0-100) weighted; the title weighs most.
WEIGHT_TITLE, WEIGHT_ARTIST, WEIGHT_ALBUM = 0.55, 0.35, 0.10
# Title similarity lost when the titles' numbers (movement, part, opus) conflict.
NUMBER_PENALTY = 30
_CHUNK = 1024


def _close_artists(s: pd.DataFrame, names: np.ndarray) -> pd.DataFrame:
    """Return (sid, artist) for queued artists the library lacks: the closest library names."""
    queries = np.setdiff1d(s["artist"].unique().astype(str), names.astype(str))
    limit = min(ARTIST_BLOCK_LIMIT, len(names))
    found = [pd.DataFrame({"q": [], "artist": []}, dtype=object)]
    for start in range(0, len(queries) if limit else 0, _CHUNK):
        chunk = queries[start : start + _CHUNK]
        scores = process.cdist(
            chunk,
            names,
            scorer=fuzz.ratio,
            dtype=np.uint8,
            score_cutoff=ARTIST_BLOCK_SCORE,
            workers=-1,
        )
        rows, best = _best_per_row(scores, limit)
        found.append(pd.DataFrame({"q": chunk[rows], "artist": names[best]}))
    queued = pd.DataFrame({"sid": s.index, "q": s["artist"]})
    return queued.merge(pd.concat(found), on="q")[["sid", "artist"]]


def _best_per_row(scores: np.ndarray, limit: int) -> tuple[np.ndarray, np.ndarray]:
    """Return (row, column) of each row's `limit` highest non-zero scores (all of them when
    there are no more): an argpartition of the rows holding more, the others' non-zero cells
    as they are. Most rows hold none (every score below the cutoff): partitioning every row
    of the blocks cost ~0.1 s per match for nothing."""
    hits = np.count_nonzero(scores, axis=1)
    few = np.flatnonzero((hits > 0) & (hits <= limit))
    at, cols = np.nonzero(scores[few])
    crowded = np.flatnonzero(hits > limit)
    best = np.argpartition(-scores[crowded].astype(np.int16), limit - 1, axis=1)[:, :limit]
    return np.r_[few[at], np.repeat(crowded, limit)], np.r_[cols, best.ravel()]


def _artist_rows(s: pd.DataFrame, lib: pd.DataFrame, idx: pd.DataFrame) -> pd.DataFrame:
    """Return (sid, artist): the library artists each queued row's candidates are drawn from.

    The scrobble's artist and credited artists, the closest names for an artist the library
    lacks, and the album artists carrying the scrobble's artist MBID.
    """
    names = idx["artist"].unique()
    credits = credit_index(s)
    same_mbid = s.loc[s["artist_mbid"] != "", ["artist_mbid"]].rename_axis("sid").reset_index()
    same_mbid = same_mbid.merge(
        lib[["artist_mbid", "album_artist"]].drop_duplicates(), on="artist_mbid"
    )
    return pd.concat(
        [
            credits[credits["artist"].isin(names)],
            _close_artists(s, names),
            same_mbid[["sid", "album_artist"]].set_axis(["sid", "artist"], axis=1),
        ],
        ignore_index=True,
    ).drop_duplicates()


def _title_block(s: pd.DataFrame, lib: pd.DataFrame) -> pd.DataFrame:
    sizes = lib["title_base"].value_counts()
    common = sizes.index[sizes > TITLE_BLOCK_CAP]
    return pairs(
        s[~s["title_base"].isin(common)], lib[~lib["title_base"].isin(common)], ["title_base"]
    )


def _words(texts: pd.Series) -> pd.DataFrame:
    """Return (token) indexed like `texts`: each distinct word of each text, one per row.

    Each distinct text is split once (200,000 library titles hold ~30,000 distinct bases)."""
    codes, uniques = pd.factorize(texts.to_numpy())
    split = [list(dict.fromkeys(t.split())) for t in uniques]
    lengths = np.array([len(w) for w in split], dtype=np.int64)
    flat = np.array([w for ws in split for w in ws], dtype=object)
    counts = lengths[codes]
    before = np.cumsum(counts) - counts  # rows' first output positions
    offsets = np.cumsum(lengths) - lengths  # distinct texts' first positions in `flat`
    at = np.repeat(offsets[codes] - before, counts) + np.arange(int(counts.sum()))
    ids = pd.Index(np.repeat(texts.index.to_numpy(), counts), name="id")
    return object_frame({"token": flat[at]}, index=ids)


def _token_block(s: pd.DataFrame, lib: pd.DataFrame) -> pd.DataFrame:
    postings = _words(lib["title_base"])
    freq = postings["token"].value_counts()
    rare = freq[freq <= TOKEN_BLOCK_CAP]
    tokens = _words(s["title_base"])
    tokens = tokens[tokens["token"].isin(rare.index)].rename_axis("sid").reset_index()
    tokens = tokens.assign(freq=rare.reindex(tokens["token"]).to_numpy())
    tokens = tokens.sort_values(["sid", "freq", "token"]).groupby("sid").head(TOKENS_PER_TITLE)
    return pairs(tokens.set_index("sid"), postings, ["token"])


def _similarity(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Return token_sort_ratio(a[i], b[i]) for each i (names whose words may come in any
    order: "Dua Lipa & Calvin Harris"); 0 where either side is empty."""
    scores = process.cpdist(_tokens_sorted(a), _tokens_sorted(b), scorer=fuzz.ratio,
                            dtype=np.float32, workers=-1)
    return np.where((a == "") | (b == ""), 0.0, scores)


def _tokens_sorted(texts: np.ndarray) -> np.ndarray:
    """Each text's words sorted and joined by one space, each distinct text once: fuzz.ratio
    of these is token_sort_ratio, which sorted both sides' words again for every pair
    (~0.1 s of a 100,000-track match)."""
    codes, uniques = pd.factorize(texts)
    return np.array([" ".join(sorted(t.split())) for t in uniques] or [""], dtype=object)[codes]


def _per_distinct(
    found: pd.DataFrame, s: pd.DataFrame, lib: pd.DataFrame, columns: list[tuple[str, str]]
) -> tuple[list[np.ndarray], np.ndarray]:
    """Return the (s column, lib column) values of `columns` for each distinct combination
    among the (sid, lid) pairs, s's then lib's, and the inverse to spread them back: 733,000
    pairs of a 100,000-track match hold ~200,000-350,000 distinct ones to score."""
    sid, lid = found["sid"].to_numpy(), found["lid"].to_numpy()
    first, inverse = distinct_rows(
        *(codes_at(s, sc, sid) for sc, _ in columns), *(codes_at(lib, lc, lid) for _, lc in columns)
    )
    values = [s[sc].to_numpy()[sid[first]] for sc, _ in columns]
    return [*values, *(lib[lc].to_numpy()[lid[first]] for _, lc in columns)], inverse


def _numbers(literals: np.ndarray) -> np.ndarray:
    codes, uniques = pd.factorize(literals)
    return np.array([title_numbers(u) for u in uniques] or [""], dtype=object)[codes]


def _score(found: pd.DataFrame, s: pd.DataFrame, lib: pd.DataFrame) -> np.ndarray:
    """Return an int score 0-100 per (sid, lid) pair."""
    sid, lid = found["sid"].to_numpy(), found["lid"].to_numpy()

    def same(column: str) -> np.ndarray:  # compared only where the scrobble has a value
        values = s[column].to_numpy()
        at = np.flatnonzero((values != "")[sid])  # often none: most scrobbles lack an MBID
        out = np.zeros(len(sid), dtype=bool)
        out[at] = values[sid[at]] == lib[column].to_numpy()[lid[at]]
        return out

    def similarity(s_col: str, l_col: str | None = None) -> np.ndarray:
        (a, b), inverse = _per_distinct(found, s, lib, [(s_col, l_col or s_col)])
        return np.asarray(_similarity(a, b)[inverse])

    (s_key, s_base, l_key, l_base), inverse = _per_distinct(
        found, s, lib, [("title_key", "title_key"), ("title_base", "title_base")]
    )
    title = title_scores(s_key, s_base, l_key, l_base, pairwise=True)[inverse]
    s_numbers = _numbers(s["title_literal"].to_numpy())[sid]
    numbered = s_numbers != ""  # most scrobbled titles have none: skip their candidates
    l_numbers = np.full(len(found), "", dtype=object)
    l_numbers[numbered] = _numbers(lib["title_literal"].to_numpy()[lid[numbered]])
    title = title - NUMBER_PENALTY * numbers_conflict(s_numbers, l_numbers)
    artist = np.maximum(similarity("artist", "album_artist"), similarity("artist", "track_artist"))
    artist = np.where(same("artist_mbid"), 100.0, artist)
    album = np.where(same("album_full") | same("album_mbid"), 100.0, similarity("album_key"))
    score = WEIGHT_TITLE * title + WEIGHT_ARTIST * artist + WEIGHT_ALBUM * album
    score = np.where(same("track_mbid"), 100.0, score)
    return np.clip(np.rint(score), 0, 100).astype(np.int64)


def _literal_similarity(found: pd.DataFrame, s: pd.DataFrame, lib: pd.DataFrame) -> np.ndarray:
    """Return fuzz.ratio of the literal titles (punctuation kept) per (sid, lid) pair: the
    order among equal scores."""
    (a, b), inverse = _per_distinct(found, s, lib, [("title_literal", "title_literal")])
    scores = process.cpdist(a, b, scorer=fuzz.ratio, dtype=np.float32, workers=-1)
    return np.asarray(scores[inverse])


def _contenders(sid: np.ndarray, score: np.ndarray, limit: int) -> np.ndarray:
    """Return, per row, whether its score (an int 0-100) reaches the `limit`-th best score of
    its sid, ties included: only those rows can be among the sid's first `limit` once ordered
    by score, literal title and key, so the rest need neither ordering nor a literal score
    (~36 candidates per queued track, 5 kept)."""
    if not len(sid):
        return np.zeros(0, dtype=bool)
    key = np.sort(sid.astype(np.int64) * 128 + (100 - score))  # by sid, best score first
    sids = key // 128
    first = np.flatnonzero(np.r_[True, sids[1:] != sids[:-1]])
    last = np.r_[first[1:], len(key)] - 1
    threshold = np.zeros(int(sids[-1]) + 1, dtype=np.int64)
    threshold[sids[first]] = 100 - key[np.minimum(first + max(limit, 1) - 1, last)] % 128
    return np.asarray(score >= threshold[sid], dtype=bool)


def suggest(
    queued: pd.DataFrame,
    library: pd.DataFrame | None,
    limit: int = SUGGESTION_LIMIT,
    *,
    prepared: pd.DataFrame | None = None,
    prepared_queued: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Return, per queued row (same index), `suggestions`: up to `limit` (rating_key, score).

    Best first; scores are ints 0-100, deterministic, ties broken by the lower rating_key;
    suggestions below MIN_SUGGESTION_SCORE are left out (the list may be empty).
    `prepared`: `prepare_library(library)` when the caller has it already; `prepared_queued`:
    likewise `prepare_scrobbled(queued)`; as for `match_exact`, with them given `library` may
    be None and only `queued`'s index is read.
    """
    s = prepare_scrobbled(queued) if prepared_queued is None else prepared_queued
    lib = prepared if prepared is not None else prepare_library(given(library))
    idx = artist_index(lib)
    keep = max(ARTIST_BLOCK_TOP, limit)
    blocks = [
        closest_titles(_artist_rows(s, lib, idx), s, idx, keep)[["sid", "lid"]],
        _title_block(s, lib),
        _token_block(s, lib),
    ]
    found = pd.concat(blocks, ignore_index=True).astype(np.int64).drop_duplicates()
    scored = pd.DataFrame(
        {
            "sid": found["sid"].to_numpy(),
            "rating_key": lib["rating_key"].to_numpy()[found["lid"].to_numpy()],
            "score": _score(found, s, lib),
        }
    )
    enough = scored["score"].to_numpy() >= MIN_SUGGESTION_SCORE
    enough[enough] = _contenders(scored["sid"].to_numpy()[enough],
                                 scored["score"].to_numpy()[enough], limit)
    scored, found = scored[enough], found[enough]
    tied = scored.duplicated(["sid", "score"], keep=False).to_numpy()
    literal = np.zeros(len(scored), dtype=np.float32)
    literal[tied] = _literal_similarity(found[tied], s, lib)
    scored = scored.assign(literal=literal)
    scored = scored.sort_values(
        ["sid", "score", "literal", "rating_key"], ascending=[True, False, False, True]
    )
    top = scored.groupby("sid", sort=False).head(limit)
    lists = runs(
        top["sid"].to_numpy(),
        list(zip(top["rating_key"].tolist(), top["score"].tolist(), strict=True)),
    )
    result = empty_lists(len(s))
    put_lists(result, lists.index, lists)
    return pd.DataFrame({"suggestions": result}, index=queued.index)
