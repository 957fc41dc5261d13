"""The match job's helper thread, or its stand-in for a store in memory.

An in-memory SQLite store is one database per connection, and its pool gives each thread its
own connection: a thread reading it would see an empty database. For such a store the tasks
run in the caller's thread, each when its result is first asked for, which is after the
caller's write transaction has ended in `daemon.reconcile.jobs.match`.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from types import TracebackType
from typing import Any, TypeVar

from sqlalchemy import Engine

from daemon.store.engine import per_thread_database

_T = TypeVar("_T")


class _Later(Future[_T]):
    def __init__(self, fn: Callable[..., _T], args: tuple[Any, ...]) -> None:
        super().__init__()
        self._call: tuple[Callable[..., _T], tuple[Any, ...]] | None = (fn, args)

    def result(self, timeout: float | None = None) -> _T:
        if self._call is not None:
            fn, args = self._call
            self._call = None
            try:
                self.set_result(fn(*args))
            except BaseException as exc:  # kept for result(), as a thread's future does
                self.set_exception(exc)
        return super().result(timeout)


class Deferred:
    """`submit` as a one-thread executor has it; each task runs at its first `result()`."""

    def submit(self, fn: Callable[..., _T], *args: Any) -> Future[_T]:
        return _Later(fn, args)

    def __enter__(self) -> Deferred:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        return None


def helper_for(engine: Engine) -> ThreadPoolExecutor | Deferred:
    """One helper thread, or `Deferred` when each thread would see its own database."""
    return Deferred() if per_thread_database(engine) else ThreadPoolExecutor(max_workers=1)
