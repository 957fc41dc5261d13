"""How fast this machine is right now: three fixed workloads, none of them plexfm's.

The budgets are absolute seconds, but the project's standard machine (a 2-vCPU virtual
machine) is not equally fast all day: the floors the bench scripts measure moved by 25-40 %
within one session (docs/benchmarks.md, eighth session). Run this before and after a set of
benches to tell a slow machine from a slow change:

- ``python``: a pure-Python loop of 10M additions (one core);
- ``sqlite``: 1M rows inserted into an in-memory table, then indexed (one core, no I/O);
- ``fresh memory``: 1 GiB of new anonymous memory touched once, then once more. On this
  machine the first touch of memory the host has taken back costs up to 2-3 s per GiB
  (0.14 s once it is the guest's again): every bench that allocates pays it afresh.

Usage: .venv/bin/python -m bench.machine_probe [--repeat N]
"""

from __future__ import annotations

import argparse
import sqlite3
import time


def python_loop() -> float:
    started = time.perf_counter()
    total = 0
    for i in range(10_000_000):
        total += i
    return time.perf_counter() - started


def sqlite_work() -> float:
    conn = sqlite3.connect(":memory:")
    started = time.perf_counter()
    conn.execute("CREATE TABLE t (a INTEGER PRIMARY KEY, b INTEGER)")
    conn.executemany("INSERT INTO t (b) VALUES (?)",
                     ((i * 7919 % 1_000_003,) for i in range(1_000_000)))
    conn.execute("CREATE INDEX ix ON t (b)")
    took = time.perf_counter() - started
    conn.close()
    return took


def fresh_memory() -> tuple[float, float]:
    """Seconds to touch 1 GiB of new memory, then to pass over it again."""
    started = time.perf_counter()
    block = bytearray(1 << 30)  # zero-filled by the kernel: each page touched on first write
    for at in range(0, len(block), 4096):
        block[at] = 1
    first = time.perf_counter() - started
    started = time.perf_counter()
    for at in range(0, len(block), 4096):
        block[at] = 2
    return first, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    for _ in range(args.repeat):
        first, again = fresh_memory()
        print(f"python {python_loop():.3f} s; sqlite {sqlite_work():.3f} s; "
              f"fresh memory 1 GiB {first:.3f} s (again {again:.3f} s)", flush=True)


if __name__ == "__main__":
    main()
