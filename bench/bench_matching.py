"""Matching at scale on synthetic data: match_exact and suggest against the budgets.

    .venv/bin/python -m bench.bench_matching            # 100k scrobbled x 200k library, 20k queued
    .venv/bin/python -m bench.bench_matching --library 20000 --scrobbled 10000 --queued 2000

The data imitates what makes matching slow or hard: a few artists with very many tracks (Zipf),
compilations and deluxe editions repeating the same songs, remaster/live/remix/feat. suffixes,
diacritics, typos, and scrobbles of artists the library does not have. Budgets (2 cores):
match_exact < 15 s, suggest on 20k queued < 60 s, peak RSS < 1.5 GB.
"""

from __future__ import annotations

import argparse
import resource
import time

import numpy as np
import pandas as pd

from daemon.matching import STATUS_AUTO, STATUS_QUEUED, match_exact, suggest

BUDGET_MATCH_S, BUDGET_SUGGEST_S, BUDGET_RSS_MB = 15.0, 60.0, 1536.0
ONSETS = ["b", "br", "c", "d", "f", "g", "gr", "h", "j", "k", "l", "m", "n", "p", "r", "s", "st",
          "t", "tr", "v", "w", "z", "ch", "sh"]  # fmt: skip
VOWELS = ["a", "e", "i", "o", "u", "ai", "ou", "é", "ö", "á"]
CODAS = ["", "", "n", "r", "s", "l", "th", "ck", "m"]
TITLE_SUFFIXES = [
    " - 2011 Remaster",
    " (Remastered 2009)",
    " - Single Version",
    " (Mono)",
    " [Remastered]",
    " (feat. {other})",
]
VERSION_SUFFIXES = [" - Live", " (Live at {word})", " - Acoustic", " - {other} Remix", " (Demo)"]


def _words(rng: np.random.Generator, n: int) -> np.ndarray:
    parts = [
        rng.choice(ONSETS, n),
        rng.choice(VOWELS, n),
        rng.choice(CODAS, n),
        rng.choice(ONSETS, n),
        rng.choice(VOWELS, n),
    ]
    return np.unique(["".join(p) for p in zip(*parts, strict=True)])


def _phrase(rng: np.random.Generator, vocab: np.ndarray, most: int) -> str:
    return " ".join(rng.choice(vocab, rng.integers(1, most + 1))).title()


def make_library(rng: np.random.Generator, n_tracks: int, vocab: np.ndarray) -> pd.DataFrame:
    """Albums of 8-16 tracks by Zipf-weighted artists; compilations and deluxe copies repeat
    songs."""
    n_artists = max(n_tracks // 8, 10)
    artists = [
        ("The " if rng.random() < 0.15 else "") + _phrase(rng, vocab, 3) for _ in range(n_artists)
    ]
    weights = 1.0 / np.arange(1, n_artists + 1) ** 0.9
    rows: list[tuple[str, str, str, str, int, bool]] = []
    while len(rows) < n_tracks:
        kind = rng.random()
        year = int(rng.integers(1960, 2025))
        if kind < 0.05 and rows:  # compilation of earlier songs
            album = _phrase(rng, vocab, 3) + " Hits"
            for i in rng.integers(0, len(rows), int(rng.integers(10, 20))):
                _, title, _, artist, _, _ = rows[int(i)]
                rows.append(("Various Artists", title, album, artist, year, True))
            continue
        artist = artists[int(rng.choice(n_artists, p=weights / weights.sum()))]
        album = _phrase(rng, vocab, 3)
        titles = [_phrase(rng, vocab, 4) for _ in range(int(rng.integers(8, 17)))]
        titles = [
            t + str(rng.choice(TITLE_SUFFIXES[:5])) if rng.random() < 0.08 else t for t in titles
        ]
        editions = [album] + ([album + " (Deluxe Edition)"] if kind > 0.97 else [])
        for edition in editions:
            rows.extend((artist, t, edition, "", year, False) for t in titles)
    frame = pd.DataFrame(
        rows[:n_tracks],
        columns=["album_artist", "title", "album", "track_artist", "album_year", "is_compilation"],
    )
    frame.insert(0, "rating_key", np.arange(1, len(frame) + 1) * 7)
    mbid = rng.random(len(frame)) < 0.3
    frame["track_mbid"] = np.where(mbid, [f"t-{k}" for k in frame["rating_key"]], "")
    frame["album_mbid"], frame["artist_mbid"] = "", ""
    return frame


def _typo(rng: np.random.Generator, s: str) -> str:
    i = int(rng.integers(1, max(len(s) - 1, 2)))
    return s[:i] + s[i + 1 :]


def make_scrobbled(
    rng: np.random.Generator, library: pd.DataFrame, n: int, vocab: np.ndarray
) -> pd.DataFrame:
    """Distinct scrobbled tracks: mostly library songs written differently, some other
    versions, typos, and artists the library lacks."""
    picks = library.iloc[rng.integers(0, len(library), n * 2)]
    rows = []
    for (_, t), r in zip(picks.iterrows(), rng.random(len(picks)), strict=True):
        artist = t["track_artist"] or t["album_artist"]
        title, album, mbid = t["title"], t["album"], t["track_mbid"]
        if r < 0.55:
            kind = "respelled"
            artist = artist.removeprefix("The ") if r < 0.2 else artist.upper()
            title = title + " - 2014 Remaster" if r < 0.3 else title.lower()
            album = album + " (Deluxe)" if r < 0.1 else album
        elif r < 0.65:
            kind, mbid = "other version", ""
            suffix = str(rng.choice(VERSION_SUFFIXES))
            title += suffix.format(word=_phrase(rng, vocab, 1), other=_phrase(rng, vocab, 2))
        elif r < 0.75:
            kind, title, mbid = "typo", _typo(rng, title), ""
        elif r < 0.85:
            kind, mbid = "unknown artist", ""
            artist, title = _phrase(rng, vocab, 2), _phrase(rng, vocab, 3)
        else:
            kind = "other album"  # the album choice or the ranking decides
            album = _phrase(rng, vocab, 2)
        rows.append((artist, title, album, 1, "", mbid, "", kind, t["rating_key"]))
    frame = pd.DataFrame(
        rows,
        columns=[
            "artist",
            "title",
            "album",
            "plays",
            "artist_mbid",
            "track_mbid",
            "album_mbid",
            "kind",
            "source",
        ],
    )
    return frame.drop_duplicates(["artist", "title", "album"]).head(n).reset_index(drop=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--library", type=int, default=200_000)
    parser.add_argument("--scrobbled", type=int, default=100_000)
    parser.add_argument("--queued", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    vocab = _words(rng, 12_000)
    library = make_library(rng, args.library, vocab)
    scrobbled = make_scrobbled(rng, library, args.scrobbled, vocab)
    print(f"library {len(library):,} tracks, scrobbled {len(scrobbled):,} distinct tracks")

    start = time.perf_counter()
    decisions = match_exact(scrobbled, library)
    match_s = time.perf_counter() - start
    print(f"match_exact: {match_s:.1f} s (budget {BUDGET_MATCH_S:.0f} s)")
    outcome = decisions["status"].where(decisions["status"] != STATUS_QUEUED, decisions["reason"])
    print(pd.crosstab(scrobbled["kind"], outcome.rename("outcome")).to_string())
    auto = decisions["status"] == STATUS_AUTO
    on_source = decisions["rating_key"] == scrobbled["source"]
    print(
        f"auto on the very source track: {int((auto & on_source).sum()):,} of {int(auto.sum()):,}"
        " (the others went to another copy with the same key: compilation, deluxe)"
    )

    queued = scrobbled[(decisions["status"] == STATUS_QUEUED).to_numpy()]
    queued = queued.sample(min(args.queued, len(queued)), random_state=args.seed)
    start = time.perf_counter()
    suggestions = suggest(queued, library)
    suggest_s = time.perf_counter() - start
    print(f"suggest: {len(queued):,} queued in {suggest_s:.1f} s (budget {BUDGET_SUGGEST_S:.0f} s)")
    lists = suggestions["suggestions"]
    top = pd.Series([x[0][0] if x else 0 for x in lists], index=lists.index)
    listed = pd.Series(
        [any(k == src for k, _ in x) for x, src in zip(lists, queued["source"], strict=True)],
        index=lists.index,
    )
    quality = pd.DataFrame(
        {
            "queued": 1,
            "source first": top == queued["source"],
            "source listed": listed,
            "no suggestion": lists.str.len() == 0,
        }
    )
    print(quality.groupby(queued["kind"]).sum().to_string())
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS: {rss_mb:.0f} MB (budget {BUDGET_RSS_MB:.0f} MB)")


if __name__ == "__main__":
    main()
