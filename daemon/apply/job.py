"""The apply job: matched plays into Plex in the maintenance window, counted once, reversible.

Order of work: the window (unless forced) -> the cross-process lock -> recovery of a batch a
crash interrupted and reconciliation of the ledger with Plex's database (`recovery`) -> the
plan (`apply_plan`: the time bound, reverts, candidates, native-play dedupe) -> the mode's
preconditions (offline: Plex stopped, nobody playing: `offline`) -> a batch record -> the
writer's one transaction (backup first) -> the ledger, in one store transaction -> Plex started
again. `restore` puts a backup of Plex's database back under the same lock and reconciles.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from datetime import time as dt_time
from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy import Connection, Engine

from daemon.apply import api_mode, incremental, offline, plan_columns
from daemon.apply.ledger_thread import LedgerThread
from daemon.apply.plan import Columns, Diff, rows, split_natives
from daemon.apply.reconciled_plan import reconciled_plan
from daemon.apply.recovery import reconcile, recover
from daemon.apply.window import in_window
from daemon.collector import cycle_collection_paused
from daemon.errors import PlexWriteError
from daemon.plex import history, readback, schema
from daemon.plex.lock import FileLock
from daemon.plex.plays import PlayColumns, PlayToRemove
from daemon.plex.server import PlexServerProbe
from daemon.plex.writer import PlexDatabaseWriter, WriteResult, restore_backup
from daemon.scrobble import MAX_AHEAD_SECONDS
from daemon.stopping import StopToken
from daemon.store import ledger, ledger_bulk
from daemon.store.engine import bulk_cache, per_thread_database, write

log = logging.getLogger(__name__)

LOCK_TIMEOUT_SECONDS = 30.0
PARALLEL_LEDGER_MIN = 10_000  # plays to write and remove in one transaction from which the
# ledger is written alongside Plex's transaction (`LedgerThread`)
Play = tuple[int, int, int, int]  # scrobble_id, account_id, rating_key, uts (or native time)


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
    allow_unknown_schema: bool = False


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
        self._stop = stop or StopToken()
        self._now = now
        self._basis: incremental.Pending | None = None  # saved by `_remember`
        self._plex = offline.PlexStopper(
            probe, stop_command=settings.stop_command, start_command=settings.start_command,
            window=settings.window, session_poll_seconds=settings.session_poll_seconds,
            stop_timeout=settings.plex_stop_timeout,
            run_command=run_command or offline.run_command, stop=self._stop,
            now=lambda: self._now())

    def run(self, *, force_window: bool = False, dry_run: bool = False,
            revert_all: bool = False) -> dict[str, Any]:
        """Apply (or with `revert_all`, remove) plays; return counts, or the reason it skipped."""
        dry_run = dry_run or self._s.mode == "dry-run"
        start, end = self._s.window
        if not (force_window or dry_run or in_window(self._s.window, self._now())):
            return {"skipped": f"outside the window {start:%H:%M}-{end:%H:%M}"}
        with FileLock(self._s.lock_path, timeout=LOCK_TIMEOUT_SECONDS):
            has_db = self._s.mode != "api"  # api mode has no database to read
            with cycle_collection_paused():  # (not while Plex is waited for, below)
                recovered = recover(self._engine, self._s.database, self._s.accounts) \
                    if has_db and not dry_run else 0
                checked, (plan, write_plays, already, out_of_range) = reconciled_plan(
                    self._engine, self._s.database if has_db else None,
                    "revert" if revert_all else "apply", lambda: self._plan(revert_all))
            counts: dict[str, Any] = {
                "to_add": len(write_plays[0]), "to_remove": len(plan.remove),
                "already_in_plex": len(already), "unremovable": len(plan.unremovable),
                "out_of_range": out_of_range, "recovered": recovered,
                "forgotten": checked.get("forgotten", 0),
                "natives_gone": checked.get("natives_gone", 0),
                "mode": "dry-run" if dry_run else self._s.mode,
            }
            if dry_run:
                return counts
            if not len(write_plays[0]) and not plan.remove:
                self._remember(plan, already)
                return {**counts, "added": 0, "removed": 0}
            if self._s.mode == "api":
                added = api_mode.mark_played(self._engine, self._probe, self._stop, write_plays)
                self._remember(plan, already)
                return {**counts, "added": added, "removed": 0}
            schema.check_before_write(self._s.database,  # refuses before Plex is stopped
                                      allow_unknown=self._s.allow_unknown_schema)
            stopped = False
            if self._s.mode == "offline":
                reason = self._plex.stop()
                if reason is not None:
                    return {**counts, "skipped": reason}
                stopped = bool(self._plex.stop_command)
            try:
                with cycle_collection_paused():
                    result = {**counts, **self._write(write_plays, plan, already)}
            finally:
                if stopped:
                    self._plex.start()
            return {**result, **readback.after_apply(  # does Plex show what was written?
                self._probe, self._s.database, rows(write_plays), sleep=self._stop.sleep,
                wait_seconds=self._s.plex_stop_timeout if stopped else 0.0)}

    def restore(self, backup: Path) -> dict[str, int]:
        """Put a backup of Plex's database back (Plex stopped), then reconcile the ledger with
        it: the plays written after the backup are forgotten, and written again next time."""
        with FileLock(self._s.lock_path, timeout=LOCK_TIMEOUT_SECONDS):
            restore_backup(backup, self._s.database)
            return reconcile(self._engine, self._s.database, "restore")

    # -- plan -------------------------------------------------------------------------------

    def _plan(self, revert_all: bool) -> tuple[Diff, Columns, list[Play], int]:
        """The diff against the ledger from columns of the store (`plan_columns`: plain scans
        joined in numpy), then the native-play dedupe of the new ones."""
        accounts = dict(self._s.accounts)
        bound = self._now().timestamp() + MAX_AHEAD_SECONDS  # `uts_in_range`
        plan = Diff(candidates=pd.DataFrame())
        with self._engine.connect() as conn, bulk_cache(conn):  # one read transaction
            inputs, reading = incremental.read_inputs(self._engine, conn, accounts, bound,
                                                      revert_all)
            columns = plan_columns.compute(inputs, revert_all)
            plan.remove, plan.unremovable, plan.fingerprints = incremental.stale_rows(
                conn, inputs, columns.stale)
            plan_columns.hold_back(columns, plan.unremovable)  # never in Plex twice
            plays, duration_ms = columns.candidates, columns.duration_ms
            ours = ledger_bulk.our_view_ids(conn).tolist() if len(plays[0]) else []
        plan.forget_in_plex, plan.claimed = columns.forget_in_plex, columns.claimed
        out_of_range = columns.out_of_range
        if out_of_range:
            log.warning("%s scrobbles are outside 0 < time <= now + 1 day: never written into "
                        "Plex", out_of_range)
        natives: dict[tuple[int, int], list[int]] = {}
        for account in plan_columns.distinct(plays[1]):
            keys = plan_columns.distinct(plays[2][plays[1] == account])
            found = self._natives(account, keys, ours)
            natives.update({(account, key): times for key, times in found.items()})
        write_plays, already = split_natives(plays, duration_ms, natives, plan.claimed,
                                             self._s.slack_seconds)
        self._basis = incremental.pending(reading, columns, write_plays[0], already)
        return plan, write_plays, already, out_of_range

    def _natives(self, account: int, keys: list[int], ours: list[int]) -> dict[int, list[int]]:
        if self._s.mode == "api":  # no database: Plex's history over HTTP
            if self._probe is None:
                raise PlexWriteError("apply.mode api needs plex.url and plex.token")
            wanted = set(keys)
            return {k: v for k, v in self._probe.history(account).items() if k in wanted}
        return self._writer(account).native_plays(keys, exclude_view_ids=ours)

    def _remember(self, plan: Diff, already: list[Play], summed: str | None = None) -> None:
        with write(self._engine) as conn:  # the last step of an apply that finished
            ledger.forget_in_plex(conn, plan.forget_in_plex)
            ledger.record_in_plex(conn, already)
            incremental.save(conn, self._basis, summed)  # the next plan's basis

    # -- writing ------------------------------------------------------------------------------

    def _write(self, plays: Columns, plan: Diff, already: list[Play]) -> dict[str, Any]:
        self._stop.check()  # a stop before the write: nothing happened
        size = self._s.live_batch if self._s.mode == "live" else max(len(plays[0]), 1)
        prints = plan.fingerprints
        if prints is None:
            with self._engine.connect() as conn:
                prints = ledger.fingerprints(conn, (r[0] for r in plan.remove))
        added = removed = 0
        backup, summed = None, None  # (what the ledger sums to, when the ledger thread knows)
        for account in sorted(set(plays[1].tolist()) | {r[2] for r in plan.remove}):
            mine = [c[plays[1] == account] for c in (plays[0], plays[2], plays[3])]
            drop = {PlayToRemove(view, *prints[sid]): sid for sid, view, acct in plan.remove
                    if acct == account and sid in prints}
            for first in range(0, max(len(mine[0]), 1), size):
                chunk = PlayColumns(*(c[first:first + size] for c in mine))
                result, batch, side = self._one_transaction(account, chunk, drop,
                                                            backup is None)
                backup = backup or result.backup
                deleted = set(result.deleted)
                committed = side is not None and side.committed()
                summed = side.summed if side is not None and committed else None
                if not committed:
                    rewritten = set(chunk.keys.tolist()) if drop else set()
                    with write(self._engine) as conn, bulk_cache(conn):  # forget first: a
                        # moved play is forgotten and then written again under its new track
                        # (also when its old row was not Plex's to remove any more: changed
                        # or deleted in Plex meanwhile, it is no longer provably ours)
                        ledger.forget_applied(conn, [sid for row, sid in drop.items()
                                                     if row.view_id in deleted
                                                     or sid in rewritten])
                        ledger_bulk.record_written(conn, batch, account, (
                            chunk.keys, chunk.rating_keys, result.view_ids(chunk.keys),
                            chunk.viewed_at), result.guids)
                        _finish(conn, batch, result)
                added += len(chunk)
                removed += len(result.deleted)
                drop = {}
                if self._s.mode == "live":
                    self._stop.check()  # between short transactions, a stop is safe
        self._remember(plan, already, summed)
        log.info("applied %s plays, removed %s, %s already in Plex", added, removed,
                 len(already))
        return {"added": added, "removed": removed,
                "backup": str(backup) if backup else None}

    def _one_transaction(self, account: int, chunk: PlayColumns, drop: dict[PlayToRemove, int],
                         with_backup: bool) -> tuple[WriteResult, int, LedgerThread | None]:
        """Plex's transaction; for a large one the ledger rows are forgotten and written
        meanwhile (`LedgerThread`), to be committed by the caller."""
        before = history.max_view_id(self._s.database)
        with write(self._engine) as conn:
            batch = ledger.start_batch(conn, self._s.mode, before)
        side = LedgerThread(self._engine, batch, account, chunk, forget=list(drop.values()),
                            removing=[row.view_id for row in drop],
                            summing=self._basis is not None) \
            if len(chunk) + len(drop) >= PARALLEL_LEDGER_MIN \
            and not per_thread_database(self._engine) else None

        def committed(result: WriteResult) -> None:  # Plex committed: so does the ledger,
            # while Plex's WAL is checkpointed
            if side is not None:
                side.plex_committed(result, lambda conn: _finish(conn, batch, result))

        try:
            result = self._writer(account).apply(
                chunk, list(drop), backup_dir=self._s.backup_dir if with_backup else None,
                keep_backups=self._s.backups_keep, committing=side.committing if side else None,
                staged=side.staged if side else None,
                committed=committed)
        except BaseException as exc:
            if side is not None:
                side.abandon()  # its store transaction rolls back: nothing recorded
            if isinstance(exc, Exception):
                with write(self._engine) as conn:  # the writer rolled back: nothing written
                    ledger.finish_batch(conn, batch, ledger.FAILED, note=str(exc)[:500])
            raise
        return result, batch, side


def _finish(conn: Connection, batch: int, result: WriteResult) -> None:
    ledger.finish_batch(conn, batch, ledger.DONE, added=len(result.inserted),
                        removed=len(result.deleted),
                        backup=str(result.backup) if result.backup else None)
