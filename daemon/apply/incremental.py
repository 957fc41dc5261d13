"""The apply's side of the incremental plan (`daemon.store.plan_scope`): the plan's inputs
read over the scope of the last finished apply when its basis holds, and the basis saved when
this apply has finished."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from sqlalchemy import Connection, Engine

from daemon.apply.plan_columns import ColumnPlan
from daemon.store import ledger_bulk, plan_scope
from daemon.store.ledger_bulk import PlanInputs

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Pending:
    """A plan's basis, to be saved once its apply has finished."""

    reading: plan_scope.Reading
    unresolved: npt.NDArray[np.int64]


def read_inputs(engine: Engine, conn: Connection, accounts: Mapping[str, int], bound: float,
                revert_all: bool) -> tuple[PlanInputs, plan_scope.Reading | None]:
    """The plan's inputs: over the scope when the basis holds, else the whole history (always
    for `revert_all`, whose plan is no basis for the next one)."""
    if revert_all:
        return ledger_bulk.plan_inputs(engine, conn, accounts, bound), None
    scoped, reading = plan_scope.inputs(engine, conn, accounts, bound)
    if scoped is None:
        log.debug("the plan reads the whole history")
        return ledger_bulk.plan_inputs(engine, conn, accounts, bound, reading.matched), reading
    log.info("the plan reads %s scrobbles: those that can have changed since the last apply",
             reading.scoped)
    return scoped, reading


def stale_rows(conn: Connection, inputs: PlanInputs, stale: npt.NDArray[np.int64]
               ) -> ledger_bulk.Stale:
    """The stale ledger rows' fingerprints: from the rows an incremental plan read, else read."""
    if inputs.stale_rows is not None:
        return inputs.stale_rows(stale)
    return ledger_bulk.stale_rows(conn, stale)


def pending(reading: plan_scope.Reading | None, columns: ColumnPlan,
            written: npt.NDArray[np.integer[Any]],
            already: Sequence[tuple[int, int, int, int]]) -> Pending | None:
    """What the apply of this plan leaves unsettled when it writes `written` and records
    `already`: the scrobbles dated after the bound and the stale ledger rows (some may not be
    removable). None (no basis) unless every play to write is written or found in Plex."""
    if reading is None or len(written) + len(already) != len(columns.candidates[0]):
        return None
    return Pending(reading, np.concatenate([columns.late, columns.stale]))


def save(conn: Connection, basis: Pending | None, summed: str | None = None) -> None:
    """In the transaction that finishes the apply (`summed`: what the ledger sums to, when
    the ledger thread worked it out)."""
    if basis is not None:
        plan_scope.save(conn, basis.reading, basis.unresolved, summed)
