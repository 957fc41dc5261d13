"""The apply job: matched plays into Plex in the maintenance window, counted once, reversible.

Order of work: the window (unless forced) -> the cross-process lock -> recovery of a batch a
crash interrupted -> the plan (`apply_plan`: reverts, candidates, native-play dedupe) -> the
mode's preconditions (offline: Plex stopped, nobody playing) -> a batch record -> the writer's
one transaction (backup first) -> the ledger, in one store transaction -> Plex started again.

A crash between Plex's commit and ours leaves the batch in state "writing" with the highest
history id seen before it; the next apply adopts the history rows after that id whose
(account, track, time) it meant to write, and forgets ledger rows whose history rows are gone.
"""

from __future__ import annotations

import logging
import shlex
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from datetime import time as dt_time
from itertools import repeat
from operator import itemgetter
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from daemon.apply.plan import Diff, dedupe, diff
from daemon.apply.window import in_window, window_end
from daemon.errors import PlexError, PlexWriteError
from daemon.plex import history
from daemon.plex.lock import FileLock
from daemon.plex.server import PlexServerProbe
from daemon.plex.writer import PlexDatabaseWriter, WriteResult
from daemon.stopping import StopToken
from daemon.store import ledger
from daemon.store.engine import bulk_cache, write

log = logging.getLogger(__name__)

LOCK_TIMEOUT_SECONDS = 30.0


@dataclass(frozen=True)
class ApplySettings:
    database: Path
    mode: str
    window: tuple[dt_time, dt_time]
    accounts: dict[str, int]
    slack_seconds: int
    backup_dir: Path
    backups_keep: int
    lock_path: Path
    stop_command: str = ""
    start_command: str = ""
    session_poll_seconds: float = 60.0
    plex_stop_timeout: float = 120.0
    live_batch: int = 5000


class Applier:
    """One apply run; dependencies injected (writer factory, Plex probe, command runner)."""

    def __init__(
        self,
        engine: Engine,
        settings: ApplySettings,
        *,
        probe: PlexServerProbe | None = None,
        writer: Callable[[int], PlexDatabaseWriter] | None = None,
        run_command: Callable[[list[str]], int] | None = None,
        stop: StopToken | None = None,
        now: Callable[[], datetime] = lambda: datetime.now().astimezone(),
    ) -> None:
        self._engine = engine
        self._s = settings
        self._probe = probe
        self._writer = writer or (lambda account: PlexDatabaseWriter(settings.database,
                                                                     account_id=account))
        self._run_command = run_command or _run_command
        self._stop = stop or StopToken()
        self._now = now

    def run(self, *, force_window: bool = False, dry_run: bool = False,
            revert_all: bool = False) -> dict[str, Any]:
        """Apply (or with `revert_all`, remove) plays; return counts, or the reason it skipped."""
        dry_run = dry_run or self._s.mode == "dry-run"
        start, end = self._s.window
        if not (force_window or dry_run or in_window(self._s.window, self._now())):
            return {"skipped": f"outside the window {start:%H:%M}-{end:%H:%M}"}
        with FileLock(self._s.lock_path, timeout=LOCK_TIMEOUT_SECONDS):
            recovered = 0 if dry_run else self._recover()
            plan, write_plays, already = self._plan(revert_all)
            counts: dict[str, Any] = {
                "to_add": len(write_plays), "to_remove": len(plan.remove),
                "already_in_plex": len(already), "unremovable": len(plan.unremovable),
                "recovered": recovered, "mode": "dry-run" if dry_run else self._s.mode,
            }
            if dry_run:
                return counts
            if not write_plays and not plan.remove:
                self._remember(plan, already)
                return {**counts, "added": 0, "removed": 0}
            if self._s.mode == "api":
                return {**counts, **self._apply_api(write_plays, plan, already)}
            stopped = False
            if self._s.mode == "offline":
                reason = self._stop_plex()
                if reason is not None:
                    return {**counts, "skipped": reason}
                stopped = bool(self._s.stop_command)
            try:
                return {**counts, **self._write(write_plays, plan, already)}
            finally:
                if stopped:
                    self._start_plex()

    # -- plan -------------------------------------------------------------------------------

    def _plan(self, revert_all: bool) -> tuple[Diff, list[tuple[int, int, int, int]],
                                              list[tuple[int, int, int, int]]]:
        users = list(self._s.accounts)
        with self._engine.connect() as conn, bulk_cache(conn):
            desired = ledger.desired_plays(conn, users)
            applied, known = ledger.applied(conn), ledger.in_plex(conn)
        if revert_all:
            desired = desired.iloc[0:0]
        plan = diff(desired, self._s.accounts, applied, known)
        ours = applied["view_id"].dropna().astype("int64").tolist()
        natives: dict[tuple[int, int], list[int]] = {}
        for account in sorted(set(plan.candidates["account_id"].tolist())):
            keys = plan.candidates.loc[plan.candidates["account_id"] == account, "rating_key"]
            found = self._natives(int(account), keys.unique().tolist(), ours)
            natives.update({(int(account), key): times for key, times in found.items()})
        write_plays, already = dedupe(plan.candidates, natives, plan.claimed,
                                      self._s.slack_seconds)
        plan.candidates = plan.candidates.iloc[0:0]  # 1M rows not needed while writing
        return plan, write_plays, already

    def _natives(self, account: int, keys: list[int], ours: list[int]) -> dict[int, list[int]]:
        if self._s.mode == "api":  # no database: Plex's history over HTTP
            if self._probe is None:
                raise PlexWriteError("apply.mode api needs plex.url and plex.token")
            wanted = set(keys)
            return {k: v for k, v in self._probe.history(account).items() if k in wanted}
        return self._writer(account).native_plays(keys, exclude_view_ids=ours)

    def _remember(self, plan: Diff, already: list[tuple[int, int, int, int]]) -> None:
        with write(self._engine) as conn:
            ledger.forget_in_plex(conn, plan.forget_in_plex)
            ledger.record_in_plex(conn, already)

    # -- offline mode: Plex must be stopped ------------------------------------------------

    def _stop_plex(self) -> str | None:
        """Stop Plex for the window; a reason when the window has to be skipped."""
        if self._probe is None or not self._probe.reachable():
            return None  # not running, or not configured to tell (the writer still locks)
        if not self._s.stop_command:
            return "Plex is running and apply.stop_command is not set (offline mode)"
        closes = window_end(self._s.window, self._now())
        while True:
            try:
                playing = self._probe.active_sessions()
            except PlexError as exc:
                return f"cannot tell whether someone is playing: {exc}"
            if not playing:
                break
            if self._now() + timedelta(seconds=self._s.session_poll_seconds) >= closes:
                return f"someone was playing until the window closed ({playing} stream(s))"
            log.info("apply waits: %s stream(s) playing", playing)
            self._stop.sleep(self._s.session_poll_seconds)
        log.info("stopping Plex for the window: %s", self._s.stop_command)
        if self._run_command(shlex.split(self._s.stop_command)) != 0:
            return f"apply.stop_command failed: {self._s.stop_command}"
        deadline = time.monotonic() + self._s.plex_stop_timeout
        while self._probe.reachable():
            if time.monotonic() > deadline:
                self._start_plex()
                return f"Plex did not stop within {self._s.plex_stop_timeout:g} s"
            self._stop.sleep(0.5)
        return None

    def _start_plex(self) -> None:
        if not self._s.start_command:
            return
        log.info("starting Plex: %s", self._s.start_command)
        if self._run_command(shlex.split(self._s.start_command)) != 0:
            log.error("apply.start_command failed: %s (start Plex by hand)",
                      self._s.start_command)

    # -- writing ------------------------------------------------------------------------------

    def _write(self, plays: list[tuple[int, int, int, int]], plan: Diff,
               already: list[tuple[int, int, int, int]]) -> dict[str, Any]:
        self._stop.check()  # a stop before the write: nothing happened
        size = self._s.live_batch if self._s.mode == "live" else max(len(plays), 1)
        added = removed = 0
        backup: Path | None = None
        for account in sorted({p[1] for p in plays} | {r[2] for r in plan.remove}):
            mine = [p for p in plays if p[1] == account]
            drop = {view: scrobble for scrobble, view, acct in plan.remove if acct == account}
            for first in range(0, max(len(mine), 1), size):
                chunk = mine[first:first + size]
                result, batch = self._one_transaction(account, chunk, list(drop),
                                                      backup is None)
                backup = backup or result.backup
                with write(self._engine) as conn, bulk_cache(conn):  # forget first: a
                    # moved play is forgotten and then written again under its new track
                    ledger.forget_applied(conn, [drop[v] for v in result.deleted])
                    ids, keys = _columns(chunk, 0, 2)
                    ledger.record_applied(conn, batch, zip(
                        ids, repeat(account), keys, map(result.inserted.__getitem__, ids),
                        strict=False))
                    ledger.finish_batch(conn, batch, ledger.DONE, added=len(chunk),
                                        removed=len(result.deleted),
                                        backup=str(result.backup) if result.backup else None)
                added += len(chunk)
                removed += len(result.deleted)
                drop = {}
                if self._s.mode == "live":
                    self._stop.check()  # between short transactions, a stop is safe
        self._remember(plan, already)
        log.info("applied %s plays, removed %s, %s already in Plex", added, removed,
                 len(already))
        return {"added": added, "removed": removed,
                "backup": str(backup) if backup else None}

    def _one_transaction(self, account: int, chunk: list[tuple[int, int, int, int]],
                         drop: list[int], with_backup: bool) -> tuple[WriteResult, int]:
        before = history.max_view_id(self._s.database)
        with write(self._engine) as conn:
            batch = ledger.start_batch(conn, self._s.mode, before)
        try:
            ids, keys, times = _columns(chunk, 0, 2, 3)
            result = self._writer(account).apply(  # (key, rating_key, viewed_at) tuples
                list(zip(ids, keys, times, strict=True)), drop,
                backup_dir=self._s.backup_dir if with_backup else None,
                keep_backups=self._s.backups_keep)
        except Exception as exc:
            with write(self._engine) as conn:  # the writer rolled back: nothing was written
                ledger.finish_batch(conn, batch, ledger.FAILED, note=str(exc)[:500])
            raise
        return result, batch

    def _apply_api(self, plays: list[tuple[int, int, int, int]], plan: Diff,
                   already: list[tuple[int, int, int, int]]) -> dict[str, Any]:
        """Mark each new play through Plex's API: counts go up, no backdated history row."""
        if self._probe is None:
            raise PlexWriteError("apply.mode api needs plex.url and plex.token")
        with write(self._engine) as conn:
            batch = ledger.start_batch(conn, "api", None)
        marked: list[tuple[int, int, int, int | None]] = []
        try:
            for scrobble_id, account, key, _uts in plays:
                self._stop.check()
                self._probe.mark_played(key)
                marked.append((scrobble_id, account, key, None))
        finally:
            with write(self._engine) as conn:
                ledger.record_applied(conn, batch, marked)
                ledger.finish_batch(conn, batch, ledger.DONE, added=len(marked),
                                    note="api mode: counts only, no history rows")
        self._remember(plan, already)
        return {"added": len(marked), "removed": 0}

    # -- recovery -----------------------------------------------------------------------------

    def _recover(self) -> int:
        """Adopt the history rows a crashed batch wrote; return how many were adopted."""
        with self._engine.connect() as conn:
            unfinished = ledger.unfinished_batches(conn)
        adopted = 0
        for batch, before in unfinished:
            rows = history.views_after(self._s.database, before or 0)
            with self._engine.connect() as conn:
                desired = ledger.desired_plays(conn, list(self._s.accounts))
                applied = ledger.applied(conn)
                known = ledger.in_plex(conn)
            candidates = diff(desired, self._s.accounts, applied, known).candidates
            waiting: dict[tuple[int, int, int], list[int]] = {}
            for sid, account, key, uts in zip(candidates["scrobble_id"],
                                              candidates["account_id"],
                                              candidates["rating_key"], candidates["uts"],
                                              strict=True):
                waiting.setdefault((int(account), int(key), int(uts)), []).append(int(sid))
            adopt = []
            for view_id, account, key, viewed_at in rows:
                ids = waiting.get((account, key, viewed_at))
                if ids:
                    adopt.append((ids.pop(0), account, key, view_id))
            ours = [int(v) for v in applied["view_id"].dropna()]
            gone = set(ours) - history.existing_views(self._s.database, ours)
            lost = applied[applied["view_id"].isin(gone)]["scrobble_id"].astype(int).tolist()
            with write(self._engine) as conn:
                ledger.record_applied(conn, batch, adopt, replace=True)
                ledger.forget_applied(conn, lost)
                ledger.finish_batch(conn, batch, ledger.RECOVERED, added=len(adopt),
                                    removed=len(lost), note="completed after a crash")
            log.warning("apply batch %s was interrupted: adopted %s history rows, forgot %s",
                        batch, len(adopt), len(lost))
            adopted += len(adopt)
        return adopted


def _columns(plays: list[tuple[int, int, int, int]], *at: int) -> list[list[int]]:
    """Columns `at` of plays, each by one C-level map (1M plays: 0.06 s; a NamedTuple built
    per play for the writer, or zip(*plays), cost 0.5-1.3 s)."""
    return [list(map(itemgetter(i), plays)) for i in at]


def _run_command(argv: list[str]) -> int:
    try:
        return subprocess.run(argv, check=False, timeout=300).returncode  # noqa: S603
    except (OSError, subprocess.TimeoutExpired) as exc:
        log.error("command %s failed: %s", argv[0] if argv else "", exc)
        return 1


