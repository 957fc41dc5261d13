"""Run the loopback last.fm fake in its own process (benchmarks and the demo)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


@contextmanager
def lastfm_fake(
    *,
    api_key: str,
    user: str,
    scrobbles: int,
    seed: int = 1,
    latency: float = 0.0,
    rate_limit: float | None = None,
    max_limit: int = 1000,
    prerender: bool = False,
    startup_deadline: float = 120.0,
) -> Iterator[str]:
    """Start `python -m tests.fakes.lastfm_server`; yield its URL once it listens.

    `prerender`: the fake renders the whole history before it listens, and then serves pages
    without rendering them (same bytes): its CPU is the fake's, not the client's cost."""
    with tempfile.TemporaryDirectory() as tmp:
        ready = Path(tmp) / "ready"
        command = [
            sys.executable, "-m", "tests.fakes.lastfm_server", "--port", "0",
            "--api-key", api_key, "--user", user, "--scrobbles", str(scrobbles),
            "--seed", str(seed), "--latency", str(latency), "--max-limit", str(max_limit),
            "--ready-file", str(ready),
        ]
        if prerender:
            command.append("--prerender")
        if rate_limit is not None:
            command += ["--rate-limit", str(rate_limit)]
        process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + startup_deadline
            while not (ready.exists() and ready.read_text().strip()):
                if process.poll() is not None:
                    raise RuntimeError(f"fake last.fm exited with {process.returncode}")
                if time.monotonic() > deadline:
                    raise TimeoutError("fake last.fm did not start in time")
                time.sleep(0.05)
            yield ready.read_text().strip()
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.kill(process.pid, signal.SIGKILL)
                process.wait()
