"""The service's match job in a worker process.

Matching loads and normalizes the whole library with pandas: seconds of CPU holding Python's
global lock, during which the status page, in the same process, could not answer. In a spawned
worker it has its own interpreter; its memory is given back when it exits. The worker's write
is one transaction, so stopping it (the service is shutting down) loses nothing committed:
on stop the worker is terminated, then killed if it has not ended `STOP_GRACE` seconds later.

The worker opens the service's store and nothing else: the file must exist (SQLite `mode=rw`)
and be the very file the service opened (same device and inode), else the run fails with a
clear reason; a worker never creates nor migrates a store.
"""

from __future__ import annotations

import multiprocessing
from typing import Any

from daemon.errors import JobCancelledError, PlexfmError
from daemon.stopping import StopToken
from daemon.store.storefile import FileIdentity

POLL_SECONDS = 0.2
STOP_GRACE = 2.0  # seconds between terminate (SIGTERM) and kill (SIGKILL) on stop


def _child(results: Any, store_url: str, expect: FileIdentity | None, full: bool,
           diff: tuple[list[int], ...] | None, log_level: str, secrets: list[str]) -> None:
    import sys

    sys.modules.setdefault("pyarrow", None)  # type: ignore[arg-type]  # as in `plexfm run`
    from daemon.logs import configure_logging
    from daemon.reconcile import jobs as reconcile
    from daemon.store.engine import open_existing_store
    from daemon.store.library import LibraryDiff

    configure_logging(log_level, secrets)
    try:
        engine = open_existing_store(store_url, expect)
    except PlexfmError as exc:
        results.put(("failed", str(exc)))
        return
    try:
        library_diff = LibraryDiff(*diff) if diff is not None else None
        results.put(("ok", reconcile.match(engine, full=full, library_diff=library_diff)))
    except PlexfmError as exc:
        results.put(("failed", str(exc)))
    except Exception as exc:
        results.put(("crashed", f"{exc.__class__.__name__}: {exc}"))
    finally:
        engine.dispose()


def match_in_worker(store_url: str, *, expect: FileIdentity | None = None, full: bool = False,
                    library_diff: Any = None, stop: StopToken | None = None,
                    log_level: str = "INFO", secrets: list[str] | None = None
                    ) -> dict[str, Any]:
    """Run `reconcile.match` in a spawned process; return its counts or raise its error.

    `expect`: the identity of the store file the caller opened (the worker refuses another)."""
    context = multiprocessing.get_context("spawn")
    results = context.SimpleQueue()
    diff = (library_diff.added, library_diff.changed, library_diff.removed) \
        if library_diff is not None else None
    worker = context.Process(target=_child, name="plexfm-match", daemon=True,
                             args=(results, store_url, expect, full, diff, log_level,
                                   secrets or []))
    worker.start()
    try:
        while worker.is_alive() and results.empty():
            if stop is not None and stop.stopped:
                worker.terminate()
                raise JobCancelledError("the service is stopping")
            worker.join(POLL_SECONDS)
        if results.empty():
            raise PlexfmError(f"the match worker ended without an answer (exit {worker.exitcode})")
        outcome, value = results.get()
    finally:
        worker.join(STOP_GRACE)
        if worker.is_alive():
            worker.kill()
            worker.join(STOP_GRACE)
    if outcome == "ok":
        return dict(value)
    if outcome == "failed":
        raise PlexfmError(value)
    raise RuntimeError(value)
