"""Stopping `plexfm run` is reliable, not probabilistic (issue 10): each race is repeated
deterministically, by holding the service at a known point and then stopping it.

* a SIGTERM caught by a thread other than the main one (POSIX delivers a process signal to any
  thread) while the match worker runs, held on the store's write lock;
* a signal handler that runs while the main thread holds the stop token's own lock;
* a job that ignores the stop token until the deadline: its run must not stay 'running';
* the web server stopped with a keep-alive connection open.
"""

from __future__ import annotations

import logging
import multiprocessing
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from daemon.config.sections import WebConfig
from daemon.reconcile.worker import match_in_worker
from daemon.service import process
from daemon.service.jobs import JobSpec
from daemon.service.runs import JobRunner
from daemon.stopping import StopToken
from daemon.store.engine import open_store, store_file
from daemon.web.server import WebServer

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.reliability("fault", "SIGTERM during a run")


def poll(predicate: Any, timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def match_workers() -> list[multiprocessing.process.BaseProcess]:
    return [p for p in multiprocessing.active_children() if p.name == "plexfm-match"]


def outcomes(engine: Engine, job: str) -> list[tuple[str, str | None]]:
    with engine.connect() as conn:
        return [(r[0], r[1]) for r in conn.exec_driver_sql(
            "SELECT outcome, error FROM job_runs WHERE job = ? ORDER BY id", (job,))]


def test_sigterm_caught_by_another_thread_while_the_match_worker_runs(
        engine: Engine, store_url: str) -> None:
    opened = store_file(engine)
    assert opened is not None
    holder = sqlite3.connect(opened.path, isolation_level=None, check_same_thread=False)
    stop = StopToken()
    job_threads: list[int] = []

    def run_match() -> dict[str, Any]:
        job_threads.append(threading.get_ident())
        holder.execute("BEGIN IMMEDIATE")  # the worker's first write waits here: held
        try:
            return match_in_worker(store_url, stop=stop)
        finally:
            holder.execute("ROLLBACK")

    sent: list[float] = []
    returned = threading.Event()

    def sigterm_to_the_job_thread() -> None:
        if poll(lambda: job_threads and match_workers()):
            sent.append(time.monotonic())
            signal.pthread_kill(job_threads[0], signal.SIGTERM)
        if not returned.wait(10):
            stop.stop()  # the signal was lost: end the test (it fails below)

    previous = signal.getsignal(signal.SIGTERM)
    helper = threading.Thread(target=sigterm_to_the_job_thread, daemon=True)
    helper.start()
    try:
        code = process.run([JobSpec("match", run_match, None, run_at_start=True)],
                           JobRunner(engine), engine, WebConfig(enabled=False), stop=stop,
                           close=lambda: None)
        returned.set()
        stopped_after = time.monotonic() - sent[0]
    finally:
        returned.set()
        helper.join(15)
        holder.close()
    assert code == 0
    assert stopped_after < 5, f"SIGTERM acted on after {stopped_after:.1f} s"  # lost: 10 s
    assert match_workers() == []  # terminated, not left behind
    assert outcomes(engine, "match") == [("cancelled", "stopped: the service is shutting down")]
    assert signal.getsignal(signal.SIGTERM) is previous


def test_a_signal_handler_running_inside_the_tokens_own_wait_does_not_deadlock() -> None:
    stop = StopToken()
    previous = process._install_signal_handlers(stop)
    try:
        handler = signal.getsignal(signal.SIGTERM)
        assert callable(handler)
        done = threading.Event()

        def interrupted_inside_wait() -> None:
            # a signal handler runs between two bytecodes of the main thread: here, while
            # that thread holds the lock of the token's event (inside Event.wait)
            with stop._event._cond:  # type: ignore[attr-defined]
                handler(signal.SIGTERM, None)
            done.set()

        threading.Thread(target=interrupted_inside_wait, daemon=True).start()
        assert done.wait(5), "the handler blocked on the lock its own thread holds"
    finally:
        for signum, old in previous.items():
            signal.signal(signum, old)
    assert stop.stopped
    assert stop.wait(0)
    assert stop.signal == signal.SIGTERM


STUBBORN_SERVICE = """
import sys, threading
from daemon.config.sections import WebConfig
from daemon.service import process
from daemon.service.jobs import JobSpec
from daemon.service.runs import JobRunner
from daemon.stopping import StopToken
from daemon.store.engine import open_store

engine = open_store(sys.argv[1])
process.STOP_DEADLINE = 0.5

def stubborn():  # never looks at the stop token
    print("running", flush=True)
    threading.Event().wait(60)
    return {}

spec = JobSpec("stubborn", stubborn, None, run_at_start=True)
sys.exit(process.run([spec], JobRunner(engine), engine, WebConfig(enabled=False),
                     stop=StopToken(), close=engine.dispose))
"""


def test_a_run_still_going_at_the_deadline_is_closed_as_cancelled(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'plexfm.db'}"
    service = subprocess.Popen([sys.executable, "-c", STUBBORN_SERVICE, url], cwd=ROOT,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert service.stdout is not None
        assert service.stdout.readline().strip() == "running"
        service.send_signal(signal.SIGTERM)
        code = service.wait(timeout=20)
    finally:
        if service.poll() is None:
            service.kill()
        _, stderr = service.communicate(timeout=10)
    assert code == 0, stderr
    assert "jobs still running at the deadline" in stderr
    engine = open_store(url)
    try:
        assert outcomes(engine, "stubborn") == [("cancelled", process.CANCELLED_AT_EXIT)]
    finally:
        engine.dispose()


def hello(_environ: dict[str, Any], start_response: Any) -> list[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "5")])
    return [b"hello"]


def test_stopping_the_web_server_closes_keep_alive_connections_without_errors(
        caplog: pytest.LogCaptureFixture) -> None:
    server = WebServer(hello, "127.0.0.1", 0, threads=2)
    server.start()
    host, port = server.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=5) as client:
        client.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")  # HTTP/1.1: kept alive
        answer = b""
        while not answer.endswith(b"hello"):
            answer += client.recv(4096)
        caplog.clear()  # what stopping logs, from here
        with caplog.at_level(logging.DEBUG):
            started = time.monotonic()
            assert server.stop(), "the server's loop thread is still running"
            assert time.monotonic() - started < 5
        assert client.recv(4096) == b""  # the server closed the kept-alive connection
    problems = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert problems == []
