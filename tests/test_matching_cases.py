"""Every matching case (public and our own) through match_exact + suggest.

A case is one scrobble, a small library and an expectation (see the top of cases.yaml):
auto: N -> matched to library[N]; queue: true -> queued; queue_top: N -> queued, and
library[N] is the first suggestion. Our extra cases may also pin the rule, the reason and the
alternatives (as library positions).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml

from daemon.matching import STATUS_AUTO, STATUS_QUEUED, match_exact, suggest
from daemon.matching.frames import Names, prepare_library, prepare_scrobbled

CASES_DIR = Path(__file__).parent / "fixtures" / "matching"
CASE_FILES = ("cases.yaml", "extra_cases.yaml")
VARIOUS_ARTISTS = "Various Artists"


def _load() -> list[Any]:
    params = []
    for name in CASE_FILES:
        for case in yaml.safe_load((CASES_DIR / name).read_text(encoding="utf-8")):
            params.append(pytest.param(case, id=f"{name.removesuffix('.yaml')}: {case['name']}"))
    return params


def _rating_keys(rows: list[dict[str, Any]]) -> list[int]:
    return [int(row.get("rating_key", 100 + i)) for i, row in enumerate(rows)]


def _library(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """The case's library as the matcher receives it; compilations derived as Plex's would be."""
    frame = pd.DataFrame(
        {
            "rating_key": _rating_keys(rows),
            "title": [r["title"] for r in rows],
            "album": [r.get("album", "") for r in rows],
            "album_artist": [r["artist"] for r in rows],
            "track_artist": [r.get("track_artist", "") for r in rows],
            "album_year": pd.array([r.get("year") for r in rows], dtype="Int64"),
            "track_mbid": [r.get("track_mbid", "") for r in rows],
            "album_mbid": [r.get("album_mbid", "") for r in rows],
            "artist_mbid": [r.get("artist_mbid", "") for r in rows],
        }
    )
    performers = frame["track_artist"].where(frame["track_artist"] != "", frame["album_artist"])
    per_album = performers.groupby([frame["album_artist"], frame["album"]]).transform("nunique")
    derived = (frame["album_artist"] == VARIOUS_ARTISTS) | (per_album > 1)
    given = [r.get("compilation") for r in rows]
    frame["is_compilation"] = [
        bool(d) if g is None else g for g, d in zip(given, derived, strict=True)
    ]
    return frame


def _scrobbled(scrobble: dict[str, Any]) -> pd.DataFrame:
    columns = ("artist", "title", "album", "artist_mbid", "track_mbid", "album_mbid")
    row: dict[str, Any] = {c: scrobble.get(c, "") for c in columns}
    row["plays"] = int(scrobble.get("plays", 1))
    return pd.DataFrame([row])


@pytest.mark.parametrize("case", _load())
def test_case(case: dict[str, Any]) -> None:
    scrobbled, library = _scrobbled(case["scrobble"]), _library(case["library"])
    keys = _rating_keys(case["library"])
    expect = case["expect"]
    decision = match_exact(scrobbled, library).iloc[0]
    shown = decision.to_dict()

    if "auto" in expect:
        assert decision["status"] == STATUS_AUTO, shown
        assert decision["rating_key"] == keys[expect["auto"]], shown
    else:
        assert decision["status"] == STATUS_QUEUED, shown
        assert pd.isna(decision["rating_key"]), shown
    if "queue_top" in expect:
        suggestions = suggest(scrobbled, library).iloc[0]["suggestions"]
        assert suggestions, shown
        assert suggestions[0][0] == keys[expect["queue_top"]], (suggestions, shown)
    if "rule" in expect:
        assert decision["rule"] == expect["rule"], shown
    if "reason" in expect:
        assert decision["reason"] == expect["reason"], shown
    if "alternatives" in expect:
        assert decision["alternatives"] == [keys[i] for i in expect["alternatives"]], shown


def test_batch_decides_like_single_rows() -> None:
    """All scrobbles at once, in reverse order, against all libraries: the same decisions and
    suggestions as one scrobble at a time (the vectorised code keeps rows apart)."""
    cases = [p.values[0] for p in _load()]
    libraries = []
    for n, case in enumerate(cases):
        library = _library(case["library"])
        libraries.append(library.assign(rating_key=library["rating_key"] + 1000 * n))
    library = pd.concat(libraries, ignore_index=True)
    scrobbled = pd.concat([_scrobbled(c["scrobble"]) for c in cases], ignore_index=True)
    scrobbled.index = [f"case-{n}" for n in range(len(cases))]
    scrobbled = scrobbled.iloc[::-1]

    batch = match_exact(scrobbled, library)
    batch_suggestions = suggest(scrobbled, library)
    assert list(batch.index) == list(scrobbled.index)
    for label in scrobbled.index:
        single = match_exact(scrobbled.loc[[label]], library)
        pd.testing.assert_frame_equal(batch.loc[[label]], single)
        if single.iloc[0]["status"] == STATUS_QUEUED:
            alone = suggest(scrobbled.loc[[label]], library).iloc[0]["suggestions"]
            assert batch_suggestions.loc[label, "suggestions"] == alone


def test_a_prepared_library_gives_the_same_decisions_and_suggestions() -> None:
    """The library prepared once and passed to both passes (as the match job does) changes
    nothing: the same decisions and suggestions as each pass preparing it itself."""
    cases = [p.values[0] for p in _load()]
    library = pd.concat([_library(c["library"]).assign(
        rating_key=lambda f, n=n: f["rating_key"] + 1000 * n) for n, c in enumerate(cases)],
        ignore_index=True)
    scrobbled = pd.concat([_scrobbled(c["scrobble"]) for c in cases], ignore_index=True)
    prepared = prepare_library(library)
    pd.testing.assert_frame_equal(match_exact(scrobbled, library, prepared=prepared),
                                  match_exact(scrobbled, library))
    pd.testing.assert_frame_equal(suggest(scrobbled, library, prepared=prepared),
                                  suggest(scrobbled, library))


def test_scrobbled_rows_prepared_once_give_the_same_decisions_and_suggestions() -> None:
    """The scrobbled rows prepared once (as the match job does, with the names the library's
    preparation normalized), the queue's taken from them for the suggestions: the same
    decisions and suggestions as each pass preparing its own."""
    cases = [p.values[0] for p in _load()]
    library = pd.concat([_library(c["library"]).assign(
        rating_key=lambda f, n=n: f["rating_key"] + 1000 * n) for n, c in enumerate(cases)],
        ignore_index=True)
    scrobbled = pd.concat([_scrobbled(c["scrobble"]) for c in cases], ignore_index=True)
    scrobbled.index = [f"case-{n}" for n in range(len(cases))]
    names = Names()  # as in the job: the library's normalized names reused
    prepared = prepare_library(library, names)
    pd.testing.assert_frame_equal(prepared, prepare_library(library))
    rows = prepare_scrobbled(scrobbled, names)
    pd.testing.assert_frame_equal(rows, prepare_scrobbled(scrobbled))
    decided = match_exact(scrobbled, library, prepared_scrobbled=rows)
    pd.testing.assert_frame_equal(decided, match_exact(scrobbled, library))
    queued = (decided["status"] == STATUS_QUEUED).to_numpy()
    assert queued.any()
    assert not queued.all()
    pd.testing.assert_frame_equal(
        suggest(scrobbled[queued], library,
                prepared_queued=rows[queued].reset_index(drop=True)),
        suggest(scrobbled[queued], library))


def test_without_its_prepared_rows_the_library_frame_is_needed() -> None:
    case = _load()[0].values[0]
    scrobbled = _scrobbled(case["scrobble"])
    with pytest.raises(ValueError, match="library frame is needed"):
        match_exact(scrobbled, None)
    with pytest.raises(ValueError, match="library frame is needed"):
        suggest(scrobbled, None)
