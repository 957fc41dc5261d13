"""The queue from a terminal: `plexfm search` (library tracks by words) and `plexfm resolve`
(one queued track after another, most played first, one key each).

Decisions go to the store through the same functions as the status page's buttons
(`daemon.store.matches.decide` and `skip`); the queue is walked with the page's own query.
Keys: 1-5 accept that suggestion, n not in the library, s skip for now (hidden for
`matches.SKIP_DAYS` days, as on the page), / search the library and pick, q quit. On a
terminal one key press answers; from a pipe (`--stdin`) each answer is a line.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from typing import Any, TextIO

from sqlalchemy import Engine

from daemon import app
from daemon.cli.exits import EXIT_OK, EXIT_USAGE
from daemon.cli.keys import Keys, LineKeys, TerminalKeys
from daemon.cli.names import artist_of, library_name, library_track, scrobbled_name
from daemon.logs import plural
from daemon.store import matches
from daemon.store.engine import write
from daemon.store.search import search_library

SEARCH_RESULTS = 9  # one key picks one
QUIT, NEXT = "quit", "next"


def cmd_search(args: argparse.Namespace, application: app.App) -> int:
    text = " ".join(args.text)
    with application.engine.connect() as conn:
        found = search_library(conn, text, args.limit)
    if args.json:
        print(json.dumps([{**(library_track(t) or {}), "plays": t["plays"]} for t in found],
                         ensure_ascii=False))
        return EXIT_OK
    if not found:
        print(f"no library track matches {text!r} (every word must start a word of the "
              "artist, title or album; run plexfm library to refresh the mirror)",
              file=sys.stderr)
        return EXIT_OK
    for track in found:
        print(_search_line(track))
    return EXIT_OK


def _search_line(track: dict[str, Any]) -> str:
    year = f" ({track['album_year']})" if track["album_year"] else ""
    return (f"{track['rating_key']:>9}  {artist_of(track)} / {track['title']} / "
            f"{track['album']}{year}  {plural(track['plays'], 'play')}")


def cmd_resolve(args: argparse.Namespace, application: app.App) -> int:
    if sys.stdin.isatty():
        with TerminalKeys(sys.stdin, sys.stdout) as keys:
            return _resolve(args, application, keys)
    if args.stdin:
        return _resolve(args, application, LineKeys(sys.stdin, sys.stdout))
    print("plexfm: resolve asks a question per track and stdin is not a terminal: run it "
          "in a terminal, or pass --stdin to read one answer per line", file=sys.stderr)
    return EXIT_USAGE


def _resolve(args: argparse.Namespace, application: app.App, keys: Keys) -> int:
    session = Resolver(application.engine, keys, sys.stdout)
    try:
        session.run(args.artist or "")
    finally:
        session.finish(list(application.config.accounts))
    return EXIT_OK


class Resolver:
    """One pass over the queue, most played first; counts what was decided."""

    def __init__(self, engine: Engine, keys: Keys, out: TextIO,
                 now: Callable[[], float] = time.time) -> None:
        self._engine = engine
        self._keys = keys
        self._out = out
        self._now = now
        self.counts = {"matched": 0, "not_in_library": 0, "skipped": 0}
        self._left = 0

    def _say(self, text: str = "") -> None:
        print(text, file=self._out, flush=True)

    def run(self, artist: str = "") -> None:
        from daemon.web.queries import QueueFilter, queue

        after: tuple[int, int] | None = None
        shown = 0
        while True:
            with self._engine.connect() as conn:
                rows, total, _waiting = queue(conn, QueueFilter(artist=artist, after=after),
                                              now=int(self._now()), limit=20, offset=0)
            if shown == 0:
                if not rows:
                    self._say("nothing waits in the queue")
                    return
                self._say(f"{plural(total, 'track')} {_verb(total, 'wait')} in the queue, "
                          "most played first. "
                          f"Keys: 1-5 accept a suggestion, n not in library, s skip for "
                          f"{matches.SKIP_DAYS} days, / search the library, q quit.")
            self._left = total
            if not rows:
                self._say("that was the last one")
                return
            for row in rows:
                after = (int(row["plays"]), int(row["track_id"]))
                shown += 1
                if self._track(row, shown) == QUIT:
                    return
                self._left -= 1

    def _track(self, row: dict[str, Any], number: int) -> str:
        self._say()
        self._say(f"#{number:,}  {scrobbled_name(row)}  ({plural(row['plays'], 'play')})")
        self._say(f"    why: {row['reason'] or 'waiting'}")
        choices = [s["track"] for s in row["suggestions"]]
        for i, s in enumerate(row["suggestions"], 1):
            self._say(f"    {i}  {library_name(s['track'])}  "
                      f"{plural(s['track']['plays'], 'play')}, score {s['score']}")
        if not choices:
            self._say("    (no suggestions: / searches the library)")
        span = f"{_keys(len(choices))} accept, " if choices else ""
        while True:
            key = self._keys.key(f"  [{span}n not in library, s skip, / search, q quit] ")
            if key in ("q", ""):
                return QUIT
            if key.isdigit() and 1 <= int(key) <= len(choices):
                return self._accept(row, choices[int(key) - 1])
            if key == "n":
                return self._decide(row, matches.NOT_IN_LIBRARY, None,
                                    "not in your library")
            if key == "s":
                with write(self._engine) as conn:
                    matches.skip(conn, [row["track_id"]],
                                 int(self._now() + matches.SKIP_DAYS * 86400))
                self.counts["skipped"] += 1
                self._say(f"    -> skipped for {matches.SKIP_DAYS} days")
                return NEXT
            if key == "/":
                picked = self._search()
                if picked is not None:
                    return self._accept(row, picked)
                continue
            self._say(f"    ? {key!r} is not an answer here")

    def _search(self) -> dict[str, Any] | None:
        text = self._keys.line("    search: ")
        if not text:
            return None
        with self._engine.connect() as conn:
            found = search_library(conn, text, SEARCH_RESULTS)
        if not found:
            self._say(f"    no library track matches {text!r}")
            return None
        for i, track in enumerate(found, 1):
            self._say(f"    {i}  {library_name(track)}  {plural(track['plays'], 'play')}")
        key = self._keys.key(f"  [{_keys(len(found))} pick, other: back] ")
        if key.isdigit() and 1 <= int(key) <= len(found):
            return found[int(key) - 1]
        return None

    def _accept(self, row: dict[str, Any], track: dict[str, Any]) -> str:
        return self._decide(row, matches.MANUAL, int(track["rating_key"]),
                            f"matched to {library_name(track)}")

    def _decide(self, row: dict[str, Any], status: str, key: int | None, said: str) -> str:
        with write(self._engine) as conn:
            matches.decide(conn, int(row["track_id"]), status, key)
        self.counts["matched" if status == matches.MANUAL else "not_in_library"] += 1
        self._say(f"    -> {said}")
        return NEXT

    def finish(self, users: list[str]) -> None:
        """Say what was done; refresh the page's cached counts as the page's buttons do."""
        from daemon.store import pagestats

        c = self.counts
        self._say()
        self._say(f"{plural(c['matched'], 'track')} matched, {c['not_in_library']:,} not in "
                  f"the library, {c['skipped']:,} skipped; {plural(self._left, 'track')} "
                  f"still {_verb(self._left, 'wait')}")
        if c["matched"] or c["not_in_library"]:
            self._say("your decisions reach Plex at the next apply (the service's window, or "
                      "plexfm apply --now)")
        if any(c.values()):
            pagestats.refresh(self._engine, users)


def _verb(count: int, verb: str) -> str:
    """The verb agreeing with `count` things: "1 track waits", "2 tracks wait"."""
    return f"{verb}s" if count == 1 else verb


def _keys(count: int) -> str:
    """The number keys that choose one of `count` lines: "1", "1-5"."""
    return "1" if count == 1 else f"1-{count}"
