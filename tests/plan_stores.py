"""Small random stores for the apply plan's property tests (tests/test_ledger_bulk.py,
tests/test_plan_scope.py): scrobbles of four tracks by three users (one unmapped), matches
that move, ledger rows with and without fingerprints, "already in Plex" records, some rows
with no scrobble."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from hypothesis import strategies as st

NOW = 1_700_000_000
USERS = ("alice", "bob", "carol")  # carol is not mapped to a Plex account
ACCOUNTS = {"alice": 1, "bob": 2}
# several accounts, one (read as a constant), two users for one account, nobody mapped
MAPPINGS = st.sampled_from([ACCOUNTS, {"bob": 2}, {"alice": 1, "bob": 1}, {}])
KEYS = (100, 101, 102)
TIMES = st.sampled_from([0, 5, NOW - 10, NOW + 86_400, NOW + 86_401])  # bounds included


@st.composite
def stores(draw: st.DrawFn) -> dict[str, list[tuple[object, ...]]]:
    tracks = range(1, 5)
    matched = {t: draw(st.tuples(st.sampled_from(["auto", "manual", "queued", "skipped"]),
                                 st.sampled_from(KEYS))) for t in tracks}
    plays = draw(st.lists(st.tuples(st.sampled_from(tracks), st.sampled_from(USERS), TIMES),
                          max_size=14))
    rows: dict[str, list[tuple[object, ...]]] = {"scrobble_tracks": [], "applied": [],
                                                 "in_plex": []}
    for sid, (track, user, uts) in enumerate(plays, start=1):
        rows["scrobble_tracks"].append((sid, track, user, uts))
    for sid in draw(st.sets(st.integers(1, 16), max_size=10)):  # some have no scrobble
        kind = draw(st.sampled_from(["applied", "applied", "in_plex"]))
        account, key = draw(st.sampled_from([1, 2])), draw(st.sampled_from(KEYS))
        if kind == "in_plex":
            rows["in_plex"].append((sid, account, key, draw(st.integers(1, 9)) * 100))
        else:
            view = draw(st.one_of(st.none(), st.integers(1, 10_000)))
            guid = draw(st.sampled_from([None, "plex://track/x"]))
            rows["applied"].append((sid, account, key, view, guid,
                                    draw(st.sampled_from([None, 123]))))
    rows["matches"] = [(t, status, key) for t, (status, key) in matched.items()]
    return rows


def fill(path: Path, rows: dict[str, list[tuple[object, ...]]]) -> None:
    conn = sqlite3.connect(path)  # foreign keys off: the tracks' own rows are not needed
    with conn:
        conn.executemany("INSERT INTO scrobble_tracks (scrobble_id, track_id, user, uts)"
                         " VALUES (?, ?, ?, ?)", rows["scrobble_tracks"])
        conn.executemany("INSERT INTO matches (track_id, status, rating_key, decided_at)"
                         " VALUES (?, ?, ?, 0)", rows["matches"])
        conn.executemany("INSERT INTO library_tracks (rating_key, section_id, title,"
                         " duration_ms, refreshed_at) VALUES (?, 1, 't', ?, 0)",
                         [(100, 200_000), (101, None)])  # 102: not in the library
        conn.executemany("INSERT INTO applied_plays (scrobble_id, account_id, rating_key,"
                         " view_id, guid, viewed_at, batch_id, applied_at)"
                         " VALUES (?, ?, ?, ?, ?, ?, 1, 0)", rows["applied"])
        conn.executemany("INSERT INTO plays_in_plex (scrobble_id, account_id, rating_key,"
                         " native_viewed_at, checked_at) VALUES (?, ?, ?, ?, 0)",
                         rows["in_plex"])
    conn.close()
